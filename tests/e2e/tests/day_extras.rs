//! The gateway session and store-and-forward end to end against possdk-host: sign-off, echo
//! (docs/PROTOCOL.md §3.9, §3.10).

use possdk_core::api::Payment;
use possdk_core::hal::Hal;
use possdk_core::ErrorKind;
use possdk_e2e::*;

#[test]
fn sign_off_erases_the_keys_and_the_next_sale_needs_a_sign_in() {
    let host = TestHost::start("day-signoff");
    let dir = temp_dir("day-signoff-term");
    let t = host.ready(&dir, Hal::default());
    assert!(
        t.sale(1_000, Payment::Card(Some(swipe(&CUP_SWIPE))))
            .unwrap()
            .approved
    );

    let off = t.sign_off().unwrap();
    assert!(off.sent);
    assert_eq!(off.response_code.as_deref(), Some("00"));
    assert!(!t.status().unwrap().signed_in);

    // Nothing financial goes out before a sign-in, and nothing is recorded.
    let before = host.message_count();
    let e = t
        .sale(1_000, Payment::Card(Some(swipe(&CUP_SWIPE))))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotSignedIn, "{e}");
    assert_eq!(e.outcome, Some(possdk_core::Outcome::NotSent));
    assert_eq!(host.message_count(), before);

    // A second sign-off is local: nothing to sign off at the host.
    let again = t.sign_off().unwrap();
    assert!(!again.sent);
    assert_eq!(host.message_count(), before);

    // The host dropped its keys too: after a sign-in the terminal works again.
    t.sign_in().unwrap();
    assert!(
        t.sale(2_000, Payment::Card(Some(swipe(&CUP_SWIPE))))
            .unwrap()
            .approved
    );
    let s = t.settle().unwrap();
    assert!(s.balanced, "{s:?}");
    assert_eq!(s.terminal.domestic.debit.amount, 3_000);
    host.shutdown();
}

#[test]
fn sign_off_without_an_answer_still_signs_out_and_the_host_keeps_the_old_keys_harmless() {
    let host = TestHost::start("day-signoff-lost");
    let dir = temp_dir("day-signoff-lost-term");
    let t = host.ready(&dir, Hal::default());
    host.fault("no_answer", 1);
    let off = t.sign_off().unwrap();
    assert!(off.sent);
    assert_eq!(off.response_code, None);
    assert!(!t.status().unwrap().signed_in);
    // The host did process it (the answer was lost): a new sign-in replaces the keys either way.
    t.sign_in().unwrap();
    assert!(
        t.sale(1_500, Payment::Card(Some(swipe(&CUP_SWIPE))))
            .unwrap()
            .approved
    );
    assert!(t.settle().unwrap().balanced);
    host.shutdown();
}

#[test]
fn echo_is_a_round_trip_that_changes_nothing() {
    let host = TestHost::start("day-echo");
    let dir = temp_dir("day-echo-term");
    let t = host.ready(&dir, Hal::default());
    let before = t.status().unwrap();
    let e = t.echo().unwrap();
    assert_eq!(e.response_code, "00");
    assert!(e.maced, "a signed-in terminal MACs its echo");
    assert_eq!(e.datetime.len(), 19, "{e:?}");
    let after = t.status().unwrap();
    assert!(after.signed_in);
    assert_eq!(after.batch, before.batch);
    assert_eq!(host.totals(), possdk_core::api::SettlementTotals::default());

    // Signed off: the echo still works, without a MAC.
    t.sign_off().unwrap();
    let e = t.echo().unwrap();
    assert!(!e.maced);
    assert_eq!(e.response_code, "00");

    // A corrupted MAC on the answer of a MAC'd echo fails it and signs the terminal out.
    t.sign_in().unwrap();
    host.fault("wrong_mac", 1);
    let err = t.echo().unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidResponse, "{err}");
    assert!(!t.status().unwrap().signed_in);

    // No answer: host_timeout.
    t.sign_in().unwrap();
    host.fault("no_answer", 1);
    assert_eq!(t.echo().unwrap_err().kind, ErrorKind::HostTimeout);
    host.shutdown();
}

