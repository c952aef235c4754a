//! Device callbacks: C vtables (`void *ctx`, function pointers, `destroy`) wrapped as core HAL trait
//! objects.
//!
//! Threading: every callback except `destroy` runs on the thread that called the terminal operation
//! (one operation at a time per terminal). `destroy` runs once, on the thread that calls
//! `pos_terminal_free` (or inside `pos_terminal_new` when it fails). `ctx` must therefore be usable from
//! whatever threads the application calls possdk on.
//!
//! Secrets: card data and PINs written by callbacks into possdk-owned structs are copied into zeroizing
//! memory and the structs are wiped before the call returns.

use crate::result::Failure;
use crate::strings;
use possdk_core::hal::{
    AidParams, Capk, CardData, CardReader, ChipCompletion, ChipOutcome, DeviceInfo, EntryMode,
    Event, EventSink, HalError, PinEntry, PinPad, PinRequest, QrDisplay, QrRequest, QrScanner,
    QrShow,
};
use possdk_core::hal::{CancelToken, CardRequest};
use std::ffi::{c_char, c_void, CString};
use zeroize::{Zeroize, Zeroizing};

/// What a device callback returns.
pub type pos_hal_status = i32;
/// The callback produced its output.
pub const POS_HAL_OK: pos_hal_status = 0;
/// The user cancelled (or the callback saw `pos_cancel_token_is_cancelled`).
pub const POS_HAL_CANCELLED: pos_hal_status = 1;
/// Nothing happened before the request's timeout.
pub const POS_HAL_TIMEOUT: pos_hal_status = 2;
/// The device failed. Any other value is treated the same way.
pub const POS_HAL_ERROR: pos_hal_status = 3;

/// How a card was read (an input or output `uint32_t`; unknown values are rejected).
pub type pos_entry_mode = u32;
/// Not given (inline card: derived from the data; callback output: treated as swipe when only track 2
/// is present, chip when ICC data is present).
pub const POS_ENTRY_NONE: pos_entry_mode = 0;
pub const POS_ENTRY_SWIPE: pos_entry_mode = 1;
pub const POS_ENTRY_CHIP: pos_entry_mode = 2;
pub const POS_ENTRY_CONTACTLESS: pos_entry_mode = 3;
pub const POS_ENTRY_MANUAL: pos_entry_mode = 4;
/// Swipe after a chip card failed.
pub const POS_ENTRY_FALLBACK: pos_entry_mode = 5;

pub(crate) fn entry_from_c(v: pos_entry_mode, field: &str) -> Result<Option<EntryMode>, Failure> {
    Ok(Some(match v {
        POS_ENTRY_NONE => return Ok(None),
        POS_ENTRY_SWIPE => EntryMode::Swipe,
        POS_ENTRY_CHIP => EntryMode::Chip,
        POS_ENTRY_CONTACTLESS => EntryMode::Contactless,
        POS_ENTRY_MANUAL => EntryMode::Manual,
        POS_ENTRY_FALLBACK => EntryMode::Fallback,
        other => {
            return Err(Failure::field(
                crate::result::pos_result::POS_INVALID_ARGUMENT,
                field,
                format!("unknown entry mode {other}"),
            ))
        }
    }))
}

/// Cancellation state of the running operation, valid only during the callback it was passed to.
pub struct pos_cancel_token {
    token: CancelToken,
}

impl pos_cancel_token {
    pub(crate) fn new(token: CancelToken) -> Self {
        pos_cancel_token { token }
    }
}

/// True once `pos_cancel` was called for the running operation: a waiting callback should then return
/// `POS_HAL_CANCELLED` promptly. NULL gives false.
///
/// # Safety
/// `token` must be NULL or the pointer passed to the running callback.
#[no_mangle]
pub unsafe extern "C" fn pos_cancel_token_is_cancelled(token: *const pos_cancel_token) -> bool {
    crate::panic::boundary(|| {
        if token.is_null() {
            return false;
        }
        // SAFETY: valid for the duration of the callback per the contract.
        unsafe { &*token }.token.is_cancelled()
    })
}

pub(crate) fn status_to_hal(status: pos_hal_status, what: &str) -> Result<(), HalError> {
    match status {
        POS_HAL_OK => Ok(()),
        POS_HAL_CANCELLED => Err(HalError::Cancelled),
        POS_HAL_TIMEOUT => Err(HalError::Timeout),
        other => Err(HalError::Device(format!(
            "{what} callback failed (status {other})"
        ))),
    }
}

fn missing(what: &str) -> HalError {
    HalError::Device(format!("{what} callback is not set"))
}

/// A C string for the duration of a callback. Never fails: interior NULs cannot occur in the core's
/// labels; if one did, the string is cut there.
pub(crate) fn cstring(s: &str) -> CString {
    let end = s.as_bytes().iter().position(|b| *b == 0).unwrap_or(s.len());
    CString::new(&s.as_bytes()[..end]).unwrap_or_default()
}

