//! The C ABI under misuse: NULL pointers everywhere, freeing NULL, bad configs, malformed JSON, wrong
//! types, missing fields, cancelling twice and from another thread. Every case is an error code or an
//! error envelope, never a crash. Calls the exported functions directly (the rlib of the same code).

mod common;
#[path = "common/host.rs"]
mod host;

use possdk::*;
use std::ffi::{c_char, c_void, CStr, CString};
use std::ptr::{null, null_mut};
use std::sync::atomic::{AtomicUsize, Ordering};

fn cstr(s: &str) -> CString {
    CString::new(s).unwrap()
}

/// Take (and free) an owned string from possdk.
fn take(p: *mut c_char) -> serde_json::Value {
    assert!(!p.is_null(), "possdk returned NULL");
    let s = unsafe { CStr::from_ptr(p) }
        .to_str()
        .expect("UTF-8")
        .to_string();
    unsafe { pos_string_free(p) };
    serde_json::from_str(&s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

fn config(dir: &std::path::Path, address: &str) -> CString {
    cstr(
        &serde_json::json!({
            "tid": "12345678", "mid": "123456789012345",
            "gateway": {"address": address, "tpdu": "6000030000"},
            "platform": {"address": address, "tpdu": "6000050000"},
            "journal_path": dir.join("journal.db").to_str().unwrap(),
            "timeouts_ms": {"connect": 500, "response": 1000},
            "device": {"serial": "SN0001", "model": "test"}
        })
        .to_string(),
    )
}

fn new_terminal(cfg: &CString, hal: *const pos_hal) -> *mut pos_terminal {
    let mut t = null_mut();
    let r = unsafe { pos_terminal_new(cfg.as_ptr(), hal, &mut t) };
    assert_eq!(
        r,
        pos_result::POS_OK,
        "pos_terminal_new: {:?}",
        last_error()
    );
    assert!(!t.is_null());
    t
}

fn last_error() -> pos_error_details {
    let mut d = std::mem::MaybeUninit::<pos_error_details>::uninit();
    assert_eq!(
        unsafe { pos_last_error(d.as_mut_ptr()) },
        pos_result::POS_OK
    );
    unsafe { d.assume_init() }
}

fn text(a: &[c_char]) -> String {
    unsafe { CStr::from_ptr(a.as_ptr()) }
        .to_str()
        .unwrap()
        .to_string()
}

#[test]
fn null_terminal_everywhere_is_an_error() {
    unsafe {
        pos_terminal_free(null_mut());
        pos_string_free(null_mut());
        assert_eq!(pos_cancel(null_mut()), pos_result::POS_NULL_POINTER);
        assert_eq!(pos_cancel(null_mut()), pos_result::POS_NULL_POINTER);
        let mut d = std::mem::zeroed::<pos_error_details>();
        assert_eq!(
            pos_terminal_last_error(null(), &mut d),
            pos_result::POS_NULL_POINTER
        );
        assert_eq!(
            pos_terminal_last_error_message(null(), null_mut(), 0, null_mut()),
            pos_result::POS_NULL_POINTER
        );
        assert_eq!(pos_last_error(null_mut()), pos_result::POS_NULL_POINTER);

        let null_r = pos_result::POS_NULL_POINTER;
        assert_eq!(
            pos_terminal_activate(null_mut(), c"TOKEN0001".as_ptr(), null_mut()),
            null_r
        );
        assert_eq!(
            pos_terminal_download_master_key(null_mut(), null_mut()),
            null_r
        );
        assert_eq!(pos_terminal_sign_in(null_mut(), null_mut()), null_r);
        assert_eq!(pos_terminal_download_capks(null_mut(), null_mut()), null_r);
        assert_eq!(pos_terminal_download_aids(null_mut(), null_mut()), null_r);
        assert_eq!(pos_terminal_sale(null_mut(), null(), null_mut()), null_r);
        assert_eq!(pos_terminal_preauth(null_mut(), null(), null_mut()), null_r);
        assert_eq!(pos_terminal_void(null_mut(), null(), null_mut()), null_r);
        assert_eq!(pos_terminal_refund(null_mut(), null(), null_mut()), null_r);
        assert_eq!(
            pos_terminal_preauth_void(null_mut(), null(), null_mut()),
            null_r
        );
        assert_eq!(
            pos_terminal_preauth_complete(null_mut(), null(), null_mut()),
            null_r
        );
        assert_eq!(
            pos_terminal_preauth_complete_void(null_mut(), null(), null_mut()),
            null_r
        );
        assert_eq!(pos_terminal_tip(null_mut(), null(), null_mut()), null_r);
        assert_eq!(pos_terminal_tip_void(null_mut(), 1, null_mut()), null_r);
        assert_eq!(pos_terminal_balance(null_mut(), null(), null_mut()), null_r);
        assert_eq!(
            pos_terminal_query_details(null_mut(), 0, null_mut()),
            null_r
        );
        assert_eq!(pos_terminal_settle(null_mut(), null_mut()), null_r);
        assert_eq!(pos_terminal_journal(null_mut(), 0, null_mut()), null_r);
        assert_eq!(pos_terminal_status(null_mut(), null_mut()), null_r);
        assert_eq!(pos_terminal_reprint(null_mut(), 1, 0, null_mut()), null_r);
        let d = last_error();
        assert_eq!((d.result, text(&d.field)), (null_r, "terminal".to_string()));

        // The JSON entry point answers with an envelope even without a terminal.
        let env = take(pos_call_json(null_mut(), c"{\"op\":\"status\"}".as_ptr()));
        assert_eq!(env["ok"], false);
        assert_eq!(env["error"]["code"], "invalid_request");
        assert_eq!(env["error"]["field"], "terminal");
    }
}

static DESTROYS: AtomicUsize = AtomicUsize::new(0);
unsafe extern "C" fn count_destroy(_ctx: *mut c_void) {
    DESTROYS.fetch_add(1, Ordering::SeqCst);
}

fn counting_hal(reader: &pos_card_reader, pad: &pos_pin_pad) -> pos_hal {
    pos_hal {
        qr_display: std::ptr::null(),
        card_reader: reader,
        pin_pad: pad,
        qr_scanner: null(),
        device: null(),
        events: null(),
        security: null(),
        clock: null(),
        transport: null(),
        printer: null(),
        signature_pad: null(),
    }
}

#[test]
fn bad_arguments_to_terminal_new_are_errors_and_destroy_runs_once() {
    let reader = pos_card_reader {
        ctx: null_mut(),
        read_card: None,
        complete_chip: None,
        load_emv_parameters: None,
        destroy: Some(count_destroy),
    };
    let pad = pos_pin_pad {
        ctx: null_mut(),
        get_pin: None,
        destroy: Some(count_destroy),
    };
    let hal = counting_hal(&reader, &pad);
    let cfg = cstr("{}");
    let before = DESTROYS.load(Ordering::SeqCst);
    unsafe {
        // NULL out.
        assert_eq!(
            pos_terminal_new(cfg.as_ptr(), &hal, null_mut()),
            pos_result::POS_NULL_POINTER
        );
        let mut t = null_mut();
        // NULL config.
        assert_eq!(
            pos_terminal_new(null(), &hal, &mut t),
            pos_result::POS_NULL_POINTER
        );
        assert_eq!(text(&last_error().field), "config_json");
        // Not UTF-8.
        let bad = [0xffu8, 0xfe, 0];
        assert_eq!(
            pos_terminal_new(bad.as_ptr().cast(), &hal, &mut t),
            pos_result::POS_INVALID_UTF8
        );
        assert!(t.is_null(), "out untouched on failure");
    }
    // Each failed call took ownership of both callbacks and destroyed them exactly once.
    assert_eq!(DESTROYS.load(Ordering::SeqCst) - before, 6);
}

#[test]
fn bad_configs_name_the_field() {
    let dir = common::scratch_dir("abuse-config");
    let mut t = null_mut();
    for (json, want) in [
        ("{not json", pos_result::POS_INVALID_JSON),
        ("[]", pos_result::POS_INVALID_REQUEST),
        ("{\"tid\": 12}", pos_result::POS_INVALID_REQUEST),
    ] {
        let c = cstr(json);
        let r = unsafe { pos_terminal_new(c.as_ptr(), null(), &mut t) };
        assert!(
            r == want || r == pos_result::POS_INVALID_JSON || r == pos_result::POS_INVALID_REQUEST,
            "{json}: {r:?}"
        );
        assert_ne!(r, pos_result::POS_PANIC);
        assert!(t.is_null());
        assert_eq!(last_error().result, r);
    }
    // A wrong TPDU is named.
    let mut v: serde_json::Value =
        serde_json::from_str(config(&dir, "127.0.0.1:1").to_str().unwrap()).unwrap();
    v["gateway"]["tpdu"] = "60XX".into();
    let c = cstr(&v.to_string());
    let r = unsafe { pos_terminal_new(c.as_ptr(), null(), &mut t) };
    assert_eq!(r, pos_result::POS_INVALID_REQUEST);
    let d = last_error();
    assert!(text(&d.field).contains("tpdu"), "field: {}", text(&d.field));
    assert!(t.is_null());
}

#[test]
fn live_handle_rejects_null_outputs_and_malformed_json() {
    let dir = common::scratch_dir("abuse-json");
    let cfg = config(&dir, "127.0.0.1:1");
    let t = new_terminal(&cfg, null());
    unsafe {
        // NULL request / out on a live handle.
        assert_eq!(
            pos_terminal_status(t, null_mut()),
            pos_result::POS_NULL_POINTER
        );
        let mut tx = std::mem::MaybeUninit::<pos_transaction_result>::uninit();
        assert_eq!(
            pos_terminal_sale(t, null(), tx.as_mut_ptr()),
            pos_result::POS_NULL_POINTER
        );
        let mut d = std::mem::zeroed::<pos_error_details>();
        assert_eq!(pos_terminal_last_error(t, &mut d), pos_result::POS_OK);
        assert_eq!(
            (d.result, text(&d.field)),
            (pos_result::POS_NULL_POINTER, "request".to_string())
        );
        assert_eq!(
            pos_terminal_activate(t, null(), null_mut()),
            pos_result::POS_NULL_POINTER
        );
        assert_eq!(
            pos_terminal_last_error(t, null_mut()),
            pos_result::POS_NULL_POINTER
        );

        // Out-of-range constants in request structs.
        let req = pos_sale_request {
            amount: 100,
            method: 9,
            card: null(),
            qr_code: null(),
        };
        assert_eq!(
            pos_terminal_sale(t, &req, tx.as_mut_ptr()),
            pos_result::POS_INVALID_ARGUMENT
        );
        let card = pos_card_input {
            entry: 77,
            pan: null(),
            track2: c"6225880123456789D3012101".as_ptr(),
            track3: null(),
            expiry: null(),
            sequence: null(),
            icc: null(),
            icc_len: 0,
            pin: null(),
        };
        let req = pos_sale_request {
            amount: 100,
            method: POS_PAYMENT_CARD,
            card: &card,
            qr_code: null(),
        };
        assert_eq!(
            pos_terminal_sale(t, &req, tx.as_mut_ptr()),
            pos_result::POS_INVALID_ARGUMENT
        );
        let mut buf = [0 as c_char; 64];
        let mut n = 0usize;
        assert_eq!(
            pos_terminal_last_error_message(t, buf.as_mut_ptr(), buf.len(), &mut n),
            pos_result::POS_OK
        );
        assert!(text(&buf).contains("entry"), "{}", text(&buf));
        assert_eq!(n, text(&buf).len());

        // Status works without a host (local state).
        let mut st = std::mem::zeroed::<pos_status_result>();
        assert_eq!(pos_terminal_status(t, &mut st), pos_result::POS_OK);
        assert!(!st.activated && !st.signed_in);

        // JSON: malformed, wrong types, missing fields, unknown op, NULL, not UTF-8.
        for (req, code) in [
            ("{\"op\":", "invalid_json"),
            ("", "invalid_json"),
            (
                "{\"op\": \"sale\", \"amount\": \"ten\", \"qr_code\": \"134567890123456789\"}",
                "invalid_request",
            ),
            (
                "{\"op\": \"sale\", \"amount\": -5, \"qr_code\": \"134567890123456789\"}",
                "invalid_request",
            ),
            ("{\"op\": \"tip\", \"stan\": 1}", "invalid_request"),
            ("{\"op\": \"void\"}", "invalid_request"),
            ("{\"op\": \"launch_rocket\"}", "invalid_request"),
            ("{\"amount\": 1}", "invalid_request"),
            ("{\"op\": 12}", "invalid_request"),
        ] {
            let c = cstr(req);
            let env = take(pos_call_json(t, c.as_ptr()));
            assert_eq!(env["ok"], false, "{req}: {env}");
            assert_eq!(env["error"]["code"], code, "{req}: {env}");
            assert!(env["error"]["message"].is_string(), "{req}: {env}");
        }
        let env = take(pos_call_json(t, c"{\"op\": \"tip\", \"stan\": 1}".as_ptr()));
        assert_eq!(env["error"]["field"], "tip", "{env}");
        let env = take(pos_call_json(t, null()));
        assert_eq!(env["error"]["code"], "invalid_request", "{env}");
        assert_eq!(env["error"]["field"], "request", "{env}");
        let bad = [b'{', 0xff, b'}', 0];
        let env = take(pos_call_json(t, bad.as_ptr().cast()));
        assert_eq!(env["error"]["code"], "invalid_json");

        // Operations before activation: typed errors, never a crash; the journal is untouched.
        let env = take(pos_call_json(
            t,
            c"{\"op\":\"sale\",\"amount\":100,\"qr_code\":\"134567890123456789\"}".as_ptr(),
        ));
        assert_eq!(env["ok"], false);
        let code = env["error"]["code"].as_str().unwrap().to_string();
        assert!(code == "not_activated" || code == "not_signed_in", "{env}");
        let env = take(pos_call_json(t, c"{\"op\":\"journal\"}".as_ptr()));
        assert_eq!(env["ok"], true, "{env}");
        assert_eq!(
            env["result"]["records"].as_array().map(|a| a.len()),
            Some(0),
            "{env}"
        );

        // Cancelling with nothing running, twice.
        assert_eq!(pos_cancel(t), pos_result::POS_OK);
        assert_eq!(pos_cancel(t), pos_result::POS_OK);
        // The handle still works afterwards.
        let env = take(pos_call_json(t, c"{\"op\":\"status\"}".as_ptr()));
        assert_eq!(env["ok"], true, "{env}");
        pos_terminal_free(t);
    }
}

#[test]
fn unreachable_host_is_an_error_not_a_hang() {
    let dir = common::scratch_dir("abuse-unreachable");
    let cfg = config(&dir, "127.0.0.1:1");
    let t = new_terminal(&cfg, null());
    unsafe {
        let mut out = std::mem::MaybeUninit::<pos_activation_result>::uninit();
        let r = pos_terminal_activate(t, c"TOKEN0001".as_ptr(), out.as_mut_ptr());
        assert_eq!(r, pos_result::POS_HOST_UNREACHABLE);
        let mut d = std::mem::zeroed::<pos_error_details>();
        assert_eq!(pos_terminal_last_error(t, &mut d), pos_result::POS_OK);
        assert_eq!(d.result, pos_result::POS_HOST_UNREACHABLE);
        assert_eq!(text(&d.code), "host_unreachable");
        // Activation is not a financial operation: no outcome.
        assert_eq!(d.outcome, pos_outcome::POS_OUTCOME_NONE);
        pos_terminal_free(t);
    }
}

// ---- cancel from another thread while a callback waits -------------------------------------------

struct Waiting {
    entered: AtomicUsize,
}

unsafe extern "C" fn wait_for_cancel(
    ctx: *mut c_void,
    req: *const pos_card_request,
    _out: *mut pos_card_data,
) -> pos_hal_status {
    let w = unsafe { &*(ctx as *const Waiting) };
    w.entered.fetch_add(1, Ordering::SeqCst);
    for _ in 0..1000 {
        if unsafe { pos_cancel_token_is_cancelled((*req).cancel) } {
            return POS_HAL_CANCELLED;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    POS_HAL_TIMEOUT
}

#[test]
fn cancel_from_another_thread_stops_a_waiting_card_read() {
    let dir = common::scratch_dir("abuse-cancel");
    let host = host::start_host(&dir);
    let cfg = config(&dir, &host.addr().to_string());
    let waiting = Box::new(Waiting {
        entered: AtomicUsize::new(0),
    });
    let reader = pos_card_reader {
        ctx: &*waiting as *const Waiting as *mut c_void,
        read_card: Some(wait_for_cancel),
        complete_chip: None,
        load_emv_parameters: None,
        destroy: None,
    };
    let hal = pos_hal {
        qr_display: std::ptr::null(),
        card_reader: &reader,
        pin_pad: null(),
        qr_scanner: null(),
        device: null(),
        events: null(),
        security: null(),
        clock: null(),
        transport: null(),
        printer: null(),
        signature_pad: null(),
    };
    let t = new_terminal(&cfg, &hal);
    // Get to a state where a sale reaches the card reader.
    for op in [
        "{\"op\":\"activate\",\"device_token\":\"TOKEN0001\"}",
        "{\"op\":\"download_master_key\"}",
        "{\"op\":\"sign_in\"}",
    ] {
        let c = cstr(op);
        let env = take(unsafe { pos_call_json(t, c.as_ptr()) });
        assert_eq!(env["ok"], true, "{op}: {env}");
    }
    struct SendPtr(*mut pos_terminal);
    unsafe impl Send for SendPtr {}
    let handle = SendPtr(t);
    let waiting_ref: &'static Waiting = unsafe { &*(&*waiting as *const Waiting) };
    let canceller = std::thread::spawn(move || {
        let h = handle;
        while waiting_ref.entered.load(Ordering::SeqCst) == 0 {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        // Twice, and read the last error concurrently: all thread-safe.
        let a = unsafe { pos_cancel(h.0) };
        let b = unsafe { pos_cancel(h.0) };
        let mut d = unsafe { std::mem::zeroed::<pos_error_details>() };
        let c = unsafe { pos_terminal_last_error(h.0, &mut d) };
        (a, b, c)
    });
    let req = pos_sale_request {
        amount: 100,
        method: POS_PAYMENT_CARD,
        card: null(),
        qr_code: null(),
    };
    let mut tx = std::mem::MaybeUninit::<pos_transaction_result>::uninit();
    let r = unsafe { pos_terminal_sale(t, &req, tx.as_mut_ptr()) };
    let (a, b, c) = canceller.join().unwrap();
    assert_eq!(
        (a, b, c),
        (pos_result::POS_OK, pos_result::POS_OK, pos_result::POS_OK)
    );
    assert_eq!(r, pos_result::POS_CANCELLED);
    // Nothing was sent: no reversal is owed.
    let env = take(unsafe { pos_call_json(t, c"{\"op\":\"status\"}".as_ptr()) });
    assert!(env["result"]["pending_reversal"].is_null(), "{env}");
    unsafe { pos_terminal_free(t) };
    drop(waiting);
    host.shutdown();
}

// ---- cancel while waiting for the host: the request was sent, so it is reversed -------------------

#[test]
fn cancel_while_waiting_for_the_host_reverses_the_sale() {
    let dir = common::scratch_dir("abuse-cancel-host");
    let host = host::start_host(&dir);
    let address = host.addr().to_string();
    let cfg = cstr(
        &serde_json::json!({
            "tid": "12345678", "mid": "123456789012345",
            "gateway": {"address": address, "tpdu": "6000030000"},
            "platform": {"address": address, "tpdu": "6000050000"},
            "journal_path": dir.join("journal.db").to_str().unwrap(),
            // Long enough that only the cancel can end the wait.
            "timeouts_ms": {"connect": 2000, "response": 30000},
            "device": {"serial": "SN0001", "model": "test"}
        })
        .to_string(),
    );
    let t = new_terminal(&cfg, null());
    let json = |t: *mut pos_terminal, v: serde_json::Value| {
        let c = cstr(&v.to_string());
        take(unsafe { pos_call_json(t, c.as_ptr()) })
    };
    for op in ["activate", "download_master_key", "sign_in"] {
        let env = json(
            t,
            serde_json::json!({"op": op, "device_token": "TOKEN0001"}),
        );
        assert_eq!(env["ok"], true, "{op}: {env}");
    }
    let balance_before = host
        .admin(serde_json::json!({"cmd": "balance", "pan": "6225880123456789"}))["balance"]
        .clone();
    let stan = json(t, serde_json::json!({"op": "status"}))["result"]["next_stan"]
        .as_u64()
        .unwrap();
    // The host takes the money and never answers.
    let f = host.admin(
        serde_json::json!({"cmd": "fault", "tid": "12345678", "fault": "no_answer", "count": 1}),
    );
    assert_eq!(f["ok"], true, "{f}");

    let track2 = c"6225880123456789D30121010000000000";
    let card = pos_card_input {
        entry: POS_ENTRY_SWIPE,
        pan: null(),
        track2: track2.as_ptr(),
        track3: null(),
        expiry: null(),
        sequence: null(),
        icc: null(),
        icc_len: 0,
        pin: c"123456".as_ptr(),
    };
    let req = pos_sale_request {
        amount: 4321,
        method: POS_PAYMENT_CARD,
        card: &card,
        qr_code: null(),
    };
    struct SendPtr(*mut pos_terminal);
    unsafe impl Send for SendPtr {}
    let handle = SendPtr(t);
    let host_ref = &host;
    let (r, waited, cancels) = std::thread::scope(|scope| {
        // Cancel only once the host has processed the request (money moved, no answer coming), so the
        // test always exercises "sent, then cancelled".
        let canceller = scope.spawn(move || {
            let h = handle;
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            while std::time::Instant::now() < deadline {
                let seen = host_ref
                    .admin(serde_json::json!({"cmd": "tx", "tid": "12345678", "stan": stan}));
                if seen["found"] == true {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            (unsafe { pos_cancel(h.0) }, unsafe { pos_cancel(h.0) })
        });
        let mut tx = std::mem::MaybeUninit::<pos_transaction_result>::uninit();
        let started = std::time::Instant::now();
        let r = unsafe { pos_terminal_sale(t, &req, tx.as_mut_ptr()) };
        let waited = started.elapsed();
        (r, waited, canceller.join().unwrap())
    });
    assert_eq!(cancels, (pos_result::POS_OK, pos_result::POS_OK));
    assert!(
        r == pos_result::POS_CANCELLED || r == pos_result::POS_HOST_TIMEOUT,
        "sale cancelled while waiting for the host: {r:?} {:?}",
        last_error()
    );
    assert!(
        waited < std::time::Duration::from_secs(15),
        "cancel did not stop the wait ({waited:?})"
    );

    // Whatever was left pending goes out before the next transaction; then the host has undone the sale.
    let next = json(
        t,
        serde_json::json!({"op": "sale", "amount": 100, "card":
        {"entry": "swipe", "track2": "6225880123456789D30121010000000000", "pin": "123456"}}),
    );
    assert_eq!(next["ok"], true, "{next}");
    let status = json(t, serde_json::json!({"op": "status"}));
    assert!(status["result"]["pending_reversal"].is_null(), "{status}");
    let tx = host.admin(serde_json::json!({"cmd": "tx", "tid": "12345678", "stan": stan}));
    assert_eq!(
        tx["state"], "reversed",
        "host view of the cancelled sale: {tx}"
    );
    let balance_after = host
        .admin(serde_json::json!({"cmd": "balance", "pan": "6225880123456789"}))["balance"]
        .clone();
    assert_eq!(
        balance_after.as_i64().unwrap(),
        balance_before.as_i64().unwrap() - 100,
        "only the second sale moved money"
    );
    unsafe { pos_terminal_free(t) };
    host.shutdown();
}
