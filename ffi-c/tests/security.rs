//! An application-supplied security module through the C vtable: here the callbacks forward to the
//! core's software module (as a hardware PIN pad driver would forward to its device), and a terminal day
//! against possdk-host proves every key, PIN and MAC operation went through them.

mod common;
#[path = "common/host.rs"]
mod host;

use possdk::*;
use possdk_core::crypto::rsa::HostPublicKey;
use possdk_core::crypto::sm2::Sm2PublicKey;
use possdk_core::security::software::SoftwareSecurityModule;
use possdk_core::security::{
    EncryptedKey, HostKey, KeyFamily, KeySlot, SecurityError, SecurityModule,
};
use std::ffi::{c_char, c_void, CStr, CString};
use std::ptr::null;
use std::sync::atomic::{AtomicUsize, Ordering};

struct Ctx {
    module: SoftwareSecurityModule,
    calls: AtomicUsize,
    pin_blocks: AtomicUsize,
    macs: AtomicUsize,
    destroyed: AtomicUsize,
    sm2_downloads: AtomicUsize,
    /// Bytes of the last PIN block and track block (8 TDES, 16 SM).
    pin_block_len: AtomicUsize,
    track_block_len: AtomicUsize,
}

fn ctx<'a>(p: *mut c_void) -> &'a mut Ctx {
    unsafe { &mut *(p as *mut Ctx) }
}

fn status(r: Result<(), SecurityError>) -> pos_hal_status {
    match r {
        Ok(()) => POS_HAL_OK,
        Err(SecurityError::KeyCheck(_)) => POS_SECURITY_KEY_CHECK_FAILED,
        Err(SecurityError::MissingKey(_)) => POS_SECURITY_MISSING_KEY,
        Err(SecurityError::NoTransportKey) => POS_SECURITY_NO_TRANSPORT_KEY,
        Err(_) => POS_HAL_ERROR,
    }
}

fn slot(s: pos_key_slot) -> KeySlot {
    match s {
        POS_KEY_TMK => KeySlot::Tmk,
        POS_KEY_PIK => KeySlot::Pik,
        POS_KEY_MAK => KeySlot::Mak,
        _ => KeySlot::Tdk,
    }
}

unsafe fn bytes<'a>(p: *const u8, n: usize) -> &'a [u8] {
    if n == 0 {
        &[]
    } else {
        unsafe { std::slice::from_raw_parts(p, n) }
    }
}

unsafe extern "C" fn begin(
    c: *mut c_void,
    m: *const u8,
    ml: usize,
    e: *const u8,
    el: usize,
    out: *mut pos_tmk_transport,
) -> pos_hal_status {
    let c = ctx(c);
    c.calls.fetch_add(1, Ordering::SeqCst);
    let key = match HostPublicKey::new(unsafe { bytes(m, ml) }, unsafe { bytes(e, el) }) {
        Ok(k) => HostKey::Rsa(k),
        Err(_) => return POS_HAL_ERROR,
    };
    transport(c, &key, out)
}

unsafe extern "C" fn begin_sm2(
    c: *mut c_void,
    k: *const u8,
    kl: usize,
    out: *mut pos_tmk_transport,
) -> pos_hal_status {
    let c = ctx(c);
    c.calls.fetch_add(1, Ordering::SeqCst);
    c.sm2_downloads.fetch_add(1, Ordering::SeqCst);
    let key = match Sm2PublicKey::from_uncompressed(unsafe { bytes(k, kl) }) {
        Ok(k) => HostKey::Sm2(k),
        Err(_) => return POS_HAL_ERROR,
    };
    transport(c, &key, out)
}

fn transport(c: &mut Ctx, key: &HostKey, out: *mut pos_tmk_transport) -> pos_hal_status {
    match c.module.begin_tmk_download(key) {
        Ok(t) => {
            let out = unsafe { &mut *out };
            if t.encrypted_key.len() > out.encrypted_key.len() {
                return POS_HAL_ERROR;
            }
            out.encrypted_key[..t.encrypted_key.len()].copy_from_slice(&t.encrypted_key);
            out.encrypted_key_len = t.encrypted_key.len();
            out.check_value = t.check_value;
            POS_HAL_OK
        }
        Err(e) => status(Err(e)),
    }
}

