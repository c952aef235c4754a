//! Transactions as data, run by one executor.
//!
//! `Engine` is the state a `Terminal` guards with its lock: config, devices, security module, journal.
//! Every message (financial or management) goes through the same plumbing here: encode -> MAC ->
//! transport -> decode -> validate (MTI + 10, echoes, MAC) -> header processing requirement.

pub(crate) mod build;
mod capture;
mod exchange;
pub(crate) mod execute;
pub(crate) mod init;
pub(crate) mod kinds;
mod original;
pub(crate) mod outcome;
mod print;
pub(crate) mod qr_order;
pub(crate) mod query;
mod reversal;
mod session;
pub(crate) mod settlement;
mod signature;
mod store_forward;

use crate::acquirer::Profile;
use crate::config::Config;
use crate::config::{parse_tpdu, EndpointConfig};
use crate::error::{Error, ErrorKind, Result};
use crate::hal::{
    CancelToken, CardReader, Clock, DateTime, Endpoint, Event, EventSink, Hal, PinPad, Printer,
    QrDisplay, QrScanner, SystemClock, Transport, TransportError,
};
use crate::iso8583::{self, Frame, Header, Message, Mti, Tpdu};
use crate::journal::Journal;
use crate::model::{Batch, JournalResult, PendingReversalInfo, StatusResult};
use crate::security::{KeySlot, SecurityModule};
use crate::transport::TcpTransport;
use std::sync::Arc;
use std::time::Duration;

/// Journal settings keys (activation data and flags).
pub(crate) mod keys {
    pub const ACTIVATED: &str = "activated";
    pub const MERCHANT_NAME: &str = "merchant_name";
    pub const HOST_TIMEOUT_S: &str = "host_response_timeout_s";
    pub const HOST_REVERSAL_ATTEMPTS: &str = "host_reversal_attempts";
    pub const HOST_MAX_TIP: &str = "host_max_tip_percent";
    pub const HOST_KEY_SHA256: &str = "host_key_sha256";
    pub const SIGNED_IN: &str = "signed_in";
    /// The host asked for a new sign-in (header 3): done automatically before the next transaction.
    pub const SIGN_IN_REQUESTED: &str = "sign_in_requested";
    pub const CAPKS_REQUIRED: &str = "capks_required";
    pub const AIDS_REQUIRED: &str = "aids_required";
    pub const CAPKS: &str = "capks";
    pub const AIDS: &str = "aids";
}

/// Where a message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dest {
    Gateway,
    Platform,
}

#[derive(Debug, Clone)]
pub(crate) struct Route {
    pub endpoint: Endpoint,
    pub tpdu: Tpdu,
}

/// Everything an operation needs; owned by the `Terminal` behind its lock. Its state is private to the
/// flows: the facade opens it and calls operations.
pub(crate) struct Engine {
    cfg: Config,
    card_reader: Option<Box<dyn CardReader>>,
    pin_pad: Option<Box<dyn PinPad>>,
    qr_scanner: Option<Box<dyn QrScanner>>,
    qr_display: Option<Box<dyn QrDisplay>>,
    events: Option<Box<dyn EventSink>>,
    printer: Option<Box<dyn Printer>>,
    signature_pad: Option<Box<dyn crate::hal::SignaturePad>>,
    clock: Box<dyn Clock>,
    transport: Box<dyn Transport>,
    security: Box<dyn SecurityModule>,
    journal: Journal,
    /// Cancels waits of the current operation (set by `Terminal::cancel`).
    cancel: CancelToken,
    gateway: Route,
    platform: Route,
    serial: String,
    /// The acquirer profile every message is encoded, MAC'd and read with (docs/PROFILES.md).
    pub(crate) profile: Arc<Profile>,
}

