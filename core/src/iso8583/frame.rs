//! Whole frames: LEN(2) TPDU(5) HEADER(6) BODY.
use super::codec::{decode_body_into, encode_body_into, max_body_len, FamilyOf};
use super::{CodecError, CodecErrorKind, Message, Mti};
use crate::crypto::KeyFamily;
use zeroize::Zeroize;

/// Largest frame, length prefix included (docs/PROTOCOL.md §1: "at most 2,048 bytes in all").
pub const MAX_FRAME: usize = 2048;
/// Bytes before the body: length prefix, TPDU, header.
pub const BODY_OFFSET: usize = 13;

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

/// Debug shows the masked message only.
impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frame")
            .field("tpdu", &self.tpdu)
            .field("header", &self.header)
            .field("message", &self.message)
            .finish()
    }
}

fn too_large(len: usize) -> CodecError {
    CodecError::new(None, CodecErrorKind::FrameTooLarge(len))
}

/// Write prefix placeholder, TPDU and header; the body follows.
fn encode_head(frame: &Frame, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let h = &frame.header;
    if h.status > 0x0F || h.processing > 0x0F {
        return Err(CodecError::new(None, CodecErrorKind::BadValue));
    }
    let t = &frame.tpdu.0;
    let r = &h.reserved;
    out.extend_from_slice(&[
        0,
        0,
        t[0],
        t[1],
        t[2],
        t[3],
        t[4],
        h.app_type,
        h.version,
        h.status << 4 | h.processing,
        r[0],
        r[1],
        r[2],
    ]);
    Ok(())
}

/// Fill in the length prefix, or refuse an oversized frame (wiping it: it may hold a packed PAN).
fn finish_prefix(out: &mut [u8]) -> Result<(), CodecError> {
    if out.len() > MAX_FRAME {
        let len = out.len();
        out.zeroize();
        return Err(too_large(len));
    }
    let n = (out.len() - 2) as u16;
    out[..2].copy_from_slice(&n.to_be_bytes());
    Ok(())
}

/// Encode with the 2-byte length prefix; rejects frames over MAX_FRAME.
pub fn encode_frame(frame: &Frame) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(BODY_OFFSET + max_body_len(&frame.message));
    encode_head(frame, &mut out)?;
    encode_body_into(&frame.message, &mut out, false)?;
    finish_prefix(&mut out)?;
    Ok(out)
}

/// Encode a frame carrying a MAC: bit 64 is set with an 8-byte zero placeholder (any field 64 in the
/// message is ignored), `mac` is computed over `mac_span` of the result and written into the last 8 bytes.
pub fn encode_frame_with_mac<E, F>(frame: &Frame, mac: F) -> Result<Vec<u8>, E>
where
    E: From<CodecError>,
    F: FnOnce(&[u8]) -> Result<[u8; 8], E>,
{
    let mut out = Vec::with_capacity(BODY_OFFSET + max_body_len(&frame.message));
    encode_head(frame, &mut out)?;
    encode_body_into(&frame.message, &mut out, true)?;
    finish_prefix(&mut out)?;
    let end = out.len() - 8;
    match mac(&out[BODY_OFFSET..end]) {
        Ok(m) => {
            out[end..].copy_from_slice(&m);
            Ok(out)
        }
        Err(e) => {
            out.zeroize();
            Err(e)
        }
    }
}

/// The body length announced by a 2-byte length prefix (the bytes that follow it).
/// A transport should refuse values above `MAX_FRAME - 2` before reading (see `check_frame_len`).
#[inline]
pub fn frame_len(prefix: [u8; 2]) -> usize {
    u16::from_be_bytes(prefix) as usize
}

/// `frame_len`, refusing what cannot be a valid frame (over MAX_FRAME, or too short for TPDU + header).
pub fn check_frame_len(prefix: [u8; 2]) -> Result<usize, CodecError> {
    let n = frame_len(prefix);
    if n + 2 > MAX_FRAME {
        return Err(too_large(n + 2));
    }
    if n < BODY_OFFSET - 2 {
        return Err(CodecError::new(None, CodecErrorKind::Truncated));
    }
    Ok(n)
}

/// Decode a whole frame including its 2-byte length prefix (must match exactly). Field 52, if present, is
/// the TDES family's 8 bytes.
pub fn decode_frame(data: &[u8]) -> Result<Frame, CodecError> {
    decode_frame_for(data, &|_| KeyFamily::Tdes)
}

