//! Masked rendering for logs: PAN 6+4, tracks, PIN block, field 55 and key data hidden.
use super::profile::{self, Format, Length, Secrecy};
use super::Message;
use std::fmt::Write;

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// One line: `0200 2=622588******6789 3=000000 35=<hidden 33> 52=<hidden> 55=<hidden 120 bytes> 64=...`.
/// Binary clear fields are upper-case hex; non-printable bytes of text fields show as `.`.
pub fn masked(msg: &Message) -> String {
    let mut s = String::with_capacity(128);
    let _ = write!(s, "{}", msg.mti);
    for (n, v) in msg.fields() {
        let _ = write!(s, " {n}=");
        let def = profile::field(n);
        let secrecy = def.map(|d| d.secrecy).unwrap_or(Secrecy::Hidden);
        let binary = def.map(|d| d.format == Format::B).unwrap_or(true);
        match secrecy {
            Secrecy::Pan => {
                // Mask 6+4 on the digits; anything shorter than 11 is fully masked by mask_pan.
                let text: String = v
                    .iter()
                    .map(|&c| if c.is_ascii_graphic() { c as char } else { '.' })
                    .collect();
                s.push_str(&crate::mask_pan(&text));
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iso8583::Mti;

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
    }

    #[test]
    fn undefined_fields_are_hidden() {
        let mut m = Message::new(Mti(800));
        m.set_str(5, "secret");
        assert_eq!(masked(&m), "0800 5=<hidden 6 bytes>");
    }
}
