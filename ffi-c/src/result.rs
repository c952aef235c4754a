//! Numbered results and error details.
//!
//! `pos_result` values for core errors are exactly `ErrorKind::number()`; the 6xx group belongs to the C
//! boundary itself. A number, once given, is never reused for something else.

use once_cell::sync::Lazy;
use possdk_core::{Error, ErrorKind, Outcome};
use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};

/// Result of every fallible entry point. `POS_OK` (0) is success; anything else is an error whose
/// number is stable: 1xx request/state, 2xx host, 3xx security, 4xx devices, 5xx storage/internal,
/// 6xx the C boundary itself.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum pos_result {
    POS_OK = 0,
    /// Request is not valid JSON.
    POS_INVALID_JSON = 100,
    /// A request field is missing or wrong (see the error details' `field`).
    POS_INVALID_REQUEST = 101,
    POS_NOT_ACTIVATED = 102,
    POS_NOT_SIGNED_IN = 103,
    POS_ORIGINAL_NOT_FOUND = 104,
    /// The operation is not allowed in the terminal's current state.
    POS_INVALID_STATE = 105,
    /// Cancelled by `pos_cancel` or a device callback.
    POS_CANCELLED = 106,
    POS_HOST_UNREACHABLE = 200,
    /// No answer in time; a reversal is pending.
    POS_HOST_TIMEOUT = 201,
    POS_INVALID_RESPONSE = 202,
    POS_HOST_REJECTED = 203,
    POS_KEY_CHECK_FAILED = 300,
    POS_SECURITY = 301,
    /// A device callback failed.
    POS_DEVICE = 400,
    POS_JOURNAL = 500,
    POS_INTERNAL = 501,
    /// A required pointer argument was NULL.
    POS_NULL_POINTER = 600,
    /// A string argument is not valid UTF-8.
    POS_INVALID_UTF8 = 601,
    /// possdk panicked; the call was abandoned without unwinding into C. The journal keeps what was
    /// recorded (a pending reversal included); if the handle keeps answering `POS_PANIC`, free it and open
    /// a new one on the same journal.
    POS_PANIC = 602,
    /// A caller buffer is too small (the needed size is reported where the function has a `written` output).
    POS_BUFFER_TOO_SMALL = 603,
    /// An integer argument is out of its range (unknown enum constant, ...).
    POS_INVALID_ARGUMENT = 604,
}

impl pos_result {
    /// Every value, for tests and documentation.
    pub const ALL: [pos_result; 22] = [
        pos_result::POS_OK,
        pos_result::POS_INVALID_JSON,
        pos_result::POS_INVALID_REQUEST,
        pos_result::POS_NOT_ACTIVATED,
        pos_result::POS_NOT_SIGNED_IN,
        pos_result::POS_ORIGINAL_NOT_FOUND,
        pos_result::POS_INVALID_STATE,
        pos_result::POS_CANCELLED,
        pos_result::POS_HOST_UNREACHABLE,
        pos_result::POS_HOST_TIMEOUT,
        pos_result::POS_INVALID_RESPONSE,
        pos_result::POS_HOST_REJECTED,
        pos_result::POS_KEY_CHECK_FAILED,
        pos_result::POS_SECURITY,
        pos_result::POS_DEVICE,
        pos_result::POS_JOURNAL,
        pos_result::POS_INTERNAL,
        pos_result::POS_NULL_POINTER,
        pos_result::POS_INVALID_UTF8,
        pos_result::POS_PANIC,
        pos_result::POS_BUFFER_TOO_SMALL,
        pos_result::POS_INVALID_ARGUMENT,
    ];

    /// The result of a core error kind: the same number (a test keeps the two tables equal).
    pub fn from_kind(kind: ErrorKind) -> pos_result {
        pos_result::from_i32(kind.number()).unwrap_or(pos_result::POS_INTERNAL)
    }

    pub fn from_i32(n: i32) -> Option<pos_result> {
        Self::ALL.iter().copied().find(|r| *r as i32 == n)
    }

    /// The core error kind with this number; `None` for `POS_OK` and the C boundary's own 6xx results.
    pub fn kind(self) -> Option<ErrorKind> {
        ErrorKind::from_number(self as i32)
    }

