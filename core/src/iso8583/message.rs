//! A message: MTI + fields. Text fields (n, z, an, ans) hold ASCII (`z` uses 'D' for the separator);
//! b fields hold raw bytes. Values are zeroized on drop (they carry PANs and tracks).
//!
//! Storage is one byte buffer: a header of 65 end offsets (u32 LE, by field number), then the
//! values in field order, back to back; a field starts where the previous present field ends.
//! Decoding therefore costs one allocation and the message itself is a few words (cheap to move). Replacing or removing a value
//! shifts the values behind it and zeroizes the bytes it frees; growing the buffer zeroizes the old
//! allocation, so no copy of a value outlives the message.
use super::profile::{self, Format};
use zeroize::Zeroize;

/// Message type indicator as its 4 decimal digits (0200 -> Mti(200)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mti(pub u16);
impl Mti {
    pub fn response(self) -> Mti {
        Mti(self.0 + 10)
    }
}
impl std::fmt::Display for Mti {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}", self.0)
    }
}

/// Bit of `present` for field `n` (1..=64): the ISO bitmap, big-endian (field 1 = MSB).
#[inline]
pub(super) const fn bit(n: u8) -> u64 {
    1u64 << (64 - n as u32)
}

/// Bytes of the buffer header: the end offset (u32 LE) of each field 0..=64. Values follow.
pub(super) const HDR: usize = 65 * 4;

/// Bits of the fields numbered below `n` (1..=64).
#[inline]
const fn below(n: u8) -> u64 {
    !(bit(n).wrapping_shl(1).wrapping_sub(1))
}

#[derive(Clone)]
pub struct Message {
    pub mti: Mti,
    /// Fields present, laid out exactly like the ISO primary bitmap.
    pub(super) present: u64,
    /// Empty, or `HDR` bytes of end offsets (stale for absent fields) then the values in field
    /// order, back to back; nothing else below `len`. Zeroized on drop.
    pub(super) buf: Vec<u8>,
    /// First field number outside 1..=64 that `set` was asked to store; encoding refuses the message.
    out_of_range: Option<u8>,
}

impl Message {
    pub fn new(mti: Mti) -> Self {
        Message {
            mti,
            present: 0,
            buf: Vec::new(),
            out_of_range: None,
        }
    }

    /// Store a value. For `z` fields an `=` separator is normalised to `D`. A field number outside
    /// 1..=64 cannot be stored: it is remembered and makes `encode_body` fail naming that field.
    pub fn set(&mut self, field: u8, value: impl Into<Vec<u8>>) -> &mut Self {
        let mut v: Vec<u8> = value.into();
        // The caller's Vec is wiped once copied in.
        self.set_bytes(field, &v);
        v.zeroize();
        self
    }

    pub fn set_str(&mut self, field: u8, value: &str) -> &mut Self {
        self.set_bytes(field, value.as_bytes());
        self
    }

    /// End offset of field `n`'s value (meaningful when present).
    #[inline]
    pub(super) fn end(&self, n: usize) -> usize {
        match self.buf.get(4 * n..4 * n + 4) {
            Some(&[a, b, c, d]) => u32::from_le_bytes([a, b, c, d]) as usize,
            _ => HDR,
        }
    }

    /// Record the end offset of field `n` (the header exists).
    #[inline]
    pub(super) fn set_end(&mut self, n: usize, end: usize) {
        self.buf[4 * n..4 * n + 4].copy_from_slice(&(end as u32).to_le_bytes());
    }

    /// Where `field`'s value starts: the end of the previous present field, or `HDR`.
    #[inline]
    fn start(&self, field: u8) -> usize {
        let lower = self.present & below(field);
        if lower == 0 {
            HDR
        } else {
            self.end(64 - lower.trailing_zeros() as usize)
        }
    }

    /// Current (start, end) of `field`'s slot: empty at its position when absent.
    fn slot(&self, field: u8) -> (usize, usize) {
        let s = self.start(field);
        if self.present & bit(field) != 0 {
            (s, self.end(field as usize))
        } else {
            (s, s)
        }
    }

