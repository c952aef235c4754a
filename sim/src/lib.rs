//! possdk-sim: simulated terminal devices and the test fixture, kept out of the shipped libraries.
//!
//! The devices implement possdk-core's HAL traits: card reader (magstripe, contact and contactless chip with a
//! real ARQC/ARPC), PIN pad, QR scanner, device info, event recorder and clocks. The demo, the end-to-end
//! tests, the FFI tests and the core's integration tests use them.
//!
//! Every simulated device is a cheap handle over shared state: clone it before boxing it into a
//! [`Hal`](possdk_core::hal::Hal) and keep the clone to queue cards / PINs / codes, flip knobs and inspect what
//! the terminal did.
//!
//! [`fixture`] holds every test constant (terminal ids, the test cards, the fixed keys); the host simulator
//! provisions itself from it (docs/PROTOCOL.md §12). Chip cryptograms use the test issuer master key
//! [`fixture::IMK_AC`] (docs/PROTOCOL.md §8.5).

pub mod fixture;

use possdk_core::crypto::emv::{self, EmvError};
use possdk_core::crypto::DesKey;
use possdk_core::hal::{
    AidParams, CancelToken, Capk, CardData, CardReader, CardRequest, ChipCompletion, ChipOutcome,
    Clock, DateTime, DeviceInfo, EntryMode, Event, EventSink, HalError, PinEntry, PinPad,
    PinRequest, QrDisplay, QrRequest, QrScanner, QrShow, SystemClock,
};
use possdk_core::tlv::{self, Tlv};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// AID of CUP debit/credit (tag 84).
pub const AID_CUP: [u8; 8] = [0xA0, 0x00, 0x00, 0x03, 0x33, 0x01, 0x01, 0x01];
/// AID of Visa credit/debit (tag 84).
pub const AID_VISA: [u8; 7] = [0xA0, 0x00, 0x00, 0x00, 0x03, 0x10, 0x10];
/// Issuer application data of the simulated cards; the CVR is bytes 3..7.
pub const IAD: [u8; 19] = [
    0x07, 0x01, 0x01, 0x03, 0xA0, 0x00, 0x00, 0x01, 0x0A, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0xAB,
    0xCD, 0xEF, 0x12,
];

/// Sleep up to `total`, in short slices, returning `Cancelled` as soon as `cancel` is set.
fn wait(total: Duration, cancel: &CancelToken) -> Result<(), HalError> {
    let end = Instant::now() + total;
    loop {
        if cancel.is_cancelled() {
            return Err(HalError::Cancelled);
        }
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        std::thread::sleep(left.min(Duration::from_millis(10)));
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking test thread must not wedge the simulator: the state stays usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------------------------------------
// Cards

/// A card to present to the terminal.
#[derive(Clone)]
pub struct SimCard {
    pub pan: Zeroizing<String>,
    /// YYMM
    pub expiry: String,
    pub service_code: String,
    /// Card sequence number, 3 digits (chip).
    pub psn: String,
    /// How the card is presented.
    pub entry: EntryMode,
    pub track3: Option<Zeroizing<String>>,
    /// The card approves offline: its first GENERATE AC answers a TC (9F27 `40`, the kernel's Y1).
    pub offline: bool,
}

impl fmt::Debug for SimCard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimCard")
            .field("pan", &possdk_core::mask_pan(&self.pan))
            .field("entry", &self.entry)
            .field("service_code", &self.service_code)
            .finish()
    }
}

impl SimCard {
    pub fn new(card: &fixture::TestCard, entry: EntryMode) -> Self {
        SimCard {
            pan: Zeroizing::new(card.pan.to_string()),
            expiry: card.expiry.to_string(),
            service_code: card.service_code.to_string(),
            psn: card.psn.unwrap_or("000").to_string(),
            entry,
            track3: None,
            offline: false,
        }
    }
    pub fn swipe(card: &fixture::TestCard) -> Self {
        Self::new(card, EntryMode::Swipe)
    }
    /// Insert a chip card (a magstripe-only card is swiped instead).
    pub fn chip(card: &fixture::TestCard) -> Self {
        Self::new(
            card,
            if card.is_chip() {
                EntryMode::Chip
            } else {
                EntryMode::Swipe
            },
        )
    }
    /// Tap a chip card (a magstripe-only card is swiped instead).
    pub fn contactless(card: &fixture::TestCard) -> Self {
        Self::new(
            card,
            if card.is_chip() {
                EntryMode::Contactless
            } else {
                EntryMode::Swipe
            },
        )
    }
    /// Swipe a chip card after its chip failed.
    pub fn fallback(card: &fixture::TestCard) -> Self {
        Self::new(card, EntryMode::Fallback)
    }
    /// A chip card whose first GENERATE AC approves offline (Y1): a TC instead of an ARQC.
    pub fn approving_offline(mut self) -> Self {
        self.offline = true;
        self
    }
    pub fn with_track3(mut self, track3: &str) -> Self {
        self.track3 = Some(Zeroizing::new(track3.to_string()));
        self
    }

    /// `<PAN>D<YYMM><service code>1234567890`, cut from the right to at most 37 characters.
    pub fn track2(&self) -> Zeroizing<String> {
        let mut t = Zeroizing::new(format!(
            "{}D{}{}1234567890",
            self.pan.as_str(),
            self.expiry,
            self.service_code
        ));
        t.truncate(37);
        t
    }

    fn is_chip(&self) -> bool {
        self.service_code.starts_with('2') || self.service_code.starts_with('6')
    }

    fn aid(&self) -> &'static [u8] {
        if self.pan.starts_with('4') {
            &AID_VISA
        } else {
            &AID_CUP
        }
    }
}

/// The chip session between the first and the second GENERATE AC.
struct ChipSession {
    session_key: DesKey,
    arqc: [u8; 8],
    /// The first GENERATE AC's cryptogram input (CDOL1 data + CVR), which the TC also covers.
    input: Vec<u8>,
    atc: u16,
}

/// What `load_emv_parameters` received.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadedParameters {
    pub aids: Vec<AidParams>,
    pub capks: Vec<Capk>,
    /// How many times the terminal loaded parameters.
    pub loads: u32,
}

struct ReaderState {
    queue: VecDeque<SimCard>,
    default_card: Option<SimCard>,
    no_card: bool,
    delay: Duration,
    decline_after_approval: bool,
    /// Fail the first GENERATE AC (the terminal should fall back to swipe).
    chip_error: bool,
    atc: HashMap<String, u16>,
    sequence_counter: u32,
    session: Option<ChipSession>,
    parameters: LoadedParameters,
    clock: Box<dyn Clock>,
    last_icc: Option<Vec<u8>>,
    last_outcome: Option<ChipOutcome>,
    reads: u32,
}

/// Simulated card reader. Clones share state.
#[derive(Clone)]
pub struct SimCardReader {
    state: Arc<Mutex<ReaderState>>,
}

