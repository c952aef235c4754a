//! A contact-chip sale through the C device callbacks: the `pos_card_reader` / `pos_pin_pad` vtables
//! forward to possdk-sim's simulated chip reader (real ARQC from the test issuer key) and PIN pad, the way
//! a firmware's EMV kernel driver would. Proves field 55 and the second GENERATE AC cross the C boundary
//! intact: possdk-host verifies the ARQC and the sim card checks the ARPC.

mod common;
#[path = "common/host.rs"]
mod host;

use possdk::*;
use possdk_core::hal::{
    CancelToken, CardModes, CardReader, CardRequest, ChipCompletion, EntryMode, PinEntry, PinPad,
    PinRequest,
};
use possdk_sim::{fixture, SimCard, SimCardReader, SimPinPad};
use std::ffi::{c_char, c_void, CStr, CString};
use std::ptr::null;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

struct Devices {
    reader: SimCardReader,
    pad: SimPinPad,
    chip_completions: AtomicUsize,
    emv_loads: AtomicUsize,
}

fn devices<'a>(ctx: *mut c_void) -> &'a mut Devices {
    unsafe { &mut *(ctx as *mut Devices) }
}

fn put(dst: &mut [c_char], s: &str) {
    assert!(s.len() < dst.len(), "test value too long for its C field");
    for (d, b) in dst.iter_mut().zip(s.bytes()) {
        *d = b as c_char;
    }
}

unsafe extern "C" fn read_card(
    ctx: *mut c_void,
    req: *const pos_card_request,
    out: *mut pos_card_data,
) -> pos_hal_status {
    let d = devices(ctx);
    let req = unsafe { &*req };
    let request = CardRequest {
        transaction: "sale",
        amount: req.has_amount.then_some(req.amount),
        modes: CardModes {
            swipe: req.allow_swipe,
            chip: req.allow_chip,
            contactless: req.allow_contactless,
        },
        timeout: Duration::from_millis(req.timeout_ms as u64),
        cancel: CancelToken::new(),
    };
    let card = match d.reader.read_card(&request) {
        Ok(c) => c,
        Err(_) => return POS_HAL_ERROR,
    };
    let out = unsafe { &mut *out };
    out.entry = match card.entry {
        Some(EntryMode::Chip) => POS_ENTRY_CHIP,
        Some(EntryMode::Contactless) => POS_ENTRY_CONTACTLESS,
        _ => POS_ENTRY_SWIPE,
    };
    if let Some(p) = &card.pan {
        put(&mut out.pan, p);
    }
    if let Some(t) = &card.track2 {
        put(&mut out.track2, t);
    }
    if let Some(e) = &card.expiry {
        put(&mut out.expiry, e);
    }
    if let Some(s) = &card.sequence {
        put(&mut out.sequence, s);
    }
    if let Some(icc) = &card.icc {
        out.icc[..icc.len()].copy_from_slice(icc);
        out.icc_len = icc.len();
    }
    POS_HAL_OK
}

unsafe extern "C" fn complete_chip(
    ctx: *mut c_void,
    c: *const pos_chip_completion,
    out: *mut pos_chip_outcome,
) -> pos_hal_status {
    let d = devices(ctx);
    d.chip_completions.fetch_add(1, Ordering::SeqCst);
    let c = unsafe { &*c };
    let completion = ChipCompletion {
        response_code: unsafe { CStr::from_ptr(c.response_code) }
            .to_str()
            .unwrap()
            .to_string(),
        icc_response: if c.icc_response_len == 0 {
            Vec::new()
        } else {
            unsafe { std::slice::from_raw_parts(c.icc_response, c.icc_response_len) }.to_vec()
        },
        host_answered: c.host_answered,
    };
    match d.reader.complete_chip(&completion) {
        Ok(o) => {
            let out = unsafe { &mut *out };
            out.approved = o.approved;
            if let Some(s) = o.script_results {
                out.script_results[..s.len()].copy_from_slice(&s);
                out.script_results_len = s.len();
            }
            POS_HAL_OK
        }
        Err(_) => POS_HAL_ERROR,
    }
}

unsafe extern "C" fn load_emv(
    ctx: *mut c_void,
    _a: *const pos_aid,
    n: usize,
    _c: *const pos_capk,
    m: usize,
) -> pos_hal_status {
    devices(ctx).emv_loads.fetch_add(n + m, Ordering::SeqCst);
    POS_HAL_OK
}

