//! Request fields from a kind's row + the inputs (docs/PROTOCOL.md §4), the 0400 draft
//! (§6) and the 0620 script advice (§8). Flows name fields here; encodings live in the field table.

use super::kinds::{AmountRule, Echo, KindDef, Means, OnOriginal, F61};
use super::{digits, Engine};
use crate::error::{Error, Result};
use crate::hal::{CardData, EntryMode};
use crate::iso8583::{Message, Mti};
use crate::journal::TxRecord;
use crate::model::CardInput;
use crate::tlv;
use zeroize::Zeroizing;

/// Largest amount field 4 can carry (n12).
pub const MAX_AMOUNT: u64 = 999_999_999_999;

/// A card as read (reader or inline), validated.
#[derive(Clone)]
pub(crate) struct CardRead {
    pub entry: EntryMode,
    pub pan: Zeroizing<String>,
    /// Digits with `D` as separator.
    pub track2: Option<Zeroizing<String>>,
    pub track3: Option<Zeroizing<String>>,
    pub expiry: Option<String>,
    pub sequence: Option<String>,
    pub icc: Option<Vec<u8>>,
}

impl std::fmt::Debug for CardRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardRead")
            .field("entry", &self.entry)
            .field("pan", &crate::mask_pan(&self.pan))
            .finish_non_exhaustive()
    }
}

impl CardRead {
    pub fn is_chip(&self) -> bool {
        matches!(self.entry, EntryMode::Chip | EntryMode::Contactless) && self.icc.is_some()
    }
}

/// The original a request refers to.
#[derive(Clone, Default)]
pub(crate) struct OriginalInfo {
    /// The journal row, when the original is local.
    pub row: Option<TxRecord>,
    pub batch: u32,
    pub stan: u32,
    /// MMDD, `0000` when unknown.
    pub date: String,
    pub reference: Option<String>,
    pub auth_code: Option<String>,
    pub voucher: Option<String>,
    /// Field 22 as the original sent it (tips repeat it).
    pub entry_mode: Option<String>,
    /// Full PAN from the journal (card-not-present kinds, card check on voids). Never logged.
    pub pan: Option<Zeroizing<String>>,
}

/// Everything `build_request` needs besides STAN and batch.
pub(crate) struct Prepared {
    pub def: &'static KindDef,
    /// Field 4 (None: absent).
    pub amount: Option<u64>,
    /// Tip (field 48 for tip / tip void).
    pub tip: u64,
    pub card: Option<CardRead>,
    /// 8 bytes (TDES family) or 16 (SM family).
    pub pin_block: Option<Vec<u8>>,
    pub qr_code: Option<String>,
    pub original: Option<OriginalInfo>,
}

/// 1 ..= 12 digits of fen.
pub fn validate_amount(field: &str, amount: u64) -> Result<()> {
    if amount == 0 {
        return Err(Error::invalid(field, "must be greater than 0"));
    }
    if amount > MAX_AMOUNT {
        return Err(Error::invalid(field, "must be at most 12 digits"));
    }
    Ok(())
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// A track as the request carries it: `=` becomes `D`. Checked on the input first, then written once into
/// a buffer of its final size, so no reallocation leaves a partial copy of the card data behind.
fn normalize_track(field: &str, track: &str, max: usize) -> Result<Zeroizing<String>> {
    let ok = |b: u8| b.is_ascii_digit() || matches!(b, b'D' | b'd' | b'=');
    if track.is_empty() || track.len() > max || !track.bytes().all(ok) {
        return Err(Error::invalid(
            field,
            format!("must be 1 to {max} digits with D or = as separator"),
        ));
    }
    let mut t = Zeroizing::new(String::with_capacity(track.len()));
    t.extend(
        track
            .bytes()
            .map(|b| if b.is_ascii_digit() { b as char } else { 'D' }),
    );
    Ok(t)
}

/// Validate an inline PAN (13..19 digits).
pub fn validate_pan(field: &str, pan: &str) -> Result<()> {
    if !all_digits(pan) || !(13..=19).contains(&pan.len()) {
        return Err(Error::invalid(field, "PAN must be 13 to 19 digits"));
    }
    Ok(())
}

/// Validate a PIN given inline (4..12 digits).
pub fn validate_pin(field: &str, pin: &str) -> Result<()> {
    if !all_digits(pin) || !(4..=12).contains(&pin.len()) {
        return Err(Error::invalid(field, "PIN must be 4 to 12 digits"));
    }
    Ok(())
}

/// A QR payment code (ASCII digits/letters, 1..=64 characters).
pub fn validate_qr_code(field: &str, code: &str) -> Result<()> {
    if code.is_empty() || code.len() > 64 || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Error::invalid(
            field,
            "payment code must be 1 to 64 letters or digits",
        ));
    }
    Ok(())
}