// ---- store-and-forward: the IC card TC upload and the script results (docs/PROTOCOL.md §8.4, §8.6) ----

use possdk_core::hal::{CancelToken, Endpoint, Transport, TransportError};
use possdk_sim::{SimCard, SimDevices};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

fn is_0320(frame: &[u8]) -> bool {
    frame.get(13..15) == Some(&[0x03, 0x20])
}

fn is_0220(frame: &[u8]) -> bool {
    frame.get(13..15) == Some(&[0x02, 0x20])
}

/// TCP, but the answers to the next `drop` 0320 or 0220 requests are lost (the host processed them), and
/// with `crash` the process "dies" right after one went out.
struct Lossy {
    inner: possdk_core::transport::TcpTransport,
    drop: Arc<AtomicU32>,
    crash: Arc<AtomicBool>,
}

impl Lossy {
    /// The devices without the signature pad (its uploads would go with the ones under test).
    fn hal(dev: &SimDevices, drop: &Arc<AtomicU32>, crash: &Arc<AtomicBool>) -> Hal {
        let mut hal = dev.hal();
        hal.signature_pad = None;
        hal.transport = Some(Box::new(Lossy {
            inner: Default::default(),
            drop: drop.clone(),
            crash: crash.clone(),
        }));
        hal
    }
}

impl Transport for Lossy {
    fn exchange(
        &mut self,
        endpoint: &Endpoint,
        frame: &[u8],
        cancel: &CancelToken,
    ) -> Result<Vec<u8>, TransportError> {
        let result = self.inner.exchange(endpoint, frame, cancel);
        if is_0320(frame) || is_0220(frame) {
            if self.crash.load(Ordering::SeqCst) {
                panic!("simulated crash right after sending a 0320");
            }
            if self
                .drop
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                return Err(TransportError::Timeout);
            }
        }
        result
    }
}

fn chip_uploads(host: &TestHost) -> Vec<serde_json::Value> {
    let v = host.admin(serde_json::json!({"cmd": "chip_uploads", "tid": TID}));
    v["uploads"].as_array().cloned().unwrap_or_default()
}

fn of_class<'a>(list: &'a [serde_json::Value], class: &str) -> Vec<&'a serde_json::Value> {
    list.iter().filter(|u| u["class"] == class).collect()
}

#[test]
fn an_approved_chip_sale_uploads_its_tc_at_once() {
    let host = TestHost::start("day-tc");
    let dir = temp_dir("day-tc-term");
    let dev = SimDevices::new();
    let t = host.ready(&dir, dev.hal());
    dev.reader.push(SimCard::chip(&CUP_CHIP));
    let r = t.sale(2_500, Payment::Card(None)).unwrap();
    assert!(r.approved, "{r:?}");
    let ups = chip_uploads(&host);
    let tcs = of_class(&ups, "tc");
    assert_eq!(tcs.len(), 1, "{ups:?}");
    assert_eq!(tcs[0]["stan"], r.stan);
    assert_eq!(of_class(&ups, "signature").len(), 1, "the sale was signed");
    assert_eq!(tcs[0]["batch"], r.batch);
    assert_eq!(tcs[0]["verified"], true, "the host verified the card's TC");
    assert_eq!(t.status().unwrap().unsent_uploads, 0);
    // A swiped sale owes no TC.
    assert!(
        t.sale(1_000, Payment::Card(Some(swipe(&CUP_SWIPE))))
            .unwrap()
            .approved
    );
    assert_eq!(of_class(&chip_uploads(&host), "tc").len(), 1);
    let s = t.settle().unwrap();
    assert!(s.balanced, "{s:?}");
    assert_eq!(s.terminal.domestic.debit.amount, 3_500);
    host.shutdown();
}