unsafe extern "C" fn get_pin(
    ctx: *mut c_void,
    req: *const pos_pin_request,
    pan: *const c_char,
    out: *mut pos_pin_entry,
) -> pos_hal_status {
    let d = devices(ctx);
    let req = unsafe { &*req };
    let request = PinRequest {
        transaction: "sale",
        masked_pan: unsafe { CStr::from_ptr(req.masked_pan) }
            .to_str()
            .unwrap()
            .to_string(),
        amount: req.has_amount.then_some(req.amount),
        allow_bypass: req.allow_bypass,
        timeout: Duration::from_millis(req.timeout_ms as u64),
        cancel: CancelToken::new(),
    };
    let pan = unsafe { CStr::from_ptr(pan) }.to_str().unwrap();
    let out = unsafe { &mut *out };
    match d.pad.get_pin(&request, pan) {
        Ok(PinEntry::Clear(p)) => {
            out.kind = POS_PIN_CLEAR;
            put(&mut out.pin, &p);
            POS_HAL_OK
        }
        Ok(PinEntry::Block(b)) => {
            out.kind = POS_PIN_BLOCK;
            out.block = b;
            POS_HAL_OK
        }
        Ok(PinEntry::Bypass) => {
            out.kind = POS_PIN_BYPASS;
            POS_HAL_OK
        }
        Err(_) => POS_HAL_ERROR,
    }
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

#[test]
fn chip_sale_through_c_callbacks() {
    let dir = common::scratch_dir("chip");
    let host = host::start_host(&dir);
    let chip = &fixture::CUP_CHIP;
    let mut d = Box::new(Devices {
        reader: SimCardReader::with_default(SimCard::chip(chip)),
        pad: SimPinPad::fixed(chip.pin),
        chip_completions: AtomicUsize::new(0),
        emv_loads: AtomicUsize::new(0),
    });
    let ctx = &mut *d as *mut Devices as *mut c_void;
    let reader = pos_card_reader {
        ctx,
        read_card: Some(read_card),
        complete_chip: Some(complete_chip),
        load_emv_parameters: Some(load_emv),
        destroy: None,
    };
    let pad = pos_pin_pad {
        ctx,
        get_pin: Some(get_pin),
        destroy: None,
    };
    let hal = pos_hal {
        qr_display: std::ptr::null(),
        card_reader: &reader,
        pin_pad: &pad,
        qr_scanner: null(),
        device: null(),
        events: null(),
        security: null(),
        clock: null(),
        transport: null(),
        printer: null(),
        signature_pad: null(),
    };
    let addr = host.addr().to_string();
    let cfg = CString::new(
        serde_json::json!({
            "tid": fixture::TID, "mid": fixture::MID,
            "gateway": {"address": addr, "tpdu": "6000030000"},
            "platform": {"address": addr, "tpdu": "6000050000"},
            "journal_path": dir.join("journal.db").to_str().unwrap(),
            "device": {"serial": fixture::DEVICE_SN, "model": "test"}
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
        serde_json::json!({"op": "activate", "device_token": fixture::DEVICE_TOKEN}),
    );
    call(t, serde_json::json!({"op": "download_master_key"}));
    call(t, serde_json::json!({"op": "sign_in"}));
    call(t, serde_json::json!({"op": "download_capks"}));
    call(t, serde_json::json!({"op": "download_aids"}));
    assert!(
        d.emv_loads.load(Ordering::SeqCst) > 0,
        "EMV parameters reached the reader"
    );

    // The C function form: card NULL -> the reader callback.
    let req = pos_sale_request {
        amount: 8800,
        method: POS_PAYMENT_CARD,
        card: null(),
        qr_code: null(),
    };
    let mut out = std::mem::MaybeUninit::<pos_transaction_result>::uninit();
    let r = unsafe { pos_terminal_sale(t, &req, out.as_mut_ptr()) };
    assert_eq!(r, pos_result::POS_OK, "{:?}", {
        let mut e = unsafe { std::mem::zeroed::<pos_error_details>() };
        unsafe { pos_terminal_last_error(t, &mut e) };
        e
    });
    let out = unsafe { out.assume_init() };
    let rc = unsafe { CStr::from_ptr(out.response_code.as_ptr()) }
        .to_str()
        .unwrap()
        .to_string();
    assert!(out.approved, "chip sale declined with {rc}");
    let pan = unsafe { CStr::from_ptr(out.masked_pan.as_ptr()) }
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(pan, "622588******4444");
    assert_eq!(
        d.chip_completions.load(Ordering::SeqCst),
        1,
        "second GENERATE AC through complete_chip"
    );
    assert!(
        d.reader.last_outcome().map(|o| o.approved).unwrap_or(false),
        "the card accepted the host's ARPC"
    );
    unsafe { pos_string_free(out.receipt) };

    let status = call(t, serde_json::json!({"op": "status"}));
    assert!(status["pending_reversal"].is_null(), "{status}");
    unsafe { pos_terminal_free(t) };
    host.shutdown();
}
