//! Hardware abstraction: what the host app (or a simulator) provides.
//!
//! Threading: every callback runs on the thread that called the `Terminal` operation. `Terminal::cancel`
//! may be called from any thread; a callback that is waiting (card, PIN, QR) should return
//! `HalError::Cancelled` promptly when `CancelToken::is_cancelled()` becomes true.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use zeroize::Zeroizing;

/// Errors a device callback returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HalError {
    /// The user or the app cancelled.
    Cancelled,
    /// Nothing happened before the timeout.
    Timeout,
    /// The device (or the app's callback) failed; the text must not contain card data.
    Device(String),
}

impl fmt::Display for HalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HalError::Cancelled => write!(f, "cancelled"),
            HalError::Timeout => write!(f, "timed out"),
            HalError::Device(m) => write!(f, "device error: {m}"),
        }
    }
}

/// Shared cancellation flag. Cloned into callbacks and transports; set by `Terminal::cancel`.
#[derive(Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst)
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
    pub fn reset(&self) {
        self.0.store(false, Ordering::SeqCst)
    }
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CancelToken({})", self.is_cancelled())
    }
}

/// How a card was read (field 22 entry digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryMode {
    /// `01`
    Manual,
    /// `02`
    Swipe,
    /// `05`
    Chip,
    /// `07`
    Contactless,
    /// `80` swipe after a chip card failed
    Fallback,
}

impl EntryMode {
    /// The two entry digits of field 22.
    pub fn digits(self) -> &'static str {
        match self {
            EntryMode::Manual => "01",
            EntryMode::Swipe => "02",
            EntryMode::Chip => "05",
            EntryMode::Contactless => "07",
            EntryMode::Fallback => "80",
        }
    }
}

/// Which ways of presenting a card are allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CardModes {
    pub swipe: bool,
    pub chip: bool,
    pub contactless: bool,
}

impl CardModes {
    pub const ALL: CardModes = CardModes {
        swipe: true,
        chip: true,
        contactless: true,
    };
}

/// What the terminal asks the card reader for.
#[derive(Debug, Clone)]
pub struct CardRequest {
    /// Human label of the transaction ("sale", "void", ...).
    pub transaction: &'static str,
    /// Amount in fen, when the transaction has one (chip kernels need it for 9F02).
    pub amount: Option<u64>,
    pub modes: CardModes,
    pub timeout: Duration,
    pub cancel: CancelToken,
}

/// Card data as the reader yields it. Debug never prints the PAN, tracks or ICC data.
#[derive(Clone, Default)]
pub struct CardData {
    pub entry: Option<EntryMode>,
    /// PAN digits (chip; swipe derives it from track 2 when absent).
    pub pan: Option<Zeroizing<String>>,
    /// Track 2 equivalent, digits with `D` (or `=`) as separator.
    pub track2: Option<Zeroizing<String>>,
    pub track3: Option<Zeroizing<String>>,
    /// YYMM
    pub expiry: Option<String>,
    /// Card sequence number, 3 digits (`001`).
    pub sequence: Option<String>,
    /// Field 55 BER-TLV from the first GENERATE AC.
    pub icc: Option<Vec<u8>>,
}

impl fmt::Debug for CardData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pan = self.pan.as_deref().map(|p| crate::mask_pan(p));
        f.debug_struct("CardData")
            .field("entry", &self.entry)
            .field("pan", &pan)
            .field("track2", &self.track2.as_ref().map(|_| "<hidden>"))
            .field("track3", &self.track3.as_ref().map(|_| "<hidden>"))
            .field("expiry", &self.expiry.as_ref().map(|_| "<hidden>"))
            .field("sequence", &self.sequence)
            .field(
                "icc",
                &self.icc.as_ref().map(|v| format!("<{} bytes>", v.len())),
            )
            .finish()
    }
}

/// The host's answer, handed to the chip for the second GENERATE AC.
#[derive(Debug, Clone)]
pub struct ChipCompletion {
    /// 39 of the response ("00" approved).
    pub response_code: String,
    /// Field 55 of the response (91, 71, 72, 8A), possibly empty.
    pub icc_response: Vec<u8>,
    /// False when the host could not be reached (the card decides offline).
    pub host_answered: bool,
}

