//! SM2 public-key encryption (GB/T 32918.4) for the TMK transport of the SM key family (docs/PROTOCOL.md §11).
//!
//! Thin wrappers over the RustCrypto `sm2` crate: the elliptic-curve arithmetic, the KDF and the C3 hash are the
//! crate's. What this module fixes is the wire form: a public key is the 65-byte uncompressed point `04 ‖ X ‖ Y`,
//! a ciphertext is `C1 ‖ C3 ‖ C2` with C1 uncompressed, and a key's pin is SHA-256 of its 65 bytes.
use super::CryptoError;
use ::sm2::elliptic_curve::common::getrandom::SysRng;
use ::sm2::pke::{DecryptingKey, EncryptingKey, Mode};
use ::sm2::{PublicKey, SecretKey};
use zeroize::Zeroizing;

/// Length of an uncompressed SM2 public key: `04 ‖ X(32) ‖ Y(32)`.
pub const PUBLIC_KEY_LEN: usize = 65;
/// Length of an SM2 private key (the scalar d, big-endian).
pub const PRIVATE_KEY_LEN: usize = 32;
/// Bytes an SM2 ciphertext adds to its plaintext: C1 (65) and C3 (the 32-byte SM3 hash).
pub const CIPHERTEXT_OVERHEAD: usize = PUBLIC_KEY_LEN + 32;

/// An SM2 public key (the host's, as DF02 of the `352` answer carries it).
#[derive(Clone, PartialEq, Eq)]
pub struct Sm2PublicKey {
    key: PublicKey,
}

impl Sm2PublicKey {
    /// Parse the 65-byte uncompressed point `04 ‖ X ‖ Y`. Compressed points and points off the curve are refused:
    /// the wire form is fixed so that the SHA-256 pin has one input.
    pub fn from_uncompressed(bytes: &[u8]) -> Result<Self, CryptoError> {
        if bytes.len() != PUBLIC_KEY_LEN || bytes[0] != 0x04 {
            return Err(CryptoError::Sm2);
        }
        let key = PublicKey::from_sec1_bytes(bytes).map_err(|_| CryptoError::Sm2)?;
        Ok(Sm2PublicKey { key })
    }

    /// The 65-byte uncompressed point `04 ‖ X ‖ Y`.
    pub fn to_uncompressed(&self) -> [u8; PUBLIC_KEY_LEN] {
        let sec1 = self.key.to_sec1_bytes();
        let mut out = [0u8; PUBLIC_KEY_LEN];
        // `PublicKey::to_sec1_bytes` always gives the uncompressed form for a non-identity point.
        out.copy_from_slice(&sec1);
        out
    }

    /// SHA-256 of the 65-byte key: the host key pin (`host_key_sha256`, activation DF56).
    pub fn fingerprint(&self) -> [u8; 32] {
        super::sha256(&self.to_uncompressed())
    }

    /// SM2 encryption with a fresh random k from the OS; the result is `C1 ‖ C3 ‖ C2`, C1 uncompressed, so it is
    /// `plaintext.len() + CIPHERTEXT_OVERHEAD` bytes long. Randomised: two calls give different ciphertexts.
    pub fn encrypt(&self, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        EncryptingKey::new_with_mode(self.key, Mode::C1C3C2)
            .encrypt(&mut SysRng, plaintext)
            .map_err(|_| CryptoError::Sm2)
    }
}

impl std::fmt::Debug for Sm2PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Sm2PublicKey(sha256={})",
            hex::encode_upper(&self.fingerprint()[..8])
        )
    }
}

/// An SM2 private key (the host side of the TMK transport). The scalar zeroizes on drop (`SecretKey` is
/// `ZeroizeOnDrop`); Debug shows only the public key's pin.
pub struct Sm2PrivateKey {
    secret: SecretKey,
}