impl Default for SimCardReader {
    fn default() -> Self {
        Self::new()
    }
}

impl SimCardReader {
    /// A reader with no card queued and no default card (reads time out until a card is pushed).
    pub fn new() -> Self {
        SimCardReader {
            state: Arc::new(Mutex::new(ReaderState {
                queue: VecDeque::new(),
                default_card: None,
                no_card: false,
                delay: Duration::ZERO,
                decline_after_approval: false,
                chip_error: false,
                atc: HashMap::new(),
                sequence_counter: 0,
                session: None,
                parameters: LoadedParameters::default(),
                clock: Box::new(SystemClock::default()),
                last_icc: None,
                last_outcome: None,
                reads: 0,
            })),
        }
    }

    /// A reader that presents `card` whenever nothing is queued.
    pub fn with_default(card: SimCard) -> Self {
        let r = Self::new();
        r.set_default(Some(card));
        r
    }

    /// Queue a card for the next read.
    pub fn push(&self, card: SimCard) {
        lock(&self.state).queue.push_back(card);
    }
    /// Forget the queued cards (an operation that never read the card it was given one for).
    pub fn clear_queue(&self) {
        lock(&self.state).queue.clear();
    }
    pub fn set_default(&self, card: Option<SimCard>) {
        lock(&self.state).default_card = card;
    }
    /// Simulate "no card presented": reads return `Timeout`.
    pub fn set_no_card(&self, on: bool) {
        lock(&self.state).no_card = on;
    }
    /// Delay before the card is presented (cancellable; longer than the request's timeout gives `Timeout`).
    pub fn set_delay(&self, delay: Duration) {
        lock(&self.state).delay = delay;
    }
    /// The card declines at the second GENERATE AC even when the host approved (reversal `06`).
    pub fn set_decline_after_approval(&self, on: bool) {
        lock(&self.state).decline_after_approval = on;
    }
    /// The chip fails to answer the first GENERATE AC (a `Device` error).
    pub fn set_chip_error(&self, on: bool) {
        lock(&self.state).chip_error = on;
    }
    /// Clock for 9A (transaction date); default: system clock at UTC+8.
    pub fn set_clock(&self, clock: Box<dyn Clock>) {
        lock(&self.state).clock = clock;
    }
    /// Parameters received through `load_emv_parameters`.
    pub fn loaded_parameters(&self) -> LoadedParameters {
        lock(&self.state).parameters.clone()
    }
    /// Field 55 of the last chip read.
    pub fn last_icc(&self) -> Option<Vec<u8>> {
        lock(&self.state).last_icc.clone()
    }
    /// The last second-GENERATE-AC outcome.
    pub fn last_outcome(&self) -> Option<ChipOutcome> {
        lock(&self.state).last_outcome.clone()
    }
    /// Cards read so far.
    pub fn reads(&self) -> u32 {
        lock(&self.state).reads
    }
    /// Cards still queued.
    pub fn queued(&self) -> usize {
        lock(&self.state).queue.len()
    }
}

/// Pick how the card is read: as presented if the request allows it, else the best allowed alternative.
fn choose_entry(card: &SimCard, request: &CardRequest) -> Option<EntryMode> {
    let m = request.modes;
    let allowed = |e: EntryMode| match e {
        EntryMode::Swipe | EntryMode::Fallback => m.swipe,
        EntryMode::Chip => m.chip,
        EntryMode::Contactless => m.contactless,
        EntryMode::Manual => true,
    };
    if allowed(card.entry) {
        return Some(card.entry);
    }
    let alternatives: &[EntryMode] = if card.is_chip() {
        &[EntryMode::Chip, EntryMode::Contactless, EntryMode::Swipe]
    } else {
        &[EntryMode::Swipe]
    };
    alternatives.iter().copied().find(|e| allowed(*e))
}

/// 9C from the transaction label.
fn transaction_type(label: &str) -> u8 {
    let l = label.to_ascii_lowercase();
    if l.contains("balance") {
        0x31
    } else if l.contains("refund") {
        0x20
    } else {
        0x00
    }
}

/// n12 amount as 6 BCD bytes.
fn bcd_amount(fen: u64) -> Vec<u8> {
    let digits = format!("{:012}", fen % 1_000_000_000_000);
    hex::decode(digits).unwrap_or_else(|_| vec![0; 6])
}

fn bcd2(n: u8) -> u8 {
    ((n / 10) << 4) | (n % 10)
}

impl ReaderState {
    fn next_card(&mut self) -> Option<SimCard> {
        self.queue.pop_front().or_else(|| self.default_card.clone())
    }

    /// First GENERATE AC: build field 55 with a real ARQC and keep the session for the second one.
    fn generate_ac(&mut self, card: &SimCard, request: &CardRequest) -> Result<Vec<u8>, HalError> {
        let atc = {
            let c = self.atc.entry(card.pan.to_string()).or_insert(0);
            *c = c.wrapping_add(1);
            *c
        };
        self.sequence_counter = self.sequence_counter.wrapping_add(1);
        let mut un = [0u8; 4];
        possdk_core::crypto::random_bytes(&mut un)
            .map_err(|e| HalError::Device(format!("random: {e}")))?;
        let now = self.clock.now();
        let date = [bcd2((now.year % 100) as u8), bcd2(now.month), bcd2(now.day)];
        let amount = bcd_amount(request.amount.unwrap_or(0));
        let tvr = [0u8; 5];
        let aip = [0x7C, 0x00];
        let country = [0x01, 0x56];
        let tx_type = transaction_type(request.transaction);
        let seq = self.sequence_counter;
        let mut items = vec![
            Tlv::primitive(0x9F27, vec![if card.offline { 0x40 } else { 0x80 }]),
            Tlv::primitive(0x9F10, IAD.to_vec()),
            Tlv::primitive(0x9F37, un.to_vec()),
            Tlv::primitive(0x9F36, atc.to_be_bytes().to_vec()),
            Tlv::primitive(0x95, tvr.to_vec()),
            Tlv::primitive(0x9A, date.to_vec()),
            Tlv::primitive(0x9C, vec![tx_type]),
            Tlv::primitive(0x9F02, amount),
            Tlv::primitive(0x5F2A, country.to_vec()),
            Tlv::primitive(0x82, aip.to_vec()),
            Tlv::primitive(0x9F1A, country.to_vec()),
            Tlv::primitive(0x9F03, vec![0u8; 6]),
            Tlv::primitive(0x9F33, vec![0xE0, 0xE1, 0xC8]),
            Tlv::primitive(0x9F34, vec![0x42, 0x03, 0x00]),
            Tlv::primitive(0x9F35, vec![0x22]),
            Tlv::primitive(0x84, card.aid().to_vec()),
            Tlv::primitive(0x9F09, vec![0x00, 0x30]),
            Tlv::primitive(0x9F41, seq.to_be_bytes().to_vec()),
            Tlv::primitive(0x9F1E, b"12345678".to_vec()),
        ];
        let session_key =
            card_session_key(&card.pan, &card.psn, atc.to_be_bytes()).map_err(chip_error)?;
        let input = emv::arqc_input(&items).map_err(chip_error)?;
        let arqc = if card.offline {
            // Offline approval: the TC over the same input and the ARC `Y1` (docs/PROTOCOL.md §8.7).
            offline_tc(&session_key, &input).map_err(chip_error)?
        } else {
            emv::arqc(&session_key, &input).map_err(chip_error)?
        };
        items.insert(0, Tlv::primitive(0x9F26, arqc.to_vec()));
        self.session = Some(ChipSession {
            session_key,
            arqc,
            input,
            atc,
        });
        Ok(tlv::encode(&items))
    }
}

