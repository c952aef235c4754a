//! ISO 9564-1 PIN blocks: format 0 (docs/PROTOCOL.md §7.2), and formats 1 and 3 for acquirer profiles
//! that ask for them (docs/PROFILES.md §7).
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

/// The ISO 9564-1 PIN block formats possdk builds (an acquirer profile's `security.pin_block`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinFormat {
    /// Format 0: `0`, length, PIN, `F` fill, XOR the PAN field.
    Iso0,
    /// Format 1: `1`, length, PIN, random fill; no PAN (a card without a usable PAN, or a dialect that
    /// does not bind the PIN to it).
    Iso1,
    /// Format 3: `3`, length, PIN, random fill nibbles `A`-`F`, XOR the PAN field.
    Iso3,
}

impl PinFormat {
    pub const ALL: [PinFormat; 3] = [PinFormat::Iso0, PinFormat::Iso1, PinFormat::Iso3];

    /// The profile's name of the format: `iso0`, `iso1`, `iso3`.
    pub fn name(self) -> &'static str {
        match self {
            PinFormat::Iso0 => "iso0",
            PinFormat::Iso1 => "iso1",
            PinFormat::Iso3 => "iso3",
        }
    }

    pub fn from_name(name: &str) -> Option<PinFormat> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }

    fn control(self) -> u8 {
        match self {
            PinFormat::Iso0 => 0,
            PinFormat::Iso1 => 1,
            PinFormat::Iso3 => 3,
        }
    }

    fn uses_pan(self) -> bool {
        self != PinFormat::Iso1
    }
}