/// The card's decision after the second GENERATE AC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChipOutcome {
    pub approved: bool,
    /// Script results (DF31) and final TVR etc. as BER-TLV, if any.
    pub script_results: Option<Vec<u8>>,
}

/// An AID as downloaded (field names follow docs/PROTOCOL.md §3 tags).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AidParams {
    pub aid: Vec<u8>,
    /// Every TLV of the download response, raw, for kernels that want them all.
    pub tlv: Vec<u8>,
}

/// A CA public key, checksum verified before it reaches the reader.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Capk {
    pub rid: Vec<u8>,
    pub index: u8,
    /// YYYYMMDD
    pub expiry: String,
    pub modulus: Vec<u8>,
    pub exponent: Vec<u8>,
    pub checksum: [u8; 20],
}

pub trait CardReader: Send {
    /// Wait for a card. Return `HalError::Cancelled` / `Timeout` when nothing comes.
    fn read_card(&mut self, request: &CardRequest) -> Result<CardData, HalError>;
    /// Complete a chip transaction with the host's answer (second GENERATE AC).
    fn complete_chip(&mut self, completion: &ChipCompletion) -> Result<ChipOutcome, HalError>;
    /// Load downloaded EMV parameters into the device's kernel.
    fn load_emv_parameters(&mut self, aids: &[AidParams], capks: &[Capk]) -> Result<(), HalError>;
}

/// What the PIN pad is asked for.
#[derive(Debug, Clone)]
pub struct PinRequest {
    pub transaction: &'static str,
    pub masked_pan: String,
    pub amount: Option<u64>,
    pub allow_bypass: bool,
    pub timeout: Duration,
    pub cancel: CancelToken,
}

/// PIN entry result.
pub enum PinEntry {
    /// A format-0 PIN block already encrypted under the PIK by a secure PIN pad.
    Block([u8; 8]),
    /// A clear PIN that the security module blocks at once (never stored).
    Clear(Zeroizing<String>),
    /// The cardholder bypassed PIN entry (only honoured when `allow_bypass`).
    Bypass,
}

impl PinEntry {
    /// The number every bridge uses for a clear PIN (C `POS_PIN_CLEAR`, Kotlin `PinEntry.Clear`).
    pub const CLEAR: u8 = 0;
    /// The number every bridge uses for an encrypted PIN block.
    pub const BLOCK: u8 = 1;
    /// The number every bridge uses for a bypass.
    pub const BYPASS: u8 = 2;

    /// This entry's number (`CLEAR`, `BLOCK`, `BYPASS`).
    pub fn code(&self) -> u8 {
        match self {
            PinEntry::Clear(_) => PinEntry::CLEAR,
            PinEntry::Block(_) => PinEntry::BLOCK,
            PinEntry::Bypass => PinEntry::BYPASS,
        }
    }
}

impl fmt::Debug for PinEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PinEntry::Block(_) => write!(f, "PinEntry::Block(<hidden>)"),
            PinEntry::Clear(_) => write!(f, "PinEntry::Clear(<hidden>)"),
            PinEntry::Bypass => write!(f, "PinEntry::Bypass"),
        }
    }
}

pub trait PinPad: Send {
    /// `pan` is the full PAN for a secure pad that builds the block itself; never log it.
    fn get_pin(&mut self, request: &PinRequest, pan: &str) -> Result<PinEntry, HalError>;
}

#[derive(Debug, Clone)]
pub struct QrRequest {
    pub transaction: &'static str,
    pub amount: Option<u64>,
    pub timeout: Duration,
    pub cancel: CancelToken,
}

pub trait QrScanner: Send {
    /// Scan the customer's payment code.
    fn scan(&mut self, request: &QrRequest) -> Result<String, HalError>;
}

