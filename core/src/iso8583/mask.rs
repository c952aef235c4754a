//! Masked rendering for logs: PAN 6+4, tracks, PIN block, field 55 and key data hidden.
use super::profile::{self, Format, Length, Secrecy};
use super::Message;
use std::fmt::Write;

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// The stricter of two secrecy choices; two different partial masks (PAN and payment code) hide the field.
fn stricter(a: Secrecy, b: Option<Secrecy>) -> Secrecy {
    match (a, b) {
        (a, None) => a,
        (a, Some(b)) if a == b => a,
        (Secrecy::Clear, Some(b)) => b,
        (a, Some(Secrecy::Clear)) => a,
        _ => Secrecy::Hidden,
    }
}

/// One line: `0200 2=622588******6789 3=000000 35=<hidden 33> 52=<hidden> 55=<hidden 120 bytes> 64=...`.
/// Binary clear fields are upper-case hex; non-printable bytes of text fields show as `.`.
pub fn masked(msg: &Message) -> String {
    masked_with(msg, &[None; 65])
}

/// [`masked`] under an acquirer profile's secrecy column (docs/PROFILES.md "fields"): each field shows as the
/// stricter of the profile's and the built-in table's choice, so a profile can hide more (a private field that
/// carries a secret) but never less (a profile that calls field 35 `clear` still has its tracks hidden).
pub fn masked_with(msg: &Message, declared: &[Option<Secrecy>; 65]) -> String {
    let mut s = String::with_capacity(128);
    let _ = write!(s, "{}", msg.mti);
    for (n, v) in msg.fields() {
        let _ = write!(s, " {n}=");
        let def = profile::field(n);
        let builtin = def.map(|d| d.secrecy).unwrap_or(Secrecy::Hidden);
        let secrecy = stricter(builtin, declared.get(n as usize).copied().flatten());
        let binary = def.map(|d| d.format == Format::B).unwrap_or(true);
        match secrecy {
            Secrecy::Pan => push_masked(&mut s, v, 6, 4),
            Secrecy::PaymentCode => push_payment_codes(&mut s, v),
            Secrecy::Hidden => match def {
                Some(d) if d.format == Format::B && d.length == Length::Fixed => {
                    s.push_str("<hidden>")
                }
                _ if binary => {
                    let _ = write!(s, "<hidden {} bytes>", v.len());
                }
                _ => {
                    let _ = write!(s, "<hidden {}>", v.len());
                }
            },
            Secrecy::Clear if binary => {
                for &b in v {
                    s.push(HEX[(b >> 4) as usize] as char);
                    s.push(HEX[(b & 0x0F) as usize] as char);
                }
            }
            Secrecy::Clear => {
                for &c in v {
                    s.push(if (0x20..0x7F).contains(&c) {
                        c as char
                    } else {
                        '.'
                    });
                }
            }
        }
    }
    s
}

/// `keep_head` and `keep_tail` characters of `value`, `*` between, written straight into `out` (the clear
/// value is never copied). A value too short to keep that many (fewer than head + tail + 1) is all `*`.
fn push_masked(out: &mut String, value: &[u8], keep_head: usize, keep_tail: usize) {
    let n = value.len();
    let show = n > keep_head + keep_tail;
    for (i, &c) in value.iter().enumerate() {
        let keep = show && (i < keep_head || i >= n - keep_tail);
        out.push(if !keep {
            '*'
        } else if c.is_ascii_graphic() {
            c as char
        } else {
            '.'
        });
    }
}

/// Printable ASCII as it is, anything else as `.`.
fn push_text(out: &mut String, value: &[u8]) {
    out.extend(value.iter().map(|&c| {
        if (0x20..0x7F).contains(&c) {
            c as char
        } else {
            '.'
        }
    }));
}

/// Field 59 (QR data, `tag + 3-digit length + value` items): the customer's payment code (`A3`) is a
/// bearer credential while it is valid, so it keeps its first 4 and last 4 characters; other items (the
/// voucher `A4`, ...) are references and stay readable. Anything that does not parse is hidden whole.
fn push_payment_codes(out: &mut String, v: &[u8]) {
    let mut rest = v;
    let start = out.len();
    while !rest.is_empty() {
        let item = (rest.len() >= 5)
            .then(|| std::str::from_utf8(&rest[2..5]).ok()?.parse::<usize>().ok())
            .flatten()
            .filter(|n| rest.len() >= 5 + n);
        let Some(n) = item else {
            out.truncate(start);
            let _ = write!(out, "<hidden {}>", v.len());
            return;
        };
        let (tag, value) = (&rest[..2], &rest[5..5 + n]);
        push_text(out, &rest[..5]);
        if tag == b"A3" {
            push_masked(out, value, 4, 4);
        } else {
            push_text(out, value);
        }
        rest = &rest[5 + n..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iso8583::Mti;

    #[test]
    fn a_profile_hides_more_never_less() {
        let mut m = Message::new(Mti(200));
        m.set_str(2, "6225880123456789")
            .set_str(3, "000000")
            .set_str(63, "CUP");
        let mut declared = [None; 65];
        // A dialect that carries something secret in 63 and (wrongly) calls the PAN clear.
        declared[63] = Some(Secrecy::Hidden);
        declared[2] = Some(Secrecy::Clear);
        declared[3] = Some(Secrecy::Clear);
        let line = masked_with(&m, &declared);
        assert!(line.contains("2=622588******6789"), "{line}");
        assert!(line.contains("63=<hidden 3>"), "{line}");
        assert!(line.contains("3=000000"), "{line}");
        assert!(
            !line.contains("6225880123456789") && !line.contains("CUP"),
            "{line}"
        );
        assert_eq!(masked(&m), masked_with(&m, &[None; 65]));
        assert_eq!(
            stricter(Secrecy::Pan, Some(Secrecy::PaymentCode)),
            Secrecy::Hidden
        );
    }

    #[test]
    fn hides_secrets() {
        let mut m = Message::new(Mti(200));
        m.set_str(2, "6225880123456789")
            .set_str(3, "000000")
            .set_str(4, "000000001234")
            .set_str(35, "6225880123456789D3012101123456789")
            .set(52, vec![0x7A; 8])
            .set(55, vec![0x9F; 120])
            .set(62, vec![1, 2, 3])
            .set_str(63, "CUP")
            .set(64, vec![0x33, 0x34, 0xAB, 0, 0, 0, 0, 0x01]);
        assert_eq!(
            masked(&m),
            "0200 2=622588******6789 3=000000 4=000000001234 35=<hidden 33> 52=<hidden> \
             55=<hidden 120 bytes> 62=<hidden 3 bytes> 63=CUP 64=3334AB0000000001"
        );
        let mut m = Message::new(Mti(200));
        m.set_str(14, "3012")
            .set_str(59, "A3018134567890123456789A402026112518000000000003");
        assert_eq!(
            masked(&m),
            "0200 14=<hidden 4> 59=A30181345**********6789A402026112518000000000003"
        );
        m.set_str(59, "A3099123");
        assert_eq!(masked(&m), "0200 14=<hidden 4> 59=<hidden 8>");
        let mut m = Message::new(Mti(200));
        m.set_str(2, "1234567890");
        assert_eq!(masked(&m), "0200 2=**********");
    }

    #[test]
    fn undefined_fields_are_hidden() {
        let mut m = Message::new(Mti(800));
        m.set_str(5, "secret");
        assert_eq!(masked(&m), "0800 5=<hidden 6 bytes>");
    }
}
