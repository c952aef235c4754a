//! Security module: key slots (TMK, PIK, MAK, TDK), key installation with check values, PIN block, MAC,
//! track encryption, in one key family (TDES or SM, docs/PROTOCOL.md §11). The trait is the contract;
//! `software` is the default module (keys sealed at rest under a platform-supplied key); a hardware PIN pad can
//! replace it.

pub mod software;

pub use crate::acquirer::MacAlgorithm;
pub use crate::crypto::pin_block::PinFormat;
use crate::crypto::rsa::HostPublicKey;
use crate::crypto::sm2::Sm2PublicKey;
use crate::crypto::CryptoError;
pub use crate::crypto::KeyFamily;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeySlot {
    Tmk,
    Pik,
    Mak,
    Tdk,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecurityError {
    /// A received key's check value did not match.
    KeyCheck(KeySlot),
    /// The slot is empty (or the TMK is not yet activated).
    MissingKey(KeySlot),
    /// No TMK download in progress.
    NoTransportKey,
    Crypto(CryptoError),
    /// Sealed key store could not be read or written.
    Storage(String),
    /// The module works in this key family and was asked for an operation (or given data) of the other.
    Family(KeyFamily),
}

impl fmt::Display for SecurityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecurityError::KeyCheck(s) => write!(f, "check value of the {s:?} does not match"),
            SecurityError::MissingKey(s) => write!(f, "no {s:?} loaded"),
            SecurityError::NoTransportKey => write!(f, "no master-key download in progress"),
            SecurityError::Crypto(e) => write!(f, "{e}"),
            SecurityError::Storage(m) => write!(f, "key store: {m}"),
            SecurityError::Family(k) => write!(
                f,
                "the security module works in the {k} key family; this key or block belongs to the other"
            ),
        }
    }
}
impl std::error::Error for SecurityError {}

impl From<CryptoError> for SecurityError {
    fn from(e: CryptoError) -> Self {
        SecurityError::Crypto(e)
    }
}

impl From<SecurityError> for crate::Error {
    fn from(e: SecurityError) -> Self {
        let kind = match e {
            SecurityError::KeyCheck(_) => crate::ErrorKind::KeyCheckFailed,
            SecurityError::MissingKey(crate::security::KeySlot::Tmk) => {
                crate::ErrorKind::NotActivated
            }
            SecurityError::MissingKey(_) => crate::ErrorKind::NotSignedIn,
            _ => crate::ErrorKind::Security,
        };
        crate::Error::new(kind, e.to_string())
    }
}

/// The host's public key for the TMK transport, as the `352` answer carries it: an RSA key (TDES family) or an
/// SM2 key (SM family, DF25 = `SM2`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKey {
    Rsa(HostPublicKey),
    Sm2(Sm2PublicKey),
}

impl HostKey {
    /// The family whose TMK transport uses this key.
    pub fn family(&self) -> KeyFamily {
        match self {
            HostKey::Rsa(_) => KeyFamily::Tdes,
            HostKey::Sm2(_) => KeyFamily::Sm,
        }
    }

    /// The pin: SHA-256(modulus ‖ exponent) for RSA, SHA-256 of the 65-byte point for SM2.
    pub fn fingerprint(&self) -> [u8; 32] {
        match self {
            HostKey::Rsa(k) => k.fingerprint(),
            HostKey::Sm2(k) => k.fingerprint(),
        }
    }
}

/// What the terminal sends in the TMK download request (DF23, DF24).
#[derive(Debug, Clone)]
pub struct TmkTransport {
    /// RSA-PKCS#1 v1.5(host key, R) (TDES family) or SM2(host key, R) as C1 ‖ C3 ‖ C2 (SM family).
    pub encrypted_key: Vec<u8>,
    /// Check value of R
    pub check_value: [u8; 4],
}

