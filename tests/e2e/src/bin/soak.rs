//! possdk-soak: the crash-and-fault soak.
//!
//! The acquirer host (possdk-host) runs in this process, so its ledger survives everything that happens
//! to the terminal. The terminal runs in a child process (this binary with `--child CONFIG`) that reads
//! one JSON request per line on stdin and answers each with `possdk_core::api::call_json` on stdout, so
//! it can be SIGKILLed at any point and restarted on the same journal.
//!
//! Each round the parent plays the app: it picks an operation (every card and QR kind, merchant-presented
//! QR orders under a scripted customer, originals taken from the terminal's own journal; chip sales through
//! the child's card reader, approved online with a TC upload or offline within the floor limit with an
//! advice; echo tests and sign-offs), maybe queues a host fault (dropped answer, late answer, corrupt MAC,
//! frame cut in half, garbage, answer and reversal both dropped, ...) and maybe kills the child a random
//! time after writing the request. It then compares three views:
//!
//! - what the app was told (`result` / `error` with their `outcome` and `stan`),
//! - the terminal journal (`journal` op),
//! - the host ledger (admin `tx` / `totals`, and the host's masked wire log for frame order).
//!
//! The app follows the outcome contract: it may retry after `not_sent`, `declined`, `reversed` and
//! `reversal_pending`, never after `advice_pending` (the terminal resends the advice itself), and signs in
//! again when the terminal says it is signed out. Every few rounds, and at the end, it settles (pending
//! reversals and advices are flushed first) and checks every transaction of the closed batches against the
//! host. Any disagreement is a violation; the JSON summary at the end lists them with the seed and round,
//! and the exit status is non-zero when there is one.
//!
//! The schedule (operations, amounts, cards, faults, kill delays) is a function of the seed; where a kill
//! lands inside the child's work also depends on timing.
//!
//! Usage: possdk-soak [--rounds N] [--seed S] [--settle-every K] [--response-ms MS] [--fault-percent P]
//!                    [--kill-percent P] [--keep] [--verbose] [--key-family tdes|sm]
//!
//! `--key-family sm` runs the whole soak in the SM key family (docs/PROTOCOL.md §11), tracks encrypted.

use possdk_e2e::*;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

// ------------------------------------------------------------------------------------------ options

struct Args {
    rounds: u64,
    seed: u64,
    /// Settle (and check the closed batch against the host) every this many rounds.
    settle_every: u64,
    /// The terminal's response timeout: short, so that dropped answers cost little time.
    response_ms: u64,
    fault_percent: u64,
    kill_percent: u64,
    /// Keep the temp directory (host DB, journal, wire log, child logs) for inspection.
    keep: bool,
    verbose: bool,
    /// The terminal's key family (docs/PROTOCOL.md §11); the SM family also encrypts tracks (SM4).
    key_family: possdk_core::crypto::KeyFamily,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            rounds: 200,
            seed: 1,
            settle_every: 20,
            response_ms: 300,
            fault_percent: 70,
            kill_percent: 12,
            keep: false,
            verbose: false,
            key_family: possdk_core::crypto::KeyFamily::Tdes,
        }
    }
}

fn parse_args(list: &[String]) -> Result<Args, String> {
    let mut a = Args::default();
    let mut it = list.iter();
    while let Some(arg) = it.next() {
        let mut number = |name: &str| -> Result<u64, String> {
            it.next()
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| format!("{name} needs a whole number"))
        };
        match arg.as_str() {
            "--rounds" => a.rounds = number("--rounds")?,
            "--seed" => a.seed = number("--seed")?,
            "--settle-every" => a.settle_every = number("--settle-every")?.max(1),
            "--response-ms" => a.response_ms = number("--response-ms")?.max(50),
            "--fault-percent" => a.fault_percent = number("--fault-percent")?.min(100),
            "--kill-percent" => a.kill_percent = number("--kill-percent")?.min(100),
            "--keep" => a.keep = true,
            "--verbose" => a.verbose = true,
            "--key-family" => {
                let name = it.next().map(String::as_str).unwrap_or_default();
                a.key_family = possdk_core::crypto::KeyFamily::from_name(name)
                    .ok_or_else(|| format!("--key-family: tdes or sm, not {name:?}"))?;
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(a)
}

// ------------------------------------------------------------------------------------------ PRNG

/// splitmix64: small, fast and good enough to drive a schedule; the whole run follows from the seed.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// 0..n (0 when n is 0); the modulo bias is irrelevant at these sizes.
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// lo..=hi
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            lo
        } else {
            lo + self.below(hi - lo + 1)
        }
    }

    fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }

    fn weighted<T: Copy>(&mut self, items: &[(T, u64)]) -> T {
        let total: u64 = items.iter().map(|(_, w)| w).sum();
        let mut x = self.below(total);
        for (item, w) in items {
            if x < *w {
                return *item;
            }
            x -= w;
        }
        items[items.len() - 1].0
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            None
        } else {
            items.get(self.below(items.len() as u64) as usize)
        }
    }
}

// ------------------------------------------------------------------------------------------ test data

/// A test card of docs/PROTOCOL.md §12.2 (`possdk_sim::fixture`).
type Card = TestCard;

/// Cards for new payments and how often each is used. The little card (100 fen) declines 51, the expired
/// one 54, the lost one 41.
const PAYMENT_CARDS: &[(Card, u64)] = &[
    (CUP_SWIPE, 50),
    (VISA_CHIP, 15),
    (CUP_CHIP, 12),
    (CUP_LOW_BALANCE, 6),
    (CUP_EXPIRED, 4),
    (CUP_LOST, 3),
];

const ALL_CARDS: &[Card] = &ALL;

/// QR payment codes: two that approve, one that declines 51, and two whose wallet asks the customer for the
/// password (answered `Q0`, then polled: paid at the second status query, or given up at the first;
/// docs/PROTOCOL.md §4.11, §12.2).
const QR_CODES: &[(&str, u64)] = &[
    (QR_CODE, 40),
    (QR_CODE_2, 40),
    (QR_CODE_DECLINED_51, 10),
    ("134567890123457702", 6),
    ("134567890123457801", 4),
];

/// How the host's scripted payer treats the next merchant-presented order (admin `qr_payer`).
const QR_PAYERS: &[((&str, u64), u64)] = &[
    (("pay", 1), 30),
    (("pay", 2), 25),
    (("paying", 2), 20),
    (("fail", 1), 8),
    (("expire", 2), 10),
    (("never", 1), 7),
];

/// The host's cards: the default test set, but with balances that a 10,000-round soak does not exhaust
/// (the little card keeps its 100 fen, for `51`).
fn provisioning(family: possdk_core::crypto::KeyFamily) -> Value {
    let card = |c: Card, balance: i64, status: &str| {
        json!({"pan": c.pan, "pin": c.pin, "expiry": c.expiry, "service_code": c.service_code, "balance": balance,
               "status": status})
    };
    json!({
        "terminals": [{"tid": TID, "mid": MID, "batch": 1, "timeout_s": 30, "reversal_attempts": 3,
                       "max_tip_percent": 20, "key_family": family.name()}],
        "devices": [{"sn": DEVICE_SN, "token": DEVICE_TOKEN, "tid": TID}],
        "cards": [
            card(CUP_SWIPE, 100_000_000_000, "active"),
            card(CUP_LOW_BALANCE, 100, "active"),
            card(CUP_EXPIRED, 100_000_000, "active"),
            card(CUP_LOST, 100_000_000, "lost"),
            card(CUP_CHIP, 100_000_000_000, "active"),
            card(VISA_CHIP, 100_000_000_000, "active"),
        ]
    })
}

/// Swiped card data for a request (the PIN goes to the child over a pipe and is never printed).
fn card_json(card: Card, pin: &str) -> Value {
    json!({"entry": "swipe", "track2": format!("{}D{}{}0000000000", card.pan, card.expiry, card.service_code),
           "pin": pin})
}

/// The test card behind a masked PAN of the journal.
fn card_for_masked(masked: Option<&str>) -> Option<Card> {
    let masked = masked?;
    ALL_CARDS
        .iter()
        .copied()
        .find(|c| possdk_core::mask_pan(c.pan) == masked)
}

// ------------------------------------------------------------------------------------------ operations

/// How a kind reaches the host (docs/PROTOCOL.md §6.1): reversed when unanswered, resent until answered,
/// neither (balance inquiry), or a management exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delivery {
    Reversible,
    Advice,
    Plain,
    Management,
    /// A merchant-presented QR order: queried and closed, never reversed (docs/PROTOCOL.md §4.10).
    Order,
}

/// Kinds whose unknown outcome is learnt by a status query before anything is reversed or closed
/// (docs/PROTOCOL.md §4.10, §4.11): told `reversal_pending`, they may still end approved; after a kill the
/// app waits for the journal instead of trying again.
fn queried_first(kind: &str) -> bool {
    matches!(kind, "qr_sale" | "qr_order")
}

