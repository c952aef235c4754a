//! possdk-demo: a full terminal day against an in-process possdk-host (temp dir, ephemeral port):
//! activation -> TMK -> sign-in -> AIDs/CAPKs -> every transaction, card and QR -> a host that never
//! answers, reversed -> detail query -> settlement. Prints each step and a receipt; exits 0, or non-zero
//! on any unexpected result. `--key-family sm` runs the day in the SM key family (docs/PROTOCOL.md §11: SM2
//! master-key download, SM4 keys, CUP-SM4 MACs, tracks encrypted under SM4); the default is `tdes`.

use possdk_core::api::{OriginalRef, Payment, TransactionResult};
use possdk_core::{ErrorKind, Terminal};
use possdk_e2e::*;
use possdk_sim::{SimCard, SimDevices, SimPin};
use std::process::ExitCode;

struct Day<'a> {
    failures: Vec<String>,
    /// Operations the acquirer profile has no transaction for (docs/PROFILES.md §6).
    absent: Vec<String>,
    dev: &'a SimDevices,
}

impl Day<'_> {
    /// An operation refused unsent because the acquirer profile lacks its kind: noted, not a failure.
    /// The card, PIN or code queued for it was never read: dropped, so the next step gets its own.
    fn not_in_profile(&mut self, what: &str, e: &possdk_core::Error) -> bool {
        let absent = e.kind == ErrorKind::InvalidRequest
            && e.message.starts_with("the acquirer profile")
            && e.message.contains(" has no ");
        if absent {
            println!("  --   {what}: {}", e.message);
            self.absent.push(what.to_string());
            self.dev.reader.clear_queue();
            self.dev.pin_pad.clear_queue();
            self.dev.qr.clear_queue();
        }
        absent
    }

    fn check(&mut self, what: &str, ok: bool, detail: String) {
        if ok {
            println!("  ok   {what}: {detail}");
        } else {
            println!("  FAIL {what}: {detail}");
            self.failures.push(what.to_string());
        }
    }

    /// A transaction that must be approved.
    fn approved(
        &mut self,
        what: &str,
        r: possdk_core::Result<TransactionResult>,
    ) -> Option<TransactionResult> {
        match r {
            Ok(r) => {
                let detail = format!(
                    "{} {} stan {:06} amount {} ref {} auth {}",
                    r.response_code,
                    r.message,
                    r.stan,
                    r.amount,
                    r.reference.as_deref().unwrap_or("-"),
                    r.auth_code.as_deref().unwrap_or("-")
                );
                self.check(what, r.approved, detail);
                Some(r)
            }
            Err(e) => {
                if !self.not_in_profile(what, &e) {
                    self.check(what, false, e.to_string());
                }
                None
            }
        }
    }

    fn declined(&mut self, what: &str, code: &str, r: possdk_core::Result<TransactionResult>) {
        match r {
            Ok(r) => self.check(
                what,
                !r.approved && r.response_code == code,
                format!("{} {}", r.response_code, r.message),
            ),
            Err(e) => {
                if !self.not_in_profile(what, &e) {
                    self.check(what, false, e.to_string());
                }
            }
        }
    }
}

fn date_of(r: &TransactionResult) -> String {
    r.datetime.get(5..10).unwrap_or("00-00").replace('-', "")
}

fn print_receipt(r: &TransactionResult) {
    println!("  +----------------------------------------------------------------+");
    for line in &r.receipt {
        println!("  | {line:<62} |");
    }
    println!("  +----------------------------------------------------------------+");
}

