//! The clock and transport vtables (`pos_hal.clock`, `pos_hal.transport`) from the C side: a C-ABI
//! transport that forwards each frame over its own TCP connection to possdk-host runs a real sale, then
//! reports "never sent" (the sale fails as host_unreachable with nothing owed) and "sent, no answer"
//! (the sale is reversed through the same transport). The C clock's year stamps the result.

mod common;
#[path = "common/host.rs"]
mod host;

use possdk::*;
use std::ffi::{c_void, CStr, CString};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::ptr::null;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

/// Forward every frame to the host.
const FORWARD: u32 = 0;
/// Report every exchange as "could not connect" without touching the network.
const NEVER_SENT: u32 = 1;
/// Send the next frame (the host processes it), drop the answer and report a timeout; then forward.
const TIMEOUT_AFTER_SEND_ONCE: u32 = 2;

#[derive(Default)]
struct Net {
    mode: AtomicU32,
    /// Frames written to the host.
    sent: AtomicUsize,
    /// Frames whose answer came back to possdk.
    answered: AtomicUsize,
    clock_reads: AtomicUsize,
    destroyed: AtomicUsize,
}

fn net<'a>(ctx: *mut c_void) -> &'a Net {
    unsafe { &*(ctx as *const Net) }
}

/// Connect, send, read one length-prefixed answer. `Err(true)` when the request was written.
fn forward(
    address: &str,
    connect: Duration,
    response: Duration,
    frame: &[u8],
    n: &Net,
) -> Result<Vec<u8>, bool> {
    let addr = address
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or(false)?;
    let mut s = TcpStream::connect_timeout(&addr, connect).map_err(|_| false)?;
    s.write_all(frame).map_err(|_| true)?;
    n.sent.fetch_add(1, Ordering::SeqCst);
    s.set_read_timeout(Some(response)).map_err(|_| true)?;
    let mut prefix = [0u8; 2];
    s.read_exact(&mut prefix).map_err(|_| true)?;
    let mut answer = prefix.to_vec();
    answer.resize(2 + usize::from(u16::from_be_bytes(prefix)), 0);
    s.read_exact(&mut answer[2..]).map_err(|_| true)?;
    Ok(answer)
}

#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn exchange(
    ctx: *mut c_void,
    endpoint: *const pos_endpoint,
    request: *const u8,
    request_len: usize,
    response: *mut u8,
    response_cap: usize,
    response_len: *mut usize,
    cancel: *const pos_cancel_token,
) -> pos_transport_status {
    let n = net(ctx);
    let ep = unsafe { &*endpoint };
    let address = unsafe { CStr::from_ptr(ep.address) }.to_str().unwrap();
    let frame = unsafe { std::slice::from_raw_parts(request, request_len) };
    assert_eq!(response_cap, POS_MAX_FRAME);
    if unsafe { pos_cancel_token_is_cancelled(cancel) } {
        return POS_TRANSPORT_CANCELLED_NOT_SENT;
    }
    let mode = n.mode.load(Ordering::SeqCst);
    if mode == NEVER_SENT {
        return POS_TRANSPORT_NOT_SENT;
    }
    let answer = forward(
        address,
        Duration::from_millis(ep.connect_timeout_ms.into()),
        Duration::from_millis(ep.response_timeout_ms.into()),
        frame,
        n,
    );
    if mode == TIMEOUT_AFTER_SEND_ONCE {
        n.mode.store(FORWARD, Ordering::SeqCst);
        return if n.sent.load(Ordering::SeqCst) > 0 {
            POS_TRANSPORT_TIMEOUT
        } else {
            POS_TRANSPORT_NOT_SENT
        };
    }
    match answer {
        Ok(a) if a.len() <= response_cap => {
            unsafe {
                std::ptr::copy_nonoverlapping(a.as_ptr(), response, a.len());
                *response_len = a.len();
            }
            n.answered.fetch_add(1, Ordering::SeqCst);
            POS_TRANSPORT_OK
        }
        Ok(_) => POS_TRANSPORT_RECEIVE_FAILED,
        Err(false) => POS_TRANSPORT_NOT_SENT,
        Err(true) => POS_TRANSPORT_TIMEOUT,
    }
}

