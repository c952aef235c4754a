//! String conversion across the boundary: borrowed C strings in, fixed arrays and owned strings out.

use crate::result::{pos_result, Failure};
use std::ffi::{c_char, CStr, CString};
use zeroize::Zeroizing;

/// Borrow a required NUL-terminated UTF-8 string.
///
/// # Safety
/// `p` must be NULL or a valid NUL-terminated string that outlives the returned borrow.
pub(crate) unsafe fn required<'a>(p: *const c_char, field: &str) -> Result<&'a str, Failure> {
    if p.is_null() {
        return Err(Failure::null(field));
    }
    // SAFETY: non-NULL and NUL-terminated per the caller's contract.
    let c = unsafe { CStr::from_ptr(p) };
    c.to_str().map_err(|_| {
        Failure::field(
            pos_result::POS_INVALID_UTF8,
            field,
            format!("{field} is not valid UTF-8"),
        )
    })
}

/// Borrow an optional string: NULL is `None`.
///
/// # Safety
/// As [`required`].
pub(crate) unsafe fn optional<'a>(
    p: *const c_char,
    field: &str,
) -> Result<Option<&'a str>, Failure> {
    if p.is_null() {
        Ok(None)
    } else {
        // SAFETY: forwarded contract.
        unsafe { required(p, field) }.map(Some)
    }
}

/// An optional string that holds card data or a PIN: copied into zeroizing memory.
///
/// # Safety
/// As [`required`].
pub(crate) unsafe fn secret(
    p: *const c_char,
    field: &str,
) -> Result<Option<Zeroizing<String>>, Failure> {
    // SAFETY: forwarded contract.
    Ok(unsafe { optional(p, field) }?.map(|s| Zeroizing::new(s.to_string())))
}

/// Copy `s` into a fixed C array, NUL-terminated, truncated at a UTF-8 boundary when it does not fit.
pub(crate) fn put<const N: usize>(dst: &mut [c_char; N], s: &str) {
    if N == 0 {
        return;
    }
    let mut end = s.len().min(N - 1);
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    let bytes = &s.as_bytes()[..end];
    // Interior NULs would silently cut the string in C; stop there instead.
    let bytes = match bytes.iter().position(|b| *b == 0) {
        Some(i) => &bytes[..i],
        None => bytes,
    };
    if bytes.len() < s.len() {
        log::debug!(
            "possdk: string truncated to {} bytes for a C field",
            bytes.len()
        );
    }
    for (d, b) in dst.iter_mut().zip(bytes) {
        *d = *b as c_char;
    }
    for d in dst.iter_mut().skip(bytes.len()) {
        *d = 0;
    }
}

/// Read a fixed C array filled by a callback: up to the first NUL (or the whole array).
pub(crate) fn get(src: &[c_char], field: &str) -> Result<String, Failure> {
    let len = src.iter().position(|c| *c == 0).unwrap_or(src.len());
    let bytes: Vec<u8> = src[..len].iter().map(|c| *c as u8).collect();
    String::from_utf8(bytes).map_err(|_| {
        Failure::field(
            pos_result::POS_INVALID_UTF8,
            field,
            format!("{field} is not valid UTF-8"),
        )
    })
}

/// Like [`get`] but keeps the copy in zeroizing memory (card data from a callback).
pub(crate) fn get_secret(
    src: &[c_char],
    field: &str,
) -> Result<Option<Zeroizing<String>>, Failure> {
    let len = src.iter().position(|c| *c == 0).unwrap_or(src.len());
    if len == 0 {
        return Ok(None);
    }
    let bytes: Zeroizing<Vec<u8>> = Zeroizing::new(src[..len].iter().map(|c| *c as u8).collect());
    match std::str::from_utf8(&bytes) {
        Ok(s) => Ok(Some(Zeroizing::new(s.to_string()))),
        Err(_) => Err(Failure::field(
            pos_result::POS_INVALID_UTF8,
            field,
            format!("{field} is not valid UTF-8"),
        )),
    }
}

/// Hand an owned string to C (freed with `pos_string_free`). Interior NULs cannot come from serde_json
/// (it escapes them); any other source has them replaced so nothing is silently cut.
pub(crate) fn owned(s: String) -> *mut c_char {
    let c = match CString::new(s) {
        Ok(c) => c,
        Err(e) => {
            let mut v = e.into_vec();
            for b in v.iter_mut() {
                if *b == 0 {
                    *b = b' ';
                }
            }
            // No NUL is left.
            CString::new(v).unwrap_or_default()
        }
    };
    c.into_raw()
}

