//! CUP-ECB, X9.19 (retail) and X9.9 MACs.
use super::{CryptoError, DesKey};
/// CUP-ECB MAC (PROTOCOL.md §7): returns the 8 upper-case ASCII hex characters that go into field 64.
pub fn cup_ecb(mak: &DesKey, data: &[u8]) -> [u8; 8] {
    todo!()
}
/// ANSI X9.19 retail MAC (ISO 9797-1 alg 3, zero padding) with a double-length key.
pub fn x9_19(key: &DesKey, data: &[u8]) -> Result<[u8; 8], CryptoError> {
    todo!()
}
/// ANSI X9.9 (single-DES CBC-MAC, zero padding) with the left 8 bytes of `key`.
pub fn x9_9(key: &DesKey, data: &[u8]) -> [u8; 8] {
    todo!()
}
