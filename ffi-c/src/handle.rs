//! The opaque terminal handle and the JSON entry point.

use crate::callbacks::{pos_hal, take_hal};
use crate::panic::{boundary, boundary_or};
use crate::result::{pos_error_details, pos_result, set_thread_last, Failure};
use crate::strings;
use possdk_core::{Config, Terminal};
use std::ffi::c_char;
use std::sync::Mutex;

/// A terminal: configuration, devices, journal and security module. Create with `pos_terminal_new`,
/// free with `pos_terminal_free`. Operations on one handle are serialised internally; `pos_cancel` and
/// `pos_terminal_last_error` may be called from any thread at any time while the handle is live.
pub struct pos_terminal {
    terminal: Terminal,
    last_error: Mutex<Option<Failure>>,
}

// The handle is shared between threads by the application (operations, pos_cancel, last_error).
const _: () = {
    const fn assert_sync_send<T: Sync + Send>() {}
    assert_sync_send::<pos_terminal>();
};

impl pos_terminal {
    fn record(&self, outcome: Option<&Failure>) {
        // A poisoned lock only means a panic happened while it was held; the data is a plain value.
        let mut slot = self.last_error.lock().unwrap_or_else(|p| p.into_inner());
        *slot = outcome.cloned();
    }
}

/// Borrow a live handle.
///
/// # Safety
/// `t` must be NULL or a handle from `pos_terminal_new` not yet freed.
unsafe fn handle<'a>(t: *const pos_terminal) -> Result<&'a pos_terminal, Failure> {
    // SAFETY: caller contract.
    unsafe { t.as_ref() }.ok_or_else(|| Failure::null("terminal"))
}

/// Run one operation on a handle: check it, catch panics, record the outcome (per handle and per thread)
/// and map it to a `pos_result`.
///
/// # Safety
/// As [`handle`].
pub(crate) unsafe fn run(
    t: *const pos_terminal,
    op: impl FnOnce(&Terminal) -> Result<(), Failure>,
) -> pos_result {
    // SAFETY: forwarded.
    let h = match unsafe { handle(t) } {
        Ok(h) => h,
        Err(f) => {
            set_thread_last(Some(&f));
            return f.result;
        }
    };
    let outcome = crate::panic::catch(|| op(&h.terminal)).and_then(|r| r);
    match outcome {
        Ok(()) => {
            h.record(None);
            set_thread_last(None);
            pos_result::POS_OK
        }
        Err(f) => {
            log::debug!("possdk: call failed: {} {:?}", f.result.code(), f.field);
            h.record(Some(&f));
            set_thread_last(Some(&f));
            f.result
        }
    }
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
        let result = (|| -> Result<Box<pos_terminal>, Failure> {
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
            Ok(Box::new(pos_terminal {
                terminal,
                last_error: Mutex::new(None),
            }))
        })();
        match result {
            Ok(t) => {
                // SAFETY: checked non-NULL above.
                unsafe { out.write(Box::into_raw(t)) };
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

/// Free a terminal (NULL is a no-op): closes the journal and calls every callback's `destroy`. No other
/// call on this handle may be running or follow.
///
/// # Safety
/// `terminal` must be NULL or a live handle from `pos_terminal_new`, freed only once.
#[no_mangle]
pub unsafe extern "C" fn pos_terminal_free(terminal: *mut pos_terminal) {
    boundary(|| {
        if !terminal.is_null() {
            // SAFETY: made by Box::into_raw in pos_terminal_new; freed once per the contract.
            drop(unsafe { Box::from_raw(terminal) });
        }
    })
}

/// Stop the operation waiting on this terminal (card, PIN, QR or host answer). Callable from any thread,
/// any number of times; a no-op when nothing runs. A request already sent is reversed; the operation
/// returns `POS_CANCELLED` (or `POS_HOST_TIMEOUT` when a reversal is left pending).
///
/// # Safety
/// `terminal` must be NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn pos_cancel(terminal: *mut pos_terminal) -> pos_result {
    boundary(|| {
        // SAFETY: caller contract.
        match unsafe { handle(terminal) } {
            Ok(h) => {
                h.terminal.cancel();
                pos_result::POS_OK
            }
            Err(f) => f.result,
        }
    })
}

/// Details of the last failed call on this handle (from any thread); `result` is `POS_OK` when the last
/// call succeeded. `out` is written on success. With several threads calling operations on one handle the
/// details belong to whichever finished last.
///
/// # Safety
/// `terminal` NULL or live; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pos_terminal_last_error(
    terminal: *const pos_terminal,
    out: *mut pos_error_details,
) -> pos_result {
    boundary(|| {
        // SAFETY: caller contract.
        let h = match unsafe { handle(terminal) } {
            Ok(h) => h,
            Err(f) => return f.result,
        };
        if out.is_null() {
            return pos_result::POS_NULL_POINTER;
        }
        let slot = h.last_error.lock().unwrap_or_else(|p| p.into_inner());
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
/// `terminal` NULL or live; `buf` NULL or writable for `len` bytes; `written` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn pos_terminal_last_error_message(
    terminal: *const pos_terminal,
    buf: *mut c_char,
    len: usize,
    written: *mut usize,
) -> pos_result {
    boundary(|| {
        // SAFETY: caller contract.
        let h = match unsafe { handle(terminal) } {
            Ok(h) => h,
            Err(f) => return f.result,
        };
        let message = {
            let slot = h.last_error.lock().unwrap_or_else(|p| p.into_inner());
            slot.as_ref().map(|f| f.message.clone()).unwrap_or_default()
        };
        // SAFETY: caller contract.
        unsafe { strings::copy_out(&message, buf, len, written) }
    })
}

/// The JSON entry point: `{"op": ..., ...}` in, an envelope out (`{"ok":true,"result":{...}}` or
/// `{"ok":false,"error":{"code","message","field"?}}`). The returned string is owned by the caller and
/// freed with `pos_string_free`. Never NULL for a live terminal; for a NULL terminal, a NULL or non-UTF-8
/// request, the result is an error envelope too. Only allocation failure could give NULL.
///
/// # Safety
/// `terminal` NULL or live; `request_json` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn pos_call_json(
    terminal: *mut pos_terminal,
    request_json: *const c_char,
) -> *mut c_char {
    boundary(|| {
        // A panic here (handle lookup, string conversion) still answers with an envelope; panics of the
        // engine are caught by `call_json` itself, the JSON boundary shared with the JNI bridge.
        let envelope = crate::panic::catch(|| {
            // SAFETY: caller contract.
            let h = match unsafe { handle(terminal) } {
                Ok(h) => h,
                Err(f) => return possdk_core::api::error_json(&f.to_core_error()),
            };
            // SAFETY: caller contract.
            let request = match unsafe { strings::required(request_json, "request") } {
                Ok(r) => r,
                Err(f) => return possdk_core::api::error_json(&f.to_core_error()),
            };
            possdk_core::api::call_json(&h.terminal, request)
        })
        .unwrap_or_else(|f| possdk_core::api::error_json(&f.to_core_error()));
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