impl Engine {
    /// The engine of a terminal being opened: routes from the config, the HAL's devices (the system clock
    /// and TCP when none are given), then what the journal says must happen first.
    pub(crate) fn open(
        cfg: Config,
        hal: Hal,
        security: Box<dyn SecurityModule>,
        journal: Journal,
        cancel: CancelToken,
        serial: String,
        profile: Arc<Profile>,
    ) -> Result<Engine> {
        let route = |name: &str, ep: &EndpointConfig| -> Result<Route> {
            let tls = match &ep.tls {
                Some(t) => Some(crate::transport::tls::settings(name, &ep.address, t)?),
                None => None,
            };
            Ok(Route {
                endpoint: Endpoint {
                    address: ep.address.clone(),
                    connect_timeout: Duration::from_millis(cfg.timeouts_ms.connect),
                    response_timeout: Duration::from_millis(cfg.timeouts_ms.response),
                    tls,
                },
                tpdu: parse_tpdu(&format!("{name}.tpdu"), &ep.tpdu)?,
            })
        };
        if security.key_family() != cfg.key_family {
            return Err(Error::invalid(
                "key_family",
                format!(
                    "the terminal is configured for the {} key family but its security module works in the {} \
                     family",
                    cfg.key_family,
                    security.key_family()
                ),
            ));
        }
        profile.check_family(cfg.key_family)?;
        let gateway = route("gateway", &cfg.gateway)?;
        let platform = route("platform", &cfg.platform)?;
        // Plain TCP is meant for loopback simulators: a production config, or any release build, that talks
        // plain TCP to anything else says so once per start (docs/PROTOCOL.md §10).
        if cfg.production || cfg!(not(debug_assertions)) {
            let exposed = crate::transport::tls::plain_non_loopback(&[
                ("gateway", &cfg.gateway),
                ("platform", &cfg.platform),
            ]);
            if !exposed.is_empty() {
                log::warn!(
                    "{} reached over plain TCP at a non-loopback address: configure tls (docs/PROTOCOL.md §10)",
                    exposed.join(" and ")
                );
            }
        }
        let Hal {
            card_reader,
            pin_pad,
            qr_scanner,
            qr_display,
            device: _,
            events,
            clock,
            transport,
            printer,
            signature_pad,
        } = hal;
        let mut engine = Engine {
            cfg,
            card_reader,
            pin_pad,
            qr_scanner,
            qr_display,
            events,
            printer,
            signature_pad,
            clock: clock.unwrap_or_else(|| Box::new(SystemClock::default())),
            transport: transport
                .unwrap_or_else(|| Box::new(TcpTransport::with_length_prefix(profile.wire.prefix))),
            security,
            journal,
            cancel,
            gateway,
            platform,
            serial,
            profile,
        };
        engine.restore_parameters();
        let orphans = engine.journal.fail_orphans(&qr_order::open_order_kinds())?;
        if orphans > 0 {
            log::warn!(
                "{orphans} interrupted inquiry row(s) left pending by a crash: marked failed"
            );
        }
        if let Some(rev) = engine.journal.pending_reversal()? {
            log::warn!(
                "journal holds a pending reversal of {:06}: it goes before the next transaction",
                rev.stan
            );
        }
        Ok(engine)
    }

    /// The journal, for `Terminal::instrument_journal` (benchmarks and tests only).
    #[cfg(feature = "instrument")]
    pub(crate) fn journal_mut(&mut self) -> &mut Journal {
        &mut self.journal
    }

    /// The key family of the terminal (its config; the security module works in the same one).
    pub(crate) fn key_family(&self) -> crate::crypto::KeyFamily {
        self.cfg.key_family
    }

    /// The local records of a batch (the open one by default).
    pub(crate) fn journal_result(&self, batch: Option<u32>) -> Result<JournalResult> {
        let batch = match batch {
            Some(b) => Batch::new("batch", b)?.get(),
            None => self.journal.batch()?,
        };
        Ok(JournalResult {
            batch,
            records: self.journal.list(batch)?,
        })
    }

    pub(crate) fn status(&self) -> Result<StatusResult> {
        let profile = crate::model::ProfileInfo {
            name: self.profile.name.clone(),
            sha256: self.profile.sha256_hex(),
        };
        let pending_reversal = self
            .journal
            .pending_reversals()?
            .into_iter()
            .next()
            .map(|r| PendingReversalInfo {
                stan: r.stan,
                reason: r.reason.clone(),
                attempts: r.attempts,
                flagged: r.flagged,
            });
        Ok(StatusResult {
            activated: self.is_activated()?,
            master_key_loaded: self.security.has_key(KeySlot::Tmk),
            signed_in: self.is_signed_in()?,
            batch: self.journal.batch()?,
            next_stan: self.journal.peek_stan()?,
            pending_reversal,
            unsent_advices: self.journal.pending_advices()?.len() as u32,
            profile,
            unsent_uploads: self.journal.pending_uploads()?.len() as u32,
            key_family: self.key_family(),
        })
    }
}

