//! The field table: the only place that knows how a field is encoded (docs/PROTOCOL.md §2).
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
    /// Logged as the first 6 and last 4 digits.
    Pan,
    /// Field 59 items: a customer payment code keeps its first 4 and last 4 characters.
    PaymentCode,
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
    /// An `ans` field whose bytes above 0x7F pass (field 63: real hosts send GBK issuer text there).
    /// Every other `ans` field is ASCII only, and `an` is printable ASCII only.
    pub eight_bit: bool,
    pub secrecy: Secrecy,
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
        eight_bit: false,
        secrecy,
    }
}

use Format::*;
use Length::*;
use Secrecy::*;

/// Every field of docs/PROTOCOL.md §2, ascending. Fields not listed are undefined.
pub static FIELDS: [FieldDef; 33] = [
    def(2, "pan", N, LL, 19, Pan),
    def(3, "processing_code", N, Fixed, 6, Clear),
    def(4, "amount", N, Fixed, 12, Clear),
    def(11, "stan", N, Fixed, 6, Clear),
    def(12, "local_time", N, Fixed, 6, Clear),
    def(13, "local_date", N, Fixed, 4, Clear),
    def(14, "expiry", N, Fixed, 4, Hidden),
    def(15, "settlement_date", N, Fixed, 4, Clear),
    FieldDef {
        number: 22,
        name: "pos_entry_mode",
        format: N,
        length: Fixed,
        max: 3,
        left_aligned: true,
        eight_bit: false,
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
    def(59, "qr_data", Ans, LLL, 999, PaymentCode),
    def(60, "reserved_private", N, LLL, 30, Clear),
    def(61, "original_data", N, LLL, 29, Clear),
    def(62, "key_data", B, LLL, 512, Hidden),
    FieldDef {
        number: 63,
        name: "card_organisation",
        format: Ans,
        length: LLL,
        max: 163,
        left_aligned: false,
        eight_bit: true,
        secrecy: Clear,
    },
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

/// How the codec handles a field, flattened from its `FieldDef` so the hot loops do one table load
/// and one jump per field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Undefined,
    /// Fixed n/z, odd digit count padded with a leading zero nibble (right-aligned).
    BcdRight,
    /// Fixed n/z, odd digit count padded with a trailing zero nibble (field 22).
    BcdLeft,
    /// Variable n/z: left-aligned, trailing zero nibble when odd.
    BcdVar,
    /// an/ans fixed: space-padded on the right.
    TextFixed,
    TextVar,
    BinFixed,
    BinVar,
}

/// Straight-line codec paths for the fixed sizes the profile uses (`Generic` for everything else).
/// `N<len><R|L>`: fixed n of `len` digits, pad nibble first (R) or last (L); `T<len>`: fixed
/// an/ans of `len` bytes; `B<len>`: fixed binary. Only ever a shortcut: the generic path handles
/// every field too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fast {
    Generic,
    N2R,
    N3R,
    N3L,
    N4R,
    N6R,
    N12R,
    N16R,
    T2,
    T3,
    T6,
    T8,
    T12,
    T15,
    B8,
}

/// Codec view of one field number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Spec {
    pub kind: Kind,
    pub fast: Fast,
    /// Length-prefix bytes: 0 (fixed), 1 (LL) or 2 (LLL).
    pub prefix: u8,
    /// `z` digits (nibble D is the separator) rather than `n`.
    pub z: bool,
    /// `an`: printable ASCII only.
    pub an: bool,
    /// `ans` other than the eight-bit field 63: ASCII only.
    pub ascii: bool,
    /// Fixed length or maximum, as in `FieldDef::max`.
    pub max: u16,
    /// Anything but the built-in CUP encodings below (the codec's `alt` paths handle the field).
    pub alt: bool,
    /// n/z digits as ASCII characters rather than packed BCD.
    pub ascii_digits: bool,
    /// Length prefix encoding: `PREFIX_BCD`, `PREFIX_ASCII` or `PREFIX_BINARY`.
    pub prefix_enc: u8,
    /// A `b` value sent as upper-case hex characters (two per byte).
    pub hex: bool,
    /// The pad nibble of an odd digit count in BCD: 0x0 or 0xF.
    pub pad: u8,
}

pub(crate) const PREFIX_BCD: u8 = 0;
pub(crate) const PREFIX_ASCII: u8 = 1;
pub(crate) const PREFIX_BINARY: u8 = 2;

pub(crate) const UNDEFINED: Spec = Spec {
    kind: Kind::Undefined,
    fast: Fast::Generic,
    prefix: 0,
    z: false,
    an: false,
    ascii: false,
    max: 0,
    alt: false,
    ascii_digits: false,
    prefix_enc: PREFIX_BCD,
    hex: false,
    pad: 0,
};

