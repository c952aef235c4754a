//! Handles under misuse: every entry point on a freed handle and on forged ones answers
//! `POS_INVALID_HANDLE` (an `invalid_handle` envelope for `pos_call_json`), freeing twice is harmless,
//! and `pos_terminal_free` during a call on another thread cancels it and waits for it. The same again
//! from C (ffi-c/tests/misuse.c) under AddressSanitizer + UBSan, in a child process.

mod common;

use possdk::*;
use std::ffi::{c_char, c_void, CStr, CString};
use std::process::Command;
use std::ptr::{null, null_mut};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

fn config(dir: &std::path::Path) -> CString {
    CString::new(
        serde_json::json!({
            "tid": "12345678", "mid": "123456789012345",
            "gateway": {"address": "127.0.0.1:9", "tpdu": "6000030000"},
            "platform": {"address": "127.0.0.1:9", "tpdu": "6000050000"},
            "journal_path": dir.join("journal.db").to_str().unwrap(),
            "device": {"serial": "SN0001", "model": "test"}
        })
        .to_string(),
    )
    .unwrap()
}

fn new_terminal(cfg: &CString, hal: *const pos_hal) -> *mut pos_terminal {
    let mut t = null_mut();
    assert_eq!(
        unsafe { pos_terminal_new(cfg.as_ptr(), hal, &mut t) },
        pos_result::POS_OK
    );
    t
}

/// Every entry point that takes a handle, with otherwise valid arguments.
fn assert_refused(t: *mut pos_terminal, label: &str) {
    use std::mem::MaybeUninit;
    let invalid = pos_result::POS_INVALID_HANDLE;
    let mut tx = MaybeUninit::<pos_transaction_result>::uninit();
    let tx = tx.as_mut_ptr();
    let sale = pos_sale_request {
        amount: 100,
        method: POS_PAYMENT_QR,
        card: null(),
        qr_code: c"134567890123456789".as_ptr(),
    };
    let void = pos_void_request {
        stan: 1,
        card: null(),
    };
    let original = pos_original_ref {
        reference: null(),
        auth_code: null(),
        date: null(),
        batch: 0,
        stan: 0,
        voucher: null(),
    };
    let refund = pos_refund_request {
        amount: 1,
        original,
        card: null(),
    };
    let tip = pos_tip_request { stan: 1, tip: 1 };
    unsafe {
        let results = [
            (
                "activate",
                pos_terminal_activate(t, c"T".as_ptr(), MaybeUninit::uninit().as_mut_ptr()),
            ),
            (
                "download_master_key",
                pos_terminal_download_master_key(t, MaybeUninit::uninit().as_mut_ptr()),
            ),
            (
                "sign_in",
                pos_terminal_sign_in(t, MaybeUninit::uninit().as_mut_ptr()),
            ),
            (
                "download_capks",
                pos_terminal_download_capks(t, MaybeUninit::uninit().as_mut_ptr()),
            ),
            (
                "download_aids",
                pos_terminal_download_aids(t, MaybeUninit::uninit().as_mut_ptr()),
            ),
            ("sale", pos_terminal_sale(t, &sale, tx)),
            ("preauth", pos_terminal_preauth(t, &sale, tx)),
            ("void", pos_terminal_void(t, &void, tx)),
            ("refund", pos_terminal_refund(t, &refund, tx)),
            ("preauth_void", pos_terminal_preauth_void(t, &refund, tx)),
            (
                "preauth_complete",
                pos_terminal_preauth_complete(t, &refund, tx),
            ),
            (
                "preauth_complete_void",
                pos_terminal_preauth_complete_void(t, &void, tx),
            ),
            ("tip", pos_terminal_tip(t, &tip, tx)),
            ("tip_void", pos_terminal_tip_void(t, 1, tx)),
            ("balance", pos_terminal_balance(t, null(), tx)),
            (
                "query_details",
                pos_terminal_query_details(t, 0, MaybeUninit::uninit().as_mut_ptr()),
            ),
            (
                "settle",
                pos_terminal_settle(t, MaybeUninit::uninit().as_mut_ptr()),
            ),
            (
                "journal",
                pos_terminal_journal(t, 0, MaybeUninit::uninit().as_mut_ptr()),
            ),
            ("reprint", pos_terminal_reprint(t, 1, 0, tx)),
            (
                "status",
                pos_terminal_status(t, MaybeUninit::uninit().as_mut_ptr()),
            ),
            (
                "last_error",
                pos_terminal_last_error(t, MaybeUninit::uninit().as_mut_ptr()),
            ),
            ("last_error_message", {
                let mut buf = [0 as c_char; 32];
                let mut n = 0;
                pos_terminal_last_error_message(t, buf.as_mut_ptr(), buf.len(), &mut n)
            }),
            ("cancel", pos_cancel(t)),
        ];
        assert_eq!(
            results.len(),
            20 + 3,
            "every op plus last_error(_message) and cancel"
        );
        for (name, r) in results {
            assert_eq!(r, invalid, "{label}: {name}");
        }
        let d = last_error();
        assert_eq!(
            (d.result, field(&d)),
            (invalid, "terminal".into()),
            "{label}"
        );

        let p = pos_call_json(t, c"{\"op\":\"status\"}".as_ptr());
        let env: serde_json::Value =
            serde_json::from_str(CStr::from_ptr(p).to_str().unwrap()).unwrap();
        pos_string_free(p);
        assert_eq!(env["ok"], false, "{label}");
        assert_eq!(env["error"]["code"], "invalid_handle", "{label}: {env}");
        assert_eq!(env["error"]["field"], "terminal", "{label}: {env}");

        // Freeing it (again) is harmless and says so.
        pos_terminal_free(t);
        assert_eq!(last_error().result, invalid, "{label}: free");
    }
}

