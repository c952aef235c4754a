//! BER-TLV (EMV field 55, field 62 parameters).
//! Tags are held as u32 of their raw bytes (`0x9F06`, `0xDF41`, `0xFF01`, `0x95`).

#[derive(Clone, PartialEq, Eq)]
pub struct Tlv {
    pub tag: u32,
    pub value: TlvValue,
}

#[derive(Clone, PartialEq, Eq)]
pub enum TlvValue {
    Primitive(Vec<u8>),
    Constructed(Vec<Tlv>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlvError {
    Truncated {
        offset: usize,
    },
    BadTag {
        offset: usize,
    },
    BadLength {
        offset: usize,
    },
    TooDeep,
    /// A value holds a byte not allowed there (field 59 ASCII TLV: printable ASCII only).
    BadValue {
        offset: usize,
    },
}

impl std::fmt::Display for TlvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TlvError::Truncated { offset } => write!(f, "truncated at byte {offset}"),
            TlvError::BadTag { offset } => write!(f, "bad tag at byte {offset}"),
            TlvError::BadLength { offset } => write!(f, "bad length at byte {offset}"),
            TlvError::TooDeep => write!(f, "nested deeper than {MAX_DEPTH}"),
            TlvError::BadValue { offset } => write!(f, "value not allowed at byte {offset}"),
        }
    }
}

impl std::error::Error for TlvError {}

/// Deepest nesting of constructed tags that `decode` accepts.
pub const MAX_DEPTH: usize = 8;

/// Tags whose values are cardholder data and never go into Debug output.
const SENSITIVE_TAGS: [u32; 8] = [0x5A, 0x57, 0x56, 0x5F20, 0x9F1F, 0x9F20, 0x9F6B, 0x99];

impl std::fmt::Debug for Tlv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.value {
            TlvValue::Primitive(v) if SENSITIVE_TAGS.contains(&self.tag) => {
                write!(f, "{:X}[{} bytes redacted]", self.tag, v.len())
            }
            TlvValue::Primitive(v) => write!(f, "{:X}={}", self.tag, hex::encode_upper(v)),
            TlvValue::Constructed(c) => write!(f, "{:X}{:?}", self.tag, c),
        }
    }
}

impl std::fmt::Debug for TlvValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TlvValue::Primitive(v) => write!(f, "Primitive({} bytes)", v.len()),
            TlvValue::Constructed(c) => write!(f, "Constructed({c:?})"),
        }
    }
}

impl Tlv {
    pub fn primitive(tag: u32, value: impl Into<Vec<u8>>) -> Self {
        Tlv {
            tag,
            value: TlvValue::Primitive(value.into()),
        }
    }

    pub fn constructed(tag: u32, children: Vec<Tlv>) -> Self {
        Tlv {
            tag,
            value: TlvValue::Constructed(children),
        }
    }

    /// Primitive value bytes (None for constructed).
    pub fn bytes(&self) -> Option<&[u8]> {
        match &self.value {
            TlvValue::Primitive(v) => Some(v),
            TlvValue::Constructed(_) => None,
        }
    }

    pub fn children(&self) -> &[Tlv] {
        match &self.value {
            TlvValue::Primitive(_) => &[],
            TlvValue::Constructed(c) => c,
        }
    }
}

/// Whether the first byte of `tag` has the constructed bit (0x20).
pub fn is_constructed_tag(tag: u32) -> bool {
    tag_bytes(tag)[0] & 0x20 != 0
}

/// Raw bytes of a tag held as u32 (leading zero bytes dropped; tag 0 is the single byte 00).
fn tag_bytes(tag: u32) -> Vec<u8> {
    let b = tag.to_be_bytes();
    let first = b.iter().position(|&x| x != 0).unwrap_or(3);
    b[first..].to_vec()
}

