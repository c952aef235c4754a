//! The terminal's performance budgets, measured in one place (docs/PERFORMANCE.md). Exits non-zero when a
//! budget is missed.
//!
//! - `perf-bench sale [--count N]` (default 2000): card sales through `api::call_json` (JSON in, JSON out)
//!   with an in-memory transport that hands each frame to possdk-host's engine in this process. The time
//!   inside the transport (the host's work) is subtracted, so what is left is the terminal's own work:
//!   JSON parse, validation, PIN block, MAC, encoding, journal statements, response checks, result. Run once
//!   with the journal at `synchronous = OFF` (no fsync: the CPU part, budget 150 µs at p50) and once at
//!   `FULL` (the product's setting: the difference is the two durable commits). Every sale must make
//!   exactly two journal commits.
//! - `perf-bench journal [--rows N]` (default 10000): a batch of N sales settles (balanced) in at most 1 s;
//!   a terminal opens on that journal (N rows) in at most 20 ms with at most 10 MB resident, measured in a
//!   fresh child process (`perf-bench cold-start <journal>`); then a second batch of N sales is settled with
//!   the host's `unbalanced_settlement` fault, so all N records are uploaded (timed).
//!
//! The journal is filled with `synchronous = OFF` to keep the run short; every timed settlement and the cold
//! start use `FULL`. Run with `--release`.

use possdk_core::hal::{CancelToken, Endpoint, Hal, Transport, TransportError};
use possdk_core::{api, Terminal};
use possdk_e2e::*;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The terminal's own work per sale, p50, with fsync taken out.
const SALE_OWN_BUDGET: Duration = Duration::from_micros(150);
/// Durable commits per financial request: the request with its reversal, then the outcome.
const COMMITS_PER_SALE: u64 = 2;
const SETTLE_BUDGET: Duration = Duration::from_secs(1);
const COLD_START_BUDGET: Duration = Duration::from_millis(20);
const RSS_BUDGET_KB: u64 = 10 * 1024;

/// Frames go to possdk-host's engine in this process; the time spent there is recorded.
struct InProcess {
    host: Arc<TestHost>,
    spent: Arc<Mutex<Duration>>,
}

impl Transport for InProcess {
    fn exchange(
        &mut self,
        _endpoint: &Endpoint,
        frame: &[u8],
        _cancel: &CancelToken,
    ) -> Result<Vec<u8>, TransportError> {
        let start = Instant::now();
        let answer = self.host.host.process_frame(frame);
        if let Ok(mut spent) = self.spent.lock() {
            *spent += start.elapsed();
        }
        answer.ok_or(TransportError::Timeout)
    }
}

struct Bench {
    host: Arc<TestHost>,
    dir: std::path::PathBuf,
    spent: Arc<Mutex<Duration>>,
}

impl Bench {
    fn new(name: &str) -> Bench {
        Bench {
            host: Arc::new(TestHost::start(name)),
            dir: temp_dir(name),
            spent: Arc::new(Mutex::new(Duration::ZERO)),
        }
    }

    fn terminal(&self) -> Terminal {
        let hal = Hal {
            transport: Some(Box::new(InProcess {
                host: self.host.clone(),
                spent: self.spent.clone(),
            })),
            ..Default::default()
        };
        self.host.terminal(&self.dir, hal)
    }

    fn journal_path(&self) -> std::path::PathBuf {
        self.dir.join("journal.db")
    }

    /// Host time since the last call.
    fn take_spent(&self) -> Duration {
        self.spent
            .lock()
            .map(|mut s| std::mem::take(&mut *s))
            .unwrap_or_default()
    }
}

/// A swiped sale of the test card with its PIN, as the app would send it.
fn sale_request(amount: u64) -> String {
    let card = &CUP_SWIPE;
    serde_json::json!({
        "op": "sale",
        "amount": amount,
        "card": {
            "entry": "swipe",
            "track2": format!("{}D{}{}0000000000", card.pan, card.expiry, card.service_code),
            "pin": card.pin,
        }
    })
    .to_string()
}