/// The app's operations with their weights. A kind that needs an original only runs when the current
/// batch has one, so those weigh more; when none is there another kind is drawn (at last a new sale).
const OPS: &[(&str, u64)] = &[
    ("sale", 12),
    ("qr_sale", 8),
    ("preauth", 6),
    ("qr_preauth", 5),
    ("void", 5),
    ("qr_void", 4),
    ("refund", 5),
    ("qr_refund", 4),
    ("preauth_void", 4),
    ("qr_preauth_void", 4),
    ("preauth_complete", 6),
    ("qr_complete", 5),
    ("preauth_complete_void", 10),
    ("qr_complete_void", 8),
    ("tip", 6),
    ("tip_void", 12),
    ("balance", 3),
    ("sign_in", 3),
    // A chip card read by the child's card reader: approved online (its TC is uploaded after the second
    // GENERATE AC), or approved offline by the card within the floor limit (an advice).
    ("chip_sale", 8),
    ("echo", 2),
    ("sign_off", 2),
    ("qr_order", 7),
];

/// The floor limit of the soak's terminal: chip sales up to this approve offline when the card says so.
const FLOOR_LIMIT: u64 = 5_000;

fn delivery(kind: &str) -> Delivery {
    match kind {
        "refund" | "qr_refund" | "tip" | "tip_void" | "offline_sale" => Delivery::Advice,
        "balance" => Delivery::Plain,
        "sign_in" | "settle" | "echo" | "sign_off" => Delivery::Management,
        "qr_order" => Delivery::Order,
        _ => Delivery::Reversible,
    }
}

/// Journal kinds that settlement counts (docs/PROTOCOL.md §5.1), as debit (true) or credit (false).
fn settle_class(kind: &str) -> Option<bool> {
    match kind {
        "sale" | "qr_sale" | "qr_order" | "preauth_complete" | "qr_complete" | "offline_sale" => {
            Some(true)
        }
        "refund" | "qr_refund" => Some(false),
        _ => None,
    }
}

/// The outcomes of the contract (JSON-API.md).
const OUTCOMES: &[&str] = &[
    "approved",
    "declined",
    "reversed",
    "reversal_pending",
    "advice_pending",
    "not_sent",
];

/// Error codes raised before anything is sent (bad request, wrong state): retrying the same request is
/// pointless.
fn is_request_error(code: &str) -> bool {
    matches!(
        code,
        "invalid_json" | "invalid_request" | "original_not_found" | "invalid_state"
    )
}

// ------------------------------------------------------------------------------------------ the views

/// A terminal journal row (the `journal` op; fields not needed here are ignored).
#[derive(Debug, Clone, Deserialize)]
struct Row {
    id: i64,
    kind: String,
    batch: u32,
    stan: u32,
    amount: u64,
    tip: u64,
    masked_pan: Option<String>,
    voucher: Option<String>,
    card_org: Option<String>,
    reference: Option<String>,
    auth_code: Option<String>,
    host_date: Option<String>,
    #[serde(default)]
    response_code: Option<String>,
    state: String,
    completed: bool,
    refunded: u64,
    original_id: Option<i64>,
}

/// A host ledger row (admin `tx`).
#[derive(Debug, Clone, Default, Deserialize)]
struct HostTx {
    #[serde(default)]
    found: bool,
    #[serde(default)]
    mti: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    amount: i64,
    #[serde(default)]
    tip: i64,
    #[serde(default)]
    refunded: i64,
}

/// Where the money of one transaction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Money {
    /// Moved and still in effect.
    Held,
    /// Moved, then undone by a later transaction (void, completion void, tip void).
    Undone,
    /// Never moved (declined, reversed, failed, unknown to the host).
    None,
    /// The terminal does not know yet.
    Pending,
}

fn terminal_money(row: &Row) -> Money {
    match row.state.as_str() {
        "approved" => Money::Held,
        "voided" => Money::Undone,
        "pending" => Money::Pending,
        _ => Money::None,
    }
}

fn host_money(tx: &HostTx) -> Money {
    if !tx.found {
        return Money::None;
    }
    match tx.state.as_str() {
        "approved" | "tipped" | "completed" => Money::Held,
        "voided" => Money::Undone,
        _ => Money::None,
    }
}

fn moved(m: Money) -> bool {
    matches!(m, Money::Held | Money::Undone)
}

/// Settlement totals as the JSON API and the admin `totals` command write them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Totals {
    /// [domestic, foreign] x [debit, credit] x (count, amount)
    sides: [[(u64, u64); 2]; 2],
}

impl Totals {
    fn from_json(v: &Value) -> Option<Totals> {
        let mut t = Totals::default();
        for (i, side) in ["domestic", "foreign"].iter().enumerate() {
            for (j, class) in ["debit", "credit"].iter().enumerate() {
                let ca = &v[side][class];
                t.sides[i][j] = (ca["count"].as_u64()?, ca["amount"].as_u64()?);
            }
        }
        Some(t)
    }

    /// The totals docs/PROTOCOL.md §5.1 makes of journal rows: approved debits and credits, a sale with its
    /// tip, domestic when QR or a CUP card.
    fn of_rows(rows: &[Row]) -> Totals {
        let mut t = Totals::default();
        for r in rows.iter().filter(|r| r.state == "approved") {
            let Some(debit) = settle_class(&r.kind) else {
                continue;
            };
            // The organisation the host named (63), else the BIN: 62 is China UnionPay.
            let cup = match r.card_org.as_deref() {
                Some(org) => org == "CUP",
                None => r.masked_pan.as_deref().is_some_and(|p| p.starts_with("62")),
            };
            let domestic = r.kind.starts_with("qr_") || cup;
            let amount = if r.kind == "sale" {
                r.amount + r.tip
            } else {
                r.amount
            };
            let ca = &mut t.sides[usize::from(!domestic)][usize::from(!debit)];
            ca.0 += 1;
            ca.1 += amount;
        }
        t
    }

    fn show(&self) -> String {
        let s = &self.sides;
        format!(
            "domestic debit {}/{} credit {}/{}, foreign debit {}/{} credit {}/{}",
            s[0][0].0, s[0][0].1, s[0][1].0, s[0][1].1, s[1][0].0, s[1][0].1, s[1][1].0, s[1][1].1
        )
    }
}

/// What the app was told about one attempt.
#[derive(Debug, Clone)]
enum Told {
    /// `ok: true`: the host answered (approved or declined).
    Result {
        approved: bool,
        rc: String,
        outcome: Option<String>,
        stan: u32,
    },
    /// `ok: false`.
    Error {
        code: String,
        outcome: Option<String>,
        stan: Option<u32>,
        message: String,
    },
    /// A management operation (sign-in, settlement) succeeded.
    Done,
    /// The terminal was killed before it answered.
    Killed,
    /// The terminal died or hung by itself (a violation of its own).
    Lost,
}

impl Told {
    fn from_envelope(kind: &str, v: &Value) -> Told {
        if v["ok"].as_bool() == Some(true) && delivery(kind) == Delivery::Management {
            Told::Done
        } else if v["ok"].as_bool() == Some(true) {
            let r = &v["result"];
            Told::Result {
                approved: r["approved"].as_bool().unwrap_or(false),
                rc: r["response_code"].as_str().unwrap_or("").to_string(),
                outcome: r["outcome"].as_str().map(str::to_string),
                stan: r["stan"].as_u64().unwrap_or(0) as u32,
            }
        } else {
            let e = &v["error"];
            Told::Error {
                code: e["code"].as_str().unwrap_or("").to_string(),
                outcome: e["outcome"].as_str().map(str::to_string),
                stan: e["stan"].as_u64().map(|s| s as u32),
                message: e["message"].as_str().unwrap_or("").to_string(),
            }
        }
    }

    fn outcome(&self) -> Option<&str> {
        match self {
            Told::Result { outcome, .. } | Told::Error { outcome, .. } => outcome.as_deref(),
            _ => None,
        }
    }

    fn stan(&self) -> Option<u32> {
        match self {
            Told::Result { stan, .. } => Some(*stan),
            Told::Error { stan, .. } => *stan,
            _ => None,
        }
    }

    /// One line for reports (no card data: messages of the core never carry any).
    fn show(&self) -> String {
        match self {
            Told::Result {
                approved,
                rc,
                outcome,
                stan,
            } => format!(
                "result approved={approved} rc={rc} outcome={} stan={stan}",
                outcome.as_deref().unwrap_or("-")
            ),
            Told::Error {
                code,
                outcome,
                stan,
                message,
            } => format!(
                "error {code} outcome={} stan={} ({message})",
                outcome.as_deref().unwrap_or("-"),
                stan.map(|s| s.to_string()).unwrap_or_else(|| "-".into())
            ),
            Told::Done => "ok".into(),
            Told::Killed => "killed before answering".into(),
            Told::Lost => "terminal died or hung".into(),
        }
    }
}

/// One try of an app intent: what the app was told and the journal rows it created.
#[derive(Debug, Clone)]
struct Attempt {
    round: u64,
    told: Told,
    rows: Vec<Row>,
}

/// Something the app wants done once (a sale of X, a refund of Y), possibly tried several times.
struct Intent {
    round: u64,
    kind: &'static str,
    /// Kept for retries only; it holds card data and is never printed.
    request: Value,
    attempts: Vec<Attempt>,
}

struct Violation {
    kind: &'static str,
    round: u64,
    detail: String,
}

