//! TCP transport: one connection per exchange (connect timeout, response timeout, cancel checks).
//!
//! Error mapping (it decides whether a reversal is owed, see `TransportError::maybe_sent`):
//! - address resolution or connection failure, or a cancel before anything was written: `Connect` /
//!   `Cancelled { sent: false }` (the request certainly never left);
//! - a failed write (possibly partial): `Send`;
//! - after the whole request was written: `Timeout` (no complete response before the response timeout),
//!   `Receive` (peer closed or read error), `Framing` (bad length prefix), `Cancelled { sent: true }`.
//!
//! Logging is at debug level and never includes frame contents.
use crate::hal::{CancelToken, Endpoint, Transport, TransportError};
use std::io::{ErrorKind as IoKind, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Largest frame on the wire, length prefix included (docs/PROTOCOL.md §1).
pub const MAX_FRAME: usize = 2048;
/// Largest value of the 2-byte length prefix.
pub const MAX_BODY: usize = MAX_FRAME - 2;
/// How often a blocked read wakes up to look at the cancel token.
const POLL_SLICE: Duration = Duration::from_millis(100);
/// Smallest timeout handed to the socket (a zero timeout means "block forever" to std).
const MIN_TIMEOUT: Duration = Duration::from_millis(1);
/// Extra wait for the connect thread beyond the connect timeout (name resolution).
const CONNECT_GRACE: Duration = Duration::from_millis(500);

#[derive(Default)]
pub struct TcpTransport {}

impl TcpTransport {
    pub fn new() -> Self {
        TcpTransport {}
    }
}

impl Transport for TcpTransport {
    fn exchange(
        &mut self,
        endpoint: &Endpoint,
        frame: &[u8],
        cancel: &CancelToken,
    ) -> Result<Vec<u8>, TransportError> {
        check_outgoing(frame)?;
        if cancel.is_cancelled() {
            return Err(TransportError::Cancelled { sent: false });
        }
        let mut stream = connect(endpoint, cancel)?;
        if cancel.is_cancelled() {
            log::debug!("tcp: cancelled after connecting, nothing sent");
            return Err(TransportError::Cancelled { sent: false });
        }
        send(&mut stream, endpoint, frame)?;
        log::debug!("tcp: sent {} bytes to {}", frame.len(), endpoint.address);
        let response = receive(&mut stream, endpoint.response_timeout, cancel)?;
        log::debug!(
            "tcp: received {} bytes from {}",
            response.len(),
            endpoint.address
        );
        Ok(response)
    }
}

/// The request must carry a correct 2-byte length prefix and fit in 2048 bytes. A bad request is never sent;
/// it is reported as `Framing` (a programming error of the caller, conservatively "maybe sent").
fn check_outgoing(frame: &[u8]) -> Result<(), TransportError> {
    if frame.len() < 3 {
        return Err(TransportError::Framing(format!(
            "request frame of {} bytes is too short",
            frame.len()
        )));
    }
    if frame.len() > MAX_FRAME {
        return Err(TransportError::Framing(format!(
            "request frame of {} bytes exceeds {MAX_FRAME}",
            frame.len()
        )));
    }
    let declared = usize::from(u16::from_be_bytes([frame[0], frame[1]]));
    if declared != frame.len() - 2 {
        return Err(TransportError::Framing(format!(
            "request length prefix {declared} does not match {} body bytes",
            frame.len() - 2
        )));
    }
    Ok(())
}

/// Resolve and connect on a helper thread so that a cancel is honoured while the connect is pending (std has
/// no non-blocking connect). A cancelled connect is abandoned: the thread drops the stream unused.
fn connect(endpoint: &Endpoint, cancel: &CancelToken) -> Result<TcpStream, TransportError> {
    let (tx, rx) = mpsc::channel();
    let address = endpoint.address.clone();
    let timeout = endpoint.connect_timeout;
    let thread_cancel = cancel.clone();
    thread::Builder::new()
        .name("possdk-tcp-connect".into())
        .spawn(move || {
            // The receiver is gone when the exchange was cancelled: the stream is then simply dropped.
            let _ = tx.send(connect_blocking(&address, timeout, &thread_cancel));
        })
        .map_err(|e| TransportError::Connect(format!("cannot start the connect thread: {e}")))?;
    // The thread bounds each attempt by the connect timeout; the grace covers a slow name resolution.
    let deadline = Instant::now() + endpoint.connect_timeout + CONNECT_GRACE;
    loop {
        match rx.recv_timeout(POLL_SLICE) {
            Ok(result) => return result,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if cancel.is_cancelled() {
                    log::debug!("tcp: cancelled while connecting, nothing sent");
                    return Err(TransportError::Cancelled { sent: false });
                }
                if Instant::now() >= deadline {
                    return Err(TransportError::Connect(format!(
                        "{}: connect timeout",
                        endpoint.address
                    )));
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(TransportError::Connect(
                    "connect thread ended without a result".into(),
                ))
            }
        }
    }
}

fn connect_blocking(
    address: &str,
    timeout: Duration,
    cancel: &CancelToken,
) -> Result<TcpStream, TransportError> {
    let addrs: Vec<SocketAddr> = address
        .to_socket_addrs()
        .map_err(|e| TransportError::Connect(format!("cannot resolve {address}: {e}")))?
        .collect();
    if addrs.is_empty() {
        return Err(TransportError::Connect(format!(
            "{address} resolves to no address"
        )));
    }
    let deadline = Instant::now() + timeout;
    let mut last_error = String::new();
    for addr in addrs {
        if cancel.is_cancelled() {
            return Err(TransportError::Cancelled { sent: false });
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            break;
        }
        log::debug!("tcp: connecting to {addr}");
        match TcpStream::connect_timeout(&addr, remaining.max(MIN_TIMEOUT)) {
            Ok(stream) => {
                // Small frames: do not wait for Nagle.
                if let Err(e) = stream.set_nodelay(true) {
                    log::debug!("tcp: set_nodelay failed: {e}");
                }
                return Ok(stream);
            }
            Err(e) => {
                log::debug!("tcp: connect to {addr} failed: {e}");
                last_error = format!("{addr}: {e}");
            }
        }
    }
    if last_error.is_empty() {
        last_error = format!("{address}: connect timeout");
    }
    Err(TransportError::Connect(last_error))
}

fn send(stream: &mut TcpStream, endpoint: &Endpoint, frame: &[u8]) -> Result<(), TransportError> {
    // A frame of at most 2 KiB fits any socket buffer; the timeout only guards against a wedged peer.
    let write_timeout = endpoint.response_timeout.max(MIN_TIMEOUT);
    stream
        .set_write_timeout(Some(write_timeout))
        .map_err(|e| TransportError::Connect(format!("socket setup: {e}")))?;
    stream
        .write_all(frame)
        .and_then(|_| stream.flush())
        .map_err(|e| TransportError::Send(e.to_string()))
}

/// Read one frame (length prefix + body) before `timeout`, waking every `POLL_SLICE` to honour `cancel`.
fn receive(
    stream: &mut TcpStream,
    timeout: Duration,
    cancel: &CancelToken,
) -> Result<Vec<u8>, TransportError> {
    let deadline = Instant::now() + timeout;
    let mut frame = vec![0u8; 2];
    read_exact_until(stream, &mut frame, deadline, cancel)?;
    let len = usize::from(u16::from_be_bytes([frame[0], frame[1]]));
    if len > MAX_BODY {
        return Err(TransportError::Framing(format!(
            "response length {len} exceeds {MAX_BODY}"
        )));
    }
    if len == 0 {
        return Err(TransportError::Framing("response length is zero".into()));
    }
    frame.resize(2 + len, 0);
    read_exact_until(stream, &mut frame[2..], deadline, cancel)?;
    Ok(frame)
}

fn read_exact_until(
    stream: &mut TcpStream,
    buf: &mut [u8],
    deadline: Instant,
    cancel: &CancelToken,
) -> Result<(), TransportError> {
    let mut filled = 0;
    while filled < buf.len() {
        if cancel.is_cancelled() {
            log::debug!("tcp: cancelled while waiting for the response");
            return Err(TransportError::Cancelled { sent: true });
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            log::debug!("tcp: response timeout");
            return Err(TransportError::Timeout);
        }
        stream
            .set_read_timeout(Some(remaining.min(POLL_SLICE).max(MIN_TIMEOUT)))
            .map_err(|e| TransportError::Receive(format!("socket setup: {e}")))?;
        match stream.read(&mut buf[filled..]) {
            Ok(0) => {
                return Err(TransportError::Receive(format!(
                    "connection closed by the host after {filled} of {} bytes",
                    buf.len()
                )))
            }
            Ok(n) => filled += n,
            Err(e)
                if matches!(
                    e.kind(),
                    IoKind::WouldBlock | IoKind::TimedOut | IoKind::Interrupted
                ) => {}
            Err(e) => return Err(TransportError::Receive(e.to_string())),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::thread;

    fn frame(body: &[u8]) -> Vec<u8> {
        let mut f = (body.len() as u16).to_be_bytes().to_vec();
        f.extend_from_slice(body);
        f
    }

    fn endpoint(addr: SocketAddr, response_ms: u64) -> Endpoint {
        Endpoint {
            address: addr.to_string(),
            connect_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_millis(response_ms),
        }
    }

    /// One-connection server: reads one request frame, then runs `reply` on the stream.
    fn server<F>(reply: F) -> (SocketAddr, thread::JoinHandle<Vec<u8>>)
    where
        F: FnOnce(&mut TcpStream) + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let handle = thread::spawn(move || {
            let (mut s, _) = listener.accept().expect("accept");
            let mut len = [0u8; 2];
            s.read_exact(&mut len).expect("len");
            let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
            s.read_exact(&mut body).expect("body");
            reply(&mut s);
            body
        });
        (addr, handle)
    }

    #[test]
    fn echo_round_trip() {
        let (addr, h) = server(|s| {
            s.write_all(&frame(b"response body")).expect("write");
        });
        let mut t = TcpTransport::new();
        let got = t
            .exchange(
                &endpoint(addr, 2000),
                &frame(b"request body"),
                &CancelToken::new(),
            )
            .expect("exchange");
        assert_eq!(got, frame(b"response body"));
        assert_eq!(h.join().expect("server"), b"request body");
    }

    #[test]
    fn response_split_across_writes_is_reassembled() {
        let (addr, h) = server(|s| {
            let f = frame(&[0xAB; 300]);
            for chunk in f.chunks(7) {
                s.write_all(chunk).expect("write");
                s.flush().expect("flush");
                thread::sleep(Duration::from_millis(2));
            }
        });
        let got = TcpTransport::new()
            .exchange(&endpoint(addr, 3000), &frame(b"x"), &CancelToken::new())
            .expect("exchange");
        assert_eq!(got, frame(&[0xAB; 300]));
        h.join().expect("server");
    }

    #[test]
    fn slow_host_times_out_as_sent() {
        let (addr, h) = server(|s| {
            thread::sleep(Duration::from_millis(700));
            let _ = s.write_all(&frame(b"late"));
        });
        let start = Instant::now();
        let err = TcpTransport::new()
            .exchange(&endpoint(addr, 300), &frame(b"req"), &CancelToken::new())
            .expect_err("must time out");
        let waited = start.elapsed();
        assert_eq!(err, TransportError::Timeout);
        assert!(err.maybe_sent());
        assert!(
            waited >= Duration::from_millis(300) && waited < Duration::from_millis(650),
            "{waited:?}"
        );
        h.join().expect("server");
    }

    #[test]
    fn close_mid_frame_is_receive_error() {
        let (addr, h) = server(|s| {
            let f = frame(&[1u8; 50]);
            s.write_all(&f[..20]).expect("write");
            // dropping the stream closes it
        });
        let err = TcpTransport::new()
            .exchange(&endpoint(addr, 2000), &frame(b"req"), &CancelToken::new())
            .expect_err("must fail");
        assert!(matches!(err, TransportError::Receive(_)), "{err:?}");
        assert!(err.maybe_sent());
        h.join().expect("server");
    }

    #[test]
    fn oversize_length_is_framing_error() {
        let (addr, h) = server(|s| {
            s.write_all(&2047u16.to_be_bytes()).expect("write");
            s.write_all(&[0u8; 16]).expect("write");
        });
        let err = TcpTransport::new()
            .exchange(&endpoint(addr, 2000), &frame(b"req"), &CancelToken::new())
            .expect_err("must fail");
        assert!(matches!(err, TransportError::Framing(_)), "{err:?}");
        h.join().expect("server");
    }

    #[test]
    fn largest_frame_is_accepted() {
        let (addr, h) = server(|s| {
            s.write_all(&frame(&[7u8; MAX_BODY])).expect("write");
        });
        let got = TcpTransport::new()
            .exchange(
                &endpoint(addr, 2000),
                &frame(&[9u8; MAX_BODY]),
                &CancelToken::new(),
            )
            .expect("exchange");
        assert_eq!(got.len(), MAX_FRAME);
        assert_eq!(h.join().expect("server").len(), MAX_BODY);
    }

    #[test]
    fn cancel_while_waiting_reports_sent() {
        let (addr, h) = server(|s| {
            thread::sleep(Duration::from_millis(1500));
            let _ = s.write_all(&frame(b"late"));
        });
        let cancel = CancelToken::new();
        let c2 = cancel.clone();
        let canceller = thread::spawn(move || {
            thread::sleep(Duration::from_millis(250));
            c2.cancel();
        });
        let start = Instant::now();
        let err = TcpTransport::new()
            .exchange(&endpoint(addr, 10_000), &frame(b"req"), &cancel)
            .expect_err("must be cancelled");
        assert_eq!(err, TransportError::Cancelled { sent: true });
        assert!(
            start.elapsed() < Duration::from_millis(1000),
            "cancel not honoured promptly"
        );
        canceller.join().expect("canceller");
        h.join().expect("server");
    }

    #[test]
    fn cancelled_before_sending_reports_not_sent() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let cancel = CancelToken::new();
        cancel.cancel();
        let err = TcpTransport::new()
            .exchange(&endpoint(addr, 1000), &frame(b"req"), &cancel)
            .expect_err("cancelled");
        assert_eq!(err, TransportError::Cancelled { sent: false });
        assert!(!err.maybe_sent());
    }

    #[test]
    fn connect_refused_is_connect_error() {
        // Bind then drop to get a port nobody listens on.
        let addr = {
            let l = TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr")
        };
        let err = TcpTransport::new()
            .exchange(&endpoint(addr, 1000), &frame(b"req"), &CancelToken::new())
            .expect_err("refused");
        assert!(matches!(err, TransportError::Connect(_)), "{err:?}");
        assert!(!err.maybe_sent());
    }

    #[test]
    fn unresolvable_address_is_connect_error() {
        let ep = Endpoint {
            address: "no-port-here".into(),
            connect_timeout: Duration::from_secs(1),
            response_timeout: Duration::from_secs(1),
        };
        let err = TcpTransport::new()
            .exchange(&ep, &frame(b"req"), &CancelToken::new())
            .expect_err("bad address");
        assert!(matches!(err, TransportError::Connect(_)), "{err:?}");
    }

    #[test]
    fn bad_request_frames_are_refused_before_connecting() {
        let addr: SocketAddr = "127.0.0.1:9".parse().expect("addr");
        let mut t = TcpTransport::new();
        let c = CancelToken::new();
        for bad in [vec![0u8, 5, 1, 2], vec![0u8; 1], {
            let mut f = frame(&[0u8; MAX_BODY]);
            f.push(0);
            f
        }] {
            let err = t
                .exchange(&endpoint(addr, 100), &bad, &c)
                .expect_err("bad frame");
            assert!(matches!(err, TransportError::Framing(_)), "{err:?}");
        }
    }
}