fn sale_json(t: &Terminal, json: &str) {
    let answer = api::call_json(t, json);
    assert!(
        answer.contains(r#""approved":true"#),
        "sale not approved: {answer}"
    );
}

fn us(d: u128) -> String {
    format!("{d} µs")
}

struct Split {
    total: (u128, u128),
    host: (u128, u128),
    own: (u128, u128),
}

/// `count` sales with the journal `durable` or not: percentiles of the whole call, of the host's share and
/// of the rest (the terminal's own work, plus fsync when durable). Checks the commits of every sale.
fn sales(b: &Bench, t: &Terminal, durable: bool, count: usize) -> Split {
    let commits = t.instrument_journal(durable).expect("instrument");
    let request = sale_request(100);
    for _ in 0..50 {
        sale_json(t, &request);
    }
    let (mut total, mut host, mut own) = (vec![], vec![], vec![]);
    b.take_spent();
    for _ in 0..count {
        let before = commits.load(Ordering::Relaxed);
        let start = Instant::now();
        sale_json(t, &request);
        let whole = start.elapsed();
        let spent = b.take_spent();
        let made = commits.load(Ordering::Relaxed) - before;
        assert_eq!(made, COMMITS_PER_SALE, "journal commits for one sale");
        total.push(whole.as_micros());
        host.push(spent.as_micros());
        own.push(whole.saturating_sub(spent).as_micros());
    }
    Split {
        total: percentiles(&mut total),
        host: percentiles(&mut host),
        own: percentiles(&mut own),
    }
}

fn bench_sale(count: usize) -> bool {
    let b = Bench::new("perf-sale");
    let t = b.terminal();
    initialise(&t).expect("initialisation");
    let fast = sales(&b, &t, false, count);
    let durable = sales(&b, &t, true, count);
    println!("sale through call_json, in-memory transport (possdk-host engine in process), n={count} each");
    for (name, s) in [("synchronous=OFF ", &fast), ("synchronous=FULL", &durable)] {
        println!(
            "  {name}: whole p50 {:>9} p99 {:>9} | host p50 {:>7} p99 {:>7} | terminal p50 {:>9} p99 {:>9}",
            us(s.total.0),
            us(s.total.1),
            us(s.host.0),
            us(s.host.1),
            us(s.own.0),
            us(s.own.1)
        );
    }
    println!(
        "  split (p50): terminal work {} + two durable commits {} = {}; commits per sale: {COMMITS_PER_SALE}",
        us(fast.own.0),
        us(durable.own.0.saturating_sub(fast.own.0)),
        us(durable.own.0)
    );
    drop(t);
    let ok = fast.own.0 <= SALE_OWN_BUDGET.as_micros();
    println!(
        "  budget: terminal work p50 {} <= {}: {}",
        us(fast.own.0),
        us(SALE_OWN_BUDGET.as_micros()),
        if ok { "ok" } else { "OVER BUDGET" }
    );
    let _ = std::fs::remove_dir_all(&b.dir);
    ok
}

/// `rows` approved sales in the open batch, without fsync (filling only).
fn fill(t: &Terminal, rows: usize) {
    t.instrument_journal(false).expect("instrument");
    // One-fen sales: 20,000 of them fit the test card's balance.
    let request = sale_request(1);
    for _ in 0..rows {
        sale_json(t, &request);
    }
    t.instrument_journal(true).expect("instrument");
}

fn bench_journal(rows: usize) -> bool {
    let b = Bench::new("perf-journal");
    let mut ok = true;
    let t = b.terminal();
    initialise(&t).expect("initialisation");
    let start = Instant::now();
    fill(&t, rows);
    println!(
        "journal: {rows} sales recorded in {:.1} s (synchronous=OFF, filling only)",
        start.elapsed().as_secs_f64()
    );

    b.take_spent();
    let start = Instant::now();
    let s = t.settle().expect("settle");
    let took = start.elapsed();
    let host = b.take_spent();
    assert!(s.balanced && s.uploaded == 0, "balanced settlement: {s:?}");
    let within = took <= SETTLE_BUDGET;
    ok &= within;
    println!(
        "settle a batch of {rows} (balanced, synchronous=FULL): {:.1} ms (host {:.1} ms) <= {} ms: {}",
        took.as_secs_f64() * 1e3,
        host.as_secs_f64() * 1e3,
        SETTLE_BUDGET.as_millis(),
        verdict(within)
    );
    drop(t);

    // Cold start in a fresh process, so its resident memory is the terminal's alone.
    let size = std::fs::metadata(b.journal_path())
        .map(|m| m.len())
        .unwrap_or(0);
    let out = std::process::Command::new(std::env::current_exe().expect("own path"))
        .arg("cold-start")
        .arg(&b.dir)
        .arg(b.host.addr())
        .output()
        .expect("cold-start child");
    print!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    println!(
        "  (journal of {rows} settled rows, {:.1} MB on disk)",
        size as f64 / 1e6
    );
    ok &= out.status.success();

    // A second batch, settled unbalanced: every record is uploaded.
    let t = b.terminal();
    fill(&t, rows);
    b.host.fault("unbalanced_settlement", 1);
    b.take_spent();
    let start = Instant::now();
    let s = t.settle().expect("settle");
    let took = start.elapsed();
    let host = b.take_spent();
    assert_eq!(s.uploaded as usize, rows, "records uploaded: {s:?}");
    println!(
        "settle a batch of {rows} unbalanced, uploading {} records (synchronous=FULL): {:.2} s (host {:.2} s, terminal {:.2} s)",
        s.uploaded,
        took.as_secs_f64(),
        host.as_secs_f64(),
        took.saturating_sub(host).as_secs_f64()
    );
    drop(t);
    let _ = std::fs::remove_dir_all(&b.dir);
    ok
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "ok"
    } else {
        "OVER BUDGET"
    }
}