/// The clear block of `format` in `N` bytes (8: ISO 9564-1; 16: the SM family's format-0 block): the
/// nibbles control, PIN length, PIN digits, fill, XOR the PAN field (formats 0 and 3). `pin` is 4..=12
/// digits, `pan` 13..=19 (not read by format 1).
pub(crate) fn clear_block<const N: usize>(
    format: PinFormat,
    pin: &str,
    pan: &str,
) -> Result<Zeroizing<[u8; N]>, CryptoError> {
    let p = pin.as_bytes();
    if !(4..=12).contains(&p.len()) || !p.iter().all(u8::is_ascii_digit) {
        return Err(CryptoError::PinFormat);
    }
    let pan_f = if format.uses_pan() {
        pan_field::<N>(pan)?
    } else {
        [0u8; N]
    };
    // 2N nibbles (N is at most 16): control, length, PIN digits, fill.
    let mut nibbles = Zeroizing::new([0x0Fu8; 32]);
    if format != PinFormat::Iso0 {
        super::random_bytes(&mut nibbles[..])?;
        for n in nibbles.iter_mut() {
            *n = match format {
                // A-F: six values from a random byte (the bias of 256 mod 6 does not matter for a fill).
                PinFormat::Iso3 => 0x0A + *n % 6,
                _ => *n & 0x0F,
            };
        }
    }
    nibbles[0] = format.control();
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

/// The PIN of a clear `N`-byte block of `format`: its control nibble, length 4..=12, decimal digits, and
/// the format's fill (`F` in format 0, `A`-`F` in format 3, anything in format 1).
pub(crate) fn parse_block<const N: usize>(
    format: PinFormat,
    clear: &[u8; N],
    pan: &str,
) -> Result<Zeroizing<String>, CryptoError> {
    let pan_f = if format.uses_pan() {
        pan_field::<N>(pan)?
    } else {
        [0u8; N]
    };
    let mut all = Zeroizing::new([0u8; 32]);
    let nibbles = &mut all[..2 * N];
    for i in 0..N {
        let b = clear[i] ^ pan_f[i];
        nibbles[2 * i] = b >> 4;
        nibbles[2 * i + 1] = b & 0x0F;
    }
    let len = nibbles[1] as usize;
    if nibbles[0] != format.control() || !(4..=12).contains(&len) {
        return Err(CryptoError::PinBlockFormat);
    }
    let mut pin = Zeroizing::new(String::with_capacity(len));
    for &n in &nibbles[2..2 + len] {
        if n > 9 {
            return Err(CryptoError::PinBlockFormat);
        }
        pin.push(char::from(b'0' + n));
    }
    let fill_ok = |n: u8| match format {
        PinFormat::Iso0 => n == 0x0F,
        PinFormat::Iso1 => true,
        PinFormat::Iso3 => n >= 0x0A,
    };
    if !nibbles[2 + len..].iter().all(|&n| fill_ok(n)) {
        return Err(CryptoError::PinBlockFormat);
    }
    Ok(pin)
}

/// A PIN block of `format` encrypted under the PIK (TDES-ECB, field 52).
pub fn encrypt(
    format: PinFormat,
    pik: &DesKey,
    pin: &str,
    pan: &str,
) -> Result<[u8; 8], CryptoError> {
    let mut block = clear_block::<8>(format, pin, pan)?;
    pik.encrypt_block(&mut block);
    Ok(*block)
}

/// Decrypt a field-52 block of `format` under the PIK and recover the PIN (host side).
pub fn decrypt(
    format: PinFormat,
    pik: &DesKey,
    block: &[u8; 8],
    pan: &str,
) -> Result<Zeroizing<String>, CryptoError> {
    let mut clear = Zeroizing::new(*block);
    pik.decrypt_block(&mut clear);
    parse_block(format, &clear, pan)
}

/// Clear format-0 block for `pin` (4..=12 digits) and `pan` (13..=19 digits).
pub fn iso0_clear(pin: &str, pan: &str) -> Result<Zeroizing<[u8; 8]>, CryptoError> {
    clear_block(PinFormat::Iso0, pin, pan)
}

/// Format-0 block encrypted under the PIK (field 52).
pub fn iso0_encrypt(pik: &DesKey, pin: &str, pan: &str) -> Result<[u8; 8], CryptoError> {
    encrypt(PinFormat::Iso0, pik, pin, pan)
}

/// Recover the PIN from a clear format-0 block.
pub fn iso0_parse(clear: &[u8; 8], pan: &str) -> Result<Zeroizing<String>, CryptoError> {
    parse_block(PinFormat::Iso0, clear, pan)
}

/// Decrypt a field-52 block under the PIK and recover the PIN (host side).
pub fn iso0_decrypt(
    pik: &DesKey,
    block: &[u8; 8],
    pan: &str,
) -> Result<Zeroizing<String>, CryptoError> {
    decrypt(PinFormat::Iso0, pik, block, pan)
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

    #[test]
    fn formats_1_and_3_round_trip_with_their_own_layout() {
        let pik = DesKey::from_hex("7AC2B361CD68EA5D868CBC85F7AEC454").unwrap();
        for format in [PinFormat::Iso1, PinFormat::Iso3] {
            let a = encrypt(format, &pik, "123456", PAN).unwrap();
            let b = encrypt(format, &pik, "123456", PAN).unwrap();
            // Random fill: the same PIN gives different blocks.
            assert_ne!(a, b, "{format:?}");
            assert_eq!(decrypt(format, &pik, &a, PAN).unwrap().as_str(), "123456");
            // Another format's reader refuses it.
            assert!(iso0_decrypt(&pik, &a, PAN).is_err(), "{format:?}");
        }
        // Format 3 is XORed with the PAN field; its fill nibbles are A-F.
        let clear = clear_block::<8>(PinFormat::Iso3, "1234", PAN).unwrap();
        let pan_f = pan_field::<8>(PAN).unwrap();
        let plain: Vec<u8> = clear.iter().zip(pan_f).map(|(c, p)| c ^ p).collect();
        assert_eq!(&plain[..3], &[0x34, 0x12, 0x34]);
        assert!(plain[3..]
            .iter()
            .all(|b| b >> 4 >= 0x0A && b & 0x0F >= 0x0A));
        assert!(parse_block(PinFormat::Iso3, &clear, "6225880123456779").is_err());
        // Format 1 does not read the PAN.
        let clear = clear_block::<8>(PinFormat::Iso1, "4321", "").unwrap();
        assert_eq!(&clear[..3], &[0x14, 0x43, 0x21]);
        assert_eq!(
            parse_block(PinFormat::Iso1, &clear, "").unwrap().as_str(),
            "4321"
        );
        // A format-0 block is not a format-3 one.
        let zero = iso0_clear("1234", PAN).unwrap();
        assert!(parse_block(PinFormat::Iso3, &zero, PAN).is_err());
    }
}
