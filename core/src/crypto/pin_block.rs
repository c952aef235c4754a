//! ISO 9564-1 format 0 PIN blocks.
use super::{CryptoError, DesKey};
use zeroize::Zeroizing;

/// The PAN field of an `N`-byte block: zeros, then in its last 6 bytes the 12 right-most PAN digits excluding
/// the check digit, packed BCD (`0000` + 12 digits for the 8-byte block).
fn pan_field<const N: usize>(pan: &str) -> Result<[u8; N], CryptoError> {
    let p = pan.as_bytes();
    if !(13..=19).contains(&p.len()) || !p.iter().all(u8::is_ascii_digit) {
        return Err(CryptoError::PanFormat);
    }
    let digits = &p[p.len() - 13..p.len() - 1];
    let mut out = [0u8; N];
    for (i, pair) in digits.chunks_exact(2).enumerate() {
        out[N - 6 + i] = ((pair[0] - b'0') << 4) | (pair[1] - b'0');
    }
    Ok(out)
}

/// The format-0 layout in a block of `N` bytes (8: ISO 9564-1 format 0; 16: the SM family's block): the
/// nibbles `0`, PIN length, PIN digits, `F` padding, XOR the PAN field. `pin` is 4..=12 digits, `pan`
/// 13..=19.
pub(crate) fn clear_block<const N: usize>(
    pin: &str,
    pan: &str,
) -> Result<Zeroizing<[u8; N]>, CryptoError> {
    let p = pin.as_bytes();
    if !(4..=12).contains(&p.len()) || !p.iter().all(u8::is_ascii_digit) {
        return Err(CryptoError::PinFormat);
    }
    let pan_f = pan_field::<N>(pan)?;
    // 2N nibbles (N is at most 16): 0, length, PIN digits, F padding.
    let mut nibbles = Zeroizing::new([0x0Fu8; 32]);
    nibbles[0] = 0;
    nibbles[1] = p.len() as u8;
    for (i, d) in p.iter().enumerate() {
        nibbles[2 + i] = d - b'0';
    }
    let mut block = Zeroizing::new([0u8; N]);
    for i in 0..N {
        block[i] = ((nibbles[2 * i] << 4) | nibbles[2 * i + 1]) ^ pan_f[i];
    }
    Ok(block)
}

/// The PIN of a clear `N`-byte format-0 block: control nibble 0, length 4..=12, decimal digits, `F` padding.
pub(crate) fn parse_block<const N: usize>(
    clear: &[u8; N],
    pan: &str,
) -> Result<Zeroizing<String>, CryptoError> {
    let pan_f = pan_field::<N>(pan)?;
    let mut all = Zeroizing::new([0u8; 32]);
    let nibbles = &mut all[..2 * N];
    for i in 0..N {
        let b = clear[i] ^ pan_f[i];
        nibbles[2 * i] = b >> 4;
        nibbles[2 * i + 1] = b & 0x0F;
    }
    let len = nibbles[1] as usize;
    if nibbles[0] != 0 || !(4..=12).contains(&len) {
        return Err(CryptoError::PinBlockFormat);
    }
    let mut pin = Zeroizing::new(String::with_capacity(len));
    for &n in &nibbles[2..2 + len] {
        if n > 9 {
            return Err(CryptoError::PinBlockFormat);
        }
        pin.push(char::from(b'0' + n));
    }
    if nibbles[2 + len..].iter().any(|&n| n != 0x0F) {
        return Err(CryptoError::PinBlockFormat);
    }
    Ok(pin)
}

/// Clear format-0 block for `pin` (4..=12 digits) and `pan` (13..=19 digits).
pub fn iso0_clear(pin: &str, pan: &str) -> Result<Zeroizing<[u8; 8]>, CryptoError> {
    clear_block(pin, pan)
}

/// Format-0 block encrypted under the PIK (field 52).
pub fn iso0_encrypt(pik: &DesKey, pin: &str, pan: &str) -> Result<[u8; 8], CryptoError> {
    let mut block = iso0_clear(pin, pan)?;
    pik.encrypt_block(&mut block);
    Ok(*block)
}

/// Recover the PIN from a clear format-0 block.
pub fn iso0_parse(clear: &[u8; 8], pan: &str) -> Result<Zeroizing<String>, CryptoError> {
    parse_block(clear, pan)
}

/// Decrypt a field-52 block under the PIK and recover the PIN (host side).
pub fn iso0_decrypt(
    pik: &DesKey,
    block: &[u8; 8],
    pan: &str,
) -> Result<Zeroizing<String>, CryptoError> {
    let mut clear = Zeroizing::new(*block);
    pik.decrypt_block(&mut clear);
    iso0_parse(&clear, pan)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAN: &str = "6225880123456789";

    #[test]
    fn strict_inputs() {
        assert_eq!(iso0_clear("123", PAN).unwrap_err(), CryptoError::PinFormat);
        assert_eq!(
            iso0_clear("1234567890123", PAN).unwrap_err(),
            CryptoError::PinFormat
        );
        assert_eq!(iso0_clear("12a4", PAN).unwrap_err(), CryptoError::PinFormat);
        assert_eq!(
            iso0_clear("1234", "622588012345").unwrap_err(),
            CryptoError::PanFormat
        );
        assert_eq!(
            iso0_clear("1234", "62258801234567890123").unwrap_err(),
            CryptoError::PanFormat
        );
        assert_eq!(
            iso0_clear("1234", "622588012345678X").unwrap_err(),
            CryptoError::PanFormat
        );
    }

    #[test]
    fn parse_rejects_bad_blocks() {
        let good = iso0_clear("123456", PAN).unwrap();
        assert_eq!(iso0_parse(&good, PAN).unwrap().as_str(), "123456");
        // Wrong control nibble.
        let mut b = *good;
        b[0] ^= 0x10;
        assert_eq!(
            iso0_parse(&b, PAN).unwrap_err(),
            CryptoError::PinBlockFormat
        );
        // Length 3.
        let mut b = *good;
        b[0] ^= 0x06 ^ 0x03;
        assert_eq!(
            iso0_parse(&b, PAN).unwrap_err(),
            CryptoError::PinBlockFormat
        );
        // Bad padding nibble.
        let mut b = *good;
        b[7] ^= 0x01;
        assert_eq!(
            iso0_parse(&b, PAN).unwrap_err(),
            CryptoError::PinBlockFormat
        );
        // Non-decimal PIN digit.
        let mut b = *good;
        b[1] ^= 0xA0 ^ 0x10; // first digit 1 -> A
        assert_eq!(
            iso0_parse(&b, PAN).unwrap_err(),
            CryptoError::PinBlockFormat
        );
        // Wrong PAN.
        assert!(iso0_parse(&good, "6225880123456779").is_err());
    }

    #[test]
    fn twelve_digit_round_trip() {
        let pik = DesKey::from_hex("7AC2B361CD68EA5D868CBC85F7AEC454").unwrap();
        let blk = iso0_encrypt(&pik, "123456789012", PAN).unwrap();
        assert_eq!(
            iso0_decrypt(&pik, &blk, PAN).unwrap().as_str(),
            "123456789012"
        );
    }
}
