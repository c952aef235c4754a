//! Body codec: MTI (BCD) + primary bitmap + fields (docs/PROTOCOL.md §1-2). Every encoding decision
//! comes from the field table in `profile` (flattened into `profile::SPECS` for the hot loops).
//!
//! Both directions work on one pre-sized, zero-filled buffer written by index: decoding fills the
//! message's value buffer (sized for the worst case, 2 digits per wire byte, then truncated), encoding
//! fills the output (sized from an upper bound, then truncated), so there is no growth, no per-field
//! `resize` and no second pass. Zero nibbles of fixed numeric fields come from the zero fill.
use super::message::{bit, HDR};
use super::profile::{Codec, Fast, Kind, Spec, CUP_CODEC, PREFIX_ASCII, PREFIX_BINARY};
use super::{Message, Mti};
use crate::crypto::KeyFamily;
use zeroize::Zeroize;

/// The key family of the terminal a message being decoded belongs to, from its field 41 (terminal id, which
/// precedes field 52; empty when the message has none). It decides field 52's length.
pub type FamilyOf<'a> = &'a dyn Fn(&[u8]) -> KeyFamily;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecError {
    pub field: Option<u8>,
    pub kind: CodecErrorKind,
}
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodecErrorKind {
    Truncated,
    TooLong {
        len: usize,
        max: usize,
    },
    NotDigit,
    BadPad,
    UndefinedField,
    TrailingBytes,
    FrameTooLarge(usize),
    BadLength,
    BadMti,
    BadValue,
    /// A byte above 0x7F in an `ans` field that must be ASCII (every one but 63).
    NotAscii,
}

impl CodecError {
    #[inline]
    pub fn new(field: Option<u8>, kind: CodecErrorKind) -> Self {
        CodecError { field, kind }
    }
    #[cold]
    #[inline(never)]
    fn at(field: u8, kind: CodecErrorKind) -> Self {
        CodecError {
            field: Some(field),
            kind,
        }
    }
}

impl std::fmt::Display for CodecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.field {
            Some(n) => write!(f, "ISO 8583 field {n}: {:?}", self.kind),
            None => write!(f, "ISO 8583 message: {:?}", self.kind),
        }
    }
}
impl std::error::Error for CodecError {}

/// BCD byte -> its value 0..=99, or `NOT_BCD` when a nibble is above 9.
static BCD_VALUE: [u8; 256] = {
    let mut t = [NOT_BCD; 256];
    let mut i = 0;
    while i < 256 {
        let (h, l) = (i >> 4, i & 0x0F);
        if h <= 9 && l <= 9 {
            t[i] = (h * 10 + l) as u8;
        }
        i += 1;
    }
    t
};
const NOT_BCD: u8 = 0xFF;

/// 0..=99 -> its BCD byte.
static TO_BCD: [u8; 100] = {
    let mut t = [0u8; 100];
    let mut i = 0;
    while i < 100 {
        t[i] = ((i / 10) << 4 | (i % 10)) as u8;
        i += 1;
    }
    t
};

/// Flag bit set in both bytes of an `UNPACK_*` entry whose nibble is invalid (ASCII never has it).
const BAD_CHAR: u16 = 0x8080;

/// Packed byte -> its two characters (high nibble first, little-endian u16). `z` maps every nibble
/// to its upper-case hex character (D is the track separator; A-F occur in encrypted tracks,
/// docs/PROTOCOL.md §7); for `n` an invalid nibble gives 0xFF, so OR-ing the entries and testing
/// `BAD_CHAR` finds it.
const fn pair_table(z: bool) -> [u16; 256] {
    const fn ch(nib: usize, z: bool) -> u16 {
        if nib <= 9 {
            (b'0' as usize + nib) as u16
        } else if z {
            (b'A' as usize + nib - 10) as u16
        } else {
            0xFF
        }
    }
    let mut t = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = ch(i >> 4, z) | ch(i & 0x0F, z) << 8;
        i += 1;
    }
    t
}
static UNPACK_N: [u16; 256] = pair_table(false);
static UNPACK_Z: [u16; 256] = pair_table(true);

/// ASCII character -> nibble for `z` fields: digits, upper-case `A`-`F` (encrypted tracks), and
/// 'D' / '=' for the separator D; anything else 0xF0.
static PACK_Z: [u8; 256] = {
    let mut t = [0xF0u8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t[b'=' as usize] = 0xD;
    t
};

/// Encode MTI + bitmap + fields (the built-in CUP profile).
pub fn encode_body(msg: &Message) -> Result<Vec<u8>, CodecError> {
    encode_body_with(&CUP_CODEC, msg)
}

/// Encode MTI + bitmap + fields with a profile's codec.
pub fn encode_body_with(codec: &Codec, msg: &Message) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(max_body_len(codec, msg));
    encode_body_into(codec, msg, &mut out, false)?;
    Ok(out)
}