    /// Replace bytes `s..e` of the buffer by `new_len` bytes (returned for the caller to fill),
    /// shifting what follows and updating the ends of the fields after `field`. Bytes freed at the
    /// end are zeroized before the buffer is cut; growth never leaves a copy behind (`reserve`).
    fn resize_slot(&mut self, field: u8, s: usize, e: usize, new_len: usize) -> &mut [u8] {
        let old_len = e - s;
        let len = self.buf.len();
        if new_len > old_len {
            let d = new_len - old_len;
            self.reserve(d);
            self.buf.resize(len + d, 0);
            self.buf.copy_within(e..len, e + d);
        } else if new_len < old_len {
            let d = old_len - new_len;
            self.buf.copy_within(e..len, e - d);
            self.buf[len - d..].zeroize();
            self.buf.truncate(len - d);
        }
        let mut after = self.present & !below(field) & !bit(field);
        while after != 0 {
            let n = 64 - after.trailing_zeros() as usize;
            after &= after - 1;
            let moved = self.end(n) + new_len - old_len;
            self.set_end(n, moved);
        }
        self.set_end(field as usize, s + new_len);
        &mut self.buf[s..s + new_len]
    }

    fn set_bytes(&mut self, field: u8, value: &[u8]) {
        if field == 0 || field > 64 {
            self.out_of_range.get_or_insert(field);
            return;
        }
        if self.buf.is_empty() {
            self.reserve(HDR + value.len());
            self.buf.resize(HDR, 0);
        }
        let (s, e) = self.slot(field);
        let z = matches!(profile::field(field).map(|d| d.format), Some(Format::Z));
        let dst = self.resize_slot(field, s, e, value.len());
        dst.copy_from_slice(value);
        if z {
            for b in dst.iter_mut() {
                if *b == b'=' {
                    *b = b'D';
                }
            }
        }
        self.present |= bit(field);
    }

    /// Make room for `extra` bytes without leaving a stale copy of the values behind.
    pub(super) fn reserve(&mut self, extra: usize) {
        if self.buf.capacity() - self.buf.len() < extra {
            let mut grown = Vec::with_capacity(
                (self.buf.len() + extra)
                    .max(self.buf.capacity() * 2)
                    .max(64),
            );
            grown.extend_from_slice(&self.buf);
            let mut old = std::mem::replace(&mut self.buf, grown);
            old.zeroize();
        }
    }

    pub fn get(&self, field: u8) -> Option<&[u8]> {
        if field == 0 || field > 64 || self.present & bit(field) == 0 {
            return None;
        }
        self.buf.get(self.start(field)..self.end(field as usize))
    }

    /// Text field as &str (None if absent or binary/non-UTF-8).
    pub fn get_str(&self, field: u8) -> Option<&str> {
        if matches!(profile::field(field).map(|d| d.format), Some(Format::B)) {
            return None;
        }
        self.get(field).and_then(|v| std::str::from_utf8(v).ok())
    }

    pub fn remove(&mut self, field: u8) -> Option<Vec<u8>> {
        let v = self.get(field)?.to_vec();
        let (s, e) = self.slot(field);
        self.resize_slot(field, s, e, 0);
        self.present &= !bit(field);
        Some(v)
    }

    pub fn has(&self, field: u8) -> bool {
        self.get(field).is_some()
    }

    pub fn fields(&self) -> impl Iterator<Item = (u8, &[u8])> {
        let mut rest = self.present;
        let mut start = HDR;
        std::iter::from_fn(move || {
            if rest == 0 {
                return None;
            }
            let n = rest.leading_zeros() as u8 + 1;
            rest &= !bit(n);
            let end = self.end(n as usize);
            let v = self.buf.get(start..end).unwrap_or(&[]);
            start = end;
            Some((n, v))
        })
    }