fn timeout_ms(d: std::time::Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

// ---------------------------------------------------------------------------------------------------
// Card reader

/// What the terminal asks the card reader for.
#[repr(C)]
pub struct pos_card_request {
    /// "sale", "void", ... (valid during the call).
    pub transaction: *const c_char,
    /// Amount in fen (0 when `has_amount` is false).
    pub amount: u64,
    pub has_amount: bool,
    pub allow_swipe: bool,
    pub allow_chip: bool,
    pub allow_contactless: bool,
    pub timeout_ms: u32,
    pub cancel: *const pos_cancel_token,
}

/// Card data written by `read_card`. possdk zero-fills it before the call and wipes it after copying.
/// Strings are NUL-terminated ("" = absent).
#[repr(C)]
pub struct pos_card_data {
    pub entry: pos_entry_mode,
    /// PAN digits (chip; for swipe it is taken from track 2 when empty).
    pub pan: [c_char; 20],
    /// Track 2 (equivalent), digits with `D` or `=` as separator.
    pub track2: [c_char; 40],
    pub track3: [c_char; 108],
    /// YYMM
    pub expiry: [c_char; 5],
    /// Card sequence number, 3 digits.
    pub sequence: [c_char; 4],
    /// Field 55 BER-TLV from the first GENERATE AC (chip).
    pub icc: [u8; 256],
    pub icc_len: usize,
}

impl pos_card_data {
    fn zeroed() -> Self {
        pos_card_data {
            entry: POS_ENTRY_NONE,
            pan: [0; 20],
            track2: [0; 40],
            track3: [0; 108],
            expiry: [0; 5],
            sequence: [0; 4],
            icc: [0; 256],
            icc_len: 0,
        }
    }
    fn wipe(&mut self) {
        self.entry = 0;
        self.pan.zeroize();
        self.track2.zeroize();
        self.track3.zeroize();
        self.expiry.zeroize();
        self.sequence.zeroize();
        self.icc.zeroize();
        self.icc_len = 0;
    }
    fn to_card(&self) -> Result<CardData, Failure> {
        let entry = entry_from_c(self.entry, "card.entry")?;
        let icc_len = self.icc_len;
        if icc_len > self.icc.len() {
            return Err(Failure::field(
                crate::result::pos_result::POS_INVALID_ARGUMENT,
                "card.icc_len",
                format!("icc_len {icc_len} is over {}", self.icc.len()),
            ));
        }
        let icc = if icc_len > 0 {
            Some(self.icc[..icc_len].to_vec())
        } else {
            None
        };
        let pan = strings::get_secret(&self.pan, "card.pan")?;
        let track2 = strings::get_secret(&self.track2, "card.track2")?;
        let track3 = strings::get_secret(&self.track3, "card.track3")?;
        let expiry = strings::get_secret(&self.expiry, "card.expiry")?.map(|s| s.to_string());
        let sequence = strings::get(&self.sequence, "card.sequence")?;
        let entry = entry.or(if icc.is_some() {
            Some(EntryMode::Chip)
        } else if track2.is_some() {
            Some(EntryMode::Swipe)
        } else {
            None
        });
        Ok(CardData {
            entry,
            pan,
            track2,
            track3,
            expiry,
            sequence: if sequence.is_empty() {
                None
            } else {
                Some(sequence)
            },
            icc,
        })
    }
}

/// The host's answer for the second GENERATE AC.
#[repr(C)]
pub struct pos_chip_completion {
    /// Field 39 ("00" approved), NUL-terminated.
    pub response_code: *const c_char,
    /// Field 55 of the response (91, 71, 72, 8A); may be empty.
    pub icc_response: *const u8,
    pub icc_response_len: usize,
    /// False when the host could not be reached (the card decides offline).
    pub host_answered: bool,
}

/// The card's decision, written by `complete_chip`.
#[repr(C)]
pub struct pos_chip_outcome {
    pub approved: bool,
    /// Script results (DF31 ...) as BER-TLV, `script_results_len` bytes (0 = none).
    pub script_results: [u8; 256],
    pub script_results_len: usize,
}

/// One AID as downloaded (valid during the call).
#[repr(C)]
pub struct pos_aid {
    pub aid: *const u8,
    pub aid_len: usize,
    /// Every TLV of the download response for this AID.
    pub tlv: *const u8,
    pub tlv_len: usize,
}

/// One CA public key, checksum already verified (valid during the call).
#[repr(C)]
pub struct pos_capk {
    pub rid: *const u8,
    pub rid_len: usize,
    pub index: u8,
    /// YYYYMMDD, NUL-terminated.
    pub expiry: *const c_char,
    pub modulus: *const u8,
    pub modulus_len: usize,
    pub exponent: *const u8,
    pub exponent_len: usize,
    pub checksum: [u8; 20],
}

/// Card reader callbacks. `read_card` is required for card operations without inline card data;
/// `complete_chip` for chip cards; `load_emv_parameters` may be NULL (the parameters are then only kept
/// by possdk). `destroy` (may be NULL) is called once with `ctx` when the terminal is freed.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct pos_card_reader {
    pub ctx: *mut c_void,
    pub read_card: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            request: *const pos_card_request,
            out: *mut pos_card_data,
        ) -> pos_hal_status,
    >,
    pub complete_chip: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            completion: *const pos_chip_completion,
            out: *mut pos_chip_outcome,
        ) -> pos_hal_status,
    >,
    pub load_emv_parameters: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            aids: *const pos_aid,
            aid_count: usize,
            capks: *const pos_capk,
            capk_count: usize,
        ) -> pos_hal_status,
    >,
    pub destroy: Option<unsafe extern "C" fn(ctx: *mut c_void)>,
}

