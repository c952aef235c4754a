//! Body codec: MTI (BCD) + primary bitmap + fields.
use super::Message;
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
pub fn encode_body(msg: &Message) -> Result<Vec<u8>, CodecError> {
    todo!()
}
pub fn decode_body(data: &[u8]) -> Result<Message, CodecError> {
    todo!()
}
