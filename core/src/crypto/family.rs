//! The key family a terminal is provisioned with (docs/PROTOCOL.md §11): `tdes` (RSA transport, TDES keys,
//! 8-byte blocks) or `sm` (SM2 transport, SM4 keys, 16-byte blocks). Everything that differs on the wire
//! between the two reads it from here.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyFamily {
    /// RSA TMK transport, TDES keys, CUP-ECB MAC, 8-byte PIN and track blocks (§3, §7).
    #[default]
    Tdes,
    /// SM2 TMK transport, SM4 keys, CUP-SM4 MAC, 16-byte PIN and track blocks (§11).
    Sm,
}

impl KeyFamily {
    /// The config and JSON name: `tdes` or `sm`.
    pub fn name(self) -> &'static str {
        match self {
            KeyFamily::Tdes => "tdes",
            KeyFamily::Sm => "sm",
        }
    }

    /// Parse the config name (`tdes`, `sm`).
    pub fn from_name(name: &str) -> Option<KeyFamily> {
        match name {
            "tdes" => Some(KeyFamily::Tdes),
            "sm" => Some(KeyFamily::Sm),
            _ => None,
        }
    }

    /// Activation DF57: `TDES` or `SM` (ASCII).
    pub fn wire_name(self) -> &'static str {
        match self {
            KeyFamily::Tdes => "TDES",
            KeyFamily::Sm => "SM",
        }
    }

    /// Parse DF57; absent means TDES (the caller passes None).
    pub fn from_wire(df57: Option<&[u8]>) -> Option<KeyFamily> {
        match df57 {
            None | Some(b"TDES") => Some(KeyFamily::Tdes),
            Some(b"SM") => Some(KeyFamily::Sm),
            Some(_) => None,
        }
    }

    /// Cipher block size, and so the length of field 52 and of an encrypted track block: 8 or 16 bytes.
    pub fn block_len(self) -> usize {
        match self {
            KeyFamily::Tdes => 8,
            KeyFamily::Sm => 16,
        }
    }

    /// Field 53's second digit: `6` (TDES) or `4` (SM4).
    pub fn f53_digit(self) -> char {
        match self {
            KeyFamily::Tdes => '6',
            KeyFamily::Sm => '4',
        }
    }

    /// Tracks with fewer digits are sent clear: the encrypted block and the last byte must fit.
    pub fn track_min_encrypted_digits(self) -> usize {
        match self {
            KeyFamily::Tdes => 18,
            KeyFamily::Sm => super::sm::TRACK_MIN_ENCRYPTED_DIGITS,
        }
    }
}

impl std::fmt::Display for KeyFamily {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_sizes() {
        for fam in [KeyFamily::Tdes, KeyFamily::Sm] {
            assert_eq!(KeyFamily::from_name(fam.name()), Some(fam));
            assert_eq!(
                KeyFamily::from_wire(Some(fam.wire_name().as_bytes())),
                Some(fam)
            );
        }
        assert_eq!(KeyFamily::from_wire(None), Some(KeyFamily::Tdes));
        assert_eq!(KeyFamily::from_wire(Some(b"sm")), None);
        assert_eq!(KeyFamily::from_name("SM"), None);
        assert_eq!(KeyFamily::default(), KeyFamily::Tdes);
        assert_eq!(
            (KeyFamily::Tdes.block_len(), KeyFamily::Sm.block_len()),
            (8, 16)
        );
        assert_eq!(serde_json::to_string(&KeyFamily::Sm).unwrap(), "\"sm\"");
    }
}