/// Validate and normalise card data from the reader or inline (`prefix` names the request field).
pub(crate) fn card_read(prefix: &str, data: &CardData) -> Result<CardRead> {
    let f = |name: &str| format!("{prefix}.{name}");
    let icc = match &data.icc {
        Some(bytes) => {
            tlv::decode(bytes).map_err(|_| Error::invalid(f("icc"), "not valid BER-TLV"))?;
            Some(bytes.clone())
        }
        None => None,
    };
    let entry = match data.entry {
        Some(e) => e,
        None if icc.is_some() => EntryMode::Chip,
        None => EntryMode::Swipe,
    };
    let track2 = match &data.track2 {
        Some(t) => Some(normalize_track(&f("track2"), t, 37)?),
        None => None,
    };
    let track3 = match &data.track3 {
        Some(t) => Some(normalize_track(&f("track3"), t, 104)?),
        None => None,
    };
    let pan: Zeroizing<String> = match (&data.pan, &track2) {
        (Some(p), _) => p.clone(),
        (None, Some(t2)) => Zeroizing::new(t2.split('D').next().unwrap_or("").to_string()),
        (None, None) => return Err(Error::invalid(f("pan"), "no PAN and no track 2")),
    };
    validate_pan(&f("pan"), &pan)?;
    let icc_items = icc
        .as_deref()
        .and_then(|b| tlv::decode(b).ok())
        .unwrap_or_default();
    let expiry = match &data.expiry {
        Some(e) => Some(e.clone()),
        None => track2
            .as_ref()
            .and_then(|t| {
                t.split('D')
                    .nth(1)
                    .and_then(|rest| rest.get(..4))
                    .map(str::to_string)
            })
            .or_else(|| {
                tlv::get(&icc_items, 0x5F24)
                    .filter(|v| v.len() >= 2)
                    .map(|v| hex::encode(&v[..2]))
            }),
    };
    if let Some(e) = &expiry {
        if e.len() != 4 || !all_digits(e) {
            return Err(Error::invalid(f("expiry"), "expiry must be YYMM"));
        }
    }
    let sequence = match &data.sequence {
        Some(s) => Some(s.clone()),
        None => tlv::get(&icc_items, 0x5F34)
            .filter(|v| v.len() == 1)
            .map(|v| format!("0{:02X}", v[0])),
    };
    if let Some(s) = &sequence {
        if s.len() != 3 || !all_digits(s) {
            return Err(Error::invalid(
                f("sequence"),
                "card sequence number must be 3 digits",
            ));
        }
    }
    if matches!(entry, EntryMode::Chip | EntryMode::Contactless) && icc.is_none() {
        return Err(Error::invalid(f("icc"), "chip card data without ICC data"));
    }
    if matches!(entry, EntryMode::Swipe | EntryMode::Fallback) && track2.is_none() {
        return Err(Error::invalid(f("track2"), "a swiped card needs track 2"));
    }
    Ok(CardRead {
        entry,
        pan,
        track2,
        track3,
        expiry,
        sequence,
        icc,
    })
}

/// Inline card input as reader data.
pub(crate) fn card_data_of(input: &CardInput) -> CardData {
    CardData {
        entry: input.entry,
        pan: input.pan.clone(),
        track2: input.track2.clone(),
        track3: input.track3.clone(),
        expiry: input.expiry.clone(),
        sequence: input.sequence.clone(),
        icc: input.icc.clone(),
    }
}

