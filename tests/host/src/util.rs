//! Small helpers: clock, counters, hex, BCD digits.

use std::time::{SystemTime, UNIX_EPOCH};

/// A calendar instant (UTC; the simulator's "local" time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    pub year: u32,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl Now {
    pub fn current() -> Now {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Now::from_unix(secs)
    }

    pub fn from_unix(secs: u64) -> Now {
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let y = yoe + era * 400;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = if m <= 2 { y + 1 } else { y };
        Now {
            year: y as u32,
            month: m as u32,
            day: d as u32,
            hour: (rem / 3600) as u32,
            minute: (rem / 60 % 60) as u32,
            second: (rem % 60) as u32,
        }
    }

    /// hhmmss (field 12).
    pub fn hhmmss(&self) -> String {
        format!("{:02}{:02}{:02}", self.hour, self.minute, self.second)
    }
    /// MMDD (fields 13, 15).
    pub fn mmdd(&self) -> String {
        format!("{:02}{:02}", self.month, self.day)
    }
    /// YYMM, to compare with card expiry dates.
    pub fn yymm(&self) -> u32 {
        (self.year % 100) * 100 + self.month
    }
    /// YYYYMMDDhhmmss (detail query DF76).
    pub fn stamp(&self) -> String {
        format!(
            "{:04}{:02}{:02}{}",
            self.year,
            self.month,
            self.day,
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
    fn civil_dates() {
        assert_eq!(
            Now::from_unix(0),
            Now {
                year: 1970,
                month: 1,
                day: 1,
                hour: 0,
                minute: 0,
                second: 0
            }
        );
        // 2026-11-25 18:22:31 UTC
        let n = Now::from_unix(1_795_630_951);
        assert_eq!((n.year, n.month, n.day), (2026, 11, 25));
        assert_eq!(n.hhmmss(), "182231");
        assert_eq!(n.mmdd(), "1125");
        assert_eq!(n.yymm(), 2611);
        assert_eq!(n.stamp(), "20261125182231");
        // leap day
        let l = Now::from_unix(951_782_400); // 2000-02-29
        assert_eq!((l.year, l.month, l.day), (2000, 2, 29));
    }
    #[test]
    fn numbers() {
        assert_eq!(num("000123"), Some(123));
        assert_eq!(num(""), None);
        assert_eq!(num("12a"), None);
    }
}
