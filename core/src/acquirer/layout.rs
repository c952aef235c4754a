//! Sub-field layouts of the private fields (docs/PROFILES.md §11): how 48 (settlement totals), 60
//! (message type, batch, network code, card reading), 61 (the original), 62 (the sign-in key block)
//! and 63 (card organisation) are cut into parts, and the operator id sign-in, sign-off and settlement
//! send as 63. A layout is a list of parts, each a part possdk fills (a known name and its width) or
//! a constant. The terminal writes and reads these fields through the profile's layouts, and so does
//! possdk-host, so both sides of a dialect agree by construction.

use super::{err, Obj};
use crate::error::Result;
use serde_json::Value;

/// One part of a layout: a known part possdk fills or reads, or a constant (`value`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub name: String,
    /// Width in the layout's unit: digits (48, 60, 61), characters (63) or bytes (62).
    pub len: usize,
    /// A constant part's content, `len` long (digits or characters; bytes in 62).
    pub value: Option<Vec<u8>>,
}

/// The parts of one field, in wire order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub parts: Vec<Part>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Digits,
    Chars,
    Bytes,
}

impl Unit {
    fn name(self) -> &'static str {
        match self {
            Unit::Digits => "digits",
            Unit::Chars => "characters",
            Unit::Bytes => "bytes",
        }
    }
    fn filler(self) -> u8 {
        match self {
            Unit::Digits => b'0',
            Unit::Chars => b' ',
            Unit::Bytes => 0,
        }
    }
}

/// A known part: its name and the widths possdk can fill it in.
struct Rule {
    name: &'static str,
    min: usize,
    max: usize,
    required: bool,
}

const fn rule(name: &'static str, min: usize, max: usize, required: bool) -> Rule {
    Rule {
        name,
        min,
        max,
        required,
    }
}

/// What one layout may hold.
struct Spec {
    field: u8,
    unit: Unit,
    rules: &'static [Rule],
}

const F48: Spec = Spec {
    field: 48,
    unit: Unit::Digits,
    rules: &[
        rule("domestic_debit_amount", 1, 12, true),
        rule("domestic_debit_count", 1, 6, true),
        rule("domestic_credit_amount", 1, 12, true),
        rule("domestic_credit_count", 1, 6, true),
        rule("domestic_result", 1, 1, true),
        rule("foreign_debit_amount", 1, 12, true),
        rule("foreign_debit_count", 1, 6, true),
        rule("foreign_credit_amount", 1, 12, true),
        rule("foreign_credit_count", 1, 6, true),
        rule("foreign_result", 1, 1, true),
    ],
};

const F60: Spec = Spec {
    field: 60,
    unit: Unit::Digits,
    rules: &[
        rule("type", 2, 2, true),
        rule("batch", 6, 6, true),
        rule("network", 3, 3, true),
        rule("read_capability", 1, 1, false),
        rule("ic_condition", 1, 1, false),
    ],
};

const F61: Spec = Spec {
    field: 61,
    unit: Unit::Digits,
    rules: &[
        rule("batch", 6, 6, true),
        rule("stan", 6, 6, true),
        rule("date", 4, 4, false),
    ],
};

const F62: Spec = Spec {
    field: 62,
    unit: Unit::Bytes,
    rules: &[
        rule("pik", 16, 16, true),
        rule("pik_check", 4, 4, true),
        rule("mak", 16, 16, true),
        rule("mak_check", 4, 4, true),
        rule("tdk", 16, 16, true),
        rule("tdk_check", 4, 4, true),
    ],
};

const F63: Spec = Spec {
    field: 63,
    unit: Unit::Chars,
    rules: &[rule("organisation", 3, 3, true)],
};