fn read_tag(data: &[u8], pos: &mut usize) -> Result<(u32, bool), TlvError> {
    let start = *pos;
    let first = *data
        .get(start)
        .ok_or(TlvError::Truncated { offset: start })?;
    if first == 0x00 {
        return Err(TlvError::BadTag { offset: start });
    }
    let constructed = first & 0x20 != 0;
    let mut tag = first as u32;
    *pos += 1;
    if first & 0x1F == 0x1F {
        // Subsequent bytes while bit 8 is set; at most 4 tag bytes in all.
        loop {
            let b = *data.get(*pos).ok_or(TlvError::Truncated { offset: *pos })?;
            if *pos - start >= 4 || (*pos == start + 1 && b == 0x80) {
                return Err(TlvError::BadTag { offset: start });
            }
            tag = (tag << 8) | b as u32;
            *pos += 1;
            if b & 0x80 == 0 {
                break;
            }
        }
    }
    Ok((tag, constructed))
}

fn read_len(data: &[u8], pos: &mut usize) -> Result<usize, TlvError> {
    let start = *pos;
    let first = *data
        .get(start)
        .ok_or(TlvError::Truncated { offset: start })?;
    *pos += 1;
    if first < 0x80 {
        return Ok(first as usize);
    }
    let n = (first & 0x7F) as usize;
    if n == 0 || n > 3 {
        // 0x80 (indefinite) is not allowed in EMV; more than 3 length bytes is absurd for a message field.
        return Err(TlvError::BadLength { offset: start });
    }
    let bytes = data
        .get(*pos..*pos + n)
        .ok_or(TlvError::Truncated { offset: start })?;
    *pos += n;
    Ok(bytes.iter().fold(0usize, |acc, &b| (acc << 8) | b as usize))
}

fn decode_at(data: &[u8], base: usize, depth: usize) -> Result<Vec<Tlv>, TlvError> {
    if depth > MAX_DEPTH {
        return Err(TlvError::TooDeep);
    }
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < data.len() {
        let tag_start = pos;
        let (tag, constructed) = read_tag(data, &mut pos).map_err(|e| shift(e, base))?;
        let len_start = pos;
        let len = read_len(data, &mut pos).map_err(|e| shift(e, base))?;
        let end = pos.checked_add(len).ok_or(TlvError::BadLength {
            offset: base + len_start,
        })?;
        let value = data.get(pos..end).ok_or(TlvError::Truncated {
            offset: base + tag_start,
        })?;
        let item = if constructed {
            Tlv::constructed(tag, decode_at(value, base + pos, depth + 1)?)
        } else {
            Tlv::primitive(tag, value.to_vec())
        };
        out.push(item);
        pos = end;
    }
    Ok(out)
}

fn shift(e: TlvError, base: usize) -> TlvError {
    match e {
        TlvError::Truncated { offset } => TlvError::Truncated {
            offset: offset + base,
        },
        TlvError::BadTag { offset } => TlvError::BadTag {
            offset: offset + base,
        },
        TlvError::BadLength { offset } => TlvError::BadLength {
            offset: offset + base,
        },
        TlvError::BadValue { offset } => TlvError::BadValue {
            offset: offset + base,
        },
        TlvError::TooDeep => TlvError::TooDeep,
    }
}

/// Decode a sequence of TLVs (constructed tags, bit 6 of the first byte, are decoded recursively).
/// Errors carry the byte offset from the start of `data`.
pub fn decode(data: &[u8]) -> Result<Vec<Tlv>, TlvError> {
    decode_at(data, 0, 0)
}

fn encode_len(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(len as u8);
    } else if len <= 0xFF {
        out.extend_from_slice(&[0x81, len as u8]);
    } else if len <= 0xFFFF {
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    } else {
        out.extend_from_slice(&[0x83, (len >> 16) as u8, (len >> 8) as u8, len as u8]);
    }
}