/// Owns a C vtable's `ctx`; calls `destroy` once on drop.
pub(crate) struct Owned<V: Copy> {
    pub(crate) v: V,
    destroy: Option<unsafe extern "C" fn(*mut c_void)>,
    ctx: *mut c_void,
}

// SAFETY: the documented contract (module docs, docs/C-API.md) requires `ctx` and the callbacks to be
// usable from the threads the application calls possdk on; possdk calls them one at a time.
unsafe impl<V: Copy> Send for Owned<V> {}

impl<V: Copy> Drop for Owned<V> {
    fn drop(&mut self) {
        if let Some(d) = self.destroy.take() {
            // SAFETY: the application's destroy function with its own ctx, called exactly once.
            unsafe { d(self.ctx) };
        }
    }
}

pub(crate) struct CCardReader(Owned<pos_card_reader>);

impl CardReader for CCardReader {
    fn read_card(&mut self, request: &CardRequest) -> Result<CardData, HalError> {
        let f = self.0.v.read_card.ok_or_else(|| missing("read_card"))?;
        let transaction = cstring(request.transaction);
        let token = pos_cancel_token {
            token: request.cancel.clone(),
        };
        let req = pos_card_request {
            transaction: transaction.as_ptr(),
            amount: request.amount.unwrap_or(0),
            has_amount: request.amount.is_some(),
            allow_swipe: request.modes.swipe,
            allow_chip: request.modes.chip,
            allow_contactless: request.modes.contactless,
            timeout_ms: timeout_ms(request.timeout),
            cancel: &token,
        };
        let mut out = Box::new(pos_card_data::zeroed());
        // SAFETY: the application's callback with its ctx; `req` and `out` are valid for the call.
        let status = unsafe { f(self.0.v.ctx, &req, &mut *out) };
        let result = status_to_hal(status, "read_card")
            .and_then(|()| out.to_card().map_err(|e| HalError::Device(e.message)));
        out.wipe();
        result
    }

    fn complete_chip(&mut self, completion: &ChipCompletion) -> Result<ChipOutcome, HalError> {
        let f = self
            .0
            .v
            .complete_chip
            .ok_or_else(|| missing("complete_chip"))?;
        let rc = cstring(&completion.response_code);
        let c = pos_chip_completion {
            response_code: rc.as_ptr(),
            icc_response: completion.icc_response.as_ptr(),
            icc_response_len: completion.icc_response.len(),
            host_answered: completion.host_answered,
        };
        let mut out = pos_chip_outcome {
            approved: false,
            script_results: [0; 256],
            script_results_len: 0,
        };
        // SAFETY: as above.
        let status = unsafe { f(self.0.v.ctx, &c, &mut out) };
        status_to_hal(status, "complete_chip")?;
        if out.script_results_len > out.script_results.len() {
            return Err(HalError::Device(format!(
                "complete_chip: script_results_len {} is over {}",
                out.script_results_len,
                out.script_results.len()
            )));
        }
        let scripts = (out.script_results_len > 0)
            .then(|| out.script_results[..out.script_results_len].to_vec());
        // Read the flag as a byte: a C callback that stored something other than 0/1 must not become
        // undefined behaviour here; any non-zero value is "approved", as in C.
        // SAFETY: `bool` has the size and alignment of `u8`; the field is initialised (set above).
        let approved =
            unsafe { std::ptr::read(std::ptr::addr_of!(out.approved).cast::<u8>()) } != 0;
        Ok(ChipOutcome {
            approved,
            script_results: scripts,
        })
    }

