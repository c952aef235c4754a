//! THE field table: the only place that knows how a field is encoded (PROTOCOL.md §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    N,
    Z,
    An,
    Ans,
    B,
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Length {
    Fixed,
    LL,
    LLL,
}
/// How the masked rendering shows a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secrecy {
    Clear,
    Pan,
    Hidden,
}
#[derive(Debug)]
pub struct FieldDef {
    pub number: u8,
    pub name: &'static str,
    pub format: Format,
    pub length: Length,
    /// Fixed length or maximum (digits for n/z, bytes otherwise, bits/8 for b).
    pub max: usize,
    /// Fixed n field sent left-aligned (field 22).
    pub left_aligned: bool,
    pub secrecy: Secrecy,
}

impl FieldDef {
    /// True for the packed-BCD formats (n, z): lengths count digits.
    #[inline]
    pub fn is_bcd(&self) -> bool {
        matches!(self.format, Format::N | Format::Z)
    }
}

const fn def(
    number: u8,
    name: &'static str,
    format: Format,
    length: Length,
    max: usize,
    secrecy: Secrecy,
) -> FieldDef {
    FieldDef {
        number,
        name,
        format,
        length,
        max,
        left_aligned: false,
        secrecy,
    }
}

use Format::*;
use Length::*;
use Secrecy::*;

/// Every field of PROTOCOL.md §2, ascending. Fields not listed are undefined.
pub static FIELDS: [FieldDef; 33] = [
    def(2, "pan", N, LL, 19, Pan),
    def(3, "processing_code", N, Fixed, 6, Clear),
    def(4, "amount", N, Fixed, 12, Clear),
    def(11, "stan", N, Fixed, 6, Clear),
    def(12, "local_time", N, Fixed, 6, Clear),
    def(13, "local_date", N, Fixed, 4, Clear),
    def(14, "expiry", N, Fixed, 4, Clear),
    def(15, "settlement_date", N, Fixed, 4, Clear),
    FieldDef {
        number: 22,
        name: "pos_entry_mode",
        format: N,
        length: Fixed,
        max: 3,
        left_aligned: true,
        secrecy: Clear,
    },
    def(23, "card_sequence_number", N, Fixed, 3, Clear),
    def(25, "condition_code", N, Fixed, 2, Clear),
    def(26, "pin_capture_code", N, Fixed, 2, Clear),
    def(32, "acquiring_institution", N, LL, 11, Clear),
    def(35, "track2", Z, LL, 37, Hidden),
    def(36, "track3", Z, LLL, 104, Hidden),
    def(37, "retrieval_reference", An, Fixed, 12, Clear),
    def(38, "authorisation_id", An, Fixed, 6, Clear),
    def(39, "response_code", An, Fixed, 2, Clear),
    def(41, "terminal_id", Ans, Fixed, 8, Clear),
    def(42, "merchant_id", Ans, Fixed, 15, Clear),
    def(44, "issuer_acquirer_id", An, LL, 25, Clear),
    def(48, "additional_data", N, LLL, 322, Clear),
    def(49, "currency", An, Fixed, 3, Clear),
    def(52, "pin_block", B, Fixed, 8, Hidden),
    def(53, "security_control", N, Fixed, 16, Clear),
    def(54, "balance", An, LLL, 20, Clear),
    def(55, "icc_data", B, LLL, 255, Hidden),
    def(59, "qr_data", Ans, LLL, 999, Clear),
    def(60, "reserved_private", N, LLL, 30, Clear),
    def(61, "original_data", N, LLL, 29, Clear),
    def(62, "key_data", B, LLL, 512, Hidden),
    def(63, "card_organisation", Ans, LLL, 163, Clear),
    def(64, "mac", B, Fixed, 8, Clear),
];

/// Field number -> index into FIELDS + 1 (0 = undefined), built at compile time.
static INDEX: [u8; 65] = {
    let mut idx = [0u8; 65];
    let mut i = 0;
    while i < FIELDS.len() {
        idx[FIELDS[i].number as usize] = (i + 1) as u8;
        i += 1;
    }
    idx
};

/// The definition of `number`, or None when the profile does not define it.
#[inline]
pub fn field(number: u8) -> Option<&'static FieldDef> {
    match INDEX.get(number as usize) {
        Some(&i) if i != 0 => Some(&FIELDS[i as usize - 1]),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn table_is_ascending_and_indexed() {
        for w in FIELDS.windows(2) {
            assert!(w[0].number < w[1].number);
        }
        for n in 0..=255u8 {
            match field(n) {
                Some(d) => assert_eq!(d.number, n),
                None => assert!(!FIELDS.iter().any(|d| d.number == n)),
            }
        }
        assert!(field(1).is_none());
        assert!(field(65).is_none());
        assert!(field(22).map(|d| d.left_aligned).unwrap_or(false));
        assert_eq!(field(2).map(|d| d.secrecy), Some(Secrecy::Pan));
        for n in [35, 36, 52, 55, 62] {
            assert_eq!(
                field(n).map(|d| d.secrecy),
                Some(Secrecy::Hidden),
                "field {n}"
            );
        }
    }
}