fn last_error() -> pos_error_details {
    let mut d = unsafe { std::mem::zeroed::<pos_error_details>() };
    assert_eq!(unsafe { pos_last_error(&mut d) }, pos_result::POS_OK);
    d
}

fn field(d: &pos_error_details) -> String {
    unsafe { CStr::from_ptr(d.field.as_ptr()) }
        .to_str()
        .unwrap()
        .to_string()
}

#[test]
fn freed_handle_is_refused_everywhere_and_double_free_is_harmless() {
    let dir = common::scratch_dir("misuse-freed");
    let cfg = config(&dir);
    let t = new_terminal(&cfg, null());
    let mut st = std::mem::MaybeUninit::<pos_status_result>::uninit();
    assert_eq!(
        unsafe { pos_terminal_status(t, st.as_mut_ptr()) },
        pos_result::POS_OK
    );
    unsafe { pos_terminal_free(t) };
    assert_refused(t, "freed");
    unsafe { pos_terminal_free(t) };

    // The slot is reused by the next terminal; the stale handle still names nothing.
    let t2 = new_terminal(&cfg, null());
    assert_ne!(t2, t);
    assert_refused(t, "stale after reuse");
    assert_eq!(
        unsafe { pos_terminal_status(t2, st.as_mut_ptr()) },
        pos_result::POS_OK
    );
    unsafe { pos_terminal_free(t2) };
}

#[test]
fn forged_handles_are_refused_everywhere() {
    let dir = common::scratch_dir("misuse-forged");
    let cfg = config(&dir);
    // A live terminal, so the registry is not empty.
    let live = new_terminal(&cfg, null());
    let on_stack = 0u64;
    let heap = Box::new([0u8; 64]);
    for (label, forged) in [
        ("one", 1usize),
        ("0xdeadbeef", 0xdead_beef),
        ("stack", &on_stack as *const u64 as usize),
        ("heap", heap.as_ptr() as usize),
        // The live handle's slot with another generation (other slots may be live in parallel tests).
        (
            "live, other generation",
            live as usize ^ (0xF << (usize::BITS - 4)),
        ),
        ("all ones", usize::MAX),
    ] {
        assert_refused(std::ptr::without_provenance_mut(forged), label);
    }
    let mut st = std::mem::MaybeUninit::<pos_status_result>::uninit();
    assert_eq!(
        unsafe { pos_terminal_status(live, st.as_mut_ptr()) },
        pos_result::POS_OK
    );
    unsafe { pos_terminal_free(live) };
}