/// The transaction certificate of an approved second GENERATE AC (docs/PROTOCOL.md §8.6): the ARQC's
/// algorithm and session key over the first GENERATE AC's input followed by the ARC `3030` ("00").
fn tc(session: &ChipSession) -> Result<[u8; 8], EmvError> {
    tc_of(&session.session_key, &session.input)
}

/// TC = ISO 9797-1 MAC algorithm 3 (padding 2) under the session key over `input` ‖ `3030`.
pub fn tc_of(session_key: &DesKey, input: &[u8]) -> Result<[u8; 8], EmvError> {
    let mut data = input.to_vec();
    data.extend_from_slice(b"00");
    emv::arqc(session_key, &data)
}

/// The TC of an offline approval (Y1): ISO 9797-1 MAC algorithm 3 under the session key over `input` ‖ `Y1`.
pub fn offline_tc(session_key: &DesKey, input: &[u8]) -> Result<[u8; 8], EmvError> {
    let mut data = input.to_vec();
    data.extend_from_slice(b"Y1");
    emv::arqc(session_key, &data)
}

fn chip_error(e: EmvError) -> HalError {
    HalError::Device(format!("chip: {e}"))
}

/// The 2 digits of the card sequence number that ICC master key derivation option A uses: the last two of
/// the 3-digit field 23 value (`001` -> `01`), as the host simulator does.
pub fn psn_digits(psn: &str) -> &str {
    if psn.len() >= 2 && psn.is_char_boundary(psn.len() - 2) {
        &psn[psn.len() - 2..]
    } else {
        "00"
    }
}

/// Session key of a test card (IMK-AC [`fixture::IMK_AC`], option A, common session key from the ATC).
pub fn card_session_key(pan: &str, psn: &str, atc: [u8; 2]) -> Result<DesKey, EmvError> {
    let imk = DesKey::from_hex(fixture::IMK_AC)?;
    let mk = emv::derive_icc_mk_option_a(&imk, pan, psn_digits(psn))?;
    emv::common_session_key(&mk, atc)
}

impl CardReader for SimCardReader {
    fn read_card(&mut self, request: &CardRequest) -> Result<CardData, HalError> {
        let (delay, no_card) = {
            let s = lock(&self.state);
            (s.delay, s.no_card)
        };
        if request.cancel.is_cancelled() {
            return Err(HalError::Cancelled);
        }
        if delay > request.timeout {
            wait(request.timeout, &request.cancel)?;
            return Err(HalError::Timeout);
        }
        wait(delay, &request.cancel)?;
        let mut s = lock(&self.state);
        if no_card || s.no_card {
            return Err(HalError::Timeout);
        }
        let card = s.next_card().ok_or(HalError::Timeout)?;
        let entry = choose_entry(&card, request).ok_or_else(|| {
            HalError::Device("the card cannot be read in any allowed mode".into())
        })?;
        s.reads += 1;
        log::debug!(
            "sim reader: {} card {}",
            entry.digits(),
            possdk_core::mask_pan(&card.pan)
        );
        let mut data = CardData {
            entry: Some(entry),
            pan: Some(card.pan.clone()),
            track2: None,
            track3: None,
            expiry: Some(card.expiry.clone()),
            sequence: None,
            icc: None,
        };
        match entry {
            EntryMode::Manual => {}
            EntryMode::Swipe | EntryMode::Fallback => {
                data.track2 = Some(card.track2());
                data.track3 = card.track3.clone();
            }
            EntryMode::Chip | EntryMode::Contactless => {
                if s.chip_error {
                    return Err(HalError::Device("chip did not answer".into()));
                }
                let icc = s.generate_ac(&card, request)?;
                s.last_icc = Some(icc.clone());
                data.track2 = Some(card.track2());
                data.sequence = Some(card.psn.clone());
                data.icc = Some(icc);
            }
        }
        Ok(data)
    }

    fn complete_chip(&mut self, completion: &ChipCompletion) -> Result<ChipOutcome, HalError> {
        let mut s = lock(&self.state);
        let session = s
            .session
            .take()
            .ok_or_else(|| HalError::Device("no chip transaction in progress".into()))?;
        let items = tlv::decode(&completion.icc_response).unwrap_or_default();
        let arpc_ok = match tlv::get(&items, 0x91) {
            Some(v) if v.len() >= 10 => {
                let arc = [v[8], v[9]];
                let expected = emv::arpc_method1(&session.session_key, &session.arqc, arc);
                expected[..] == v[..8] && &arc == b"00"
            }
            _ => false,
        };
        let host_approved = completion.host_answered && completion.response_code == "00";
        let approved = host_approved && arpc_ok && !s.decline_after_approval;
        if host_approved && !arpc_ok {
            log::debug!("sim reader: host approval without a valid ARPC, card declines");
        }
        // Issuer scripts: every 71/72 template yields 5 bytes of DF31: result (0x20 = performed) + script id.
        let mut results = Vec::new();
        for item in items.iter().filter(|t| t.tag == 0x71 || t.tag == 0x72) {
            let id = tlv::get(item.children(), 0x9F18)
                .filter(|v| v.len() == 4)
                .unwrap_or(&[0u8; 4]);
            let ok = item.children().iter().any(|c| c.tag == 0x86);
            results.push(if ok { 0x20 } else { 0x10 });
            results.extend_from_slice(id);
        }
        // The completion data: on approval the second GENERATE AC's TC (9F27 `40`) and the ATC, then the
        // script results (DF31) when the host sent scripts.
        let mut done = Vec::new();
        if approved {
            done.push(Tlv::primitive(
                0x9F26,
                tc(&session).map_err(chip_error)?.to_vec(),
            ));
            done.push(Tlv::primitive(0x9F27, vec![0x40]));
            done.push(Tlv::primitive(0x9F36, session.atc.to_be_bytes().to_vec()));
        }
        if !results.is_empty() {
            done.push(Tlv::primitive(0xDF31, results));
        }
        let script_results = if done.is_empty() {
            None
        } else {
            Some(tlv::encode(&done))
        };
        let outcome = ChipOutcome {
            approved,
            script_results,
        };
        s.last_outcome = Some(outcome.clone());
        Ok(outcome)
    }

