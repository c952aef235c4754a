//! TCP transport: one connection per exchange (connect timeout, response timeout, cancel checks), wrapped in
//! TLS when the endpoint has TLS settings (docs/PROTOCOL.md §10; the frame inside is unchanged).
//!
//! Error mapping (it decides whether a reversal is owed, see `TransportError::maybe_sent`):
//! - address resolution or connection failure, a TLS handshake, verification or pin failure, a handshake not
//!   finished within the connect timeout, or a cancel before anything was written: `Connect` /
//!   `Cancelled { sent: false }` (the request certainly never left: no frame is written before the handshake
//!   has finished);
//! - a failed write (possibly partial): `Send`;
//! - after the whole request was written: `Timeout` (no complete response before the response timeout),
//!   `Receive` (peer closed or read error), `Framing` (bad length prefix), `Cancelled { sent: true }`.
//!
//! Logging is at debug level and never includes frame contents.
use crate::hal::{CancelToken, Endpoint, Transport, TransportError};
use crate::iso8583::LengthPrefix;
use std::io::{ErrorKind as IoKind, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};
#[cfg(feature = "tls")]
use {
    rustls::pki_types::ServerName,
    rustls::{ClientConfig, ClientConnection, StreamOwned},
    std::sync::Arc,
};

/// The client side of a TLS endpoint; a build without the `tls` feature has none (no value of the type).
#[cfg(feature = "tls")]
type TlsClient = Arc<ClientConfig>;
#[cfg(not(feature = "tls"))]
type TlsClient = std::convert::Infallible;

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
pub struct TcpTransport {
    #[cfg(feature = "tls")]
    /// The rustls configuration of each TLS endpoint seen, built once: it also keeps the TLS session cache,
    /// so the connection of the next exchange can resume.
    tls_configs: Vec<(crate::hal::TlsSettings, Arc<ClientConfig>)>,
    /// The frames' length prefix (the acquirer profile's); None: 2 binary bytes (docs/PROTOCOL.md §1.2).
    prefix: Option<LengthPrefix>,
}

impl TcpTransport {
    pub fn new() -> Self {
        TcpTransport::default()
    }

    /// A transport for frames whose length prefix is `prefix` (docs/PROFILES.md, "framing").
    pub fn with_length_prefix(prefix: LengthPrefix) -> Self {
        TcpTransport {
            prefix: Some(prefix),
            ..TcpTransport::default()
        }
    }

    fn length_prefix(&self) -> LengthPrefix {
        self.prefix.unwrap_or(LengthPrefix::Binary(2))
    }

    #[cfg(feature = "tls")]
    fn tls_config(
        &mut self,
        settings: &crate::hal::TlsSettings,
    ) -> Result<Arc<ClientConfig>, TransportError> {
        if let Some((_, c)) = self.tls_configs.iter().find(|(s, _)| s == settings) {
            return Ok(c.clone());
        }
        let config = super::tls::client_config(settings).map_err(TransportError::Connect)?;
        self.tls_configs.push((settings.clone(), config.clone()));
        Ok(config)
    }
}

impl Transport for TcpTransport {
    fn exchange(
        &mut self,
        endpoint: &Endpoint,
        frame: &[u8],
        cancel: &CancelToken,
    ) -> Result<Vec<u8>, TransportError> {
        let prefix = self.length_prefix();
        check_outgoing(prefix, frame)?;
        if cancel.is_cancelled() {
            return Err(TransportError::Cancelled { sent: false });
        }
        #[cfg(feature = "tls")]
        let tls = match &endpoint.tls {
            Some(settings) => Some(self.tls_config(settings)?),
            None => None,
        };
        #[cfg(not(feature = "tls"))]
        let tls = match &endpoint.tls {
            // The config refuses `tls` in such a build; an endpoint made by hand is refused here.
            Some(_) => {
                return Err(TransportError::Connect(
                    "this build of possdk has no TLS (possdk-core's `tls` feature)".into(),
                ))
            }
            None => None,
        };
        let mut stream = connect(endpoint, tls, cancel)?;
        if cancel.is_cancelled() {
            log::debug!("tcp: cancelled after connecting, nothing sent");
            return Err(TransportError::Cancelled { sent: false });
        }
        send(&mut stream, endpoint, frame)?;
        log::debug!("tcp: sent {} bytes to {}", frame.len(), endpoint.address);
        let response = receive(prefix, &mut stream, endpoint.response_timeout, cancel)?;
        log::debug!(
            "tcp: received {} bytes from {}",
            response.len(),
            endpoint.address
        );
        Ok(response)
    }
}