/// `A3`/`A4` + 3-digit length + value (field 59 ASCII TLV).
pub fn qr_tlv(tag: &str, value: &str) -> String {
    format!("{tag}{:03}{value}", value.len())
}

/// The terminal's number for a merchant-presented order (59 `A5`, docs/PROTOCOL.md §4.10): TID, batch and
/// STAN of the order request, 20 characters, unique per terminal within a batch.
pub fn order_number(tid: &str, batch: u32, stan: u32) -> String {
    format!("{tid}{batch:06}{stan:06}")
}

/// Value of a tag in field 59.
pub fn qr_get(f59: &str, tag: &str) -> Option<String> {
    let mut rest = f59;
    while rest.len() >= 5 {
        let t = rest.get(..2)?;
        let n: usize = rest.get(2..5)?.parse().ok()?;
        let v = rest.get(5..5 + n)?;
        if t == tag {
            return Some(v.to_string());
        }
        rest = &rest[5 + n..];
    }
    None
}

/// The track with the block before its last packed byte encrypted under the TDK: 8 bytes TDES
/// (docs/PROTOCOL.md §7), 16 bytes SM4 (§11); a track too short for that goes clear.
/// Every intermediate buffer holds card data: each is sized once and wiped when dropped.
fn encrypt_track(engine: &mut Engine, track: &str) -> Result<Zeroizing<String>> {
    let n = track.len();
    let family = engine.key_family();
    let block_len = family.block_len();
    let mut out = Zeroizing::new(String::with_capacity(n + 1));
    if n < family.track_min_encrypted_digits() {
        out.push_str(track);
        return Ok(out);
    }
    let mut packed = Zeroizing::new(Vec::with_capacity(n.div_ceil(2)));
    let nibble = |b: u8| if b == b'D' { 0x0D } else { b - b'0' };
    for pair in track.as_bytes().chunks(2) {
        let low = pair.get(1).map_or(0, |&b| nibble(b));
        packed.push((nibble(pair[0]) << 4) | low);
    }
    let m = packed.len();
    let range = m - 1 - block_len..m - 1;
    let enc = Zeroizing::new(
        engine
            .security
            .encrypt_track_block(&packed[range.clone()])?,
    );
    if enc.len() != block_len {
        return Err(Error::new(
            crate::error::ErrorKind::Security,
            format!(
                "the security module returned a {}-byte track block; the {family} key family needs {block_len}",
                enc.len()
            ),
        ));
    }
    packed[range].copy_from_slice(&enc);
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in packed.iter() {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 0x0F) as usize] as char);
    }
    out.truncate(n);
    Ok(out)
}