unsafe extern "C" fn now(ctx: *mut c_void, out: *mut pos_date_time) -> pos_hal_status {
    net(ctx).clock_reads.fetch_add(1, Ordering::SeqCst);
    unsafe {
        *out = pos_date_time {
            year: 2031,
            month: 11,
            day: 25,
            hour: 18,
            minute: 30,
            second: 5,
        };
    }
    POS_HAL_OK
}

unsafe extern "C" fn destroy(ctx: *mut c_void) {
    net(ctx).destroyed.fetch_add(1, Ordering::SeqCst);
}

fn call(t: *mut pos_terminal, v: serde_json::Value) -> serde_json::Value {
    let c = CString::new(v.to_string()).unwrap();
    let p = unsafe { pos_call_json(t, c.as_ptr()) };
    let s = unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_string();
    unsafe { pos_string_free(p) };
    let env: serde_json::Value = serde_json::from_str(&s).unwrap();
    assert_eq!(env["ok"], true, "{v}: {env}");
    env["result"].clone()
}

fn last_error(t: *mut pos_terminal) -> pos_error_details {
    let mut d = unsafe { std::mem::zeroed::<pos_error_details>() };
    assert_eq!(
        unsafe { pos_terminal_last_error(t, &mut d) },
        pos_result::POS_OK
    );
    d
}

fn text(a: &[std::ffi::c_char]) -> String {
    unsafe { CStr::from_ptr(a.as_ptr()) }
        .to_str()
        .unwrap()
        .to_string()
}

fn sale(t: *mut pos_terminal) -> (pos_result, Option<pos_transaction_result>) {
    let card = pos_card_input {
        entry: POS_ENTRY_SWIPE,
        pan: null(),
        track2: c"6225880123456789D30121010000000000".as_ptr(),
        track3: null(),
        expiry: null(),
        sequence: null(),
        icc: null(),
        icc_len: 0,
        pin: c"123456".as_ptr(),
    };
    let req = pos_sale_request {
        amount: 2500,
        method: POS_PAYMENT_CARD,
        card: &card,
        qr_code: null(),
    };
    let mut out = std::mem::MaybeUninit::<pos_transaction_result>::uninit();
    let r = unsafe { pos_terminal_sale(t, &req, out.as_mut_ptr()) };
    (
        r,
        (r == pos_result::POS_OK).then(|| unsafe { out.assume_init() }),
    )
}

