//! ISO 8583 (CUP profile, docs/PROTOCOL.md §1-2).
pub mod codec;
pub mod frame;
pub mod mask;
pub mod message;
pub mod profile;

pub use codec::{
    decode_body, decode_body_for, decode_body_with, encode_body, encode_body_with, CodecError,
    CodecErrorKind, FamilyOf,
};
pub use frame::{
    decode_frame, decode_frame_for, encode_frame, mac_span, Frame, Header, LengthPrefix, Mab, Tpdu,
    Wire, CUP_WIRE, MAX_FRAME,
};
pub use message::{Message, Mti};