#[test]
fn a_tc_upload_whose_answer_is_lost_is_resent_once_delivered_before_settlement() {
    let host = TestHost::start("day-tc-lost");
    let dir = temp_dir("day-tc-lost-term");
    let dev = SimDevices::new();
    let drop = Arc::new(AtomicU32::new(0));
    let crash = Arc::new(AtomicBool::new(false));
    let t = host.ready(&dir, Lossy::hal(&dev, &drop, &crash));
    drop.store(1, Ordering::SeqCst);
    dev.reader.push(SimCard::chip(&CUP_CHIP));
    let r = t.sale(4_200, Payment::Card(None)).unwrap();
    assert!(
        r.approved,
        "the sale stands whatever happens to its TC upload: {r:?}"
    );
    assert_eq!(
        t.status().unwrap().unsent_uploads,
        1,
        "the TC upload is owed"
    );
    // The host got it (only the answer was lost).
    assert_eq!(of_class(&chip_uploads(&host), "tc").len(), 1);

    // Settlement sends it first; the host answers the resend the same and records nothing twice.
    let s = t.settle().unwrap();
    assert!(s.balanced, "{s:?}");
    assert_eq!(t.status().unwrap().unsent_uploads, 0);
    let tcs = chip_uploads(&host);
    assert_eq!(tcs.len(), 1, "{tcs:?}");
    assert_eq!(tcs[0]["stan"], r.stan);
    host.shutdown();
}

#[test]
fn a_tc_upload_survives_a_crash_and_settlement_waits_for_it() {
    let host = TestHost::start("day-tc-crash");
    let dir = temp_dir("day-tc-crash-term");
    let dev = SimDevices::new();
    let drop = Arc::new(AtomicU32::new(0));
    let crash = Arc::new(AtomicBool::new(false));
    let stan = {
        let t = host.ready(&dir, Lossy::hal(&dev, &drop, &crash));
        // Never answered: the upload stays queued; then the crash on its next send.
        drop.store(100, Ordering::SeqCst);
        dev.reader.push(SimCard::chip(&CUP_CHIP));
        let r = t.sale(3_300, Payment::Card(None)).unwrap();
        assert!(r.approved, "{r:?}");
        assert_eq!(t.status().unwrap().unsent_uploads, 1);
        crash.store(true, Ordering::SeqCst);
        let crashed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| t.settle()));
        assert!(crashed.is_err(), "the 0320 went out, then the process died");
        r.stan
    };
    // Reopened on the same journal: the upload is still owed, settlement delivers it first.
    let t = host.terminal(&dir, Hal::default());
    assert_eq!(t.status().unwrap().unsent_uploads, 1);
    let s = t.settle().unwrap();
    assert!(s.balanced, "{s:?}");
    assert_eq!(s.terminal.domestic.debit.amount, 3_300);
    assert_eq!(t.status().unwrap().unsent_uploads, 0);
    let tcs = of_class(&chip_uploads(&host), "tc")
        .into_iter()
        .cloned()
        .collect::<Vec<_>>();
    assert_eq!(tcs.len(), 1, "{tcs:?}");
    assert_eq!(tcs[0]["stan"], stan);
    assert_eq!(tcs[0]["verified"], true);
    host.shutdown();
}

#[test]
fn issuer_script_results_are_uploaded_with_the_tc() {
    let host = TestHost::start("day-script");
    let dir = temp_dir("day-script-term");
    let dev = SimDevices::new();
    let t = host.ready(&dir, dev.hal());
    host.fault("issuer_script", 1);
    dev.reader.push(SimCard::chip(&CUP_CHIP));
    let r = t.sale(1_800, Payment::Card(None)).unwrap();
    assert!(r.approved, "{r:?}");
    let ups = chip_uploads(&host);
    let scripts = of_class(&ups, "script");
    assert_eq!(scripts.len(), 1, "{ups:?}");
    assert_eq!(scripts[0]["stan"], r.stan);
    let df31 = scripts[0]["data"].as_str().unwrap();
    assert!(df31.starts_with("20"), "script performed: {df31}");
    assert_eq!(of_class(&ups, "tc").len(), 1);
    assert_eq!(t.status().unwrap().unsent_uploads, 0);
    assert!(t.settle().unwrap().balanced);
    host.shutdown();
}