#[derive(Default)]
struct Stats {
    ops: BTreeMap<String, u64>,
    /// Faults that fired (took at least one frame), by kind.
    injections: BTreeMap<String, u64>,
    /// Frames a fault acted on (a fault with count 2 can take two).
    faulted_frames: u64,
    /// Queued faults that no frame took (e.g. the request failed before it was sent).
    unused_faults: BTreeMap<String, u64>,
    kills: BTreeMap<String, u64>,
    restarts: u64,
    outcomes: BTreeMap<String, u64>,
    errors: BTreeMap<String, u64>,
    retries: u64,
    /// `advice_pending` answers the app did not retry (the terminal resends).
    advice_pending_not_retried: u64,
    /// Sales the chip card approved offline (`Y1`, or already confirmed by the advice's answer).
    outcomes_offline: u64,
    sign_ins: u64,
    settlements: u64,
    settle_attempts: u64,
    order_checks: u64,
    rows_checked: u64,
    stans_scanned: u64,
}

fn bump(map: &mut BTreeMap<String, u64>, key: &str, n: u64) {
    *map.entry(key.to_string()).or_default() += n;
}

// ------------------------------------------------------------------------------------------ the child

/// The child side: a terminal on the journal of `config_path`, one JSON request per stdin line, one
/// `call_json` envelope per stdout line.
fn run_child(config_path: &Path) -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let config = match std::fs::read_to_string(config_path)
        .map_err(|e| e.to_string())
        .and_then(|s| possdk_core::Config::from_json(&s).map_err(|e| e.to_string()))
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "possdk-soak child: bad config {}: {e}",
                config_path.display()
            );
            return ExitCode::from(2);
        }
    };
    let reader = ChildReader::default();
    let hal = possdk_core::hal::Hal {
        card_reader: Some(Box::new(reader.clone())),
        pin_pad: Some(Box::new(possdk_sim::SimPinPad::default())),
        // Sales are signed: their signatures go with the uploads and must be delivered before settlement.
        signature_pad: Some(Box::new(possdk_sim::SimSignaturePad::default())),
        ..Default::default()
    };
    let terminal = match possdk_core::Terminal::new(config, hal) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("possdk-soak child: terminal does not open: {e}");
            return ExitCode::from(2);
        }
    };
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let line = reader.present(&line);
        let answer = possdk_core::api::call_json(&terminal, &line);
        if writeln!(out, "{answer}").and_then(|_| out.flush()).is_err() {
            break;
        }
    }
    ExitCode::SUCCESS
}

/// The child's card reader: a request with `"sim_chip": {"card", "offline"}` presents that chip card for
/// this request only (the key is taken out before the request goes to the terminal); without one, no card
/// is presented.
#[derive(Clone, Default)]
struct ChildReader {
    presented: std::sync::Arc<std::sync::Mutex<Option<possdk_sim::SimCard>>>,
    inner: possdk_sim::SimCardReader,
}

impl ChildReader {
    fn present(&self, line: &str) -> String {
        let mut card = None;
        let out = match serde_json::from_str::<Value>(line) {
            Ok(mut v) => match v.as_object_mut().and_then(|o| o.remove("sim_chip")) {
                Some(chip) => {
                    let test = match chip["card"].as_str() {
                        Some("VISA_CHIP") => VISA_CHIP,
                        _ => CUP_CHIP,
                    };
                    let c = possdk_sim::SimCard::chip(&test);
                    card = Some(if chip["offline"].as_bool() == Some(true) {
                        c.approving_offline()
                    } else {
                        c
                    });
                    v.to_string()
                }
                None => line.to_string(),
            },
            Err(_) => line.to_string(),
        };
        *self.presented.lock().unwrap_or_else(|p| p.into_inner()) = card;
        out
    }
}

impl possdk_core::hal::CardReader for ChildReader {
    fn read_card(
        &mut self,
        request: &possdk_core::hal::CardRequest,
    ) -> Result<possdk_core::hal::CardData, possdk_core::hal::HalError> {
        let card = self
            .presented
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .ok_or_else(|| possdk_core::hal::HalError::Device("no card presented".into()))?;
        self.inner.push(card);
        self.inner.read_card(request)
    }
    fn complete_chip(
        &mut self,
        completion: &possdk_core::hal::ChipCompletion,
    ) -> Result<possdk_core::hal::ChipOutcome, possdk_core::hal::HalError> {
        self.inner.complete_chip(completion)
    }
    fn load_emv_parameters(
        &mut self,
        aids: &[possdk_core::hal::AidParams],
        capks: &[possdk_core::hal::Capk],
    ) -> Result<(), possdk_core::hal::HalError> {
        self.inner.load_emv_parameters(aids, capks)
    }
}

/// The parent's handle on a child terminal. Dropping it kills the child.
struct ChildTerm {
    proc: std::process::Child,
    stdin: std::process::ChildStdin,
    lines: mpsc::Receiver<String>,
}

enum Recv {
    Line(String),
    Timeout,
    Gone,
}

impl ChildTerm {
    fn spawn(exe: &Path, config: &Path, log: &Path) -> ChildTerm {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("child log file opens");
        let mut proc = Command::new(exe)
            .arg("--child")
            .arg(config)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("child terminal starts");
        let stdin = proc.stdin.take().expect("child stdin is piped");
        let stdout = proc.stdout.take().expect("child stdout is piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        ChildTerm { proc, stdin, lines }
    }

    fn send(&mut self, request: &Value) -> bool {
        writeln!(self.stdin, "{request}")
            .and_then(|_| self.stdin.flush())
            .is_ok()
    }

    fn recv(&self, timeout: Duration) -> Recv {
        match self.lines.recv_timeout(timeout) {
            Ok(l) => Recv::Line(l),
            Err(mpsc::RecvTimeoutError::Timeout) => Recv::Timeout,
            Err(mpsc::RecvTimeoutError::Disconnected) => Recv::Gone,
        }
    }
}

impl Drop for ChildTerm {
    fn drop(&mut self) {
        // SIGKILL: nothing in the child gets to clean up, like a power cut.
        let _ = self.proc.kill();
        let _ = self.proc.wait();
    }
}

/// What one request to the child came to.
struct Exchange {
    reply: Option<Value>,
    killed: bool,
}

// ------------------------------------------------------------------------------------------ wire log

/// MTIs of the messages that move money or close the batch (sign-in and parameter downloads are
/// management and may come first).
const FINANCIAL_MTIS: &[&str] = &["0100", "0200", "0220", "0400", "0320", "0500"];

/// Requests (MTI, STAN) the host logged after `offset`.
fn wire_requests(path: &Path, offset: u64) -> Vec<(String, u32)> {
    let mut text = String::new();
    let read = std::fs::File::open(path).and_then(|mut f| {
        f.seek(SeekFrom::Start(offset))?;
        f.read_to_string(&mut text)
    });
    if read.is_err() {
        return Vec::new();
    }
    // Only complete lines: the host may be writing the next one.
    let complete = text.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let mut out = Vec::new();
    for line in text[..complete].lines() {
        let mut tokens = line.split(' ');
        let (Some(_stamp), Some("<-"), Some(mti)) = (tokens.next(), tokens.next(), tokens.next())
        else {
            continue;
        };
        if mti.len() != 4 || !mti.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let stan = tokens
            .find_map(|t| t.strip_prefix("11="))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        out.push((mti.to_string(), stan));
    }
    out
}

fn wire_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// The reversals and advices the journal owed when an operation started, to be checked against the
/// frames the terminal sent for it (after a restart too: the journal is all a new process knows).
struct OrderCheck {
    offset: u64,
    reversals: Vec<u32>,
    /// Of those, the ones of kinds queried first: a status query may settle them as paid, with no 0400.
    queried: Vec<u32>,
    advices: Vec<u32>,
    /// The oldest pending reversal as `status` showed it (attempts, flagged).
    status: String,
}

// ------------------------------------------------------------------------------------------ the soak

/// Longest an operation may take before the child counts as hung (a dropped answer costs one response
/// timeout per attempt, a few attempts at most).
const HUNG: Duration = Duration::from_secs(30);
/// After a kill, the restart waits until the host has logged no new request for this long (at most
/// `REBOOT_MAX`): a real terminal takes seconds to boot, and a frame the killed process had already
/// written must reach the host before the new process sends its reversal, or the soak would be timing
/// its own race instead of testing the terminal.
const REBOOT_QUIET: Duration = Duration::from_millis(100);
const REBOOT_MAX: Duration = Duration::from_secs(2);
/// How many times one intent is tried at most.
const MAX_ATTEMPTS: usize = 4;

struct Soak {
    args: Args,
    rng: Rng,
    host: TestHost,
    exe: PathBuf,
    config_path: PathBuf,
    child_log: PathBuf,
    wire_log: PathBuf,
    child: Option<ChildTerm>,
    round: u64,
    stats: Stats,
    violations: Vec<Violation>,
    intents: Vec<Intent>,
    /// Index into `intents` of the intent the app retries next round.
    retry: Option<usize>,
    /// Highest journal row id already attributed to an intent.
    max_row_id: i64,
    /// First STAN not yet checked against the host.
    stan_cursor: u32,
    /// First batch not yet checked against the host.
    verified_batch: u32,
    consecutive_errors: u32,
}

impl Soak {
    fn new(args: Args) -> Soak {
        let host = TestHost::start_with("soak", Some(&provisioning(args.key_family)), true);
        let dir = host.dir.join("terminal");
        std::fs::create_dir_all(&dir).expect("terminal dir");
        let config_path = dir.join("config.json");
        let mut config = host.config_json(&dir, args.response_ms);
        config["floor_limit"] = json!(FLOOR_LIMIT);
        config["key_family"] = args.key_family.name().into();
        if args.key_family == possdk_core::crypto::KeyFamily::Sm {
            config["encrypt_tracks"] = true.into();
        }
        // Short QR polling so an order takes little time.
        config["qr"] = json!({"poll_interval_ms": 10, "order_timeout_ms": 600});
        std::fs::write(&config_path, config.to_string()).expect("config written");
        let exe = std::env::current_exe().expect("own executable path");
        let rng = Rng(args.seed);
        Soak {
            child_log: dir.join("terminal.log"),
            wire_log: host.wire_log_path(),
            args,
            rng,
            host,
            exe,
            config_path,
            child: None,
            round: 0,
            stats: Stats::default(),
            violations: Vec::new(),
            intents: Vec::new(),
            retry: None,
            max_row_id: 0,
            stan_cursor: 1,
            verified_batch: 1,
            consecutive_errors: 0,
        }
    }

