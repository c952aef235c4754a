//! The signature pad callback (`pos_hal.signature_pad`): the cardholder's electronic signature as a 1-bit
//! bitmap (docs/C-API.md, docs/PROTOCOL.md §8.8).

use crate::callbacks::{cstring, own, pos_cancel_token, pos_hal_status, status_to_hal, Owned};
use possdk_core::hal::{HalError, SignaturePad, SignatureRequest};
use possdk_core::signature::{SignatureImage, MAX_HEIGHT, MAX_WIDTH};
use std::ffi::{c_char, c_void};

/// The largest bitmap a signature pad may write: 1,024 × 512 pixels at one bit each.
pub const POS_SIGNATURE_MAX_BYTES: usize = 65_536;

/// What the signature pad is asked for (valid during the call).
#[repr(C)]
pub struct pos_signature_request {
    /// "sale", ... (the transaction the cardholder signs for).
    pub transaction: *const c_char,
    pub stan: u32,
    pub amount: u64,
    pub timeout_ms: u32,
    pub cancel: *const pos_cancel_token,
}

/// The signature the pad writes: `width` × `height` pixels (at most 1,024 × 512), `bits` holding `height`
/// rows of `(width + 7) / 8` bytes, most significant bit first, 1 = ink. possdk gives `bits` with
/// `bits_cap` (`POS_SIGNATURE_MAX_BYTES`) bytes; the pad sets `bits_len`.
#[repr(C)]
pub struct pos_signature_image {
    pub width: u16,
    pub height: u16,
    pub bits: *mut u8,
    pub bits_cap: usize,
    pub bits_len: usize,
}

/// Signature pad callback: asked after an approval of the kinds the config's `signature.kinds` names. A
/// failure (any status but `POS_HAL_OK`) or an image that is not valid is logged and changes nothing.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct pos_signature_pad {
    pub ctx: *mut c_void,
    pub capture: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            request: *const pos_signature_request,
            out: *mut pos_signature_image,
        ) -> pos_hal_status,
    >,
    pub destroy: Option<unsafe extern "C" fn(ctx: *mut c_void)>,
}

pub(crate) struct CSignaturePad(Owned<pos_signature_pad>);

impl CSignaturePad {
    pub(crate) fn new(v: pos_signature_pad) -> CSignaturePad {
        CSignaturePad(own(v, v.ctx, v.destroy))
    }
}

impl SignaturePad for CSignaturePad {
    fn capture(&mut self, request: &SignatureRequest) -> Result<SignatureImage, HalError> {
        let f = self
            .0
            .v
            .capture
            .ok_or_else(|| HalError::Device("capture callback is not set".into()))?;
        let transaction = cstring(request.transaction);
        let token = pos_cancel_token::new(request.cancel.clone());
        let req = pos_signature_request {
            transaction: transaction.as_ptr(),
            stan: request.stan,
            amount: request.amount.unwrap_or(0),
            timeout_ms: u32::try_from(request.timeout.as_millis()).unwrap_or(u32::MAX),
            cancel: &token,
        };
        let mut buf = vec![0u8; POS_SIGNATURE_MAX_BYTES];
        let mut out = pos_signature_image {
            width: 0,
            height: 0,
            bits: buf.as_mut_ptr(),
            bits_cap: buf.len(),
            bits_len: 0,
        };
        // SAFETY: application callback; `req`, `token` and `buf` outlive it.
        let status = unsafe { f(self.0.v.ctx, &req, &mut out) };
        status_to_hal(status, "capture")?;
        if out.bits_len > buf.len() || out.width > MAX_WIDTH || out.height > MAX_HEIGHT {
            return Err(HalError::Device(format!(
                "capture wrote a {}x{} image of {} bytes",
                out.width, out.height, out.bits_len
            )));
        }
        buf.truncate(out.bits_len);
        Ok(SignatureImage {
            width: out.width,
            height: out.height,
            bits: buf,
        })
    }
}