    /// Snake-case code, equal to the JSON API's `error.code` for core errors.
    pub fn code(self) -> &'static str {
        if let Some(kind) = self.kind() {
            return kind.code();
        }
        match self {
            pos_result::POS_OK => "ok",
            pos_result::POS_NULL_POINTER => "null_pointer",
            pos_result::POS_INVALID_UTF8 => "invalid_utf8",
            pos_result::POS_PANIC => "panic",
            pos_result::POS_BUFFER_TOO_SMALL => "buffer_too_small",
            pos_result::POS_INVALID_ARGUMENT => "invalid_argument",
            // Core kinds are answered above.
            _ => "unknown",
        }
    }

    /// One-line description: the core table's (`ErrorKind::message`) for core errors.
    pub fn message(self) -> &'static str {
        if let Some(kind) = self.kind() {
            return kind.message();
        }
        match self {
            pos_result::POS_OK => "success",
            pos_result::POS_NULL_POINTER => "a required pointer argument was NULL",
            pos_result::POS_INVALID_UTF8 => "a string argument is not valid UTF-8",
            pos_result::POS_PANIC => "possdk panicked; the call was aborted",
            pos_result::POS_BUFFER_TOO_SMALL => "the output buffer is too small",
            pos_result::POS_INVALID_ARGUMENT => "an argument is out of range",
            _ => "unknown result",
        }
    }

    /// The table of result numbers in docs/C-API.md, generated from `ErrorKind` (core errors) and this
    /// enum (the C boundary); a test keeps the docs equal to it.
    pub fn markdown() -> String {
        let mut out =
            String::from("| Number | `pos_result` | Code | Meaning |\n|---|---|---|---|\n");
        for r in pos_result::ALL {
            out.push_str(&format!(
                "| {} | `{:?}` | `{}` | {} |\n",
                r as i32,
                r,
                r.code(),
                r.message()
            ));
        }
        out
    }
}

/// The codes and messages as static C strings, built once.
struct CStrings {
    codes: Vec<(i32, CString)>,
    messages: Vec<(i32, CString)>,
}

static C_STRINGS: Lazy<CStrings> = Lazy::new(|| {
    // The texts are static Rust strings without NULs (a test checks), so `CString::new` cannot fail.
    let c = |s: &str| CString::new(s).unwrap_or_default();
    CStrings {
        codes: pos_result::ALL
            .iter()
            .map(|r| (*r as i32, c(r.code())))
            .collect(),
        messages: pos_result::ALL
            .iter()
            .map(|r| (*r as i32, c(r.message())))
            .collect(),
    }
});

fn lookup(table: &[(i32, CString)], n: i32) -> Option<&CStr> {
    table
        .iter()
        .find(|(k, _)| *k == n)
        .map(|(_, s)| s.as_c_str())
}

/// Where the money stands after a financial operation (docs/JSON-API.md, "Outcome"). In
/// `pos_transaction_result` and in `pos_error_details` of a failed financial operation;
/// `POS_OUTCOME_NONE` for anything else.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum pos_outcome {
    /// Not a financial operation (or it failed at the C boundary before the core saw it).
    POS_OUTCOME_NONE = 0,
    /// Approved by the host and recorded: the money moved.
    POS_OUTCOME_APPROVED = 1,
    /// Declined by the host or the card: nothing moved.
    POS_OUTCOME_DECLINED = 2,
    /// Sent, then reversed (the host confirmed): nothing moved.
    POS_OUTCOME_REVERSED = 3,
    /// Sent; its reversal is recorded and goes before anything else: nothing will have moved.
    POS_OUTCOME_REVERSAL_PENDING = 4,
    /// An advice without a valid answer yet: kept and resent until answered. Never repeat it.
    POS_OUTCOME_ADVICE_PENDING = 5,
    /// Nothing reached the host.
    POS_OUTCOME_NOT_SENT = 6,
}

impl pos_outcome {
    pub(crate) fn of(o: Option<Outcome>) -> pos_outcome {
        match o {
            None => pos_outcome::POS_OUTCOME_NONE,
            Some(Outcome::Approved) => pos_outcome::POS_OUTCOME_APPROVED,
            Some(Outcome::Declined) => pos_outcome::POS_OUTCOME_DECLINED,
            Some(Outcome::Reversed) => pos_outcome::POS_OUTCOME_REVERSED,
            Some(Outcome::ReversalPending) => pos_outcome::POS_OUTCOME_REVERSAL_PENDING,
            Some(Outcome::AdvicePending) => pos_outcome::POS_OUTCOME_ADVICE_PENDING,
            Some(Outcome::NotSent) => pos_outcome::POS_OUTCOME_NOT_SENT,
        }
    }
}

/// Why a call failed, as recorded for `pos_terminal_last_error` / `pos_last_error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub result: pos_result,
    pub message: String,
    pub field: Option<String>,
    pub outcome: Option<Outcome>,
    pub stan: Option<u32>,
}

