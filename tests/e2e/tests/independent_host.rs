//! possdk against a gateway it did not write: tests/dialect/lotus_host.py, a Python acquirer host written
//! from tests/dialect/SPEC.md and docs/PROTOCOL.md alone, serving the Lotus dialect. The terminal is given
//! nothing but the profile file tests/dialect/lotus.json. Activation and the master-key download happen at
//! possdk-host (the management platform, with the fixed TMK of SPEC §8); then the terminal's gateway
//! points at the Python host (and its platform nowhere: Lotus settles at the gateway) for a whole day: sign-in, sales with PIN (and a wrong PIN), a
//! void, a refund advice whose first answer is lost (resent, credited once), a reversal after a lost
//! answer, a balance inquiry, a balanced settlement, and a second batch settled through a batch upload.
//! The Python host's log shows what went over the wire.
//!
//! Python 3 with the `cryptography` module is required: without it this test fails (it never skips).

use possdk_core::api::{OriginalRef, Payment};
use possdk_core::hal::Hal;
use possdk_core::{Config, Terminal};
use possdk_e2e::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// The opening balance of the test card at the Lotus host (SPEC §8), in fen.
const OPENING_BALANCE: i64 = 1_000_000;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

fn card() -> Option<possdk_core::api::CardInput> {
    Some(swipe(&CUP_SWIPE))
}

/// Fails (never skips) when python3 or its `cryptography` module is missing.
fn require_python() {
    let ok = Command::new("python3")
        .args(["-c", "import cryptography"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    assert!(
        ok,
        "python3 with the `cryptography` module is required for the independent Lotus host \
         (apt-get install python3-cryptography){}",
        if ci {
            " — CI=true: this must not be skipped"
        } else {
            ""
        }
    );
}

/// The Python host as a child process; dropping it closes its stdin (it exits) and reaps it.
struct LotusHost {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    addr: String,
}

impl LotusHost {
    fn start(log: &Path) -> LotusHost {
        let script = repo_root().join("tests/dialect/lotus_host.py");
        let mut child = Command::new("python3")
            .arg(&script)
            .args(["--listen", "127.0.0.1:0", "--log"])
            .arg(log)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 starts");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut host = LotusHost {
            child,
            stdin,
            stdout,
            addr: String::new(),
        };
        let first = host.line();
        host.addr = first["listening"]
            .as_str()
            .unwrap_or_else(|| panic!("listening line: {first}"))
            .to_string();
        host
    }

    fn line(&mut self) -> Value {
        let mut line = String::new();
        let n = self.stdout.read_line(&mut line).expect("read the host");
        assert!(n > 0, "the Lotus host exited (see its stderr)");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("host line {line:?}: {e}"))
    }

    /// A test control line (`drop 1`: process the next request but close the connection instead of
    /// answering; `unbalance 1`: answer the next settlement not balanced), once the host acknowledged it.
    fn control(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("write to the host");
        stdin.flush().expect("flush");
        assert_eq!(self.line(), json!({ "ack": line }));
    }
}

impl Drop for LotusHost {
    fn drop(&mut self) {
        drop(self.stdin.take()); // EOF on stdin: the host exits
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn log_entries(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("host log")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("log line {l}: {e}")))
        .collect()
}

fn requests<'a>(log: &'a [Value], mti: &str) -> Vec<&'a Value> {
    log.iter()
        .filter(|e| e["dir"] == "request" && e["mti"] == mti)
        .collect()
}

