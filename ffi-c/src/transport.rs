//! The clock and the transport as C vtables, mapped onto the core's `hal::Clock` and `hal::Transport`.
//!
//! Both are optional members of `pos_hal`: NULL keeps the core's own (the system clock at UTC+8, TCP
//! with one connection per exchange). Like the device callbacks they run on the thread that called the
//! operation, one at a time, and `destroy` runs once when the terminal is freed.
//!
//! The transport's status decides whether a reversal is owed, so "never sent" and "maybe sent" are
//! distinct results and anything unknown counts as "maybe sent" (a needless reversal is harmless; a
//! missing one loses money).

use crate::callbacks::{own, pos_cancel_token, pos_hal_status, Owned, POS_HAL_OK};
use possdk_core::hal::{
    CancelToken, Clock, DateTime, Endpoint, SystemClock, Transport, TransportError,
};
use std::ffi::{c_char, c_void, CString};

// ---------------------------------------------------------------------------------------------------
// Clock

/// A local date and time (the terminal's time zone; China Standard Time is UTC+8).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct pos_date_time {
    /// e.g. 2026
    pub year: u16,
    /// 1-12
    pub month: u8,
    /// 1-31
    pub day: u8,
    /// 0-23
    pub hour: u8,
    /// 0-59
    pub minute: u8,
    /// 0-59
    pub second: u8,
}

/// The terminal's clock: `now` writes the local date and time (fields 12/13, receipts, the journal).
/// When `now` is NULL, fails, or writes an impossible date, possdk uses the system clock at UTC+8 for
/// that reading (and logs a warning).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct pos_clock {
    pub ctx: *mut c_void,
    pub now:
        Option<unsafe extern "C" fn(ctx: *mut c_void, out: *mut pos_date_time) -> pos_hal_status>,
    pub destroy: Option<unsafe extern "C" fn(ctx: *mut c_void)>,
}

pub(crate) struct CClock(Owned<pos_clock>);

impl CClock {
    pub(crate) fn new(v: pos_clock) -> Self {
        CClock(own(v, v.ctx, v.destroy))
    }
}

fn valid_date_time(d: &pos_date_time) -> bool {
    (1..=9999).contains(&d.year)
        && (1..=12).contains(&d.month)
        && (1..=31).contains(&d.day)
        && d.hour < 24
        && d.minute < 60
        && d.second < 60
}

