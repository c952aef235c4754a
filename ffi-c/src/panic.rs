//! The panic boundary: no unwind ever crosses into C.
//!
//! One boundary, here: [`catch`] is the only `catch_unwind` of this crate. Every `extern "C"` function's
//! body runs inside [`boundary`] (or [`boundary_or`] for the few that must never return NULL, or the
//! handle entry points' `run`, which records the failure on the handle too). A panic is caught, logged
//! (the payload text only: core messages carry no secrets), recorded for `pos_last_error` and turned
//! into the function's failure value: `POS_PANIC` for functions returning `pos_result`, NULL for
//! pointers, `false`, nothing for `void` functions. A unit test checks that every exported function
//! goes through it.
//!
//! The JSON entry point is the one other boundary: `possdk_core::api::call_json` catches panics of the
//! engine itself and answers an `internal` envelope. It stays in the core because the JNI bridge calls
//! `call_json` too, so both bridges share that one JSON boundary; `pos_call_json` adds only this crate's
//! boundary around its own work (handle lookup, string conversion).

use crate::result::{pos_result, set_thread_last, Failure};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// What a function returns when its body panicked.
pub(crate) trait PanicValue {
    fn panic_value() -> Self;
}

impl PanicValue for pos_result {
    fn panic_value() -> Self {
        pos_result::POS_PANIC
    }
}

impl PanicValue for () {
    fn panic_value() -> Self {}
}

impl PanicValue for bool {
    fn panic_value() -> Self {
        false
    }
}

impl<T> PanicValue for *mut T {
    fn panic_value() -> Self {
        std::ptr::null_mut()
    }
}

impl<T> PanicValue for *const T {
    fn panic_value() -> Self {
        std::ptr::null()
    }
}

/// Run `f`, catching any panic: the crate's only `catch_unwind`. A panic becomes `Failure::panic()`.
/// Memory stays valid (the handle is not freed or moved); whether a later call on a handle whose
/// operation panicked succeeds depends on the core's lock handling, but it can only ever return an error
/// code, never unwind.
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> Result<R, Failure> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        log::error!(
            "possdk: panic caught at the C boundary: {}",
            payload_text(&payload)
        );
        drop_payload(payload);
        Failure::panic()
    })
}

/// Run an exported function's body: a panic gives `R`'s failure value and is recorded for
/// `pos_last_error`.
pub(crate) fn boundary<R: PanicValue>(f: impl FnOnce() -> R) -> R {
    boundary_or(R::panic_value(), f)
}

/// As [`boundary`], with an explicit value for a panic (functions documented never to return NULL).
pub(crate) fn boundary_or<R>(on_panic: R, f: impl FnOnce() -> R) -> R {
    match catch(f) {
        Ok(v) => v,
        Err(failure) => {
            set_thread_last(Some(&failure));
            on_panic
        }
    }
}

/// Drop a panic payload; should its Drop panic in turn, that second payload is leaked rather than
/// unwound into C.
pub(crate) fn drop_payload(payload: Box<dyn std::any::Any + Send>) {
    if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(again);
    }
}

pub(crate) fn payload_text(payload: &Box<dyn std::any::Any + Send>) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.as_str()
    } else {
        "non-string panic payload"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_becomes_value() {
        let r: pos_result = boundary(|| panic!("boom"));
        assert_eq!(r, pos_result::POS_PANIC);
        let p: *mut u8 = boundary(|| panic!("boom"));
        assert!(p.is_null());
        let ok: pos_result = boundary(|| pos_result::POS_OK);
        assert_eq!(ok, pos_result::POS_OK);
    }

    #[test]
    fn panic_with_explicit_value() {
        let p: *const u8 = boundary_or(b"x".as_ptr(), || panic!("boom"));
        assert!(!p.is_null());
        let last = crate::result::thread_last().expect("recorded");
        assert_eq!(last.result, pos_result::POS_PANIC);
    }

    /// Every exported function's body goes through the boundary: directly, through `run` (handle entry
    /// points) or through the op table (`table::<op>`, which calls `run`).
    #[test]
    fn every_export_is_behind_the_boundary() {
        let sources = [
            ("callbacks.rs", include_str!("callbacks.rs")),
            ("handle.rs", include_str!("handle.rs")),
            ("ops.rs", include_str!("ops.rs")),
            ("result.rs", include_str!("result.rs")),
            ("security.rs", include_str!("security.rs")),
            ("strings.rs", include_str!("strings.rs")),
            ("transport.rs", include_str!("transport.rs")),
        ];
        let mut exports = 0;
        for (file, src) in sources {
            for (i, _) in src.match_indices("#[no_mangle]") {
                let item = &src[i..];
                let name_at = item.find("fn ").expect("fn after #[no_mangle]") + 3;
                let name: String = item[name_at..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                // The item up to its closing brace at column 0 (the signature has none of the markers).
                let body = &item[..item.find("\n}\n").unwrap_or(item.len())];
                let guarded = ["boundary(", "boundary_or(", "run(", "table::"]
                    .iter()
                    .any(|m| body.contains(m));
                assert!(
                    guarded,
                    "{file}: {name} does not run inside the panic boundary"
                );
                exports += 1;
            }
        }
        assert!(exports > 30, "found only {exports} exports");
    }
}