fn encode_into(items: &[Tlv], out: &mut Vec<u8>) {
    for item in items {
        out.extend_from_slice(&tag_bytes(item.tag));
        match &item.value {
            TlvValue::Primitive(v) => {
                encode_len(v.len(), out);
                out.extend_from_slice(v);
            }
            TlvValue::Constructed(children) => {
                let mut inner = Vec::new();
                encode_into(children, &mut inner);
                encode_len(inner.len(), out);
                out.extend_from_slice(&inner);
            }
        }
    }
}

pub fn encode(items: &[Tlv]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(items, &mut out);
    out
}

/// First item with `tag` at this level.
pub fn find(items: &[Tlv], tag: u32) -> Option<&Tlv> {
    items.iter().find(|t| t.tag == tag)
}

/// Shorthand: value bytes of the first primitive `tag` at this level.
pub fn get(items: &[Tlv], tag: u32) -> Option<&[u8]> {
    find(items, tag).and_then(Tlv::bytes)
}

/// Field 59 ASCII TLV: `tag(2) length(3 digits) value`, e.g. `A3018134567890123456789`.
/// Tags are two ASCII letters or digits; values are printable ASCII, at most 999 characters.
pub mod ascii59 {
    use super::TlvError;

    fn check_tag(tag: &[u8], offset: usize) -> Result<(), TlvError> {
        if tag.len() == 2 && tag.iter().all(u8::is_ascii_alphanumeric) {
            Ok(())
        } else {
            Err(TlvError::BadTag { offset })
        }
    }

    fn check_value(value: &[u8], offset: usize) -> Result<(), TlvError> {
        match value.iter().position(|b| !(0x20..=0x7E).contains(b)) {
            Some(i) => Err(TlvError::BadValue { offset: offset + i }),
            None => Ok(()),
        }
    }

    /// Encode `(tag, value)` pairs.
    pub fn encode(items: &[(&str, &str)]) -> Result<String, TlvError> {
        let mut out = String::new();
        for (tag, value) in items {
            let at = out.len();
            check_tag(tag.as_bytes(), at)?;
            if value.len() > 999 {
                return Err(TlvError::BadLength { offset: at + 2 });
            }
            check_value(value.as_bytes(), at + 5)?;
            out.push_str(tag);
            out.push_str(&format!("{:03}", value.len()));
            out.push_str(value);
        }
        Ok(out)
    }

