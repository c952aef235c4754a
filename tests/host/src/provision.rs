//! Provisioning: the terminals, devices, cards, AIDs and CAPKs the host knows. The default set is
//! docs/PROTOCOL.md §12; `--provision FILE` (JSON, format in docs/HOST.md) replaces it.

use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provision {
    pub terminals: Vec<TerminalDef>,
    #[serde(default)]
    pub devices: Vec<DeviceDef>,
    #[serde(default)]
    pub cards: Vec<CardDef>,
    #[serde(default)]
    pub aids: Vec<AidDef>,
    #[serde(default)]
    pub capks: Vec<CapkDef>,
    /// Extra CAPKs generated deterministically (for paging tests), added after `capks`.
    #[serde(default)]
    pub generated_capks: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerminalDef {
    pub tid: String,
    pub mid: String,
    #[serde(default = "default_merchant")]
    pub merchant_name: String,
    #[serde(default = "one")]
    pub batch: u32,
    #[serde(default = "thirty")]
    pub timeout_s: u32,
    #[serde(default = "three")]
    pub reversal_attempts: u32,
    #[serde(default = "twenty")]
    pub max_tip_percent: u32,
    /// `tdes` (default) or `sm`: the terminal's key family (docs/PROTOCOL.md §11).
    #[serde(default)]
    pub key_family: possdk_core::crypto::KeyFamily,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceDef {
    pub sn: String,
    pub token: String,
    pub tid: String,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardDef {
    pub pan: String,
    pub pin: String,
    /// YYMM
    pub expiry: String,
    #[serde(default = "svc")]
    pub service_code: String,
    /// Card organisation (`CUP`, `VIS`, ...); default from the BIN.
    #[serde(default)]
    pub org: Option<String>,
    /// Available balance in fen.
    pub balance: i64,
    /// `active`, `lost` (41) or `stolen` (43).
    #[serde(default = "active")]
    pub status: String,
    /// Card sequence number, 3 digits.
    #[serde(default = "psn")]
    pub psn: String,
}

impl std::fmt::Debug for CardDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CardDef({})", possdk_core::mask_pan(&self.pan))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AidDef {
    /// AID hex.
    pub aid: String,
    /// Parameter TLVs (tag hex -> value hex) overriding the defaults (DF01, 9F08, DF11, ...).
    #[serde(default)]
    pub params: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapkDef {
    /// RID hex (5 bytes).
    pub rid: String,
    pub index: u8,
    /// YYYYMMDD
    pub expiry: String,
    pub modulus: String,
    pub exponent: String,
}

fn default_merchant() -> String {
    "possdk test merchant".into()
}
fn one() -> u32 {
    1
}
fn thirty() -> u32 {
    30
}
fn three() -> u32 {
    3
}
fn twenty() -> u32 {
    20
}
fn svc() -> String {
    "101".into()
}
fn active() -> String {
    "active".into()
}
fn psn() -> String {
    "001".into()
}

/// Card organisation from the BIN (docs/PROTOCOL.md §2).
pub fn org_from_bin(pan: &str) -> &'static str {
    let b = pan.as_bytes();
    match (b.first(), b.get(1)) {
        (Some(b'6'), Some(b'2')) => "CUP",
        (Some(b'4'), _) => "VIS",
        (Some(b'5'), Some(b'1'..=b'5')) => "MCC",
        (Some(b'3'), Some(b'5')) => "JCB",
        (Some(b'3'), Some(b'4' | b'7')) => "AEX",
        _ => "CUP",
    }
}

/// Default AID parameters (tag -> value) per docs/HOST.md.
pub fn default_aid_params() -> Vec<(u32, Vec<u8>)> {
    vec![
        (0xDF01, vec![0x00]),                               // partial match allowed
        (0x9F08, vec![0x00, 0x30]),                         // app version
        (0xDF11, vec![0xD8, 0x40, 0x00, 0xA8, 0x00]),       // TAC default
        (0xDF12, vec![0xD8, 0x40, 0x04, 0xF8, 0x00]),       // TAC online
        (0xDF13, vec![0x00, 0x10, 0x00, 0x00, 0x00]),       // TAC denial
        (0x9F1B, vec![0x00, 0x00, 0x00, 0x00]),             // floor limit
        (0xDF15, vec![0x00, 0x00, 0x00, 0x00]),             // threshold
        (0xDF16, vec![0x99]),                               // max target %
        (0xDF17, vec![0x99]),                               // target %
        (0xDF14, vec![0x9F, 0x37, 0x04]),                   // default DDOL
        (0xDF18, vec![0x01]),                               // online PIN
        (0xDF19, vec![0x00, 0x00, 0x00, 0x10, 0x00, 0x00]), // contactless floor limit n12
        (0xDF20, vec![0x00, 0x00, 0x00, 0x10, 0x00, 0x00]), // contactless transaction limit
        (0xDF21, vec![0x00, 0x00, 0x00, 0x03, 0x00, 0x00]), // CVM limit
    ]
}

/// Deterministic pseudo-random CAPK `n` (RIDs of CUP, Visa, Mastercard, JCB in turn): a 1024-bit odd
/// modulus with its top bit set, exponent 03, expiry 2030-12-31.
pub fn generated_capk(n: usize) -> CapkDef {
    const RIDS: [&str; 4] = ["A000000333", "A000000003", "A000000004", "A000000065"];
    let rid = RIDS[n % 4];
    let index = (n / 4 + 1) as u8;
    let mut modulus = Vec::with_capacity(128);
    let mut seed = format!("{rid}{index:02X}").into_bytes();
    while modulus.len() < 128 {
        let d = possdk_core::crypto::sha1(&seed);
        modulus.extend_from_slice(&d);
        seed = d.to_vec();
    }
    modulus.truncate(128);
    modulus[0] |= 0x80;
    modulus[127] |= 0x01;
    CapkDef {
        rid: rid.into(),
        index,
        expiry: "20301231".into(),
        modulus: hex::encode_upper(modulus),
        exponent: "03".into(),
    }
}

impl Provision {
    /// docs/PROTOCOL.md §12 test data (the test terminal, device and cards of `possdk_sim::fixture`), 5 AIDs
    /// and 30 CAPKs (more than one 512-byte query page).
    pub fn default_set() -> Provision {
        use possdk_sim::fixture;
        let card = |c: &fixture::TestCard| CardDef {
            pan: c.pan.into(),
            pin: c.pin.into(),
            expiry: c.expiry.into(),
            service_code: c.service_code.into(),
            org: None,
            balance: c.balance as i64,
            status: c.status.as_str().into(),
            psn: c.psn.unwrap_or("001").into(),
        };
        Provision {
            terminals: vec![TerminalDef {
                tid: fixture::TID.into(),
                mid: fixture::MID.into(),
                merchant_name: default_merchant(),
                batch: 1,
                timeout_s: 30,
                reversal_attempts: 3,
                max_tip_percent: 20,
                key_family: Default::default(),
            }],
            devices: vec![DeviceDef {
                sn: fixture::DEVICE_SN.into(),
                token: fixture::DEVICE_TOKEN.into(),
                tid: fixture::TID.into(),
            }],
            cards: fixture::ALL.iter().map(card).collect(),
            aids: [
                "A000000333010101",
                "A000000333010102",
                "A000000333010103",
                "A0000000031010",
                "A0000000041010",
            ]
            .iter()
            .map(|a| AidDef {
                aid: (*a).into(),
                params: BTreeMap::new(),
            })
            .collect(),
            capks: vec![],
            generated_capks: 30,
        }
    }

    pub fn from_json(text: &str) -> Result<Provision, String> {
        let p: Provision =
            serde_json::from_str(text).map_err(|e| format!("provisioning JSON: {e}"))?;
        p.validate()?;
        Ok(p)
    }

    pub fn all_capks(&self) -> Vec<CapkDef> {
        let mut v = self.capks.clone();
        v.extend((0..self.generated_capks).map(generated_capk));
        v
    }

    /// Field-level checks so a bad file fails at start with the field named.
    pub fn validate(&self) -> Result<(), String> {
        let d = crate::util::digits;
        for t in &self.terminals {
            if t.tid.len() != 8 || !t.tid.is_ascii() {
                return Err(format!(
                    "terminals.tid: must be 8 ASCII characters ({:?})",
                    t.tid
                ));
            }
            if t.mid.len() != 15 || !t.mid.is_ascii() {
                return Err(format!(
                    "terminals.mid: must be 15 ASCII characters ({:?})",
                    t.mid
                ));
            }
            if t.batch == 0 || t.batch > 999_999 {
                return Err(format!("terminals.batch: 1..999999 ({})", t.batch));
            }
        }
        for c in &self.cards {
            let m = possdk_core::mask_pan(&c.pan);
            if !d(&c.pan) || !(13..=19).contains(&c.pan.len()) {
                return Err(format!("cards.pan: 13 to 19 digits ({m})"));
            }
            if !d(&c.pin) || !(4..=12).contains(&c.pin.len()) {
                return Err(format!("cards.pin: 4 to 12 digits (card {m})"));
            }
            if !d(&c.expiry) || c.expiry.len() != 4 {
                return Err(format!("cards.expiry: YYMM (card {m})"));
            }
            if !d(&c.service_code) || c.service_code.len() != 3 {
                return Err(format!("cards.service_code: 3 digits (card {m})"));
            }
            if !d(&c.psn) || c.psn.len() != 3 {
                return Err(format!("cards.psn: 3 digits (card {m})"));
            }
            if !["active", "lost", "stolen"].contains(&c.status.as_str()) {
                return Err(format!("cards.status: active|lost|stolen (card {m})"));
            }
            if c.balance < 0 {
                return Err(format!("cards.balance: must not be negative (card {m})"));
            }
        }
        for a in &self.aids {
            let ok = hex::decode(&a.aid)
                .map(|b| (5..=16).contains(&b.len()))
                .unwrap_or(false);
            if !ok {
                return Err(format!("aids.aid: 5 to 16 bytes of hex ({:?})", a.aid));
            }
            for (tag, val) in &a.params {
                let t = u32::from_str_radix(tag, 16)
                    .map_err(|_| format!("aids.params: tag {tag:?} not hex"))?;
                if tag.len() % 2 != 0 || t == 0 || tag.len() > 4 {
                    return Err(format!("aids.params: tag {tag:?} not 1 or 2 bytes of hex"));
                }
                hex::decode(val).map_err(|_| format!("aids.params.{tag}: value not hex"))?;
            }
        }
        for k in &self.capks {
            if hex::decode(&k.rid).map(|b| b.len() != 5).unwrap_or(true) {
                return Err(format!("capks.rid: 5 bytes of hex ({:?})", k.rid));
            }
            if !d(&k.expiry) || k.expiry.len() != 8 {
                return Err(format!("capks.expiry: YYYYMMDD ({:?})", k.expiry));
            }
            if hex::decode(&k.modulus)
                .map(|b| b.is_empty() || b.len() > 248)
                .unwrap_or(true)
            {
                return Err("capks.modulus: 1 to 248 bytes of hex".into());
            }
            if hex::decode(&k.exponent)
                .map(|b| b.is_empty() || b.len() > 3)
                .unwrap_or(true)
            {
                return Err("capks.exponent: 1 to 3 bytes of hex".into());
            }
        }
        if self.generated_capks > 200 {
            return Err("generated_capks: at most 200".into());
        }
        for dv in &self.devices {
            if !self.terminals.iter().any(|t| t.tid == dv.tid) {
                return Err(format!(
                    "devices.tid: {:?} is not a provisioned terminal",
                    dv.tid
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn default_set_is_valid() {
        let p = Provision::default_set();
        p.validate().unwrap();
        assert_eq!(p.all_capks().len(), 30);
        assert_eq!(org_from_bin("4761340000000019"), "VIS");
        assert_eq!(org_from_bin("6225880123456789"), "CUP");
        assert_eq!(org_from_bin("5412000000000000"), "MCC");
    }
    #[test]
    fn bad_file_names_the_field() {
        let e = Provision::from_json(r#"{"terminals":[{"tid":"123","mid":"123456789012345"}]}"#)
            .unwrap_err();
        assert!(e.contains("terminals.tid"), "{e}");
        let e = Provision::from_json(
            r#"{"terminals":[{"tid":"12345678","mid":"123456789012345"}],
               "cards":[{"pan":"6225880123456789","pin":"12","expiry":"3012","balance":1}]}"#,
        )
        .unwrap_err();
        assert!(
            e.contains("cards.pin") && !e.contains("6225880123456789"),
            "{e}"
        );
    }
}