/// A merchant-presented QR code to show the customer (docs/PROTOCOL.md §4.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrShow {
    /// What the code encodes, as the host gave it (59 `A7`): render it as a QR code.
    pub payload: String,
    /// Amount in fen.
    pub amount: u64,
    /// How long the host keeps the order open (59 `A8`).
    pub expires_in: Duration,
    /// STAN of the order request.
    pub stan: u32,
}

/// A screen the customer can scan a merchant-presented QR code from.
pub trait QrDisplay: Send {
    /// Show the code; an error is logged and the order goes on (the payload is in the result too).
    fn show_qr(&mut self, show: &QrShow) -> Result<(), HalError>;
    /// The order reached a final state (paid, expired, closed): take the code down.
    fn clear_qr(&mut self) {}
}

pub trait DeviceInfo: Send {
    fn serial_number(&self) -> String;
    fn model(&self) -> String;
}

/// Progress events for the app's UI.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum Event {
    WaitingForCard,
    CardRead {
        masked_pan: String,
    },
    WaitingForPin,
    WaitingForQr,
    Connecting,
    Sending,
    Receiving,
    Reversing {
        stan: u32,
    },
    ResendingAdvice {
        stan: u32,
    },
    Done {
        approved: bool,
        response_code: String,
    },
    /// One QR status query answered (docs/PROTOCOL.md §4.10): the order's or payment's state (`waiting`,
    /// `paying`, `paid`, `not_paid`, `closed`, `expired`, or `unknown` when the query got no answer).
    QrPolling {
        stan: u32,
        poll: u32,
        state: String,
    },
}

pub trait EventSink: Send {
    fn on_event(&mut self, event: &Event);
}

/// Local date and time as the terminal prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DateTime {
    pub year: u16,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

impl DateTime {
    /// Civil date from seconds since the UNIX epoch (proleptic Gregorian, no leap seconds).
    pub fn from_unix(secs: i64) -> DateTime {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        // Howard Hinnant's days_from_civil inverse.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let y = yoe + era * 400;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = if m <= 2 { y + 1 } else { y };
        DateTime {
            year: y as u16,
            month: m as u8,
            day: d as u8,
            hour: (rem / 3600) as u8,
            minute: (rem % 3600 / 60) as u8,
            second: (rem % 60) as u8,
        }
    }
    /// `MMDD`
    pub fn mmdd(&self) -> String {
        format!("{:02}{:02}", self.month, self.day)
    }
    /// `hhmmss`
    pub fn hhmmss(&self) -> String {
        format!("{:02}{:02}{:02}", self.hour, self.minute, self.second)
    }
    /// `YYYY-MM-DDThh:mm:ss`
    pub fn iso(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

pub trait Clock: Send {
    fn now(&self) -> DateTime;
}

/// System clock with a fixed offset from UTC (China Standard Time is +8 h).
pub struct SystemClock {
    pub utc_offset_secs: i64,
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock {
            utc_offset_secs: 8 * 3600,
        }
    }
}

impl Clock for SystemClock {
    fn now(&self) -> DateTime {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        DateTime::from_unix(secs + self.utc_offset_secs)
    }
}

/// Where a frame goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `host:port`
    pub address: String,
    /// Bounds the TCP connect and, with TLS, the handshake too.
    pub connect_timeout: Duration,
    pub response_timeout: Duration,
    /// TLS for this endpoint (docs/PROTOCOL.md §10); None: plain TCP.
    pub tls: Option<TlsSettings>,
}

/// How an endpoint is reached over TLS, from the config's checked `tls` object (docs/PROTOCOL.md §10). Never
/// empty: CA certificates, pins or both.
#[derive(Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// Checked against the certificate when CAs are configured, and sent as SNI.
    pub server_name: String,
    /// The trusted CA certificates (DER); empty in pins-only mode.
    pub ca_der: Vec<Vec<u8>>,
    /// SHA-256 of the accepted SubjectPublicKeyInfos (DER).
    pub pins: Vec<[u8; 32]>,
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("server_name", &self.server_name)
            .field("ca_certificates", &self.ca_der.len())
            .field(
                "pins",
                &self.pins.iter().map(hex::encode).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Transport failures. The distinction between "never sent" and "sent, no answer" decides reversals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    /// Could not connect: the request certainly never left.
    Connect(String),
    /// The request may have left (partial or complete write, then failure).
    Send(String),
    /// Sent, but no complete response in time.
    Timeout,
    /// Sent, then the peer closed or the read failed.
    Receive(String),
    /// Cancelled by the app (before or after sending: see `sent`).
    Cancelled { sent: bool },
    /// Response frame broke the framing rules (length over 2048 ...).
    Framing(String),
}

