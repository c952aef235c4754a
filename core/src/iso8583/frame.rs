//! Whole frames: LEN(2) TPDU(5) HEADER(6) BODY.
use super::codec::{decode_body_into, encode_body_into, max_body_len, FamilyOf};
use super::profile::{Codec, CUP_CODEC_VALUE};
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

/// How the length prefix of a frame is written: `bytes` of binary (big-endian), BCD or ASCII
/// digits, counting the bytes that follow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LengthPrefix {
    Binary(u8),
    Bcd(u8),
    Ascii(u8),
}

impl LengthPrefix {
    pub fn bytes(self) -> usize {
        match self {
            LengthPrefix::Binary(n) | LengthPrefix::Bcd(n) | LengthPrefix::Ascii(n) => n as usize,
        }
    }

    /// Write `len` into `out` (exactly `bytes()` long); None when it does not fit.
    pub fn write(self, len: usize, out: &mut [u8]) -> Option<()> {
        match self {
            LengthPrefix::Binary(_) => {
                let be = (len as u64).to_be_bytes();
                let nb = out.len();
                if nb < 8 && len >> (8 * nb) != 0 {
                    return None;
                }
                out.copy_from_slice(&be[8 - nb..]);
            }
            LengthPrefix::Bcd(_) => {
                let mut v = len;
                for b in out.iter_mut().rev() {
                    *b = (((v / 10 % 10) << 4) | (v % 10)) as u8;
                    v /= 100;
                }
                if v != 0 {
                    return None;
                }
            }
            LengthPrefix::Ascii(_) => {
                let mut v = len;
                for b in out.iter_mut().rev() {
                    *b = b'0' + (v % 10) as u8;
                    v /= 10;
                }
                if v != 0 {
                    return None;
                }
            }
        }
        Some(())
    }

    /// The length a prefix announces; None when its bytes are not of its encoding.
    pub fn read(self, prefix: &[u8]) -> Option<usize> {
        match self {
            LengthPrefix::Binary(_) => Some(prefix.iter().fold(0, |a, &b| a << 8 | b as usize)),
            LengthPrefix::Bcd(_) => prefix.iter().try_fold(0, |a, &b| {
                let (h, l) = (b >> 4, b & 0x0F);
                (h <= 9 && l <= 9).then_some(a * 100 + (h * 10 + l) as usize)
            }),
            LengthPrefix::Ascii(_) => prefix.iter().try_fold(0, |a, &b| {
                b.is_ascii_digit().then_some(a * 10 + (b - b'0') as usize)
            }),
        }
    }
}

/// Which bytes the MAC covers (the MAB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mab {
    /// MTI up to the byte before field 64 (docs/PROTOCOL.md §7.1).
    Body,
    /// The header (when the profile has one), then the body as above.
    HeaderAndBody,
}

/// The frame layout of a profile: length prefix, TPDU, header, and the body codec.
#[derive(Debug, Clone)]
pub struct Wire {
    pub prefix: LengthPrefix,
    /// A 5-byte TPDU follows the prefix.
    pub tpdu: bool,
    /// A 6-byte header follows the TPDU (docs/PROTOCOL.md §1.4).
    pub header: bool,
    pub mab: Mab,
    pub codec: Codec,
}

/// The built-in CUP frame layout (docs/PROTOCOL.md §1).
pub static CUP_WIRE: Wire = Wire {
    prefix: LengthPrefix::Binary(2),
    tpdu: true,
    header: true,
    mab: Mab::Body,
    codec: CUP_CODEC_VALUE,
};

impl Wire {
    /// Bytes before the body.
    #[inline]
    pub fn body_offset(&self) -> usize {
        self.prefix.bytes() + if self.tpdu { 5 } else { 0 } + if self.header { 6 } else { 0 }
    }

    /// Write prefix placeholder, TPDU and header; the body follows.
    fn encode_head(&self, frame: &Frame, out: &mut Vec<u8>) -> Result<(), CodecError> {
        let h = &frame.header;
        if h.status > 0x0F || h.processing > 0x0F {
            return Err(CodecError::new(None, CodecErrorKind::BadValue));
        }
        let t = &frame.tpdu.0;
        let r = &h.reserved;
        if self.prefix == LengthPrefix::Binary(2) && self.tpdu && self.header {
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
            return Ok(());
        }
        out.resize(out.len() + self.prefix.bytes(), 0);
        if self.tpdu {
            out.extend_from_slice(t);
        }
        if self.header {
            out.extend_from_slice(&[
                h.app_type,
                h.version,
                h.status << 4 | h.processing,
                r[0],
                r[1],
                r[2],
            ]);
        }
        Ok(())
    }

