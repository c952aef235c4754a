//! Acquirer profiles (docs/PROFILES.md): the wire dialect of one acquirer as data. A profile is JSON,
//! parsed and validated once into a `Profile` that the codec, the frame layout, the MAC and PIN
//! choices, the response-code rules and the executor read. The built-in `cup` profile is the
//! contract of docs/PROTOCOL.md; `ascii` is a second built-in dialect.
use crate::crypto::KeyFamily;
use crate::error::{Error, Result};
use crate::flows::kinds::{self, Delivery, Echo, Kind, OriginalRule, F61};
use crate::flows::Dest;
use crate::iso8583::frame::{LengthPrefix, Mab, Wire};
use crate::iso8583::profile::{
    Codec, Encoding, FieldDef, Format, Length, Secrecy, PREFIX_ASCII, PREFIX_BCD, PREFIX_BINARY,
};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

pub mod layout;
pub use layout::{SideTotals, Subfields};

/// The built-in profiles, by name.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("cup", include_str!("../../profiles/cup.json")),
    ("ascii", include_str!("../../profiles/ascii.json")),
];

/// The MAC algorithm of a profile (docs/PROTOCOL.md §7.1 for CUP-ECB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacAlgorithm {
    /// CUP-ECB (the CUP 8583 "ECB" MAC over the MAB).
    CupEcb,
    /// ANSI X9.19 (retail MAC: single-DES CBC, triple-DES on the last block).
    X919,
}

/// The PIN block format of a profile (`security.pin_block`).
pub use crate::crypto::pin_block::PinFormat;

/// The wire data of one transaction kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindWire {
    pub mti: u16,
    /// Field 3.
    pub processing: String,
    /// Field 25.
    pub condition: String,
    /// Field 60.1.
    pub type_code: String,
    /// Field 60.3 of the request.
    pub network: String,
    pub delivery: Delivery,
    /// The fields the request may carry (bit n-1 for field n); None: every field the kind builds.
    pub fields: Option<u64>,
    /// How the request names its original on the wire (`original`): 37, 38 and the form of 61.
    pub f37: Echo,
    pub f38: Echo,
    pub f61: F61,
}

/// Header processing-requirement codes (docs/PROTOCOL.md §3.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderCodes {
    pub app_type: u8,
    pub version: u8,
    /// The status nibble the terminal sends (docs/PROTOCOL.md §1.4: `0` normal, `1` test).
    pub status: u8,
    pub sign_in: Option<u8>,
    pub download_capks: Option<u8>,
    pub download_aids: Option<u8>,
}

/// Field 39 codes of a reversal's reason (docs/PROTOCOL.md §6.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReversalCodes {
    pub no_answer: String,
    pub bad_mac: String,
    pub other: String,
}

/// Field 60.3 network management codes of the management messages (docs/PROTOCOL.md §1.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Management {
    pub activate: String,
    pub key_query: String,
    pub tmk_download: String,
    pub tmk_activate: String,
    pub sign_in: String,
    pub capk_query: String,
    pub capk_download: String,
    pub capk_end: String,
    pub aid_query: String,
    pub aid_download: String,
    pub aid_end: String,
    pub detail_query: String,
    pub settle: String,
    pub batch_upload: String,
    pub batch_upload_end: String,
    pub script_advice: String,
    /// QR status query (**private**, docs/PROTOCOL.md §4.10).
    pub qr_query: String,
    /// QR order close (**private**, docs/PROTOCOL.md §4.10).
    pub qr_close: String,
    /// Sign-off (docs/PROTOCOL.md §3.9).
    pub sign_off: String,
    /// Echo test (docs/PROTOCOL.md §3.10).
    pub echo: String,
    /// IC card TC upload (docs/PROTOCOL.md §8.6).
    pub tc_upload: String,
    /// Electronic signature upload (**private**, docs/PROTOCOL.md §8.8).
    pub signature_upload: String,
}

/// Which of the terminal's two hosts (config `gateway`, `platform`) gets the messages CUP sends to the
/// management platform and some acquirers take at the gateway (`routes`, docs/PROFILES.md §10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Routes {
    /// The 0500 settlement.
    pub settle: Dest,
    /// The 0320 batch-upload records and their end.
    pub batch_upload: Dest,
    /// The detail query (0800 `detail_query`).
    pub detail_query: Dest,
}

/// The management steps, their CUP codes and the MTI each is sent with.
const MANAGEMENT: &[(&str, &str, u16)] = &[
    ("activate", "399", 800),
    ("key_query", "352", 800),
    ("tmk_download", "350", 800),
    ("tmk_activate", "351", 800),
    ("sign_in", "004", 800),
    ("capk_query", "372", 820),
    ("capk_download", "370", 800),
    ("capk_end", "371", 800),
    ("aid_query", "382", 820),
    ("aid_download", "380", 800),
    ("aid_end", "381", 800),
    ("detail_query", "397", 800),
    ("settle", "201", 500),
    ("batch_upload", "201", 320),
    ("batch_upload_end", "202", 320),
    ("script_advice", "951", 620),
    ("qr_query", "391", 800),
    ("qr_close", "392", 800),
    ("sign_off", "002", 820),
    ("echo", "301", 820),
    ("tc_upload", "203", 320),
    ("signature_upload", "800", 820),
];

/// A loaded, validated acquirer profile.
#[derive(Debug)]
pub struct Profile {
    pub name: String,
    /// SHA-256 of the canonical bytes (docs/PROFILES.md, "Identity").
    pub sha256: [u8; 32],
    pub wire: Wire,
    pub header: HeaderCodes,
    kinds: Vec<Option<KindWire>>,
    pub mac: MacAlgorithm,
    pub pin_block: PinFormat,
    /// The key families (config `key_family`) this profile serves: `security.key_family`.
    pub key_families: Vec<KeyFamily>,
    approved: Vec<String>,
    sign_in: Vec<String>,
    reverse: Vec<String>,
    texts: BTreeMap<String, String>,
    pub reversal: ReversalCodes,
    /// Field 49 (currency) sent in financial requests.
    pub currency: String,
    pub management: Management,
    pub routes: Routes,
    /// The sub-field layouts of 48, 60, 61, 62 and 63 (`subfields`, docs/PROFILES.md §11).
    pub subfields: Subfields,
    /// Each field's secrecy as this profile declares it, by field number (None: not defined). Logs use the
    /// stricter of this and the built-in table's (`iso8583::mask::masked_with`).
    pub secrecy: [Option<Secrecy>; 65],
}

fn err(key: &str, reason: impl std::fmt::Display) -> Error {
    Error::invalid("profile", format!("{key}: {reason}"))
}

/// Typed getters over a JSON object that name the key on every error.
struct Obj<'a> {
    path: String,
    map: &'a Map<String, Value>,
}