    fn violation(&mut self, kind: &'static str, detail: String) {
        if self.args.verbose {
            eprintln!("round {}: VIOLATION {kind}: {detail}", self.round);
        }
        self.violations.push(Violation {
            kind,
            round: self.round,
            detail,
        });
    }

    fn admin(&self, cmd: Value) -> Value {
        let answer = self.host.host.admin(cmd.clone());
        if answer["ok"].as_bool() != Some(true) {
            panic!("admin command {cmd} refused: {answer}");
        }
        answer
    }

    fn host_tx(&self, stan: u32) -> HostTx {
        let v = self.admin(json!({"cmd": "tx", "tid": TID, "stan": stan}));
        serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("admin tx answer {v}: {e}"))
    }

    fn spawn_child(&mut self) {
        self.child = Some(ChildTerm::spawn(
            &self.exe,
            &self.config_path,
            &self.child_log,
        ));
    }

    /// Send one request; with `kill_after`, SIGKILL the child that long after the request was written
    /// (whether or not it has answered by then).
    fn exchange(&mut self, request: &Value, kill_after: Option<Duration>) -> Exchange {
        if self.child.is_none() {
            self.spawn_child();
        }
        let child = self.child.as_mut().expect("child running");
        if !child.send(request) {
            self.violation(
                "terminal_died",
                format!("the terminal process took no request ({})", request["op"]),
            );
            self.restart();
            return Exchange {
                reply: None,
                killed: false,
            };
        }
        let wait = kill_after.unwrap_or(HUNG);
        let got = child.recv(wait);
        let reply = match got {
            Recv::Line(l) => match serde_json::from_str::<Value>(&l) {
                Ok(v) => Some(v),
                Err(e) => {
                    self.violation("bad_envelope", format!("answer is not JSON: {e}"));
                    None
                }
            },
            Recv::Timeout if kill_after.is_some() => None,
            Recv::Timeout => {
                self.violation(
                    "terminal_hung",
                    format!("no answer to {} within {HUNG:?}", request["op"]),
                );
                self.restart();
                return Exchange {
                    reply: None,
                    killed: false,
                };
            }
            Recv::Gone => {
                self.violation(
                    "terminal_died",
                    format!("the terminal process exited during {}", request["op"]),
                );
                self.restart();
                return Exchange {
                    reply: None,
                    killed: false,
                };
            }
        };
        let killed = kill_after.is_some();
        if killed {
            self.restart();
        }
        Exchange { reply, killed }
    }

    /// A local request (journal, status): no faults, no kill; the child must answer `ok`.
    fn local(&mut self, request: Value) -> Value {
        for _ in 0..2 {
            if let Some(v) = self.exchange(&request, None).reply {
                if v["ok"].as_bool() == Some(true) {
                    return v["result"].clone();
                }
                panic!("local request {request} failed: {v}");
            }
        }
        panic!("the terminal does not answer {request}");
    }

    fn journal(&mut self, batch: Option<u32>) -> Vec<Row> {
        let result = match batch {
            Some(b) => self.local(json!({"op": "journal", "batch": b})),
            None => self.local(json!({"op": "journal"})),
        };
        serde_json::from_value(result["records"].clone())
            .unwrap_or_else(|e| panic!("journal records do not parse: {e}"))
    }

    fn status(&mut self) -> Value {
        self.local(json!({"op": "status"}))
    }

    /// Kill (if running) and start the terminal again on the same journal; note what it owes so that
    /// the frames it sends next can be checked.
    fn restart(&mut self) {
        let offset = wire_len(&self.wire_log);
        self.child = None;
        let start = Instant::now();
        let (mut seen, mut quiet_since) = (0, Instant::now());
        while start.elapsed() < REBOOT_MAX && quiet_since.elapsed() < REBOOT_QUIET {
            std::thread::sleep(Duration::from_millis(20));
            let n = wire_requests(&self.wire_log, offset).len();
            if n != seen {
                seen = n;
                quiet_since = Instant::now();
            }
        }
        self.spawn_child();
        self.stats.restarts += 1;
        let rows = self.journal(None);
        let status = self.status();
        let pending = |r: &&Row| r.state == "pending";
        let reversals: Vec<u32> = rows
            .iter()
            .filter(pending)
            .filter(|r| delivery(&r.kind) == Delivery::Reversible)
            .map(|r| r.stan)
            .collect();
        // An advice is owed for a pending advice row, and for an offline approval (Y1) not yet answered.
        let advices: Vec<u32> = rows
            .iter()
            .filter(|r| {
                (r.state == "pending" || r.response_code.as_deref() == Some("Y1"))
                    && delivery(&r.kind) == Delivery::Advice
            })
            .map(|r| r.stan)
            .collect();
        // The journal's own account must agree with the rows it holds.
        let status_reversal = status["pending_reversal"]["stan"]
            .as_u64()
            .map(|s| s as u32);
        if status_reversal.is_some_and(|s| !reversals.contains(&s))
            || (status_reversal.is_none() && !reversals.is_empty())
        {
            self.violation(
                "journal_inconsistent",
                format!(
                    "after restart status names pending reversal {status_reversal:?}, pending rows {reversals:?}"
                ),
            );
        }
        if status["unsent_advices"].as_u64() != Some(advices.len() as u64) {
            self.violation(
                "journal_inconsistent",
                format!(
                    "after restart status counts {} unsent advices, pending advice rows {advices:?}",
                    status["unsent_advices"]
                ),
            );
        }
    }

    /// What the journal owes before an operation starts (`rows`: its current batch; nothing is owed for
    /// an older one, a batch does not close while something is).
    fn owed(&mut self, rows: &[Row]) -> Option<OrderCheck> {
        let pending = |d: Delivery| -> Vec<u32> {
            rows.iter()
                .filter(|r| r.state == "pending" && delivery(&r.kind) == d)
                .map(|r| r.stan)
                .collect()
        };
        let (reversals, advices) = (pending(Delivery::Reversible), pending(Delivery::Advice));
        if reversals.is_empty() && advices.is_empty() {
            return None;
        }
        let queried = rows
            .iter()
            .filter(|r| reversals.contains(&r.stan) && queried_first(&r.kind))
            .map(|r| r.stan)
            .collect();
        let status = self.status()["pending_reversal"].to_string();
        Some(OrderCheck {
            offset: wire_len(&self.wire_log),
            reversals,
            queried,
            advices,
            status,
        })
    }

