//! The opaque terminal handle and the JSON entry point.
//!
//! A `pos_terminal *` is a registry handle, not an address (see `registry.rs`): every entry point looks
//! it up before use, so a freed, repeated or forged handle gives `POS_INVALID_HANDLE` (an
//! `invalid_handle` envelope for `pos_call_json`) and never touches freed memory, hangs or aborts.

use crate::callbacks::{pos_hal, take_hal};
use crate::panic::{boundary, boundary_or, catch};
use crate::registry::{CallGuard, Cancel, CloseOutcome, Registry};
use crate::result::{pos_error_details, pos_result, set_thread_last, Failure};
use crate::strings;
use once_cell::sync::Lazy;
use possdk_core::{Config, Terminal};
use std::ffi::c_char;
use std::sync::Mutex;

/// A terminal: configuration, devices, journal and security module. Create with `pos_terminal_new`,
/// free with `pos_terminal_free`. The pointer is an opaque handle that possdk validates on every call
/// (never dereferenced): using it after `pos_terminal_free`, freeing it twice, or passing a value that
/// is not a handle gives `POS_INVALID_HANDLE`. Operations on one handle are serialised internally;
/// `pos_cancel` and `pos_terminal_last_error` may be called from any thread at any time.
pub struct pos_terminal {
    // Never constructed: handles are registry values, not addresses of this type.
    _opaque: [u8; 0],
}

/// What a handle names.
struct Live {
    terminal: Terminal,
    last_error: Mutex<Option<Failure>>,
}

impl Cancel for Live {
    fn cancel(&self) {
        self.terminal.cancel()
    }
}

impl Live {
    fn record(&self, outcome: Option<&Failure>) {
        // A poisoned lock only means a panic happened while it was held; the data is a plain value.
        let mut slot = self.last_error.lock().unwrap_or_else(|p| p.into_inner());
        *slot = outcome.cloned();
    }
}

/// The terminals of this process.
static TERMINALS: Lazy<Registry<Live>> = Lazy::new(Registry::default);

fn to_handle(h: usize) -> *mut pos_terminal {
    // An opaque value for C; possdk never dereferences it.
    std::ptr::without_provenance_mut(h)
}

/// Enter a call on a handle: NULL and anything that is not a live handle are refused.
fn enter(t: *const pos_terminal) -> Result<CallGuard<Live>, Failure> {
    if t.is_null() {
        return Err(Failure::null("terminal"));
    }
    TERMINALS
        .enter(t.addr())
        .map_err(|_| Failure::invalid_handle("terminal"))
}

/// Run one operation on a handle: check it, catch panics, record the outcome (per handle and per thread)
/// and map it to a `pos_result`. `pos_terminal_free` waits for it to return.
pub(crate) fn run(
    t: *const pos_terminal,
    op: impl FnOnce(&Terminal) -> Result<(), Failure>,
) -> pos_result {
    boundary(|| {
        let guard = match enter(t) {
            Ok(g) => g,
            Err(f) => {
                log::debug!("possdk: call refused: {}", f.message);
                set_thread_last(Some(&f));
                return f.result;
            }
        };
        let live = guard.value();
        match catch(|| op(&live.terminal)).and_then(|r| r) {
            Ok(()) => {
                live.record(None);
                set_thread_last(None);
                pos_result::POS_OK
            }
            Err(f) => {
                log::debug!("possdk: call failed: {} {:?}", f.result.code(), f.field);
                live.record(Some(&f));
                set_thread_last(Some(&f));
                f.result
            }
        }
    })
}

/// Create a terminal from a JSON config (docs/JSON-API.md "Config") and optional device callbacks.
/// On success `*out` receives the handle; on failure `*out` is untouched and `pos_last_error` tells
/// which config field is wrong. Ownership of the callbacks' `ctx` passes to possdk whatever the result
/// (see `pos_hal`).
///
/// # Safety
/// `config_json` must be NULL or NUL-terminated; `hal` NULL or valid (see `pos_hal`); `out` NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn pos_terminal_new(
    config_json: *const c_char,
    hal: *const pos_hal,
    out: *mut *mut pos_terminal,
) -> pos_result {
    boundary(|| {
        // Take the callbacks first so their destroy runs exactly once on every path below.
        // SAFETY: caller contract.
        let taken = unsafe { take_hal(hal) };
        let result = (|| -> Result<usize, Failure> {
            let security = match taken.security {
                None => None,
                Some(Ok(s)) => Some(s),
                Some(Err(m)) => {
                    return Err(Failure::field(
                        pos_result::POS_INVALID_ARGUMENT,
                        "hal.security",
                        m,
                    ))
                }
            };
            if out.is_null() {
                return Err(Failure::null("out"));
            }
            // SAFETY: caller contract.
            let json = unsafe { strings::required(config_json, "config_json") }?;
            let config = Config::from_json(json)?;
            let terminal = match security {
                Some(s) => Terminal::with_security(config, taken.hal, Box::new(s))?,
                None => Terminal::new(config, taken.hal)?,
            };
            TERMINALS
                .register(Live {
                    terminal,
                    last_error: Mutex::new(None),
                })
                .ok_or_else(|| {
                    Failure::new(
                        pos_result::POS_INVALID_STATE,
                        "too many terminals are open; free one first",
                    )
                })
        })();
        match result {
            Ok(h) => {
                // SAFETY: checked non-NULL above; writable per the contract.
                unsafe { out.write(to_handle(h)) };
                set_thread_last(None);
                pos_result::POS_OK
            }
            Err(f) => {
                log::warn!(
                    "possdk: pos_terminal_new failed: {} {:?}",
                    f.result.code(),
                    f.field
                );
                set_thread_last(Some(&f));
                f.result
            }
        }
    })
}