impl<'a> Obj<'a> {
    fn new(path: &str, v: &'a Value) -> Result<Obj<'a>> {
        match v.as_object() {
            Some(map) => Ok(Obj {
                path: path.to_string(),
                map,
            }),
            None => Err(err(path, "must be an object")),
        }
    }
    fn key(&self, k: &str) -> String {
        if self.path.is_empty() {
            k.to_string()
        } else {
            format!("{}.{k}", self.path)
        }
    }
    fn only(&self, allowed: &[&str]) -> Result<()> {
        for k in self.map.keys() {
            if !allowed.contains(&k.as_str()) {
                return Err(err(
                    &self.key(k),
                    format!("unknown key (allowed: {})", allowed.join(", ")),
                ));
            }
        }
        Ok(())
    }
    fn get(&self, k: &str) -> Option<&'a Value> {
        self.map.get(k).filter(|v| !v.is_null())
    }
    fn obj(&self, k: &str) -> Result<Obj<'a>> {
        match self.get(k) {
            Some(v) => Obj::new(&self.key(k), v),
            None => Err(err(&self.key(k), "required object")),
        }
    }
    fn opt_obj(&self, k: &str) -> Result<Option<Obj<'a>>> {
        self.get(k).map(|v| Obj::new(&self.key(k), v)).transpose()
    }
    fn str_or(&self, k: &str, default: Option<&'a str>) -> Result<&'a str> {
        match self.get(k) {
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(err(&self.key(k), "must be a string")),
            None => default.ok_or_else(|| err(&self.key(k), "required string")),
        }
    }
    fn string(&self, k: &str) -> Result<&'a str> {
        self.str_or(k, None)
    }
    /// One of `allowed`, or `default` when absent.
    fn choice(&self, k: &str, allowed: &[&str], default: Option<&'a str>) -> Result<&'a str> {
        let s = self.str_or(k, default)?;
        if allowed.contains(&s) {
            Ok(s)
        } else {
            Err(err(
                &self.key(k),
                format!("\"{s}\" is not one of {}", allowed.join(", ")),
            ))
        }
    }
    fn uint(
        &self,
        k: &str,
        range: std::ops::RangeInclusive<u64>,
        default: Option<u64>,
    ) -> Result<u64> {
        match self.get(k) {
            Some(v) => match v.as_u64() {
                Some(n) if range.contains(&n) => Ok(n),
                _ => Err(err(
                    &self.key(k),
                    format!(
                        "must be a whole number from {} to {}",
                        range.start(),
                        range.end()
                    ),
                )),
            },
            None => default.ok_or_else(|| err(&self.key(k), "required number")),
        }
    }
    fn boolean(&self, k: &str, default: bool) -> Result<bool> {
        match self.get(k) {
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(err(&self.key(k), "must be true or false")),
            None => Ok(default),
        }
    }
    fn codes(&self, k: &str) -> Result<Vec<String>> {
        let key = self.key(k);
        let a = self
            .get(k)
            .and_then(Value::as_array)
            .ok_or_else(|| err(&key, "required list of response codes"))?;
        a.iter()
            .map(|c| match c.as_str() {
                Some(s) if is_rc(s) => Ok(s.to_string()),
                _ => Err(err(&key, format!("{c} is not a 2-character response code"))),
            })
            .collect()
    }
}

fn is_rc(s: &str) -> bool {
    s.len() == 2 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn digits_of(key: &str, s: &str, n: usize) -> Result<()> {
    if s.len() == n && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(err(key, format!("\"{s}\" must be {n} digits")))
    }
}

fn hex_byte(key: &str, s: &str) -> Result<u8> {
    if s.len() != 2 {
        return Err(err(key, format!("\"{s}\" must be 2 hex digits")));
    }
    u8::from_str_radix(s, 16).map_err(|_| err(key, format!("\"{s}\" must be 2 hex digits")))
}

fn nibble(o: &Obj, k: &str, default: Option<u64>) -> Result<Option<u8>> {
    match o.get(k) {
        None if o.map.contains_key(k) => Ok(None),
        None => Ok(default.map(|d| d as u8)),
        Some(_) => Ok(Some(o.uint(k, 0..=15, None)? as u8)),
    }
}

/// Every field the executor and management flows can send or read, with the use it is put to.
const KNOWN_FIELDS: &[u8] = &[
    2, 3, 4, 11, 12, 13, 14, 15, 22, 23, 25, 26, 32, 35, 36, 37, 38, 39, 41, 42, 44, 48, 49, 52,
    53, 54, 55, 59, 60, 61, 62, 63, 64,
];

/// A kind's `original`: how its request names the original (37, 38, the form of 61); absent keys keep
/// the kind's CUP form (core/src/flows/kinds.rs).
fn original_wire(o: &Obj, def: &kinds::KindDef, k: &str) -> Result<(Echo, Echo, F61)> {
    let mut out = (def.f37, def.f38, def.f61);
    let Some(or) = o.opt_obj("original")? else {
        return Ok(out);
    };
    if matches!(def.original, OriginalRule::None) {
        return Err(err(&or.path, format!("{k} names no original")));
    }
    or.only(&["37", "38", "61"])?;
    let echo = |key: &str, d: Echo| -> Result<Echo> {
        let dflt = match d {
            Echo::No => "no",
            Echo::IfKnown => "if_known",
            Echo::Required => "required",
        };
        Ok(
            match or.choice(key, &["no", "if_known", "required"], Some(dflt))? {
                "no" => Echo::No,
                "if_known" => Echo::IfKnown,
                _ => Echo::Required,
            },
        )
    };
    out.0 = echo("37", def.f37)?;
    out.1 = echo("38", def.f38)?;
    let d61 = match def.f61 {
        F61::None => "none",
        F61::BatchStan => "batch_stan",
        F61::BatchStanDate => "batch_stan_date",
    };
    out.2 = match or.choice("61", &["none", "batch_stan", "batch_stan_date"], Some(d61))? {
        "none" => F61::None,
        "batch_stan" => F61::BatchStan,
        _ => F61::BatchStanDate,
    };
    if out == (Echo::No, Echo::No, F61::None) {
        return Err(err(
            &or.path,
            "names the original by nothing: send 61, or 37 or 38",
        ));
    }
    Ok(out)
}

fn kind_name(k: Kind) -> &'static str {
    kinds::def(k).name
}

impl Profile {
    /// The built-in CUP profile.
    pub fn cup() -> Arc<Profile> {
        Arc::new(Self::built_in("cup").expect("the built-in cup profile is valid (tested)"))
    }