    /// The frames an operation sent while something was owed: the first financial one must be a pending
    /// reversal ("goes to the host before anything else", JSON-API.md), and every pending advice must be
    /// resent before any new request.
    fn check_order(&mut self, check: Option<OrderCheck>, what: &str) {
        let Some(check) = check else {
            return;
        };
        let frames = wire_requests(&self.wire_log, check.offset);
        let fin: Vec<(String, u32)> = frames
            .into_iter()
            .filter(|(mti, _)| FINANCIAL_MTIS.contains(&mti.as_str()))
            .collect();
        if fin.is_empty() {
            return;
        }
        self.stats.order_checks += 1;
        let show = |f: &[(String, u32)]| {
            f.iter()
                .take(6)
                .map(|(m, s)| format!("{m}/{s}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        // A queried-first reversal the status query found paid is approved now and sends no 0400.
        let paid: Vec<u32> = if check.queried.is_empty() {
            Vec::new()
        } else {
            self.journal(None)
                .into_iter()
                .filter(|r| check.queried.contains(&r.stan) && r.state == "approved")
                .map(|r| r.stan)
                .collect()
        };
        let must: Vec<u32> = check
            .reversals
            .iter()
            .filter(|s| !paid.contains(s))
            .copied()
            .collect();
        if !must.is_empty() {
            let (mti, stan) = &fin[0];
            if mti != "0400" || !must.contains(stan) {
                self.violation(
                    "reversal_not_first",
                    format!(
                        "{what}: reversal(s) {:?} pending (status {}), first financial frames {}",
                        check.reversals,
                        check.status,
                        show(&fin)
                    ),
                );
            }
        }
        if !check.advices.is_empty() {
            let owed: HashSet<u32> = check
                .reversals
                .iter()
                .chain(check.advices.iter())
                .copied()
                .collect();
            let first_new = fin
                .iter()
                .position(|(mti, stan)| mti == "0500" || (mti != "0400" && !owed.contains(stan)));
            if let Some(n) = first_new {
                let before: HashSet<u32> = fin[..n]
                    .iter()
                    .filter(|(m, _)| m == "0220")
                    .map(|(_, s)| *s)
                    .collect();
                let missing: Vec<u32> = check
                    .advices
                    .iter()
                    .filter(|s| !before.contains(s))
                    .copied()
                    .collect();
                if !missing.is_empty() {
                    self.violation(
                        "advice_not_first",
                        format!(
                            "{what}: advice(s) {missing:?} pending, not resent before {}",
                            show(&fin[n..])
                        ),
                    );
                }
            }
        }
    }

    // -------------------------------------------------------------------------------- set-up

    fn initialise(&mut self) {
        for (what, request) in [
            (
                "activate",
                json!({"op": "activate", "device_token": DEVICE_TOKEN}),
            ),
            ("download_master_key", json!({"op": "download_master_key"})),
            ("sign_in", json!({"op": "sign_in"})),
        ] {
            let reply = self.exchange(&request, None).reply;
            match reply {
                Some(v) if v["ok"].as_bool() == Some(true) => {}
                other => panic!("initialisation step {what} failed: {other:?}"),
            }
        }
        let status = self.status();
        self.verified_batch = status["batch"].as_u64().expect("status batch") as u32;
        self.stan_cursor = status["next_stan"].as_u64().expect("status next_stan") as u32;
    }

    // -------------------------------------------------------------------------------- choosing

    /// A new intent: an operation on the journal as it is now.
    fn choose(&mut self, rows: &[Row]) -> (&'static str, Value) {
        for _ in 0..4 {
            let kind = self.rng.weighted(OPS);
            if let Some(req) = self.build(kind, rows) {
                return (kind, req);
            }
        }
        let req = self.build("sale", rows).expect("a sale needs no original");
        ("sale", req)
    }

    fn amount(&mut self) -> u64 {
        if self.rng.percent(4) {
            self.rng.range(100_000, 2_000_000)
        } else {
            self.rng.range(1, 30_000)
        }
    }

    /// A card for a new payment; now and then with a wrong PIN (`55`).
    fn payment_card(&mut self) -> Value {
        let card = self.rng.weighted(PAYMENT_CARDS);
        let pin = if self.rng.percent(5) {
            "000000"
        } else {
            card.pin
        };
        card_json(card, pin)
    }

    /// An original of one of `kinds` that `usable` accepts; now and then any row of those kinds, so that
    /// the terminal's own refusals (wrong state) are exercised too.
    fn original<'a>(
        &mut self,
        rows: &'a [Row],
        kinds: &[&str],
        usable: impl Fn(&Row) -> bool,
    ) -> Option<&'a Row> {
        let stale = self.rng.percent(3);
        let candidates: Vec<&Row> = rows
            .iter()
            .filter(|r| kinds.contains(&r.kind.as_str()))
            .filter(|r| stale || (r.state == "approved" && usable(r)))
            .collect();
        self.rng.pick(&candidates).copied()
    }

    /// The request for `kind`, or None when the journal has no original for it.
    fn build(&mut self, kind: &'static str, rows: &[Row]) -> Option<Value> {
        let date = |r: &Row| r.host_date.clone().filter(|d| d.len() == 4);
        let card_of =
            |r: &Row| card_for_masked(r.masked_pan.as_deref()).map(|c| card_json(c, c.pin));
        Some(match kind {
            "sale" | "preauth" => {
                let amount = self.amount();
                json!({"op": kind, "amount": amount, "card": self.payment_card()})
            }
            "qr_sale" | "qr_preauth" => {
                let amount = self.amount();
                let code = self.rng.weighted(QR_CODES);
                let op = if kind == "qr_sale" { "sale" } else { "preauth" };
                json!({"op": op, "amount": amount, "qr_code": code})
            }
            "void" => {
                let o = self.original(rows, &["sale"], |r| r.refunded == 0)?;
                json!({"op": "void", "stan": o.stan, "card": card_of(o)?})
            }
            "qr_void" => {
                let o = self.original(rows, &["qr_sale"], |r| r.refunded == 0)?;
                json!({"op": "void", "stan": o.stan})
            }
            "refund" | "qr_refund" => {
                let of = if kind == "refund" { "sale" } else { "qr_sale" };
                let o = self.original(rows, &[of], |r| r.amount + r.tip > r.refunded)?;
                let left = (o.amount + o.tip).saturating_sub(o.refunded).max(1);
                let amount = self.rng.range(1, left);
                let mut original = json!({"reference": o.reference.clone()?, "date": date(o)?});
                if kind == "refund" {
                    json!({"op": "refund", "amount": amount, "original": original, "card": card_of(o)?})
                } else {
                    original["voucher"] = json!(o.voucher.clone()?);
                    json!({"op": "refund", "amount": amount, "original": original})
                }
            }
            "preauth_void" | "qr_preauth_void" | "preauth_complete" | "qr_complete" => {
                let qr = kind.starts_with("qr_");
                let of = if qr { "qr_preauth" } else { "preauth" };
                let o = self.original(rows, &[of], |r| !r.completed)?;
                let mut original = json!({"batch": o.batch, "stan": o.stan, "date": date(o)?});
                if let Some(a) = &o.auth_code {
                    original["auth_code"] = json!(a);
                } else if !qr {
                    return None;
                }
                let completion = kind.ends_with("complete");
                let amount = if completion {
                    self.rng.range(1, o.amount * 115 / 100)
                } else {
                    o.amount
                };
                let op = if completion {
                    "preauth_complete"
                } else {
                    "preauth_void"
                };
                let mut req = json!({"op": op, "amount": amount, "original": original});
                if qr {
                    req["original"]["voucher"] = json!(o.voucher.clone()?);
                } else {
                    req["card"] = card_of(o)?;
                }
                req
            }
            "preauth_complete_void" => {
                let o = self.original(rows, &["preauth_complete"], |r| r.refunded == 0)?;
                json!({"op": "preauth_complete_void", "stan": o.stan, "card": card_of(o)?})
            }
            "qr_complete_void" => {
                let o = self.original(rows, &["qr_complete"], |r| r.refunded == 0)?;
                json!({"op": "preauth_complete_void", "stan": o.stan})
            }
            "tip" => {
                let o = self.original(rows, &["sale"], |r| r.tip == 0 && r.amount >= 5)?;
                let tip = self.rng.range(1, o.amount / 5);
                json!({"op": "tip", "stan": o.stan, "tip": tip})
            }
            "tip_void" => {
                let sale_ok = |r: &Row| {
                    rows.iter()
                        .any(|s| Some(s.id) == r.original_id && s.state == "approved" && s.tip > 0)
                };
                let o = self.original(rows, &["tip"], sale_ok)?;
                json!({"op": "tip_void", "stan": o.stan})
            }
            "balance" => {
                let card = self.rng.weighted(PAYMENT_CARDS);
                json!({"op": "balance", "card": card_json(card, card.pin)})
            }
            "qr_order" => {
                let amount = self.amount();
                json!({"op": "qr_order", "amount": amount})
            }
            "sign_in" => json!({"op": "sign_in"}),
            "echo" => json!({"op": "echo"}),
            "sign_off" => json!({"op": "sign_off"}),
            "chip_sale" => {
                let offline = self.rng.percent(40);
                let amount = if offline {
                    self.rng.range(1, FLOOR_LIMIT)
                } else {
                    self.amount()
                };
                let card = if self.rng.percent(70) {
                    "CUP_CHIP"
                } else {
                    "VISA_CHIP"
                };
                json!({"op": "sale", "amount": amount, "sim_chip": {"card": card, "offline": offline}})
            }
            _ => return None,
        })
    }

    /// A host fault for this round: (name in the report, admin command, frames it may take).
    fn choose_fault(&mut self) -> (&'static str, Value, u64) {
        let kind = self.rng.weighted(&[
            ("no_answer", 22),
            ("no_answer_reversal_too", 14),
            ("delay", 16),
            ("wrong_mac", 14),
            ("close_mid_frame", 14),
            ("garbage", 8),
            ("decline", 6),
            ("sign_in_again", 6),
        ]);
        let base = json!({"cmd": "fault", "tid": TID, "count": 1});
        let with = |mut v: Value, k: &str, x: Value| {
            v[k] = x;
            v
        };
        match kind {
            "no_answer_reversal_too" => {
                // The request and the reversal that follows it are both dropped.
                let v = with(base, "fault", json!("no_answer"));
                (kind, with(v, "count", json!(2)), 2)
            }
            "delay" => {
                let ms = self.args.response_ms + self.rng.range(150, 500);
                let v = with(base, "fault", json!("delay"));
                (kind, with(v, "ms", json!(ms)), 1)
            }
            "decline" => {
                let v = with(base, "fault", json!("decline"));
                (kind, with(v, "code", json!("05")), 1)
            }
            other => (other, with(base, "fault", json!(other)), 1),
        }
    }

    /// A random kill delay: early (while the request is journalled or sent) or anywhere up to past the
    /// response timeout.
    fn kill_delay(&mut self, quick: bool) -> Duration {
        let ms = if quick {
            // Sign-in and settlement take a few milliseconds without faults.
            self.rng.range(0, 12)
        } else if self.rng.percent(40) {
            self.rng.range(0, 10)
        } else {
            self.rng.range(0, self.args.response_ms + 300)
        };
        Duration::from_millis(ms)
    }

    /// How many frames the queued fault took; then no fault stays queued.
    fn settle_fault(&mut self, name: &str, count: u64) {
        let left: u64 = self.admin(json!({"cmd": "faults", "tid": TID}))["faults"]
            .as_array()
            .map(|l| l.iter().filter_map(|f| f["remaining"].as_u64()).sum())
            .unwrap_or(0);
        let took = count.saturating_sub(left);
        if took > 0 {
            bump(&mut self.stats.injections, name, 1);
            self.stats.faulted_frames += took;
        } else {
            bump(&mut self.stats.unused_faults, name, 1);
        }
        self.admin(json!({"cmd": "clear_faults", "tid": TID}));
    }

    // -------------------------------------------------------------------------------- one round

    fn round(&mut self) {
        self.round += 1;
        if self.child.is_none() {
            self.spawn_child();
        }
        let rows = self.journal(None);
        let index = match self.retry.take() {
            Some(i) => {
                self.stats.retries += 1;
                i
            }
            None => {
                let (kind, request) = self.choose(&rows);
                self.intents.push(Intent {
                    round: self.round,
                    kind,
                    request,
                    attempts: Vec::new(),
                });
                self.intents.len() - 1
            }
        };
        let kind = self.intents[index].kind;
        let request = self.intents[index].request.clone();
        bump(&mut self.stats.ops, kind, 1);

        if kind == "qr_order" {
            // The customer of this order: pays at once or later, confirms slowly, fails, lets it expire,
            // or never scans it (the terminal then closes it after `qr.order_timeout_ms`).
            let (mode, after) = self.rng.weighted(QR_PAYERS);
            self.admin(json!({"cmd": "qr_payer", "tid": TID, "mode": mode, "after": after}));
        }
        let fault = self
            .rng
            .percent(self.args.fault_percent)
            .then(|| self.choose_fault());
        if let Some((_, cmd, _)) = &fault {
            self.admin(cmd.clone());
        }
        let kill_percent = if kind == "sign_in" {
            40
        } else {
            self.args.kill_percent
        };
        let kill = self
            .rng
            .percent(kill_percent)
            .then(|| self.kill_delay(kind == "sign_in"));

        let order = self.owed(&rows);
        let ex = self.exchange(&request, kill);
        self.check_order(order, kind);
        if let Some((name, _, count)) = &fault {
            self.settle_fault(name, *count);
        }
        let told = match (&ex.reply, ex.killed) {
            (Some(v), _) => Told::from_envelope(kind, v),
            (None, true) => Told::Killed,
            (None, false) => Told::Lost,
        };
        if ex.killed {
            let when = match (&ex.reply, kind) {
                (Some(_), _) => "after_answer",
                (None, "sign_in") => "during_sign_in",
                (None, _) => "during_operation",
            };
            bump(&mut self.stats.kills, when, 1);
        }
        if self.args.verbose {
            eprintln!(
                "round {}: {kind}{} fault={} kill={:?} -> {}",
                self.round,
                if self.intents[index].attempts.is_empty() {
                    ""
                } else {
                    " (retry)"
                },
                fault.as_ref().map(|f| f.0).unwrap_or("-"),
                kill,
                told.show()
            );
        }

        // The rows this attempt created (every new row since the last round belongs to it).
        let after = self.journal(None);
        let new_rows: Vec<Row> = after
            .iter()
            .filter(|r| r.id > self.max_row_id)
            .cloned()
            .collect();
        self.max_row_id = after
            .iter()
            .map(|r| r.id)
            .max()
            .unwrap_or(0)
            .max(self.max_row_id);
        if new_rows.len() > 1 {
            self.violation(
                "journal_inconsistent",
                format!(
                    "{kind} created {} journal rows (stans {:?})",
                    new_rows.len(),
                    new_rows.iter().map(|r| r.stan).collect::<Vec<_>>()
                ),
            );
        }
        if let Told::Error { code, .. } = &told {
            bump(&mut self.stats.errors, code, 1);
        }
        if new_rows.iter().any(|r| r.kind == "offline_sale") {
            self.stats.outcomes_offline += 1;
        }
        if matches!(told, Told::Result { .. } | Told::Error { .. })
            && delivery(kind) != Delivery::Management
        {
            let outcome = told.outcome().unwrap_or("missing").to_string();
            bump(&mut self.stats.outcomes, &outcome, 1);
        }
        if delivery(kind) != Delivery::Management {
            self.check_answer(kind, &told, &new_rows, &after);
        }
        self.intents[index].attempts.push(Attempt {
            round: self.round,
            told: told.clone(),
            rows: new_rows,
        });
        self.follow_up(index, &told);
    }

    /// What the app was told, checked at once against the journal and the host (an answer is final
    /// unless it says something is still pending).
    fn check_answer(&mut self, kind: &str, told: &Told, new_rows: &[Row], rows: &[Row]) {
        let d = delivery(kind);
        match told {
            Told::Done | Told::Killed | Told::Lost => return,
            Told::Result { .. } | Told::Error { .. } => {}
        }
        let Some(outcome) = told.outcome() else {
            self.violation(
                "outcome_missing",
                format!("{kind}: {} carries no outcome", told.show()),
            );
            return;
        };
        if !OUTCOMES.contains(&outcome) {
            self.violation(
                "outcome_invalid",
                format!("{kind}: unknown outcome in {}", told.show()),
            );
            return;
        }
        // The contract's own rules.
        let bad = match told {
            Told::Result { approved, .. } => {
                (*approved != (outcome == "approved"))
                    || !matches!(
                        outcome,
                        "approved" | "declined" | "reversed" | "reversal_pending"
                    )
            }
            Told::Error { code, .. } => {
                ((code == "host_unreachable" || is_request_error(code)) && outcome != "not_sent")
                    || (outcome == "advice_pending" && d != Delivery::Advice)
                    || (outcome == "reversed" && d != Delivery::Reversible)
                    || (outcome == "reversal_pending"
                        && !matches!(d, Delivery::Reversible | Delivery::Order))
            }
            _ => false,
        };
        if bad {
            self.violation("outcome_invalid", format!("{kind}: {}", told.show()));
        }

        // The STAN the app was given names the row this attempt created.
        let row = new_rows.first();
        match (told.stan(), row) {
            (None, Some(r)) => self.violation(
                "error_stan_missing",
                format!(
                    "{kind}: {} but the request was journalled as stan {}",
                    told.show(),
                    r.stan
                ),
            ),
            (Some(s), Some(r)) if s != r.stan => self.violation(
                "stan_mismatch",
                format!(
                    "{kind}: {} but the journalled row is stan {}",
                    told.show(),
                    r.stan
                ),
            ),
            (Some(s), None) if outcome != "not_sent" || rows.iter().any(|r| r.stan == s) => {
                // A STAN without a new row: only a not-sent error may name one it never used.
                self.violation(
                    "stan_mismatch",
                    format!("{kind}: {} but no journal row was created", told.show()),
                )
            }
            _ => {}
        }

        // The journal agrees with the outcome.
        let state = row.map(|r| r.state.as_str()).unwrap_or("absent");
        let journal_ok = match outcome {
            "approved" => state == "approved",
            "declined" => state == "declined" || (d == Delivery::Plain && state == "failed"),
            "reversed" => state == "reversed",
            "reversal_pending" => {
                state == "pending" && matches!(d, Delivery::Reversible | Delivery::Order)
            }
            "advice_pending" => state == "pending" && d == Delivery::Advice,
            "not_sent" => matches!(state, "absent" | "failed"),
            _ => true,
        };
        if !journal_ok {
            self.violation(
                "outcome_vs_journal",
                format!("{kind}: {} but the journal row is {state}", told.show()),
            );
        }

        // The host agrees with the outcome (pending outcomes are checked after the flush).
        let Some(stan) = told.stan().or(row.map(|r| r.stan)) else {
            return;
        };
        let host = self.host_tx(stan);
        let hm = host_money(&host);
        match outcome {
            // A balance inquiry moves nothing, but the host holds it as approved.
            "approved" if d == Delivery::Plain && (!host.found || host.state != "approved") => self
                .violation(
                    "told_approved_host_not",
                    format!(
                        "{kind}: {} but the host holds {}",
                        told.show(),
                        show_host(&host)
                    ),
                ),
            "approved" if d == Delivery::Plain => {}
            // Approved offline by the card (Y1), its advice not answered yet: checked at the checkpoint.
            "approved" if matches!(told, Told::Result { rc, .. } if rc == "Y1") => {}
            "approved" if hm != Money::Held => self.violation(
                "told_approved_host_not",
                format!(
                    "{kind}: {} but the host holds {}",
                    told.show(),
                    show_host(&host)
                ),
            ),
            // Nothing to move for an inquiry, and an unanswered one is `not_sent` although the host
            // saw it (JSON-API.md, "Outcome"): only its approval is checked, above.
            _ if d == Delivery::Plain => {}
            "declined" | "reversed" | "not_sent" if moved(hm) => self.violation(
                "told_not_approved_host_moved",
                format!(
                    "{kind}: {} but the host holds {}",
                    told.show(),
                    show_host(&host)
                ),
            ),
            "not_sent" if host.found => self.violation(
                "told_not_sent_host_has_it",
                format!(
                    "{kind}: {} but the host holds {}",
                    told.show(),
                    show_host(&host)
                ),
            ),
            _ => {}
        }
    }

    /// The app's next step: sign in when signed out; retry when the contract allows it.
    fn follow_up(&mut self, index: usize, told: &Told) {
        let kind = self.intents[index].kind;
        let failed = match told {
            Told::Done => false,
            Told::Result { rc, .. } => matches!(rc.as_str(), "A0" | "99"),
            Told::Error { .. } | Told::Killed | Told::Lost => true,
        };
        if matches!(told, Told::Error { .. }) {
            self.consecutive_errors += 1;
        } else {
            self.consecutive_errors = 0;
        }
        if failed {
            let status = self.status();
            // Signed out (bad MAC, 99/A0, a kill during sign-in), or stuck on errors the app cannot
            // read (e.g. a reversal answered under keys of a sign-in the terminal never saw): sign in.
            if status["signed_in"].as_bool() != Some(true) || self.consecutive_errors >= 3 {
                self.sign_in();
            }
        }
        if kind == "sign_in" {
            return;
        }
        let may_retry = match told {
            Told::Done => false,
            Told::Result { approved, rc, .. } => !approved && matches!(rc.as_str(), "A0" | "99"),
            Told::Error { code, outcome, .. } => match outcome.as_deref() {
                Some("advice_pending") => {
                    self.stats.advice_pending_not_retried += 1;
                    false
                }
                // An order or a QR sale still unresolved may yet be paid: the app waits for the journal.
                Some("reversal_pending") if queried_first(kind) => false,
                Some("not_sent" | "reversed" | "reversal_pending" | "declined") => {
                    !is_request_error(code)
                }
                _ => false,
            },
            // After a crash the app reads the journal: a request still owed to the host as an advice is
            // left alone; one that was never journalled, failed or awaits its reversal may be tried again.
            Told::Killed | Told::Lost => {
                let rows = &self.intents[index]
                    .attempts
                    .last()
                    .map(|a| a.rows.clone())
                    .unwrap_or_default();
                match rows.first() {
                    None => true,
                    Some(r) => {
                        let now = self
                            .journal(Some(r.batch))
                            .into_iter()
                            .find(|x| x.id == r.id);
                        match now.map(|x| x.state) {
                            Some(s) if s == "pending" => {
                                delivery(kind) == Delivery::Reversible && !queried_first(kind)
                            }
                            Some(s) => s == "failed" || s == "reversed",
                            None => true,
                        }
                    }
                }
            }
        };
        if may_retry && self.intents[index].attempts.len() < MAX_ATTEMPTS && self.rng.percent(50) {
            self.retry = Some(index);
        }
    }

    fn sign_in(&mut self) -> bool {
        self.stats.sign_ins += 1;
        matches!(self.exchange(&json!({"op": "sign_in"}), None).reply,
                 Some(v) if v["ok"].as_bool() == Some(true))
    }

    // -------------------------------------------------------------------------------- checkpoints

    /// Settle (flushing every pending reversal and advice first), then check everything since the last
    /// checkpoint against the host.
    fn checkpoint(&mut self) {
        self.retry = None;
        self.admin(json!({"cmd": "clear_faults", "tid": TID}));
        let mut settled: Option<Value> = None;
        let mut last_error = String::new();
        for attempt in 0..8 {
            self.stats.settle_attempts += 1;
            let status = self.status();
            if attempt > 0 || status["signed_in"].as_bool() != Some(true) {
                self.sign_in();
            }
            // Sometimes the host answers "not balanced" so that the batch upload runs too.
            let unbalanced = attempt == 0 && self.rng.percent(15);
            if unbalanced {
                self.admin(
                    json!({"cmd": "fault", "tid": TID, "fault": "unbalanced_settlement",
                                  "count": 1}),
                );
            }
            let kill = (attempt == 0 && self.args.kill_percent > 0 && self.rng.percent(35))
                .then(|| self.kill_delay(true));
            let rows = self.journal(None);
            let order = self.owed(&rows);
            let ex = self.exchange(&json!({"op": "settle"}), kill);
            self.check_order(order, "settle");
            if unbalanced {
                self.settle_fault("unbalanced_settlement", 1);
            }
            if ex.killed && ex.reply.is_none() {
                bump(&mut self.stats.kills, "during_settle", 1);
                continue;
            }
            if ex.killed {
                bump(&mut self.stats.kills, "after_answer", 1);
            }
            match ex.reply {
                Some(v) if v["ok"].as_bool() == Some(true) => {
                    settled = Some(v["result"].clone());
                    break;
                }
                Some(v) => last_error = v["error"].to_string(),
                None => last_error = "no answer".into(),
            }
        }
        let Some(result) = settled else {
            self.violation(
                "settle_failed",
                format!("no settlement after 8 attempts without faults: {last_error}"),
            );
            return;
        };
        self.stats.settlements += 1;

        // The settlement's own account.
        let batch = result["batch"].as_u64().unwrap_or(0) as u32;
        let term = Totals::from_json(&result["terminal"]);
        let host = Totals::from_json(&result["host"]);
        if term.is_none() || term != host || result["balanced"].as_bool() != Some(true) {
            self.violation(
                "settlement_unbalanced",
                format!(
                    "batch {batch}: balanced={} terminal {} host {}",
                    result["balanced"],
                    term.map(|t| t.show()).unwrap_or_default(),
                    host.map(|t| t.show()).unwrap_or_default()
                ),
            );
        }
        let own = Totals::of_rows(&self.journal(Some(batch)));
        if term != Some(own) {
            self.violation(
                "settlement_vs_journal",
                format!(
                    "batch {batch}: settlement says terminal {}, the journal adds up to {}",
                    term.map(|t| t.show()).unwrap_or_default(),
                    own.show()
                ),
            );
        }
        self.verify();
    }

    /// Every batch closed since the last check, row by row and in total, against the host; then every
    /// intent since the last check.
    fn verify(&mut self) {
        let status = self.status();
        if !status["pending_reversal"].is_null()
            || status["unsent_advices"].as_u64() != Some(0)
            || status["unsent_uploads"].as_u64() != Some(0)
        {
            self.violation(
                "pending_after_settle",
                format!(
                    "after a settlement: pending reversal {}, unsent advices {}",
                    status["pending_reversal"], status["unsent_advices"]
                ),
            );
        }
        let open_batch = status["batch"].as_u64().unwrap_or(0) as u32;
        let next_stan = status["next_stan"].as_u64().unwrap_or(0) as u32;
        let mut by_stan: HashMap<u32, (Row, HostTx)> = HashMap::new();
        for batch in self.verified_batch..open_batch {
            let rows = self.journal(Some(batch));
            let host_totals = self.admin(json!({"cmd": "totals", "tid": TID, "batch": batch}));
            let host = Totals::from_json(&host_totals);
            let own = Totals::of_rows(&rows);
            if host != Some(own) {
                self.violation(
                    "totals_mismatch",
                    format!(
                        "batch {batch}: journal {} host ledger {}",
                        own.show(),
                        host.map(|t| t.show()).unwrap_or_default()
                    ),
                );
            }
            let txs: Vec<HostTx> = rows.iter().map(|r| self.host_tx(r.stan)).collect();
            for (row, tx) in rows.iter().zip(&txs) {
                if !self.compare_row(row, tx) {
                    // The rows around it (its original, what refers to it) for the report.
                    let related: Vec<String> = rows
                        .iter()
                        .zip(&txs)
                        .filter(|(r, _)| {
                            r.id != row.id
                                && (Some(r.id) == row.original_id || r.original_id == Some(row.id))
                        })
                        .map(|(r, t)| {
                            format!(
                                "{} stan {}: journal {}, host {}",
                                r.kind,
                                r.stan,
                                r.state,
                                show_host(t)
                            )
                        })
                        .collect();
                    if !related.is_empty() {
                        if let Some(v) = self.violations.last_mut() {
                            v.detail
                                .push_str(&format!("; related: {}", related.join("; ")));
                        }
                    }
                }
                self.stats.rows_checked += 1;
            }
            for (row, tx) in rows.into_iter().zip(txs) {
                by_stan.insert(row.stan, (row, tx));
            }
        }
        // STANs the journal has no row for: the host must not hold money for any of them.
        if next_stan >= self.stan_cursor {
            for stan in self.stan_cursor..next_stan {
                self.stats.stans_scanned += 1;
                if by_stan.contains_key(&stan) {
                    continue;
                }
                let tx = self.host_tx(stan);
                if moved(host_money(&tx)) {
                    self.violation(
                        "host_moved_terminal_lost",
                        format!(
                            "stan {stan}: the host holds {} and the journal has no row",
                            show_host(&tx)
                        ),
                    );
                }
            }
        }
        self.stan_cursor = next_stan;
        self.verified_batch = open_batch;

        let intents = std::mem::take(&mut self.intents);
        for intent in &intents {
            self.check_intent(intent, &by_stan);
        }
    }

    /// One journal row against the host's row for its STAN, after every reversal and advice was flushed.
    /// False when they disagree (the violation is recorded).
    fn compare_row(&mut self, row: &Row, tx: &HostTx) -> bool {
        if row.kind == "balance" {
            // Moves no money. One left pending by a kill is marked failed when the journal is opened again
            // (JSON-API.md, "Outcome"), and every kill here is followed by a restart.
            if row.state == "pending" {
                self.violation(
                    "pending_after_flush",
                    format!(
                        "balance stan {} batch {}: still pending",
                        row.stan, row.batch
                    ),
                );
                return false;
            }
            return true;
        }
        let t = terminal_money(row);
        let h = host_money(tx);
        let what = || {
            format!(
                "{} stan {} batch {}: journal {} (amount {} tip {} refunded {}{}), host {}",
                row.kind,
                row.stan,
                row.batch,
                row.state,
                row.amount,
                row.tip,
                row.refunded,
                if row.completed { ", completed" } else { "" },
                show_host(tx)
            )
        };
        let kind = match (t, h) {
            (Money::Pending, _) => Some("pending_after_flush"),
            (Money::Held, Money::Held) => {
                let completed = tx.state == "completed";
                let same = tx.amount == row.amount as i64
                    && tx.tip == row.tip as i64
                    && tx.refunded == row.refunded as i64
                    && (!row.kind.ends_with("preauth") || row.completed == completed);
                (!same).then_some("state_mismatch")
            }
            (Money::Held, _) => Some("terminal_approved_host_not"),
            (Money::Undone, Money::Undone) => None,
            (Money::Undone, _) => Some("state_mismatch"),
            (Money::None, Money::Held | Money::Undone) => Some("host_moved_terminal_lost"),
            (Money::None, _) => None,
        };
        match kind {
            Some(kind) => {
                self.violation(kind, what());
                false
            }
            None => true,
        }
    }

    /// An intent after the flush: never executed twice, and every answer that was not final came true.
    fn check_intent(&mut self, intent: &Intent, by_stan: &HashMap<u32, (Row, HostTx)>) {
        if delivery(intent.kind) == Delivery::Management || intent.kind == "balance" {
            return;
        }
        let mut moved_stans = Vec::new();
        for a in &intent.attempts {
            for r in &a.rows {
                let tx = match by_stan.get(&r.stan) {
                    Some((_, tx)) => tx.clone(),
                    None => self.host_tx(r.stan),
                };
                if moved(host_money(&tx)) {
                    moved_stans.push(r.stan);
                }
            }
        }
        if moved_stans.len() > 1 {
            self.violation(
                "paid_twice",
                format!(
                    "{} intent of round {} moved money {} times (stans {moved_stans:?}); told: {}",
                    intent.kind,
                    intent.round,
                    moved_stans.len(),
                    intent
                        .attempts
                        .iter()
                        .map(|a| format!("[round {}] {}", a.round, a.told.show()))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            );
        }
        for a in &intent.attempts {
            let Some(outcome) = a.told.outcome() else {
                continue;
            };
            let Some(stan) = a.told.stan().or(a.rows.first().map(|r| r.stan)) else {
                continue;
            };
            let (row_state, tx) = match by_stan.get(&stan) {
                Some((row, tx)) => (row.state.clone(), tx.clone()),
                None => ("absent".to_string(), self.host_tx(stan)),
            };
            let hm = host_money(&tx);
            // A queried-first kind told `reversal_pending` may end approved, with the host holding it.
            if outcome == "reversal_pending"
                && queried_first(intent.kind)
                && row_state == "approved"
                && hm == Money::Held
            {
                continue;
            }
            match outcome {
                "reversal_pending" | "declined" | "reversed" | "not_sent" if moved(hm) => {
                    self.violation(
                        "told_not_approved_host_moved",
                        format!(
                            "{} of round {}: {} but after the flush the host holds {}",
                            intent.kind,
                            a.round,
                            a.told.show(),
                            show_host(&tx)
                        ),
                    )
                }
                "reversal_pending"
                    if row_state != "reversed"
                        && !(queried_first(intent.kind)
                            && matches!(row_state.as_str(), "declined" | "failed")) =>
                {
                    self.violation(
                    "outcome_vs_journal",
                    format!(
                        "{} of round {}: {} but after the flush the journal row is {row_state}",
                        intent.kind,
                        a.round,
                        a.told.show()
                    ),
                )
                }
                "advice_pending" if !tx.found => self.violation(
                    "advice_lost",
                    format!(
                        "{} of round {}: {} but after the flush the host never got it (journal {row_state})",
                        intent.kind,
                        a.round,
                        a.told.show()
                    ),
                ),
                _ => {}
            }
        }
    }

    /// Full PANs must never reach a log: the terminal's (child stderr) and the host's wire log.
    fn scan_logs(&mut self) {
        for path in [self.child_log.clone(), self.wire_log.clone()] {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for card in ALL_CARDS {
                if text.contains(card.pan) {
                    self.violation(
                        "pan_in_log",
                        format!(
                            "{} holds the full PAN of {}",
                            path.file_name().and_then(|n| n.to_str()).unwrap_or("a log"),
                            possdk_core::mask_pan(card.pan)
                        ),
                    );
                }
            }
        }
    }

    fn run(&mut self) {
        self.spawn_child();
        self.initialise();
        for _ in 0..self.args.rounds {
            self.round();
            if self.round.is_multiple_of(self.args.settle_every) {
                self.checkpoint();
            }
        }
        if !self.round.is_multiple_of(self.args.settle_every) || self.args.rounds == 0 {
            self.checkpoint();
        }
        self.child = None;
        self.scan_logs();
    }

    fn summary(&self, elapsed: Duration) -> Value {
        let mut by_kind: BTreeMap<&str, u64> = BTreeMap::new();
        for v in &self.violations {
            *by_kind.entry(v.kind).or_default() += 1;
        }
        let mut listed: BTreeMap<&str, usize> = BTreeMap::new();
        let list: Vec<Value> = self
            .violations
            .iter()
            .filter(|v| {
                let n = listed.entry(v.kind).or_default();
                *n += 1;
                *n <= 10
            })
            .map(|v| json!({"kind": v.kind, "seed": self.args.seed, "round": v.round, "detail": v.detail}))
            .collect();
        let injections: u64 = self.stats.injections.values().sum();
        let kills: u64 = self.stats.kills.values().sum();
        // What the chip sales left at the host: TC uploads (verified against the test issuer), script
        // results, and the offline sales it booked from their advices.
        let uploads = self.admin(json!({"cmd": "chip_uploads", "tid": TID}));
        let ups = uploads["uploads"].as_array().cloned().unwrap_or_default();
        let tcs = ups.iter().filter(|u| u["class"] == "tc").count();
        let signatures = ups
            .iter()
            .filter(|u| u["class"] == "signature" && u["verified"] == true)
            .count();
        let verified = ups
            .iter()
            .filter(|u| u["class"] == "tc" && u["verified"] == true)
            .count();
        json!({
            "chip": {"tc_uploads": tcs, "tc_verified": verified, "signatures": signatures,
                     "offline_approved": self.stats.outcomes_offline},
            "seed": self.args.seed,
            "key_family": self.args.key_family.name(),
            "rounds": self.round,
            "elapsed_s": (elapsed.as_secs_f64() * 10.0).round() / 10.0,
            "response_timeout_ms": self.args.response_ms,
            "injections": {"total": injections, "by_kind": self.stats.injections,
                           "faulted_frames": self.stats.faulted_frames,
                           "unused": self.stats.unused_faults},
            "kills": {"total": kills, "by_point": self.stats.kills, "restarts": self.stats.restarts},
            "ops": self.stats.ops,
            "outcomes": self.stats.outcomes,
            "errors": self.stats.errors,
            "app": {"retries": self.stats.retries,
                    "advice_pending_not_retried": self.stats.advice_pending_not_retried,
                    "sign_ins": self.stats.sign_ins},
            "checks": {"settlements": self.stats.settlements,
                       "settle_attempts": self.stats.settle_attempts,
                       "rows_checked": self.stats.rows_checked,
                       "stans_scanned": self.stats.stans_scanned,
                       "frame_orders": self.stats.order_checks},
            "violations": {"total": self.violations.len(), "by_kind": by_kind, "list": list},
        })
    }
}

fn show_host(tx: &HostTx) -> String {
    if tx.found {
        format!(
            "{} {} (amount {} tip {} refunded {})",
            tx.mti, tx.state, tx.amount, tx.tip, tx.refunded
        )
    } else {
        "nothing".to_string()
    }
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.first().map(String::as_str) == Some("--child") {
        return match argv.get(1) {
            Some(path) => run_child(Path::new(path)),
            None => {
                eprintln!("possdk-soak: --child needs the config path");
                ExitCode::from(2)
            }
        };
    }
    let args = match parse_args(&argv) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("possdk-soak: {e}");
            eprintln!(
                "usage: possdk-soak [--rounds N] [--seed S] [--settle-every K] [--response-ms MS] \
                 [--fault-percent P] [--kill-percent P] [--keep] [--verbose]"
            );
            return ExitCode::from(2);
        }
    };
    // The in-process host logs to stderr; quiet unless RUST_LOG asks.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("off")).init();
    let start = Instant::now();
    let keep = args.keep;
    let mut soak = Soak::new(args);
    soak.run();
    let summary = soak.summary(start.elapsed());
    println!(
        "{}",
        serde_json::to_string_pretty(&summary).unwrap_or_else(|_| summary.to_string())
    );
    let failed = !soak.violations.is_empty();
    let Soak { host, .. } = soak;
    if keep {
        eprintln!(
            "possdk-soak: kept {} (host.db, wire.log, terminal/)",
            host.dir.display()
        );
        host.host.shutdown();
    } else {
        host.shutdown();
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