#[test]
fn sale_reversal_and_unreachable_through_a_c_transport_and_clock() {
    let dir = common::scratch_dir("c-transport");
    let host = host::start_host(&dir);
    let n = Box::new(Net::default());
    let ctx = &*n as *const Net as *mut c_void;
    let transport = pos_transport {
        ctx,
        exchange: Some(exchange),
        destroy: Some(destroy),
    };
    let clock = pos_clock {
        ctx,
        now: Some(now),
        destroy: Some(destroy),
    };
    let hal = pos_hal {
        qr_display: std::ptr::null(),
        card_reader: null(),
        pin_pad: null(),
        qr_scanner: null(),
        device: null(),
        events: null(),
        security: null(),
        clock: &clock,
        transport: &transport,
        printer: null(),
        signature_pad: null(),
    };
    // The address is only handed to the transport callback; possdk does not connect itself.
    let addr = host.addr().to_string();
    let cfg = CString::new(
        serde_json::json!({
            "tid": "12345678", "mid": "123456789012345",
            "gateway": {"address": addr, "tpdu": "6000030000"},
            "platform": {"address": addr, "tpdu": "6000050000"},
            "journal_path": dir.join("journal.db").to_str().unwrap(),
            "timeouts_ms": {"connect": 2000, "response": 5000},
            "device": {"serial": "SN0001", "model": "test"}
        })
        .to_string(),
    )
    .unwrap();
    let mut t = std::ptr::null_mut();
    assert_eq!(
        unsafe { pos_terminal_new(cfg.as_ptr(), &hal, &mut t) },
        pos_result::POS_OK
    );
    call(
        t,
        serde_json::json!({"op": "activate", "device_token": "TOKEN0001"}),
    );
    call(t, serde_json::json!({"op": "download_master_key"}));
    call(t, serde_json::json!({"op": "sign_in"}));
    assert!(
        n.answered.load(Ordering::SeqCst) >= 3,
        "management went through the C transport"
    );

    // An approved sale, stamped with the C clock's time.
    let (r, out) = sale(t);
    assert_eq!(r, pos_result::POS_OK, "{:?}", last_error(t));
    let out = out.unwrap();
    assert!(out.approved, "declined: {}", text(&out.response_code));
    assert_eq!(out.outcome, pos_outcome::POS_OUTCOME_APPROVED);
    // Month, day and time are the host's (fields 12/13); the year is the terminal clock's.
    assert!(
        text(&out.datetime).starts_with("2031-"),
        "{}",
        text(&out.datetime)
    );
    assert!(n.clock_reads.load(Ordering::SeqCst) > 0);
    unsafe { pos_string_free(out.receipt) };

    // "Could not connect": nothing left, nothing is owed.
    n.mode.store(NEVER_SENT, Ordering::SeqCst);
    let sent_before = n.sent.load(Ordering::SeqCst);
    let (r, _) = sale(t);
    assert_eq!(r, pos_result::POS_HOST_UNREACHABLE);
    let e = last_error(t);
    assert_eq!(e.outcome, pos_outcome::POS_OUTCOME_NOT_SENT, "{e:?}");
    assert_eq!(n.sent.load(Ordering::SeqCst), sent_before);
    n.mode.store(FORWARD, Ordering::SeqCst);
    let status = call(t, serde_json::json!({"op": "status"}));
    assert!(status["pending_reversal"].is_null(), "{status}");

    // "Sent, no answer": the host approved it, so possdk reverses it through the same transport.
    n.mode.store(TIMEOUT_AFTER_SEND_ONCE, Ordering::SeqCst);
    let sent_before = n.sent.load(Ordering::SeqCst);
    let (r, _) = sale(t);
    assert_eq!(r, pos_result::POS_HOST_TIMEOUT);
    let e = last_error(t);
    assert_eq!(e.outcome, pos_outcome::POS_OUTCOME_REVERSED, "{e:?}");
    assert_ne!(e.stan, 0);
    assert!(
        n.sent.load(Ordering::SeqCst) >= sent_before + 2,
        "the sale and its reversal were sent"
    );
    let status = call(t, serde_json::json!({"op": "status"}));
    assert!(status["pending_reversal"].is_null(), "{status}");
    let journal = call(t, serde_json::json!({"op": "journal"}));
    let states: Vec<String> = journal["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("{}:{}", r["stan"], r["state"]))
        .collect();
    println!("journal: {states:?}");

    unsafe { pos_terminal_free(t) };
    assert_eq!(
        n.destroyed.load(Ordering::SeqCst),
        2,
        "clock and transport destroyed once each"
    );
    host.shutdown();
}

#[test]
fn missing_exchange_is_never_sent_and_a_bad_clock_falls_back() {
    unsafe extern "C" fn broken_clock(
        _ctx: *mut c_void,
        out: *mut pos_date_time,
    ) -> pos_hal_status {
        unsafe { (*out).month = 13 };
        POS_HAL_OK
    }
    let dir = common::scratch_dir("c-transport-none");
    let transport = pos_transport {
        ctx: std::ptr::null_mut(),
        exchange: None,
        destroy: None,
    };
    let clock = pos_clock {
        ctx: std::ptr::null_mut(),
        now: Some(broken_clock),
        destroy: None,
    };
    let hal = pos_hal {
        qr_display: std::ptr::null(),
        card_reader: null(),
        pin_pad: null(),
        qr_scanner: null(),
        device: null(),
        events: null(),
        security: null(),
        clock: &clock,
        transport: &transport,
        printer: null(),
        signature_pad: null(),
    };
    let cfg = CString::new(
        serde_json::json!({
            "tid": "12345678", "mid": "123456789012345",
            "gateway": {"address": "127.0.0.1:1", "tpdu": "6000030000"},
            "platform": {"address": "127.0.0.1:1", "tpdu": "6000050000"},
            "journal_path": dir.join("journal.db").to_str().unwrap(),
            "device": {"serial": "SN0001", "model": "test"}
        })
        .to_string(),
    )
    .unwrap();
    let mut t = std::ptr::null_mut();
    assert_eq!(
        unsafe { pos_terminal_new(cfg.as_ptr(), &hal, &mut t) },
        pos_result::POS_OK
    );
    let mut out = std::mem::MaybeUninit::<pos_activation_result>::uninit();
    let r = unsafe { pos_terminal_activate(t, c"TOKEN0001".as_ptr(), out.as_mut_ptr()) };
    assert_eq!(r, pos_result::POS_HOST_UNREACHABLE, "{:?}", last_error(t));
    unsafe { pos_terminal_free(t) };
}