unsafe extern "C" fn receive(
    c: *mut c_void,
    k: *const u8,
    kl: usize,
    cv: *const u8,
    cvl: usize,
    out: *mut u8,
) -> pos_hal_status {
    let c = ctx(c);
    c.calls.fetch_add(1, Ordering::SeqCst);
    match c
        .module
        .receive_tmk(unsafe { bytes(k, kl) }, unsafe { bytes(cv, cvl) })
    {
        Ok(v) => {
            unsafe { std::ptr::copy_nonoverlapping(v.as_ptr(), out, 4) };
            POS_HAL_OK
        }
        Err(e) => status(Err(e)),
    }
}

unsafe extern "C" fn activate(c: *mut c_void) -> pos_hal_status {
    let c = ctx(c);
    c.calls.fetch_add(1, Ordering::SeqCst);
    status(c.module.activate_tmk())
}

unsafe extern "C" fn install(
    c: *mut c_void,
    p: *const pos_encrypted_key,
    m: *const pos_encrypted_key,
    t: *const pos_encrypted_key,
) -> pos_hal_status {
    let c = ctx(c);
    c.calls.fetch_add(1, Ordering::SeqCst);
    let k = |k: *const pos_encrypted_key| {
        let k = unsafe { &*k };
        EncryptedKey {
            encrypted: unsafe { bytes(k.encrypted, k.encrypted_len) }.to_vec(),
            check_value: k.check_value,
        }
    };
    status(c.module.install_working_keys(&k(p), &k(m), &k(t)))
}

unsafe extern "C" fn has_key(c: *mut c_void, s: pos_key_slot) -> bool {
    ctx(c).module.has_key(slot(s))
}

unsafe extern "C" fn check_value(c: *mut c_void, s: pos_key_slot, out: *mut u8) -> pos_hal_status {
    match ctx(c).module.check_value(slot(s)) {
        Some(v) => {
            unsafe { std::ptr::copy_nonoverlapping(v.as_ptr(), out, 4) };
            POS_HAL_OK
        }
        None => POS_SECURITY_MISSING_KEY,
    }
}

unsafe extern "C" fn pin_block(
    c: *mut c_void,
    pin: *const c_char,
    pan: *const c_char,
    out: *mut u8,
) -> pos_hal_status {
    let c = ctx(c);
    c.pin_blocks.fetch_add(1, Ordering::SeqCst);
    let (pin, pan) = unsafe { (CStr::from_ptr(pin), CStr::from_ptr(pan)) };
    let (Ok(pin), Ok(pan)) = (pin.to_str(), pan.to_str()) else {
        return POS_HAL_ERROR;
    };
    match c.module.pin_block(pin, pan) {
        Ok(b) => {
            // `out` has room for 16 bytes: the block is 8 (TDES) or 16 (SM4).
            c.pin_block_len.store(b.len(), Ordering::SeqCst);
            unsafe { std::ptr::copy_nonoverlapping(b.as_ptr(), out, b.len()) };
            POS_HAL_OK
        }
        Err(e) => status(Err(e)),
    }
}

unsafe extern "C" fn mac(c: *mut c_void, d: *const u8, n: usize, out: *mut u8) -> pos_hal_status {
    let c = ctx(c);
    c.macs.fetch_add(1, Ordering::SeqCst);
    match c.module.mac(unsafe { bytes(d, n) }) {
        Ok(m) => {
            unsafe { std::ptr::copy_nonoverlapping(m.as_ptr(), out, 8) };
            POS_HAL_OK
        }
        Err(e) => status(Err(e)),
    }
}

unsafe extern "C" fn track(c: *mut c_void, b: *const u8, out: *mut u8) -> pos_hal_status {
    let c = ctx(c);
    // One block of the module's family: 8 bytes TDES, 16 bytes SM4.
    let n = c.module.key_family().block_len();
    c.track_block_len.store(n, Ordering::SeqCst);
    let block = unsafe { bytes(b, n) }.to_vec();
    match c.module.encrypt_track_block(&block) {
        Ok(e) => {
            unsafe { std::ptr::copy_nonoverlapping(e.as_ptr(), out, n) };
            POS_HAL_OK
        }
        Err(e) => status(Err(e)),
    }
}

