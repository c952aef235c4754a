//! Payment cryptography: TDES, check values, MACs, PIN blocks, RSA key transport, hashes, and the SM (国密)
//! family (SM2 key transport, SM3, SM4 and their payment layouts in `sm`).
//! The signatures below are the contract other modules code against.

pub mod emv;
mod family;
mod fast_des;
pub mod keys;
pub mod mac;
pub mod pin_block;
pub mod rsa;
pub mod seal;
pub mod sm;
pub mod sm2;
pub mod sm4;
pub mod tdes;

pub use family::KeyFamily;
pub use keys::DesKey;

/// Errors of the crypto layer. Messages never carry key, PIN or PAN material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CryptoError {
    /// Key is not 8, 16 or 24 bytes (or not hex).
    KeyLength(usize),
    /// Data of a length the operation cannot take: ECB input not a multiple of the block size (8 for TDES, 16 for
    /// SM4), a sign-in field 62 that is not 60 bytes, a packed track that does not match its digit count.
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
    /// An SM2 key or ciphertext is malformed, or a ciphertext fails to decrypt (wrong key or tampered).
    Sm2,
    /// A received key does not match its check value.
    CheckValue,
    /// A track holds a character other than a digit or the separator (`D`, `=`).
    TrackFormat,
}

impl std::fmt::Display for CryptoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CryptoError::KeyLength(n) => write!(f, "key length {n} is not 8, 16 or 24 bytes"),
            CryptoError::DataLength(n) => write!(f, "data length {n} is invalid (not a whole number of blocks, or not the expected size)"),
            CryptoError::PinFormat => write!(f, "PIN must be 4 to 12 digits"),
            CryptoError::PanFormat => write!(f, "PAN must be 13 to 19 digits"),
            CryptoError::PinBlockFormat => write!(f, "PIN block format invalid"),
            CryptoError::Rsa(m) => write!(f, "RSA: {m}"),
            CryptoError::Hex => write!(f, "invalid hex"),
            CryptoError::Seal => write!(f, "sealed data failed authentication"),
            CryptoError::Sm2 => write!(f, "SM2 key or ciphertext invalid"),
            CryptoError::CheckValue => write!(f, "key check value does not match"),
            CryptoError::TrackFormat => write!(f, "track holds a character other than digits and the separator"),
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

/// SM3 (GB/T 32905), the hash of the SM family.
pub fn sm3(data: &[u8]) -> [u8; 32] {
    use sm3::Digest;
    sm3::Sm3::digest(data).into()
}

/// Fill `buf` from the operating system's CSPRNG.
pub fn random_bytes(buf: &mut [u8]) -> Result<(), CryptoError> {
    getrandom::fill(buf).map_err(|e| CryptoError::Rsa(format!("rng: {e}")))
}
