//! A message: MTI + fields. Text fields (n, z, an, ans) hold ASCII (`z` uses 'D' for the separator);
//! b fields hold raw bytes. Values are zeroized on drop (they carry PANs and tracks).
//!
//! Storage is one byte buffer plus a span per field (fields 1..=64), so decoding a message costs one
//! allocation instead of one per field. Replaced values stay in the buffer (zeroized) until the
//! message is dropped; growing the buffer zeroizes the old allocation.
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

#[derive(Clone)]
pub struct Message {
    pub mti: Mti,
    /// Fields present, laid out exactly like the ISO primary bitmap.
    present: u64,
    /// (start, end) of each field's value in `buf`, indexed by field number.
    spans: [(u32, u32); 65],
    buf: Vec<u8>,
    /// First field number outside 1..=64 that `set` was asked to store; encoding refuses the message.
    out_of_range: Option<u8>,
}

impl Message {
    pub fn new(mti: Mti) -> Self {
        Message {
            mti,
            present: 0,
            spans: [(0, 0); 65],
            buf: Vec::new(),
            out_of_range: None,
        }
    }

    pub(super) fn with_capacity(mti: Mti, cap: usize) -> Self {
        Message {
            mti,
            present: 0,
            spans: [(0, 0); 65],
            buf: Vec::with_capacity(cap),
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

    fn set_bytes(&mut self, field: u8, value: &[u8]) {
        if field == 0 || field > 64 {
            self.out_of_range.get_or_insert(field);
            return;
        }
        self.wipe_old(field);
        self.reserve(value.len());
        let start = self.buf.len();
        self.buf.extend_from_slice(value);
        if matches!(profile::field(field).map(|d| d.format), Some(Format::Z)) {
            for b in &mut self.buf[start..] {
                if *b == b'=' {
                    *b = b'D';
                }
            }
        }
        self.commit(field, start);
    }

    /// Zeroize the previous value of `field` (it stays in the buffer as zeros).
    fn wipe_old(&mut self, field: u8) {
        if self.present & bit(field) != 0 {
            let (s, e) = self.spans[field as usize];
            self.buf[s as usize..e as usize].zeroize();
        }
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

    /// Buffer the codec writes a value into (after `reserve`), then `commit`s.
    #[inline]
    pub(super) fn buf_mut(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Record bytes `start..` of the buffer as the value of `field` (1..=64).
    #[inline]
    pub(super) fn commit(&mut self, field: u8, start: usize) {
        self.spans[field as usize] = (start as u32, self.buf.len() as u32);
        self.present |= bit(field);
    }

    pub fn get(&self, field: u8) -> Option<&[u8]> {
        if field == 0 || field > 64 || self.present & bit(field) == 0 {
            return None;
        }
        let (s, e) = self.spans[field as usize];
        Some(&self.buf[s as usize..e as usize])
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
        self.wipe_old(field);
        self.present &= !bit(field);
        Some(v)
    }

    pub fn has(&self, field: u8) -> bool {
        self.get(field).is_some()
    }

    pub fn fields(&self) -> impl Iterator<Item = (u8, &[u8])> {
        let mut rest = self.present;
        std::iter::from_fn(move || {
            if rest == 0 {
                return None;
            }
            let n = rest.leading_zeros() as u8 + 1;
            rest &= !bit(n);
            let (s, e) = self.spans[n as usize];
            Some((n, &self.buf[s as usize..e as usize]))
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
        // Only bytes below len ever held a value (the buffer never shrinks; growth zeroizes).
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
    fn debug_is_masked() {
        let mut m = Message::new(Mti(200));
        m.set_str(2, "6225880123456789")
            .set_str(35, "6225880123456789D3012101123456789");
        let d = format!("{m:?}");
        assert!(d.contains("622588******6789"), "{d}");
        assert!(!d.contains("6225880123456789"), "{d}");
    }
}
