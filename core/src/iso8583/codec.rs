//! Body codec: MTI (BCD) + primary bitmap + fields (PROTOCOL.md §1-2). Every encoding decision
//! comes from the field table in `profile`.
use super::message::bit;
use super::profile::{self, FieldDef, Format, Length};
use super::{Message, Mti};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecError {
    pub field: Option<u8>,
    pub kind: CodecErrorKind,
}
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodecErrorKind {
    Truncated,
    TooLong { len: usize, max: usize },
    NotDigit,
    BadPad,
    UndefinedField,
    TrailingBytes,
    FrameTooLarge(usize),
    BadLength,
    BadMti,
    BadValue,
}

impl CodecError {
    #[inline]
    pub fn new(field: Option<u8>, kind: CodecErrorKind) -> Self {
        CodecError { field, kind }
    }
    #[inline]
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

/// Encode MTI + bitmap + fields.
pub fn encode_body(msg: &Message) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(256);
    encode_body_into(msg, &mut out, false)?;
    Ok(out)
}

/// Append the encoded body to `out`. With `mac_placeholder`, field 64 is sent as 8 zero bytes
/// whatever the message holds (the caller computes the MAC and overwrites it).
pub(super) fn encode_body_into(
    msg: &Message,
    out: &mut Vec<u8>,
    mac_placeholder: bool,
) -> Result<(), CodecError> {
    if let Some(n) = msg.out_of_range() {
        return Err(CodecError::at(n, CodecErrorKind::UndefinedField));
    }
    let mti = msg.mti.0;
    if mti > 9999 {
        return Err(CodecError::new(None, CodecErrorKind::BadMti));
    }
    let digits = [
        (mti / 1000) as u8,
        (mti / 100 % 10) as u8,
        (mti / 10 % 10) as u8,
        (mti % 10) as u8,
    ];
    out.push(digits[0] << 4 | digits[1]);
    out.push(digits[2] << 4 | digits[3]);
    let mut bitmap = msg.bitmap();
    if mac_placeholder {
        bitmap |= bit(64);
    }
    out.extend_from_slice(&bitmap.to_be_bytes());
    for (n, value) in msg.fields() {
        if mac_placeholder && n == 64 {
            continue;
        }
        let def = match profile::field(n) {
            Some(d) => d,
            None => return Err(CodecError::at(n, CodecErrorKind::UndefinedField)),
        };
        encode_field(def, value, out)?;
    }
    if mac_placeholder {
        out.extend_from_slice(&[0u8; 8]);
    }
    Ok(())
}

/// Pack `value`'s digits into `out` after `lead` zero nibbles, zero-filling to `total_nibbles`
/// (even). Whole output bytes are written (no read-modify-write); one error check at the end.
fn pack(
    def: &FieldDef,
    lead: usize,
    value: &[u8],
    total_nibbles: usize,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    debug_assert!(total_nibbles.is_multiple_of(2) && lead + value.len() <= total_nibbles);
    let start = out.len();
    out.resize(start + total_nibbles / 2, 0);
    let dst = &mut out[start + lead / 2..];
    let bad = if def.format == Format::Z {
        pack_digits(dst, lead % 2 == 1, value, |c| match c {
            b'D' | b'=' => (0xD, false),
            _ => {
                let d = c.wrapping_sub(b'0');
                (d & 0x0F, d > 9)
            }
        })
    } else {
        pack_n(dst, lead % 2 == 1, value)
    };
    if bad {
        return Err(CodecError::at(def.number, CodecErrorKind::NotDigit));
    }
    Ok(())
}

const ONES: u64 = 0x0101_0101_0101_0101;