/// An upper bound of the encoded body (MAC placeholder included): packing never makes a value
/// longer except in fixed fields, whose wire sizes `fixed_wire_total` covers, hex content (at most
/// `value_factor` wire bytes per value byte), and each of the (at most 64) fields adds at most
/// `max_prefix` prefix bytes. `buf` holds the values after its header.
#[inline]
pub(super) fn max_body_len(codec: &Codec, msg: &Message) -> usize {
    codec.head_len()
        + codec.fixed_wire_total
        + codec.max_prefix * 64
        + codec.value_factor * msg.buf.len().saturating_sub(HDR)
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Append the encoded body to `out`. With `mac_placeholder`, field 64 is sent as 8 zero bytes
/// whatever the message holds (the caller computes the MAC and overwrites it).
pub(super) fn encode_body_into(
    codec: &Codec,
    msg: &Message,
    out: &mut Vec<u8>,
    mac_placeholder: bool,
) -> Result<(), CodecError> {
    if let Some(n) = msg.out_of_range() {
        return Err(CodecError::at(n, CodecErrorKind::UndefinedField));
    }
    let mti = msg.mti.0 as usize;
    if mti > 9999 {
        return Err(CodecError::new(None, CodecErrorKind::BadMti));
    }
    let base = out.len();
    out.resize(base + max_body_len(codec, msg), 0);
    let o = &mut out[base..];
    let mut bits = msg.present;
    let mut sent = bits;
    if mac_placeholder {
        bits &= !bit(64);
        sent = bits | bit(64);
    }
    let head = if codec.ascii_mti || codec.hex_bitmap {
        encode_head_alt(codec, mti, sent, o)
    } else {
        o[0] = TO_BCD[mti / 100];
        o[1] = TO_BCD[mti % 100];
        o[2..10].copy_from_slice(&sent.to_be_bytes());
        10
    };
    match encode_fields(&codec.specs, codec.pin_sm, msg, bits, o, head) {
        Ok(mut w) => {
            if mac_placeholder {
                // Already zero.
                w += 8;
            }
            out.truncate(base + w);
            Ok(())
        }
        Err(e) => {
            // Do not hand back half an encoding (it may hold a packed PAN or track).
            out[base..].zeroize();
            out.truncate(base);
            Err(e)
        }
    }
}

/// MTI and bitmap in a profile's ASCII / hex forms; returns their length.
#[cold]
fn encode_head_alt(codec: &Codec, mti: usize, bits: u64, o: &mut [u8]) -> usize {
    let mut w = 0;
    if codec.ascii_mti {
        o[..4].copy_from_slice(format!("{mti:04}").as_bytes());
        w = 4;
    } else {
        o[0] = TO_BCD[mti / 100];
        o[1] = TO_BCD[mti % 100];
        w += 2;
    }
    if codec.hex_bitmap {
        for (i, b) in bits.to_be_bytes().iter().enumerate() {
            o[w + 2 * i] = HEX_UPPER[(b >> 4) as usize];
            o[w + 2 * i + 1] = HEX_UPPER[(b & 0x0F) as usize];
        }
        w + 16
    } else {
        o[w..w + 8].copy_from_slice(&bits.to_be_bytes());
        w + 8
    }
}

/// Encode the fields in `bits` after MTI and bitmap (`o[..head]`); returns the bytes used.
#[inline(always)]
fn encode_fields(
    specs: &[Spec; 65],
    pin_sm: Spec,
    msg: &Message,
    mut bits: u64,
    o: &mut [u8],
    head: usize,
) -> Result<usize, CodecError> {
    let mut w = head;
    let mut s = HDR;
    // The end offsets (absent only when no field is present, and then unused).
    let ends: &[u8; HDR] = match msg.buf.get(..HDR).map(<&[u8; HDR]>::try_from) {
        Some(Ok(h)) => h,
        _ => &[0; HDR],
    };
    while bits != 0 {
        let k = bits.leading_zeros() as usize;
        bits ^= (1u64 << 63) >> k;
        // Values are stored in field order, back to back.
        let i = 4 * (k + 1);
        let e = u32::from_le_bytes([ends[i], ends[i + 1], ends[i + 2], ends[i + 3]]) as usize;
        let value = &msg.buf[s..e];
        s = e;
        // Field 52 is the table's length in the TDES family, twice it in the SM family: the value says
        // which (docs/PROTOCOL.md §11).
        let spec = if k == 51 && value.len() == pin_sm.max as usize {
            pin_sm
        } else {
            specs[k]
        };
        w = encode_field(k as u8 + 1, spec, value, o, w)?;
    }
    Ok(w)
}

/// Write field `n` at `o[w..]` (zero-filled, large enough); returns the new write position.
#[inline(always)]
fn encode_field(
    n: u8,
    spec: Spec,
    value: &[u8],
    o: &mut [u8],
    mut w: usize,
) -> Result<usize, CodecError> {
    let len = value.len();
    let max = spec.max as usize;
    // Full-length values of the fixed sizes the profile uses: straight-line code, no loops.
    let fast = match spec.fast {
        Fast::N2R if len == 2 => pack_fixed_n::<2, 1>(value, &mut o[w..], true),
        Fast::N3R if len == 3 => pack_fixed_n::<3, 2>(value, &mut o[w..], true),
        Fast::N3L if len == 3 => pack_fixed_n::<3, 2>(value, &mut o[w..], false),
        Fast::N4R if len == 4 => pack_fixed_n::<4, 2>(value, &mut o[w..], true),
        Fast::N6R if len == 6 => pack_fixed_n::<6, 3>(value, &mut o[w..], true),
        Fast::N12R if len == 12 => pack_fixed_n::<12, 6>(value, &mut o[w..], true),
        Fast::N16R if len == 16 => pack_fixed_n::<16, 8>(value, &mut o[w..], true),
        Fast::T2 if len == 2 => copy_text::<2>(n, spec, value, &mut o[w..])?,
        Fast::T3 if len == 3 => copy_text::<3>(n, spec, value, &mut o[w..])?,
        Fast::T6 if len == 6 => copy_text::<6>(n, spec, value, &mut o[w..])?,
        Fast::T8 if len == 8 => copy_text::<8>(n, spec, value, &mut o[w..])?,
        Fast::T12 if len == 12 => copy_text::<12>(n, spec, value, &mut o[w..])?,
        Fast::T15 if len == 15 => copy_text::<15>(n, spec, value, &mut o[w..])?,
        Fast::B8 if len == 8 => copy_fixed::<8>(value, &mut o[w..]),
        _ => (0, false),
    };
    if fast.0 != 0 {
        if fast.1 {
            return Err(CodecError::at(n, CodecErrorKind::NotDigit));
        }
        return Ok(w + fast.0);
    }
    if spec.kind == Kind::Undefined {
        return Err(CodecError::at(n, CodecErrorKind::UndefinedField));
    }
    if len > max {
        return Err(CodecError::at(n, CodecErrorKind::TooLong { len, max }));
    }
    if spec.alt {
        return encode_alt(n, spec, value, o, w);
    }
    let bad = match spec.kind {
        Kind::Undefined => return Err(CodecError::at(n, CodecErrorKind::UndefinedField)),
        Kind::BcdRight => {
            // Right-aligned: zero nibbles (the zero fill) in front, the digits end the field.
            let nbytes = max.div_ceil(2);
            let lead = 2 * nbytes - len;
            let bad = pack(
                &mut o[w + lead / 2..w + nbytes],
                lead % 2 == 1,
                value,
                spec.z,
            );
            w += nbytes;
            bad
        }
        Kind::BcdLeft => {
            // Left-aligned fixed (field 22): short values get leading zeros, the pad nibble is last.
            let nbytes = max.div_ceil(2);
            let lead = max - len;
            let bad = pack(
                &mut o[w + lead / 2..w + nbytes],
                lead % 2 == 1,
                value,
                spec.z,
            );
            w += nbytes;
            bad
        }
        Kind::BcdVar => {
            w = write_prefix(spec.prefix, len, o, w);
            let nbytes = len.div_ceil(2);
            let bad = pack(&mut o[w..w + nbytes], false, value, spec.z);
            w += nbytes;
            bad
        }
        Kind::TextFixed => {
            check_text(n, spec, value)?;
            o[w..w + len].copy_from_slice(value);
            o[w + len..w + max].fill(b' ');
            return Ok(w + max);
        }
        Kind::TextVar => {
            check_text(n, spec, value)?;
            w = write_prefix(spec.prefix, len, o, w);
            o[w..w + len].copy_from_slice(value);
            return Ok(w + len);
        }
        Kind::BinFixed => {
            if len != max {
                return Err(CodecError::at(n, CodecErrorKind::BadLength));
            }
            o[w..w + len].copy_from_slice(value);
            return Ok(w + len);
        }
        Kind::BinVar => {
            w = write_prefix(spec.prefix, len, o, w);
            o[w..w + len].copy_from_slice(value);
            return Ok(w + len);
        }
    };
    if bad {
        return Err(CodecError::at(n, CodecErrorKind::NotDigit));
    }
    Ok(w)
}

/// A full-length fixed n field of `LEN` digits into `NB` bytes (right- or left-aligned pad nibble).
/// Returns (bytes written, whether a character was not a digit).
#[inline(always)]
fn pack_fixed_n<const LEN: usize, const NB: usize>(
    value: &[u8],
    o: &mut [u8],
    right: bool,
) -> (usize, bool) {
    const { assert!(NB == LEN.div_ceil(2)) };
    let v: &[u8; LEN] = match value.try_into() {
        Ok(v) => v,
        Err(_) => return (0, true),
    };
    let d: &mut [u8; NB] = match (&mut o[..NB]).try_into() {
        Ok(d) => d,
        Err(_) => return (0, true),
    };
    let nib = |c: u8| PACK_N[c as usize];
    let mut acc = 0u8;
    if LEN.is_multiple_of(2) {
        // Eight digits per step while they last, then pairs.
        let mut bad = 0u64;
        for c in 0..LEN / 8 {
            let (p, b) = pack8(load8(&v[8 * c..8 * c + 8]), false);
            bad |= b;
            d[4 * c..4 * c + 4].copy_from_slice(&p.to_le_bytes());
        }
        if bad != 0 {
            return (NB, true);
        }
        for i in LEN / 8 * 4..NB {
            let (h, l) = (nib(v[2 * i]), nib(v[2 * i + 1]));
            acc |= h | l;
            d[i] = h << 4 | (l & 0x0F);
        }
    } else if right {
        let l = nib(v[0]);
        acc |= l;
        d[0] = l & 0x0F;
        for i in 1..NB {
            let (h, l) = (nib(v[2 * i - 1]), nib(v[2 * i]));
            acc |= h | l;
            d[i] = h << 4 | (l & 0x0F);
        }
    } else {
        for i in 0..NB - 1 {
            let (h, l) = (nib(v[2 * i]), nib(v[2 * i + 1]));
            acc |= h | l;
            d[i] = h << 4 | (l & 0x0F);
        }
        let h = nib(v[LEN - 1]);
        acc |= h;
        d[NB - 1] = h << 4;
    }
    (NB, acc & 0xF0 != 0)
}

/// A full-length fixed text field of `LEN` bytes (checked when `an`). Returns (bytes written, false).
#[inline(always)]
fn copy_text<const LEN: usize>(
    n: u8,
    spec: Spec,
    value: &[u8],
    o: &mut [u8],
) -> Result<(usize, bool), CodecError> {
    check_text(n, spec, value)?;
    Ok(copy_fixed::<LEN>(value, o))
}

/// A full-length fixed text or binary field of `LEN` bytes. Returns (bytes written, false).
#[inline(always)]
fn copy_fixed<const LEN: usize>(value: &[u8], o: &mut [u8]) -> (usize, bool) {
    let v: &[u8; LEN] = match value.try_into() {
        Ok(v) => v,
        Err(_) => return (0, true),
    };
    o[..LEN].copy_from_slice(v);
    (LEN, false)
}

/// A fixed n field of `LEN` digits from the `NB` packed bytes at `data[p..]` into `dst`: checks
/// the pad nibble (first when `right`, else last, for odd `LEN`) and the digits. Returns the read
/// position after the field.
#[inline(always)]
fn unpack_fixed_n<const LEN: usize, const NB: usize>(
    n: u8,
    data: &[u8],
    r: &mut usize,
    dst: &mut [u8],
    right: bool,
) -> Result<usize, CodecError> {
    const { assert!(NB == LEN.div_ceil(2)) };
    let p = *r;
    let s: &[u8; NB] = match data.get(p..p + NB).map(<&[u8; NB]>::try_from) {
        Some(Ok(s)) => s,
        _ => return Err(truncated(n)),
    };
    let d: &mut [u8; LEN] = match dst.get_mut(..LEN).map(<&mut [u8; LEN]>::try_from) {
        Some(Ok(d)) => d,
        _ => return Err(truncated(n)),
    };
    let pair = |b: u8| UNPACK_N[b as usize];
    let mut acc = 0u16;
    if LEN.is_multiple_of(2) {
        for i in 0..NB {
            let v = pair(s[i]);
            acc |= v;
            d[2 * i..2 * i + 2].copy_from_slice(&v.to_le_bytes());
        }
    } else if right {
        if s[0] >> 4 != 0 {
            return Err(CodecError::at(n, CodecErrorKind::BadPad));
        }
        let v = pair(s[0]) >> 8;
        acc |= v;
        d[0] = v as u8;
        for i in 1..NB {
            let v = pair(s[i]);
            acc |= v;
            d[2 * i - 1..2 * i + 1].copy_from_slice(&v.to_le_bytes());
        }
    } else {
        if s[NB - 1] & 0x0F != 0 {
            return Err(CodecError::at(n, CodecErrorKind::BadPad));
        }
        for i in 0..NB - 1 {
            let v = pair(s[i]);
            acc |= v;
            d[2 * i..2 * i + 2].copy_from_slice(&v.to_le_bytes());
        }
        let v = pair(s[NB - 1]) & 0x00FF;
        acc |= v;
        d[LEN - 1] = v as u8;
    }
    if acc & BAD_CHAR != 0 {
        return Err(CodecError::at(n, CodecErrorKind::NotDigit));
    }
    *r = p + NB;
    Ok(LEN)
}

/// A fixed text or binary field of `LEN` bytes at `data[p..]` into `dst` (checked when `an`).
/// Advances `*r` past the field and returns the value length.
#[inline(always)]
fn take_fixed<const LEN: usize>(
    n: u8,
    spec: Spec,
    data: &[u8],
    r: &mut usize,
    dst: &mut [u8],
) -> Result<usize, CodecError> {
    let p = *r;
    let s: &[u8; LEN] = match data.get(p..p + LEN).map(<&[u8; LEN]>::try_from) {
        Some(Ok(s)) => s,
        _ => return Err(truncated(n)),
    };
    check_text(n, spec, s)?;
    match dst.get_mut(..LEN) {
        Some(d) => d.copy_from_slice(s),
        None => return Err(truncated(n)),
    }
    *r = p + LEN;
    Ok(LEN)
}

/// Pack digits into `dst` (zero-filled), starting at the low nibble of `dst[0]` when `odd_start`.
/// Returns whether a character was not a digit (or, for `z`, not a digit / 'D' / '=').
#[inline(always)]
fn pack(dst: &mut [u8], odd_start: bool, value: &[u8], z: bool) -> bool {
    pack_bcd(dst, odd_start, value, z)
}

/// The `LL` / `LLL` length prefix (`len` <= 999, checked against the field maximum first).
#[inline(always)]
fn write_prefix(prefix: u8, len: usize, o: &mut [u8], w: usize) -> usize {
    if prefix == 1 {
        o[w] = TO_BCD[len % 100];
        w + 1
    } else {
        o[w] = TO_BCD[len / 100 % 100];
        o[w + 1] = TO_BCD[len % 100];
        w + 2
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;

#[inline(always)]
fn load8(c: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(c);
    u64::from_le_bytes(a)
}

#[inline(always)]
fn load4(c: &[u8]) -> u64 {
    let mut a = [0u8; 4];
    a.copy_from_slice(c);
    u64::from(u32::from_le_bytes(a))
}

/// 0x80 in every byte of `x` that is zero, exactly (no carries cross bytes).
#[inline(always)]
fn zero_bytes(x: u64) -> u64 {
    let lo = 0x7F * ONES;
    !(((x & lo).wrapping_add(lo)) | x | lo)
}

/// Eight nibble values (one per byte, each <= 0x0F, little-endian) -> four packed bytes.
#[inline(always)]
fn gather_nibbles(d: u64) -> u32 {
    // Byte 2k of t = d[2k] << 4 | d[2k+1]; then gather the even bytes.
    let mut t = ((d << 4) | (d >> 8)) & 0x00FF_00FF_00FF_00FF;
    t = (t | (t >> 8)) & 0x0000_FFFF_0000_FFFF;
    t = (t | (t >> 16)) & 0xFFFF_FFFF;
    t as u32
}

/// Eight characters (little-endian) -> four packed bytes and a word that is nonzero iff one of
/// them is not a digit (for `z`: not a digit, `A`-`F` or `=`).
#[inline(always)]
fn pack8(v: u64, z: bool) -> (u32, u64) {
    if z {
        return pack8_hex(v);
    }
    let d = v.wrapping_sub(0x30 * ONES);
    // A byte is below 0x80, did not borrow (high nibble of d clear) and d + 6 < 0x10. Borrows and
    // carries only leave a byte that is itself invalid.
    let hi = (v & (0x80 * ONES)) | (d & (0xF0 * ONES));
    let ge10 = d.wrapping_add(0x06 * ONES) & (0x10 * ONES);
    (gather_nibbles(d), hi | ge10)
}

/// `pack8` for the `z` alphabet: '0'-'9', 'A'-'F', and '=' for the separator D.
#[inline(always)]
fn pack8_hex(v: u64) -> (u32, u64) {
    // '=' (0x3D) becomes 'D' (0x44).
    let v = v ^ ((zero_bytes(v ^ (0x3D * ONES)) >> 7) * 0x79);
    let d = v.wrapping_sub(0x30 * ONES);
    // Valid bytes have d in 0x00..=0x09 (digits) or 0x11..=0x16 ('A'-'F'): below 0x20 without a
    // borrow, and a low nibble that is <= 9 for digits, 1..=6 for letters. Borrows only leave a
    // byte that is itself invalid.
    let hi = (v & (0x80 * ONES)) | (d & (0xE0 * ONES));
    let letter = (d >> 4) & ONES;
    let low = d & (0x0F * ONES);
    let over = (low + 0x06 * ONES + letter * 3) & (0x10 * ONES);
    let letter_zero = zero_bytes(low) & (letter << 7);
    (gather_nibbles(low + letter * 9), hi | over | letter_zero)
}

/// Four packed bytes (low 32 bits, little-endian) -> eight characters and a word that is nonzero
/// iff a nibble is above 9 (for `z` every nibble is valid: A-F become 'A'-'F').
#[inline(always)]
fn unpack4(t: u64, z: bool) -> (u64, u64) {
    let t = (t | (t << 16)) & 0x0000_FFFF_0000_FFFF;
    let t = (t | (t << 8)) & 0x00FF_00FF_00FF_00FF;
    // Byte 2k = high nibble of packed byte k, byte 2k+1 = its low nibble.
    let d = ((t >> 4) & 0x000F_000F_000F_000F) | ((t & 0x000F_000F_000F_000F) << 8);
    let ge10 = d.wrapping_add(0x06 * ONES) & (0x10 * ONES);
    if z {
        (d + 0x30 * ONES + (ge10 >> 4) * 7, 0)
    } else {
        (d + 0x30 * ONES, ge10)
    }
}

/// Character -> nibble for `n` fields; anything else has a high nibble.
static PACK_N: [u8; 256] = {
    let mut t = [0xF0u8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    t
};

/// Write `value` as nibbles into `dst` (zero-filled, `ceil((odd_start + len) / 2)` bytes), starting
/// at the low nibble of `dst[0]` when `odd_start`; eight digits per step, then pairs by table.
/// Returns whether any character was invalid.
#[inline(always)]
fn pack_bcd(dst: &mut [u8], odd_start: bool, value: &[u8], z: bool) -> bool {
    if z {
        pack_bcd_of::<true>(dst, odd_start, value)
    } else {
        pack_bcd_of::<false>(dst, odd_start, value)
    }
}

#[inline(always)]
fn pack_bcd_of<const Z: bool>(dst: &mut [u8], odd_start: bool, value: &[u8]) -> bool {
    let table = if Z { &PACK_Z } else { &PACK_N };
    let mut acc = 0u8;
    let mut bad = 0u64;
    let (dst, value) = match (odd_start, value.split_first()) {
        (true, Some((&c, r))) => {
            let v = table[c as usize];
            acc |= v;
            dst[0] = v & 0x0F;
            (&mut dst[1..], r)
        }
        _ => (dst, value),
    };
    let swar = value.len() / 8 * 8;
    for (c, o) in value[..swar].chunks_exact(8).zip(dst.chunks_exact_mut(4)) {
        let (p, b) = pack8(load8(c), Z);
        bad |= b;
        o.copy_from_slice(&p.to_le_bytes());
    }
    let rest = &value[swar..];
    let dst = &mut dst[swar / 2..];
    let mut pairs = rest.chunks_exact(2);
    for (d, p) in dst.iter_mut().zip(&mut pairs) {
        let (h, l) = (table[p[0] as usize], table[p[1] as usize]);
        acc |= h | l;
        *d = h << 4 | (l & 0x0F);
    }
    if let [c] = pairs.remainder() {
        let h = table[*c as usize];
        acc |= h;
        dst[rest.len() / 2] = h << 4;
    }
    bad != 0 || acc & 0xF0 != 0
}

/// Expand `dst.len()` digits starting at nibble `skip` (0 or 1) of `src` (which holds them all):
/// eight digits per step, then pairs through the `UNPACK_*` table. Returns whether any nibble
/// was invalid.
#[inline(always)]
fn unpack_bcd(dst: &mut [u8], src: &[u8], skip: usize, z: bool) -> bool {
    if z {
        unpack_bcd_of::<true>(dst, src, skip)
    } else {
        unpack_bcd_of::<false>(dst, src, skip)
    }
}

#[inline(always)]
fn unpack_bcd_of<const Z: bool>(dst: &mut [u8], src: &[u8], skip: usize) -> bool {
    let table = if Z { &UNPACK_Z } else { &UNPACK_N };
    let mut acc = 0u16;
    let mut bad = 0u64;
    let (dst, src) = match (skip, dst.split_first_mut(), src.split_first()) {
        (1, Some((d, dr)), Some((&b, sr))) => {
            let v = table[b as usize] >> 8;
            acc |= v;
            *d = v as u8;
            (dr, sr)
        }
        _ => (dst, src),
    };
    let k = dst.len() / 8;
    let mut outs = dst.chunks_exact_mut(8);
    // `dst.len() <= 2 * src.len()`, so `src` never runs out before `outs`.
    for (o, c) in (&mut outs).zip(src.chunks_exact(4)) {
        let (chars, b) = unpack4(load4(c), Z);
        bad |= b;
        o.copy_from_slice(&chars.to_le_bytes());
    }
    let dst = outs.into_remainder();
    let src = src.get(4 * k..).unwrap_or(&[]);
    let half = dst.len() / 2;
    let mut pairs = dst.chunks_exact_mut(2);
    for (d, &b) in (&mut pairs).zip(src) {
        let v = table[b as usize];
        acc |= v;
        d.copy_from_slice(&v.to_le_bytes());
    }
    if let ([d], Some(&b)) = (pairs.into_remainder(), src.get(half)) {
        let v = table[b as usize] & 0x00FF;
        acc |= v;
        *d = v as u8;
    }
    bad != 0 || acc & BAD_CHAR != 0
}

/// `pack_bcd` for n fields.
#[cfg(test)]
fn pack_n(dst: &mut [u8], odd_start: bool, value: &[u8]) -> bool {
    pack_bcd(dst, odd_start, value, false)
}

/// `unpack_bcd` for n fields.
#[cfg(test)]
fn unpack_n(dst: &mut [u8], src: &[u8], skip: usize) -> bool {
    unpack_bcd(dst, src, skip, false)
}

/// Scalar reference for the packers: write `value` as nibbles into `dst`, starting at the low
/// nibble of `dst[0]` when `odd_start`. `nib` maps a character to (nibble, invalid).
#[cfg(test)]
fn pack_digits(
    dst: &mut [u8],
    odd_start: bool,
    value: &[u8],
    nib: impl Fn(u8) -> (u8, bool),
) -> bool {
    let mut bad = false;
    let mut rest = value;
    let mut i = 0;
    if odd_start {
        if let Some((&c, r)) = rest.split_first() {
            let (n, b) = nib(c);
            dst[0] = n;
            bad |= b;
            rest = r;
            i = 1;
        }
    }
    let mut pairs = rest.chunks_exact(2);
    for (o, p) in dst[i..].iter_mut().zip(&mut pairs) {
        let (h, bh) = nib(p[0]);
        let (l, bl) = nib(p[1]);
        *o = h << 4 | l;
        bad |= bh | bl;
        i += 1;
    }
    if let [c] = pairs.remainder() {
        let (h, b) = nib(*c);
        dst[i] = h << 4;
        bad |= b;
    }
    bad
}

/// `an` is printable ASCII (space allowed, field 44 carries spaces). `ans` is ASCII, except field 63
/// (`FieldDef::eight_bit`) where real hosts put GBK text. Text that reaches the flows is therefore
/// ASCII wherever they index it by byte position (n and z fields are ASCII by construction).
#[inline(always)]
fn check_text(n: u8, spec: Spec, value: &[u8]) -> Result<(), CodecError> {
    if spec.an && !printable(value) {
        return Err(CodecError::at(n, CodecErrorKind::BadValue));
    }
    if spec.ascii && !value.is_ascii() {
        return Err(CodecError::at(n, CodecErrorKind::NotAscii));
    }
    Ok(())
}

/// All bytes in 0x20..=0x7E, eight at a time: a byte is bad if it has bit 7 set, borrows when 0x20
/// is subtracted, or carries into bit 7 when 1 is added (0x7F). Borrows and carries only cross
/// into the next byte from a byte that is itself bad, so they cannot hide or invent a verdict.
#[inline]
fn printable(value: &[u8]) -> bool {
    let mut bad = 0u64;
    let mut chunks = value.chunks_exact(8);
    for c in &mut chunks {
        let mut a = [0u8; 8];
        a.copy_from_slice(c);
        let v = u64::from_le_bytes(a);
        bad |= v | v.wrapping_sub(0x20 * ONES) | v.wrapping_add(ONES);
    }
    let mut tail = 0u8;
    for &c in chunks.remainder() {
        tail |= u8::from(!(0x20..=0x7E).contains(&c));
    }
    bad & (0x80 * ONES) == 0 && tail == 0
}

/// Decode MTI + bitmap + fields, strictly: any deviation is an error naming the field (the
/// built-in CUP profile). Field 52, if present, is the TDES family's 8 bytes.
pub fn decode_body(data: &[u8]) -> Result<Message, CodecError> {
    decode_body_with(&CUP_CODEC, data)
}

/// [`decode_body`] with field 52's length taken from the family of the message's terminal.
pub fn decode_body_for(data: &[u8], family_of: FamilyOf<'_>) -> Result<Message, CodecError> {
    let mut msg = Message::new(Mti(0));
    decode_body_into(&CUP_CODEC, data, &mut msg, family_of)?;
    Ok(msg)
}

/// `decode_body` with a profile's codec.
pub fn decode_body_with(codec: &Codec, data: &[u8]) -> Result<Message, CodecError> {
    let mut msg = Message::new(Mti(0));
    decode_body_into(codec, data, &mut msg, &|_| KeyFamily::Tdes)?;
    Ok(msg)
}

/// MTI and bitmap in a profile's ASCII / hex forms: (MTI, bitmap, head length).
#[cold]
fn decode_head_alt(codec: &Codec, data: &[u8]) -> Result<(u16, u64, usize), CodecError> {
    let truncated = || CodecError::new(None, CodecErrorKind::Truncated);
    let (mti, mut r) = if codec.ascii_mti {
        let m = data.get(..4).ok_or_else(truncated)?;
        if !m.iter().all(u8::is_ascii_digit) {
            return Err(CodecError::new(None, CodecErrorKind::BadMti));
        }
        let v = m.iter().fold(0u16, |a, c| a * 10 + u16::from(c - b'0'));
        (v, 4)
    } else {
        let m = data.get(..2).ok_or_else(truncated)?;
        let (hi, lo) = (BCD_VALUE[m[0] as usize], BCD_VALUE[m[1] as usize]);
        if hi == NOT_BCD || lo == NOT_BCD {
            return Err(CodecError::new(None, CodecErrorKind::BadMti));
        }
        (hi as u16 * 100 + lo as u16, 2)
    };
    let bitmap = if codec.hex_bitmap {
        let h = data.get(r..r + 16).ok_or_else(truncated)?;
        let mut v = 0u64;
        for &c in h {
            let d = (c as char)
                .to_digit(16)
                .ok_or_else(|| CodecError::new(None, CodecErrorKind::BadValue))?;
            v = v << 4 | u64::from(d);
        }
        r += 16;
        v
    } else {
        let mut bm = [0u8; 8];
        bm.copy_from_slice(data.get(r..r + 8).ok_or_else(truncated)?);
        r += 8;
        u64::from_be_bytes(bm)
    };
    Ok((mti, bitmap, r))
}

/// `decode_body_with` into a new, empty `msg` (so a frame decodes in place, without moving the
/// message), field 52's length taken from the family of the message's terminal. On an error `msg`
/// holds no field; dropping it zeroizes whatever was decoded.
pub(super) fn decode_body_into(
    codec: &Codec,
    data: &[u8],
    msg: &mut Message,
    family_of: FamilyOf<'_>,
) -> Result<(), CodecError> {
    let (mti, bitmap, head) = if codec.ascii_mti || codec.hex_bitmap {
        decode_head_alt(codec, data)?
    } else {
        let (m0, m1) = match data {
            [a, b, ..] => (*a, *b),
            _ => return Err(CodecError::new(None, CodecErrorKind::Truncated)),
        };
        let (hi, lo) = (BCD_VALUE[m0 as usize], BCD_VALUE[m1 as usize]);
        if hi == NOT_BCD || lo == NOT_BCD {
            return Err(CodecError::new(None, CodecErrorKind::BadMti));
        }
        let mut bm = [0u8; 8];
        match data.get(2..10) {
            Some(b) => bm.copy_from_slice(b),
            None => return Err(CodecError::new(None, CodecErrorKind::Truncated)),
        }
        (hi as u16 * 100 + lo as u16, u64::from_be_bytes(bm), 10)
    };
    // Field values are never larger than their wire form (BCD doubles at most), nor all together
    // larger than every field at its maximum. The buffer is filled by index and cut to the bytes
    // used at the end; until then dropping the message (on an error) zeroizes all of it.
    // + the field-52 length once more: field 52 of the SM family is twice the table's.
    let cap = (2 * (data.len() - head)).min(codec.max_values_total + codec.pin_sm.max as usize / 2);
    msg.mti = Mti(mti);
    msg.present = 0;
    let mut old = std::mem::replace(&mut msg.buf, Vec::with_capacity(HDR + cap));
    old.zeroize();
    msg.buf.resize(HDR + cap, 0);
    let mut r = head;
    let mut w = HDR;
    let mut bits = bitmap;
    let specs = &codec.specs;
    // Where field 41's value sits in `msg.buf` once decoded.
    let mut tid = 0..0;
    while bits != 0 {
        let k = bits.leading_zeros() as usize;
        bits ^= (1u64 << 63) >> k;
        let n = k as u8 + 1;
        let spec = if n == 52 && family_of(&msg.buf[tid.clone()]) == KeyFamily::Sm {
            codec.pin_sm
        } else {
            specs[k]
        };
        let len = decode_field(n, spec, data, &mut r, &mut msg.buf[w..])?;
        if n == 41 {
            tid = w..w + len;
        }
        msg.set_end(k + 1, w + len);
        w += len;
    }
    if r != data.len() {
        return Err(CodecError::new(None, CodecErrorKind::TrailingBytes));
    }
    msg.buf.truncate(w);
    msg.present = bitmap;
    Ok(())
}

#[inline(always)]
fn truncated(n: u8) -> CodecError {
    CodecError::at(n, CodecErrorKind::Truncated)
}

/// Decode field `n` from `data[*r..]` into the front of `dst` (large enough: two bytes per wire
/// byte left); advances `*r` and returns the value length.
#[inline(always)]
fn decode_field(
    n: u8,
    spec: Spec,
    data: &[u8],
    r: &mut usize,
    dst: &mut [u8],
) -> Result<usize, CodecError> {
    // The fixed sizes the profile uses: straight-line code, no loops.
    match spec.fast {
        Fast::Generic => {}
        Fast::N2R => return unpack_fixed_n::<2, 1>(n, data, r, dst, true),
        Fast::N3R => return unpack_fixed_n::<3, 2>(n, data, r, dst, true),
        Fast::N3L => return unpack_fixed_n::<3, 2>(n, data, r, dst, false),
        Fast::N4R => return unpack_fixed_n::<4, 2>(n, data, r, dst, true),
        Fast::N6R => return unpack_fixed_n::<6, 3>(n, data, r, dst, true),
        Fast::N12R => return unpack_fixed_n::<12, 6>(n, data, r, dst, true),
        Fast::N16R => return unpack_fixed_n::<16, 8>(n, data, r, dst, true),
        Fast::T2 => return take_fixed::<2>(n, spec, data, r, dst),
        Fast::T3 => return take_fixed::<3>(n, spec, data, r, dst),
        Fast::T6 => return take_fixed::<6>(n, spec, data, r, dst),
        Fast::T8 | Fast::B8 => return take_fixed::<8>(n, spec, data, r, dst),
        Fast::T12 => return take_fixed::<12>(n, spec, data, r, dst),
        Fast::T15 => return take_fixed::<15>(n, spec, data, r, dst),
    }
    if spec.kind == Kind::Undefined {
        return Err(CodecError::at(n, CodecErrorKind::UndefinedField));
    }
    if spec.alt {
        return decode_alt(n, spec, data, r, dst);
    }
    let max = spec.max as usize;
    let mut p = *r;
    let len = match spec.prefix {
        0 => max,
        1 => {
            let b = *data.get(p).ok_or_else(|| truncated(n))?;
            p += 1;
            let v = BCD_VALUE[b as usize];
            if v == NOT_BCD {
                return Err(CodecError::at(n, CodecErrorKind::BadLength));
            }
            v as usize
        }
        _ => {
            let (a, b) = match data.get(p..p + 2) {
                Some(&[a, b]) => (a, b),
                _ => return Err(truncated(n)),
            };
            p += 2;
            let (a, b) = (BCD_VALUE[a as usize], BCD_VALUE[b as usize]);
            if a == NOT_BCD || b == NOT_BCD {
                return Err(CodecError::at(n, CodecErrorKind::BadLength));
            }
            a as usize * 100 + b as usize
        }
    };
    if len > max {
        return Err(CodecError::at(n, CodecErrorKind::TooLong { len, max }));
    }
    match spec.kind {
        Kind::BcdRight | Kind::BcdLeft | Kind::BcdVar => {
            let nbytes = len.div_ceil(2);
            let src = data.get(p..p + nbytes).ok_or_else(|| truncated(n))?;
            *r = p + nbytes;
            let odd = len % 2 == 1;
            // Which nibble is the pad: the first for fixed right-aligned, else the last.
            let pad_first = odd && spec.kind == Kind::BcdRight;
            if odd {
                let pad = if pad_first {
                    src[0] >> 4
                } else {
                    src[nbytes - 1] & 0x0F
                };
                if pad != 0 {
                    return Err(CodecError::at(n, CodecErrorKind::BadPad));
                }
            }
            // Digit k of the value is nibble k + skip of the packed bytes.
            let skip = usize::from(pad_first);
            let dst = &mut dst[..len];
            let bad = unpack_bcd(dst, src, skip, spec.z);
            if bad {
                return Err(CodecError::at(n, CodecErrorKind::NotDigit));
            }
        }
        _ => {
            let src = data.get(p..p + len).ok_or_else(|| truncated(n))?;
            *r = p + len;
            if matches!(spec.kind, Kind::TextFixed | Kind::TextVar) {
                check_text(n, spec, src)?;
            }
            dst[..len].copy_from_slice(src);
        }
    }
    Ok(len)
}

/// Bytes of a length prefix: LL is 1 byte in BCD or binary, 2 in ASCII; LLL 2 or 3.
#[inline]
fn prefix_bytes(spec: Spec) -> usize {
    match (spec.prefix, spec.prefix_enc) {
        (0, _) => 0,
        (1, PREFIX_ASCII) => 2,
        (1, _) => 1,
        (_, PREFIX_ASCII) => 3,
        _ => 2,
    }
}

/// Write the length prefix of `count` (digits, characters or bytes) in the profile's encoding.
fn write_prefix_alt(spec: Spec, count: usize, o: &mut [u8], w: usize) -> usize {
    let nb = prefix_bytes(spec);
    match spec.prefix_enc {
        PREFIX_ASCII => {
            let mut c = count;
            for i in (0..nb).rev() {
                o[w + i] = b'0' + (c % 10) as u8;
                c /= 10;
            }
        }
        PREFIX_BINARY => {
            let be = (count as u16).to_be_bytes();
            o[w..w + nb].copy_from_slice(&be[2 - nb..]);
        }
        _ => {
            return write_prefix(spec.prefix, count, o, w);
        }
    }
    w + nb
}

/// Read a length prefix in the profile's encoding.
fn read_prefix_alt(n: u8, spec: Spec, data: &[u8], p: usize) -> Result<usize, CodecError> {
    let nb = prefix_bytes(spec);
    let b = data.get(p..p + nb).ok_or_else(|| truncated(n))?;
    let bad = || CodecError::at(n, CodecErrorKind::BadLength);
    Ok(match spec.prefix_enc {
        PREFIX_ASCII => {
            if !b.iter().all(u8::is_ascii_digit) {
                return Err(bad());
            }
            b.iter().fold(0, |a, c| a * 10 + usize::from(c - b'0'))
        }
        PREFIX_BINARY => b.iter().fold(0, |a, &c| a << 8 | usize::from(c)),
        _ => {
            let mut v = 0;
            for &c in b {
                let d = BCD_VALUE[c as usize];
                if d == NOT_BCD {
                    return Err(bad());
                }
                v = v * 100 + d as usize;
            }
            v
        }
    })
}

/// Whether `c` is a character of an `n` (digits) or `z` (digits, `A`-`F`, `=`) value.
#[inline]
fn digit_ok(c: u8, z: bool) -> bool {
    c.is_ascii_digit() || (z && (matches!(c, b'A'..=b'F') || c == b'='))
}

/// `encode_field` for a field with profile-chosen encodings (ASCII digits or prefixes, binary
/// prefixes, hex content, the `F` pad nibble); `value.len() <= max` is checked.
#[cold]
#[inline(never)]
fn encode_alt(
    n: u8,
    spec: Spec,
    value: &[u8],
    o: &mut [u8],
    mut w: usize,
) -> Result<usize, CodecError> {
    let len = value.len();
    let max = spec.max as usize;
    let fixed = spec.prefix == 0;
    match spec.kind {
        Kind::BcdRight | Kind::BcdLeft | Kind::BcdVar => {
            if !value.iter().all(|&c| digit_ok(c, spec.z)) {
                return Err(CodecError::at(n, CodecErrorKind::NotDigit));
            }
            if spec.ascii_digits {
                if !fixed {
                    w = write_prefix_alt(spec, len, o, w);
                }
                // Fixed fields are zero-filled to their size: in front (right-aligned) or after.
                let lead = if fixed && spec.kind == Kind::BcdRight {
                    max - len
                } else {
                    0
                };
                let size = if fixed { max } else { len };
                o[w..w + size].fill(b'0');
                for (i, &c) in value.iter().enumerate() {
                    // The track separator is `=` on an ASCII wire.
                    o[w + lead + i] = if spec.z && c == b'D' { b'=' } else { c };
                }
                return Ok(w + size);
            }
            if !fixed {
                w = write_prefix_alt(spec, len, o, w);
            }
            let digits = if fixed { max } else { len };
            let nbytes = digits.div_ceil(2);
            // Where the value starts, in nibbles: right-aligned fixed fields end with it; left-aligned
            // and variable ones start with it (leading zero digits before a short left-aligned value).
            let lead = match spec.kind {
                Kind::BcdRight => 2 * nbytes - len,
                Kind::BcdLeft => max - len,
                _ => 0,
            };
            if pack(
                &mut o[w + lead / 2..w + nbytes],
                lead % 2 == 1,
                value,
                spec.z,
            ) {
                return Err(CodecError::at(n, CodecErrorKind::NotDigit));
            }
            if digits % 2 == 1 {
                if spec.kind == Kind::BcdRight {
                    o[w] |= spec.pad << 4;
                } else {
                    o[w + nbytes - 1] |= spec.pad;
                }
            }
            Ok(w + nbytes)
        }
        Kind::TextFixed | Kind::TextVar => {
            check_text(n, spec, value)?;
            if fixed {
                o[w..w + len].copy_from_slice(value);
                o[w + len..w + max].fill(b' ');
                return Ok(w + max);
            }
            w = write_prefix_alt(spec, len, o, w);
            o[w..w + len].copy_from_slice(value);
            Ok(w + len)
        }
        Kind::BinFixed | Kind::BinVar => {
            if fixed && len != max {
                return Err(CodecError::at(n, CodecErrorKind::BadLength));
            }
            if spec.hex {
                if !fixed {
                    w = write_prefix_alt(spec, 2 * len, o, w);
                }
                for (i, b) in value.iter().enumerate() {
                    o[w + 2 * i] = HEX_UPPER[(b >> 4) as usize];
                    o[w + 2 * i + 1] = HEX_UPPER[(b & 0x0F) as usize];
                }
                return Ok(w + 2 * len);
            }
            if !fixed {
                w = write_prefix_alt(spec, len, o, w);
            }
            o[w..w + len].copy_from_slice(value);
            Ok(w + len)
        }
        Kind::Undefined => Err(CodecError::at(n, CodecErrorKind::UndefinedField)),
    }
}

/// `decode_field` for a field with profile-chosen encodings (the inverse of `encode_alt`).
#[cold]
#[inline(never)]
fn decode_alt(
    n: u8,
    spec: Spec,
    data: &[u8],
    r: &mut usize,
    dst: &mut [u8],
) -> Result<usize, CodecError> {
    let max = spec.max as usize;
    let fixed = spec.prefix == 0;
    let mut p = *r;
    let declared = if fixed {
        None
    } else {
        let v = read_prefix_alt(n, spec, data, p)?;
        p += prefix_bytes(spec);
        Some(v)
    };
    let too_long = |len: usize| CodecError::at(n, CodecErrorKind::TooLong { len, max });
    let len = match spec.kind {
        Kind::BcdRight | Kind::BcdLeft | Kind::BcdVar => {
            let len = declared.unwrap_or(max);
            if len > max {
                return Err(too_long(len));
            }
            if spec.ascii_digits {
                let src = data.get(p..p + len).ok_or_else(|| truncated(n))?;
                for (d, &c) in dst[..len].iter_mut().zip(src) {
                    if !digit_ok(c, spec.z) {
                        return Err(CodecError::at(n, CodecErrorKind::NotDigit));
                    }
                    *d = if c == b'=' { b'D' } else { c };
                }
                *r = p + len;
                return Ok(len);
            }
            let nbytes = len.div_ceil(2);
            let src = data.get(p..p + nbytes).ok_or_else(|| truncated(n))?;
            let pad_first = len % 2 == 1 && spec.kind == Kind::BcdRight;
            if len % 2 == 1 {
                let pad = if pad_first {
                    src[0] >> 4
                } else {
                    src[nbytes - 1] & 0x0F
                };
                if pad != spec.pad {
                    return Err(CodecError::at(n, CodecErrorKind::BadPad));
                }
            }
            // Unpack from a copy whose pad nibble is zero (the unpackers read it as a digit slot).
            let mut tmp = [0u8; 512];
            let t = tmp.get_mut(..nbytes).ok_or_else(|| too_long(len))?;
            t.copy_from_slice(src);
            if len % 2 == 1 {
                if pad_first {
                    t[0] &= 0x0F;
                } else {
                    t[nbytes - 1] &= 0xF0;
                }
            }
            let bad = unpack_bcd(&mut dst[..len], t, usize::from(pad_first), spec.z);
            tmp.zeroize();
            if bad {
                return Err(CodecError::at(n, CodecErrorKind::NotDigit));
            }
            p += nbytes;
            len
        }
        Kind::TextFixed | Kind::TextVar => {
            let len = declared.unwrap_or(max);
            if len > max {
                return Err(too_long(len));
            }
            let src = data.get(p..p + len).ok_or_else(|| truncated(n))?;
            check_text(n, spec, src)?;
            dst[..len].copy_from_slice(src);
            p += len;
            len
        }
        Kind::BinFixed | Kind::BinVar => {
            if spec.hex {
                // The prefix counts hex characters.
                let chars = declared.unwrap_or(2 * max);
                if chars % 2 == 1 {
                    return Err(CodecError::at(n, CodecErrorKind::BadLength));
                }
                let len = chars / 2;
                if len > max {
                    return Err(too_long(len));
                }
                let src = data.get(p..p + chars).ok_or_else(|| truncated(n))?;
                for (d, pair) in dst[..len].iter_mut().zip(src.chunks_exact(2)) {
                    let hexval = |c: u8| match c {
                        b'0'..=b'9' => Some(c - b'0'),
                        b'A'..=b'F' => Some(c - b'A' + 10),
                        b'a'..=b'f' => Some(c - b'a' + 10),
                        _ => None,
                    };
                    match (hexval(pair[0]), hexval(pair[1])) {
                        (Some(h), Some(l)) => *d = h << 4 | l,
                        _ => return Err(CodecError::at(n, CodecErrorKind::BadValue)),
                    }
                }
                p += chars;
                len
            } else {
                let len = declared.unwrap_or(max);
                if len > max {
                    return Err(too_long(len));
                }
                let src = data.get(p..p + len).ok_or_else(|| truncated(n))?;
                dst[..len].copy_from_slice(src);
                p += len;
                len
            }
        }
        Kind::Undefined => return Err(CodecError::at(n, CodecErrorKind::UndefinedField)),
    };
    *r = p;
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::super::profile;
    use super::*;
    use CodecErrorKind::*;

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).expect("test hex")
    }

    /// MTI 0200 + a bitmap with the given fields.
    fn head(fields: &[u8]) -> Vec<u8> {
        let mut bm = 0u64;
        for &f in fields {
            bm |= bit(f);
        }
        let mut v = vec![0x02, 0x00];
        v.extend_from_slice(&bm.to_be_bytes());
        v
    }

    fn err(data: &[u8]) -> CodecError {
        decode_body(data).expect_err("must fail")
    }

    #[test]
    fn packing_rules() {
        let mut m = Message::new(Mti(200));
        m.set_str(22, "021")
            .set_str(23, "1")
            .set_str(2, "123")
            .set_str(41, "1234")
            .set_str(35, "12=4");
        let b = encode_body(&m).expect("encode");
        let mut want = head(&[2, 22, 23, 35, 41]);
        want.extend(hex("03 1230  0210  0001  04 12D4  31323334 20202020"));
        assert_eq!(b, want);
        let d = decode_body(&b).expect("decode");
        assert_eq!(d.get_str(2), Some("123"));
        assert_eq!(d.get_str(22), Some("021"));
        assert_eq!(d.get_str(23), Some("001"));
        assert_eq!(d.get_str(35), Some("12D4"));
        assert_eq!(d.get_str(41), Some("1234    "));
    }

    #[test]
    fn lll_prefix_and_binary() {
        let mut m = Message::new(Mti(800));
        m.set(62, vec![0xAB; 123]).set_str(60, "00000001004");
        let b = encode_body(&m).expect("encode");
        assert_eq!(&b[10..18], &hex("0011 000000010040")[..]);
        assert_eq!(&b[18..20], &hex("0123")[..]);
        assert_eq!(decode_body(&b).expect("decode"), m);
    }

    #[test]
    fn truncated_names_field() {
        let mut d = head(&[3]);
        d.extend(hex("0000"));
        assert_eq!(err(&d), CodecError::at(3, Truncated));
        assert_eq!(err(&hex("0200 0000")), CodecError::new(None, Truncated));
        let mut d = head(&[2]);
        d.extend(hex("16 1234"));
        assert_eq!(err(&d), CodecError::at(2, Truncated));
    }

    #[test]
    fn too_long_on_decode_and_encode() {
        let mut d = head(&[2]);
        d.extend(hex("20 12345678901234567890"));
        assert_eq!(err(&d), CodecError::at(2, TooLong { len: 20, max: 19 }));
        let mut m = Message::new(Mti(200));
        m.set_str(3, "0000000");
        assert_eq!(
            encode_body(&m),
            Err(CodecError::at(3, TooLong { len: 7, max: 6 }))
        );
        let mut m = Message::new(Mti(200));
        m.set(55, vec![0; 256]);
        assert_eq!(
            encode_body(&m),
            Err(CodecError::at(55, TooLong { len: 256, max: 255 }))
        );
    }

    #[test]
    fn not_digit() {
        let mut d = head(&[3]);
        d.extend(hex("00A000"));
        assert_eq!(err(&d), CodecError::at(3, NotDigit));
        let mut d = head(&[2]);
        d.extend(hex("02 1D"));
        assert_eq!(err(&d), CodecError::at(2, NotDigit));
        // z is hex (encrypted tracks carry any nibble): 1E decodes, a non-hex character does not encode.
        let mut d = head(&[35]);
        d.extend(hex("02 1E"));
        assert_eq!(
            decode_body(&d)
                .expect("hex nibbles are valid in z")
                .get_str(35),
            Some("1E")
        );
        let mut m = Message::new(Mti(200));
        m.set_str(35, "12G4");
        assert_eq!(encode_body(&m), Err(CodecError::at(35, NotDigit)));
        let mut m = Message::new(Mti(200));
        m.set_str(4, "12a");
        assert_eq!(encode_body(&m), Err(CodecError::at(4, NotDigit)));
    }

    #[test]
    fn swar_paths_match_scalar() {
        // Lengths crossing the 8-digit blocks, odd starts, and a bad character at each position.
        for len in 0..=40usize {
            for odd in [false, true] {
                let value: Vec<u8> = (0..len).map(|i| b'0' + (i * 7 % 10) as u8).collect();
                let nbytes = (len + usize::from(odd)).div_ceil(2);
                let (mut a, mut b) = (vec![0u8; nbytes], vec![0u8; nbytes]);
                let scalar = |c: u8| {
                    let d = c.wrapping_sub(b'0');
                    (d & 0x0F, d > 9)
                };
                assert!(!pack_n(&mut a, odd, &value));
                assert!(!pack_digits(&mut b, odd, &value, scalar));
                assert_eq!(a, b, "len {len} odd {odd}");
                let mut back = vec![0u8; len];
                assert!(!unpack_n(&mut back, &a, usize::from(odd)));
                assert_eq!(back, value);
                for i in 0..len {
                    for bad in [b'/', b':', b'D', 0x80 | b'5', b' '] {
                        let mut v = value.clone();
                        v[i] = bad;
                        assert!(pack_n(&mut a, odd, &v), "len {len} at {i} byte {bad:02X}");
                    }
                    let mut p = a.clone();
                    let pos = i + usize::from(odd);
                    p[pos / 2] |= if pos % 2 == 0 { 0xA0 } else { 0x0B };
                    assert!(
                        unpack_n(&mut back, &p, usize::from(odd)),
                        "len {len} nibble {i}"
                    );
                }
            }
        }
    }

    #[test]
    fn z_swar_paths_match_scalar() {
        // Track digits with separators ('D' and '='), across block boundaries and odd starts.
        let scalar = |c: u8| match c {
            b'=' => (0xD, false),
            b'A'..=b'F' => (c - b'A' + 10, false),
            _ => {
                let d = c.wrapping_sub(b'0');
                (d & 0x0F, d > 9)
            }
        };
        for len in 0..=40usize {
            for odd in [false, true] {
                let value: Vec<u8> = (0..len)
                    .map(|i| match i % 11 {
                        4 => b'D',
                        9 => b'=',
                        6 => b'A' + (i % 6) as u8,
                        k => b'0' + (k * 3 % 10) as u8,
                    })
                    .collect();
                let canonical: Vec<u8> = value
                    .iter()
                    .map(|&c| if c == b'=' { b'D' } else { c })
                    .collect();
                let nbytes = (len + usize::from(odd)).div_ceil(2);
                let (mut a, mut b) = (vec![0u8; nbytes], vec![0u8; nbytes]);
                assert!(!pack_bcd(&mut a, odd, &value, true));
                assert!(!pack_digits(&mut b, odd, &value, scalar));
                assert_eq!(a, b, "len {len} odd {odd}");
                let mut back = vec![0u8; len];
                assert!(!unpack_bcd(&mut back, &a, usize::from(odd), true));
                assert_eq!(back, canonical, "len {len} odd {odd}");
                for i in 0..len {
                    for bad in [
                        b'/',
                        b':',
                        b'G',
                        b'@',
                        b'd',
                        b'a',
                        b'<',
                        b'>',
                        0x80 | b'D',
                        b' ',
                    ] {
                        let mut v = value.clone();
                        v[i] = bad;
                        assert!(
                            pack_bcd(&mut a, odd, &v, true),
                            "len {len} at {i} byte {bad:02X}"
                        );
                    }
                    // Encrypted tracks: every nibble is valid and reads back as its hex character.
                    for nib in [0xA, 0xB, 0xC, 0xE, 0xF] {
                        let mut p = a.clone();
                        let pos = i + usize::from(odd);
                        if pos % 2 == 0 {
                            p[pos / 2] = p[pos / 2] & 0x0F | nib << 4;
                        } else {
                            p[pos / 2] = p[pos / 2] & 0xF0 | nib;
                        }
                        assert!(
                            !unpack_bcd(&mut back, &p, usize::from(odd), true),
                            "len {len} nibble {i} = {nib:X}"
                        );
                        assert_eq!(back[i], b"0123456789ABCDEF"[usize::from(nib)]);
                    }
                }
            }
        }
    }

    #[test]
    fn fixed_shortcuts_check_every_position() {
        use crate::iso8583::profile::FIELDS;
        for def in FIELDS.iter().filter(|d| d.length == profile::Length::Fixed) {
            let n = def.number;
            let good: Vec<u8> = match def.format {
                profile::Format::N => (0..def.max).map(|i| b'0' + (i * 7 % 10) as u8).collect(),
                profile::Format::B => (0..def.max).map(|i| (i * 37 % 256) as u8).collect(),
                _ => (0..def.max).map(|i| b'A' + (i % 26) as u8).collect(),
            };
            let mut m = Message::new(Mti(200));
            m.set(n, good.clone());
            let body = encode_body(&m).expect("valid fixed field");
            let back = decode_body(&body).expect("decodes");
            assert_eq!(back.get(n), Some(&good[..]), "field {n}");
            for i in 0..def.max {
                match def.format {
                    profile::Format::N => {
                        for bad in [b'/', b':', b'a', b' ', 0xB0] {
                            let mut v = good.clone();
                            v[i] = bad;
                            let mut m = Message::new(Mti(200));
                            m.set(n, v);
                            assert_eq!(encode_body(&m), Err(CodecError::at(n, NotDigit)));
                        }
                    }
                    profile::Format::An => {
                        for bad in [0x1F, 0x7F, 0x80, 0xFF] {
                            let mut v = good.clone();
                            v[i] = bad;
                            let mut m = Message::new(Mti(200));
                            m.set(n, v);
                            assert_eq!(encode_body(&m), Err(CodecError::at(n, BadValue)));
                            let mut d = body.clone();
                            d[10 + i] = bad;
                            assert_eq!(err(&d), CodecError::at(n, BadValue), "field {n} at {i}");
                        }
                    }
                    profile::Format::Ans => {
                        for bad in [0x80, 0xC3, 0xFF] {
                            let mut v = good.clone();
                            v[i] = bad;
                            let mut m = Message::new(Mti(200));
                            m.set(n, v);
                            assert_eq!(encode_body(&m), Err(CodecError::at(n, NotAscii)));
                            let mut d = body.clone();
                            d[10 + i] = bad;
                            assert_eq!(err(&d), CodecError::at(n, NotAscii), "field {n} at {i}");
                        }
                    }
                    _ => {}
                }
            }
            if def.format == profile::Format::N {
                // Every nibble of the wire form: a digit above 9 or a non-zero pad is refused.
                let nbytes = def.max.div_ceil(2);
                for nib in 0..2 * nbytes {
                    let mut d = body.clone();
                    let at = 10 + nib / 2;
                    d[at] = if nib % 2 == 0 {
                        d[at] & 0x0F | 0xA0
                    } else {
                        d[at] & 0xF0 | 0x0C
                    };
                    let e = err(&d);
                    assert_eq!(e.field, Some(n), "field {n} nibble {nib}");
                    let pad = def.max % 2 == 1
                        && if def.left_aligned {
                            nib == 2 * nbytes - 1
                        } else {
                            nib == 0
                        };
                    assert_eq!(
                        e.kind,
                        if pad { BadPad } else { NotDigit },
                        "field {n} nibble {nib}"
                    );
                }
            }
        }
    }

    #[test]
    fn bad_pad() {
        let mut d = head(&[23]);
        d.extend(hex("1001"));
        assert_eq!(err(&d), CodecError::at(23, BadPad));
        let mut d = head(&[22]);
        d.extend(hex("0211"));
        assert_eq!(err(&d), CodecError::at(22, BadPad));
        let mut d = head(&[2]);
        d.extend(hex("03 1231"));
        assert_eq!(err(&d), CodecError::at(2, BadPad));
    }

    #[test]
    fn undefined_field_and_secondary_bitmap() {
        let mut d = head(&[5]);
        d.extend(hex("00"));
        assert_eq!(err(&d), CodecError::at(5, UndefinedField));
        assert_eq!(err(&head(&[1])), CodecError::at(1, UndefinedField));
        let mut m = Message::new(Mti(200));
        m.set_str(5, "1");
        assert_eq!(encode_body(&m), Err(CodecError::at(5, UndefinedField)));
        let mut m = Message::new(Mti(200));
        m.set_str(100, "1");
        assert_eq!(encode_body(&m), Err(CodecError::at(100, UndefinedField)));
    }

    #[test]
    fn trailing_bytes() {
        let mut d = head(&[25]);
        d.extend(hex("00 00"));
        assert_eq!(err(&d), CodecError::new(None, TrailingBytes));
    }

    #[test]
    fn bad_length_prefix() {
        let mut d = head(&[2]);
        d.extend(hex("1A 00"));
        assert_eq!(err(&d), CodecError::at(2, BadLength));
        let mut d = head(&[62]);
        d.extend(hex("00F1 00"));
        assert_eq!(err(&d), CodecError::at(62, BadLength));
        let mut m = Message::new(Mti(200));
        m.set(52, vec![0; 7]);
        assert_eq!(encode_body(&m), Err(CodecError::at(52, BadLength)));
    }

    /// Field 52 is b64 in the TDES family and b128 in the SM family; a decoder learns the family from field 41,
    /// which precedes it (docs/PROTOCOL.md §11).
    #[test]
    fn field_52_length_follows_the_family_of_field_41() {
        let mut m = Message::new(Mti(200));
        m.set_str(41, "SMTERM01");
        m.set(52, (0..16).collect::<Vec<u8>>());
        m.set_str(53, "2400000000000000");
        let body = encode_body(&m).expect("16-byte 52 encodes");
        let sm_of = |tid: &[u8]| {
            if tid == b"SMTERM01" {
                KeyFamily::Sm
            } else {
                KeyFamily::Tdes
            }
        };
        assert_eq!(decode_body_for(&body, &sm_of).expect("decode"), m);
        // Read as TDES, the 16 bytes do not fit: 52 takes 8 and field 53 then starts inside the block.
        assert!(decode_body(&body).is_err());
        // An 8-byte 52 of a TDES terminal decodes as before with the same resolver.
        let mut t = m.clone();
        t.set_str(41, "TDTERM01");
        t.set(52, vec![7; 8]);
        let body = encode_body(&t).expect("encode");
        assert_eq!(decode_body_for(&body, &sm_of).expect("decode"), t);
        // Neither 7, 9 nor 15 bytes is a field 52 of either family.
        for n in [7, 9, 15, 17] {
            let mut b = m.clone();
            b.set(52, vec![0; n]);
            assert_eq!(encode_body(&b).unwrap_err().field, Some(52), "{n}");
        }
    }

    #[test]
    fn bad_mti() {
        assert_eq!(
            err(&hex("020A 0000000000000000")),
            CodecError::new(None, BadMti)
        );
        let m = Message::new(Mti(10000));
        assert_eq!(encode_body(&m), Err(CodecError::new(None, BadMti)));
    }

    #[test]
    fn ans_is_ascii_except_field_63() {
        // Decoding: a UTF-8 character in 41 (fixed) or 59 (LLL) is refused naming the field.
        let mut d = head(&[41]);
        d.extend(b"1234\xC3\xA956");
        assert_eq!(err(&d), CodecError::at(41, NotAscii));
        let mut d = head(&[59]);
        d.extend(hex("0007"));
        d.extend("A4002\u{e9}".as_bytes());
        assert_eq!(err(&d), CodecError::at(59, NotAscii));
        // Encoding refuses it too.
        let mut m = Message::new(Mti(200));
        m.set_str(42, "1234567890123\u{e9}");
        assert_eq!(encode_body(&m), Err(CodecError::at(42, NotAscii)));
        // Field 63 carries GBK issuer text (any byte) both ways; control bytes stay legal in ans.
        let mut m = Message::new(Mti(210));
        m.set(63, b"CUP\xD6\xD0\xB9\xFA\xD2\xF8\xD0\xD0".to_vec())
            .set_str(59, "A4003\t1\x7F");
        let back = decode_body(&encode_body(&m).expect("encode")).expect("decode");
        assert_eq!(back, m);
    }

    #[test]
    fn an_rejects_control_bytes() {
        let mut d = head(&[39]);
        d.extend(hex("3000"));
        assert_eq!(err(&d), CodecError::at(39, BadValue));
    }

    #[test]
    fn error_names_field_in_display() {
        assert_eq!(
            CodecError::at(35, NotDigit).to_string(),
            "ISO 8583 field 35: NotDigit"
        );
    }
}