    /// Fill in the length prefix, or refuse an oversized frame (wiping it: it may hold a packed PAN).
    fn finish_prefix(&self, out: &mut [u8]) -> Result<(), CodecError> {
        let nb = self.prefix.bytes();
        if out.len() > MAX_FRAME {
            let len = out.len();
            out.zeroize();
            return Err(too_large(len));
        }
        let n = out.len() - nb;
        if self.prefix.write(n, &mut out[..nb]).is_none() {
            let len = out.len();
            out.zeroize();
            return Err(too_large(len));
        }
        Ok(())
    }

    /// Encode with the length prefix; rejects frames over MAX_FRAME.
    pub fn encode_frame(&self, frame: &Frame) -> Result<Vec<u8>, CodecError> {
        let mut out =
            Vec::with_capacity(self.body_offset() + max_body_len(&self.codec, &frame.message));
        self.encode_head(frame, &mut out)?;
        encode_body_into(&self.codec, &frame.message, &mut out, false)?;
        self.finish_prefix(&mut out)?;
        Ok(out)
    }

    /// Encode a frame carrying a MAC: bit 64 is set with an 8-byte zero placeholder (any field 64 in
    /// the message is ignored), `mac` is computed over the MAB of the result and written into the
    /// last 8 bytes.
    pub fn encode_frame_with_mac<E, F>(&self, frame: &Frame, mac: F) -> Result<Vec<u8>, E>
    where
        E: From<CodecError>,
        F: FnOnce(&[u8]) -> Result<[u8; 8], E>,
    {
        let mut out =
            Vec::with_capacity(self.body_offset() + max_body_len(&self.codec, &frame.message));
        self.encode_head(frame, &mut out)?;
        encode_body_into(&self.codec, &frame.message, &mut out, true)?;
        self.finish_prefix(&mut out)?;
        let end = out.len() - 8;
        let start = self.mab_start();
        match mac(&out[start..end]) {
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

    fn mab_start(&self) -> usize {
        match self.mab {
            Mab::HeaderAndBody if self.header => self.body_offset() - 6,
            _ => self.body_offset(),
        }
    }

    /// The body length a length prefix announces, refusing what cannot be a valid frame (over
    /// MAX_FRAME, too short for TPDU + header, or not in the prefix's encoding).
    pub fn check_frame_len(&self, prefix: &[u8]) -> Result<usize, CodecError> {
        let n = self
            .prefix
            .read(prefix)
            .ok_or_else(|| CodecError::new(None, CodecErrorKind::BadLength))?;
        if n + prefix.len() > MAX_FRAME {
            return Err(too_large(n + prefix.len()));
        }
        if n < self.body_offset() - prefix.len() {
            return Err(CodecError::new(None, CodecErrorKind::Truncated));
        }
        Ok(n)
    }

    /// Decode a whole frame including its length prefix (must match exactly). Field 52, if
    /// present, is the TDES family's.
    pub fn decode_frame(&self, data: &[u8]) -> Result<Frame, CodecError> {
        self.decode_frame_for(data, &|_| KeyFamily::Tdes)
    }

    /// [`Wire::decode_frame`] with field 52's length taken from the family of the message's terminal
    /// (its field 41): twice the table's in the SM family (docs/PROTOCOL.md §11).
    pub fn decode_frame_for(
        &self,
        data: &[u8],
        family_of: FamilyOf<'_>,
    ) -> Result<Frame, CodecError> {
        if data.len() > MAX_FRAME {
            return Err(too_large(data.len()));
        }
        let off = self.body_offset();
        if data.len() < off {
            return Err(CodecError::new(None, CodecErrorKind::Truncated));
        }
        let nb = self.prefix.bytes();
        let declared = self
            .prefix
            .read(&data[..nb])
            .ok_or_else(|| CodecError::new(None, CodecErrorKind::BadLength))?;
        let actual = data.len() - nb;
        if declared > actual {
            return Err(CodecError::new(None, CodecErrorKind::Truncated));
        }
        if declared < actual {
            return Err(CodecError::new(None, CodecErrorKind::TrailingBytes));
        }
        let mut tpdu = [0u8; 5];
        let mut p = nb;
        if self.tpdu {
            tpdu.copy_from_slice(&data[p..p + 5]);
            p += 5;
        }
        let header = if self.header {
            Header {
                app_type: data[p],
                version: data[p + 1],
                status: data[p + 2] >> 4,
                processing: data[p + 2] & 0x0F,
                reserved: [data[p + 3], data[p + 4], data[p + 5]],
            }
        } else {
            Header::default()
        };
        let mut frame = Frame {
            tpdu: Tpdu(tpdu),
            header,
            message: Message::new(Mti(0)),
        };
        decode_body_into(&self.codec, &data[off..], &mut frame.message, family_of)?;
        Ok(frame)
    }

    /// The MAB of an encoded frame (with length prefix): from the start of the body (or of the
    /// header, `Mab::HeaderAndBody`) to the byte before field 64. None when the frame is too short
    /// to hold MTI, bitmap and MAC, or bit 64 is not set.
    pub fn mac_span<'a>(&self, frame: &'a [u8]) -> Option<&'a [u8]> {
        let off = self.body_offset();
        let head = self.codec.head_len();
        if frame.len() < off + head + 8 {
            return None;
        }
        let mti = if self.codec.ascii_mti { 4 } else { 2 };
        let last = if self.codec.hex_bitmap {
            (frame[off + mti + 15] as char).to_digit(16)? as u8
        } else {
            frame[off + mti + 7]
        };
        if last & 0x01 == 0 {
            return None;
        }
        Some(&frame[self.mab_start()..frame.len() - 8])
    }
}