    fn load_emv_parameters(&mut self, aids: &[AidParams], capks: &[Capk]) -> Result<(), HalError> {
        let mut s = lock(&self.state);
        s.parameters.aids = aids.to_vec();
        s.parameters.capks = capks.to_vec();
        s.parameters.loads += 1;
        log::debug!(
            "sim reader: loaded {} AIDs and {} CAPKs",
            aids.len(),
            capks.len()
        );
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------------------
// PIN pad

/// What the simulated cardholder does at the PIN prompt.
#[derive(Clone)]
pub enum SimPin {
    /// Type this PIN.
    Pin(Zeroizing<String>),
    /// Type the provisioned PIN of the card (from [`cards`]); a card not provisioned gets `000000`.
    CardPin,
    Bypass,
    Cancel,
    Timeout,
}

impl fmt::Debug for SimPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimPin::Pin(_) => write!(f, "SimPin::Pin(<hidden>)"),
            SimPin::CardPin => write!(f, "SimPin::CardPin"),
            SimPin::Bypass => write!(f, "SimPin::Bypass"),
            SimPin::Cancel => write!(f, "SimPin::Cancel"),
            SimPin::Timeout => write!(f, "SimPin::Timeout"),
        }
    }
}

impl SimPin {
    pub fn pin(pin: &str) -> Self {
        SimPin::Pin(Zeroizing::new(pin.to_string()))
    }
}

struct PinPadState {
    queue: VecDeque<SimPin>,
    default: SimPin,
    requests: Vec<PinRequest>,
}

/// Simulated PIN pad returning clear PINs (the security module blocks them). Clones share state.
#[derive(Clone)]
pub struct SimPinPad {
    state: Arc<Mutex<PinPadState>>,
}

impl Default for SimPinPad {
    /// Enters each test card's own PIN.
    fn default() -> Self {
        Self::new(SimPin::CardPin)
    }
}

impl SimPinPad {
    pub fn new(default: SimPin) -> Self {
        SimPinPad {
            state: Arc::new(Mutex::new(PinPadState {
                queue: VecDeque::new(),
                default,
                requests: Vec::new(),
            })),
        }
    }
    /// Always enter `pin`.
    pub fn fixed(pin: &str) -> Self {
        Self::new(SimPin::pin(pin))
    }
    /// Queue an action for the next prompt.
    pub fn push(&self, action: SimPin) {
        lock(&self.state).queue.push_back(action);
    }
    /// Forget the queued actions.
    pub fn clear_queue(&self) {
        lock(&self.state).queue.clear();
    }
    pub fn set_default(&self, action: SimPin) {
        lock(&self.state).default = action;
    }
    /// Prompts seen so far (masked PAN, amount, bypass flag).
    pub fn requests(&self) -> Vec<PinRequest> {
        lock(&self.state).requests.clone()
    }
}