/// The financial request for a prepared transaction.
pub(crate) fn build_request(
    engine: &mut Engine,
    p: &Prepared,
    stan: u32,
    batch: u32,
) -> Result<Message> {
    let def = p.def;
    let profile = engine.profile.clone();
    let wire = profile.kind(def.kind)?;
    let mut msg = Message::new(Mti(wire.mti));
    msg.set_str(3, &wire.processing);
    if let Some(a) = p.amount {
        msg.set_str(4, &digits(a, 12));
    }
    msg.set_str(11, &digits(stan as u64, 6));
    msg.set_str(25, &wire.condition);
    msg.set_str(41, &engine.cfg.tid.clone());
    msg.set_str(42, &engine.cfg.mid.clone());
    msg.set_str(49, &profile.currency);

    let (read_cap, ic_cond) = match p.card.as_ref().map(|c| c.entry) {
        Some(EntryMode::Contactless) => (b'6', b'0'),
        Some(EntryMode::Fallback) => (b'5', b'2'),
        _ => (b'5', b'0'),
    };
    msg.set_str(
        60,
        &profile.subfields.field60(
            &wire.type_code,
            batch,
            &wire.network,
            Some((read_cap, ic_cond)),
        ),
    );

    let track_flag = if engine.cfg.encrypt_tracks { '1' } else { '0' };
    let cipher_digit = engine.key_family().f53_digit();
    match def.means {
        Means::Card => {
            let card = p
                .card
                .as_ref()
                .ok_or_else(|| Error::invalid("card", "card data required"))?;
            msg.set_str(2, &card.pan);
            if let Some(e) = &card.expiry {
                msg.set_str(14, e);
            }
            let pin_digit = if p.pin_block.is_some() { '1' } else { '2' };
            msg.set_str(22, &format!("{}{}", card.entry.digits(), pin_digit));
            if card.is_chip() {
                if let Some(s) = &card.sequence {
                    msg.set_str(23, s);
                }
            }
            for (field, track) in [(35, &card.track2), (36, &card.track3)] {
                let Some(track) = track else { continue };
                if engine.cfg.encrypt_tracks {
                    msg.set_str(field, &encrypt_track(engine, track)?);
                } else {
                    msg.set_str(field, track);
                }
            }
            if let Some(icc) = &card.icc {
                msg.set(55, icc.clone());
            }
            match &p.pin_block {
                Some(block) => {
                    msg.set_str(26, "12");
                    msg.set(52, block.clone());
                    msg.set_str(53, &format!("2{cipher_digit}{track_flag}0000000000000"));
                }
                None => {
                    msg.set_str(53, &format!("0{cipher_digit}{track_flag}0000000000000"));
                }
            }
        }
        Means::OriginalCard => {
            let orig = p
                .original
                .as_ref()
                .ok_or_else(|| Error::internal("original required"))?;
            let pan = orig.pan.as_ref().ok_or_else(|| {
                Error::field(
                    crate::ErrorKind::InvalidState,
                    "stan",
                    "the original has no card number on record",
                )
            })?;
            msg.set_str(2, pan);
            msg.set_str(22, orig.entry_mode.as_deref().unwrap_or("012"));
            msg.set_str(53, &format!("0{cipher_digit}00000000000000"));
        }
        Means::QrCode => {
            let code = p
                .qr_code
                .as_deref()
                .ok_or_else(|| Error::invalid("qr_code", "payment code required"))?;
            msg.set_str(22, "032");
            msg.set_str(59, &qr_tlv("A3", code));
        }
        Means::QrVoucher => {
            let voucher = p.original.as_ref().and_then(|o| o.voucher.as_deref());
            msg.set_str(22, "032");
            match voucher {
                Some(v) => {
                    msg.set_str(59, &qr_tlv("A4", v));
                }
                // A refund by reference alone (37, no 59), where the host allows it (§4.2).
                None if p.def.on_original == OnOriginal::Refund
                    && engine.cfg.qr.refund_by_reference => {}
                None => {
                    return Err(Error::invalid(
                        "original.voucher",
                        "the QR voucher of the original is required",
                    ))
                }
            }
        }
        Means::QrPresented => {
            msg.set_str(22, "032");
            msg.set_str(
                59,
                &qr_tlv("A5", &order_number(&engine.cfg.tid, batch, stan)),
            );
        }
    }

    if let Some(orig) = &p.original {
        match (wire.f37, &orig.reference) {
            (Echo::No, _) => {}
            (_, Some(r)) => {
                msg.set_str(37, r);
            }
            (Echo::Required, None) => {
                return Err(Error::invalid(
                    "original.reference",
                    "reference number required",
                ))
            }
            (Echo::IfKnown, None) => {}
        }
        match (wire.f38, &orig.auth_code) {
            (Echo::No, _) => {}
            (_, Some(a)) => {
                msg.set_str(38, a);
            }
            (Echo::Required, None) => {
                return Err(Error::invalid(
                    "original.auth_code",
                    "authorisation id required",
                ))
            }
            (Echo::IfKnown, None) => {}
        }
        match wire.f61 {
            F61::None => {}
            F61::BatchStan => {
                msg.set_str(61, &profile.subfields.field61(orig.batch, orig.stan, None));
            }
            F61::BatchStanDate => {
                msg.set_str(
                    61,
                    &profile
                        .subfields
                        .field61(orig.batch, orig.stan, Some(&orig.date)),
                );
            }
        }
    }
    if let Some(t) = def.f63 {
        msg.set_str(63, &profile.subfields.field63(t));
    }
    if def.f48_tip {
        msg.set_str(48, &digits(p.tip, 12));
    }
    debug_assert!(def.amount != AmountRule::Absent || p.amount.is_none());
    // The profile's field list for the kind: what it does not name is not sent.
    if let Some(allowed) = wire.fields {
        for n in 2..=63u8 {
            if allowed & (1u64 << (n - 1)) == 0 {
                msg.remove(n);
            }
        }
    }
    Ok(msg)
}

