//! RSA key transport (TMK download): a host public key given as modulus + exponent.
use super::CryptoError;
#[derive(Clone, PartialEq, Eq)]
pub struct HostPublicKey {
    modulus: Vec<u8>,
    exponent: Vec<u8>,
}
impl HostPublicKey {
    /// Big-endian modulus and exponent bytes (as DF02 / DF04 carry them).
    pub fn new(modulus: &[u8], exponent: &[u8]) -> Result<Self, CryptoError> {
        todo!()
    }
    pub fn modulus(&self) -> &[u8] {
        &self.modulus
    }
    pub fn exponent(&self) -> &[u8] {
        &self.exponent
    }
    /// SHA-256(modulus || exponent), the pinned fingerprint.
    pub fn fingerprint(&self) -> [u8; 32] {
        todo!()
    }
    /// RSAES-PKCS1-v1_5 encryption with OS randomness.
    pub fn encrypt_pkcs1v15(&self, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        todo!()
    }
}