/// Encode with the 2-byte length prefix (the built-in CUP profile); rejects frames over MAX_FRAME.
pub fn encode_frame(frame: &Frame) -> Result<Vec<u8>, CodecError> {
    CUP_WIRE.encode_frame(frame)
}

/// Encode a frame carrying a MAC (the built-in CUP profile): bit 64 is set with an 8-byte zero
/// placeholder (any field 64 in the message is ignored), `mac` is computed over `mac_span` of the
/// result and written into the last 8 bytes.
pub fn encode_frame_with_mac<E, F>(frame: &Frame, mac: F) -> Result<Vec<u8>, E>
where
    E: From<CodecError>,
    F: FnOnce(&[u8]) -> Result<[u8; 8], E>,
{
    CUP_WIRE.encode_frame_with_mac(frame, mac)
}

/// The body length announced by a 2-byte length prefix (the bytes that follow it).
/// A transport should refuse values above `MAX_FRAME - 2` before reading (see `check_frame_len`).
#[inline]
pub fn frame_len(prefix: [u8; 2]) -> usize {
    u16::from_be_bytes(prefix) as usize
}

/// `frame_len`, refusing what cannot be a valid frame (over MAX_FRAME, or too short for TPDU + header).
pub fn check_frame_len(prefix: [u8; 2]) -> Result<usize, CodecError> {
    CUP_WIRE.check_frame_len(&prefix)
}

/// Decode a whole frame including its 2-byte length prefix (the built-in CUP profile). Field 52, if
/// present, is the TDES family's 8 bytes.
pub fn decode_frame(data: &[u8]) -> Result<Frame, CodecError> {
    CUP_WIRE.decode_frame(data)
}

/// [`decode_frame`] with field 52's length taken from the family of the message's terminal (its field 41):
/// how a host that serves both families parses requests (docs/PROTOCOL.md §11).
pub fn decode_frame_for(data: &[u8], family_of: FamilyOf<'_>) -> Result<Frame, CodecError> {
    CUP_WIRE.decode_frame_for(data, family_of)
}

/// The MAC'd span of an encoded frame (with length prefix): bytes 13 .. len-8 (MTI up to field 64).
/// None when the frame is too short to hold MTI, bitmap and MAC, or bit 64 is not set.
pub fn mac_span(frame: &[u8]) -> Option<&[u8]> {
    CUP_WIRE.mac_span(frame)
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