/// `pack_digits` for n fields, eight digits at a time (SWAR). Returns whether a non-digit was seen.
fn pack_n(dst: &mut [u8], odd_start: bool, value: &[u8]) -> bool {
    let mut bad = 0u64;
    let mut o = 0;
    let mut value = value;
    if odd_start {
        if let Some((&c, r)) = value.split_first() {
            let d = c.wrapping_sub(b'0');
            bad |= u64::from(d > 9);
            dst[0] = d & 0x0F;
            o = 1;
            value = r;
        }
    }
    let mut chunks = value.chunks_exact(8);
    for c in &mut chunks {
        let mut a = [0u8; 8];
        a.copy_from_slice(c);
        let v = u64::from_le_bytes(a);
        let d = v.wrapping_sub(0x30 * ONES);
        // A byte is a digit iff it is < 0x80, did not borrow (high nibble of d clear) and d + 6 < 0x10.
        bad |= (v & (0x80 * ONES))
            | (d & (0xF0 * ONES))
            | (d.wrapping_add(0x06 * ONES) & (0xF0 * ONES));
        // Byte 2k of t = d[2k] << 4 | d[2k+1]; then gather the even bytes.
        let mut t = ((d << 4) | (d >> 8)) & 0x00FF_00FF_00FF_00FF;
        t = (t | (t >> 8)) & 0x0000_FFFF_0000_FFFF;
        t = (t | (t >> 16)) & 0xFFFF_FFFF;
        dst[o..o + 4].copy_from_slice(&(t as u32).to_le_bytes());
        o += 4;
    }
    let mut nib = |c: u8| {
        let d = c.wrapping_sub(b'0');
        bad |= u64::from(d > 9);
        d & 0x0F
    };
    let mut pairs = chunks.remainder().chunks_exact(2);
    for p in &mut pairs {
        dst[o] = nib(p[0]) << 4 | nib(p[1]);
        o += 1;
    }
    if let [c] = pairs.remainder() {
        dst[o] = nib(*c) << 4;
    }
    bad != 0
}

/// `unpack_digits` for n fields, four packed bytes at a time (SWAR). Returns whether a nibble was > 9.
fn unpack_n(dst: &mut [u8], src: &[u8], skip: usize) -> bool {
    let mut bad = 0u64;
    let (mut o, mut s) = (0, 0);
    if skip == 1 && !dst.is_empty() && !src.is_empty() {
        let n = src[0] & 0x0F;
        bad |= u64::from(n > 9);
        dst[0] = b'0'.wrapping_add(n);
        o = 1;
        s = 1;
    }
    while o + 8 <= dst.len() && s + 4 <= src.len() {
        let mut a = [0u8; 4];
        a.copy_from_slice(&src[s..s + 4]);
        let mut t = u64::from(u32::from_le_bytes(a));
        t = (t | (t << 16)) & 0x0000_FFFF_0000_FFFF;
        t = (t | (t << 8)) & 0x00FF_00FF_00FF_00FF;
        // Byte 2k = high nibble of packed byte k, byte 2k+1 = its low nibble.
        let d = ((t >> 4) & 0x000F_000F_000F_000F) | ((t & 0x000F_000F_000F_000F) << 8);
        bad |= d.wrapping_add(0x06 * ONES) & (0xF0 * ONES);
        dst[o..o + 8].copy_from_slice(&d.wrapping_add(0x30 * ONES).to_le_bytes());
        o += 8;
        s += 4;
    }
    while o < dst.len() && s < src.len() {
        let b = src[s];
        let h = b >> 4;
        bad |= u64::from(h > 9);
        dst[o] = b'0' + h;
        o += 1;
        if o < dst.len() {
            let l = b & 0x0F;
            bad |= u64::from(l > 9);
            dst[o] = b'0' + l;
            o += 1;
        }
        s += 1;
    }
    bad != 0
}

/// Write `value` as nibbles into `dst`, starting at the low nibble of `dst[0]` when `odd_start`.
/// `nib` maps a character to (nibble, invalid). Returns whether any character was invalid.
#[inline(always)]
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

fn write_prefix(def: &FieldDef, len: usize, out: &mut Vec<u8>) {
    match def.length {
        Length::LL => out.push(((len / 10 % 10) << 4 | (len % 10)) as u8),
        Length::LLL => {
            out.push(((len / 1000 % 10) << 4 | (len / 100 % 10)) as u8);
            out.push(((len / 10 % 10) << 4 | (len % 10)) as u8);
        }
        Length::Fixed => {}
    }
}