unsafe extern "C" fn clear(c: *mut c_void) -> pos_hal_status {
    status(ctx(c).module.clear_working_keys())
}

unsafe extern "C" fn destroy(c: *mut c_void) {
    ctx(c).destroyed.fetch_add(1, Ordering::SeqCst);
}

/// The callbacks' context around a software module, every counter at zero.
fn new_ctx(module: SoftwareSecurityModule) -> Box<Ctx> {
    Box::new(Ctx {
        module,
        calls: AtomicUsize::new(0),
        pin_blocks: AtomicUsize::new(0),
        macs: AtomicUsize::new(0),
        destroyed: AtomicUsize::new(0),
        sm2_downloads: AtomicUsize::new(0),
        pin_block_len: AtomicUsize::new(0),
        track_block_len: AtomicUsize::new(0),
    })
}

/// A vtable with every callback over `c`, in `family`; a test leaves out what it needs missing.
fn full_vtable(c: &mut Ctx, family: KeyFamily) -> pos_security_module {
    pos_security_module {
        ctx: c as *mut Ctx as *mut c_void,
        begin_tmk_download: Some(begin),
        receive_tmk: Some(receive),
        activate_tmk: Some(activate),
        install_working_keys: Some(install),
        has_key: Some(has_key),
        check_value: Some(check_value),
        pin_block: Some(pin_block),
        mac: Some(mac),
        encrypt_track_block: Some(track),
        clear_working_keys: Some(clear),
        destroy: Some(destroy),
        key_family: match family {
            KeyFamily::Tdes => POS_KEY_FAMILY_TDES,
            KeyFamily::Sm => POS_KEY_FAMILY_SM,
        },
        begin_tmk_download_sm2: Some(begin_sm2),
    }
}

/// A HAL with only this security module.
fn hal_with(security: &pos_security_module) -> pos_hal {
    pos_hal {
        qr_display: null(),
        card_reader: null(),
        pin_pad: null(),
        qr_scanner: null(),
        device: null(),
        events: null(),
        security,
        clock: null(),
        transport: null(),
        printer: null(),
        signature_pad: null(),
    }
}

fn call(t: *mut pos_terminal, request: serde_json::Value) -> serde_json::Value {
    let c = CString::new(request.to_string()).unwrap();
    let p = unsafe { pos_call_json(t, c.as_ptr()) };
    let s = unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_string();
    unsafe { pos_string_free(p) };
    let v: serde_json::Value = serde_json::from_str(&s).unwrap();
    assert_eq!(v["ok"], true, "{request}: {v}");
    v["result"].clone()
}

#[test]
fn application_security_module_runs_a_day() {
    day(KeyFamily::Tdes);
}

/// The SM family (docs/PROTOCOL.md §11) through the vtable: SM2 download, 16-byte PIN and track blocks,
/// CUP-SM4 MACs, and `pos_terminal_status` says `POS_KEY_FAMILY_SM`.
#[test]
fn application_security_module_runs_an_sm_family_day() {
    day(KeyFamily::Sm);
}

