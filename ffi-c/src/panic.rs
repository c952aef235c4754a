//! The panic boundary: no unwind ever crosses into C.
//!
//! Every `extern "C"` function runs its body inside [`boundary`]. A panic is caught, logged (the payload
//! text only: core messages carry no secrets) and turned into the function's failure value: `POS_PANIC`
//! for functions returning `pos_result`, NULL for pointers, nothing for `void` functions.

use crate::result::pos_result;
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

/// Run `f`, catching any panic. Memory stays valid (the handle is not freed or moved); whether a later
/// call on a handle whose operation panicked succeeds depends on the core's lock handling, but it can
/// only ever return an error code, never unwind.
pub(crate) fn boundary<R: PanicValue>(f: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(payload) => {
            log::error!(
                "possdk: panic caught at the C boundary: {}",
                payload_text(&payload)
            );
            drop_payload(payload);
            crate::result::set_thread_last(Some(&crate::result::Failure::panic()));
            R::panic_value()
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
}