/// `Y1` and `Y3`, the EMV codes of an offline approval by the card (docs/PROTOCOL.md §8.7): approvals in every
/// acquirer profile (the card's, not the host's), the terminal's own record until the host answers the advice.
pub const OFFLINE_APPROVALS: &[&str] = &["Y1", "Y3"];

/// Map a transport failure to the public error.
pub(crate) fn transport_error(e: &TransportError) -> Error {
    match e {
        TransportError::Connect(m) => Error::new(
            ErrorKind::HostUnreachable,
            format!("cannot reach the host: {m}"),
        ),
        TransportError::Timeout => {
            Error::new(ErrorKind::HostTimeout, "no response from the host in time")
        }
        TransportError::Cancelled { .. } => Error::new(ErrorKind::Cancelled, "cancelled"),
        TransportError::Framing(m) => Error::new(
            ErrorKind::InvalidResponse,
            format!("bad response frame: {m}"),
        ),
        // The request may have arrived: never `host_unreachable`, which means it certainly did not.
        TransportError::Send(m) | TransportError::Receive(m) => Error::new(
            ErrorKind::HostTimeout,
            format!("connection failed after sending: {m}"),
        ),
    }
}

/// A request we built does not encode: our fault, not the host's (the field is named, never its value).
pub(crate) fn encode_error(e: iso8583::CodecError) -> Error {
    let at = e.field.map(|f| format!(" (field {f})")).unwrap_or_default();
    Error::internal(format!("request does not encode{at}: {:?}", e.kind))
}

/// Card organisation from the BIN (docs/PROTOCOL.md §2), used when the host sent no 63.
pub fn card_org_from_pan(pan: &str) -> Option<&'static str> {
    let two: u32 = pan.get(..2)?.parse().ok()?;
    Some(match two {
        62 => "CUP",
        40..=49 => "VIS",
        51..=55 => "MCC",
        35 => "JCB",
        34 | 37 => "AEX",
        _ => return None,
    })
}

/// ISO date-time from host 13 (MMDD) and 12 (hhmmss), the year taken from the local clock.
pub(crate) fn host_datetime(now: &DateTime, date: Option<&str>, time: Option<&str>) -> String {
    match (date, time) {
        (Some(d), Some(t))
            if d.len() == 4
                && t.len() == 6
                && d.bytes().chain(t.bytes()).all(|b| b.is_ascii_digit()) =>
        {
            format!(
                "{:04}-{}-{}T{}:{}:{}",
                now.year,
                &d[..2],
                &d[2..],
                &t[..2],
                &t[2..4],
                &t[4..]
            )
        }
        _ => now.iso(),
    }
}

/// A paged platform answer's field 62 (parameter and detail queries): the status byte (`0`/`1` done,
/// `2` more; `0` when 62 is absent) and the TLVs after it.
pub(crate) fn query_page(f62: &[u8]) -> Result<(u8, Vec<crate::tlv::Tlv>)> {
    let status = f62.first().copied().unwrap_or(b'0');
    let items = match f62.get(1..) {
        Some(rest) if !rest.is_empty() => crate::tlv::decode(rest)?,
        _ => Vec::new(),
    };
    Ok((status, items))
}

/// `n` digits, zero padded.
pub(crate) fn digits(value: u64, n: usize) -> String {
    format!("{value:0n$}")
}

impl Engine {
    pub fn emit(&mut self, event: Event) {
        if let Some(sink) = self.events.as_mut() {
            sink.on_event(&event);
        }
    }

    pub fn now(&self) -> DateTime {
        self.clock.now()
    }

    pub fn flag(&self, key: &str) -> Result<bool> {
        Ok(self.journal.setting(key)?.as_deref() == Some("1"))
    }

    pub fn set_flag(&mut self, key: &str, on: bool) -> Result<()> {
        if on {
            self.journal.set_setting(key, "1")?;
        } else if self.journal.setting(key)?.is_some() {
            self.journal.delete_setting(key)?;
        }
        Ok(())
    }

    pub fn is_activated(&self) -> Result<bool> {
        self.flag(keys::ACTIVATED)
    }

