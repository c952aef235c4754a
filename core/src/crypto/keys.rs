//! Key material: zeroized on drop, Debug shows only the check value.
use super::CryptoError;

/// A single (8), double (16) or triple (24) length DES key. 8-byte keys act as single DES (K1=K2=K3).
pub struct DesKey {
    bytes: zeroize::Zeroizing<Vec<u8>>,
}

impl DesKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        todo!()
    }
    pub fn from_hex(hex: &str) -> Result<Self, CryptoError> {
        todo!()
    }
    /// Raw key bytes (for sealing and for the host simulator). Never log them.
    pub fn as_bytes(&self) -> &[u8] {
        todo!()
    }
    /// TDES-ECB(key, 8 x 00).
    pub fn check_block(&self) -> [u8; 8] {
        todo!()
    }
    /// First 4 bytes of the check block: the CV of PROTOCOL.md.
    pub fn kcv(&self) -> [u8; 4] {
        todo!()
    }
}