fn run(day: &mut Day, host: &TestHost, t: &Terminal, dev: &SimDevices) {
    println!("== initialisation");
    match t.activate(DEVICE_TOKEN) {
        Ok(a) => day.check(
            "activation",
            true,
            format!("merchant '{}', batch {:06}", a.merchant_name, a.batch),
        ),
        Err(e) => return day.check("activation", false, e.to_string()),
    }
    match t.download_master_key() {
        Ok(m) => day.check(
            "master key",
            true,
            format!("TMK check value {}", m.tmk_check_value),
        ),
        Err(e) => return day.check("master key", false, e.to_string()),
    }
    match t.sign_in() {
        Ok(s) => day.check(
            "sign-in",
            true,
            format!("batch {:06} at {}", s.batch, s.datetime),
        ),
        Err(e) => return day.check("sign-in", false, e.to_string()),
    }
    match t.download_aids() {
        Ok(d) => day.check("AIDs", d.count > 0, format!("{} loaded", d.count)),
        Err(e) => day.check("AIDs", false, e.to_string()),
    }
    match t.download_capks() {
        Ok(d) => day.check(
            "CAPKs",
            d.count > 0,
            format!("{} loaded, {} rejected", d.count, d.rejected),
        ),
        Err(e) => day.check("CAPKs", false, e.to_string()),
    }

    println!("== card transactions (simulated reader and PIN pad)");
    // Every card operation: the cardholder presents the card, the PIN pad enters its PIN.
    let swipe_ok = || {
        dev.reader.push(SimCard::swipe(&CUP_SWIPE));
        Payment::Card(None)
    };
    let present = |card: SimCard| {
        dev.reader.push(card);
        None
    };
    let sale = day.approved("swipe sale 123.45", t.sale(12_345, swipe_ok()));
    if let Some(s) = &sale {
        print_receipt(s);
        day.approved(
            "void of the sale",
            t.void(s.stan, present(SimCard::swipe(&CUP_SWIPE))),
        );
    }
    let sale2 = day.approved("swipe sale 100.00", t.sale(10_000, swipe_ok()));
    if let Some(s2) = &sale2 {
        if let Some(tip) = day.approved("tip 15.00", t.tip(s2.stan, 1_500)) {
            print_receipt(&tip);
            day.approved("tip void", t.tip_void(tip.stan));
        }
        let orig = OriginalRef {
            reference: s2.reference.clone(),
            date: Some(date_of(s2)),
            ..Default::default()
        };
        day.approved(
            "refund 30.00",
            t.refund(3_000, orig, present(SimCard::swipe(&CUP_SWIPE))),
        );
    }
    if let Some(b) = day.approved(
        "balance inquiry",
        t.balance(present(SimCard::swipe(&CUP_SWIPE))),
    ) {
        println!("       balance: {:?} fen", b.balance);
    }
    let pref = |p: &TransactionResult| OriginalRef {
        auth_code: p.auth_code.clone(),
        date: Some(date_of(p)),
        batch: Some(p.batch),
        stan: Some(p.stan),
        reference: p.reference.clone(),
        voucher: p.voucher.clone(),
    };
    if let Some(pa) = day.approved("pre-auth 200.00", t.preauth(20_000, swipe_ok())) {
        day.approved(
            "pre-auth void",
            t.preauth_void(20_000, pref(&pa), present(SimCard::swipe(&CUP_SWIPE))),
        );
    }
    if let Some(pa) = day.approved("pre-auth 200.00", t.preauth(20_000, swipe_ok())) {
        if let Some(c) = day.approved(
            "completion 230.00",
            t.preauth_complete(23_000, pref(&pa), present(SimCard::swipe(&CUP_SWIPE))),
        ) {
            day.approved(
                "completion void",
                t.preauth_complete_void(c.stan, present(SimCard::swipe(&CUP_SWIPE))),
            );
        }
    }
    dev.reader.push(SimCard::chip(&CUP_CHIP));
    if let Some(c) = day.approved(
        "contact chip sale (ARQC / ARPC)",
        t.sale(4_200, Payment::Card(None)),
    ) {
        print_receipt(&c);
    }
    dev.reader.push(SimCard::contactless(&VISA_CHIP));
    day.approved(
        "contactless foreign card sale",
        t.sale(5_000, Payment::Card(None)),
    );
    dev.reader.push(SimCard::swipe(&CUP_SWIPE));
    dev.pin_pad.push(SimPin::pin("000000"));
    day.declined("wrong PIN", "55", t.sale(1_000, Payment::Card(None)));
    dev.reader.push(SimCard::swipe(&CUP_LOW_BALANCE));
    day.declined(
        "insufficient funds",
        "51",
        t.sale(50_000, Payment::Card(None)),
    );
    dev.reader.push(SimCard::swipe(&CUP_EXPIRED));
    day.declined("expired card", "54", t.sale(1_000, Payment::Card(None)));
    dev.reader.push(SimCard::swipe(&CUP_LOST));
    day.declined("lost card", "41", t.sale(1_000, Payment::Card(None)));

    println!("== QR transactions (simulated scanner)");
    dev.qr.push(QR_CODE);
    if let Some(q) = day.approved("QR sale 88.00", t.sale(8_800, Payment::Qr(None))) {
        print_receipt(&q);
        day.approved("QR void", t.void(q.stan, None));
    }
    dev.qr.push(QR_CODE_2);
    if let Some(q) = day.approved("QR sale 50.00", t.sale(5_000, Payment::Qr(None))) {
        day.approved("QR refund 10.00", t.refund(1_000, pref(&q), None));
    }
    dev.qr.push(QR_CODE);
    if let Some(p) = day.approved("QR pre-auth 90.00", t.preauth(9_000, Payment::Qr(None))) {
        day.approved("QR pre-auth void", t.preauth_void(9_000, pref(&p), None));
    }
    dev.qr.push(QR_CODE_2);
    if let Some(p) = day.approved("QR pre-auth 90.00", t.preauth(9_000, Payment::Qr(None))) {
        if let Some(c) = day.approved(
            "QR completion 95.00",
            t.preauth_complete(9_500, pref(&p), None),
        ) {
            day.approved("QR completion void", t.preauth_complete_void(c.stan, None));
        }
    }

    println!("== a host that never answers");
    host.fault("no_answer", 2);
    dev.reader.push(SimCard::swipe(&CUP_SWIPE));
    match t.sale(6_600, Payment::Card(None)) {
        Err(e) if e.kind == ErrorKind::HostTimeout => {
            day.check("sale without answer", true, e.message.clone())
        }
        other => day.check("sale without answer", false, format!("{other:?}")),
    }
    match t.status() {
        Ok(s) => day.check(
            "reversal pending",
            s.pending_reversal.is_some(),
            format!("{:?}", s.pending_reversal),
        ),
        Err(e) => day.check("reversal pending", false, e.to_string()),
    }
    host.clear_faults();
    dev.reader.push(SimCard::swipe(&CUP_SWIPE));
    day.approved(
        "next sale (the reversal goes first)",
        t.sale(2_000, Payment::Card(None)),
    );
    match t.status() {
        Ok(s) => day.check(
            "reversal delivered",
            s.pending_reversal.is_none(),
            format!("{:?}", s.pending_reversal),
        ),
        Err(e) => day.check("reversal delivered", false, e.to_string()),
    }

    println!("== detail query");
    match t.query_details(None) {
        Ok(d) => {
            day.check(
                "detail query",
                !d.records.is_empty(),
                format!("{} records", d.records.len()),
            );
            for r in d.records.iter().take(5) {
                println!(
                    "       {:06} {:<22} {:>10} {:<8} {}",
                    r.stan,
                    r.kind,
                    r.amount,
                    r.state,
                    r.masked_pan
                        .as_deref()
                        .or(r.voucher.as_deref())
                        .unwrap_or("")
                );
            }
        }
        Err(e) => day.check("detail query", false, e.to_string()),
    }

    println!("== settlement");
    let host_totals = host.totals();
    match t.settle() {
        Ok(s) => {
            println!(
                "       terminal: {}",
                serde_json::to_string(&s.terminal).unwrap_or_default()
            );
            println!(
                "       host:     {}",
                serde_json::to_string(&s.host).unwrap_or_default()
            );
            day.check(
                "terminal totals == host ledger",
                s.terminal == host_totals,
                format!("{host_totals:?}"),
            );
            day.check(
                "settlement",
                s.balanced,
                format!(
                    "batch {:06} balanced {} uploaded {} next batch {:06}",
                    s.batch, s.balanced, s.uploaded, s.next_batch
                ),
            );
        }
        Err(e) => day.check("settlement", false, e.to_string()),
    }
}