/// A connected stream: plain, or TLS with the handshake done.
enum Stream {
    Plain(TcpStream),
    #[cfg(feature = "tls")]
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Stream {
    /// The socket under the stream (its timeouts bound every read and write).
    fn socket(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            #[cfg(feature = "tls")]
            Stream::Tls(s) => &s.sock,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// The request must carry a correct 2-byte length prefix and fit in 2048 bytes. A bad request is never sent;
/// it is reported as `Framing` (a programming error of the caller, conservatively "maybe sent").
fn check_outgoing(prefix: LengthPrefix, frame: &[u8]) -> Result<(), TransportError> {
    let nb = prefix.bytes();
    if frame.len() < nb + 1 {
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
    let declared = prefix.read(&frame[..nb]);
    if declared != Some(frame.len() - nb) {
        return Err(TransportError::Framing(format!(
            "request length prefix {declared:?} does not match {} body bytes",
            frame.len() - nb
        )));
    }
    Ok(())
}

/// Resolve, connect and (for a TLS endpoint) finish the handshake on a helper thread so that a cancel is
/// honoured while the connect is pending (std has no non-blocking connect). A cancelled connect is abandoned:
/// the thread drops the stream unused.
fn connect(
    endpoint: &Endpoint,
    tls: Option<TlsClient>,
    cancel: &CancelToken,
) -> Result<Stream, TransportError> {
    let (tx, rx) = mpsc::channel();
    let address = endpoint.address.clone();
    let _server_name = endpoint
        .tls
        .as_ref()
        .map_or(String::new(), |t| t.server_name.clone());
    let timeout = endpoint.connect_timeout;
    let thread_cancel = cancel.clone();
    thread::Builder::new()
        .name("possdk-tcp-connect".into())
        .spawn(move || {
            let _deadline = Instant::now() + timeout;
            let result = match (connect_blocking(&address, timeout, &thread_cancel), tls) {
                #[cfg(feature = "tls")]
                (Ok(tcp), Some(config)) => handshake(
                    tcp,
                    config,
                    &_server_name,
                    &address,
                    _deadline,
                    &thread_cancel,
                ),
                #[cfg(not(feature = "tls"))]
                (Ok(_), Some(never)) => match never {},
                (Ok(tcp), None) => Ok(Stream::Plain(tcp)),
                (Err(e), _) => Err(e),
            };
            // The receiver is gone when the exchange was cancelled: the stream is then simply dropped.
            let _ = tx.send(result);
        })
        .map_err(|e| TransportError::Connect(format!("cannot start the connect thread: {e}")))?;
    // The thread bounds connect and handshake by the connect timeout; the grace covers a slow name resolution.
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

#[cfg(feature = "tls")]
/// The TLS handshake on a connected socket, finished before `deadline` (the connect timeout) or refused. Every
/// failure is `Connect`: no application data is written before the handshake is complete.
fn handshake(
    mut tcp: TcpStream,
    config: Arc<ClientConfig>,
    server_name: &str,
    address: &str,
    deadline: Instant,
    cancel: &CancelToken,
) -> Result<Stream, TransportError> {
    let failed = |why: String| TransportError::Connect(format!("{address}: TLS handshake: {why}"));
    let name = ServerName::try_from(server_name.to_string())
        .map_err(|e| failed(format!("server name {server_name:?}: {e}")))?;
    let mut conn = ClientConnection::new(config, name).map_err(|e| failed(e.to_string()))?;
    let io_setup = |e: std::io::Error| failed(format!("socket setup: {e}"));
    while conn.is_handshaking() {
        if cancel.is_cancelled() {
            return Err(TransportError::Cancelled { sent: false });
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            log::debug!("tls: handshake with {address} not finished within the connect timeout");
            return Err(failed("not finished within the connect timeout".into()));
        }
        tcp.set_write_timeout(Some(remaining.max(MIN_TIMEOUT)))
            .map_err(io_setup)?;
        while conn.wants_write() {
            conn.write_tls(&mut tcp)
                .map_err(|e| failed(format!("write: {e}")))?;
        }
        if !conn.is_handshaking() {
            break;
        }
        // Short read slices, so that a cancel and the deadline are noticed while the server is silent.
        tcp.set_read_timeout(Some(remaining.min(POLL_SLICE).max(MIN_TIMEOUT)))
            .map_err(io_setup)?;
        match conn.read_tls(&mut tcp) {
            Ok(0) => return Err(failed("connection closed by the server".into())),
            Ok(_) => {
                if let Err(e) = conn.process_new_packets() {
                    // Tell the server why (best effort: the alert rustls queued).
                    let _ = conn.write_tls(&mut tcp);
                    log::debug!("tls: handshake with {address} failed: {e}");
                    return Err(failed(e.to_string()));
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    IoKind::WouldBlock | IoKind::TimedOut | IoKind::Interrupted
                ) => {}
            Err(e) => return Err(failed(format!("read: {e}"))),
        }
    }
    // The client's last handshake flight (its Finished) goes now, still within the connect phase.
    while conn.wants_write() {
        conn.write_tls(&mut tcp)
            .map_err(|e| failed(format!("write: {e}")))?;
    }
    log::debug!(
        "tls: connected to {address} ({:?})",
        conn.protocol_version()
    );
    Ok(Stream::Tls(Box::new(StreamOwned::new(conn, tcp))))
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

fn send(stream: &mut Stream, endpoint: &Endpoint, frame: &[u8]) -> Result<(), TransportError> {
    // A frame of at most 2 KiB fits any socket buffer; the timeout only guards against a wedged peer.
    let write_timeout = endpoint.response_timeout.max(MIN_TIMEOUT);
    stream
        .socket()
        .set_write_timeout(Some(write_timeout))
        .map_err(|e| TransportError::Connect(format!("socket setup: {e}")))?;
    stream
        .write_all(frame)
        .and_then(|_| stream.flush())
        .map_err(|e| TransportError::Send(e.to_string()))
}

/// Read one frame (length prefix + body) before `timeout`, waking every `POLL_SLICE` to honour `cancel`.
fn receive(
    prefix: LengthPrefix,
    stream: &mut Stream,
    timeout: Duration,
    cancel: &CancelToken,
) -> Result<Vec<u8>, TransportError> {
    let deadline = Instant::now() + timeout;
    let nb = prefix.bytes();
    let mut frame = vec![0u8; nb];
    read_exact_until(stream, &mut frame, deadline, cancel)?;
    let len = prefix.read(&frame).ok_or_else(|| {
        TransportError::Framing("response length prefix is not in the profile's encoding".into())
    })?;
    if len > MAX_FRAME - nb {
        return Err(TransportError::Framing(format!(
            "response length {len} exceeds {}",
            MAX_FRAME - nb
        )));
    }
    if len == 0 {
        return Err(TransportError::Framing("response length is zero".into()));
    }
    frame.resize(nb + len, 0);
    read_exact_until(stream, &mut frame[nb..], deadline, cancel)?;
    Ok(frame)
}

fn read_exact_until(
    stream: &mut Stream,
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
            .socket()
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
    #[cfg(feature = "tls")]
    use crate::hal::TlsSettings;
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
            tls: None,
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
            tls: None,
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

    #[cfg(feature = "tls")]
    /// A TLS server certificate (self-signed for `localhost`/`127.0.0.1`) and its pin.
    fn tls_server(
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> (Arc<rustls::ServerConfig>, [u8; 32]) {
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        let pin = crate::transport::tls::spki_sha256(cert.der()).expect("pin");
        let config = rustls::ServerConfig::builder_with_provider(crate::transport::tls::provider())
            .with_protocol_versions(versions)
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(cert.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .expect("server config");
        (Arc::new(config), pin)
    }

    #[cfg(feature = "tls")]
    /// One TLS connection: echoes one frame back; the handshake error, if any, is the thread's result.
    fn tls_echo_server(
        config: Arc<rustls::ServerConfig>,
    ) -> (SocketAddr, thread::JoinHandle<Result<(), String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let handle = thread::spawn(move || {
            let (s, _) = listener.accept().expect("accept");
            let conn = rustls::ServerConnection::new(config).expect("conn");
            let mut tls = StreamOwned::new(conn, s);
            let mut len = [0u8; 2];
            tls.read_exact(&mut len).map_err(|e| e.to_string())?;
            let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
            tls.read_exact(&mut body).map_err(|e| e.to_string())?;
            tls.write_all(&frame(&body)).map_err(|e| e.to_string())?;
            tls.flush().map_err(|e| e.to_string())
        });
        (addr, handle)
    }

    #[cfg(feature = "tls")]
    fn tls_endpoint(addr: SocketAddr, pins: Vec<[u8; 32]>) -> Endpoint {
        Endpoint {
            tls: Some(TlsSettings {
                server_name: "127.0.0.1".into(),
                ca_der: Vec::new(),
                pins,
            }),
            ..endpoint(addr, 2000)
        }
    }

    #[cfg(feature = "tls")]
    #[test]
    fn tls_1_3_and_1_2_carry_the_same_frame() {
        for versions in [
            &[&rustls::version::TLS13][..],
            &[&rustls::version::TLS12][..],
        ] {
            let (config, pin) = tls_server(versions);
            let (addr, h) = tls_echo_server(config);
            let got = TcpTransport::new()
                .exchange(
                    &tls_endpoint(addr, vec![[0u8; 32], pin]),
                    &frame(b"over tls"),
                    &CancelToken::new(),
                )
                .expect("exchange");
            assert_eq!(got, frame(b"over tls"));
            h.join().expect("server").expect("server side");
        }
    }

    #[cfg(feature = "tls")]
    #[test]
    fn a_pin_mismatch_is_a_connect_error() {
        let (config, _) = tls_server(&[&rustls::version::TLS13]);
        let (addr, h) = tls_echo_server(config);
        let err = TcpTransport::new()
            .exchange(
                &tls_endpoint(addr, vec![[7u8; 32]]),
                &frame(b"secret"),
                &CancelToken::new(),
            )
            .expect_err("refused");
        match &err {
            TransportError::Connect(m) => assert!(m.contains("invalid peer certificate"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(!err.maybe_sent());
        // The server never got a frame: its handshake failed.
        assert!(h.join().expect("server").is_err());
    }

    #[cfg(feature = "tls")]
    #[test]
    fn a_silent_server_times_the_handshake_out_and_a_cancel_ends_it() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let h = thread::spawn(move || {
            let held: Vec<TcpStream> = (0..2)
                .map(|_| listener.accept().expect("accept").0)
                .collect();
            thread::sleep(Duration::from_millis(1500));
            drop(held);
        });
        let ep = Endpoint {
            connect_timeout: Duration::from_millis(400),
            ..tls_endpoint(addr, vec![[1u8; 32]])
        };
        let start = Instant::now();
        let err = TcpTransport::new()
            .exchange(&ep, &frame(b"req"), &CancelToken::new())
            .expect_err("timeout");
        assert!(
            matches!(&err, TransportError::Connect(m) if m.contains("connect timeout")),
            "{err:?}"
        );
        assert!(
            start.elapsed() < Duration::from_millis(1000),
            "{:?}",
            start.elapsed()
        );
        let cancel = CancelToken::new();
        let c2 = cancel.clone();
        let canceller = thread::spawn(move || {
            thread::sleep(Duration::from_millis(150));
            c2.cancel();
        });
        let ep = Endpoint {
            connect_timeout: Duration::from_secs(5),
            ..ep
        };
        let start = Instant::now();
        let err = TcpTransport::new()
            .exchange(&ep, &frame(b"req"), &cancel)
            .expect_err("cancelled");
        assert_eq!(err, TransportError::Cancelled { sent: false });
        assert!(
            start.elapsed() < Duration::from_millis(800),
            "{:?}",
            start.elapsed()
        );
        canceller.join().expect("canceller");
        h.join().expect("server");
    }
}