#[test]
fn a_day_against_an_independent_lotus_host() {
    require_python();
    let profile = repo_root().join("tests/dialect/lotus.json");
    let profile = json!(profile.to_string_lossy());
    let dir = temp_dir("indep-term");
    let log_dir = temp_dir("indep-log");
    let log_path = log_dir.join("lotus.log");

    // 1. Activation and master key at possdk-host, the management platform (fixed TMK = SPEC §8's).
    let platform = TestHost::start_profile_fixed_keys("indep-platform", profile);
    let mut cfg = platform.config_json(&dir, 5000);
    {
        let t = Terminal::new(
            Config::from_json(&cfg.to_string()).expect("config"),
            Hal::default(),
        )
        .expect("terminal opens");
        t.activate(DEVICE_TOKEN).expect("activation");
        t.download_master_key().expect("master key");
    }
    platform.shutdown();

    // 2. The same terminal (same journal and key store) now talks to the Lotus gateway only. SPEC puts
    //    settlement and batch upload at the gateway (the profile's `routes`): the platform address is a
    //    port nobody listens on, so a message sent there would fail the day.
    let mut lotus = LotusHost::start(&log_path);
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    cfg["gateway"]["address"] = json!(lotus.addr);
    cfg["platform"]["address"] = json!(closed.to_string());
    let t = Terminal::new(
        Config::from_json(&cfg.to_string()).expect("config"),
        Hal::default(),
    )
    .expect("terminal reopens");

    // 3. The day.
    t.sign_in().expect("sign-in at the Lotus gateway");
    let sale = t.sale(12_345, Payment::Card(card())).expect("sale");
    assert!(sale.approved, "{sale:?}");
    assert_eq!(sale.card_org.as_deref(), Some("CUP"), "{sale:?}");
    let reference = sale.reference.clone().expect("a reference");
    assert_eq!(reference.len(), 12, "{sale:?}");
    assert_eq!(sale.auth_code.as_deref().map(str::len), Some(6), "{sale:?}");

    let sale2 = t.sale(5_000, Payment::Card(card())).expect("sale 2");
    assert!(sale2.approved, "{sale2:?}");
    let void = t.void(sale2.stan, card()).expect("void");
    assert!(void.approved, "{void:?}");

    // The refund advice's first answer is lost: the terminal resends the same advice, and the Lotus
    // host answers the resend with its first answer without crediting twice (checked by the balance).
    lotus.control("drop 1");
    let refund = t
        .refund(
            3_000,
            OriginalRef {
                reference: Some(reference),
                date: Some(sale.datetime[5..10].replace('-', "")),
                ..Default::default()
            },
            card(),
        )
        .expect("refund");
    assert!(refund.approved, "{refund:?}");

    // A wrong PIN is declined 55 by the Lotus host, which decrypts the PIN block under its PIK.
    let wrong = t
        .sale(
            700,
            Payment::Card(Some(swipe_with_pin(&CUP_SWIPE, Some("654321")))),
        )
        .expect("a decline is a result");
    assert!(!wrong.approved && wrong.response_code == "55", "{wrong:?}");

    // A lost answer: the Lotus host debits, closes without answering; the terminal reverses it.
    lotus.control("drop 1");
    let lost = t.sale(4_000, Payment::Card(card()));
    assert!(lost.is_err(), "{lost:?}");
    let after = t
        .sale(500, Payment::Card(card()))
        .expect("sale after the reversal");
    assert!(after.approved, "{after:?}");
    assert!(t.status().expect("status").pending_reversal.is_none());

    // The balance the Lotus host reports: opening balance - sales + refund (the void and the reversal
    // gave back what they took).
    let bal = t.balance(card()).expect("balance");
    assert!(bal.approved, "{bal:?}");
    assert_eq!(
        bal.balance,
        Some(OPENING_BALANCE - 12_345 - 500 + 3_000),
        "{bal:?}"
    );

    let s = t.settle().expect("settle");
    assert!(s.balanced, "{s:?}");
    assert_eq!(s.terminal, s.host, "{s:?}");
    assert_eq!(s.uploaded, 0, "{s:?}");
    let dom = s.terminal.domestic;
    assert_eq!(
        (
            dom.debit.count,
            dom.debit.amount,
            dom.credit.count,
            dom.credit.amount
        ),
        (2, 12_845, 1, 3_000),
        "{s:?}"
    );

    // A second batch that the Lotus host answers "not balanced": the terminal uploads its two counted
    // transactions (0320 201) and ends the upload (0320 202), which the host finds balanced.
    let sale3 = t.sale(2_000, Payment::Card(card())).expect("sale 3");
    assert!(sale3.approved && sale3.batch == s.next_batch, "{sale3:?}");
    let refund3 = t
        .refund(
            500,
            OriginalRef {
                reference: sale3.reference.clone(),
                date: Some(sale3.datetime[5..10].replace('-', "")),
                ..Default::default()
            },
            card(),
        )
        .expect("refund 3");
    assert!(refund3.approved, "{refund3:?}");
    lotus.control("unbalance 1");
    let s2 = t.settle().expect("settle after an upload");
    assert!(s2.balanced, "{s2:?}");
    assert_eq!(s2.uploaded, 2, "{s2:?}");
    let dom = s2.terminal.domestic;
    assert_eq!(
        (
            dom.debit.count,
            dom.debit.amount,
            dom.credit.count,
            dom.credit.amount
        ),
        (1, 2_000, 1, 500),
        "{s2:?}"
    );
    drop(t);
    drop(lotus); // closes its stdin and waits for it

    // 4. What went over the wire, as the Lotus host read it.
    let log = log_entries(&log_path);
    let text = std::fs::read_to_string(&log_path).expect("host log");
    assert!(!text.contains(CUP_SWIPE.pan), "a clear PAN in the host log");
    assert!(log.iter().all(|e| e["dir"] != "error"), "{text}");
    // Every answer approved but the wrong PIN's: no format error, MAC error or duplicate on the way.
    let codes: Vec<&str> = log
        .iter()
        .filter(|e| e["dir"] == "response")
        .filter_map(|e| e["rc"].as_str())
        .collect();
    assert_eq!(
        codes.iter().filter(|c| **c != "00").collect::<Vec<_>>(),
        [&"55"],
        "{codes:?}"
    );

    let sign_in = requests(&log, "0800");
    assert_eq!(sign_in.len(), 1, "{sign_in:?}");
    assert_eq!(sign_in[0]["f60"].as_str().map(|s| &s[8..]), Some("001"));
    assert_eq!(sign_in[0]["f63"], "001");

    let f0200 = requests(&log, "0200");
    let sale_req = f0200
        .iter()
        .find(|e| e["f3"] == "000000" && e["f11"] == format!("{:06}", sale.stan))
        .expect("the sale on the wire");
    let f60 = sale_req["f60"].as_str().expect("60");
    assert_eq!(f60.len(), 15, "{f60}");
    assert!(f60.starts_with("22") && f60.ends_with("01"), "{f60}");
    assert_eq!(&f60[2..8], format!("{:06}", sale.batch));
    assert_eq!(sale_req["f53"], "2600000000000000", "{sale_req}");

    let void_req = f0200
        .iter()
        .find(|e| e["f3"] == "200000")
        .expect("the void on the wire");
    assert_eq!(
        void_req["f61"],
        format!("{:06}{:06}", sale2.batch, sale2.stan)
    );
    assert!(void_req["f60"]
        .as_str()
        .is_some_and(|s| s.starts_with("23")));

    // The refund advice twice (its first answer dropped), the same STAN and content both times.
    let refund_req: Vec<_> = requests(&log, "0220")
        .into_iter()
        .filter(|e| e["f11"] == format!("{:06}", refund.stan))
        .collect();
    assert_eq!(refund_req.len(), 2, "{refund_req:?}");
    assert_eq!(refund_req[0], refund_req[1]);
    let f61 = refund_req[0]["f61"].as_str().expect("61");
    assert_eq!(f61.len(), 18, "{f61}");
    assert_eq!(&f61[12..14], "00", "{f61}: 61.3 before the date");
    assert_eq!(refund_req[0]["f63"], "00CUP");

    let reversal = requests(&log, "0400");
    assert_eq!(reversal.len(), 1, "{reversal:?}");
    assert_eq!(reversal[0]["f39"], "98");
    assert_eq!(reversal[0]["f4"], "000000004000");
    assert_eq!(reversal[0]["f60"].as_str().map(str::len), Some(15));

    let settle = requests(&log, "0500");
    assert_eq!(settle.len(), 2, "{settle:?}");
    let f48 = settle[0]["f48"].as_str().expect("48");
    assert_eq!(f48.len(), 66, "{f48}");
    assert_eq!(&f48[..33], "000000012845000200000000300000010");
    assert_eq!(settle[0]["f60"].as_str().map(|s| &s[8..]), Some("501"));
    assert_eq!(settle[0]["f63"], "001");

    let _ = std::fs::remove_dir_all(&dir);
    let uploads = requests(&log, "0320");
    assert_eq!(uploads.len(), 3, "{uploads:?}");
    for (record, stan) in uploads[..2].iter().zip([sale3.stan, refund3.stan]) {
        let f60 = record["f60"].as_str().expect("60");
        assert_eq!(f60.len(), 11, "{f60}");
        assert!(f60.ends_with("201"), "{f60}");
        let f61 = record["f61"].as_str().expect("61");
        assert_eq!(f61.len(), 18, "{f61}");
        assert_eq!(
            &f61[..14],
            format!("{:06}{:06}00", sale3.batch, stan),
            "{f61}"
        );
    }
    assert_eq!(uploads[2]["f48"], "0002");
    assert!(uploads[2]["f60"]
        .as_str()
        .is_some_and(|s| s.ends_with("202")));
    let end = log
        .iter()
        .rev()
        .find(|e| e["dir"] == "response" && e["mti"] == "0330")
        .expect("the upload end's answer");
    assert_eq!(end["f48"], "1", "{end}");

    let _ = std::fs::remove_dir_all(&log_dir);
}