    pub fn is_signed_in(&self) -> Result<bool> {
        Ok(self.flag(keys::SIGNED_IN)?
            && self.security.has_key(KeySlot::Mak)
            && self.security.has_key(KeySlot::Pik))
    }

    pub fn require_activated(&self) -> Result<()> {
        if !self.is_activated()? {
            return Err(Error::new(
                ErrorKind::NotActivated,
                "the terminal is not activated",
            ));
        }
        Ok(())
    }

    pub fn require_signed_in(&self) -> Result<()> {
        self.require_activated()?;
        if !self.security.has_key(KeySlot::Tmk) {
            return Err(Error::new(
                ErrorKind::NotActivated,
                "no master key: download the master key first",
            ));
        }
        if !self.is_signed_in()? {
            return Err(Error::new(
                ErrorKind::NotSignedIn,
                "the terminal must sign in first",
            ));
        }
        Ok(())
    }

    /// Like `require_signed_in`, but a sign-in the host asked for (header 3) is done first.
    pub fn ensure_signed_in(&mut self) -> Result<()> {
        self.require_activated()?;
        if !self.is_signed_in()?
            && self.flag(keys::SIGN_IN_REQUESTED)?
            && self.security.has_key(KeySlot::Tmk)
        {
            log::info!("signing in again as the host asked");
            self.sign_in()?;
        }
        self.require_signed_in()
    }

    /// Signed out: a new sign-in is needed before the next transaction.
    pub fn sign_out(&mut self, why: &str) -> Result<()> {
        log::warn!("signed out: {why}");
        self.set_flag(keys::SIGNED_IN, false)
    }

    pub fn route(&self, dest: Dest) -> &Route {
        match dest {
            Dest::Gateway => &self.gateway,
            Dest::Platform => &self.platform,
        }
    }

    /// Encode a request frame for `dest`; with `mac`, field 64 is the CUP-ECB MAC under the MAK.
    pub fn encode(&mut self, dest: Dest, msg: &mut Message, mac: bool) -> Result<Vec<u8>> {
        let tpdu = self.route(dest).tpdu;
        if mac {
            msg.set(64, vec![b'0'; 8]);
        } else {
            msg.remove(64);
        }
        let frame = Frame {
            tpdu,
            header: Header {
                app_type: self.profile.header.app_type,
                version: self.profile.header.version,
                status: self.profile.header.status,
                ..Header::default()
            },
            message: msg.clone(),
        };
        let mut bytes = self
            .profile
            .wire
            .encode_frame(&frame)
            .map_err(encode_error)?;
        if mac {
            let code = self.mac_frame(&mut bytes)?;
            msg.set(64, code.to_vec());
        }
        log::debug!(
            "request {}",
            iso8583::mask::masked_with(msg, &self.profile.secrecy)
        );
        Ok(bytes)
    }

    /// One frame out, one frame in.
    pub fn exchange_raw(
        &mut self,
        dest: Dest,
        frame: &[u8],
        cancel: &CancelToken,
    ) -> std::result::Result<Vec<u8>, TransportError> {
        let endpoint = self.route(dest).endpoint.clone();
        self.emit(Event::Connecting);
        self.emit(Event::Sending);
        let result = self.transport.exchange(&endpoint, frame, cancel);
        if result.is_ok() {
            self.emit(Event::Receiving);
        }
        result
    }

    /// True when field 64 of a response is the MAC of its span under the MAK.
    /// The MAC rule for answers to financial requests: an answer with 39 `00`, or any answer that carries a
    /// field 64, must verify (a corrupted 64 on a decline could hide a changed 39). Declines without 64
    /// pass: the host does not MAC them.
    pub(crate) fn answer_mac_ok(&mut self, raw: &[u8], resp: &Message) -> bool {
        if resp.get_str(39) != Some("00") && !resp.has(64) {
            return true;
        }
        self.response_mac_ok(raw, resp)
    }

    pub fn response_mac_ok(&mut self, raw: &[u8], resp: &Message) -> bool {
        let Some(got) = resp.get(64) else {
            return false;
        };
        let profile = self.profile.clone();
        let Some(span) = profile.wire.mac_span(raw) else {
            return false;
        };
        match self.security.mac_with(profile.mac, span) {
            Ok(expected) => expected.as_slice() == got,
            Err(e) => {
                log::warn!("cannot verify response MAC: {e}");
                false
            }
        }
    }

