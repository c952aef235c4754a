//! Store-and-forward uploads of a chip transaction (docs/PROTOCOL.md §8.4, §8.6): the IC card TC upload
//! (0320 `203`) after an approved online chip sale and the issuer-script result advice (0620 `951`). Both
//! are queued in the journal with the transaction's outcome (one commit), sent at once, and resent with the
//! advices (§6.6) before every financial message and before settlement until an answer counts.

use super::build::{CardRead, Prepared};
use super::exchange::Reply;
use super::execute::Sent;
use super::kinds::{self, KindDef};
use super::{digits, transport_error, Dest, Engine};
use crate::acquirer::Subfields;
use crate::error::{Error, ErrorKind, Outcome, Result};
use crate::hal::Event;
use crate::iso8583::{Message, Mti};
use crate::journal::{PendingUpload, TxOutcome, TxState};
use crate::model::TransactionResult;
use crate::tlv::{self, Tlv};

/// Queue classes (the journal's `advice.class`).
pub(crate) const TC: &str = "tc";
pub(crate) const SCRIPT: &str = "script";

/// The tags of the card's completion data that replace the request's in the TC upload's field 55 (the
/// second GENERATE AC's cryptogram and what it changed); DF31 (script results) is not part of it.
fn is_completion_tag(tag: u32) -> bool {
    tag != 0xDF31
}

/// Field 55 of the TC upload: the request's chip data with the card's completion data (9F26 the TC, 9F27
/// `40`, 9F36, 95, 9F10 ...) in place of the first GENERATE AC's values. `None` when the completion holds
/// no 9F26 (the card gave no TC: nothing to upload).
pub(crate) fn tc_field55(request55: &[u8], completion: &[u8]) -> Option<Vec<u8>> {
    let done = tlv::decode(completion).ok()?;
    let tc = tlv::get(&done, 0x9F26)?;
    if tc.len() != 8 || tlv::get(&done, 0x9F27).is_some_and(|c| c.first() != Some(&0x40)) {
        return None;
    }
    let mut out: Vec<Tlv> = tlv::decode(request55).unwrap_or_default();
    for t in done.into_iter().filter(|t| is_completion_tag(t.tag)) {
        match out.iter_mut().find(|o| o.tag == t.tag) {
            Some(o) => *o = t,
            None => out.push(t),
        }
    }
    Some(tlv::encode(&out))
}

/// How an upload about an approved chip request is filed: 60 is the request's type, `batch` and
/// `network` (the profile's `management.tc_upload` or `script_advice`); 61 names the request by `batch`,
/// its STAN and `date`.
pub(crate) struct UploadTag<'a> {
    pub sf: &'a Subfields,
    pub batch: u32,
    pub date: &'a str,
    pub network: &'a str,
}

/// An upload about an approved chip request (`req`) and its answer (`resp`): the 0320 `203` IC card TC
/// upload (docs/PROTOCOL.md §8.6; 37 and 38 from the answer) or the 0620 script-result advice (§8.4; 32,
/// 37 and 38), with `field55` and its own `stan`.
pub(crate) fn chip_upload(
    tag: &UploadTag<'_>,
    mti: u16,
    req: &Message,
    resp: &Message,
    field55: Vec<u8>,
    stan: u32,
) -> Message {
    let mut m = Message::new(Mti(mti));
    for f in [2u8, 3, 4, 22, 23, 41, 42, 49] {
        if let Some(v) = req.get(f) {
            m.set(f, v.to_vec());
        }
    }
    let from_answer: &[u8] = if mti == 620 { &[32, 37, 38] } else { &[37, 38] };
    for &f in from_answer {
        if let Some(v) = resp.get(f) {
            m.set(f, v.to_vec());
        }
    }
    m.set_str(11, &digits(stan as u64, 6));
    m.set(55, field55);
    let sf = tag.sf;
    let type_code = req
        .get_str(60)
        .and_then(|s| sf.read60(s))
        .map_or_else(|| "22".to_string(), |(t, _, _)| t);
    let orig_stan = req
        .get_str(11)
        .and_then(|s| s.parse::<u32>().ok())
        .unwrap_or(0);
    m.set_str(60, &sf.field60(&type_code, tag.batch, tag.network, None));
    m.set_str(61, &sf.field61(tag.batch, orig_stan, Some(tag.date)));
    m
}