fn encode_field(def: &FieldDef, value: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
    let len = value.len();
    if len > def.max {
        return Err(CodecError::at(
            def.number,
            CodecErrorKind::TooLong { len, max: def.max },
        ));
    }
    match (def.format, def.length) {
        (Format::N | Format::Z, Length::Fixed) => {
            // Shorter values are left-padded with zeros to the fixed length, then the odd nibble
            // goes in front (right-aligned) or behind (left-aligned, field 22).
            let zeros = def.max - len;
            let odd = def.max % 2;
            let lead = if def.left_aligned { zeros } else { zeros + odd };
            pack(def, lead, value, def.max + odd, out)
        }
        (Format::N | Format::Z, _) => {
            write_prefix(def, len, out);
            pack(def, 0, value, len + len % 2, out)
        }
        (Format::An | Format::Ans, Length::Fixed) => {
            check_text(def, value)?;
            out.extend_from_slice(value);
            out.resize(out.len() + (def.max - len), b' ');
            Ok(())
        }
        (Format::An | Format::Ans, _) => {
            check_text(def, value)?;
            write_prefix(def, len, out);
            out.extend_from_slice(value);
            Ok(())
        }
        (Format::B, Length::Fixed) => {
            if len != def.max {
                return Err(CodecError::at(def.number, CodecErrorKind::BadLength));
            }
            out.extend_from_slice(value);
            Ok(())
        }
        (Format::B, _) => {
            write_prefix(def, len, out);
            out.extend_from_slice(value);
            Ok(())
        }
    }
}

/// `an` is printable ASCII (space allowed, field 44 carries spaces). `ans` accepts any byte: real
/// hosts put GBK text in field 63.
#[inline]
fn check_text(def: &FieldDef, value: &[u8]) -> Result<(), CodecError> {
    if def.format == Format::An && !value.iter().all(|&c| (0x20..=0x7E).contains(&c)) {
        return Err(CodecError::at(def.number, CodecErrorKind::BadValue));
    }
    Ok(())
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}
impl<'a> Reader<'a> {
    #[inline]
    fn take(&mut self, n: usize, field: Option<u8>) -> Result<&'a [u8], CodecError> {
        match self.data.get(self.pos..self.pos + n) {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => Err(CodecError::new(field, CodecErrorKind::Truncated)),
        }
    }
}

#[inline]
fn bcd_pair(b: u8) -> Option<usize> {
    let (h, l) = (b >> 4, b & 0x0F);
    if h > 9 || l > 9 {
        None
    } else {
        Some((h * 10 + l) as usize)
    }
}

/// Decode MTI + bitmap + fields, strictly: any deviation is an error naming the field.
pub fn decode_body(data: &[u8]) -> Result<Message, CodecError> {
    let mut r = Reader { data, pos: 0 };
    let m = r.take(2, None)?;
    let mti = match (bcd_pair(m[0]), bcd_pair(m[1])) {
        (Some(a), Some(b)) => (a * 100 + b) as u16,
        _ => return Err(CodecError::new(None, CodecErrorKind::BadMti)),
    };
    let mut bm = [0u8; 8];
    bm.copy_from_slice(r.take(8, None)?);
    let bitmap = u64::from_be_bytes(bm);
    // Field values are never larger than their wire form; BCD doubles at most.
    let mut msg = Message::with_capacity(Mti(mti), data.len() * 2);
    let mut rest = bitmap;
    while rest != 0 {
        let n = rest.leading_zeros() as u8 + 1;
        rest &= !bit(n);
        let def = match profile::field(n) {
            Some(d) => d,
            None => return Err(CodecError::at(n, CodecErrorKind::UndefinedField)),
        };
        decode_field(def, &mut r, &mut msg)?;
    }
    if r.pos != data.len() {
        return Err(CodecError::new(None, CodecErrorKind::TrailingBytes));
    }
    Ok(msg)
}