impl PinPad for SimPinPad {
    fn get_pin(&mut self, request: &PinRequest, pan: &str) -> Result<PinEntry, HalError> {
        if request.cancel.is_cancelled() {
            return Err(HalError::Cancelled);
        }
        let mut s = lock(&self.state);
        s.requests.push(request.clone());
        let action = s.queue.pop_front().unwrap_or_else(|| s.default.clone());
        match action {
            SimPin::Pin(p) => Ok(PinEntry::Clear(p)),
            SimPin::CardPin => {
                let pin = fixture::by_pan(pan).map(|c| c.pin).unwrap_or("000000");
                Ok(PinEntry::Clear(Zeroizing::new(pin.to_string())))
            }
            SimPin::Bypass => Ok(PinEntry::Bypass),
            SimPin::Cancel => Err(HalError::Cancelled),
            SimPin::Timeout => Err(HalError::Timeout),
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// QR scanner

struct QrState {
    queue: VecDeque<String>,
    default: Option<String>,
    scans: u32,
}

/// Simulated QR scanner: a queue of payment codes, then an optional default. Clones share state.
#[derive(Clone)]
pub struct SimQrScanner {
    state: Arc<Mutex<QrState>>,
}

impl Default for SimQrScanner {
    /// Scans [`fixture::QR_CODE`] whenever nothing is queued.
    fn default() -> Self {
        Self::new(Some(fixture::QR_CODE))
    }
}

impl SimQrScanner {
    pub fn new(default: Option<&str>) -> Self {
        SimQrScanner {
            state: Arc::new(Mutex::new(QrState {
                queue: VecDeque::new(),
                default: default.map(str::to_string),
                scans: 0,
            })),
        }
    }
    pub fn push(&self, code: &str) {
        lock(&self.state).queue.push_back(code.to_string());
    }
    /// Forget the queued codes.
    pub fn clear_queue(&self) {
        lock(&self.state).queue.clear();
    }
    pub fn scans(&self) -> u32 {
        lock(&self.state).scans
    }
}

impl QrScanner for SimQrScanner {
    fn scan(&mut self, request: &QrRequest) -> Result<String, HalError> {
        if request.cancel.is_cancelled() {
            return Err(HalError::Cancelled);
        }
        let mut s = lock(&self.state);
        let code = s
            .queue
            .pop_front()
            .or_else(|| s.default.clone())
            .ok_or(HalError::Timeout)?;
        s.scans += 1;
        Ok(code)
    }
}

/// What the customer does on seeing a merchant-presented code (e.g. tell the test host to pay it).
pub type QrCustomer = Arc<dyn Fn(&QrShow) + Send + Sync>;

/// A simulated customer-facing screen: it records every code shown and, when a customer is set, hands
/// the code to it (the customer scans it with the wallet).
#[derive(Clone, Default)]
pub struct SimQrDisplay {
    shown: Arc<Mutex<Vec<QrShow>>>,
    cleared: Arc<Mutex<u32>>,
    customer: Arc<Mutex<Option<QrCustomer>>>,
}

impl SimQrDisplay {
    /// Every code shown so far, oldest first.
    pub fn shown(&self) -> Vec<QrShow> {
        lock(&self.shown).clone()
    }
    /// How many times a code was taken down.
    pub fn cleared(&self) -> u32 {
        *lock(&self.cleared)
    }
    /// The customer who scans each code as it is shown.
    pub fn set_customer(&self, customer: Option<QrCustomer>) {
        *lock(&self.customer) = customer;
    }
}

impl QrDisplay for SimQrDisplay {
    fn show_qr(&mut self, show: &QrShow) -> Result<(), HalError> {
        if show.payload.is_empty() {
            return Err(HalError::Device("empty QR payload".into()));
        }
        lock(&self.shown).push(show.clone());
        let customer = lock(&self.customer).clone();
        if let Some(c) = customer {
            c(show);
        }
        Ok(())
    }
    fn clear_qr(&mut self) {
        *lock(&self.cleared) += 1;
    }
}

// ---------------------------------------------------------------------------------------------------------
// Device, events, clocks

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimDevice {
    pub serial: String,
    pub model: String,
}

impl Default for SimDevice {
    fn default() -> Self {
        SimDevice {
            serial: fixture::DEVICE_SN.to_string(),
            model: "possdk-sim".to_string(),
        }
    }
}

impl DeviceInfo for SimDevice {
    fn serial_number(&self) -> String {
        self.serial.clone()
    }
    fn model(&self) -> String {
        self.model.clone()
    }
}

/// Collects every event. Clones share the list.
#[derive(Clone, Default)]
pub struct RecordingEvents {
    pub events: Arc<Mutex<Vec<Event>>>,
}

impl RecordingEvents {
    pub fn new() -> Self {
        Self::default()
    }
    /// A copy of the events so far.
    pub fn snapshot(&self) -> Vec<Event> {
        lock(&self.events).clone()
    }
    pub fn clear(&self) {
        lock(&self.events).clear()
    }
}

impl EventSink for RecordingEvents {
    fn on_event(&mut self, event: &Event) {
        lock(&self.events).push(event.clone());
    }
}

/// A printer that keeps every slip it is given (clones share the list); `fail` makes it refuse.
#[derive(Clone, Default)]
pub struct SimPrinter {
    pub printed: Arc<Mutex<Vec<possdk_core::slip::Slip>>>,
    pub fail: Arc<std::sync::atomic::AtomicBool>,
}

impl SimPrinter {
    /// A copy of the slips printed so far.
    pub fn printed(&self) -> Vec<possdk_core::slip::Slip> {
        lock(&self.printed).clone()
    }
}

impl possdk_core::hal::Printer for SimPrinter {
    fn print(&mut self, slip: &possdk_core::slip::Slip) -> Result<(), HalError> {
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(HalError::Device("out of paper".into()));
        }
        lock(&self.printed).push(slip.clone());
        Ok(())
    }
}

/// A signature pad: the cardholder "signs" a 384 × 96 pixel stroke, different for every STAN; `fail` makes
/// it refuse. Clones share the count.
#[derive(Clone, Default)]
pub struct SimSignaturePad {
    pub taken: Arc<std::sync::atomic::AtomicU32>,
    pub fail: Arc<std::sync::atomic::AtomicBool>,
}

impl SimSignaturePad {
    /// The image the pad gives for a STAN: a wavy stroke across the pad.
    pub fn image_for(stan: u32) -> possdk_core::signature::SignatureImage {
        let (width, height) = (384u16, 96u16);
        let stride = possdk_core::signature::SignatureImage::stride(width);
        let mut bits = vec![0u8; stride * usize::from(height)];
        let phase = (stan % 17) as usize;
        for x in 16..usize::from(width) - 16 {
            let wave = ((x + phase) % 48) as isize - 24;
            let y = (48 + wave.abs() - 12) as usize;
            for t in 0..3 {
                bits[(y + t) * stride + x / 8] |= 0x80 >> (x % 8);
            }
        }
        possdk_core::signature::SignatureImage {
            width,
            height,
            bits,
        }
    }
}

impl possdk_core::hal::SignaturePad for SimSignaturePad {
    fn capture(
        &mut self,
        request: &possdk_core::hal::SignatureRequest,
    ) -> Result<possdk_core::signature::SignatureImage, HalError> {
        if request.cancel.is_cancelled() {
            return Err(HalError::Cancelled);
        }
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(HalError::Device("signature pad broken".into()));
        }
        self.taken.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(Self::image_for(request.stan))
    }
}

/// A clock that always says the same time.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub DateTime);

impl Clock for FixedClock {
    fn now(&self) -> DateTime {
        self.0
    }
}

/// A settable clock shared between clones (tests move it across days and batches).
#[derive(Clone)]
pub struct SimClock {
    now: Arc<Mutex<DateTime>>,
}

impl SimClock {
    pub fn new(start: DateTime) -> Self {
        SimClock {
            now: Arc::new(Mutex::new(start)),
        }
    }
    pub fn set(&self, t: DateTime) {
        *lock(&self.now) = t;
    }
    pub fn advance(&self, by: Duration) {
        let mut now = lock(&self.now);
        let secs = i64::try_from(by.as_secs()).unwrap_or(i64::MAX / 2);
        *now = DateTime::from_unix(to_unix(&now).saturating_add(secs));
    }
}

impl Clock for SimClock {
    fn now(&self) -> DateTime {
        *lock(&self.now)
    }
}

// ---------------------------------------------------------------------------------------------------------
// All together

/// One handle per simulated device; `hal()` boxes clones of them, so the handles keep steering the devices.
#[derive(Clone, Default)]
pub struct SimDevices {
    pub reader: SimCardReader,
    pub pin_pad: SimPinPad,
    pub qr: SimQrScanner,
    pub qr_display: SimQrDisplay,
    pub device: SimDevice,
    pub events: RecordingEvents,
    pub printer: SimPrinter,
    pub signature_pad: SimSignaturePad,
    /// None: the system clock (UTC+8).
    pub clock: Option<SimClock>,
}

impl SimDevices {
    /// Reader with no card queued, PIN pad entering each test card's PIN, QR scanner with the approved code.
    pub fn new() -> Self {
        Self::default()
    }

    /// A HAL over these devices (transport: None, i.e. the default TCP transport).
    pub fn hal(&self) -> possdk_core::hal::Hal {
        possdk_core::hal::Hal {
            card_reader: Some(Box::new(self.reader.clone())),
            pin_pad: Some(Box::new(self.pin_pad.clone())),
            qr_scanner: Some(Box::new(self.qr.clone())),
            qr_display: Some(Box::new(self.qr_display.clone())),
            device: Some(Box::new(self.device.clone())),
            events: Some(Box::new(self.events.clone())),
            clock: self.clock.clone().map(|c| Box::new(c) as Box<dyn Clock>),
            transport: None,
            printer: Some(Box::new(self.printer.clone())),
            signature_pad: Some(Box::new(self.signature_pad.clone())),
        }
    }
}

/// Seconds since the UNIX epoch of a civil date-time (inverse of `DateTime::from_unix`).
pub fn to_unix(t: &DateTime) -> i64 {
    let (m, d) = (i64::from(t.month), i64::from(t.day));
    let y = i64::from(t.year) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + i64::from(t.hour) * 3600 + i64::from(t.minute) * 60 + i64::from(t.second)
}

#[cfg(test)]
mod tests {
    use super::*;
    use possdk_core::hal::CardModes;

    fn request(transaction: &'static str, amount: Option<u64>) -> CardRequest {
        CardRequest {
            transaction,
            amount,
            modes: CardModes::ALL,
            timeout: Duration::from_secs(5),
            cancel: CancelToken::new(),
        }
    }