    /// Act on the header's processing requirement (the profile's codes; CUP: 3 sign in again, 4 CAPKs,
    /// 5 AIDs).
    pub fn note_header(&mut self, header: &Header) -> Result<()> {
        let codes = self.profile.header;
        let p = Some(header.processing);
        if !self.profile.wire.header || header.processing == 0 {
            return Ok(());
        }
        // A signed-in terminal signs in again by itself before its next transaction; one that never
        // signed in (e.g. right after a master-key download) is simply not signed in.
        if p == codes.sign_in {
            if self.is_signed_in()? {
                self.sign_out("host asked for a new sign-in (header)")?;
                self.set_flag(keys::SIGN_IN_REQUESTED, true)?;
            }
        } else if p == codes.download_capks {
            self.set_flag(keys::CAPKS_REQUIRED, true)?;
        } else if p == codes.download_aids {
            self.set_flag(keys::AIDS_REQUIRED, true)?;
        }
        Ok(())
    }

    /// Decode a response frame with the profile.
    pub(crate) fn decode(&self, raw: &[u8]) -> Result<Frame> {
        Ok(self.profile.wire.decode_frame(raw)?)
    }

    /// A journalled request (advice, upload) read back with the profile and the terminal's key family:
    /// a PIN block in it is twice as long in the SM family (docs/PROTOCOL.md §11).
    pub(crate) fn decode_stored(&self, frame: &[u8]) -> Result<Message> {
        let family = self.key_family();
        Ok(self
            .profile
            .wire
            .decode_frame_for(frame, &|_| family)?
            .message)
    }

    /// The MAC of an encoded frame (its span: docs/PROTOCOL.md §4.5) under the current MAK with the
    /// profile's algorithm, written into the frame's last 8 bytes and returned. A journalled frame sent
    /// again goes through this too: the identical body, MAC'd under the MAK of now (§6.6).
    pub(crate) fn mac_frame(&mut self, bytes: &mut [u8]) -> Result<[u8; 8]> {
        let span = self
            .profile
            .wire
            .mac_span(bytes)
            .ok_or_else(|| Error::internal("encoded frame too short for a MAC"))?
            .to_vec();
        let code = self.security.mac_with(self.profile.mac, &span)?;
        let n = bytes.len();
        bytes[n - 8..].copy_from_slice(&code);
        Ok(code)
    }

    /// Response codes that mean approved: the profile's (docs/PROTOCOL.md §9 for CUP) and the card's
    /// offline approvals (`OFFLINE_APPROVALS`).
    pub fn is_approval(&self, rc: &str) -> bool {
        self.profile.is_approval(rc) || OFFLINE_APPROVALS.contains(&rc)
    }

    /// Response codes after which the terminal must sign in again.
    pub fn requires_sign_in(&self, rc: &str) -> bool {
        self.profile.requires_sign_in(rc)
    }

    /// Management exchange: 11 41 42 60 (`00` + batch + `code`) [+ 62] [+ extra fields], optional MAC.
    /// Checks MTI + 10, echoes of 11 41 42, the header, and the MAC when asked and 39 is `00`.
    pub fn management(
        &mut self,
        dest: Dest,
        mti: u16,
        code: &str,
        f62: Option<Vec<u8>>,
        extra: &[(u8, Vec<u8>)],
        mac: bool,
    ) -> Result<Message> {
        let batch = self.journal.batch()?;
        let stan = self.journal.next_stan()?;
        let mut msg = Message::new(Mti(mti));
        msg.set_str(11, &digits(stan as u64, 6));
        msg.set_str(41, &self.cfg.tid.clone());
        msg.set_str(42, &self.cfg.mid.clone());
        msg.set_str(60, &self.profile.subfields.field60("00", batch, code, None));
        if let Some(v) = f62 {
            msg.set(62, v);
        }
        for (f, v) in extra {
            msg.set(*f, v.clone());
        }
        self.send_management(dest, msg, mac)
    }