// ---- offline approval (Y1) within the floor limit (docs/PROTOCOL.md §8.7) ----

fn offline_terminal(
    host: &TestHost,
    dir: &std::path::Path,
    hal: Hal,
    floor: u64,
) -> possdk_core::Terminal {
    let mut cfg = host.config(dir, 1500);
    cfg.floor_limit = floor;
    let t = possdk_core::Terminal::new(cfg, hal).expect("terminal opens");
    initialise(&t).expect("initialisation");
    t
}

#[test]
fn an_offline_approved_chip_sale_is_advised_and_counted_in_settlement() {
    let host = TestHost::start("day-offline");
    let dir = temp_dir("day-offline-term");
    let dev = SimDevices::new();
    let drop = Arc::new(AtomicU32::new(0));
    let crash = Arc::new(AtomicBool::new(false));
    let t = offline_terminal(&host, &dir, Lossy::hal(&dev, &drop, &crash), 5_000);
    let before = host.balance(CUP_CHIP.pan);

    // The host is not reached this time: the card's approval stands, the advice is owed.
    drop.store(10, Ordering::SeqCst);
    dev.reader
        .push(SimCard::chip(&CUP_CHIP).approving_offline());
    let r = t.sale(3_000, Payment::Card(None)).unwrap();
    assert!(r.approved, "{r:?}");
    assert_eq!(r.response_code, "Y1");
    assert_eq!(r.outcome, possdk_core::Outcome::Approved);
    assert_eq!(r.kind, "offline_sale");
    assert_eq!(t.status().unwrap().unsent_advices, 1);
    drop.store(0, Ordering::SeqCst);

    // The next transaction delivers it first; the host books it (the lost answers' copies are replays).
    dev.reader.push(SimCard::chip(&CUP_CHIP));
    let online = t.sale(1_000, Payment::Card(None)).unwrap();
    assert!(online.approved, "{online:?}");
    assert_eq!(t.status().unwrap().unsent_advices, 0);
    let booked = host.tx(r.stan);
    assert_eq!(booked["state"], "approved", "{booked}");
    assert_eq!(booked["type"], "30", "{booked}");
    assert_eq!(host.balance(CUP_CHIP.pan), before - 4_000);
    let row = t
        .journal(None)
        .unwrap()
        .records
        .into_iter()
        .find(|x| x.stan == r.stan)
        .unwrap();
    assert_eq!(
        row.response_code.as_deref(),
        Some("00"),
        "the host's answer is recorded"
    );

    let s = t.settle().unwrap();
    assert!(s.balanced, "{s:?}");
    assert_eq!(s.terminal.domestic.debit.count, 2);
    assert_eq!(s.terminal.domestic.debit.amount, 4_000);
    host.shutdown();
}

#[test]
fn an_offline_approval_is_refused_above_the_floor_limit_and_without_one() {
    let host = TestHost::start("day-offline-floor");
    let dir = temp_dir("day-offline-floor-term");
    let dev = SimDevices::new();
    let t = offline_terminal(&host, &dir, dev.hal(), 2_000);
    dev.reader
        .push(SimCard::chip(&CUP_CHIP).approving_offline());
    let e = t.sale(2_001, Payment::Card(None)).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Device, "{e}");
    assert_eq!(e.outcome, Some(possdk_core::Outcome::NotSent));
    assert!(
        t.journal(None).unwrap().records.is_empty(),
        "nothing recorded"
    );
    // Within the limit it is approved at once, and the advice is delivered right away.
    dev.reader
        .push(SimCard::chip(&CUP_CHIP).approving_offline());
    let r = t.sale(2_000, Payment::Card(None)).unwrap();
    assert!(r.approved, "{r:?}");
    assert_eq!(r.response_code, "00", "the advice was answered at once");
    assert!(r.reference.is_some());
    assert_eq!(t.status().unwrap().unsent_advices, 0);
    assert!(t.settle().unwrap().balanced);
    host.shutdown();

    // The default floor limit (0): no offline approval at all.
    let host = TestHost::start("day-offline-none");
    let dir = temp_dir("day-offline-none-term");
    let dev = SimDevices::new();
    let t = host.ready(&dir, dev.hal());
    dev.reader
        .push(SimCard::chip(&CUP_CHIP).approving_offline());
    assert_eq!(
        t.sale(100, Payment::Card(None)).unwrap_err().kind,
        ErrorKind::Device
    );
    host.shutdown();
}