/// A transport that blocks until the operation is cancelled, and counts destroys.
struct Blocking {
    waiting: AtomicBool,
    destroyed: AtomicUsize,
}

#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn block_until_cancelled(
    ctx: *mut c_void,
    _endpoint: *const pos_endpoint,
    _request: *const u8,
    _request_len: usize,
    _response: *mut u8,
    _response_cap: usize,
    _response_len: *mut usize,
    cancel: *const pos_cancel_token,
) -> pos_transport_status {
    let b = unsafe { &*(ctx as *const Blocking) };
    b.waiting.store(true, Ordering::SeqCst);
    for _ in 0..30_000 {
        if unsafe { pos_cancel_token_is_cancelled(cancel) } {
            return POS_TRANSPORT_CANCELLED_NOT_SENT;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    POS_TRANSPORT_NOT_SENT
}

unsafe extern "C" fn destroy_blocking(ctx: *mut c_void) {
    unsafe { &*(ctx as *const Blocking) }
        .destroyed
        .fetch_add(1, Ordering::SeqCst);
}

#[test]
fn free_during_a_call_cancels_and_waits_for_it() {
    let dir = common::scratch_dir("misuse-free-during-call");
    let cfg = config(&dir);
    let b = Box::new(Blocking {
        waiting: AtomicBool::new(false),
        destroyed: AtomicUsize::new(0),
    });
    let transport = pos_transport {
        ctx: &*b as *const Blocking as *mut c_void,
        exchange: Some(block_until_cancelled),
        destroy: Some(destroy_blocking),
    };
    let hal = pos_hal {
        qr_display: std::ptr::null(),
        card_reader: null(),
        pin_pad: null(),
        qr_scanner: null(),
        device: null(),
        events: null(),
        security: null(),
        clock: null(),
        transport: &transport,
        printer: null(),
        signature_pad: null(),
    };
    let t = new_terminal(&cfg, &hal);
    let handle = t as usize;
    let done = std::sync::Arc::new(AtomicBool::new(false));
    let worker = {
        let done = done.clone();
        std::thread::spawn(move || {
            let t: *mut pos_terminal = std::ptr::without_provenance_mut(handle);
            let mut out = std::mem::MaybeUninit::<pos_activation_result>::uninit();
            let r = unsafe { pos_terminal_activate(t, c"TOKEN0001".as_ptr(), out.as_mut_ptr()) };
            done.store(true, Ordering::SeqCst);
            r
        })
    };
    while !b.waiting.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(1));
    }
    unsafe { pos_terminal_free(t) };
    // free returned: the call has finished and the transport was destroyed, once.
    assert!(
        done.load(Ordering::SeqCst),
        "free returned before the call ended"
    );
    assert_eq!(b.destroyed.load(Ordering::SeqCst), 1);
    assert_eq!(worker.join().unwrap(), pos_result::POS_CANCELLED);
    assert_refused(t, "freed during a call");
}

#[test]
#[cfg_attr(missing_gcc, ignore = "gcc is not on PATH")]
fn misuse_from_c_under_asan_and_ubsan() {
    let dir = common::scratch_dir("misuse-c");
    let exe = dir.join("misuse");
    common::compile_c(
        &common::workspace_root().join("ffi-c/tests/misuse.c"),
        &exe,
        &[
            "-fsanitize=address,undefined",
            "-fno-omit-frame-pointer",
            "-fno-sanitize-recover=all",
        ],
    );
    let (ok, out) = common::run_with_timeout(
        Command::new(&exe)
            .arg(&dir)
            .env(
                "ASAN_OPTIONS",
                "detect_leaks=1:abort_on_error=0:exitcode=23",
            )
            .env("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1"),
        Duration::from_secs(120),
    );
    println!("{out}");
    assert!(ok, "misuse.c (ASan/UBSan) failed:\n{out}");
    assert!(out.contains("misuse OK"), "{out}");
}