impl Failure {
    pub fn new(result: pos_result, message: impl Into<String>) -> Self {
        Failure {
            result,
            message: message.into(),
            field: None,
            outcome: None,
            stan: None,
        }
    }
    pub fn field(result: pos_result, field: &str, message: impl Into<String>) -> Self {
        Failure {
            result,
            message: message.into(),
            field: Some(field.to_string()),
            outcome: None,
            stan: None,
        }
    }
    pub fn null(field: &str) -> Self {
        Failure::field(
            pos_result::POS_NULL_POINTER,
            field,
            format!("{field} is NULL"),
        )
    }
    pub fn panic() -> Self {
        Failure::new(
            pos_result::POS_PANIC,
            "possdk panicked; the call was aborted",
        )
    }
    /// The JSON API's error envelope for this failure (boundary failures map to the nearest JSON code).
    pub fn to_core_error(&self) -> Error {
        let kind = match self.result {
            pos_result::POS_INVALID_UTF8 => ErrorKind::InvalidJson,
            pos_result::POS_NULL_POINTER | pos_result::POS_INVALID_ARGUMENT => {
                ErrorKind::InvalidRequest
            }
            r => r.kind().unwrap_or(ErrorKind::Internal),
        };
        let mut e = Error::new(kind, self.message.clone());
        e.field = self.field.clone();
        e.outcome = self.outcome;
        e.stan = self.stan;
        e
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure {
            result: pos_result::from_kind(e.kind),
            message: e.message,
            field: e.field,
            outcome: e.outcome,
            stan: e.stan,
        }
    }
}

/// Details of a failed call, filled by `pos_terminal_last_error` and `pos_last_error`. Strings are
/// NUL-terminated and truncated (at a UTF-8 character boundary) to fit.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct pos_error_details {
    /// `POS_OK` when no error has been recorded.
    pub result: pos_result,
    /// Snake-case code (`invalid_request`, `host_timeout`, `null_pointer`, ...).
    pub code: [c_char; 32],
    /// The request field at fault (`amount`, `card.pan`, `gateway.tpdu`, ...) or "".
    pub field: [c_char; 64],
    /// Readable message; never contains a PIN, key, full PAN or track data.
    pub message: [c_char; 256],
    /// Financial operations: where the money stands; `POS_OUTCOME_NONE` otherwise.
    pub outcome: pos_outcome,
    /// Financial operations: the STAN of the journalled request, or 0 when none was journalled.
    pub stan: u32,
}

impl pos_error_details {
    pub(crate) fn from_failure(f: Option<&Failure>) -> pos_error_details {
        let mut d = pos_error_details {
            result: pos_result::POS_OK,
            code: [0; 32],
            field: [0; 64],
            message: [0; 256],
            outcome: pos_outcome::POS_OUTCOME_NONE,
            stan: 0,
        };
        match f {
            None => {
                crate::strings::put(&mut d.code, "ok");
            }
            Some(f) => {
                d.result = f.result;
                crate::strings::put(&mut d.code, f.result.code());
                crate::strings::put(&mut d.field, f.field.as_deref().unwrap_or(""));
                crate::strings::put(&mut d.message, &f.message);
                d.outcome = pos_outcome::of(f.outcome);
                d.stan = f.stan.unwrap_or(0);
            }
        }
        d
    }
}

impl std::fmt::Debug for pos_error_details {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = |a: &[c_char]| crate::strings::get(a, "").unwrap_or_default();
        f.debug_struct("pos_error_details")
            .field("result", &self.result)
            .field("code", &s(&self.code))
            .field("field", &s(&self.field))
            .field("message", &s(&self.message))
            .field("outcome", &self.outcome)
            .field("stan", &self.stan)
            .finish()
    }
}

thread_local! {
    static THREAD_LAST: RefCell<Option<Failure>> = const { RefCell::new(None) };
}

/// Record the outcome of a call on this thread (`pos_last_error`).
pub(crate) fn set_thread_last(f: Option<&Failure>) {
    // `try_with`: during thread teardown the slot may be gone; losing the detail then is harmless.
    let _ = THREAD_LAST.try_with(|slot| {
        if let Ok(mut s) = slot.try_borrow_mut() {
            *s = f.cloned();
        }
    });
}

pub(crate) fn thread_last() -> Option<Failure> {
    THREAD_LAST
        .try_with(|slot| slot.try_borrow().ok().and_then(|s| s.clone()))
        .ok()
        .flatten()
}