/// CUP's layouts (docs/PROTOCOL.md §2.3, §3.4): what a profile without `subfields` (or without one
/// of its keys) gets. The built-in `cup.json` spells the same layouts out.
const CUP: &str = r#"{
  "48": [{"name": "domestic_debit_amount", "length": 12}, {"name": "domestic_debit_count", "length": 3},
         {"name": "domestic_credit_amount", "length": 12}, {"name": "domestic_credit_count", "length": 3},
         {"name": "domestic_result", "length": 1},
         {"name": "foreign_debit_amount", "length": 12}, {"name": "foreign_debit_count", "length": 3},
         {"name": "foreign_credit_amount", "length": 12}, {"name": "foreign_credit_count", "length": 3},
         {"name": "foreign_result", "length": 1}],
  "60": [{"name": "type", "length": 2}, {"name": "batch", "length": 6}, {"name": "network", "length": 3},
         {"name": "read_capability", "length": 1}, {"name": "ic_condition", "length": 1},
         {"name": "partial_approval", "length": 1, "value": "0"}, {"name": "account_type", "length": 3, "value": "000"}],
  "61": [{"name": "batch", "length": 6}, {"name": "stan", "length": 6}, {"name": "date", "length": 4}],
  "62": [{"name": "pik", "length": 16}, {"name": "pik_check", "length": 4},
         {"name": "mak", "length": 16}, {"name": "mak_check", "length": 4},
         {"name": "tdk", "length": 16}, {"name": "tdk_check", "length": 4}],
  "63": [{"name": "organisation", "length": 3}],
  "operator": "01 "
}"#;

/// Settlement totals of one side (domestic or foreign) as field 48 carries them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SideTotals {
    pub debit_amount: u64,
    pub debit_count: u64,
    pub credit_amount: u64,
    pub credit_count: u64,
    /// The result digit: `0` in a request; in a 0510 `1` balanced, `2` not, `3` error.
    pub result: u8,
}

/// The sub-field layouts of one profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subfields {
    pub f48: Layout,
    pub f60: Layout,
    pub f61: Layout,
    pub f62: Layout,
    pub f63: Layout,
    /// Field 63 of sign-in, sign-off and settlement requests: the operator id.
    pub operator: String,
    /// Parts of 60 in management requests, 0320 and 0620: through the last of type, batch, network.
    f60_short: usize,
    /// Parts of 61 when it names no date: through the last of batch and STAN.
    f61_short: usize,
}

fn digits(value: u64, n: usize) -> String {
    format!("{value:0n$}")
}

fn num(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 18 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse().ok()
}

