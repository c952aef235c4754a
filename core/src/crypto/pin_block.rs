//! ISO 9564-1 format 0 PIN blocks.
use super::{CryptoError, DesKey};
use zeroize::Zeroizing;
/// Clear format-0 block for `pin` (4..=12 digits) and `pan` (13..=19 digits).
pub fn iso0_clear(pin: &str, pan: &str) -> Result<Zeroizing<[u8; 8]>, CryptoError> {
    todo!()
}
/// Format-0 block encrypted under the PIK (field 52).
pub fn iso0_encrypt(pik: &DesKey, pin: &str, pan: &str) -> Result<[u8; 8], CryptoError> {
    todo!()
}
/// Recover the PIN from a clear format-0 block.
pub fn iso0_parse(clear: &[u8; 8], pan: &str) -> Result<Zeroizing<String>, CryptoError> {
    todo!()
}
/// Decrypt a field-52 block under the PIK and recover the PIN (host side).
pub fn iso0_decrypt(
    pik: &DesKey,
    block: &[u8; 8],
    pan: &str,
) -> Result<Zeroizing<String>, CryptoError> {
    todo!()
}