    fn load_emv_parameters(&mut self, aids: &[AidParams], capks: &[Capk]) -> Result<(), HalError> {
        let Some(f) = self.0.v.load_emv_parameters else {
            log::info!(
                "possdk: no load_emv_parameters callback; {} AIDs / {} CAPKs kept",
                aids.len(),
                capks.len()
            );
            return Ok(());
        };
        let c_aids: Vec<pos_aid> = aids
            .iter()
            .map(|a| pos_aid {
                aid: a.aid.as_ptr(),
                aid_len: a.aid.len(),
                tlv: a.tlv.as_ptr(),
                tlv_len: a.tlv.len(),
            })
            .collect();
        let expiries: Vec<CString> = capks.iter().map(|k| cstring(&k.expiry)).collect();
        let c_capks: Vec<pos_capk> = capks
            .iter()
            .zip(&expiries)
            .map(|(k, e)| pos_capk {
                rid: k.rid.as_ptr(),
                rid_len: k.rid.len(),
                index: k.index,
                expiry: e.as_ptr(),
                modulus: k.modulus.as_ptr(),
                modulus_len: k.modulus.len(),
                exponent: k.exponent.as_ptr(),
                exponent_len: k.exponent.len(),
                checksum: k.checksum,
            })
            .collect();
        // SAFETY: arrays and everything they point to live until after the call.
        let status = unsafe {
            f(
                self.0.v.ctx,
                c_aids.as_ptr(),
                c_aids.len(),
                c_capks.as_ptr(),
                c_capks.len(),
            )
        };
        status_to_hal(status, "load_emv_parameters")
    }
}

// ---------------------------------------------------------------------------------------------------
// PIN pad

/// How the PIN pad answered (`pos_pin_entry.kind`): possdk's one PIN-entry numbering, the same in every
/// binding (the core's `PinEntry::CLEAR`, `BLOCK`, `BYPASS`).
pub type pos_pin_kind = u32;
/// `pin` holds the clear PIN (4-12 digits); possdk blocks it at once under the PIK and wipes it.
pub const POS_PIN_CLEAR: pos_pin_kind = 0;
/// `block` holds a format-0 PIN block already encrypted under the PIK by a secure pad.
pub const POS_PIN_BLOCK: pos_pin_kind = 1;
/// The cardholder bypassed PIN entry (honoured only when `allow_bypass`).
pub const POS_PIN_BYPASS: pos_pin_kind = 2;

// Written out because cbindgen cannot evaluate another crate's constants; the compiler checks that they
// are the core's numbering.
const _: () = {
    assert!(POS_PIN_CLEAR == PinEntry::CLEAR as pos_pin_kind);
    assert!(POS_PIN_BLOCK == PinEntry::BLOCK as pos_pin_kind);
    assert!(POS_PIN_BYPASS == PinEntry::BYPASS as pos_pin_kind);
};

#[repr(C)]
pub struct pos_pin_request {
    pub transaction: *const c_char,
    /// Masked PAN (6+4) for display.
    pub masked_pan: *const c_char,
    pub amount: u64,
    pub has_amount: bool,
    pub allow_bypass: bool,
    pub timeout_ms: u32,
    pub cancel: *const pos_cancel_token,
}

/// Written by `get_pin`; zero-filled before and wiped after the call.
#[repr(C)]
pub struct pos_pin_entry {
    pub kind: pos_pin_kind,
    /// NUL-terminated clear PIN (`POS_PIN_CLEAR`).
    pub pin: [c_char; 13],
    /// Encrypted PIN block (`POS_PIN_BLOCK`).
    pub block: [u8; 8],
}

/// PIN pad callbacks. `pan` is the full PAN, for a secure pad that builds the block itself: never log it.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct pos_pin_pad {
    pub ctx: *mut c_void,
    pub get_pin: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            request: *const pos_pin_request,
            pan: *const c_char,
            out: *mut pos_pin_entry,
        ) -> pos_hal_status,
    >,
    pub destroy: Option<unsafe extern "C" fn(ctx: *mut c_void)>,
}

pub(crate) struct CPinPad(Owned<pos_pin_pad>);

impl PinPad for CPinPad {
    fn get_pin(&mut self, request: &PinRequest, pan: &str) -> Result<PinEntry, HalError> {
        let f = self.0.v.get_pin.ok_or_else(|| missing("get_pin"))?;
        let transaction = cstring(request.transaction);
        let masked = cstring(&request.masked_pan);
        let pan_c = Zeroizing::new(cstring(pan).into_bytes_with_nul());
        let token = pos_cancel_token {
            token: request.cancel.clone(),
        };
        let req = pos_pin_request {
            transaction: transaction.as_ptr(),
            masked_pan: masked.as_ptr(),
            amount: request.amount.unwrap_or(0),
            has_amount: request.amount.is_some(),
            allow_bypass: request.allow_bypass,
            timeout_ms: timeout_ms(request.timeout),
            cancel: &token,
        };
        let mut out = Box::new(pos_pin_entry {
            kind: POS_PIN_CLEAR,
            pin: [0; 13],
            block: [0; 8],
        });
        // SAFETY: application callback; all pointers valid for the call.
        let status = unsafe { f(self.0.v.ctx, &req, pan_c.as_ptr().cast(), &mut *out) };
        // Decoded with the core's numbering (`PinEntry::CLEAR/BLOCK/BYPASS`), which POS_PIN_* equal.
        let kind = out.kind;
        let result = status_to_hal(status, "get_pin").and_then(|()| match u8::try_from(kind) {
            Ok(PinEntry::CLEAR) => strings::get_secret(&out.pin, "pin")
                .map_err(|e| HalError::Device(e.message))?
                .map(PinEntry::Clear)
                .ok_or_else(|| HalError::Device("get_pin returned an empty PIN".into())),
            Ok(PinEntry::BLOCK) => Ok(PinEntry::Block(out.block)),
            Ok(PinEntry::BYPASS) => Ok(PinEntry::Bypass),
            _ => Err(HalError::Device(format!(
                "get_pin returned unknown kind {kind}"
            ))),
        });
        out.pin.zeroize();
        out.block.zeroize();
        result
    }
}