fn read_len(def: &FieldDef, r: &mut Reader<'_>) -> Result<usize, CodecError> {
    let n = def.number;
    let len = match def.length {
        Length::Fixed => return Ok(def.max),
        Length::LL => bcd_pair(r.take(1, Some(n))?[0]),
        Length::LLL => {
            let p = r.take(2, Some(n))?;
            match (bcd_pair(p[0]), bcd_pair(p[1])) {
                (Some(a), Some(b)) => Some(a * 100 + b),
                _ => None,
            }
        }
    };
    let len = len.ok_or(CodecError::at(n, CodecErrorKind::BadLength))?;
    if len > def.max {
        return Err(CodecError::at(
            n,
            CodecErrorKind::TooLong { len, max: def.max },
        ));
    }
    Ok(len)
}

/// Expand packed nibbles into ASCII: `dst.len()` digits starting at nibble `skip` of `src`.
/// `ch` maps a nibble to (character, invalid). Returns whether any nibble was invalid.
#[inline(always)]
fn unpack_digits(dst: &mut [u8], src: &[u8], skip: usize, ch: impl Fn(u8) -> (u8, bool)) -> bool {
    let mut bad = false;
    let mut src = src;
    let out: &mut [u8] = if skip == 1 {
        match (dst.split_first_mut(), src.split_first()) {
            (Some((o, rest_out)), Some((&b, rest_src))) => {
                let (c, e) = ch(b & 0x0F);
                *o = c;
                bad |= e;
                src = rest_src;
                rest_out
            }
            (split, _) => match split {
                Some((_, rest_out)) => rest_out,
                None => &mut [],
            },
        }
    } else {
        dst
    };
    let mut pairs = out.chunks_exact_mut(2);
    let mut used = 0;
    for (o, &b) in (&mut pairs).zip(src) {
        let (h, eh) = ch(b >> 4);
        let (l, el) = ch(b & 0x0F);
        o[0] = h;
        o[1] = l;
        bad |= eh | el;
        used += 1;
    }
    if let ([o], Some(&b)) = (pairs.into_remainder(), src.get(used)) {
        let (h, e) = ch(b >> 4);
        *o = h;
        bad |= e;
    }
    bad
}

fn decode_field(def: &FieldDef, r: &mut Reader<'_>, msg: &mut Message) -> Result<(), CodecError> {
    let n = def.number;
    let len = read_len(def, r)?;
    match def.format {
        Format::N | Format::Z => {
            let bytes = r.take(len.div_ceil(2), Some(n))?;
            let odd = len % 2 == 1;
            // Which nibble is the pad: the first for fixed right-aligned, else the last.
            let pad_first = odd && def.length == Length::Fixed && !def.left_aligned;
            let pad_last = odd && !pad_first;
            if pad_first && bytes[0] >> 4 != 0 {
                return Err(CodecError::at(n, CodecErrorKind::BadPad));
            }
            if pad_last && bytes[bytes.len() - 1] & 0x0F != 0 {
                return Err(CodecError::at(n, CodecErrorKind::BadPad));
            }
            // Digit k of the value is nibble k + skip of the packed bytes.
            let skip = usize::from(pad_first);
            let z = def.format == Format::Z;
            msg.reserve(len);
            let start = msg.buf_mut().len();
            let buf = msg.buf_mut();
            buf.resize(start + len, 0);
            let dst = &mut buf[start..];
            let bad = if z {
                unpack_digits(dst, bytes, skip, |n| match n {
                    0..=9 => (b'0' + n, false),
                    0xD => (b'D', false),
                    _ => (b'?', true),
                })
            } else {
                unpack_n(dst, bytes, skip)
            };
            if bad {
                // The half-decoded bytes stay below len, so dropping the message zeroizes them.
                return Err(CodecError::at(n, CodecErrorKind::NotDigit));
            }
            msg.commit(n, start);
        }
        Format::An | Format::Ans | Format::B => {
            let bytes = r.take(len, Some(n))?;
            if matches!(def.format, Format::An | Format::Ans) {
                check_text(def, bytes)?;
            }
            msg.reserve(len);
            let start = msg.buf_mut().len();
            msg.buf_mut().extend_from_slice(bytes);
            msg.commit(n, start);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
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
        let mut d = head(&[35]);
        d.extend(hex("02 1E"));
        assert_eq!(err(&d), CodecError::at(35, NotDigit));
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