impl Sm2PrivateKey {
    /// The 32-byte big-endian scalar d (1 ≤ d < n).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        if bytes.len() != PRIVATE_KEY_LEN {
            return Err(CryptoError::KeyLength(bytes.len()));
        }
        let secret = SecretKey::from_slice(bytes).map_err(|_| CryptoError::Sm2)?;
        Ok(Sm2PrivateKey { secret })
    }

    /// A new random key pair (a simulated host's first start).
    pub fn generate() -> Result<Self, CryptoError> {
        let mut d = Zeroizing::new([0u8; PRIVATE_KEY_LEN]);
        // Rejection sampling: a random 256-bit string is a valid scalar (non-zero, below n) almost always.
        for _ in 0..64 {
            super::random_bytes(&mut d[..])?;
            if let Ok(secret) = SecretKey::from_slice(&d[..]) {
                return Ok(Sm2PrivateKey { secret });
            }
        }
        Err(CryptoError::Sm2)
    }

    /// The 32-byte scalar. Never log it.
    pub fn to_bytes(&self) -> Zeroizing<[u8; PRIVATE_KEY_LEN]> {
        let mut out = Zeroizing::new([0u8; PRIVATE_KEY_LEN]);
        let mut bytes = self.secret.to_bytes();
        out.copy_from_slice(&bytes);
        zeroize::Zeroize::zeroize(bytes.as_mut_slice());
        out
    }

    /// The matching public key.
    pub fn public_key(&self) -> Sm2PublicKey {
        Sm2PublicKey {
            key: self.secret.public_key(),
        }
    }

    /// Decrypt a `C1 ‖ C3 ‖ C2` ciphertext. Fails (without saying why) on a malformed C1, a point off the curve or
    /// a C3 that does not match: wrong key or tampered ciphertext.
    pub fn decrypt(&self, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if ciphertext.len() < CIPHERTEXT_OVERHEAD || ciphertext[0] != 0x04 {
            return Err(CryptoError::Sm2);
        }
        let mut scalar = self.secret.to_nonzero_scalar();
        let mut dk = DecryptingKey::new_with_mode(scalar, Mode::C1C3C2);
        let result = dk.decrypt(ciphertext).map(Zeroizing::new);
        // The scalar is `Copy` and `DecryptingKey` keeps its own copy without wiping it on drop: zeroize ours (which
        // makes it the scalar 1), overwrite the key's with it, and keep the store from being optimised away.
        zeroize::Zeroize::zeroize(&mut scalar);
        dk = DecryptingKey::new_with_mode(scalar, Mode::C1C3C2);
        std::hint::black_box(&dk);
        result.map_err(|_| CryptoError::Sm2)
    }
}

impl std::fmt::Debug for Sm2PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Sm2PrivateKey(public sha256={})",
            hex::encode_upper(&self.public_key().fingerprint()[..8])
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let host = Sm2PrivateKey::generate().unwrap();
        let public = host.public_key();
        let ct = public.encrypt(b"0123456789ABCDEF").unwrap();
        assert_eq!(ct.len(), 16 + CIPHERTEXT_OVERHEAD);
        assert_eq!(ct[0], 0x04);
        assert_ne!(ct, public.encrypt(b"0123456789ABCDEF").unwrap());
        assert_eq!(&host.decrypt(&ct).unwrap()[..], b"0123456789ABCDEF");

        // A flipped bit anywhere fails the C3 check or the point check.
        for i in [1, 70, ct.len() - 1] {
            let mut bad = ct.clone();
            bad[i] ^= 1;
            assert_eq!(host.decrypt(&bad).unwrap_err(), CryptoError::Sm2);
        }
        // Another key cannot open it.
        let other = Sm2PrivateKey::generate().unwrap();
        assert_eq!(other.decrypt(&ct).unwrap_err(), CryptoError::Sm2);
        assert_eq!(host.decrypt(&ct[..96]).unwrap_err(), CryptoError::Sm2);

        let raw = public.to_uncompressed();
        assert_eq!(Sm2PublicKey::from_uncompressed(&raw).unwrap(), public);
        assert!(Sm2PublicKey::from_uncompressed(&raw[..64]).is_err());
        let mut off_curve = raw;
        off_curve[64] ^= 1;
        assert!(Sm2PublicKey::from_uncompressed(&off_curve).is_err());
        assert!(Sm2PrivateKey::from_bytes(&[0u8; 32]).is_err());
        assert_eq!(
            Sm2PrivateKey::from_bytes(&[1u8; 31]).unwrap_err(),
            CryptoError::KeyLength(31)
        );
        assert_eq!(
            Sm2PrivateKey::from_bytes(&host.to_bytes()[..])
                .unwrap()
                .public_key(),
            public
        );
    }

    #[test]
    fn debug_shows_no_key_material() {
        let host = Sm2PrivateKey::generate().unwrap();
        let d = hex::encode_upper(&host.to_bytes()[..]);
        let shown = format!("{host:?}");
        assert!(shown.starts_with("Sm2PrivateKey(public sha256="));
        assert!(!shown.contains(&d[..16]));
    }
}