impl Clock for CClock {
    fn now(&self) -> DateTime {
        let fallback = || SystemClock::default().now();
        let Some(f) = self.0.v.now else {
            return fallback();
        };
        let mut out = pos_date_time::default();
        // SAFETY: the application's callback with its ctx; `out` is valid for the call.
        let status = unsafe { f(self.0.v.ctx, &mut out) };
        if status != POS_HAL_OK || !valid_date_time(&out) {
            log::warn!(
                "possdk: clock callback failed (status {status}, {out:?}); using the system clock"
            );
            return fallback();
        }
        DateTime {
            year: out.year,
            month: out.month,
            day: out.day,
            hour: out.hour,
            minute: out.minute,
            second: out.second,
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Transport

/// What `pos_transport.exchange` returns. The distinction between "never sent" and "maybe sent"
/// decides whether possdk owes the host a reversal.
pub type pos_transport_status = i32;
/// The answer frame is in `response` / `*response_len`.
pub const POS_TRANSPORT_OK: pos_transport_status = 0;
/// Could not connect (or resolve the address): the request certainly never left. The operation fails
/// with `POS_HOST_UNREACHABLE` and `POS_OUTCOME_NOT_SENT`; nothing is owed.
pub const POS_TRANSPORT_NOT_SENT: pos_transport_status = 1;
/// Writing failed part-way: the request may have reached the host (treated as sent).
pub const POS_TRANSPORT_SEND_FAILED: pos_transport_status = 2;
/// Sent, but no complete answer within `response_timeout_ms` (`POS_HOST_TIMEOUT`; a financial request
/// is reversed).
pub const POS_TRANSPORT_TIMEOUT: pos_transport_status = 3;
/// Sent, then the peer closed or the read failed before a complete answer (treated as sent).
pub const POS_TRANSPORT_RECEIVE_FAILED: pos_transport_status = 4;
/// `pos_cancel_token_is_cancelled` became true before anything was written (`POS_CANCELLED`, nothing
/// owed).
pub const POS_TRANSPORT_CANCELLED_NOT_SENT: pos_transport_status = 5;
/// Cancelled after the request was written (`POS_CANCELLED`; a financial request is reversed).
pub const POS_TRANSPORT_CANCELLED_SENT: pos_transport_status = 6;

/// The largest frame, length prefix included: the size of the `response` buffer possdk passes.
pub const POS_MAX_FRAME: usize = 2048;

// Written out for cbindgen; the compiler checks it is the core's limit.
const _: () = assert!(POS_MAX_FRAME == possdk_core::transport::tcp::MAX_FRAME);

/// Where a frame goes (valid during the call).
#[repr(C)]
pub struct pos_endpoint {
    /// `host:port`, NUL-terminated (the config's gateway or platform address).
    pub address: *const c_char,
    /// Give up connecting after this long (`POS_TRANSPORT_NOT_SENT`).
    pub connect_timeout_ms: u32,
    /// After sending, wait this long for the whole answer (`POS_TRANSPORT_TIMEOUT`).
    pub response_timeout_ms: u32,
}

/// The application's network: one exchange is connect, send `request` (`request_len` bytes, 2-byte
/// big-endian length prefix included), receive one answer frame (prefix included) into `response`
/// (`response_cap` bytes, `POS_MAX_FRAME`) and set `*response_len`. It must honour the endpoint's
/// timeouts and poll `pos_cancel_token_is_cancelled(cancel)` while it waits. A NULL `exchange` fails
/// every exchange as `POS_TRANSPORT_NOT_SENT`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct pos_transport {
    pub ctx: *mut c_void,
    pub exchange: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            endpoint: *const pos_endpoint,
            request: *const u8,
            request_len: usize,
            response: *mut u8,
            response_cap: usize,
            response_len: *mut usize,
            cancel: *const pos_cancel_token,
        ) -> pos_transport_status,
    >,
    pub destroy: Option<unsafe extern "C" fn(ctx: *mut c_void)>,
}

pub(crate) struct CTransport(Owned<pos_transport>);

impl CTransport {
    pub(crate) fn new(v: pos_transport) -> Self {
        CTransport(own(v, v.ctx, v.destroy))
    }
}

fn millis(d: std::time::Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

/// The core's transport error for a status (and the answer's framing for `POS_TRANSPORT_OK`).
fn transport_result(
    status: pos_transport_status,
    response: &[u8],
    response_len: usize,
) -> Result<Vec<u8>, TransportError> {
    match status {
        POS_TRANSPORT_OK => {}
        POS_TRANSPORT_NOT_SENT => {
            return Err(TransportError::Connect(
                "the transport callback could not connect".into(),
            ))
        }
        POS_TRANSPORT_SEND_FAILED => {
            return Err(TransportError::Send(
                "the transport callback failed while sending".into(),
            ))
        }
        POS_TRANSPORT_TIMEOUT => return Err(TransportError::Timeout),
        POS_TRANSPORT_RECEIVE_FAILED => {
            return Err(TransportError::Receive(
                "the transport callback failed while receiving".into(),
            ))
        }
        POS_TRANSPORT_CANCELLED_NOT_SENT => return Err(TransportError::Cancelled { sent: false }),
        POS_TRANSPORT_CANCELLED_SENT => return Err(TransportError::Cancelled { sent: true }),
        other => {
            // Unknown: the request may have left, so a reversal may be owed.
            return Err(TransportError::Receive(format!(
                "the transport callback returned unknown status {other}"
            )));
        }
    }
    if response_len > response.len() {
        return Err(TransportError::Framing(format!(
            "response_len {response_len} is over the buffer's {}",
            response.len()
        )));
    }
    let frame = &response[..response_len];
    let Some((prefix, body)) = frame.split_first_chunk::<2>() else {
        return Err(TransportError::Framing(
            "response shorter than its length prefix".into(),
        ));
    };
    let declared = usize::from(u16::from_be_bytes(*prefix));
    if declared == 0 || declared != body.len() {
        return Err(TransportError::Framing(format!(
            "response length prefix {declared} does not match its {} bytes",
            body.len()
        )));
    }
    Ok(frame.to_vec())
}

impl Transport for CTransport {
    fn exchange(
        &mut self,
        endpoint: &Endpoint,
        frame: &[u8],
        cancel: &CancelToken,
    ) -> Result<Vec<u8>, TransportError> {
        let Some(f) = self.0.v.exchange else {
            return Err(TransportError::Connect(
                "the transport's exchange callback is not set".into(),
            ));
        };
        // An address with a NUL cannot come from a valid config; cut there rather than fail.
        let address = endpoint.address.split('\0').next().unwrap_or_default();
        let address = CString::new(address).unwrap_or_default();
        let ep = pos_endpoint {
            address: address.as_ptr(),
            connect_timeout_ms: millis(endpoint.connect_timeout),
            response_timeout_ms: millis(endpoint.response_timeout),
        };
        let token = pos_cancel_token::new(cancel.clone());
        let mut response = vec![0u8; POS_MAX_FRAME];
        let mut response_len = 0usize;
        // SAFETY: the application's callback with its ctx; every pointer is valid for the call and
        // `response` for `response.len()` bytes.
        let status = unsafe {
            f(
                self.0.v.ctx,
                &ep,
                frame.as_ptr(),
                frame.len(),
                response.as_mut_ptr(),
                response.len(),
                &mut response_len,
                &token,
            )
        };
        let result = transport_result(status, &response, response_len);
        if let Err(e) = &result {
            log::debug!("possdk: transport callback: {e}");
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(body: &[u8]) -> Vec<u8> {
        let mut f = (body.len() as u16).to_be_bytes().to_vec();
        f.extend_from_slice(body);
        f
    }

    #[test]
    fn statuses_map_to_sent_or_not_sent() {
        let buf = [0u8; 8];
        let err = |s| transport_result(s, &buf, 0).unwrap_err();
        assert!(!err(POS_TRANSPORT_NOT_SENT).maybe_sent());
        assert!(matches!(
            err(POS_TRANSPORT_NOT_SENT),
            TransportError::Connect(_)
        ));
        assert_eq!(err(POS_TRANSPORT_TIMEOUT), TransportError::Timeout);
        assert!(matches!(
            err(POS_TRANSPORT_SEND_FAILED),
            TransportError::Send(_)
        ));
        assert!(matches!(
            err(POS_TRANSPORT_RECEIVE_FAILED),
            TransportError::Receive(_)
        ));
        assert_eq!(
            err(POS_TRANSPORT_CANCELLED_NOT_SENT),
            TransportError::Cancelled { sent: false }
        );
        assert_eq!(
            err(POS_TRANSPORT_CANCELLED_SENT),
            TransportError::Cancelled { sent: true }
        );
        // Unknown statuses count as sent: a reversal may be owed.
        assert!(err(42).maybe_sent());
        assert!(err(-1).maybe_sent());
    }

    #[test]
    fn answer_framing_is_checked() {
        let mut buf = vec![0u8; 16];
        let f = frame(b"abc");
        buf[..f.len()].copy_from_slice(&f);
        assert_eq!(transport_result(0, &buf, f.len()).unwrap(), f);
        for bad_len in [0, 1, 4, 99] {
            assert!(matches!(
                transport_result(0, &buf, bad_len),
                Err(TransportError::Framing(_))
            ));
        }
    }

    #[test]
    fn clock_checks_the_date() {
        let ok = pos_date_time {
            year: 2026,
            month: 11,
            day: 25,
            hour: 18,
            minute: 0,
            second: 0,
        };
        assert!(valid_date_time(&ok));
        assert!(!valid_date_time(&pos_date_time { month: 13, ..ok }));
        assert!(!valid_date_time(&pos_date_time { day: 0, ..ok }));
        assert!(!valid_date_time(&pos_date_time { hour: 24, ..ok }));
        assert!(!valid_date_time(&pos_date_time::default()));
    }
}
