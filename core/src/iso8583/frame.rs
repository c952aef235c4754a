//! Whole frames: LEN(2) TPDU(5) HEADER(6) BODY.
use super::{CodecError, Message};
pub const MAX_FRAME: usize = 2048;
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tpdu(pub [u8; 5]);
impl Tpdu {
    pub fn destination(&self) -> u16 {
        u16::from_be_bytes([self.0[1], self.0[2]])
    }
    pub fn source(&self) -> u16 {
        u16::from_be_bytes([self.0[3], self.0[4]])
    }
    /// The response TPDU: destination and source swapped.
    pub fn swapped(&self) -> Tpdu {
        Tpdu([self.0[0], self.0[3], self.0[4], self.0[1], self.0[2]])
    }
}
/// 6-byte header; `status` and `processing` are the nibbles of byte 3. Other bytes kept as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub app_type: u8,
    pub version: u8,
    pub status: u8,
    pub processing: u8,
    pub reserved: [u8; 3],
}
impl Default for Header {
    fn default() -> Self {
        Header {
            app_type: 0x60,
            version: 0x31,
            status: 0,
            processing: 0,
            reserved: [0; 3],
        }
    }
}
#[derive(Clone, PartialEq, Eq)]
pub struct Frame {
    pub tpdu: Tpdu,
    pub header: Header,
    pub message: Message,
}
/// Encode with the 2-byte length prefix; rejects frames over MAX_FRAME.
pub fn encode_frame(frame: &Frame) -> Result<Vec<u8>, CodecError> {
    todo!()
}
/// Decode a whole frame including its 2-byte length prefix (must match exactly).
pub fn decode_frame(data: &[u8]) -> Result<Frame, CodecError> {
    todo!()
}
/// The MAC'd span of an encoded frame (with length prefix): bytes 13 .. len-8 (MTI up to field 64).
pub fn mac_span(frame: &[u8]) -> Option<&[u8]> {
    todo!()
}