/// [`decode_frame`] with field 52's length taken from the family of the message's terminal (its field 41):
/// how a host that serves both families parses requests (docs/PROTOCOL.md §11).
pub fn decode_frame_for(data: &[u8], family_of: FamilyOf<'_>) -> Result<Frame, CodecError> {
    if data.len() > MAX_FRAME {
        return Err(too_large(data.len()));
    }
    if data.len() < BODY_OFFSET {
        return Err(CodecError::new(None, CodecErrorKind::Truncated));
    }
    let declared = frame_len([data[0], data[1]]);
    let actual = data.len() - 2;
    if declared > actual {
        return Err(CodecError::new(None, CodecErrorKind::Truncated));
    }
    if declared < actual {
        return Err(CodecError::new(None, CodecErrorKind::TrailingBytes));
    }
    let mut tpdu = [0u8; 5];
    tpdu.copy_from_slice(&data[2..7]);
    let header = Header {
        app_type: data[7],
        version: data[8],
        status: data[9] >> 4,
        processing: data[9] & 0x0F,
        reserved: [data[10], data[11], data[12]],
    };
    let mut frame = Frame {
        tpdu: Tpdu(tpdu),
        header,
        message: Message::new(Mti(0)),
    };
    decode_body_into(&data[BODY_OFFSET..], &mut frame.message, family_of)?;
    Ok(frame)
}

/// The MAC'd span of an encoded frame (with length prefix): bytes 13 .. len-8 (MTI up to field 64).
/// None when the frame is too short to hold MTI, bitmap and MAC, or bit 64 is not set.
pub fn mac_span(frame: &[u8]) -> Option<&[u8]> {
    if frame.len() < BODY_OFFSET + 10 + 8 {
        return None;
    }
    // Bitmap byte 8 (frame byte 22), least significant bit = field 64.
    if frame[BODY_OFFSET + 9] & 0x01 == 0 {
        return None;
    }
    Some(&frame[BODY_OFFSET..frame.len() - 8])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iso8583::Mti;

    fn sample() -> Frame {
        let mut m = Message::new(Mti(200));
        m.set_str(3, "000000")
            .set_str(11, "000002")
            .set_str(41, "12345678");
        Frame {
            tpdu: Tpdu([0x60, 0, 3, 0, 0]),
            header: Header {
                processing: 3,
                ..Header::default()
            },
            message: m,
        }
    }

    #[test]
    fn round_trip_and_header() {
        let f = sample();
        let b = encode_frame(&f).expect("encode");
        assert_eq!(frame_len([b[0], b[1]]), b.len() - 2);
        assert_eq!(&b[2..13], &[0x60, 0, 3, 0, 0, 0x60, 0x31, 0x03, 0, 0, 0]);
        assert_eq!(decode_frame(&b).expect("decode"), f);
        assert_eq!(mac_span(&b), None);
    }

    #[test]
    fn length_must_match() {
        let b = encode_frame(&sample()).expect("encode");
        assert_eq!(
            decode_frame(&b[..b.len() - 1]).map_err(|e| e.kind),
            Err(CodecErrorKind::Truncated)
        );
        let mut longer = b.clone();
        longer.push(0);
        assert_eq!(
            decode_frame(&longer).map_err(|e| e.kind),
            Err(CodecErrorKind::TrailingBytes)
        );
        assert_eq!(
            decode_frame(&b[..5]).map_err(|e| e.kind),
            Err(CodecErrorKind::Truncated)
        );
    }

    #[test]
    fn max_frame_both_ways() {
        let mut f = sample();
        f.message
            .set(62, vec![0; 512])
            .set_str(59, &"9".repeat(999))
            .set_str(63, &"x".repeat(163));
        f.message
            .set(55, vec![0; 255])
            .set_str(48, &"1".repeat(322));
        let err = encode_frame(&f).expect_err("too large");
        assert!(matches!(err.kind, CodecErrorKind::FrameTooLarge(n) if n > MAX_FRAME));
        let big = vec![0u8; MAX_FRAME + 1];
        assert_eq!(
            decode_frame(&big).map_err(|e| e.kind),
            Err(CodecErrorKind::FrameTooLarge(MAX_FRAME + 1))
        );
        assert!(matches!(
            check_frame_len([0x08, 0x00]),
            Err(CodecError {
                kind: CodecErrorKind::FrameTooLarge(_),
                ..
            })
        ));
        assert_eq!(check_frame_len([0x07, 0xFE]), Ok(2046));
    }

    #[test]
    fn with_mac_sets_bit_64_and_fills_span() {
        let f = sample();
        let b = encode_frame_with_mac::<CodecError, _>(&f, |span| {
            let mut x = [0u8; 8];
            for (i, c) in span.iter().enumerate() {
                x[i % 8] ^= c;
            }
            Ok(x)
        })
        .expect("encode");
        let span = mac_span(&b).expect("bit 64 set");
        let mut x = [0u8; 8];
        for (i, c) in span.iter().enumerate() {
            x[i % 8] ^= c;
        }
        assert_eq!(&b[b.len() - 8..], &x);
        let d = decode_frame(&b).expect("decode");
        assert_eq!(d.message.get(64), Some(&x[..]));
        // The span covers MTI .. the byte before field 64, bitmap with bit 64 set.
        assert_eq!(span.len(), b.len() - 8 - 13);
        assert_eq!(span[9] & 1, 1);
    }

    #[test]
    fn mac_error_passes_through() {
        let r: Result<Vec<u8>, crate::Error> =
            encode_frame_with_mac(&sample(), |_| Err(crate::Error::internal("no MAK")));
        assert!(r.is_err());
    }
}