/// One working key as field 62 of the sign-in response carries it: 16 bytes under the TMK + 4-byte CV.
#[derive(Clone)]
pub struct EncryptedKey {
    pub encrypted: Vec<u8>,
    pub check_value: [u8; 4],
}

impl fmt::Debug for EncryptedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "EncryptedKey(cv={})",
            hex::encode_upper(self.check_value)
        )
    }
}

pub trait SecurityModule: Send {
    /// The key family the module's keys belong to: it fixes the transport of the TMK, the cipher of every key
    /// (TDES or SM4), the MAC (CUP-ECB or CUP-SM4) and the size of PIN and track blocks (`block_len`).
    fn key_family(&self) -> KeyFamily;
    /// Start a TMK download: generate a random transport key R (16 bytes), return R under the host key (RSA or
    /// SM2, which must be the module's family) and CV(R).
    fn begin_tmk_download(&mut self, host_key: &HostKey) -> Result<TmkTransport, SecurityError>;
    /// Decrypt DF21 = TDES or SM4 (R, TMK), verify DF22, keep it as the *pending* TMK (unusable until activated).
    /// Returns the TMK's check value for the activation request.
    fn receive_tmk(
        &mut self,
        encrypted_tmk: &[u8],
        check_value: &[u8],
    ) -> Result<[u8; 4], SecurityError>;
    /// The host approved 351: the pending TMK becomes the active TMK (working keys are cleared).
    fn activate_tmk(&mut self) -> Result<(), SecurityError>;
    /// Install PIK, MAK, TDK (each under the active TMK) after verifying every check value: all or none.
    fn install_working_keys(
        &mut self,
        pik: &EncryptedKey,
        mak: &EncryptedKey,
        tdk: &EncryptedKey,
    ) -> Result<(), SecurityError>;
    fn has_key(&self, slot: KeySlot) -> bool;
    fn check_value(&self, slot: KeySlot) -> Option<[u8; 4]>;
    /// The format-0 PIN block under the PIK: 8 bytes TDES (ISO 9564), 16 bytes SM4 (docs/PROTOCOL.md §11).
    fn pin_block(&mut self, pin: &str, pan: &str) -> Result<Vec<u8>, SecurityError>;
    /// The PIN block in the acquirer profile's format under the PIK. `Iso0` is `pin_block`; the default
    /// refuses the others (a module that has them overrides this).
    fn pin_block_in(
        &mut self,
        format: PinFormat,
        pin: &str,
        pan: &str,
    ) -> Result<Vec<u8>, SecurityError> {
        match format {
            PinFormat::Iso0 => self.pin_block(pin, pan),
            other => Err(SecurityError::Storage(format!(
                "this security module has no {} PIN block",
                other.name()
            ))),
        }
    }
    /// The MAC of field 64 under the MAK: CUP-ECB's 8 ASCII bytes, or CUP-SM4's first 8 binary bytes.
    fn mac(&mut self, data: &[u8]) -> Result<[u8; 8], SecurityError>;
    /// The MAC of `data` under the MAK with the acquirer profile's algorithm. `CupEcb` is the CUP MAC
    /// of the module's family (`mac`: CUP-ECB, or CUP-SM4 in the SM family); the default refuses the
    /// others (a module that has them overrides this).
    fn mac_with(&mut self, alg: MacAlgorithm, data: &[u8]) -> Result<[u8; 8], SecurityError> {
        match alg {
            MacAlgorithm::CupEcb => self.mac(data),
            other => Err(SecurityError::Storage(format!(
                "this security module has no {other:?} MAC"
            ))),
        }
    }
    /// ECB(TDK, block) for track encryption: one block of `key_family().block_len()` bytes in and out.
    fn encrypt_track_block(&mut self, block: &[u8]) -> Result<Vec<u8>, SecurityError>;
    /// Forget PIK/MAK/TDK (the terminal must sign in again).
    fn clear_working_keys(&mut self) -> Result<(), SecurityError>;
}