pub(crate) const fn spec_of(d: &FieldDef) -> Spec {
    let fixed = matches!(d.length, Fixed);
    let kind = match d.format {
        N | Z if fixed && d.left_aligned => Kind::BcdLeft,
        N | Z if fixed => Kind::BcdRight,
        N | Z => Kind::BcdVar,
        An | Ans if fixed => Kind::TextFixed,
        An | Ans => Kind::TextVar,
        B if fixed => Kind::BinFixed,
        B => Kind::BinVar,
    };
    let fast = match (kind, d.format, d.max) {
        (Kind::BcdRight, N, 2) => Fast::N2R,
        (Kind::BcdRight, N, 3) => Fast::N3R,
        (Kind::BcdLeft, N, 3) => Fast::N3L,
        (Kind::BcdRight, N, 4) => Fast::N4R,
        (Kind::BcdRight, N, 6) => Fast::N6R,
        (Kind::BcdRight, N, 12) => Fast::N12R,
        (Kind::BcdRight, N, 16) => Fast::N16R,
        (Kind::TextFixed, _, 2) => Fast::T2,
        (Kind::TextFixed, _, 3) => Fast::T3,
        (Kind::TextFixed, _, 6) => Fast::T6,
        (Kind::TextFixed, _, 8) => Fast::T8,
        (Kind::TextFixed, _, 12) => Fast::T12,
        (Kind::TextFixed, _, 15) => Fast::T15,
        (Kind::BinFixed, _, 8) => Fast::B8,
        _ => Fast::Generic,
    };
    Spec {
        kind,
        fast,
        prefix: match d.length {
            Fixed => 0,
            LL => 1,
            LLL => 2,
        },
        z: matches!(d.format, Z),
        an: matches!(d.format, An),
        ascii: matches!(d.format, Ans) && !d.eight_bit,
        max: d.max as u16,
        alt: false,
        ascii_digits: false,
        prefix_enc: PREFIX_BCD,
        hex: false,
        pad: 0,
    }
}

/// Non-default wire choices of one field (acquirer profiles, docs/PROFILES.md "fields").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Encoding {
    /// n/z digits as ASCII characters.
    pub ascii_digits: bool,
    /// `PREFIX_BCD`, `PREFIX_ASCII` or `PREFIX_BINARY`.
    pub prefix: u8,
    /// A `b` value as hex characters.
    pub hex: bool,
    /// Pad nibble 0xF instead of 0x0.
    pub pad_f: bool,
}

/// The codec view of a field with profile-chosen encodings: the CUP spec when every choice is the
/// default (so the straight-line paths apply), else the same spec marked `alt`.
pub(crate) fn spec_with(d: &FieldDef, e: Encoding) -> Spec {
    let mut s = spec_of(d);
    if e != Encoding::default() {
        s.alt = true;
        s.fast = Fast::Generic;
        s.ascii_digits = e.ascii_digits;
        s.prefix_enc = e.prefix;
        s.hex = e.hex;
        s.pad = if e.pad_f { 0x0F } else { 0 };
    }
    s
}

/// The message codec of a profile: one `Spec` per field number and the encodings of MTI and bitmap.
#[derive(Debug, Clone)]
pub struct Codec {
    pub(crate) specs: [Spec; 65],
    /// Field 52 in the SM key family: the table's field 52 (the TDES block) at twice its length
    /// (docs/PROTOCOL.md §11, docs/PROFILES.md "fields").
    pub(crate) pin_sm: Spec,
    /// MTI as 4 ASCII digits (else 2 BCD bytes).
    pub(crate) ascii_mti: bool,
    /// Bitmap as 16 upper-case hex characters (else 8 bytes).
    pub(crate) hex_bitmap: bool,
    /// The most value bytes a decoded message can hold.
    pub(crate) max_values_total: usize,
    /// Upper bound of the wire bytes of all fixed fields and the MAC placeholder.
    pub(crate) fixed_wire_total: usize,
    /// Largest length prefix in bytes.
    pub(crate) max_prefix: usize,
    /// Wire bytes per value byte at most (2 with hex content).
    pub(crate) value_factor: usize,
}

impl Codec {
    /// Bytes of MTI + bitmap.
    #[inline(always)]
    pub(crate) fn head_len(&self) -> usize {
        (if self.ascii_mti { 4 } else { 2 }) + if self.hex_bitmap { 16 } else { 8 }
    }

    /// A codec from field definitions and their encodings.
    pub(crate) fn build(
        fields: &[(FieldDef, Encoding)],
        ascii_mti: bool,
        hex_bitmap: bool,
    ) -> Codec {
        let mut specs = [UNDEFINED; 65];
        let mut max_values_total = 0;
        let mut fixed_wire_total = 8;
        let mut max_prefix = 2;
        let mut value_factor = 1;
        for (d, e) in fields {
            let s = spec_with(d, *e);
            specs[d.number as usize - 1] = s;
            max_values_total += d.max;
            let wire = if e.hex {
                2 * d.max
            } else {
                d.max.div_ceil(2) * 2
            };
            if matches!(d.length, Fixed) {
                fixed_wire_total += wire;
            }
            if e.prefix == PREFIX_ASCII {
                max_prefix = 3;
            }
            if e.hex {
                value_factor = 2;
            }
        }
        Codec {
            pin_sm: sm_pin_block(specs[51]),
            specs,
            ascii_mti,
            hex_bitmap,
            max_values_total,
            fixed_wire_total,
            max_prefix,
            value_factor,
        }
    }
}