impl Layout {
    fn parse(key: &str, v: &Value, spec: &Spec, field_max: Option<usize>) -> Result<Layout> {
        let list = v
            .as_array()
            .ok_or_else(|| err(key, "must be a list of parts"))?;
        if list.is_empty() {
            return Err(err(key, "must name at least one part"));
        }
        let known = || {
            spec.rules
                .iter()
                .map(|r| r.name)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut parts: Vec<Part> = Vec::new();
        for (i, pv) in list.iter().enumerate() {
            let o = Obj::new(&format!("{key}.{i}"), pv)?;
            o.only(&["name", "length", "value"])?;
            let name = o.string("name")?;
            if name.is_empty() {
                return Err(err(&o.key("name"), "must not be empty"));
            }
            if parts.iter().any(|p| p.name == name) {
                return Err(err(&o.key("name"), format!("{name} is named twice")));
            }
            let rule = spec.rules.iter().find(|r| r.name == name);
            let value = match o.get("value") {
                None => None,
                Some(Value::String(s)) => Some(s.as_str()),
                Some(_) => return Err(err(&o.key("value"), "must be a string")),
            };
            let part = match (rule, value) {
                (Some(r), None) => Part {
                    name: name.to_string(),
                    len: o.uint("length", r.min as u64..=r.max as u64, None)? as usize,
                    value: None,
                },
                (Some(_), Some(_)) => {
                    return Err(err(
                        &o.key("value"),
                        format!("{name} is filled by possdk; a constant needs a name of its own"),
                    ))
                }
                (None, None) => {
                    return Err(err(
                        &o.key("name"),
                        format!(
                            "\"{name}\" is not a part possdk fills in field {} (known: {}); a constant part needs a value",
                            spec.field,
                            known()
                        ),
                    ))
                }
                (None, Some(s)) => {
                    let bytes = match spec.unit {
                        Unit::Digits if s.bytes().all(|b| b.is_ascii_digit()) => s.as_bytes().to_vec(),
                        Unit::Chars if s.bytes().all(|b| (0x20..0x7F).contains(&b)) => {
                            s.as_bytes().to_vec()
                        }
                        Unit::Bytes => hex::decode(s)
                            .map_err(|_| err(&o.key("value"), format!("\"{s}\" must be hex")))?,
                        _ => {
                            return Err(err(
                                &o.key("value"),
                                format!("\"{s}\" must be {}", spec.unit.name()),
                            ))
                        }
                    };
                    let len = o.uint("length", 1..=999, Some(bytes.len() as u64))? as usize;
                    if bytes.is_empty() || bytes.len() != len {
                        return Err(err(
                            &o.key("value"),
                            format!("must be {len} {} (its length)", spec.unit.name()),
                        ));
                    }
                    Part {
                        name: name.to_string(),
                        len,
                        value: Some(bytes),
                    }
                }
            };
            parts.push(part);
        }
        for r in spec.rules.iter().filter(|r| r.required) {
            if !parts.iter().any(|p| p.name == r.name) {
                return Err(err(key, format!("needs the part {}", r.name)));
            }
        }
        let layout = Layout { parts };
        if let Some(max) = field_max {
            let width = layout.width();
            // A b field's max counts bytes; n fields count digits; ans fields characters.
            if width > max {
                return Err(err(
                    key,
                    format!(
                        "{width} {} but fields.{}.max is {max}",
                        spec.unit.name(),
                        spec.field
                    ),
                ));
            }
        }
        Ok(layout)
    }

    /// The total width of every part.
    pub fn width(&self) -> usize {
        self.parts.iter().map(|p| p.len).sum()
    }

    /// Where a part sits: its start and width.
    fn span(&self, name: &str) -> Option<(usize, usize)> {
        let mut at = 0;
        for p in &self.parts {
            if p.name == name {
                return Some((at, p.len));
            }
            at += p.len;
        }
        None
    }

    /// A part's content in a received value, when the value is long enough to hold it.
    pub fn get<'a>(&self, v: &'a [u8], name: &str) -> Option<&'a [u8]> {
        let (at, len) = self.span(name)?;
        v.get(at..at + len)
    }

    /// The first `count` parts: constants as the layout says, known parts from `fill` (which returns
    /// exactly the part's width), any other known part filled with zeros or spaces.
    fn write(
        &self,
        count: usize,
        unit: Unit,
        mut fill: impl FnMut(&str, usize) -> Option<Vec<u8>>,
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.width());
        for p in self.parts.iter().take(count) {
            match &p.value {
                Some(v) => out.extend_from_slice(v),
                None => match fill(&p.name, p.len) {
                    Some(v) if v.len() == p.len => out.extend_from_slice(&v),
                    _ => out.resize(out.len() + p.len, unit.filler()),
                },
            }
        }
        out
    }

    /// The count of parts through the last of `names`.
    fn through(&self, names: &[&str]) -> usize {
        self.parts
            .iter()
            .rposition(|p| names.contains(&p.name.as_str()))
            .map_or(self.parts.len(), |i| i + 1)
    }
}

fn text(b: Vec<u8>) -> String {
    String::from_utf8(b).unwrap_or_default()
}

