//! The printer callback (`pos_hal.printer`): each copy of a sales slip as printer lines (docs/C-API.md).

use crate::callbacks::{cstring, own, pos_hal_status, status_to_hal, Owned};
use possdk_core::hal::{HalError, Printer};
use possdk_core::slip::{Align, Copy as SlipCopy, Line, Slip};
use std::ffi::{c_char, c_void, CString};

/// A slip line's kind (`pos_print_line.kind`).
pub type pos_print_kind = u32;
/// Text.
pub const POS_PRINT_TEXT: pos_print_kind = 0;
/// A QR code of `text` (a QR transaction's voucher).
pub const POS_PRINT_QR: pos_print_kind = 1;
/// The cardholder's electronic signature: `width` × `height` pixels, `data` (`data_len` bytes) rows of
/// `(width + 7) / 8` bytes, most significant bit first, 1 = ink; `text` is "".
pub const POS_PRINT_SIGNATURE: pos_print_kind = 2;

/// A line's alignment (`pos_print_line.align`).
pub type pos_print_align = u32;
pub const POS_ALIGN_LEFT: pos_print_align = 0;
pub const POS_ALIGN_CENTER: pos_print_align = 1;
pub const POS_ALIGN_RIGHT: pos_print_align = 2;

/// Which copy of the slip (`print`'s `copy`).
pub type pos_slip_copy = u32;
/// 商户存根, the copy the cardholder signs.
pub const POS_COPY_MERCHANT: pos_slip_copy = 0;
/// 持卡人存根.
pub const POS_COPY_CARDHOLDER: pos_slip_copy = 1;

/// One line of a slip (valid during the `print` call).
#[repr(C)]
pub struct pos_print_line {
    pub kind: pos_print_kind,
    pub align: pos_print_align,
    pub bold: bool,
    /// Double width and height.
    pub double_size: bool,
    /// UTF-8, NUL-terminated: the text, or the QR code's payload.
    pub text: *const c_char,
    /// `POS_PRINT_SIGNATURE`: the image's size and bitmap (0 and NULL for other kinds).
    pub width: u16,
    pub height: u16,
    pub data: *const u8,
    pub data_len: usize,
}

/// Printer callback: print `count` lines of one copy. Called after every approved transaction with the
/// merchant copy, then the cardholder copy. A failure (any status but `POS_HAL_OK`) is logged and changes
/// nothing; the slip can be had again with `pos_terminal_reprint`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct pos_printer {
    pub ctx: *mut c_void,
    pub print: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            copy: pos_slip_copy,
            lines: *const pos_print_line,
            count: usize,
        ) -> pos_hal_status,
    >,
    pub destroy: Option<unsafe extern "C" fn(ctx: *mut c_void)>,
}

pub(crate) struct CPrinter(Owned<pos_printer>);

impl CPrinter {
    pub(crate) fn new(v: pos_printer) -> CPrinter {
        CPrinter(own(v, v.ctx, v.destroy))
    }
}

impl Printer for CPrinter {
    fn print(&mut self, slip: &Slip) -> Result<(), HalError> {
        let f = self
            .0
            .v
            .print
            .ok_or_else(|| HalError::Device("print callback is not set".into()))?;
        let texts: Vec<CString> = slip
            .lines
            .iter()
            .map(|l| match l {
                Line::Text { text, .. } => cstring(text),
                Line::Qr { payload } => cstring(payload),
                Line::Signature { .. } => cstring(""),
            })
            .collect();
        let lines: Vec<pos_print_line> = slip
            .lines
            .iter()
            .zip(&texts)
            .map(|(l, t)| match l {
                Line::Text {
                    align,
                    bold,
                    double,
                    ..
                } => pos_print_line {
                    kind: POS_PRINT_TEXT,
                    align: match align {
                        Align::Left => POS_ALIGN_LEFT,
                        Align::Center => POS_ALIGN_CENTER,
                        Align::Right => POS_ALIGN_RIGHT,
                    },
                    bold: *bold,
                    double_size: *double,
                    text: t.as_ptr(),
                    width: 0,
                    height: 0,
                    data: std::ptr::null(),
                    data_len: 0,
                },
                Line::Qr { .. } => pos_print_line {
                    kind: POS_PRINT_QR,
                    align: POS_ALIGN_CENTER,
                    bold: false,
                    double_size: false,
                    text: t.as_ptr(),
                    width: 0,
                    height: 0,
                    data: std::ptr::null(),
                    data_len: 0,
                },
                Line::Signature {
                    width,
                    height,
                    bits,
                } => pos_print_line {
                    kind: POS_PRINT_SIGNATURE,
                    align: POS_ALIGN_CENTER,
                    bold: false,
                    double_size: false,
                    text: t.as_ptr(),
                    width: *width,
                    height: *height,
                    data: bits.as_ptr(),
                    data_len: bits.len(),
                },
            })
            .collect();
        let copy = match slip.copy {
            SlipCopy::Merchant => POS_COPY_MERCHANT,
            SlipCopy::Cardholder => POS_COPY_CARDHOLDER,
        };
        // SAFETY: application callback; `lines` and the strings they point to live until it returns.
        let status = unsafe { f(self.0.v.ctx, copy, lines.as_ptr(), lines.len()) };
        status_to_hal(status, "print")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;
    use std::sync::Mutex;

    /// (copy, kind, align, bold, double size, text) of every line the callback saw.
    type Seen = (u32, u32, u32, bool, bool, String);
    static SEEN: Mutex<Vec<Seen>> = Mutex::new(Vec::new());

    unsafe extern "C" fn print(
        _ctx: *mut c_void,
        copy: pos_slip_copy,
        lines: *const pos_print_line,
        count: usize,
    ) -> pos_hal_status {
        let lines = unsafe { std::slice::from_raw_parts(lines, count) };
        let mut seen = SEEN.lock().unwrap();
        for l in lines {
            let text = unsafe { CStr::from_ptr(l.text) }
                .to_str()
                .unwrap()
                .to_string();
            seen.push((copy, l.kind, l.align, l.bold, l.double_size, text));
        }
        if copy == POS_COPY_CARDHOLDER {
            crate::callbacks::POS_HAL_ERROR
        } else {
            crate::callbacks::POS_HAL_OK
        }
    }

    #[test]
    fn slip_lines_reach_the_callback_with_their_layout() {
        let mut p = CPrinter::new(pos_printer {
            ctx: std::ptr::null_mut(),
            print: Some(print),
            destroy: None,
        });
        let slip = Slip {
            copy: SlipCopy::Merchant,
            lines: vec![
                Line::Text {
                    text: "POS签购单".into(),
                    align: Align::Center,
                    bold: true,
                    double: true,
                },
                Line::Qr {
                    payload: "26112518000000000003".into(),
                },
            ],
        };
        p.print(&slip).unwrap();
        let cardholder = Slip {
            copy: SlipCopy::Cardholder,
            ..slip
        };
        assert!(matches!(p.print(&cardholder), Err(HalError::Device(_))));
        let seen = SEEN.lock().unwrap();
        assert_eq!(
            seen[0],
            (
                POS_COPY_MERCHANT,
                POS_PRINT_TEXT,
                POS_ALIGN_CENTER,
                true,
                true,
                "POS签购单".to_string()
            )
        );
        assert_eq!(seen[1].1, POS_PRINT_QR);
        assert_eq!(seen[1].5, "26112518000000000003");
        assert_eq!(seen[2].0, POS_COPY_CARDHOLDER);
    }
}
