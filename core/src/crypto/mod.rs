//! Payment cryptography: TDES, check values, MACs, PIN blocks, RSA key transport, hashes.
//! The signatures below are the contract other modules code against.

pub mod emv;
mod fast_des;
pub mod keys;
pub mod mac;
pub mod pin_block;
pub mod rsa;
pub mod seal;
pub mod sm4;
pub mod tdes;

pub use keys::DesKey;

/// Errors of the crypto layer. Messages never carry key, PIN or PAN material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CryptoError {
    /// Key is not 8, 16 or 24 bytes (or not hex).
    KeyLength(usize),
    /// Data for ECB is not a multiple of 8 bytes.
    DataLength(usize),
    /// PIN not 4..=12 digits.
    PinFormat,
    /// PAN not 13..=19 digits.
    PanFormat,
    /// PIN block does not decode (bad control nibble, length or padding).
    PinBlockFormat,
    /// RSA key or operation failed.
    Rsa(String),
    /// Invalid hex input.
    Hex,
    /// A sealed blob failed to open (wrong key, wrong binding or tampered).
    Seal,
}

impl std::fmt::Display for CryptoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CryptoError::KeyLength(n) => write!(f, "key length {n} is not 8, 16 or 24 bytes"),
            CryptoError::DataLength(n) => write!(f, "data length {n} is not a multiple of 8"),
            CryptoError::PinFormat => write!(f, "PIN must be 4 to 12 digits"),
            CryptoError::PanFormat => write!(f, "PAN must be 13 to 19 digits"),
            CryptoError::PinBlockFormat => write!(f, "PIN block format invalid"),
            CryptoError::Rsa(m) => write!(f, "RSA: {m}"),
            CryptoError::Hex => write!(f, "invalid hex"),
            CryptoError::Seal => write!(f, "sealed data failed authentication"),
        }
    }
}
impl std::error::Error for CryptoError {}

/// SHA-1 (CAPK checksums).
pub fn sha1(data: &[u8]) -> [u8; 20] {
    use sha1::Digest;
    sha1::Sha1::digest(data).into()
}

/// SHA-256 (host key fingerprints).
pub fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}

/// Fill `buf` from the operating system's CSPRNG.
pub fn random_bytes(buf: &mut [u8]) -> Result<(), CryptoError> {
    getrandom::fill(buf).map_err(|e| CryptoError::Rsa(format!("rng: {e}")))
}