impl TransportError {
    /// True when the request may have reached the host (a reversal may be owed).
    pub fn maybe_sent(&self) -> bool {
        match self {
            TransportError::Connect(_) => false,
            TransportError::Cancelled { sent } => *sent,
            _ => true,
        }
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportError::Connect(m) => write!(f, "connect failed: {m}"),
            TransportError::Send(m) => write!(f, "send failed: {m}"),
            TransportError::Timeout => write!(f, "no response before the timeout"),
            TransportError::Receive(m) => write!(f, "receive failed: {m}"),
            TransportError::Cancelled { sent } => write!(f, "cancelled (request sent: {sent})"),
            TransportError::Framing(m) => write!(f, "bad framing: {m}"),
        }
    }
}

/// A frame in, a frame out. Frames include the 2-byte length prefix.
pub trait Transport: Send {
    fn exchange(
        &mut self,
        endpoint: &Endpoint,
        frame: &[u8],
        cancel: &CancelToken,
    ) -> Result<Vec<u8>, TransportError>;
}

/// What the signature pad is asked for: the cardholder signs for this approved transaction.
#[derive(Debug, Clone)]
pub struct SignatureRequest {
    pub transaction: &'static str,
    pub stan: u32,
    pub amount: Option<u64>,
    pub timeout: Duration,
    pub cancel: CancelToken,
}

/// The cardholder's electronic signature (docs/PROTOCOL.md §8.8): asked after an approved transaction of the
/// kinds the config names (`signature.kinds`); the image is compressed, journalled and uploaded.
pub trait SignaturePad: Send {
    fn capture(
        &mut self,
        request: &SignatureRequest,
    ) -> Result<crate::signature::SignatureImage, HalError>;
}

/// Prints sales slips: called after every approved transaction with its merchant copy, then its cardholder
/// copy (slip.rs). A failure is logged and changes nothing: the transaction stands.
pub trait Printer: Send {
    fn print(&mut self, slip: &crate::slip::Slip) -> Result<(), HalError>;
}

/// The devices a terminal uses. Any of them may be absent when the data comes inline (JSON / scripting).
#[derive(Default)]
pub struct Hal {
    pub card_reader: Option<Box<dyn CardReader>>,
    pub pin_pad: Option<Box<dyn PinPad>>,
    pub qr_scanner: Option<Box<dyn QrScanner>>,
    /// Shows merchant-presented QR codes; None: the code is only in the result.
    pub qr_display: Option<Box<dyn QrDisplay>>,
    pub device: Option<Box<dyn DeviceInfo>>,
    pub events: Option<Box<dyn EventSink>>,
    /// None: the system clock at UTC+8.
    pub clock: Option<Box<dyn Clock>>,
    /// None: the default TCP transport.
    pub transport: Option<Box<dyn Transport>>,
    /// None: slips are only returned as text (`TransactionResult.receipt`).
    pub printer: Option<Box<dyn Printer>>,
    /// None: no electronic signature is taken.
    pub signature_pad: Option<Box<dyn SignaturePad>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn civil_date_from_unix() {
        // 2026-11-25T18:10:49Z
        let dt = DateTime::from_unix(1_795_630_249);
        assert_eq!(dt.iso(), "2026-11-25T18:10:49");
        assert_eq!(DateTime::from_unix(0).iso(), "1970-01-01T00:00:00");
        assert_eq!(
            DateTime::from_unix(951_782_400).iso(),
            "2000-02-29T00:00:00"
        );
    }
}