impl Subfields {
    /// The layouts of a profile's `subfields` object (absent: CUP's). `max(field)` is the field
    /// table's maximum for a field the profile defines.
    pub(super) fn parse(v: Option<&Value>, max: impl Fn(u8) -> Option<usize>) -> Result<Subfields> {
        let cup: Value = serde_json::from_str(CUP).expect("CUP layouts are valid JSON");
        let given = match v {
            None => None,
            Some(v) => {
                let o = Obj::new("subfields", v)?;
                o.only(&["48", "60", "61", "62", "63", "operator"])?;
                Some(o)
            }
        };
        let pick = |k: &str| -> (String, Value) {
            match given.as_ref().and_then(|o| o.get(k)) {
                Some(v) => (format!("subfields.{k}"), v.clone()),
                None => (format!("subfields.{k}"), cup[k].clone()),
            }
        };
        let layout = |spec: &Spec| -> Result<Layout> {
            let (key, v) = pick(&spec.field.to_string());
            Layout::parse(&key, &v, spec, max(spec.field))
        };
        let f60 = layout(&F60)?;
        let f61 = layout(&F61)?;
        let (okey, ov) = pick("operator");
        let operator = match ov {
            Value::String(s) if !s.is_empty() && s.bytes().all(|b| (0x20..0x7F).contains(&b)) => s,
            _ => return Err(err(&okey, "must be 1 or more printable ASCII characters")),
        };
        if let Some(m) = max(63) {
            if operator.len() > m {
                return Err(err(&okey, format!("longer than fields.63.max ({m})")));
            }
        }
        Ok(Subfields {
            f48: layout(&F48)?,
            f60_short: f60.through(&["type", "batch", "network"]),
            f61_short: f61.through(&["batch", "stan"]),
            f60,
            f61,
            f62: layout(&F62)?,
            f63: layout(&F63)?,
            operator,
        })
    }

    /// Field 60 of a request: the whole layout in financial requests and the 0400 (`card`: the read
    /// capability and IC condition digits); through the network code in management requests, 0320 and
    /// 0620 (`card` None).
    pub fn field60(
        &self,
        type_code: &str,
        batch: u32,
        network: &str,
        card: Option<(u8, u8)>,
    ) -> String {
        let count = if card.is_some() {
            self.f60.parts.len()
        } else {
            self.f60_short
        };
        text(self.f60.write(count, Unit::Digits, |name, len| match name {
            "type" => Some(type_code.as_bytes().to_vec()),
            "batch" => Some(digits(u64::from(batch), len).into_bytes()),
            "network" => Some(network.as_bytes().to_vec()),
            "read_capability" => card.map(|c| vec![c.0]),
            "ic_condition" => card.map(|c| vec![c.1]),
            _ => None,
        }))
    }

    /// Type (60.1), batch (60.2) and network code (60.3) of a received 60; None when it is too short
    /// or they are not digits. Parts the layout does not name are ignored.
    pub fn read60(&self, s: &str) -> Option<(String, u32, String)> {
        let b = s.as_bytes();
        let part = |n: &str| {
            self.f60
                .get(b, n)
                .filter(|v| v.iter().all(u8::is_ascii_digit))
        };
        let t = part("type")?;
        let batch = num(part("batch")?)? as u32;
        let nmc = part("network")?;
        Some((text(t.to_vec()), batch, text(nmc.to_vec())))
    }

    /// A received 60 with its batch part replaced (a sign-in answer gives the terminal its batch).
    pub fn with_batch60(&self, s: &str, batch: u32) -> String {
        let mut b = s.as_bytes().to_vec();
        if let Some((at, len)) = self.f60.span("batch") {
            let value = digits(u64::from(batch), len);
            match b.get_mut(at..at + len) {
                Some(slot) if value.len() == len => slot.copy_from_slice(value.as_bytes()),
                _ => {}
            }
        }
        text(b)
    }

    /// Field 61 naming an original: through its STAN when `date` is None, the whole layout otherwise.
    pub fn field61(&self, batch: u32, stan: u32, date: Option<&str>) -> String {
        let count = if date.is_some() {
            self.f61.parts.len()
        } else {
            self.f61_short
        };
        text(self.f61.write(count, Unit::Digits, |name, len| match name {
            "batch" => Some(digits(u64::from(batch), len).into_bytes()),
            "stan" => Some(digits(u64::from(stan), len).into_bytes()),
            "date" => date.map(|d| d.as_bytes().to_vec()),
            _ => None,
        }))
    }