    /// The fields present, as the ISO primary bitmap (field 1 = most significant bit).
    #[inline]
    pub fn bitmap(&self) -> u64 {
        self.present
    }

    pub(super) fn out_of_range(&self) -> Option<u8> {
        self.out_of_range
    }
}

impl PartialEq for Message {
    fn eq(&self, other: &Self) -> bool {
        self.mti == other.mti
            && self.present == other.present
            && self.out_of_range == other.out_of_range
            && self.fields().zip(other.fields()).all(|(a, b)| a == b)
    }
}
impl Eq for Message {}

impl Drop for Message {
    fn drop(&mut self) {
        // Only bytes below len hold a value (freed bytes and old allocations were zeroized).
        self.buf.as_mut_slice().zeroize();
    }
}

/// Debug never shows secrets: it is the masked one-line rendering.
impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&super::mask::masked(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_remove_and_order() {
        let mut m = Message::new(Mti(200));
        m.set_str(11, "000001")
            .set_str(2, "6225880123456789")
            .set(64, vec![0u8; 8]);
        m.set_str(35, "6225880123456789=3012101");
        assert_eq!(m.get_str(35), Some("6225880123456789D3012101"));
        assert_eq!(m.get_str(64), None);
        assert_eq!(m.get(64), Some(&[0u8; 8][..]));
        let order: Vec<u8> = m.fields().map(|(n, _)| n).collect();
        assert_eq!(order, vec![2, 11, 35, 64]);
        m.set_str(11, "000002");
        assert_eq!(m.get_str(11), Some("000002"));
        assert_eq!(m.remove(2), Some(b"6225880123456789".to_vec()));
        assert!(!m.has(2));
        assert_eq!(m.remove(2), None);
        assert_eq!(m.bitmap(), bit(11) | bit(35) | bit(64));
    }

    #[test]
    fn equality_ignores_replaced_values() {
        let mut a = Message::new(Mti(800));
        a.set_str(11, "000009").set_str(11, "000001");
        let mut b = Message::new(Mti(800));
        b.set_str(11, "000001");
        assert_eq!(a, b);
        b.set_str(41, "12345678");
        assert_ne!(a, b);
    }

    #[test]
    fn replace_and_remove_keep_values_packed_and_wiped() {
        let mut m = Message::new(Mti(200));
        m.set_str(41, "12345678")
            .set_str(4, "000000001234")
            .set_str(2, "6225880123456789")
            .set_str(63, "CUP");
        // Longer, shorter and removed values in the middle shift what follows.
        m.set_str(4, "1")
            .set_str(2, "62258801234567890123")
            .set_str(11, "000007");
        assert_eq!(m.get_str(2), Some("62258801234567890123"));
        assert_eq!(m.get_str(4), Some("1"));
        assert_eq!(m.get_str(11), Some("000007"));
        assert_eq!(m.get_str(41), Some("12345678"));
        assert_eq!(m.get_str(63), Some("CUP"));
        assert_eq!(m.remove(4), Some(b"1".to_vec()));
        assert_eq!(m.remove(2), Some(b"62258801234567890123".to_vec()));
        assert_eq!(m.get_str(11), Some("000007"));
        assert_eq!(m.get_str(63), Some("CUP"));
        // Only live values remain in the buffer, in field order.
        assert_eq!(&m.buf[HDR..], b"00000712345678CUP");
        let order: Vec<(u8, Vec<u8>)> = m.fields().map(|(n, v)| (n, v.to_vec())).collect();
        assert_eq!(
            order,
            vec![
                (11, b"000007".to_vec()),
                (41, b"12345678".to_vec()),
                (63, b"CUP".to_vec())
            ]
        );
    }

    #[test]
    fn debug_is_masked() {
        let mut m = Message::new(Mti(200));
        m.set_str(2, "6225880123456789")
            .set_str(35, "6225880123456789D3012101123456789");
        let d = format!("{m:?}");
        assert!(d.contains("622588******6789"), "{d}");
        assert!(!d.contains("6225880123456789"), "{d}");
    }
}