fn day(family: KeyFamily) {
    let dir = common::scratch_dir(&format!("security-vtable-{family}"));
    let host = host::start_host(&dir);
    host.set_key_family(None, family).expect("host family");
    let mut c = new_ctx(
        SoftwareSecurityModule::open_family(None, &[7u8; 32], family).expect("software module"),
    );
    let vt = full_vtable(&mut c, family);
    let hal = hal_with(&vt);
    let addr = host.addr().to_string();
    let cfg = CString::new(
        serde_json::json!({
            "tid": "12345678", "mid": "123456789012345",
            "gateway": {"address": addr, "tpdu": "6000030000"},
            "platform": {"address": addr, "tpdu": "6000050000"},
            "journal_path": dir.join("journal.db").to_str().unwrap(),
            "device": {"serial": "SN0001", "model": "test"},
            "key_family": family.name(),
            "encrypt_tracks": true
        })
        .to_string(),
    )
    .unwrap();
    let mut t = std::ptr::null_mut();
    assert_eq!(
        unsafe { pos_terminal_new(cfg.as_ptr(), &hal, &mut t) },
        pos_result::POS_OK
    );

    let mut st = std::mem::MaybeUninit::<pos_status_result>::uninit();
    assert_eq!(
        unsafe { pos_terminal_status(t, st.as_mut_ptr()) },
        pos_result::POS_OK
    );
    assert_eq!(unsafe { st.assume_init() }.key_family, vt.key_family);
    let card = serde_json::json!({"entry": "swipe", "track2": "6225880123456789D30121010000000000", "pin": "123456"});
    call(
        t,
        serde_json::json!({"op": "activate", "device_token": "TOKEN0001"}),
    );
    call(t, serde_json::json!({"op": "download_master_key"}));
    call(t, serde_json::json!({"op": "sign_in"}));
    let sale = call(
        t,
        serde_json::json!({"op": "sale", "amount": 2500, "card": card}),
    );
    assert_eq!(sale["approved"], true, "{sale}");
    let void = call(
        t,
        serde_json::json!({"op": "void", "stan": sale["stan"], "card": card}),
    );
    assert_eq!(void["approved"], true, "{void}");
    let settle = call(t, serde_json::json!({"op": "settle"}));
    assert_eq!(settle["balanced"], true, "{settle}");

    assert!(
        c.calls.load(Ordering::SeqCst) >= 4,
        "key management went through the vtable"
    );
    assert!(
        c.pin_blocks.load(Ordering::SeqCst) >= 1,
        "PIN blocks came from the vtable"
    );
    assert!(
        c.macs.load(Ordering::SeqCst) >= 2,
        "MACs came from the vtable"
    );
    let blocks = family.block_len();
    assert_eq!(c.pin_block_len.load(Ordering::SeqCst), blocks);
    assert_eq!(c.track_block_len.load(Ordering::SeqCst), blocks);
    assert_eq!(
        c.sm2_downloads.load(Ordering::SeqCst),
        usize::from(family == KeyFamily::Sm)
    );
    unsafe { pos_terminal_free(t) };
    assert_eq!(c.destroyed.load(Ordering::SeqCst), 1);
    host.shutdown();
}

#[test]
fn incomplete_security_vtable_is_refused() {
    let mut destroyed =
        new_ctx(SoftwareSecurityModule::open(None, &[1u8; 32]).expect("software module"));
    let vt = pos_security_module {
        receive_tmk: None,
        begin_tmk_download_sm2: None,
        ..full_vtable(&mut destroyed, KeyFamily::Tdes)
    };
    let hal = hal_with(&vt);
    let mut t = std::ptr::null_mut();
    let r = unsafe { pos_terminal_new(c"{}".as_ptr(), &hal, &mut t) };
    assert_eq!(r, pos_result::POS_INVALID_ARGUMENT);
    assert!(t.is_null());
    assert_eq!(destroyed.destroyed.load(Ordering::SeqCst), 1);
}

/// A vtable whose `key_family` is not the config's is refused when the terminal opens (docs/PROTOCOL.md §11),
/// and its destroy runs.
#[test]
fn a_security_vtable_of_the_other_family_is_refused() {
    let dir = common::scratch_dir("security-family-mismatch");
    let mut c = new_ctx(
        SoftwareSecurityModule::open_family(None, &[3u8; 32], KeyFamily::Sm)
            .expect("software module"),
    );
    let vt = pos_security_module {
        begin_tmk_download: None,
        ..full_vtable(&mut c, KeyFamily::Sm)
    };
    let hal = hal_with(&vt);
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
    let r = unsafe { pos_terminal_new(cfg.as_ptr(), &hal, &mut t) };
    assert_eq!(r, pos_result::POS_INVALID_REQUEST);
    assert!(t.is_null());
    assert_eq!(c.destroyed.load(Ordering::SeqCst), 1);
}