    fn date() -> DateTime {
        DateTime {
            year: 2026,
            month: 11,
            day: 25,
            hour: 10,
            minute: 15,
            second: 30,
        }
    }

    fn reader() -> SimCardReader {
        let r = SimCardReader::new();
        r.set_clock(Box::new(FixedClock(date())));
        r
    }

    /// The issuer's view: verify the ARQC from field 55 alone with `crypto::emv`; returns the session key
    /// and the ARQC for building answers.
    fn issuer_check(pan: &str, psn: &str, icc: &[u8]) -> (DesKey, [u8; 8]) {
        let items = tlv::decode(icc).expect("field 55 decodes");
        let imk = DesKey::from_hex(fixture::IMK_AC).expect("imk");
        let arpc = emv::verify_arqc_and_make_arpc(&imk, pan, psn_digits(psn), &items, *b"00")
            .expect("well-formed field 55");
        assert!(arpc.is_some(), "ARQC verifies");
        let atc = emv::atc(&items).expect("atc");
        let sk = card_session_key(pan, psn, atc).expect("session key");
        let arqc: [u8; 8] = tlv::get(&items, 0x9F26)
            .expect("9F26")
            .try_into()
            .expect("8 bytes");
        assert_eq!(arpc, Some(emv::arpc_method1(&sk, &arqc, *b"00")));
        (sk, arqc)
    }

    fn host_answer(sk: &DesKey, arqc: &[u8; 8], arc: &[u8; 2]) -> Vec<u8> {
        let mut v = emv::arpc_method1(sk, arqc, *arc).to_vec();
        v.extend_from_slice(arc);
        tlv::encode(&[Tlv::primitive(0x91, v), Tlv::primitive(0x8A, arc.to_vec())])
    }

    #[test]
    fn psn_uses_the_last_two_digits() {
        assert_eq!(psn_digits("001"), "01");
        assert_eq!(psn_digits("01"), "01");
        assert_eq!(psn_digits("1"), "00");
        let a = card_session_key(fixture::CUP_CHIP.pan, "001", [0, 1]).expect("sk");
        let b = card_session_key(fixture::CUP_CHIP.pan, "01", [0, 1]).expect("sk");
        assert_eq!(a.as_bytes(), b.as_bytes());
        assert!(card_session_key("62258A", "001", [0, 1]).is_err());
    }

    #[test]
    fn swipe_yields_track2_in_the_agreed_format() {
        let mut r = reader();
        r.push(SimCard::swipe(&fixture::CUP_SWIPE));
        let d = r.read_card(&request("sale", Some(1234))).expect("card");
        assert_eq!(d.entry, Some(EntryMode::Swipe));
        assert_eq!(
            d.track2.as_deref().map(String::as_str),
            Some("6225880123456789D30121011234567890")
        );
        assert_eq!(
            d.pan.as_deref().map(String::as_str),
            Some("6225880123456789")
        );
        assert_eq!(d.expiry.as_deref(), Some("3012"));
        assert!(d.icc.is_none() && d.sequence.is_none());
        assert!(!format!("{d:?}").contains("6225880123456789"));

        let long = SimCard {
            pan: Zeroizing::new("6225880123456789012".into()),
            ..SimCard::swipe(&fixture::CUP_SWIPE)
        };
        assert_eq!(
            long.track2().as_str(),
            "6225880123456789012D30121011234567890"
        );
        assert_eq!(long.track2().len(), 37);
        let longest = SimCard {
            expiry: "301201".into(),
            ..long
        };
        assert_eq!(
            longest.track2().as_str(),
            "6225880123456789012D30120110112345678"
        );
    }

    #[test]
    fn chip_read_carries_a_verifiable_arqc() {
        let mut r = reader();
        r.push(SimCard::chip(&fixture::CUP_CHIP));
        let d = r.read_card(&request("sale", Some(12_345))).expect("card");
        assert_eq!(d.entry, Some(EntryMode::Chip));
        assert_eq!(d.sequence.as_deref(), Some("001"));
        assert_eq!(
            d.track2.as_deref().map(String::as_str),
            Some("6225884444444444D30122011234567890")
        );
        let icc = d.icc.expect("field 55");
        let items = tlv::decode(&icc).expect("tlv");
        for tag in [
            0x9F26, 0x9F27, 0x9F10, 0x9F37, 0x9F36, 0x95, 0x9A, 0x9C, 0x9F02, 0x5F2A, 0x82, 0x9F1A,
            0x9F03, 0x9F33, 0x9F34, 0x9F35, 0x84, 0x9F09, 0x9F41, 0x9F1E,
        ] {
            assert!(tlv::get(&items, tag).is_some(), "tag {tag:X}");
        }
        assert_eq!(
            tlv::get(&items, 0x9F02),
            Some(&[0, 0, 0, 0x01, 0x23, 0x45][..])
        );
        assert_eq!(tlv::get(&items, 0x9A), Some(&[0x26, 0x11, 0x25][..]));
        assert_eq!(tlv::get(&items, 0x9C), Some(&[0x00][..]));
        assert_eq!(tlv::get(&items, 0x9F27), Some(&[0x80][..]));
        assert_eq!(tlv::get(&items, 0x84), Some(&AID_CUP[..]));
        assert_eq!(tlv::get(&items, 0x9F1E), Some(&b"12345678"[..]));
        assert_eq!(tlv::get(&items, 0x9F10), Some(&IAD[..]));
        assert_eq!(tlv::get(&items, 0x9F36), Some(&[0x00, 0x01][..]));
        issuer_check(fixture::CUP_CHIP.pan, "001", &icc);

        // The ATC moves on per card; the unpredictable number changes.
        r.push(SimCard::contactless(&fixture::CUP_CHIP));
        let d2 = r
            .read_card(&request("balance inquiry", None))
            .expect("card");
        assert_eq!(d2.entry, Some(EntryMode::Contactless));
        let icc2 = d2.icc.expect("55");
        let items2 = tlv::decode(&icc2).expect("tlv");
        assert_eq!(tlv::get(&items2, 0x9F36), Some(&[0x00, 0x02][..]));
        assert_eq!(tlv::get(&items2, 0x9C), Some(&[0x31][..]));
        assert_ne!(tlv::get(&items, 0x9F37), tlv::get(&items2, 0x9F37));
        issuer_check(fixture::CUP_CHIP.pan, "001", &icc2);

        r.push(SimCard::chip(&fixture::VISA_CHIP));
        let d3 = r.read_card(&request("refund", Some(100))).expect("card");
        let icc3 = d3.icc.expect("55");
        let items3 = tlv::decode(&icc3).expect("tlv");
        assert_eq!(tlv::get(&items3, 0x9F36), Some(&[0x00, 0x01][..]));
        assert_eq!(tlv::get(&items3, 0x9C), Some(&[0x20][..]));
        assert_eq!(tlv::get(&items3, 0x84), Some(&AID_VISA[..]));
        issuer_check(fixture::VISA_CHIP.pan, "001", &icc3);
    }

