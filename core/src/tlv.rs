//! BER-TLV (EMV field 55, field 62 parameters). OWNER: crypto helper.
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
    Truncated { offset: usize },
    BadTag { offset: usize },
    BadLength { offset: usize },
    TooDeep,
}

impl Tlv {
    pub fn primitive(tag: u32, value: impl Into<Vec<u8>>) -> Self {
        todo!()
    }
    pub fn constructed(tag: u32, children: Vec<Tlv>) -> Self {
        todo!()
    }
    /// Primitive value bytes (None for constructed).
    pub fn bytes(&self) -> Option<&[u8]> {
        todo!()
    }
    pub fn children(&self) -> &[Tlv] {
        todo!()
    }
}
/// Decode a sequence of TLVs (constructed tags, bit 6 of the first byte, are decoded recursively).
pub fn decode(data: &[u8]) -> Result<Vec<Tlv>, TlvError> {
    todo!()
}
pub fn encode(items: &[Tlv]) -> Vec<u8> {
    todo!()
}
/// First item with `tag` at this level.
pub fn find(items: &[Tlv], tag: u32) -> Option<&Tlv> {
    todo!()
}
/// Shorthand: value bytes of the first primitive `tag` at this level.
pub fn get(items: &[Tlv], tag: u32) -> Option<&[u8]> {
    todo!()
}