// ---------------------------------------------------------------------------------------------------
// QR scanner

#[repr(C)]
pub struct pos_qr_request {
    pub transaction: *const c_char,
    pub amount: u64,
    pub has_amount: bool,
    pub timeout_ms: u32,
    pub cancel: *const pos_cancel_token,
}

/// QR scanner callback: write the customer's payment code, NUL-terminated, into `code` (`code_len`
/// bytes including the NUL).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct pos_qr_scanner {
    pub ctx: *mut c_void,
    pub scan: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            request: *const pos_qr_request,
            code: *mut c_char,
            code_len: usize,
        ) -> pos_hal_status,
    >,
    pub destroy: Option<unsafe extern "C" fn(ctx: *mut c_void)>,
}

pub(crate) struct CQrScanner(Owned<pos_qr_scanner>);

impl QrScanner for CQrScanner {
    fn scan(&mut self, request: &QrRequest) -> Result<String, HalError> {
        let f = self.0.v.scan.ok_or_else(|| missing("scan"))?;
        let transaction = cstring(request.transaction);
        let token = pos_cancel_token {
            token: request.cancel.clone(),
        };
        let req = pos_qr_request {
            transaction: transaction.as_ptr(),
            amount: request.amount.unwrap_or(0),
            has_amount: request.amount.is_some(),
            timeout_ms: timeout_ms(request.timeout),
            cancel: &token,
        };
        let mut buf = [0 as c_char; 128];
        // SAFETY: application callback; `buf` is valid for `buf.len()` bytes.
        let status = unsafe { f(self.0.v.ctx, &req, buf.as_mut_ptr(), buf.len()) };
        status_to_hal(status, "scan")?;
        let code = strings::get(&buf, "qr_code").map_err(|e| HalError::Device(e.message))?;
        if code.is_empty() {
            return Err(HalError::Device("scan returned an empty code".into()));
        }
        Ok(code)
    }
}

// ---------------------------------------------------------------------------------------------------
// QR display

/// A merchant-presented QR code to show (valid during the call).
#[repr(C)]
pub struct pos_qr_show {
    /// What the code encodes: render it as a QR code.
    pub payload: *const c_char,
    /// Amount in fen.
    pub amount: u64,
    /// How long the host keeps the order open, seconds.
    pub expires_in_s: u32,
    /// STAN of the order request.
    pub stan: u32,
}

/// QR display callbacks (docs/C-API.md): `show_qr` shows a merchant-presented code (an error status is
/// logged and the order goes on: the payload is in the result too); `clear_qr` (may be NULL) takes it down
/// once the order is final.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct pos_qr_display {
    pub ctx: *mut c_void,
    pub show_qr:
        Option<unsafe extern "C" fn(ctx: *mut c_void, show: *const pos_qr_show) -> pos_hal_status>,
    pub clear_qr: Option<unsafe extern "C" fn(ctx: *mut c_void)>,
    pub destroy: Option<unsafe extern "C" fn(ctx: *mut c_void)>,
}

pub(crate) struct CQrDisplay(Owned<pos_qr_display>);