/// A static, NUL-terminated description of a result number. Unknown numbers give "unknown result".
/// Never NULL; the string must not be freed.
#[no_mangle]
pub extern "C" fn pos_result_message(result: i32) -> *const c_char {
    crate::panic::boundary_or(c"unknown result".as_ptr(), || {
        lookup(&C_STRINGS.messages, result)
            .unwrap_or(c"unknown result")
            .as_ptr()
    })
}

/// The snake-case code of a result number (`"host_timeout"`), equal to the JSON API's `error.code` for
/// core errors. Unknown numbers give "unknown". Never NULL; static, must not be freed.
#[no_mangle]
pub extern "C" fn pos_result_code(result: i32) -> *const c_char {
    crate::panic::boundary_or(c"unknown".as_ptr(), || {
        lookup(&C_STRINGS.codes, result)
            .unwrap_or(c"unknown")
            .as_ptr()
    })
}

/// Details of the last failed call made on the calling thread (any handle, or `pos_terminal_new`).
/// A successful call clears them (`result` is then `POS_OK`). `out` is written on success.
///
/// # Safety
/// `out` must be NULL or point to writable memory for one `pos_error_details`.
#[no_mangle]
pub unsafe extern "C" fn pos_last_error(out: *mut pos_error_details) -> pos_result {
    crate::panic::boundary(|| {
        if out.is_null() {
            return pos_result::POS_NULL_POINTER;
        }
        let d = pos_error_details::from_failure(thread_last().as_ref());
        // SAFETY: checked non-NULL; the caller promises it is writable.
        unsafe { out.write(d) };
        pos_result::POS_OK
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::ffi::CStr;

    #[test]
    fn pos_result_equals_the_core_error_table() {
        // Every core kind has a pos_result with its number, code and message ...
        for k in ErrorKind::ALL {
            let r = pos_result::from_kind(k);
            assert_eq!(r as i32, k.number(), "{k:?}");
            assert_eq!(r.kind(), Some(k));
            assert_eq!(r.code(), k.code());
            let message = unsafe { CStr::from_ptr(pos_result_message(k.number())) };
            assert_eq!(message.to_str().unwrap(), k.message(), "{k:?}");
            let code = unsafe { CStr::from_ptr(pos_result_code(k.number())) };
            assert_eq!(code.to_str().unwrap(), k.code(), "{k:?}");
        }
        // ... and every pos_result is POS_OK, a core kind, or one of the C boundary's own 6xx.
        for r in pos_result::ALL {
            match r.kind() {
                Some(k) => assert_eq!(pos_result::from_kind(k), r),
                None => assert!(
                    r == pos_result::POS_OK || r as i32 / 100 == 6,
                    "{r:?} is neither a core kind nor a 6xx boundary result"
                ),
            }
            // The variant name is the code in capitals.
            let name = format!("{r:?}");
            assert_eq!(name, format!("POS_{}", r.code().to_uppercase()), "{r:?}");
        }
    }

    #[test]
    fn numbers_are_unique_and_grouped() {
        let mut seen = HashSet::new();
        for r in pos_result::ALL {
            assert!(seen.insert(r as i32), "{r:?} reused");
            assert_eq!(pos_result::from_i32(r as i32), Some(r));
            let msg = r.message();
            assert!(!msg.is_empty() && !msg.contains('\0'));
            assert_ne!(r.code(), "unknown", "{r:?} has no code");
        }
        let boundary = pos_result::ALL
            .iter()
            .filter(|r| r.kind().is_none())
            .count();
        assert_eq!(seen.len(), ErrorKind::ALL.len() + boundary);
    }

    #[test]
    fn docs_list_every_result() {
        let doc = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/C-API.md"),
        )
        .expect("docs/C-API.md");
        assert!(
            doc.contains(&pos_result::markdown()),
            "docs/C-API.md's result table differs from ErrorKind + pos_result; paste this:\n{}",
            pos_result::markdown()
        );
    }

    #[test]
    fn message_and_code_are_static_strings() {
        let m = unsafe { CStr::from_ptr(pos_result_message(201)) };
        assert!(m.to_str().unwrap().contains("reversal"));
        let u = unsafe { CStr::from_ptr(pos_result_message(-7)) };
        assert_eq!(u.to_str().unwrap(), "unknown result");
        let c = unsafe { CStr::from_ptr(pos_result_code(101)) };
        assert_eq!(c.to_str().unwrap(), "invalid_request");
        let c = unsafe { CStr::from_ptr(pos_result_code(603)) };
        assert_eq!(c.to_str().unwrap(), "buffer_too_small");
        let c = unsafe { CStr::from_ptr(pos_result_code(9999)) };
        assert_eq!(c.to_str().unwrap(), "unknown");
    }
}
