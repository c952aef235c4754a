//! Small helpers: clock, counters, hex, BCD digits.

use possdk_core::hal::{Clock, DateTime, SystemClock};

/// A calendar instant in the acquirer's local time, China Standard Time (UTC+8) like the terminal's
/// default clock. The civil-date arithmetic is the core's (`hal::DateTime`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now(pub DateTime);

impl Now {
    pub fn current() -> Now {
        Now(SystemClock::default().now())
    }

    /// The local time `secs` after the UNIX epoch, as if the host clock showed it (tests).
    #[cfg(test)]
    pub fn from_unix(secs: u64) -> Now {
        Now(DateTime::from_unix(secs as i64))
    }

    /// hhmmss (field 12).
    pub fn hhmmss(&self) -> String {
        self.0.hhmmss()
    }
    /// MMDD (fields 13, 15).
    pub fn mmdd(&self) -> String {
        self.0.mmdd()
    }
    /// YYMM, to compare with card expiry dates.
    pub fn yymm(&self) -> u32 {
        u32::from(self.0.year % 100) * 100 + u32::from(self.0.month)
    }
    /// YYYYMMDDhhmmss (detail query DF76).
    pub fn stamp(&self) -> String {
        format!(
            "{:04}{:02}{:02}{}",
            self.0.year,
            self.0.month,
            self.0.day,
            self.hhmmss()
        )
    }
}

pub fn hex(bytes: &[u8]) -> String {
    hex::encode_upper(bytes)
}

/// True when `s` is non-empty and all ASCII digits.
pub fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Parse an ASCII digit string as a number (None when empty, non-digit or too long).
pub fn num(s: &str) -> Option<u64> {
    if !digits(s) || s.len() > 18 {
        return None;
    }
    s.parse().ok()
}

/// Upper-case hex of the first 13 bytes (length + TPDU + header) of a frame we could not decode:
/// never the body, which may hold card data.
pub fn frame_head(raw: &[u8]) -> String {
    hex(&raw[..raw.len().min(13)])
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn host_time_formats() {
        // 2026-11-25 18:22:31
        let n = Now::from_unix(1_795_630_951);
        assert_eq!(n.hhmmss(), "182231");
        assert_eq!(n.mmdd(), "1125");
        assert_eq!(n.yymm(), 2611);
        assert_eq!(n.stamp(), "20261125182231");
    }
    #[test]
    fn numbers() {
        assert_eq!(num("000123"), Some(123));
        assert_eq!(num(""), None);
        assert_eq!(num("12a"), None);
    }
}