/// Field 52 of the SM family from the table's (TDES) field 52: the same encoding, twice the length
/// (b64 becomes b128; 16 hex characters become 32). Undefined stays undefined.
pub(crate) const fn sm_pin_block(tdes: Spec) -> Spec {
    let mut s = tdes;
    if !matches!(s.kind, Kind::Undefined) {
        s.max *= 2;
        s.fast = Fast::Generic;
    }
    s
}

/// The built-in CUP codec (docs/PROTOCOL.md §2): the field table above, BCD MTI, binary bitmap.
pub static CUP_CODEC: Codec = CUP_CODEC_VALUE;
pub(crate) const CUP_CODEC_VALUE: Codec = Codec {
    specs: SPECS_TABLE,
    pin_sm: sm_pin_block(SPECS_TABLE[51]),
    ascii_mti: false,
    hex_bitmap: false,
    max_values_total: MAX_VALUES_TOTAL,
    fixed_wire_total: FIXED_WIRE_TOTAL,
    max_prefix: 2,
    value_factor: 1,
};

/// The most value bytes a message can hold once decoded (every defined field at its maximum).
pub(crate) const MAX_VALUES_TOTAL: usize = {
    let mut total = 0;
    let mut i = 0;
    while i < FIELDS.len() {
        total += FIELDS[i].max;
        i += 1;
    }
    total
};

/// `SPECS[k]` describes field `k + 1` (k = 0..=63; entry 64 is unused and undefined), so a bitmap
/// position from `leading_zeros` indexes it without a bounds check.
#[cfg(test)]
pub(crate) static SPECS: [Spec; 65] = SPECS_TABLE;
const SPECS_TABLE: [Spec; 65] = {
    let mut t = [UNDEFINED; 65];
    let mut i = 0;
    while i < FIELDS.len() {
        t[FIELDS[i].number as usize - 1] = spec_of(&FIELDS[i]);
        i += 1;
    }
    t
};

/// Upper bound of the wire bytes of all fixed fields (and the 8-byte MAC placeholder): whatever
/// the values, a body never needs more than 10 + this + 2 per field + the value bytes.
pub(crate) const FIXED_WIRE_TOTAL: usize = {
    let mut total = 8;
    let mut i = 0;
    while i < FIELDS.len() {
        if matches!(FIELDS[i].length, Fixed) {
            total += FIELDS[i].max.div_ceil(2) * 2;
        }
        i += 1;
    }
    total
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
        for n in 1..=64u8 {
            let s = SPECS[n as usize - 1];
            match field(n) {
                None => assert_eq!(s.kind, Kind::Undefined, "field {n}"),
                Some(d) => {
                    assert_eq!(s.max as usize, d.max, "field {n}");
                    assert_eq!(s.z, d.format == Format::Z, "field {n}");
                    assert_eq!(s.an, d.format == Format::An, "field {n}");
                    assert_eq!(
                        s.ascii,
                        d.format == Format::Ans && !d.eight_bit,
                        "field {n}"
                    );
                    assert!(!d.eight_bit || d.format == Format::Ans, "field {n}");
                    let prefix = match d.length {
                        Length::Fixed => 0,
                        Length::LL => 1,
                        Length::LLL => 2,
                    };
                    assert_eq!(s.prefix, prefix, "field {n}");
                }
            }
        }
        assert_eq!(SPECS[21].kind, Kind::BcdLeft);
        assert_eq!(SPECS[2].kind, Kind::BcdRight);
        assert_eq!(SPECS[34].kind, Kind::BcdVar);
        assert_eq!(SPECS[64].kind, Kind::Undefined);
        // Every shortcut agrees with the field's kind, format and size.
        for s in SPECS.iter() {
            let (kind, z, max) = match s.fast {
                Fast::Generic => continue,
                Fast::N2R => (Kind::BcdRight, false, 2),
                Fast::N3R => (Kind::BcdRight, false, 3),
                Fast::N3L => (Kind::BcdLeft, false, 3),
                Fast::N4R => (Kind::BcdRight, false, 4),
                Fast::N6R => (Kind::BcdRight, false, 6),
                Fast::N12R => (Kind::BcdRight, false, 12),
                Fast::N16R => (Kind::BcdRight, false, 16),
                Fast::T2 => (Kind::TextFixed, false, 2),
                Fast::T3 => (Kind::TextFixed, false, 3),
                Fast::T6 => (Kind::TextFixed, false, 6),
                Fast::T8 => (Kind::TextFixed, false, 8),
                Fast::T12 => (Kind::TextFixed, false, 12),
                Fast::T15 => (Kind::TextFixed, false, 15),
                Fast::B8 => (Kind::BinFixed, false, 8),
            };
            assert_eq!((s.kind, s.z, s.max), (kind, z, max));
        }
        assert_eq!(SPECS[3].fast, Fast::N12R);
        assert_eq!(SPECS[41].fast, Fast::T15);
        for n in [35, 36, 52, 55, 62] {
            assert_eq!(
                field(n).map(|d| d.secrecy),
                Some(Secrecy::Hidden),
                "field {n}"
            );
        }
    }
}