/// Resident memory of this process, kB (VmRSS of /proc/self/status).
fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Child: open a terminal on the journal in `dir` (the TCP transport, nothing is sent) and report.
fn cold_start(dir: &str, host_addr: &str) -> bool {
    let json = serde_json::json!({
        "tid": TID, "mid": MID,
        "gateway": {"address": host_addr, "tpdu": "6000030000"},
        "platform": {"address": host_addr, "tpdu": "6000050000"},
        "journal_path": std::path::Path::new(dir).join("journal.db").to_string_lossy(),
        "device": {"serial": DEVICE_SN, "model": "e2e"},
        "seal_key": SEAL_KEY_HEX
    });
    let config = possdk_core::Config::from_json(&json.to_string()).expect("config");
    let before = rss_kb();
    let start = Instant::now();
    let t = Terminal::new(config, Hal::default()).expect("terminal opens");
    let took = start.elapsed();
    let after = rss_kb();
    let status = t.status().expect("status");
    std::hint::black_box(&status);
    let fast = took <= COLD_START_BUDGET;
    let small = after <= RSS_BUDGET_KB;
    println!(
        "cold start (Terminal::new on the journal, fresh process): {:.2} ms <= {} ms: {}",
        took.as_secs_f64() * 1e3,
        COLD_START_BUDGET.as_millis(),
        verdict(fast)
    );
    println!(
        "  resident memory with the terminal open: {:.1} MB (+{:.1} MB for the open) <= {} MB: {}",
        after as f64 / 1024.0,
        after.saturating_sub(before) as f64 / 1024.0,
        RSS_BUDGET_KB / 1024,
        verdict(small)
    );
    fast && small
}

fn flag(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let ok = match args.first().map(String::as_str) {
        Some("sale") => bench_sale(flag(&args, "--count", 2000)),
        Some("journal") => bench_journal(flag(&args, "--rows", 10_000)),
        Some("cold-start") if args.len() == 3 => cold_start(&args[1], &args[2]),
        _ => {
            eprintln!("usage: perf-bench sale [--count N] | journal [--rows N]");
            return ExitCode::from(2);
        }
    };
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