    /// Send a prepared management message and validate the answer.
    pub fn send_management(&mut self, dest: Dest, mut msg: Message, mac: bool) -> Result<Message> {
        let frame = self.encode(dest, &mut msg, mac)?;
        let cancel = self.cancel.clone();
        let raw = self
            .exchange_raw(dest, &frame, &cancel)
            .map_err(|e| transport_error(&e))?;
        let resp = self.decode(&raw)?;
        validate_echo(&msg, &resp.message, &[11, 41, 42], true)?;
        self.note_header(&resp.header)?;
        let rc = resp.message.get_str(39).unwrap_or("").to_string();
        if rc.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidResponse,
                "response without field 39",
            ));
        }
        if mac && rc == "00" && !self.response_mac_ok(&raw, &resp.message) {
            self.sign_out("management response MAC invalid")?;
            return Err(Error::new(
                ErrorKind::InvalidResponse,
                "response MAC invalid; sign in again",
            ));
        }
        log::debug!(
            "response {}",
            iso8583::mask::masked_with(&resp.message, &self.profile.secrecy)
        );
        Ok(resp.message)
    }
}

/// 39 of a response (validated to be present by the senders).
/// The host answered a management step with a code other than `00`.
pub(crate) fn rejected(step: &str, rc: &str) -> Error {
    Error::new(
        ErrorKind::HostRejected,
        format!("{step} refused: {rc} {}", crate::receipt::response_text(rc)),
    )
}

pub(crate) fn rc_of(msg: &Message) -> String {
    msg.get_str(39).unwrap_or("").to_string()
}

/// MTI + 10 and the echoes. `strict`: a field the request carried must come back; otherwise only a
/// field that comes back must match (11 always required).
pub(crate) fn validate_echo(
    req: &Message,
    resp: &Message,
    fields: &[u8],
    strict: bool,
) -> Result<()> {
    if resp.mti != req.mti.response() {
        return Err(Error::new(
            ErrorKind::InvalidResponse,
            format!("response MTI {} to a {} request", resp.mti, req.mti),
        ));
    }
    for &f in fields {
        let Some(sent) = req.get(f) else { continue };
        match resp.get(f) {
            Some(got) if got == sent => {}
            Some(_) => {
                return Err(Error::new(
                    ErrorKind::InvalidResponse,
                    format!("field {f} does not echo the request"),
                ))
            }
            None if strict || f == 11 => {
                return Err(Error::new(
                    ErrorKind::InvalidResponse,
                    format!("field {f} missing in the response"),
                ))
            }
            None => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn org_from_bin() {
        assert_eq!(card_org_from_pan("6225880123456789"), Some("CUP"));
        assert_eq!(card_org_from_pan("4761340000000019"), Some("VIS"));
        assert_eq!(card_org_from_pan("5500000000000004"), Some("MCC"));
        assert_eq!(card_org_from_pan("3530111333300000"), Some("JCB"));
        assert_eq!(card_org_from_pan("371449635398431"), Some("AEX"));
        assert_eq!(card_org_from_pan("9"), None);
    }

    #[test]
    fn datetime_from_host_fields() {
        let now = DateTime {
            year: 2026,
            month: 11,
            day: 25,
            hour: 1,
            minute: 2,
            second: 3,
        };
        assert_eq!(
            host_datetime(&now, Some("1125"), Some("101530")),
            "2026-11-25T10:15:30"
        );
        assert_eq!(
            host_datetime(&now, None, Some("101530")),
            "2026-11-25T01:02:03"
        );
        assert_eq!(
            host_datetime(&now, Some("11x5"), Some("101530")),
            "2026-11-25T01:02:03"
        );
    }

    #[test]
    fn query_pages() {
        assert_eq!(query_page(&[]).expect("absent 62"), (b'0', Vec::new()));
        assert_eq!(query_page(b"2").expect("status only"), (b'2', Vec::new()));
        let (status, items) = query_page(&[b'1', 0x9F, 0x06, 0x01, 0xA0]).expect("one item");
        assert_eq!(status, b'1');
        assert_eq!(items, vec![crate::tlv::Tlv::primitive(0x9F06, vec![0xA0])]);
        assert!(query_page(&[b'1', 0x9F, 0x06, 0x05, 0xA0]).is_err());
    }

    #[test]
    fn approvals() {
        let p = Profile::cup();
        assert!(p.is_approval("00"));
        assert!(p.is_approval("A2"));
        assert!(!p.is_approval("51"));
        assert!(p.requires_sign_in("A0"));
        assert!(!p.requires_sign_in("55"));
    }
}