/// Field 55 reduced to what a reversal carries (95 9F1E 9F10 9F36 DF31).
pub(crate) fn reduce_icc(icc: &[u8]) -> Option<Vec<u8>> {
    let items = tlv::decode(icc).ok()?;
    let kept: Vec<tlv::Tlv> = items
        .into_iter()
        .filter(|t| matches!(t.tag, 0x95 | 0x9F1E | 0x9F10 | 0x9F36 | 0xDF31))
        .collect();
    if kept.is_empty() {
        None
    } else {
        Some(tlv::encode(&kept))
    }
}

/// The 0400 draft for a reversible request (§6): without 38, 39 and 64, encoded as a body.
pub(crate) fn reversal_body(
    codec: &crate::iso8583::profile::Codec,
    req: &Message,
) -> Result<Vec<u8>> {
    let mut r = Message::new(Mti(400));
    for f in [2u8, 3, 4, 11, 14, 22, 23, 25, 41, 42, 49, 60, 61] {
        if let Some(v) = req.get(f) {
            r.set(f, v.to_vec());
        }
    }
    if let Some(reduced) = req.get(55).and_then(reduce_icc) {
        r.set(55, reduced);
    }
    crate::iso8583::encode_body_with(codec, &r).map_err(super::encode_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qr_tlvs() {
        let f = format!(
            "{}{}",
            qr_tlv("A3", "134567890123456789"),
            qr_tlv("A4", "12345678901234567890")
        );
        assert_eq!(&f[..23], "A3018134567890123456789");
        assert_eq!(qr_get(&f, "A4").as_deref(), Some("12345678901234567890"));
        assert_eq!(qr_get(&f, "A3").as_deref(), Some("134567890123456789"));
        assert_eq!(qr_get("A4999x", "A4"), None);
    }

    #[test]
    fn amounts() {
        assert!(validate_amount("amount", 0).is_err());
        assert!(validate_amount("amount", 1).is_ok());
        assert!(validate_amount("amount", MAX_AMOUNT).is_ok());
        let e = validate_amount("amount", MAX_AMOUNT + 1).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("amount"));
    }

    #[test]
    fn swipe_card_from_track2() {
        let data = CardData {
            entry: Some(EntryMode::Swipe),
            track2: Some(Zeroizing::new("6225880123456789=3012101123456789".into())),
            ..Default::default()
        };
        let c = card_read("card", &data).unwrap();
        assert_eq!(c.pan.as_str(), "6225880123456789");
        assert_eq!(c.expiry.as_deref(), Some("3012"));
        assert_eq!(
            c.track2.as_deref().map(|s| s.as_str()),
            Some("6225880123456789D3012101123456789")
        );
        let bad = CardData {
            entry: Some(EntryMode::Swipe),
            track2: Some(Zeroizing::new("62258X0123456789D3012".into())),
            ..Default::default()
        };
        assert_eq!(
            card_read("card", &bad).unwrap_err().field.as_deref(),
            Some("card.track2")
        );
        let bad_pan = CardData {
            entry: Some(EntryMode::Swipe),
            pan: Some(Zeroizing::new("62258801234567AB".into())),
            track2: Some(Zeroizing::new("6225880123456789D3012".into())),
            ..Default::default()
        };
        assert_eq!(
            card_read("card", &bad_pan).unwrap_err().field.as_deref(),
            Some("card.pan")
        );
    }
}