    #[test]
    fn second_generate_ac_follows_the_host_and_the_arpc() {
        let mut r = reader();
        let ctl = r.clone();
        let session = |r: &mut SimCardReader| {
            r.push(SimCard::chip(&fixture::CUP_CHIP));
            let icc = r
                .read_card(&request("sale", Some(500)))
                .expect("card")
                .icc
                .expect("55");
            issuer_check(fixture::CUP_CHIP.pan, "001", &icc)
        };
        let done = |r: &mut SimCardReader, rc: &str, icc: Vec<u8>, answered: bool| {
            r.complete_chip(&ChipCompletion {
                response_code: rc.into(),
                icc_response: icc,
                host_answered: answered,
            })
            .expect("complete")
        };

        let (sk, arqc) = session(&mut r);
        let out = done(&mut r, "00", host_answer(&sk, &arqc, b"00"), true);
        assert!(out.approved);
        // The completion data: the TC (9F27 40) over the first GENERATE AC's input and ARC "00", no DF31.
        let data = tlv::decode(out.script_results.as_deref().expect("TC")).expect("tlv");
        assert_eq!(tlv::get(&data, 0x9F27), Some(&[0x40u8][..]));
        assert_eq!(tlv::get(&data, 0xDF31), None);
        let tc = tlv::get(&data, 0x9F26).expect("9F26");
        assert_eq!(tc.len(), 8);
        assert_ne!(tc, &arqc[..], "the TC is not the ARQC");
        assert_eq!(ctl.last_outcome(), Some(out));

        // A forged ARPC: decline.
        let (sk, arqc) = session(&mut r);
        let mut bad = host_answer(&sk, &arqc, b"00");
        bad[3] ^= 0x01;
        assert!(!done(&mut r, "00", bad, true).approved);

        // No 91, declined by the host, host unreachable: decline.
        session(&mut r);
        assert!(!done(&mut r, "00", Vec::new(), true).approved);
        let (sk, arqc) = session(&mut r);
        assert!(!done(&mut r, "51", host_answer(&sk, &arqc, b"51"), true).approved);
        let (sk, arqc) = session(&mut r);
        assert!(!done(&mut r, "00", host_answer(&sk, &arqc, b"00"), false).approved);

        // Knob: the card declines after approval.
        ctl.set_decline_after_approval(true);
        let (sk, arqc) = session(&mut r);
        assert!(!done(&mut r, "00", host_answer(&sk, &arqc, b"00"), true).approved);
        ctl.set_decline_after_approval(false);

        // Issuer scripts give DF31 results.
        let (sk, arqc) = session(&mut r);
        let mut icc = host_answer(&sk, &arqc, b"00");
        icc.extend(tlv::encode(&[Tlv::constructed(
            0x72,
            vec![
                Tlv::primitive(0x9F18, vec![0x11, 0x22, 0x33, 0x44]),
                Tlv::primitive(0x86, vec![0x84, 0x24, 0, 0, 0]),
            ],
        )]));
        let out = done(&mut r, "00", icc, true);
        assert!(out.approved);
        let results = tlv::decode(&out.script_results.expect("DF31")).expect("tlv");
        assert_eq!(
            tlv::get(&results, 0xDF31),
            Some(&[0x20, 0x11, 0x22, 0x33, 0x44][..])
        );

        // Nothing in progress: a device error, not a panic.
        assert!(matches!(
            r.complete_chip(&ChipCompletion {
                response_code: "00".into(),
                icc_response: vec![0xFF, 0xFF],
                host_answered: true
            }),
            Err(HalError::Device(_))
        ));
        // Garbage in 55 declines.
        session(&mut r);
        assert!(!done(&mut r, "00", vec![0x91, 0x20, 0x01], true).approved);
    }

    #[test]
    fn modes_cancel_timeout_and_delay() {
        let mut r = reader();
        let ctl = r.clone();
        // Nothing queued and no default: Timeout.
        assert_eq!(
            r.read_card(&request("sale", Some(1))).map(|_| ()),
            Err(HalError::Timeout)
        );
        // A chip card where only swipe is allowed is swiped.
        r.push(SimCard::chip(&fixture::CUP_CHIP));
        let mut req = request("sale", Some(1));
        req.modes = CardModes {
            swipe: true,
            chip: false,
            contactless: false,
        };
        let d = r.read_card(&req).expect("card");
        assert_eq!(d.entry, Some(EntryMode::Swipe));
        assert!(d.icc.is_none());
        // A magstripe card where only chip is allowed cannot be read.
        r.push(SimCard::swipe(&fixture::CUP_SWIPE));
        req.modes = CardModes {
            swipe: false,
            chip: true,
            contactless: false,
        };
        assert!(matches!(r.read_card(&req), Err(HalError::Device(_))));
        // Fallback.
        r.push(SimCard::fallback(&fixture::CUP_CHIP));
        assert_eq!(
            r.read_card(&request("sale", Some(1))).expect("card").entry,
            Some(EntryMode::Fallback)
        );

        // Default card and the no-card knob.
        ctl.set_default(Some(SimCard::swipe(&fixture::CUP_SWIPE)));
        assert!(r.read_card(&request("sale", Some(1))).is_ok());
        ctl.set_no_card(true);
        assert_eq!(
            r.read_card(&request("sale", Some(1))).map(|_| ()),
            Err(HalError::Timeout)
        );
        ctl.set_no_card(false);

        // Pre-cancelled.
        let req = request("sale", Some(1));
        req.cancel.cancel();
        assert_eq!(r.read_card(&req).map(|_| ()), Err(HalError::Cancelled));

        // Cancelled while waiting for the card.
        ctl.set_delay(Duration::from_secs(3));
        let req = request("sale", Some(1));
        let cancel = req.cancel.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            cancel.cancel();
        });
        let start = Instant::now();
        assert_eq!(r.read_card(&req).map(|_| ()), Err(HalError::Cancelled));
        assert!(start.elapsed() < Duration::from_secs(1));
        t.join().expect("thread");

        // Delay longer than the request's timeout.
        let mut req = request("sale", Some(1));
        req.timeout = Duration::from_millis(50);
        assert_eq!(r.read_card(&req).map(|_| ()), Err(HalError::Timeout));
        // A short delay is waited out.
        ctl.set_delay(Duration::from_millis(30));
        assert!(r.read_card(&request("sale", Some(1))).is_ok());