    /// Decode into `(tag, value)` pairs, in order.
    pub fn decode(s: &str) -> Result<Vec<(String, String)>, TlvError> {
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut pos = 0usize;
        while pos < b.len() {
            let tag = b
                .get(pos..pos + 2)
                .ok_or(TlvError::Truncated { offset: pos })?;
            check_tag(tag, pos)?;
            let len_digits = b
                .get(pos + 2..pos + 5)
                .ok_or(TlvError::Truncated { offset: pos + 2 })?;
            if !len_digits.iter().all(u8::is_ascii_digit) {
                return Err(TlvError::BadLength { offset: pos + 2 });
            }
            let len = len_digits
                .iter()
                .fold(0usize, |acc, d| acc * 10 + (d - b'0') as usize);
            let value = b
                .get(pos + 5..pos + 5 + len)
                .ok_or(TlvError::Truncated { offset: pos + 5 })?;
            check_value(value, pos + 5)?;
            // Both slices are printable ASCII, so they are valid UTF-8 on their own.
            let tag_s = String::from_utf8_lossy(tag).into_owned();
            let value_s = String::from_utf8_lossy(value).into_owned();
            out.push((tag_s, value_s));
            pos += 5 + len;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn multi_byte_constructed_and_long_lengths() {
        let long = vec![0xAB; 200];
        let big = vec![0xCD; 300];
        let items = vec![
            Tlv::primitive(0x9F06, vec![0xA0, 0, 0, 3, 0x33, 1, 1]),
            Tlv::primitive(0xDF41, long.clone()),
            Tlv::constructed(
                0xFF01,
                vec![
                    Tlv::primitive(0x95, vec![0; 5]),
                    Tlv::primitive(0xDF8101, big.clone()),
                ],
            ),
        ];
        let enc = encode(&items);
        assert_eq!(&enc[..3], &[0x9F, 0x06, 0x07]);
        assert_eq!(&enc[10..13], &[0xDF, 0x41, 0x81]);
        assert_eq!(enc[13], 200);
        let dec = decode(&enc).unwrap();
        assert_eq!(dec, items);
        assert_eq!(get(&dec, 0xDF41), Some(&long[..]));
        let ff01 = find(&dec, 0xFF01).unwrap();
        assert!(ff01.bytes().is_none());
        assert_eq!(get(ff01.children(), 0xDF8101), Some(&big[..]));
        // 0x82 length form was used for 300 bytes.
        let pos = enc
            .windows(3)
            .position(|w| w == [0xDF, 0x81, 0x01])
            .unwrap();
        assert_eq!(&enc[pos + 3..pos + 6], &[0x82, 0x01, 0x2C]);
        assert!(is_constructed_tag(0xFF01));
        assert!(is_constructed_tag(0x70));
        assert!(!is_constructed_tag(0x9F06));
    }

    #[test]
    fn known_field55() {
        let f55 = hex::decode(
            "9F260811223344556677889F2701809F101307010103A00000010A010000000000ABCDEF12",
        )
        .unwrap();
        let t = decode(&f55).unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(
            get(&t, 0x9F26),
            Some(&hex::decode("1122334455667788").unwrap()[..])
        );
        assert_eq!(get(&t, 0x9F27), Some(&[0x80][..]));
        assert_eq!(get(&t, 0x9F10).map(<[u8]>::len), Some(19));
        assert_eq!(encode(&t), f55);
    }

    #[test]
    fn strict_errors() {
        assert_eq!(decode(&[0x9F]), Err(TlvError::Truncated { offset: 1 }));
        assert_eq!(
            decode(&[0x9F, 0x26]),
            Err(TlvError::Truncated { offset: 2 })
        );
        assert_eq!(
            decode(&[0x95, 0x05, 0, 0]),
            Err(TlvError::Truncated { offset: 0 })
        );
        assert_eq!(
            decode(&[0x95, 0x80]),
            Err(TlvError::BadLength { offset: 1 })
        );
        assert_eq!(
            decode(&[0x95, 0x84, 0, 0, 0, 1, 0]),
            Err(TlvError::BadLength { offset: 1 })
        );
        assert_eq!(
            decode(&[0x95, 0x82, 0x01]),
            Err(TlvError::Truncated { offset: 1 })
        );
        assert_eq!(
            decode(&[0x00, 0x01, 0x00]),
            Err(TlvError::BadTag { offset: 0 })
        );
        assert_eq!(
            decode(&[0x9F, 0x80, 0x01, 0x01, 0x00]),
            Err(TlvError::BadTag { offset: 0 })
        );
        assert_eq!(
            decode(&[0x9F, 0x81, 0x81, 0x81, 0x01, 0x00]),
            Err(TlvError::BadTag { offset: 0 })
        );
        // Trailing garbage after a good item.
        assert_eq!(
            decode(&[0x9C, 0x01, 0x00, 0x5F]),
            Err(TlvError::Truncated { offset: 4 })
        );
        // Error inside a constructed value carries the absolute offset.
        assert_eq!(
            decode(&[0x70, 0x03, 0x95, 0x05, 0x00]),
            Err(TlvError::Truncated { offset: 2 })
        );
        // Depth limit.
        let mut nested = vec![0x95, 0x00];
        for _ in 0..=MAX_DEPTH {
            let mut outer = vec![0x70, nested.len() as u8];
            outer.extend_from_slice(&nested);
            nested = outer;
        }
        assert_eq!(decode(&nested), Err(TlvError::TooDeep));
        assert!(decode(&nested[2..]).is_ok());
    }

    #[test]
    fn debug_redacts_pan() {
        let t = Tlv::primitive(0x5A, hex::decode("6225880123456789").unwrap());
        let d = format!("{t:?}");
        assert!(!d.contains("6225880123456789"), "{d}");
    }

    #[test]
    fn ascii59_round_trip_and_errors() {
        let v = ascii59::decode("A3018134567890123456789").unwrap();
        assert_eq!(
            v,
            vec![("A3".to_string(), "134567890123456789".to_string())]
        );
        let s = ascii59::encode(&[("A3", "134567890123456789"), ("B1", "")]).unwrap();
        assert_eq!(s, "A3018134567890123456789B1000");
        assert_eq!(ascii59::decode(&s).unwrap().len(), 2);
        assert_eq!(
            ascii59::decode("A301813456"),
            Err(TlvError::Truncated { offset: 5 })
        );
        assert_eq!(
            ascii59::decode("A30"),
            Err(TlvError::Truncated { offset: 2 })
        );
        assert_eq!(ascii59::decode("A"), Err(TlvError::Truncated { offset: 0 }));
        assert_eq!(
            ascii59::decode("A30x1"),
            Err(TlvError::BadLength { offset: 2 })
        );
        assert_eq!(
            ascii59::decode("!3001x"),
            Err(TlvError::BadTag { offset: 0 })
        );
        assert_eq!(
            ascii59::decode("A3002é"),
            Err(TlvError::BadValue { offset: 5 })
        );
        assert_eq!(
            ascii59::encode(&[("A", "x")]),
            Err(TlvError::BadTag { offset: 0 })
        );
        let long = "1".repeat(1000);
        assert_eq!(
            ascii59::encode(&[("A3", &long)]),
            Err(TlvError::BadLength { offset: 2 })
        );
    }

    fn arb_tag(constructed: bool) -> impl Strategy<Value = u32> {
        let c = if constructed { 0x20u32 } else { 0 };
        prop_oneof![
            // one byte, low bits not 11111
            (0u32..0x1F, 0u32..4)
                .prop_map(move |(low, class)| (class << 6) | c | low)
                .prop_filter("nonzero", |t| *t != 0),
            // two bytes
            (0u32..4, 1u32..0x80).prop_map(move |(class, b)| (((class << 6) | c | 0x1F) << 8) | b),
            // three bytes
            (0u32..4, 1u32..0x80, 0u32..0x80).prop_map(move |(class, b, d)| (((class << 6)
                | c
                | 0x1F)
                << 16)
                | ((b | 0x80) << 8)
                | d),
        ]
    }

    fn arb_tlv() -> impl Strategy<Value = Tlv> {
        let leaf = (
            arb_tag(false),
            proptest::collection::vec(any::<u8>(), 0..300),
        )
            .prop_map(|(t, v)| Tlv::primitive(t, v));
        leaf.prop_recursive(4, 32, 4, |inner| {
            (arb_tag(true), proptest::collection::vec(inner, 0..4))
                .prop_map(|(t, c)| Tlv::constructed(t, c))
        })
    }

    proptest! {
        #[test]
        fn round_trip(items in proptest::collection::vec(arb_tlv(), 0..5)) {
            let enc = encode(&items);
            prop_assert_eq!(decode(&enc).unwrap(), items);
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(items) = decode(&data) {
                // Whatever decodes re-encodes to something that decodes to the same tree.
                prop_assert_eq!(decode(&encode(&items)).unwrap(), items);
            }
        }

        #[test]
        fn ascii59_never_panics(s in "\\PC{0,40}") {
            let _ = ascii59::decode(&s);
        }

        #[test]
        fn ascii59_round_trip(items in proptest::collection::vec(("[A-Z0-9]{2}", "[ -~]{0,40}"), 0..5)) {
            let refs: Vec<(&str, &str)> = items.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            let s = ascii59::encode(&refs).unwrap();
            let back = ascii59::decode(&s).unwrap();
            prop_assert_eq!(back, items);
        }
    }
}