/// The card's first GENERATE AC answered a TC (9F27 `40`): it approved offline.
fn approved_offline(card: &CardRead) -> bool {
    card.icc
        .as_deref()
        .and_then(|icc| tlv::decode(icc).ok())
        .and_then(|items| tlv::get(&items, 0x9F27).and_then(|c| c.first().copied()))
        .is_some_and(|cid| cid & 0xC0 == 0x40)
}

impl Engine {
    /// The offline twin of `def` when the card approved offline (§8.7). A card that approved offline where
    /// the terminal may not accept it (no offline twin, or above `floor_limit`) is refused before anything
    /// is recorded.
    pub(super) fn offline_row(
        &self,
        def: &'static KindDef,
        card: Option<&CardRead>,
        amount: Option<u64>,
    ) -> Result<Option<&'static KindDef>> {
        if !card.is_some_and(approved_offline) {
            return Ok(None);
        }
        let twin = kinds::OFFLINE_TWINS
            .iter()
            .find(|(k, _)| *k == def.kind)
            .map(|(_, t)| kinds::def(*t));
        let amount = amount.unwrap_or(0);
        match twin {
            Some(t) if amount <= self.cfg.floor_limit => {
                log::info!(
                    "{}: the card approved offline within the floor limit ({amount} <= {})",
                    def.name,
                    self.cfg.floor_limit
                );
                Ok(Some(t))
            }
            _ => Err(Error::new(
                ErrorKind::Device,
                format!(
                    "card: approved offline (TC) where the terminal does not accept it ({} of {amount}, floor limit {})",
                    def.name, self.cfg.floor_limit
                ),
            )),
        }
    }

    /// An offline approval: the journalled row (its advice frame queued with it) is marked approved with
    /// `Y1` while the advice stays owed; the advice is tried once now and otherwise goes with the others
    /// (§6.6). The host's answer to it then decides the row, as for every advice.
    pub(super) fn approve_offline(
        &mut self,
        prepared: &Prepared,
        sent: Sent,
    ) -> Result<TransactionResult> {
        let def = prepared.def;
        let card_org = prepared
            .card
            .as_ref()
            .and_then(|c| super::card_org_from_pan(&c.pan))
            .map(str::to_string);
        let outcome = TxOutcome {
            state: Some(TxState::Approved),
            response_code: Some("Y1".to_string()),
            card_org,
            ..Default::default()
        };
        self.journal.record_outcome(sent.id, &outcome, &[], false)?;
        log::info!(
            "{} {:06}: approved offline (Y1), advice queued",
            def.name,
            sent.stan
        );
        if let Err(e) = self.flush_advices() {
            log::warn!("offline advice kept for later: {e}");
        }
        let mut result = self.tx_result(def, sent.id, None)?;
        if result.approved {
            // Approved offline, or confirmed by the host's answer to the advice just now.
            result.outcome = Outcome::Approved;
        }
        let signature = self.take_signature(def, sent.id, &result);
        self.print_slips(def, &result, signature.as_ref());
        self.emit(Event::Done {
            approved: result.approved,
            response_code: result.response_code.clone(),
        });
        Ok(result)
    }

    /// Frames of the uploads a chip completion owes: the TC upload when the card gave a TC, the script
    /// advice when it reports script results. Each gets its STAN now; the caller journals them with the
    /// outcome.
    pub(super) fn chip_uploads(
        &mut self,
        req: &Message,
        resp: &Message,
        completion: Option<&[u8]>,
        batch: u32,
    ) -> Result<Vec<(&'static str, u32, Vec<u8>)>> {
        let Some(done) = completion.filter(|c| !c.is_empty()) else {
            return Ok(Vec::new());
        };
        let date = self.now().mmdd();
        let profile = self.profile.clone();
        let tag = |network| UploadTag {
            sf: &profile.subfields,
            batch,
            date: &date,
            network,
        };
        let mut out = Vec::new();
        if let Some(f55) = tc_field55(req.get(55).unwrap_or(&[]), done) {
            let stan = self.journal.next_stan()?;
            let tc = tag(&profile.management.tc_upload);
            let mut m = chip_upload(&tc, 320, req, resp, f55, stan);
            out.push((TC, stan, self.encode(Dest::Gateway, &mut m, true)?));
        }
        let scripts = tlv::decode(done)
            .ok()
            .is_some_and(|items| tlv::get(&items, 0xDF31).is_some_and(|v| !v.is_empty()));
        if scripts {
            let stan = self.journal.next_stan()?;
            let advice = tag(&profile.management.script_advice);
            let mut m = chip_upload(&advice, 620, req, resp, done.to_vec(), stan);
            out.push((SCRIPT, stan, self.encode(Dest::Gateway, &mut m, true)?));
        }
        Ok(out)
    }

    /// Send every upload owed once, oldest first. An answer that counts (MTI + 10, the echoes, 39, and its
    /// MAC when 39 is `00` or it carries one) delivers it whatever its 39; no answer leaves it queued. A
    /// bad MAC keeps it and signs the terminal out. `Ok(true)` when none is left.
    pub fn flush_uploads(&mut self) -> Result<bool> {
        for up in self.journal.pending_uploads()? {
            self.send_upload(&up)?;
        }
        Ok(self.journal.pending_uploads()?.is_empty())
    }

    fn send_upload(&mut self, up: &PendingUpload) -> Result<()> {
        let req = match self.decode_stored(&up.frame) {
            Ok(m) => m,
            Err(e) => {
                log::error!(
                    "stored {} upload {:06} does not decode: {e}",
                    up.class,
                    up.stan
                );
                return Ok(());
            }
        };
        self.emit(Event::ResendingAdvice { stan: up.stan });
        log::info!(
            "sending {} upload {:06} (attempt {})",
            up.class,
            up.stan,
            up.attempts + 1
        );
        // The identical body, MAC'd under the current MAK (§6.6).
        let mut frame = up.frame.clone();
        if let Err(e) = self.mac_frame(&mut frame) {
            log::warn!(
                "{} upload {:06} cannot be MAC'd now: {e}",
                up.class,
                up.stan
            );
            return Ok(());
        }
        match self.send_checked(&req, &frame, Dest::Gateway, true) {
            Reply::Answer { resp, raw, header } => {
                if !self.answer_mac_ok(&raw, &resp) {
                    self.journal.upload_attempted(up.id)?;
                    self.sign_out("upload response MAC invalid")?;
                    return Err(Error::new(
                        ErrorKind::InvalidResponse,
                        format!(
                            "response MAC invalid for the {} upload {:06}: it is kept and will be resent; sign in again",
                            up.class, up.stan
                        ),
                    ));
                }
                self.note_header(&header)?;
                let rc = super::rc_of(&resp);
                if rc != "00" {
                    log::error!(
                        "{} upload {:06} answered {rc}: delivered, not accepted",
                        up.class,
                        up.stan
                    );
                }
                self.journal.upload_done(up.id)?;
                log::info!("{} upload {:06} answered {rc}", up.class, up.stan);
            }
            Reply::NoAnswer(e) => {
                self.journal.upload_attempted(up.id)?;
                log::warn!(
                    "{} upload {:06} not answered: {}",
                    up.class,
                    up.stan,
                    transport_error(&e).message
                );
            }
            Reply::Invalid(e) => {
                self.journal.upload_attempted(up.id)?;
                log::warn!(
                    "{} upload {:06}: invalid answer: {}",
                    up.class,
                    up.stan,
                    e.message
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tc_field55_replaces_the_cryptogram_and_keeps_the_rest() {
        let req = tlv::encode(&[
            Tlv::primitive(0x9F26, vec![1; 8]),
            Tlv::primitive(0x9F27, vec![0x80]),
            Tlv::primitive(0x9F02, vec![0, 0, 0, 0, 1, 0]),
        ]);
        let done = tlv::encode(&[
            Tlv::primitive(0x9F26, vec![2; 8]),
            Tlv::primitive(0x9F27, vec![0x40]),
            Tlv::primitive(0xDF31, vec![0x20, 0, 0, 0, 1]),
        ]);
        let out = tlv::decode(&tc_field55(&req, &done).unwrap()).unwrap();
        assert_eq!(tlv::get(&out, 0x9F26), Some(&[2u8; 8][..]));
        assert_eq!(tlv::get(&out, 0x9F27), Some(&[0x40u8][..]));
        assert_eq!(tlv::get(&out, 0x9F02), Some(&[0u8, 0, 0, 0, 1, 0][..]));
        assert_eq!(tlv::get(&out, 0xDF31), None);
        // An AAC (9F27 00) or no cryptogram: nothing to upload.
        let aac = tlv::encode(&[
            Tlv::primitive(0x9F26, vec![2; 8]),
            Tlv::primitive(0x9F27, vec![0x00]),
        ]);
        assert_eq!(tc_field55(&req, &aac), None);
        assert_eq!(tc_field55(&req, &[]), None);
    }
}