    /// Batch, STAN and (when the value holds it) date of a received 61.
    pub fn read61(&self, s: &str) -> Option<(u32, u32, Option<String>)> {
        let b = s.as_bytes();
        let batch = num(self.f61.get(b, "batch")?)? as u32;
        let stan = num(self.f61.get(b, "stan")?)? as u32;
        let date = self
            .f61
            .get(b, "date")
            .filter(|d| d.iter().all(u8::is_ascii_digit))
            .map(|d| text(d.to_vec()));
        Some((batch, stan, date))
    }

    /// Field 48 of a settlement (0500) or its answer: counts are sent modulo their width; an amount
    /// wider than its part is an error naming it.
    pub fn field48(&self, sides: &[SideTotals; 2]) -> Result<String> {
        let mut too_wide = None;
        let out = self
            .f48
            .write(self.f48.parts.len(), Unit::Digits, |name, len| {
                let (side, what) = name.split_once('_')?;
                let t = &sides[usize::from(side == "foreign")];
                let v = match what {
                    "debit_amount" => t.debit_amount,
                    "credit_amount" => t.credit_amount,
                    "debit_count" => t.debit_count % 10u64.pow(len as u32),
                    "credit_count" => t.credit_count % 10u64.pow(len as u32),
                    "result" => u64::from(t.result % 10),
                    _ => return None,
                };
                let s = digits(v, len);
                if s.len() != len {
                    too_wide.get_or_insert_with(|| name.to_string());
                    return None;
                }
                Some(s.into_bytes())
            });
        match too_wide {
            Some(name) => Err(crate::error::Error::invalid(
                "settlement",
                format!("the batch total {name} does not fit field 48's layout"),
            )),
            None => Ok(text(out)),
        }
    }

    /// Both sides of a received 48; None when it is shorter than the layout or a part is not digits.
    pub fn read48(&self, s: &str) -> Option<[SideTotals; 2]> {
        let b = s.as_bytes();
        if b.len() < self.f48.width() {
            return None;
        }
        let side = |p: &str| -> Option<SideTotals> {
            let get = |w: &str| num(self.f48.get(b, &format!("{p}_{w}"))?);
            Some(SideTotals {
                debit_amount: get("debit_amount")?,
                debit_count: get("debit_count")?,
                credit_amount: get("credit_amount")?,
                credit_count: get("credit_count")?,
                result: get("result")? as u8,
            })
        };
        Some([side("domestic")?, side("foreign")?])
    }

    /// The PIK, MAK and TDK of a sign-in answer's 62, each (key under the TMK, check value); None when
    /// 62 is not exactly as long as the layout.
    pub fn read62(&self, f62: &[u8]) -> Option<[(Vec<u8>, [u8; 4]); 3]> {
        if f62.len() != self.f62.width() {
            return None;
        }
        let key = |k: &str| -> Option<(Vec<u8>, [u8; 4])> {
            let cv: [u8; 4] = self.f62.get(f62, &format!("{k}_check"))?.try_into().ok()?;
            Some((self.f62.get(f62, k)?.to_vec(), cv))
        };
        Some([key("pik")?, key("mak")?, key("tdk")?])
    }

    /// A sign-in answer's 62 from the PIK, MAK and TDK (each under the TMK) and their check values.
    pub fn field62(&self, keys: [(&[u8], &[u8]); 3]) -> Vec<u8> {
        self.f62
            .write(self.f62.parts.len(), Unit::Bytes, |name, _| {
                let (k, check) = match name.strip_suffix("_check") {
                    Some(k) => (k, true),
                    None => (name, false),
                };
                let i = ["pik", "mak", "tdk"].iter().position(|n| *n == k)?;
                Some(if check { keys[i].1 } else { keys[i].0 }.to_vec())
            })
    }

    /// Field 63 of a financial message carrying a card organisation (a refund's request, every answer).
    pub fn field63(&self, organisation: &str) -> String {
        text(
            self.f63
                .write(self.f63.parts.len(), Unit::Chars, |name, len| {
                    (name == "organisation")
                        .then(|| format!("{organisation:<len$.len$}").into_bytes())
                }),
        )
    }