impl QrDisplay for CQrDisplay {
    fn show_qr(&mut self, show: &QrShow) -> Result<(), HalError> {
        let f = self.0.v.show_qr.ok_or_else(|| missing("show_qr"))?;
        let payload = cstring(&show.payload);
        let s = pos_qr_show {
            payload: payload.as_ptr(),
            amount: show.amount,
            expires_in_s: u32::try_from(show.expires_in.as_secs()).unwrap_or(u32::MAX),
            stan: show.stan,
        };
        // SAFETY: application callback; `s` and its string are valid for the call.
        let status = unsafe { f(self.0.v.ctx, &s) };
        status_to_hal(status, "show_qr")
    }
    fn clear_qr(&mut self) {
        if let Some(f) = self.0.v.clear_qr {
            // SAFETY: application callback.
            unsafe { f(self.0.v.ctx) };
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Device info

/// Device information callbacks: write a NUL-terminated string into `buf` (`len` bytes with the NUL).
/// A NULL function or a failing one gives "".
#[repr(C)]
#[derive(Clone, Copy)]
pub struct pos_device_info {
    pub ctx: *mut c_void,
    pub serial_number: Option<
        unsafe extern "C" fn(ctx: *mut c_void, buf: *mut c_char, len: usize) -> pos_hal_status,
    >,
    pub model: Option<
        unsafe extern "C" fn(ctx: *mut c_void, buf: *mut c_char, len: usize) -> pos_hal_status,
    >,
    pub destroy: Option<unsafe extern "C" fn(ctx: *mut c_void)>,
}

pub(crate) struct CDeviceInfo(Owned<pos_device_info>);

impl CDeviceInfo {
    fn get(
        &self,
        f: Option<unsafe extern "C" fn(*mut c_void, *mut c_char, usize) -> pos_hal_status>,
        what: &str,
    ) -> String {
        let Some(f) = f else { return String::new() };
        let mut buf = [0 as c_char; 64];
        // SAFETY: application callback; buffer valid for its length.
        let status = unsafe { f(self.0.v.ctx, buf.as_mut_ptr(), buf.len()) };
        if status != POS_HAL_OK {
            log::warn!("possdk: {what} callback failed (status {status})");
            return String::new();
        }
        strings::get(&buf, what).unwrap_or_default()
    }
}

impl DeviceInfo for CDeviceInfo {
    fn serial_number(&self) -> String {
        self.get(self.0.v.serial_number, "serial_number")
    }
    fn model(&self) -> String {
        self.get(self.0.v.model, "model")
    }
}

// ---------------------------------------------------------------------------------------------------
// Events

/// Progress event kinds (`pos_event.kind`).
pub type pos_event_kind = u32;
pub const POS_EVENT_WAITING_FOR_CARD: pos_event_kind = 1;
/// `masked_pan` is set.
pub const POS_EVENT_CARD_READ: pos_event_kind = 2;
pub const POS_EVENT_WAITING_FOR_PIN: pos_event_kind = 3;
pub const POS_EVENT_WAITING_FOR_QR: pos_event_kind = 4;
pub const POS_EVENT_CONNECTING: pos_event_kind = 5;
pub const POS_EVENT_SENDING: pos_event_kind = 6;
pub const POS_EVENT_RECEIVING: pos_event_kind = 7;
/// `stan` is the transaction being reversed.
pub const POS_EVENT_REVERSING: pos_event_kind = 8;
/// `stan` is the advice being resent.
pub const POS_EVENT_RESENDING_ADVICE: pos_event_kind = 9;
/// `approved` and `response_code` are set.
pub const POS_EVENT_DONE: pos_event_kind = 10;
/// A QR status query was answered: `stan` is the payment's; poll number and state are in `json`
/// (`{"event":"qr_polling","stan":..,"poll":..,"state":"waiting"}`).
pub const POS_EVENT_QR_POLLING: pos_event_kind = 11;

/// A progress event (valid during the call).
#[repr(C)]
pub struct pos_event {
    pub kind: pos_event_kind,
    /// Masked PAN or "".
    pub masked_pan: *const c_char,
    pub stan: u32,
    pub approved: bool,
    /// Response code or "".
    pub response_code: *const c_char,
    /// The event as JSON (`{"event":"card_read","masked_pan":"622588******6789"}`).
    pub json: *const c_char,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct pos_event_sink {
    pub ctx: *mut c_void,
    pub on_event: Option<unsafe extern "C" fn(ctx: *mut c_void, event: *const pos_event)>,
    pub destroy: Option<unsafe extern "C" fn(ctx: *mut c_void)>,
}

pub(crate) struct CEventSink(Owned<pos_event_sink>);

impl EventSink for CEventSink {
    fn on_event(&mut self, event: &Event) {
        let Some(f) = self.0.v.on_event else { return };
        let (kind, masked, stan, approved, rc) = match event {
            Event::WaitingForCard => (POS_EVENT_WAITING_FOR_CARD, "", 0, false, ""),
            Event::CardRead { masked_pan } => {
                (POS_EVENT_CARD_READ, masked_pan.as_str(), 0, false, "")
            }
            Event::WaitingForPin => (POS_EVENT_WAITING_FOR_PIN, "", 0, false, ""),
            Event::WaitingForQr => (POS_EVENT_WAITING_FOR_QR, "", 0, false, ""),
            Event::Connecting => (POS_EVENT_CONNECTING, "", 0, false, ""),
            Event::Sending => (POS_EVENT_SENDING, "", 0, false, ""),
            Event::Receiving => (POS_EVENT_RECEIVING, "", 0, false, ""),
            Event::Reversing { stan } => (POS_EVENT_REVERSING, "", *stan, false, ""),
            Event::ResendingAdvice { stan } => (POS_EVENT_RESENDING_ADVICE, "", *stan, false, ""),
            Event::Done {
                approved,
                response_code,
            } => (POS_EVENT_DONE, "", 0, *approved, response_code.as_str()),
            Event::QrPolling { stan, .. } => (POS_EVENT_QR_POLLING, "", *stan, false, ""),
        };
        let masked = cstring(masked);
        let rc = cstring(rc);
        let json = cstring(&serde_json::to_string(event).unwrap_or_default());
        let e = pos_event {
            kind,
            masked_pan: masked.as_ptr(),
            stan,
            approved,
            response_code: rc.as_ptr(),
            json: json.as_ptr(),
        };
        // SAFETY: application callback; all pointers valid for the call.
        unsafe { f(self.0.v.ctx, &e) };
    }
}

// ---------------------------------------------------------------------------------------------------
// The set

/// The devices a terminal uses. Every member may be NULL (then the data must come inline in requests
/// and the config). The vtables are copied by `pos_terminal_new`; ownership of each `ctx` passes to
/// possdk in that call, whatever it returns: `destroy` is called exactly once, by `pos_terminal_free`,
/// or before `pos_terminal_new` returns an error.
#[repr(C)]
pub struct pos_hal {
    pub card_reader: *const pos_card_reader,
    pub pin_pad: *const pos_pin_pad,
    pub qr_scanner: *const pos_qr_scanner,
    pub device: *const pos_device_info,
    pub events: *const pos_event_sink,
    /// A security module of the application (hardware PIN pad, secure element); NULL: possdk's software
    /// module, keys sealed at rest under the config's `seal_key`.
    pub security: *const crate::security::pos_security_module,
    /// The terminal's clock; NULL: the system clock at UTC+8.
    pub clock: *const crate::transport::pos_clock,
    /// The network; NULL: possdk's TCP transport (one connection per exchange).
    pub transport: *const crate::transport::pos_transport,
    /// A screen for merchant-presented QR codes; NULL: the code is only in the result (`qr_payload`).
    pub qr_display: *const pos_qr_display,
    /// Prints the sales slips of approved transactions; NULL: slips only come back as text.
    pub printer: *const crate::printer::pos_printer,
    /// Takes the cardholder's electronic signature after an approval; NULL: none is taken.
    pub signature_pad: *const crate::signature::pos_signature_pad,
}

pub(crate) fn own<V: Copy>(
    v: V,
    ctx: *mut c_void,
    destroy: Option<unsafe extern "C" fn(*mut c_void)>,
) -> Owned<V> {
    Owned { v, destroy, ctx }
}

/// The devices and the optional security module taken from a `pos_hal`.
pub(crate) struct TakenHal {
    pub hal: possdk_core::hal::Hal,
    /// `Some(Err)` when the security vtable is incomplete (its destroy has already run).
    pub security: Option<Result<crate::security::CSecurity, String>>,
}

/// Take ownership of the callback sets in `hal` (NULL: no devices).
///
/// # Safety
/// `hal` must be NULL or point to a valid `pos_hal` whose non-NULL members point to valid vtables.
pub(crate) unsafe fn take_hal(hal: *const pos_hal) -> TakenHal {
    let mut out = possdk_core::hal::Hal::default();
    if hal.is_null() {
        return TakenHal {
            hal: out,
            security: None,
        };
    }
    // SAFETY: caller contract.
    let h = unsafe { &*hal };
    // SAFETY (each block): non-NULL members point to valid vtables per the contract; copied here.
    if let Some(v) = unsafe { h.card_reader.as_ref() } {
        out.card_reader = Some(Box::new(CCardReader(own(*v, v.ctx, v.destroy))));
    }
    if let Some(v) = unsafe { h.pin_pad.as_ref() } {
        out.pin_pad = Some(Box::new(CPinPad(own(*v, v.ctx, v.destroy))));
    }
    if let Some(v) = unsafe { h.qr_scanner.as_ref() } {
        out.qr_scanner = Some(Box::new(CQrScanner(own(*v, v.ctx, v.destroy))));
    }
    if let Some(v) = unsafe { h.qr_display.as_ref() } {
        out.qr_display = Some(Box::new(CQrDisplay(own(*v, v.ctx, v.destroy))));
    }
    if let Some(v) = unsafe { h.device.as_ref() } {
        out.device = Some(Box::new(CDeviceInfo(own(*v, v.ctx, v.destroy))));
    }
    if let Some(v) = unsafe { h.events.as_ref() } {
        out.events = Some(Box::new(CEventSink(own(*v, v.ctx, v.destroy))));
    }
    if let Some(v) = unsafe { h.clock.as_ref() } {
        out.clock = Some(Box::new(crate::transport::CClock::new(*v)));
    }
    if let Some(v) = unsafe { h.transport.as_ref() } {
        out.transport = Some(Box::new(crate::transport::CTransport::new(*v)));
    }
    if let Some(v) = unsafe { h.printer.as_ref() } {
        out.printer = Some(Box::new(crate::printer::CPrinter::new(*v)));
    }
    if let Some(v) = unsafe { h.signature_pad.as_ref() } {
        out.signature_pad = Some(Box::new(crate::signature::CSignaturePad::new(*v)));
    }
    // SAFETY: as above.
    let security = unsafe { h.security.as_ref() }.map(|v| crate::security::CSecurity::new(*v));
    TakenHal { hal: out, security }
}

#[cfg(test)]
mod tests {
    use super::*;
    use possdk_core::hal::CardModes;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    static DESTROYED: AtomicUsize = AtomicUsize::new(0);

    unsafe extern "C" fn destroy(ctx: *mut c_void) {
        assert_eq!(ctx as usize, 0x1234);
        DESTROYED.fetch_add(1, Ordering::SeqCst);
    }

    unsafe extern "C" fn read_swipe(
        _ctx: *mut c_void,
        req: *const pos_card_request,
        out: *mut pos_card_data,
    ) -> pos_hal_status {
        let req = unsafe { &*req };
        if unsafe { pos_cancel_token_is_cancelled(req.cancel) } {
            return POS_HAL_CANCELLED;
        }
        assert!(req.has_amount && req.amount == 100 && req.timeout_ms == 5000);
        let out = unsafe { &mut *out };
        for (d, s) in out.track2.iter_mut().zip(b"6225880123456789D30121010000") {
            *d = *s as c_char;
        }
        POS_HAL_OK
    }

    fn card_request(cancel: CancelToken) -> CardRequest {
        CardRequest {
            transaction: "sale",
            amount: Some(100),
            modes: CardModes::ALL,
            timeout: Duration::from_secs(5),
            cancel,
        }
    }

    #[test]
    fn card_reader_callback_round_trip_and_destroy_once() {
        let before = DESTROYED.load(Ordering::SeqCst);
        let v = pos_card_reader {
            ctx: 0x1234 as *mut c_void,
            read_card: Some(read_swipe),
            complete_chip: None,
            load_emv_parameters: None,
            destroy: Some(destroy),
        };
        let hal = pos_hal {
            qr_display: std::ptr::null(),
            card_reader: &v,
            pin_pad: std::ptr::null(),
            qr_scanner: std::ptr::null(),
            device: std::ptr::null(),
            events: std::ptr::null(),
            security: std::ptr::null(),
            clock: std::ptr::null(),
            transport: std::ptr::null(),
            printer: std::ptr::null(),
            signature_pad: std::ptr::null(),
        };
        let mut h = unsafe { take_hal(&hal) }.hal;
        let reader = h.card_reader.as_mut().unwrap();
        let card = reader.read_card(&card_request(CancelToken::new())).unwrap();
        assert_eq!(card.entry, Some(EntryMode::Swipe));
        assert_eq!(
            card.track2.as_deref().map(|s| s.as_str()),
            Some("6225880123456789D30121010000")
        );
        let cancelled = CancelToken::new();
        cancelled.cancel();
        assert_eq!(
            reader.read_card(&card_request(cancelled)).unwrap_err(),
            HalError::Cancelled
        );
        // Missing optional callbacks: complete_chip is an error, EMV loading is accepted.
        let completion = ChipCompletion {
            response_code: "00".into(),
            icc_response: vec![],
            host_answered: true,
        };
        assert!(matches!(
            reader.complete_chip(&completion),
            Err(HalError::Device(_))
        ));
        assert!(reader.load_emv_parameters(&[], &[]).is_ok());
        drop(h);
        assert_eq!(DESTROYED.load(Ordering::SeqCst), before + 1);
    }

    #[test]
    fn bad_entry_mode_and_icc_len_are_device_errors() {
        let mut d = pos_card_data::zeroed();
        d.entry = 99;
        assert!(d.to_card().is_err());
        d.entry = POS_ENTRY_CHIP;
        d.icc_len = 1000;
        assert!(d.to_card().is_err());
        d.icc_len = 2;
        d.icc[0] = 0x9f;
        let c = d.to_card().unwrap();
        assert_eq!(c.icc.unwrap(), vec![0x9f, 0]);
    }

    unsafe extern "C" fn pin_cb(
        _ctx: *mut c_void,
        req: *const pos_pin_request,
        pan: *const c_char,
        out: *mut pos_pin_entry,
    ) -> pos_hal_status {
        let pan = unsafe { std::ffi::CStr::from_ptr(pan) }.to_str().unwrap();
        assert_eq!(pan, "6225880123456789");
        let masked = unsafe { std::ffi::CStr::from_ptr((*req).masked_pan) }
            .to_str()
            .unwrap();
        assert_eq!(masked, "622588******6789");
        let out = unsafe { &mut *out };
        out.kind = POS_PIN_CLEAR;
        for (d, s) in out.pin.iter_mut().zip(b"123456") {
            *d = *s as c_char;
        }
        POS_HAL_OK
    }

    #[test]
    fn pin_pad_clear_pin() {
        let v = pos_pin_pad {
            ctx: std::ptr::null_mut(),
            get_pin: Some(pin_cb),
            destroy: None,
        };
        let mut pad = CPinPad(own(v, v.ctx, v.destroy));
        let req = PinRequest {
            transaction: "sale",
            masked_pan: "622588******6789".into(),
            amount: Some(1),
            allow_bypass: false,
            timeout: Duration::from_secs(1),
            cancel: CancelToken::new(),
        };
        match pad.get_pin(&req, "6225880123456789").unwrap() {
            PinEntry::Clear(p) => assert_eq!(p.as_str(), "123456"),
            other => panic!("{other:?}"),
        }
    }
}