        // Chip failure knob.
        ctl.set_delay(Duration::ZERO);
        ctl.set_chip_error(true);
        r.push(SimCard::chip(&fixture::CUP_CHIP));
        assert!(matches!(
            r.read_card(&request("sale", Some(1))),
            Err(HalError::Device(_))
        ));
        assert_eq!(ctl.queued(), 0);
    }

    #[test]
    fn emv_parameters_are_recorded() {
        let mut r = reader();
        let ctl = r.clone();
        let aid = AidParams {
            aid: AID_CUP.to_vec(),
            tlv: vec![0x9F, 0x06, 0x08],
        };
        let capk = Capk {
            rid: vec![0xA0, 0, 0, 3, 0x33],
            index: 0x80,
            expiry: "20301231".into(),
            modulus: vec![0xC1; 128],
            exponent: vec![3],
            checksum: [0; 20],
        };
        r.load_emv_parameters(std::slice::from_ref(&aid), std::slice::from_ref(&capk))
            .expect("load");
        let p = ctl.loaded_parameters();
        assert_eq!(p.aids, vec![aid]);
        assert_eq!(p.capks, vec![capk]);
        assert_eq!(p.loads, 1);
    }

    fn pin_request(cancel: CancelToken) -> PinRequest {
        PinRequest {
            transaction: "sale",
            masked_pan: possdk_core::mask_pan(fixture::CUP_SWIPE.pan),
            amount: Some(100),
            allow_bypass: false,
            timeout: Duration::from_secs(1),
            cancel,
        }
    }

    fn clear(e: Result<PinEntry, HalError>) -> String {
        match e {
            Ok(PinEntry::Clear(p)) => p.to_string(),
            other => panic!("expected a clear PIN, got {other:?}"),
        }
    }

    #[test]
    fn pin_pad_actions() {
        let mut pad = SimPinPad::default();
        let ctl = pad.clone();
        let c = CancelToken::new();
        assert_eq!(
            clear(pad.get_pin(&pin_request(c.clone()), fixture::CUP_SWIPE.pan)),
            "123456"
        );
        assert_eq!(
            clear(pad.get_pin(&pin_request(c.clone()), fixture::VISA_CHIP.pan)),
            "1234"
        );
        ctl.push(SimPin::pin("999999"));
        ctl.push(SimPin::Bypass);
        ctl.push(SimPin::Cancel);
        ctl.push(SimPin::Timeout);
        assert_eq!(
            clear(pad.get_pin(&pin_request(c.clone()), fixture::CUP_SWIPE.pan)),
            "999999"
        );
        assert!(matches!(
            pad.get_pin(&pin_request(c.clone()), "x"),
            Ok(PinEntry::Bypass)
        ));
        assert!(matches!(
            pad.get_pin(&pin_request(c.clone()), "x"),
            Err(HalError::Cancelled)
        ));
        assert!(matches!(
            pad.get_pin(&pin_request(c.clone()), "x"),
            Err(HalError::Timeout)
        ));
        assert_eq!(ctl.requests().len(), 6);
        assert_eq!(ctl.requests()[0].masked_pan, "622588******6789");
        let cancelled = CancelToken::new();
        cancelled.cancel();
        assert!(matches!(
            pad.get_pin(&pin_request(cancelled), "x"),
            Err(HalError::Cancelled)
        ));
        let mut fixed = SimPinPad::fixed("4321");
        assert_eq!(
            clear(fixed.get_pin(&pin_request(c), fixture::CUP_SWIPE.pan)),
            "4321"
        );
        assert!(!format!("{:?}", SimPin::pin("4321")).contains("4321"));
    }

    #[test]
    fn qr_scanner_queue_and_default() {
        let req = |c: CancelToken| QrRequest {
            transaction: "qr sale",
            amount: Some(1),
            timeout: Duration::ZERO,
            cancel: c,
        };
        let mut qr = SimQrScanner::default();
        let ctl = qr.clone();
        ctl.push("280000000000000051");
        assert_eq!(
            qr.scan(&req(CancelToken::new())).as_deref(),
            Ok("280000000000000051")
        );
        assert_eq!(
            qr.scan(&req(CancelToken::new())).as_deref(),
            Ok(fixture::QR_CODE)
        );
        assert_eq!(ctl.scans(), 2);
        let c = CancelToken::new();
        c.cancel();
        assert_eq!(qr.scan(&req(c)), Err(HalError::Cancelled));
        let mut empty = SimQrScanner::new(None);
        assert_eq!(empty.scan(&req(CancelToken::new())), Err(HalError::Timeout));
        for code in [fixture::QR_CODE, fixture::QR_CODE_DECLINED_51] {
            assert_eq!(code.len(), 18);
            assert!(code.starts_with("13") || code.starts_with("28"));
        }
    }

    #[test]
    fn device_events_and_clocks() {
        let d = SimDevice::default();
        assert_eq!(d.serial_number(), "SN0001");
        assert!(!d.model().is_empty());

        let rec = RecordingEvents::new();
        let mut sink: Box<dyn EventSink> = Box::new(rec.clone());
        sink.on_event(&Event::WaitingForCard);
        sink.on_event(&Event::Done {
            approved: true,
            response_code: "00".into(),
        });
        assert_eq!(rec.snapshot().len(), 2);
        assert_eq!(rec.events.lock().expect("lock")[0], Event::WaitingForCard);
        rec.clear();
        assert!(rec.snapshot().is_empty());

        assert_eq!(FixedClock(date()).now(), date());
        let clock = SimClock::new(date());
        let shared = clock.clone();
        clock.advance(Duration::from_secs(14 * 3600));
        assert_eq!(shared.now().iso(), "2026-11-26T00:15:30");
        clock.set(DateTime {
            year: 2028,
            month: 2,
            day: 28,
            hour: 23,
            minute: 59,
            second: 59,
        });
        clock.advance(Duration::from_secs(1));
        assert_eq!(shared.now().iso(), "2028-02-29T00:00:00");
        for secs in [0i64, 951_782_400, 1_795_630_249, 4_102_444_799] {
            assert_eq!(to_unix(&DateTime::from_unix(secs)), secs);
        }
    }

    #[test]
    fn sim_devices_build_a_hal_steered_by_the_handles() {
        let devices = SimDevices {
            clock: Some(SimClock::new(date())),
            ..SimDevices::new()
        };
        let mut hal = devices.hal();
        devices
            .reader
            .push(SimCard::swipe(&fixture::CUP_LOW_BALANCE));
        let reader = hal.card_reader.as_mut().expect("reader");
        let d = reader.read_card(&request("sale", Some(1))).expect("card");
        assert_eq!(
            d.pan.as_deref().map(String::as_str),
            Some(fixture::CUP_LOW_BALANCE.pan)
        );
        assert_eq!(devices.reader.reads(), 1);
        hal.events
            .as_mut()
            .expect("events")
            .on_event(&Event::Connecting);
        assert_eq!(devices.events.snapshot(), vec![Event::Connecting]);
        assert_eq!(hal.clock.as_ref().expect("clock").now(), date());
        assert!(hal.transport.is_none());
    }
}