fn main() -> ExitCode {
    let _ = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
        .try_init();
    // `--profile NAME|PATH`: the acquirer profile both the host and the terminal speak (docs/PROFILES.md);
    // `--key-family tdes|sm`: the terminal's key family (docs/PROTOCOL.md §11).
    let usage = || {
        eprintln!("usage: possdk-demo [--profile NAME|PATH] [--key-family tdes|sm]");
        ExitCode::from(2)
    };
    let mut family = possdk_core::crypto::KeyFamily::Tdes;
    let mut profile: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--key-family", Some(name)) => {
                match possdk_core::crypto::KeyFamily::from_name(&name) {
                    Some(f) => family = f,
                    None => {
                        eprintln!("possdk-demo: --key-family: tdes or sm, not {name:?}");
                        return ExitCode::from(2);
                    }
                }
            }
            ("--profile", Some(value)) => profile = Some(value),
            _ => return usage(),
        }
    }
    println!("possdk demo: a terminal day against possdk-host, {family} key family");
    let host = match profile {
        Some(p) => {
            let checked = possdk_core::acquirer::Profile::from_config(Some(&p.clone().into()))
                .and_then(|loaded| loaded.check_family(family));
            if let Err(e) = checked {
                eprintln!("possdk-demo: --profile {p}: {e}");
                return ExitCode::from(2);
            }
            println!("acquirer profile: {p}");
            TestHost::start_profile("demo", p.into())
        }
        None => TestHost::start("demo"),
    };
    host.set_key_family(family.name());
    println!("host listening on {}", host.addr());
    let dir = temp_dir("demo-terminal");
    let dev = SimDevices::new();
    // Tracks are encrypted in the SM family, to show SM4 track encryption too.
    let t = match Terminal::new(
        host.config_in(
            &dir,
            family.name(),
            family == possdk_core::crypto::KeyFamily::Sm,
        ),
        dev.hal(),
    ) {
        Ok(t) => t,
        Err(e) => {
            println!("demo FAILED: terminal: {e}");
            return ExitCode::FAILURE;
        }
    };
    match t.status() {
        Ok(s) => println!("terminal key family: {}", s.key_family),
        Err(e) => println!("status: {e}"),
    }
    let mut day = Day {
        failures: Vec::new(),
        absent: Vec::new(),
        dev: &dev,
    };
    run(&mut day, &host, &t, &dev);
    println!("events seen by the app: {}", dev.events.snapshot().len());
    drop(t);
    host.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
    if !day.absent.is_empty() {
        println!(
            "not in the acquirer profile (not run): {}",
            day.absent.join(", ")
        );
    }
    if day.failures.is_empty() {
        println!("demo complete: every step as expected");
        ExitCode::SUCCESS
    } else {
        println!("demo FAILED: {}", day.failures.join(", "));
        ExitCode::FAILURE
    }
}