    /// The card organisation of a received 63 (trimmed), when it is long enough to hold it.
    pub fn organisation63<'a>(&self, s: &'a str) -> Option<&'a str> {
        let (at, len) = self.f63.span("organisation")?;
        s.get(at..(at + len).min(s.len())).map(str::trim)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cup() -> Subfields {
        Subfields::parse(None, |_| None).expect("CUP layouts")
    }

    fn refused(v: Value) -> String {
        Subfields::parse(Some(&v), |f| (f == 60).then_some(30))
            .expect_err("must be refused")
            .to_string()
    }

    #[test]
    fn cup_layouts_write_the_documented_values() {
        let s = cup();
        assert_eq!(
            s.field60("22", 1, "000", Some((b'5', b'0'))),
            "22000001000500000"
        );
        assert_eq!(s.field60("00", 12, "004", None), "00000012004");
        assert_eq!(
            s.read60("22000001000500000"),
            Some(("22".into(), 1, "000".into()))
        );
        // A longer 60 (a real capture sends 19 digits) reads the same.
        assert_eq!(
            s.read60("2200000100050000012"),
            Some(("22".into(), 1, "000".into()))
        );
        assert_eq!(s.read60("2200000"), None);
        assert_eq!(s.with_batch60("00000001004", 7), "00000007004");
        // Too short to hold a batch, or a batch too wide: left as received.
        assert_eq!(s.with_batch60("0000", 7), "0000");
        assert_eq!(s.with_batch60("00000001004", 1_000_000), "00000001004");
        assert_eq!(s.field61(1, 23, None), "000001000023");
        assert_eq!(s.field61(1, 23, Some("1201")), "0000010000231201");
        assert_eq!(
            s.read61("0000010000231201"),
            Some((1, 23, Some("1201".into())))
        );
        assert_eq!(s.read61("000001000023"), Some((1, 23, None)));
        let t = [
            SideTotals {
                debit_amount: 12345,
                debit_count: 1002,
                credit_amount: 500,
                credit_count: 1,
                result: 0,
            },
            SideTotals::default(),
        ];
        let f48 = s.field48(&t).expect("fits");
        let dom = "000000012345002000000000500001";
        assert_eq!(f48, format!("{dom}0{}0", "0".repeat(30)));
        let back = s.read48(&f48).expect("reads");
        assert_eq!(back[0].debit_count, 2);
        assert_eq!(back[0].debit_amount, 12345);
        assert_eq!(back[1], SideTotals::default());
        assert_eq!(s.field63("CUP"), "CUP");
        assert_eq!(s.organisation63("VIS some text"), Some("VIS"));
        assert_eq!(s.operator, "01 ");
        let k: Vec<u8> = (0..60).collect();
        let keys = s.read62(&k).expect("60 bytes");
        assert_eq!(keys[1].0, (20..36).collect::<Vec<u8>>());
        assert_eq!(keys[2].1, [56, 57, 58, 59]);
        let again = s.field62([
            (&keys[0].0, &keys[0].1),
            (&keys[1].0, &keys[1].1),
            (&keys[2].0, &keys[2].1),
        ]);
        assert_eq!(again, k);
        assert!(s.read62(&k[..40]).is_none());
    }

    #[test]
    fn another_layout_moves_the_parts() {
        let v: Value = serde_json::json!({
            "60": [{"name": "batch", "length": 6}, {"name": "type", "length": 2},
                   {"name": "network", "length": 3}, {"name": "ic_condition", "length": 1}],
            "61": [{"name": "stan", "length": 6}, {"name": "batch", "length": 6},
                   {"name": "filler", "value": "00"}, {"name": "date", "length": 4}],
            "62": [{"name": "mak", "length": 16}, {"name": "mak_check", "length": 4},
                   {"name": "pik", "length": 16}, {"name": "pik_check", "length": 4},
                   {"name": "tdk", "length": 16}, {"name": "tdk_check", "length": 4},
                   {"name": "reserved", "length": 2, "value": "0000"}],
            "63": [{"name": "tag", "value": "OR"}, {"name": "organisation", "length": 3}],
            "operator": "001"
        });
        let s = Subfields::parse(Some(&v), |_| None).expect("valid");
        assert_eq!(
            s.field60("22", 1, "000", Some((b'6', b'0'))),
            "000001220000"
        );
        assert_eq!(s.field60("00", 1, "004", None), "00000100004");
        assert_eq!(
            s.read60("000001220000"),
            Some(("22".into(), 1, "000".into()))
        );
        assert_eq!(s.field61(1, 23, None), "000023000001");
        assert_eq!(s.field61(1, 23, Some("1201")), "000023000001001201");
        assert_eq!(
            s.read61("000023000001001201"),
            Some((1, 23, Some("1201".into())))
        );
        assert_eq!(s.field63("CUP"), "ORCUP");
        assert_eq!(s.organisation63("ORVIS"), Some("VIS"));
        let k: Vec<u8> = (0..62).collect();
        let keys = s.read62(&k).expect("62 bytes");
        assert_eq!(keys[0].0, (20..36).collect::<Vec<u8>>(), "pik second");
        let again = s.field62([
            (&keys[0].0, &keys[0].1),
            (&keys[1].0, &keys[1].1),
            (&keys[2].0, &keys[2].1),
        ]);
        assert_eq!(&again[..60], &k[..60]);
        assert_eq!(&again[60..], &[0, 0]);
    }

    #[test]
    fn wide_counts_wrap_and_wide_amounts_are_refused() {
        let mut v: Value = serde_json::from_str(CUP).expect("json");
        v["48"][1]["length"] = 4.into();
        v["48"][6]["length"] = 4.into();
        let s = Subfields::parse(Some(&v), |_| None).expect("valid");
        let mut t = [SideTotals::default(); 2];
        t[0].debit_count = 12_345;
        let f48 = s.field48(&t).expect("fits");
        assert_eq!(f48.len(), 64);
        assert_eq!(s.read48(&f48).expect("reads")[0].debit_count, 2_345);
        t[0].debit_amount = 1_000_000_000_000;
        assert!(s
            .field48(&t)
            .expect_err("13 digits")
            .to_string()
            .contains("domestic_debit_amount"));
    }

    #[test]
    fn bad_layouts_name_the_key() {
        let e = refused(serde_json::json!({"60": [{"name": "type", "length": 2}]}));
        assert!(e.contains("subfields.60: needs the part batch"), "{e}");
        let e = refused(serde_json::json!({"60": [{"name": "colour", "length": 2}]}));
        assert!(
            e.contains("subfields.60.0.name: \"colour\" is not a part"),
            "{e}"
        );
        let e = refused(serde_json::json!({"61": [{"name": "batch", "length": 4}]}));
        assert!(
            e.contains("subfields.61.0.length: must be a whole number from 6 to 6"),
            "{e}"
        );
        let e =
            refused(serde_json::json!({"61": [{"name": "batch", "length": 6, "value": "000001"}]}));
        assert!(
            e.contains("subfields.61.0.value: batch is filled by possdk"),
            "{e}"
        );
        let e = refused(serde_json::json!({"60": [
            {"name": "type", "length": 2}, {"name": "batch", "length": 6}, {"name": "network", "length": 3},
            {"name": "pad", "value": "00000000000000000000"}]}));
        assert!(
            e.contains("subfields.60: 31 digits but fields.60.max is 30"),
            "{e}"
        );
        let e = refused(
            serde_json::json!({"61": [{"name": "batch", "length": 6}, {"name": "batch", "length": 6}]}),
        );
        assert!(
            e.contains("subfields.61.1.name: batch is named twice"),
            "{e}"
        );
        let e = refused(serde_json::json!({"61": [{"name": "x", "value": "0A"}]}));
        assert!(
            e.contains("subfields.61.0.value: \"0A\" must be digits"),
            "{e}"
        );
        let e = refused(serde_json::json!({"colour": []}));
        assert!(e.contains("subfields.colour: unknown key"), "{e}");
        let e = refused(serde_json::json!({"operator": ""}));
        assert!(e.contains("subfields.operator"), "{e}");
    }
}