    /// A built-in profile by name.
    pub fn built_in(name: &str) -> Result<Profile> {
        let text = BUILT_IN
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| *t)
            .ok_or_else(|| {
                err(
                    "name",
                    format!(
                        "no built-in profile \"{name}\" (built in: {})",
                        BUILT_IN
                            .iter()
                            .map(|(n, _)| *n)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })?;
        Self::from_json(text)
    }

    /// The config's `profile` value: a built-in name, a file path, or an inline object; absent: `cup`.
    pub fn from_config(v: Option<&Value>) -> Result<Profile> {
        match v {
            None | Some(Value::Null) => Self::built_in("cup"),
            Some(Value::String(s)) if BUILT_IN.iter().any(|(n, _)| n == s) => Self::built_in(s),
            Some(Value::String(path)) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    Error::invalid(
                        "profile",
                        format!(
                            "\"{path}\" is neither a built-in profile nor a readable file: {e}"
                        ),
                    )
                })?;
                Self::from_json(&text)
            }
            Some(o @ Value::Object(_)) => Self::from_value(o),
            Some(_) => Err(Error::invalid(
                "profile",
                "must be a built-in name, a file path or an object",
            )),
        }
    }

    /// Parse and validate a profile's JSON text.
    pub fn from_json(text: &str) -> Result<Profile> {
        let v: Value = serde_json::from_str(text)
            .map_err(|e| Error::invalid("profile", format!("not valid JSON: {e}")))?;
        Self::from_value(&v)
    }

    /// Validate a parsed profile.
    pub fn from_value(v: &Value) -> Result<Profile> {
        let root = Obj::new("", v)?;
        root.only(&[
            "name",
            "description",
            "framing",
            "defaults",
            "fields",
            "kinds",
            "security",
            "response_codes",
            "reversal_reasons",
            "currency",
            "management",
            "routes",
            "subfields",
        ])?;
        let name = root.string("name")?.to_string();
        if name.is_empty() {
            return Err(err("name", "must not be empty"));
        }
        if let Some(d) = root.get("description") {
            if !d.is_string() {
                return Err(err("description", "must be a string"));
            }
        }
        // Framing.
        let fr = root.obj("framing")?;
        fr.only(&["length_prefix", "tpdu", "header", "mti", "bitmap"])?;
        let lp = fr.obj("length_prefix")?;
        lp.only(&["encoding", "bytes"])?;
        let lp_bytes = lp.uint("bytes", 1..=4, Some(2))? as u8;
        let prefix = match lp.choice("encoding", &["binary", "bcd", "ascii"], Some("binary"))? {
            "binary" => LengthPrefix::Binary(lp_bytes),
            "bcd" => LengthPrefix::Bcd(lp_bytes),
            _ => LengthPrefix::Ascii(lp_bytes),
        };
        let tpdu = fr.boolean("tpdu", true)?;
        let (has_header, header) = match fr.opt_obj("header")? {
            None => (
                false,
                HeaderCodes {
                    app_type: 0x60,
                    version: 0x31,
                    status: 0,
                    sign_in: None,
                    download_capks: None,
                    download_aids: None,
                },
            ),
            Some(h) => {
                h.only(&[
                    "app_type",
                    "version",
                    "status",
                    "sign_in",
                    "download_capks",
                    "download_aids",
                ])?;
                (
                    true,
                    HeaderCodes {
                        app_type: hex_byte(&h.key("app_type"), h.str_or("app_type", Some("60"))?)?,
                        version: hex_byte(&h.key("version"), h.str_or("version", Some("31"))?)?,
                        status: h.uint("status", 0..=15, Some(0))? as u8,
                        sign_in: nibble(&h, "sign_in", Some(3))?,
                        download_capks: nibble(&h, "download_capks", Some(4))?,
                        download_aids: nibble(&h, "download_aids", Some(5))?,
                    },
                )
            }
        };
        let ascii_mti = fr.choice("mti", &["bcd", "ascii"], Some("bcd"))? == "ascii";
        let hex_bitmap = fr.choice("bitmap", &["binary", "hex"], Some("binary"))? == "hex";

        // Field defaults.
        let (def_digits, def_prefix, def_pad) = match root.opt_obj("defaults")? {
            None => ("bcd", "bcd", "0"),
            Some(d) => {
                d.only(&["digits", "length_prefix", "pad"])?;
                (
                    d.choice("digits", &["bcd", "ascii"], Some("bcd"))?,
                    d.choice("length_prefix", &["bcd", "ascii", "binary"], Some("bcd"))?,
                    d.choice("pad", &["0", "F"], Some("0"))?,
                )
            }
        };

        // Field table.
        let fo = root.obj("fields")?;
        let mut defs: Vec<(FieldDef, Encoding)> = Vec::new();
        let mut defined = 0u64;
        for (k, fv) in fo.map {
            let key = fo.key(k);
            let n: u8 = match k.parse::<u8>() {
                Ok(n) if (2..=64).contains(&n) && k == &n.to_string() => n,
                _ => return Err(err(&key, "a field number from 2 to 64")),
            };
            let f = Obj::new(&key, fv)?;
            f.only(&[
                "name",
                "format",
                "length",
                "max",
                "digits",
                "length_prefix",
                "pad",
                "align",
                "content",
                "eight_bit",
                "secrecy",
            ])?;
            let format = match f.choice("format", &["n", "z", "an", "ans", "b"], None)? {
                "n" => Format::N,
                "z" => Format::Z,
                "an" => Format::An,
                "ans" => Format::Ans,
                _ => Format::B,
            };
            let length = match f.choice("length", &["fixed", "LL", "LLL"], None)? {
                "fixed" => Length::Fixed,
                "LL" => Length::LL,
                _ => Length::LLL,
            };
            let top = match length {
                Length::LL => 99,
                _ => 999,
            };
            let max = f.uint("max", 1..=top, None)? as usize;
            let numeric = matches!(format, Format::N | Format::Z);
            let only_for = |k: &str, ok: bool, what: &str| -> Result<()> {
                if f.get(k).is_some() && !ok {
                    Err(err(&f.key(k), format!("only for {what}")))
                } else {
                    Ok(())
                }
            };
            only_for("digits", numeric, "n and z fields")?;
            only_for("pad", numeric, "n and z fields")?;
            only_for(
                "align",
                numeric && length == Length::Fixed,
                "fixed n and z fields",
            )?;
            only_for("content", format == Format::B, "b fields")?;
            only_for("eight_bit", format == Format::Ans, "ans fields")?;
            only_for(
                "length_prefix",
                length != Length::Fixed,
                "LL and LLL fields",
            )?;
            let digits = f.choice("digits", &["bcd", "ascii"], Some(def_digits))?;
            let lpre = f.choice(
                "length_prefix",
                &["bcd", "ascii", "binary"],
                Some(def_prefix),
            )?;
            let pad = f.choice("pad", &["0", "F"], Some(def_pad))?;
            let align = f.choice("align", &["right", "left"], Some("right"))?;
            let content = f.choice("content", &["binary", "hex"], Some("binary"))?;
            let secrecy = match f.choice(
                "secrecy",
                &["clear", "pan", "payment_code", "hidden"],
                Some("clear"),
            )? {
                "clear" => Secrecy::Clear,
                "pan" => Secrecy::Pan,
                "payment_code" => Secrecy::PaymentCode,
                _ => Secrecy::Hidden,
            };
            if let Some(nv) = f.get("name") {
                if !nv.is_string() {
                    return Err(err(&f.key("name"), "must be a string"));
                }
            }
            let enc = Encoding {
                ascii_digits: numeric && digits == "ascii",
                prefix: if length == Length::Fixed {
                    PREFIX_BCD
                } else {
                    match lpre {
                        "ascii" => PREFIX_ASCII,
                        "binary" => PREFIX_BINARY,
                        _ => PREFIX_BCD,
                    }
                },
                hex: content == "hex",
                pad_f: numeric && pad == "F",
            };
            if n == 64 && (format != Format::B || length != Length::Fixed || max != 8 || enc.hex) {
                return Err(err(
                    &key,
                    "field 64 is the MAC: b, fixed, max 8, binary content",
                ));
            }
            if length == Length::LLL && enc.prefix == PREFIX_BINARY && max > 65535 {
                return Err(err(&key, "max too large"));
            }
            defined |= 1u64 << (n - 1);
            defs.push((
                FieldDef {
                    number: n,
                    name: "",
                    format,
                    length,
                    max,
                    left_aligned: align == "left",
                    eight_bit: f.boolean("eight_bit", false)?,
                    secrecy,
                },
                enc,
            ));
        }
        for n in [3u8, 11, 39, 41, 42] {
            if defined & (1u64 << (n - 1)) == 0 {
                return Err(err(
                    &fo.key(&n.to_string()),
                    "required: every message carries it",
                ));
            }
        }
        for (d, _) in &defs {
            if !KNOWN_FIELDS.contains(&d.number) {
                return Err(err(
                    &fo.key(&d.number.to_string()),
                    "possdk neither sends nor reads this field",
                ));
            }
        }
        let codec = Codec::build(&defs, ascii_mti, hex_bitmap);
        let mut secrecy = [None; 65];
        for (d, _) in &defs {
            secrecy[d.number as usize] = Some(d.secrecy);
        }

        // Security.
        let sec = root.obj("security")?;
        sec.only(&["mac", "mab", "pin_block", "key_family"])?;
        let mac = match sec.choice("mac", &["cup_ecb", "x919"], Some("cup_ecb"))? {
            "cup_ecb" => MacAlgorithm::CupEcb,
            _ => MacAlgorithm::X919,
        };
        let mab = match sec.choice("mab", &["body", "header_and_body"], Some("body"))? {
            "body" => Mab::Body,
            _ => Mab::HeaderAndBody,
        };
        if mab == Mab::HeaderAndBody && !has_header {
            return Err(err(&sec.key("mab"), "header_and_body needs framing.header"));
        }
        let pin_names: Vec<&str> = PinFormat::ALL.iter().map(|f| f.name()).collect();
        let pin_block = PinFormat::from_name(sec.choice("pin_block", &pin_names, Some("iso0"))?)
            .unwrap_or(PinFormat::Iso0);
        // The families the profile serves: a name or a list; absent, every family its MAC and PIN block
        // work in. CUP's MAC exists in both (CUP-ECB under TDES, CUP-SM4 under SM4); X9.19 is DES only,
        // and so are PIN block formats 1 and 3 (the SM family's 16-byte block has the format-0 layout).
        let des_only = mac == MacAlgorithm::X919 || pin_block != PinFormat::Iso0;
        let fam_key = sec.key("key_family");
        let key_families: Vec<KeyFamily> = match sec.get("key_family") {
            None if des_only => vec![KeyFamily::Tdes],
            None => vec![KeyFamily::Tdes, KeyFamily::Sm],
            Some(v) => {
                let names: Vec<&Value> = match v {
                    Value::Array(a) => a.iter().collect(),
                    one => vec![one],
                };
                let mut fams = Vec::new();
                for n in names {
                    let f = n
                        .as_str()
                        .and_then(KeyFamily::from_name)
                        .ok_or_else(|| err(&fam_key, format!("{n} is not one of tdes, sm")))?;
                    if !fams.contains(&f) {
                        fams.push(f);
                    }
                }
                if fams.is_empty() {
                    return Err(err(&fam_key, "must name at least one family"));
                }
                fams
            }
        };
        if mac == MacAlgorithm::X919 && key_families.contains(&KeyFamily::Sm) {
            return Err(err(&sec.key("mac"), "x919 needs key_family tdes"));
        }
        if pin_block != PinFormat::Iso0 && key_families.contains(&KeyFamily::Sm) {
            return Err(err(
                &sec.key("pin_block"),
                format!("{} needs key_family tdes", pin_block.name()),
            ));
        }

        // Kinds.
        let ko = root.obj("kinds")?;
        let mut kinds_v: Vec<Option<KindWire>> = vec![None; kinds::KINDS.len()];
        for (k, kv) in ko.map {
            let key = ko.key(k);
            let def = kinds::by_name(k).ok_or_else(|| {
                err(
                    &key,
                    format!(
                        "unknown kind (known: {})",
                        kinds::KINDS
                            .iter()
                            .map(|d| d.name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })?;
            let o = Obj::new(&key, kv)?;
            o.only(&[
                "mti",
                "processing",
                "condition",
                "type",
                "network",
                "delivery",
                "fields",
                "original",
            ])?;
            let mti_s = o.string("mti")?;
            digits_of(&o.key("mti"), mti_s, 4)?;
            let mti: u16 = mti_s.parse().unwrap_or(0);
            let processing = o.string("processing")?;
            digits_of(&o.key("processing"), processing, 6)?;
            let condition = o.string("condition")?;
            digits_of(&o.key("condition"), condition, 2)?;
            let type_code = o.string("type")?;
            digits_of(&o.key("type"), type_code, 2)?;
            let network = o.str_or("network", Some("000"))?;
            digits_of(&o.key("network"), network, 3)?;
            let delivery = match o.choice(
                "delivery",
                &["reversible", "advice", "plain", "order"],
                None,
            )? {
                "reversible" => Delivery::Reversible,
                "advice" => Delivery::Advice,
                "order" => Delivery::Order,
                _ => Delivery::Plain,
            };
            let class = mti / 10 % 10;
            let func = mti % 10;
            if !matches!(mti / 100, 1 | 2) || func != 0 || !matches!(class, 0 | 2) {
                return Err(err(
                    &key,
                    format!("mti {mti_s} is not a financial request (x100, x120 is not one either: 0100, 0200 or 0220)"),
                ));
            }
            let named = match delivery {
                Delivery::Reversible => "reversible",
                Delivery::Advice => "advice",
                Delivery::Plain => "plain",
                Delivery::Order => "order",
            };
            // An order is polled for the code the host shows (flows/qr_order.rs): only the
            // merchant-presented kinds are orders, and they are nothing else.
            let presented = def.means == kinds::Means::QrPresented;
            if presented != (delivery == Delivery::Order) {
                return Err(err(
                    &o.key("delivery"),
                    if presented {
                        format!("{k} is a merchant-presented QR order: delivery must be order, not {named}")
                    } else {
                        format!("order is only for merchant-presented QR kinds (qr_order), not {k}")
                    },
                ));
            }
            if class == 2 && delivery != Delivery::Advice {
                return Err(err(
                    &key,
                    format!("mti {mti_s} is an advice but delivery = {named}"),
                ));
            }
            if class == 0 && delivery == Delivery::Advice {
                return Err(err(
                    &key,
                    format!("mti {mti_s} is a request, not an advice, but delivery = advice"),
                ));
            }
            let fields = match o.get("fields") {
                None => None,
                Some(Value::Array(a)) => {
                    let mut bits = 0u64;
                    for x in a {
                        let n = x.as_u64().filter(|n| (2..=64).contains(n)).ok_or_else(|| {
                            err(&o.key("fields"), format!("{x} is not a field number"))
                        })?;
                        if defined & (1u64 << (n - 1)) == 0 {
                            return Err(err(
                                &o.key("fields"),
                                format!("field {n} is not in the field table"),
                            ));
                        }
                        bits |= 1u64 << (n - 1);
                    }
                    for must in [3u64, 11, 41, 42] {
                        if bits & (1 << (must - 1)) == 0 {
                            return Err(err(&o.key("fields"), format!("must list field {must}")));
                        }
                    }
                    Some(bits)
                }
                Some(_) => return Err(err(&o.key("fields"), "must be a list of field numbers")),
            };
            let (f37, f38, f61) = original_wire(&o, def, k)?;
            kinds_v[def.kind as usize] = Some(KindWire {
                mti,
                processing: processing.to_string(),
                condition: condition.to_string(),
                type_code: type_code.to_string(),
                network: network.to_string(),
                delivery,
                fields,
                f37,
                f38,
                f61,
            });
        }

        // Response codes.
        let rc = root.obj("response_codes")?;
        rc.only(&["approved", "sign_in", "reverse", "texts"])?;
        let approved = rc.codes("approved")?;
        if approved.is_empty() {
            return Err(err(&rc.key("approved"), "must name at least one code"));
        }
        let sign_in = rc.codes("sign_in")?;
        if let Some(c) = sign_in.iter().find(|c| approved.contains(c)) {
            return Err(err(&rc.key("sign_in"), format!("{c} is also an approval")));
        }
        let reverse = match rc.get("reverse") {
            None => Vec::new(),
            Some(_) => rc.codes("reverse")?,
        };
        if let Some(c) = reverse.iter().find(|c| approved.contains(c)) {
            return Err(err(&rc.key("reverse"), format!("{c} is also an approval")));
        }
        let mut texts = BTreeMap::new();
        if let Some(t) = rc.opt_obj("texts")? {
            for (c, tv) in t.map {
                if !is_rc(c) {
                    return Err(err(&t.key(c), "not a 2-character response code"));
                }
                let s = tv
                    .as_str()
                    .ok_or_else(|| err(&t.key(c), "must be a string"))?;
                texts.insert(c.clone(), s.to_string());
            }
        }
        let rr = root.obj("reversal_reasons")?;
        rr.only(&["no_answer", "bad_mac", "other"])?;
        let reason = |k: &str, d: &'static str| -> Result<String> {
            let s = rr.str_or(k, Some(d))?;
            if !is_rc(s) {
                return Err(err(
                    &rr.key(k),
                    format!("\"{s}\" is not a 2-character code"),
                ));
            }
            Ok(s.to_string())
        };
        let reversal = ReversalCodes {
            no_answer: reason("no_answer", "98")?,
            bad_mac: reason("bad_mac", "A0")?,
            other: reason("other", "06")?,
        };
        let mut codes: Vec<String> = Vec::new();
        let mo = root.opt_obj("management")?;
        if let Some(m) = &mo {
            m.only(&MANAGEMENT.iter().map(|(k, _, _)| *k).collect::<Vec<_>>())?;
        }
        for (i, (k, cup, mti)) in MANAGEMENT.iter().enumerate() {
            let (c, key) = match &mo {
                Some(m) => (m.str_or(k, Some(cup))?, m.key(k)),
                None => (*cup, format!("management.{k}")),
            };
            digits_of(&key, c, 3)?;
            if let Some(j) = (0..i).find(|&j| MANAGEMENT[j].2 == *mti && codes[j] == c) {
                return Err(err(
                    &key,
                    format!(
                        "{c} is also management.{}: both are {mti:04} messages",
                        MANAGEMENT[j].0
                    ),
                ));
            }
            codes.push(c.to_string());
        }
        let mut code = codes.into_iter();
        let mut next = || code.next().unwrap_or_default();
        let management = Management {
            activate: next(),
            key_query: next(),
            tmk_download: next(),
            tmk_activate: next(),
            sign_in: next(),
            capk_query: next(),
            capk_download: next(),
            capk_end: next(),
            aid_query: next(),
            aid_download: next(),
            aid_end: next(),
            detail_query: next(),
            settle: next(),
            batch_upload: next(),
            batch_upload_end: next(),
            script_advice: next(),
            qr_query: next(),
            qr_close: next(),
            sign_off: next(),
            echo: next(),
            tc_upload: next(),
            signature_upload: next(),
        };
        let currency = root.str_or("currency", Some("156"))?.to_string();
        digits_of("currency", &currency, 3)?;
        let route = |o: &Option<Obj>, k: &str| -> Result<Dest> {
            Ok(match o {
                Some(o)
                    if o.choice(k, &["gateway", "platform"], Some("platform"))? == "gateway" =>
                {
                    Dest::Gateway
                }
                _ => Dest::Platform,
            })
        };
        let ro = root.opt_obj("routes")?;
        if let Some(o) = &ro {
            o.only(&["settle", "batch_upload", "detail_query"])?;
        }
        let routes = Routes {
            settle: route(&ro, "settle")?,
            batch_upload: route(&ro, "batch_upload")?,
            detail_query: route(&ro, "detail_query")?,
        };
        let field_max = |n: u8| defs.iter().find(|(d, _)| d.number == n).map(|(d, _)| d.max);
        let subfields = Subfields::parse(root.get("subfields"), field_max)?;

        let canonical = serde_json::to_vec(v).map_err(|e| err("profile", e))?;
        Ok(Profile {
            name,
            sha256: crate::crypto::sha256(&canonical),
            wire: Wire {
                prefix,
                tpdu,
                header: has_header,
                mab,
                codec,
            },
            header,
            kinds: kinds_v,
            mac,
            pin_block,
            key_families,
            approved,
            sign_in,
            reverse,
            texts,
            reversal,
            currency,
            management,
            routes,
            subfields,
            secrecy,
        })
    }

    /// The wire row of a kind, or an error naming the kind when this profile does not carry it.
    pub fn kind(&self, kind: Kind) -> Result<&KindWire> {
        self.kinds[kind as usize].as_ref().ok_or_else(|| {
            Error::new(
                crate::error::ErrorKind::InvalidRequest,
                format!(
                    "the acquirer profile \"{}\" has no {} transaction",
                    self.name,
                    kind_name(kind)
                ),
            )
        })
    }

    /// The kind whose row has these 60.1 type, delivery-independent (detail query reports).
    pub fn kind_of_type(&self, type_code: &str, qr: bool) -> Option<&'static str> {
        let rows = || {
            kinds::KINDS
                .iter()
                .filter_map(|d| Some((d, self.kinds[d.kind as usize].as_ref()?)))
        };
        rows()
            .find(|(d, w)| w.type_code == type_code && d.is_qr() == qr)
            .or_else(|| rows().find(|(_, w)| w.type_code == type_code))
            .map(|(d, _)| d.name)
    }

    /// The kind whose row has this MTI, 3, 25 and 60.1 (a host reading a request).
    pub fn kind_of_request(
        &self,
        mti: u16,
        processing: &str,
        condition: &str,
        type_code: &str,
    ) -> Option<&'static str> {
        kinds::KINDS
            .iter()
            .find(|d| {
                self.kinds[d.kind as usize].as_ref().is_some_and(|w| {
                    w.mti == mti
                        && w.processing == processing
                        && w.condition == condition
                        && w.type_code == type_code
                })
            })
            .map(|d| d.name)
    }

    pub fn is_approval(&self, rc: &str) -> bool {
        self.approved.iter().any(|c| c == rc)
    }

    /// Answers the acquirer wants treated as no answer: reversed, or resent for an advice.
    pub fn reverses(&self, rc: &str) -> bool {
        self.reverse.iter().any(|c| c == rc)
    }

    pub fn requires_sign_in(&self, rc: &str) -> bool {
        self.sign_in.iter().any(|c| c == rc)
    }

    /// The readable text of a response code: the profile's, else docs/PROTOCOL.md §9's.
    pub fn response_text(&self, rc: &str) -> String {
        match self.texts.get(rc) {
            Some(t) => t.clone(),
            None => crate::receipt::response_text(rc).to_string(),
        }
    }

    /// Refuse a configured key family this profile cannot work in (its MAC or `security.key_family`).
    pub fn check_family(&self, family: KeyFamily) -> Result<()> {
        if self.key_families.contains(&family) {
            return Ok(());
        }
        let why = if self.mac == MacAlgorithm::X919 {
            "security.mac: x919 needs key_family tdes".to_string()
        } else if family == KeyFamily::Sm && self.pin_block != PinFormat::Iso0 {
            format!(
                "security.pin_block: {} needs key_family tdes",
                self.pin_block.name()
            )
        } else {
            format!(
                "security.key_family: the profile serves {} only",
                self.key_families
                    .iter()
                    .map(|f| f.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        Err(Error::invalid(
            "key_family",
            format!(
                "key_family {} cannot be used with the acquirer profile \"{}\": {why}",
                family.name(),
                self.name
            ),
        ))
    }

    /// Lower-case hex of `sha256`.
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iso8583::profile::CUP_CODEC;

    fn cup_value() -> Value {
        serde_json::from_str(BUILT_IN[0].1).expect("cup.json")
    }

    fn message_of(v: Value) -> String {
        Profile::from_value(&v)
            .expect_err("must be refused")
            .to_string()
    }

    #[test]
    fn the_cup_profile_is_the_compiled_table() {
        let p = Profile::built_in("cup").expect("cup");
        assert_eq!(p.name, "cup");
        assert_eq!(p.wire.codec.specs, CUP_CODEC.specs);
        assert_eq!(p.wire.codec.max_values_total, CUP_CODEC.max_values_total);
        assert_eq!(p.wire.codec.fixed_wire_total, CUP_CODEC.fixed_wire_total);
        assert_eq!(p.wire.prefix, LengthPrefix::Binary(2));
        assert!(p.wire.tpdu && p.wire.header);
        assert_eq!(p.mac, MacAlgorithm::CupEcb);
        for d in kinds::KINDS {
            let w = p.kind(d.kind).expect("every kind");
            assert_eq!(w.type_code, d.type_code, "{}", d.name);
        }
        let sale = p.kind(Kind::Sale).expect("sale");
        assert_eq!((sale.mti, sale.processing.as_str()), (200, "000000"));
        assert_eq!(
            p.kind(Kind::Refund).expect("refund").delivery,
            Delivery::Advice
        );
        assert_eq!(
            p.kind(Kind::Balance).expect("balance").delivery,
            Delivery::Plain
        );
        assert_eq!(p.reversal.no_answer, "98");
        // cup.json spells out the layouts a profile without `subfields` gets.
        let default = Subfields::parse(None, |_| None).expect("CUP layouts");
        assert_eq!(p.subfields, default);
        // The identity is the SHA-256 of the compact, key-sorted JSON.
        let canonical = serde_json::to_vec(&cup_value()).expect("json");
        assert_eq!(p.sha256, crate::crypto::sha256(&canonical));
        assert_eq!(p.sha256_hex().len(), 64);
    }

    #[test]
    fn the_ascii_profile_differs_where_it_says() {
        let p = Profile::built_in("ascii").expect("ascii");
        assert_eq!(p.wire.prefix, LengthPrefix::Ascii(4));
        assert_eq!(p.mac, MacAlgorithm::X919);
        assert!(p.wire.codec.ascii_mti && p.wire.codec.hex_bitmap);
        assert!(p.wire.codec.specs[51].hex);
        assert!(p.wire.codec.specs[1].ascii_digits);
        assert_eq!(p.kind(Kind::Preauth).expect("preauth").processing, "300000");
        assert_ne!(p.sha256, Profile::built_in("cup").expect("cup").sha256);
    }

    #[test]
    fn the_ascii_wire_round_trips_byte_for_byte() {
        use crate::iso8583::{Frame, Header, Message, Mti, Tpdu};
        let p = Profile::built_in("ascii").expect("ascii");
        let mut m = Message::new(Mti(200));
        m.set_str(2, "6225880123456789")
            .set_str(3, "000000")
            .set_str(4, "000000000100")
            .set_str(11, "000123")
            .set_str(22, "021")
            .set_str(35, "6225880123456789=30121010000000000")
            .set_str(41, "12345678")
            .set_str(42, "123456789012345")
            .set(52, vec![0xAB, 0xCD, 0xEF, 0x01, 0x23, 0x45, 0x67, 0x89])
            .set_str(60, "22000001000500");
        let f = Frame {
            tpdu: Tpdu([0x60, 0, 3, 0, 0]),
            header: Header {
                version: 0x32,
                ..Header::default()
            },
            message: m,
        };
        let bytes = p
            .wire
            .encode_frame_with_mac::<crate::iso8583::CodecError, _>(&f, |_| Ok(*b"MACMACMA"))
            .expect("encode");
        let len: usize = std::str::from_utf8(&bytes[..4])
            .expect("ascii")
            .parse()
            .expect("digits");
        assert_eq!(len, bytes.len() - 4);
        assert_eq!(&bytes[4..9], &[0x60, 0, 3, 0, 0]);
        assert_eq!(&bytes[9..15], &[0x60, 0x32, 0, 0, 0, 0]);
        assert_eq!(&bytes[15..19], b"0200");
        let text = String::from_utf8_lossy(&bytes[19..]).to_string();
        // Hex bitmap, then 2 as LL "16" + digits, 3 as six digits, 52 as 16 hex characters.
        assert!(text.starts_with("7"), "{text}");
        assert!(
            text.contains("166225880123456789000000000000000100000123021"),
            "{text}"
        );
        assert!(
            text.contains("346225880123456789=30121010000000000"),
            "{text}"
        );
        assert!(text.contains("ABCDEF0123456789"), "{text}");
        assert!(text.contains("01422000001000500"), "{text}");
        let back = p.wire.decode_frame(&bytes).expect("decode");
        assert_eq!(
            back.message.get_str(35),
            Some("6225880123456789D30121010000000000")
        );
        assert_eq!(back.message.get(52), f.message.get(52));
        assert_eq!(back.message.get(64), Some(&b"MACMACMA"[..]));
        assert_eq!(
            p.wire.mac_span(&bytes).map(<[u8]>::len),
            Some(bytes.len() - 8 - 15)
        );
        let again = p.wire.encode_frame(&back).expect("re-encode");
        assert_eq!(again, bytes);
        // The CUP wire cannot read it.
        assert!(crate::iso8583::decode_frame(&bytes).is_err());
    }

    #[test]
    fn validation_names_the_key() {
        let mut v = cup_value();
        v["kinds"]["refund"]["delivery"] = "reversible".into();
        assert!(
            message_of(v).contains("kinds.refund: mti 0220 is an advice but delivery = reversible")
        );

        let mut v = cup_value();
        v["kinds"]["sale"]["delivery"] = "advice".into();
        assert!(message_of(v).contains("kinds.sale: mti 0200 is a request"));

        let mut v = cup_value();
        v["kinds"]["sale"]["processing"] = "00000".into();
        assert!(message_of(v).contains("kinds.sale.processing: \"00000\" must be 6 digits"));

        let mut v = cup_value();
        v["kinds"]["refnud"] = v["kinds"]["refund"].clone();
        assert!(message_of(v).contains("kinds.refnud: unknown kind"));

        let mut v = cup_value();
        v["fields"]["2"]["format"] = "x".into();
        assert!(message_of(v).contains("fields.2.format: \"x\" is not one of n, z, an, ans, b"));

        let mut v = cup_value();
        v["fields"]["4"]["content"] = "hex".into();
        assert!(message_of(v).contains("fields.4.content: only for b fields"));

        let mut v = cup_value();
        v["fields"]["64"]["content"] = "hex".into();
        assert!(message_of(v).contains("fields.64: field 64 is the MAC"));

        let mut v = cup_value();
        v["security"]["mac"] = "md5".into();
        assert!(message_of(v).contains("security.mac: \"md5\" is not one of cup_ecb, x919"));

        let mut v = cup_value();
        v["framing"]["length_prefix"]["bytes"] = 9.into();
        assert!(message_of(v)
            .contains("framing.length_prefix.bytes: must be a whole number from 1 to 4"));

        let mut v = cup_value();
        v["framing"]["colour"] = "red".into();
        assert!(message_of(v).contains("framing.colour: unknown key"));

        let mut v = cup_value();
        v["kinds"]["sale"]["fields"] = serde_json::json!([3, 4, 11, 41, 42, 7]);
        assert!(message_of(v).contains("kinds.sale.fields: field 7 is not in the field table"));

        let mut v = cup_value();
        v["response_codes"]["reverse"] = serde_json::json!(["96", "A2"]);
        assert!(message_of(v).contains("response_codes.reverse: A2 is also an approval"));

        let mut v = cup_value();
        v["response_codes"]["sign_in"] = serde_json::json!(["00"]);
        assert!(message_of(v).contains("response_codes.sign_in: 00 is also an approval"));

        let mut v = cup_value();
        v["management"] = serde_json::json!({"capk_end": "004"});
        assert!(message_of(v).contains(
            "management.capk_end: 004 is also management.sign_in: both are 0800 messages"
        ));

        let mut v = cup_value();
        v["management"] = serde_json::json!({"settle": "20"});
        assert!(message_of(v).contains("management.settle: \"20\" must be 3 digits"));

        let mut v = cup_value();
        v["fields"].as_object_mut().expect("fields").remove("11");
        assert!(message_of(v).contains("fields.11: required"));

        let e = Profile::from_config(Some(&Value::String("/no/such/profile.json".into())))
            .expect_err("missing file");
        assert_eq!(e.kind, crate::ErrorKind::InvalidRequest);
        assert!(e
            .to_string()
            .contains("neither a built-in profile nor a readable file"));
    }

    #[test]
    fn a_kind_the_profile_lacks_is_refused_by_name() {
        let mut v = cup_value();
        v["kinds"].as_object_mut().expect("kinds").remove("balance");
        let p = Profile::from_value(&v).expect("valid without balance");
        let e = p.kind(Kind::Balance).expect_err("no balance");
        assert!(e.to_string().contains("has no balance transaction"));
    }

    #[test]
    fn config_forms() {
        assert_eq!(Profile::from_config(None).expect("default").name, "cup");
        let by_name = Profile::from_config(Some(&"ascii".into())).expect("by name");
        assert_eq!(by_name.name, "ascii");
        let dir = std::env::temp_dir().join(format!("possdk-profile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("p.json");
        let mut v = cup_value();
        v["name"] = "bank".into();
        std::fs::write(&path, serde_json::to_string(&v).expect("json")).expect("write");
        let by_path =
            Profile::from_config(Some(&Value::String(path.display().to_string()))).expect("path");
        assert_eq!(by_path.name, "bank");
        let inline = Profile::from_config(Some(&v)).expect("inline");
        assert_eq!(inline.sha256, by_path.sha256);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_order_delivery_belongs_to_the_merchant_presented_kind_only() {
        let p = Profile::built_in("cup").expect("cup");
        assert_eq!(
            p.kind(Kind::QrOrder).expect("qr_order").delivery,
            Delivery::Order
        );
        let mut v = cup_value();
        v["kinds"]["qr_order"]["delivery"] = "reversible".into();
        assert!(message_of(v).contains(
            "kinds.qr_order.delivery: qr_order is a merchant-presented QR order: delivery must be order, not reversible"
        ));
        let mut v = cup_value();
        v["kinds"]["sale"]["delivery"] = "order".into();
        assert!(message_of(v).contains(
            "kinds.sale.delivery: order is only for merchant-presented QR kinds (qr_order), not sale"
        ));
        let mut v = cup_value();
        v["kinds"]["qr_order"]["mti"] = "0220".into();
        assert!(
            message_of(v).contains("kinds.qr_order: mti 0220 is an advice but delivery = order")
        );
    }

    #[test]
    fn the_qr_status_codes_are_management_codes() {
        let p = Profile::built_in("cup").expect("cup");
        assert_eq!(p.management.qr_query, "391");
        assert_eq!(p.management.qr_close, "392");
        let m = &p.management;
        assert_eq!(
            [
                &m.sign_off,
                &m.echo,
                &m.tc_upload,
                &m.signature_upload,
                &m.script_advice
            ],
            ["002", "301", "203", "800", "951"]
        );
        // 0820: the echo test's code may not be the sign-off's; 0320: the TC upload's not a batch upload's.
        let mut v = cup_value();
        v["management"] = serde_json::json!({"echo": "002"});
        assert!(message_of(v)
            .contains("management.echo: 002 is also management.sign_off: both are 0820 messages"));
        let mut v = cup_value();
        v["management"] = serde_json::json!({"tc_upload": "202"});
        assert!(message_of(v).contains(
            "management.tc_upload: 202 is also management.batch_upload_end: both are 0320 messages"
        ));
        let mut v = cup_value();
        v["management"] = serde_json::json!({"qr_query": "393", "qr_close": "394"});
        let p = Profile::from_value(&v).expect("own codes");
        assert_eq!(
            (
                p.management.qr_query.as_str(),
                p.management.qr_close.as_str()
            ),
            ("393", "394")
        );
        let mut v = cup_value();
        v["management"] = serde_json::json!({"qr_close": "391"});
        assert!(message_of(v).contains(
            "management.qr_close: 391 is also management.qr_query: both are 0800 messages"
        ));
    }

    #[test]
    fn key_families_follow_the_mac() {
        let cup = Profile::built_in("cup").expect("cup");
        assert!(cup.check_family(KeyFamily::Tdes).is_ok());
        assert!(cup.check_family(KeyFamily::Sm).is_ok());
        let ascii = Profile::built_in("ascii").expect("ascii");
        assert!(ascii.check_family(KeyFamily::Tdes).is_ok());
        let e = ascii
            .check_family(KeyFamily::Sm)
            .expect_err("x919 is DES only");
        assert_eq!(e.field.as_deref(), Some("key_family"));
        assert!(
            e.to_string()
                .contains("security.mac: x919 needs key_family tdes"),
            "{e}"
        );
        // Declared families: a list or a name; x919 with sm is refused at load.
        let mut v = cup_value();
        v["security"]["key_family"] = "tdes".into();
        let tdes_only = Profile::from_value(&v).expect("tdes only");
        let e = tdes_only
            .check_family(KeyFamily::Sm)
            .expect_err("sm not served");
        assert!(e
            .to_string()
            .contains("security.key_family: the profile serves tdes only"));
        v["security"]["key_family"] = serde_json::json!(["sm"]);
        assert!(Profile::from_value(&v)
            .expect("sm only")
            .check_family(KeyFamily::Tdes)
            .is_err());
        v["security"]["key_family"] = serde_json::json!(["sm", "aes"]);
        assert!(
            message_of(v.clone()).contains("security.key_family: \"aes\" is not one of tdes, sm")
        );
        v["security"]["key_family"] = serde_json::json!([]);
        assert!(
            message_of(v.clone()).contains("security.key_family: must name at least one family")
        );
        v["security"]["mac"] = "x919".into();
        v["security"]["key_family"] = serde_json::json!(["tdes", "sm"]);
        assert!(message_of(v.clone()).contains("security.mac: x919 needs key_family tdes"));
        v["security"]
            .as_object_mut()
            .expect("security")
            .remove("key_family");
        let p = Profile::from_value(&v).expect("x919 defaults to tdes");
        assert_eq!(p.key_families, vec![KeyFamily::Tdes]);
    }

    #[test]
    fn field_52_doubles_in_the_sm_family() {
        use crate::iso8583::{Message, Mti};
        for name in ["cup", "ascii"] {
            let p = Profile::built_in(name).expect(name);
            let mut m = Message::new(Mti(200));
            m.set_str(3, "000000");
            m.set_str(11, "000001");
            m.set_str(41, "SMTERM01");
            m.set_str(42, "123456789012345");
            m.set(52, (0..16).collect::<Vec<u8>>());
            let frame = crate::iso8583::Frame {
                tpdu: crate::iso8583::Tpdu([0x60, 0, 1, 0, 0]),
                header: crate::iso8583::Header::default(),
                message: m.clone(),
            };
            let raw = p.wire.encode_frame(&frame).expect("16-byte 52 encodes");
            let back = p
                .wire
                .decode_frame_for(&raw, &|_| KeyFamily::Sm)
                .expect("decodes in the sm family");
            assert_eq!(back.message, m, "{name}");
            // Read as TDES the 16 bytes do not fit.
            assert!(p.wire.decode_frame(&raw).is_err(), "{name}");
        }
    }

    #[test]
    fn the_header_status_and_the_layouts_are_profile_data() {
        let mut v = cup_value();
        assert_eq!(Profile::from_value(&v).expect("cup").header.status, 0);
        v["framing"]["header"]["status"] = 1.into();
        let p = Profile::from_value(&v).expect("status 1");
        assert_eq!(p.header.status, 1);
        v["framing"]["header"]["status"] = 16.into();
        assert!(message_of(v.clone())
            .contains("framing.header.status: must be a whole number from 0 to 15"));
        // A layout wider than its field's maximum, and a layout that is not a list.
        let mut v = cup_value();
        v["fields"]["61"]["max"] = 12.into();
        assert!(message_of(v.clone()).contains("subfields.61: 16 digits but fields.61.max is 12"));
        let mut v = cup_value();
        v["subfields"]["62"] = "pik".into();
        assert!(message_of(v).contains("subfields.62: must be a list of parts"));
        // Routes: CUP's platform unless a message is moved to the gateway.
        assert_eq!(Profile::cup().routes.settle, Dest::Platform);
        let mut v = cup_value();
        v["routes"] = serde_json::json!({"settle": "gateway", "batch_upload": "gateway"});
        let p = Profile::from_value(&v).expect("routes");
        assert_eq!(
            (
                p.routes.settle,
                p.routes.batch_upload,
                p.routes.detail_query
            ),
            (Dest::Gateway, Dest::Gateway, Dest::Platform)
        );
        v["routes"] = serde_json::json!({"settle": "host"});
        assert!(message_of(v.clone())
            .contains("routes.settle: \"host\" is not one of gateway, platform"));
        v["routes"] = serde_json::json!({"echo": "gateway"});
        assert!(message_of(v).contains("routes.echo: unknown key"));
        // How a kind names its original: CUP's forms unless `original` says otherwise.
        let cup = Profile::cup();
        let void = cup.kind(Kind::Void).expect("void");
        assert_eq!(
            (void.f37, void.f38, void.f61),
            (Echo::Required, Echo::IfKnown, F61::BatchStan)
        );
        let mut v = cup_value();
        v["kinds"]["void"]["original"] = serde_json::json!({"38": "no", "61": "batch_stan_date"});
        let p = Profile::from_value(&v).expect("original");
        let void = p.kind(Kind::Void).expect("void");
        assert_eq!(
            (void.f37, void.f38, void.f61),
            (Echo::Required, Echo::No, F61::BatchStanDate)
        );
        v["kinds"]["void"]["original"] = serde_json::json!({"37": "no", "38": "no", "61": "none"});
        assert!(message_of(v.clone())
            .contains("kinds.void.original: names the original by nothing: send 61, or 37 or 38"));
        v["kinds"]["void"]["original"] = serde_json::json!({"61": "batch"});
        assert!(message_of(v.clone()).contains(
            "kinds.void.original.61: \"batch\" is not one of none, batch_stan, batch_stan_date"
        ));
        let mut v = cup_value();
        v["kinds"]["sale"]["original"] = serde_json::json!({"37": "required"});
        assert!(message_of(v).contains("kinds.sale.original: sale names no original"));
        // Leaving `subfields` out keeps CUP's layouts.
        let mut v = cup_value();
        v.as_object_mut().expect("object").remove("subfields");
        let p = Profile::from_value(&v).expect("without subfields");
        assert_eq!(p.subfields, Profile::cup().subfields);
    }
}
