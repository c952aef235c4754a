//! DES / TDES ECB on whole 8-byte blocks.
use super::{CryptoError, DesKey};
pub fn encrypt_ecb(key: &DesKey, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
    todo!()
}
pub fn decrypt_ecb(key: &DesKey, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
    todo!()
}
pub fn encrypt_block(key: &DesKey, block: &mut [u8; 8]) {
    todo!()
}
pub fn decrypt_block(key: &DesKey, block: &mut [u8; 8]) {
    todo!()
}