/// Free a terminal: cancels the operation running on it (if any), waits for the calls in flight on other
/// threads to return, closes the journal and calls every callback's `destroy` before returning. NULL is a
/// no-op; a freed or foreign handle is ignored (`pos_last_error` then says `POS_INVALID_HANDLE`). Called
/// from inside one of the handle's own callbacks, it cannot wait: the terminal is then freed when that
/// operation returns.
///
/// # Safety
/// None: the handle is validated, never dereferenced (any value is safe to pass).
#[no_mangle]
pub unsafe extern "C" fn pos_terminal_free(terminal: *mut pos_terminal) {
    boundary(|| {
        if terminal.is_null() {
            return;
        }
        match TERMINALS.close(terminal.addr()) {
            CloseOutcome::Freed | CloseOutcome::Deferred => set_thread_last(None),
            CloseOutcome::Invalid => {
                log::warn!("possdk: pos_terminal_free on a handle that is not live (ignored)");
                set_thread_last(Some(&Failure::invalid_handle("terminal")));
            }
        }
    })
}

/// Stop the operation waiting on this terminal (card, PIN, QR or host answer). Callable from any thread,
/// any number of times; a no-op when nothing runs. A request already sent is reversed; the operation
/// returns `POS_CANCELLED` (or `POS_HOST_TIMEOUT` when a reversal is left pending).
/// `POS_INVALID_HANDLE` when the handle was freed or is not a handle.
///
/// # Safety
/// None: the handle is validated, never dereferenced (any value is safe to pass).
#[no_mangle]
pub unsafe extern "C" fn pos_cancel(terminal: *mut pos_terminal) -> pos_result {
    boundary(|| {
        if terminal.is_null() {
            return pos_result::POS_NULL_POINTER;
        }
        match TERMINALS.cancel(terminal.addr()) {
            Ok(()) => pos_result::POS_OK,
            Err(_) => pos_result::POS_INVALID_HANDLE,
        }
    })
}

/// Details of the last failed call on this handle (from any thread); `result` is `POS_OK` when the last
/// call succeeded. `out` is written on success. With several threads calling operations on one handle the
/// details belong to whichever finished last.
///
/// # Safety
/// `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pos_terminal_last_error(
    terminal: *const pos_terminal,
    out: *mut pos_error_details,
) -> pos_result {
    boundary(|| {
        let guard = match enter(terminal) {
            Ok(g) => g,
            Err(f) => return f.result,
        };
        if out.is_null() {
            return pos_result::POS_NULL_POINTER;
        }
        let slot = guard
            .value()
            .last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let d = pos_error_details::from_failure(slot.as_ref());
        // SAFETY: checked non-NULL.
        unsafe { out.write(d) };
        pos_result::POS_OK
    })
}

/// The full message of the last failed call on this handle (the details struct truncates it), copied
/// NUL-terminated into `buf` (`len` bytes including the NUL). `*written` (when not NULL) receives the
/// message length without the NUL; if `len` is too small nothing is copied, `*written` still receives
/// the needed length and the result is `POS_BUFFER_TOO_SMALL`. No recorded error gives "".
///
/// # Safety
/// `buf` NULL or writable for `len` bytes; `written` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pos_terminal_last_error_message(
    terminal: *const pos_terminal,
    buf: *mut c_char,
    len: usize,
    written: *mut usize,
) -> pos_result {
    boundary(|| {
        let guard = match enter(terminal) {
            Ok(g) => g,
            Err(f) => return f.result,
        };
        let message = {
            let slot = guard
                .value()
                .last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            slot.as_ref().map(|f| f.message.clone()).unwrap_or_default()
        };
        // SAFETY: caller contract.
        unsafe { strings::copy_out(&message, buf, len, written) }
    })
}

/// The JSON entry point: `{"op": ..., ...}` in, an envelope out (`{"ok":true,"result":{...}}` or
/// `{"ok":false,"error":{"code","message","field"?}}`). The returned string is owned by the caller and
/// freed with `pos_string_free`. For a NULL terminal, a NULL or non-UTF-8 request the result is an error
/// envelope too, and for a freed or foreign handle one with code `invalid_handle`. Only allocation
/// failure could give NULL.
///
/// # Safety
/// `request_json` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn pos_call_json(
    terminal: *mut pos_terminal,
    request_json: *const c_char,
) -> *mut c_char {
    boundary(|| {
        // A panic here (handle lookup, string conversion) still answers with an envelope; panics of the
        // engine are caught by `call_json` itself, the JSON boundary shared with the JNI bridge.
        let envelope = catch(|| {
            let guard = match enter(terminal) {
                Ok(g) => g,
                Err(f) => return f.to_envelope(),
            };
            // SAFETY: caller contract.
            let request = match unsafe { strings::required(request_json, "request") } {
                Ok(r) => r,
                Err(f) => return f.to_envelope(),
            };
            possdk_core::api::call_json(&guard.value().terminal, request)
        })
        .unwrap_or_else(|f| f.to_envelope());
        strings::owned(envelope)
    })
}

/// Free a string returned by possdk (`pos_call_json`, result structs' owned strings). NULL is a no-op.
///
/// # Safety
/// `s` must be NULL or a string returned by possdk, freed once.
#[no_mangle]
pub unsafe extern "C" fn pos_string_free(s: *mut c_char) {
    // SAFETY: caller contract.
    boundary(|| unsafe { strings::free_owned(s) })
}

/// The library version (`"0.1.0"`), static.
#[no_mangle]
pub extern "C" fn pos_version() -> *const c_char {
    const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");
    boundary_or(VERSION.as_ptr().cast(), || VERSION.as_ptr().cast())
}