/// Free a string made by [`owned`].
///
/// # Safety
/// `p` must be NULL or come from [`owned`] and not have been freed.
pub(crate) unsafe fn free_owned(p: *mut c_char) {
    if !p.is_null() {
        // SAFETY: made by CString::into_raw in `owned`.
        drop(unsafe { CString::from_raw(p) });
    }
}

/// Copy `s` NUL-terminated into a caller buffer; report the length (without NUL) through `written`.
///
/// # Safety
/// `buf` NULL or writable for `len` bytes; `written` NULL or writable.
pub(crate) unsafe fn copy_out(
    s: &str,
    buf: *mut c_char,
    len: usize,
    written: *mut usize,
) -> pos_result {
    let bytes = s.as_bytes();
    let bytes = match bytes.iter().position(|b| *b == 0) {
        Some(i) => &bytes[..i],
        None => bytes,
    };
    if !written.is_null() {
        // SAFETY: caller contract.
        unsafe { written.write(bytes.len()) };
    }
    if buf.is_null() {
        return pos_result::POS_NULL_POINTER;
    }
    if len <= bytes.len() {
        return pos_result::POS_BUFFER_TOO_SMALL;
    }
    // SAFETY: `buf` has room for `bytes.len() + 1` bytes (checked above).
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf.cast::<u8>(), bytes.len());
        buf.add(bytes.len()).write(0);
    }
    pos_result::POS_OK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_truncates_on_char_boundary() {
        let mut a = [1 as c_char; 5];
        put(&mut a, "ab中c");
        assert_eq!(get(&a, "x").unwrap(), "ab");
        put(&mut a, "abcd");
        assert_eq!(get(&a, "x").unwrap(), "abcd");
        put(&mut a, "");
        assert_eq!(a, [0; 5]);
    }

    #[test]
    fn get_reads_unterminated_array_and_rejects_bad_utf8() {
        let a = [b'1' as c_char, b'2' as c_char];
        assert_eq!(get(&a, "x").unwrap(), "12");
        let bad = [0xff_u8 as c_char, 0];
        assert_eq!(
            get(&bad, "x").unwrap_err().result,
            pos_result::POS_INVALID_UTF8
        );
        assert!(get_secret(&[0; 4], "x").unwrap().is_none());
    }

    #[test]
    fn copy_out_reports_size() {
        let mut buf = [0 as c_char; 4];
        let mut n = 0usize;
        assert_eq!(
            unsafe { copy_out("hello", buf.as_mut_ptr(), buf.len(), &mut n) },
            pos_result::POS_BUFFER_TOO_SMALL
        );
        assert_eq!(n, 5);
        assert_eq!(buf, [0; 4]);
        assert_eq!(
            unsafe { copy_out("abc", buf.as_mut_ptr(), buf.len(), &mut n) },
            pos_result::POS_OK
        );
        assert_eq!((get(&buf, "x").unwrap().as_str(), n), ("abc", 3));
        assert_eq!(
            unsafe { copy_out("abc", std::ptr::null_mut(), 0, std::ptr::null_mut()) },
            pos_result::POS_NULL_POINTER
        );
    }

    #[test]
    fn owned_round_trip() {
        let p = owned("a\0b".to_string());
        let s = unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_string();
        assert_eq!(s, "a b");
        unsafe { free_owned(p) };
        unsafe { free_owned(std::ptr::null_mut()) };
    }

    #[test]
    fn null_and_bad_utf8_are_errors() {
        assert_eq!(
            unsafe { required(std::ptr::null(), "config_json") }
                .unwrap_err()
                .result,
            pos_result::POS_NULL_POINTER
        );
        let bad = [0xc3_u8, 0x28, 0];
        let e = unsafe { required(bad.as_ptr().cast(), "request") }.unwrap_err();
        assert_eq!(e.result, pos_result::POS_INVALID_UTF8);
        assert_eq!(e.field.as_deref(), Some("request"));
        assert_eq!(unsafe { optional(std::ptr::null(), "x") }.unwrap(), None);
    }
}