// ---- sales slips: zh-CN by default, `receipt.locale` "en", the printer callback ----

fn terminal_with(
    host: &TestHost,
    dir: &std::path::Path,
    hal: Hal,
    locale: Option<&str>,
) -> possdk_core::Terminal {
    let mut cfg = host.config_json(dir, 1500);
    if let Some(l) = locale {
        cfg["receipt"] = serde_json::json!({ "locale": l });
    }
    let cfg = possdk_core::Config::from_json(&cfg.to_string()).expect("config");
    let t = possdk_core::Terminal::new(cfg, hal).expect("terminal opens");
    initialise(&t).expect("initialisation");
    t
}

#[test]
fn slips_are_bilingual_chinese_by_default_and_printed_in_two_copies() {
    use possdk_core::slip::{Align, Copy, Line};
    let host = TestHost::start("day-slip-zh");
    let dir = temp_dir("day-slip-zh-term");
    let dev = SimDevices::new();
    let t = terminal_with(&host, &dir, dev.hal(), None);
    dev.reader.push(SimCard::swipe(&CUP_SWIPE));
    let s = t.sale(12_345, Payment::Card(None)).unwrap();
    let text = s.receipt.join("\n");
    for needle in [
        "POS签购单",
        "商户存根 MERCHANT COPY",
        "交易类型(TRANS TYPE): 消费(SALE)",
        "卡号(CARD NO): 622588******6789",
        "金额(AMOUNT): RMB 123.45",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
    assert!(text.contains(&format!("凭证号(VOUCHER NO): {:06}", s.stan)));
    assert!(text.contains(&format!("批次号(BATCH NO): {:06}", s.batch)));
    assert!(text.contains(&format!("参考号(REF NO): {}", s.reference.clone().unwrap())));
    assert!(text.contains(&format!(
        "授权码(AUTH NO): {}",
        s.auth_code.clone().unwrap()
    )));
    assert!(!text.contains(CUP_SWIPE.pan));

    let printed = dev.printer.printed();
    assert_eq!(
        printed.iter().map(|p| p.copy).collect::<Vec<_>>(),
        vec![Copy::Merchant, Copy::Cardholder]
    );
    assert!(matches!(
        &printed[0].lines[0],
        Line::Text {
            align: Align::Center,
            bold: true,
            double: true,
            ..
        }
    ));
    let holder = printed[1]
        .text_lines(possdk_core::slip::Locale::ZhCn)
        .join("\n");
    assert!(holder.contains("持卡人存根"), "{holder}");
    // The sale was signed on the pad: the merchant copy prints the signature, the cardholder's does not.
    let signed =
        |s: &possdk_core::slip::Slip| s.lines.iter().any(|l| matches!(l, Line::Signature { .. }));
    assert!(signed(&printed[0]));
    assert!(!signed(&printed[1]));

    // A void: 消费撤销; a QR sale carries its voucher as a QR line.
    let v = t.void(s.stan, Some(swipe(&CUP_SWIPE))).unwrap();
    assert!(
        v.receipt.join("\n").contains("消费撤销(VOID)"),
        "{:?}",
        v.receipt
    );
    let q = t.sale(800, Payment::Qr(Some(QR_CODE.into()))).unwrap();
    let last = dev.printer.printed().pop().unwrap();
    assert!(last.lines.contains(&Line::Qr {
        payload: q.voucher.clone().unwrap()
    }));
    assert!(q.receipt.join("\n").contains("扫码消费"));

    // A printer that fails changes nothing: the sale stands and the next one prints again.
    dev.printer.fail.store(true, Ordering::SeqCst);
    let before = dev.printer.printed().len();
    let s2 = t.sale(100, Payment::Card(Some(swipe(&CUP_SWIPE)))).unwrap();
    assert!(s2.approved);
    assert_eq!(dev.printer.printed().len(), before);
    dev.printer.fail.store(false, Ordering::SeqCst);
    // The reprint of the text slip is marked in both languages.
    assert_eq!(
        t.reprint(s2.stan, None).unwrap().receipt[0],
        "*** 重打印 REPRINT ***"
    );
    // A decline prints nothing.
    host.fault("decline", 1);
    let d = t.sale(100, Payment::Card(Some(swipe(&CUP_SWIPE)))).unwrap();
    assert!(!d.approved);
    assert_eq!(dev.printer.printed().len(), before);
    host.shutdown();
}

#[test]
fn receipt_locale_en_gives_english_slips_and_a_bad_locale_is_refused() {
    let host = TestHost::start("day-slip-en");
    let dir = temp_dir("day-slip-en-term");
    let dev = SimDevices::new();
    let t = terminal_with(&host, &dir, dev.hal(), Some("en"));
    let s = t
        .sale(5_000, Payment::Card(Some(swipe(&CUP_SWIPE))))
        .unwrap();
    let text = s.receipt.join("\n");
    assert!(text.contains("POS SALES SLIP - MERCHANT COPY"), "{text}");
    assert!(text.contains("TRANS TYPE: SALE"));
    assert!(text.contains("AMOUNT: CNY 50.00"));
    assert!(!text.contains("消费"));
    assert_eq!(
        t.reprint(s.stan, None).unwrap().receipt[0],
        "*** REPRINT ***"
    );
    host.shutdown();

    for (bad, field) in [
        (serde_json::json!({"locale": "fr"}), "receipt.locale"),
        (
            serde_json::json!({"locale": "en", "width": 32}),
            "receipt.width",
        ),
        (serde_json::json!("en"), "receipt"),
    ] {
        let host = TestHost::start("day-slip-bad");
        let dir = temp_dir("day-slip-bad-term");
        let mut cfg = host.config_json(&dir, 1500);
        cfg["receipt"] = bad;
        let e = possdk_core::Config::from_json(&cfg.to_string()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidRequest, "{e}");
        assert_eq!(e.field.as_deref(), Some(field), "{e}");
        host.shutdown();
    }
}

// ---- the electronic signature (docs/PROTOCOL.md §8.8) ----

fn is_0820(frame: &[u8]) -> bool {
    frame.get(13..15) == Some(&[0x08, 0x20])
}

/// TCP, but the answer to every 0820 (the signature uploads, once initialised) is lost while `drop` is set.
struct NoSignatureAnswers {
    inner: possdk_core::transport::TcpTransport,
    drop: Arc<AtomicBool>,
}

impl Transport for NoSignatureAnswers {
    fn exchange(
        &mut self,
        endpoint: &Endpoint,
        frame: &[u8],
        cancel: &CancelToken,
    ) -> Result<Vec<u8>, TransportError> {
        let result = self.inner.exchange(endpoint, frame, cancel);
        if is_0820(frame) && self.drop.load(Ordering::SeqCst) {
            return Err(TransportError::Timeout);
        }
        result
    }
}

#[test]
fn the_signature_is_journalled_survives_a_restart_and_is_uploaded_before_settlement() {
    let host = TestHost::start("day-sig");
    let dir = temp_dir("day-sig-term");
    let dev = SimDevices::new();
    let drop = Arc::new(AtomicBool::new(false));
    let segments: u32;
    let stan = {
        let mut hal = dev.hal();
        hal.transport = Some(Box::new(NoSignatureAnswers {
            inner: Default::default(),
            drop: drop.clone(),
        }));
        let t = host.ready(&dir, hal);
        drop.store(true, Ordering::SeqCst);
        let r = t
            .sale(6_600, Payment::Card(Some(swipe(&CUP_SWIPE))))
            .unwrap();
        assert!(r.approved, "{r:?}");
        assert_eq!(dev.signature_pad.taken.load(Ordering::SeqCst), 1);
        // Compressed, the 384 x 96 stroke takes several 400-byte segments, each an upload owed.
        let packed =
            possdk_core::signature::compress(&possdk_sim::SimSignaturePad::image_for(r.stan))
                .unwrap();
        segments = packed.len().div_ceil(400) as u32;
        assert!(segments > 1, "{} bytes", packed.len());
        assert!(
            packed.len() * 3 < 384 / 8 * 96,
            "compressed: {} bytes",
            packed.len()
        );
        assert_eq!(t.status().unwrap().unsent_uploads, segments);
        // A refund asks no signature.
        let date = r.datetime[5..10].replace('-', "");
        let refund = t
            .refund(
                1_000,
                possdk_core::api::OriginalRef {
                    reference: r.reference.clone(),
                    date: Some(date),
                    ..Default::default()
                },
                Some(swipe(&CUP_SWIPE)),
            )
            .unwrap();
        assert!(refund.approved);
        assert_eq!(dev.signature_pad.taken.load(Ordering::SeqCst), 1);
        r.stan
    };
    // Reopened on the same journal (the terminal restarted): still owed; settlement delivers it first.
    let t = host.terminal(&dir, Hal::default());
    assert_eq!(t.status().unwrap().unsent_uploads, segments);
    let s = t.settle().unwrap();
    assert!(s.balanced, "{s:?}");
    assert_eq!(t.status().unwrap().unsent_uploads, 0);
    let ups = chip_uploads(&host);
    let sig = of_class(&ups, "signature");
    assert_eq!(sig.len(), 1, "{ups:?}");
    assert_eq!(sig[0]["stan"], stan);
    assert_eq!(
        sig[0]["verified"], true,
        "the host decompressed it: {ups:?}"
    );
    assert_eq!(sig[0]["data"], "384x96");
    host.shutdown();
}

#[test]
fn a_broken_signature_pad_changes_nothing_and_signature_kinds_are_configurable() {
    let host = TestHost::start("day-sig-cfg");
    let dir = temp_dir("day-sig-cfg-term");
    let dev = SimDevices::new();
    let mut cfg = host.config_json(&dir, 1500);
    cfg["signature"] = serde_json::json!({"kinds": ["preauth"]});
    let t = possdk_core::Terminal::new(
        possdk_core::Config::from_json(&cfg.to_string()).unwrap(),
        dev.hal(),
    )
    .unwrap();
    initialise(&t).unwrap();
    assert!(
        t.sale(500, Payment::Card(Some(swipe(&CUP_SWIPE))))
            .unwrap()
            .approved
    );
    assert_eq!(
        dev.signature_pad.taken.load(Ordering::SeqCst),
        0,
        "sales are not asked"
    );
    let p = t
        .preauth(800, Payment::Card(Some(swipe(&CUP_SWIPE))))
        .unwrap();
    assert!(p.approved);
    assert_eq!(dev.signature_pad.taken.load(Ordering::SeqCst), 1);
    assert_eq!(of_class(&chip_uploads(&host), "signature").len(), 1);
    dev.signature_pad.fail.store(true, Ordering::SeqCst);
    let p2 = t
        .preauth(900, Payment::Card(Some(swipe(&CUP_SWIPE))))
        .unwrap();
    assert!(p2.approved, "the transaction stands without its signature");
    assert_eq!(t.status().unwrap().unsent_uploads, 0);
    assert!(t.settle().unwrap().balanced);
    host.shutdown();

    let host = TestHost::start("day-sig-bad");
    let dir = temp_dir("day-sig-bad-term");
    let mut cfg = host.config_json(&dir, 1500);
    cfg["signature"] = serde_json::json!({"kinds": ["teleport"]});
    let e = possdk_core::Config::from_json(&cfg.to_string()).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("signature.kinds"), "{e}");
    host.shutdown();
}
