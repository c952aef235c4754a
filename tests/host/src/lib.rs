//! possdk-host: the acquirer host simulator (transaction gateway + management platform) of
//! PROTOCOL.md, as a library embedded by the end-to-end tests and the demo; `possdk-host` is a thin
//! binary around it. See docs/HOST.md.
//!
//! One TCP port serves both roles (TPDU destination `0003` gateway, `0005` platform), a thread per
//! connection, several requests per connection; one SQLite connection behind a mutex holds all state.
//! A second port speaks the JSON-lines admin protocol (fault injection and ledger queries).

pub mod admin;
pub mod engine;
pub mod faults;
pub mod issuer;
pub mod provision;
pub mod store;
pub mod tls;
pub mod util;

use engine::{Db, Shared};
use log::{info, warn};
use possdk_core::crypto::sm2::Sm2PrivateKey;
use possdk_core::crypto::KeyFamily;
use possdk_core::iso8583::MAX_FRAME;
use rsa::traits::PublicKeyParts;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;

/// How to run a host.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Address of the gateway + platform port (`127.0.0.1:0` for any free port).
    pub listen: String,
    /// SQLite database file (created when missing).
    pub db: PathBuf,
    /// Provisioning JSON replacing the default set (docs/HOST.md).
    pub provision: Option<PathBuf>,
    /// TMK and every sign-in's keys are the fixture's fixed keys (the messages.json test keys); the host RSA
    /// key is the vectors' test key.
    pub fixed_keys: bool,
    /// Append a masked rendering of every request and response here.
    pub wire_log: Option<PathBuf>,
    /// Serve TLS instead of plain TCP on the gateway + platform port (docs/HOST.md).
    pub tls: Option<tls::TlsSetup>,
}

impl HostConfig {
    pub fn new(listen: &str, db: impl Into<PathBuf>) -> HostConfig {
        HostConfig {
            listen: listen.into(),
            db: db.into(),
            provision: None,
            fixed_keys: false,
            wire_log: None,
            tls: None,
        }
    }
}

#[derive(Debug)]
pub enum HostError {
    Io(std::io::Error),
    Db(rusqlite::Error),
    /// Bad provisioning or configuration (the field is named).
    Config(String),
    Rsa(String),
}

impl std::fmt::Display for HostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostError::Io(e) => write!(f, "io: {e}"),
            HostError::Db(e) => write!(f, "database: {e}"),
            HostError::Config(e) => write!(f, "config: {e}"),
            HostError::Rsa(e) => write!(f, "rsa: {e}"),
        }
    }
}
impl std::error::Error for HostError {}
impl From<std::io::Error> for HostError {
    fn from(e: std::io::Error) -> Self {
        HostError::Io(e)
    }
}
impl From<rusqlite::Error> for HostError {
    fn from(e: rusqlite::Error) -> Self {
        HostError::Db(e)
    }
}

/// A running host.
pub struct Host {
    addr: SocketAddr,
    admin_addr: SocketAddr,
    stop: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    threads: Arc<Mutex<Vec<JoinHandle<()>>>>,
    acceptors: Vec<JoinHandle<()>>,
    shared: Arc<Shared>,
    /// Hex SHA-256 of the served leaf certificate's SubjectPublicKeyInfo (the terminal's pin), with TLS.
    tls_spki_sha256: Option<String>,
}

/// The vectors' 2048-bit test key (tests/vectors/rsa), used with `--fixed-keys`.
const TEST_RSA_PKCS8: &[u8] = include_bytes!("../../vectors/rsa/rsa_priv_pkcs8.der");

/// One generated key per process: RSA generation is slow in debug builds and tests start many hosts.
static GENERATED: OnceLock<rsa::PrivateKey> = OnceLock::new();

fn host_rsa_key(store: &store::Store, fixed: bool) -> Result<rsa::PrivateKey, HostError> {
    use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
    use rsa::pkcs8::DecodePrivateKey;
    let slot = if fixed {
        "rsa_fixed_pkcs1"
    } else {
        "rsa_pkcs1"
    };
    if let Some(der) = store.meta(slot)? {
        return rsa::PrivateKey::from_pkcs1_der(&der)
            .map_err(|e| HostError::Rsa(format!("stored key: {e}")));
    }
    let key = if fixed {
        rsa::PrivateKey::from_pkcs8_der(TEST_RSA_PKCS8)
            .map_err(|e| HostError::Rsa(format!("test key: {e}")))?
    } else {
        GENERATED
            .get_or_init(|| {
                info!("generating the host RSA key (2048 bits)");
                <rsa::PrivateKey as rsa::Generate>::generate()
            })
            .clone()
    };
    let der = key
        .to_pkcs1_der()
        .map_err(|e| HostError::Rsa(format!("encode: {e}")))?;
    store.set_meta(slot, der.as_bytes())?;
    Ok(key)
}

/// The host SM2 key (docs/PROTOCOL.md §11): the vectors' test key with `fixed`, else the one the database keeps,
/// else a new one (kept for the next start, so pinned terminals stay valid).
fn host_sm2_key(store: &store::Store, fixed: bool) -> Result<Sm2PrivateKey, HostError> {
    let sm2 = |e: possdk_core::crypto::CryptoError| HostError::Config(format!("SM2 host key: {e}"));
    if fixed {
        let d = zeroize::Zeroizing::new(
            hex::decode(possdk_sim::fixture::FIXED_HOST_SM2_PRIVATE)
                .map_err(|e| HostError::Config(e.to_string()))?,
        );
        return Sm2PrivateKey::from_bytes(&d).map_err(sm2);
    }
    if let Some(d) = store.meta("sm2_private")? {
        let d = zeroize::Zeroizing::new(d);
        return Sm2PrivateKey::from_bytes(&d).map_err(sm2);
    }
    info!("generating the host SM2 key");
    let key = Sm2PrivateKey::generate().map_err(sm2)?;
    store.set_meta("sm2_private", &key.to_bytes()[..])?;
    Ok(key)
}

impl Host {
    /// Open (or create) the database, provision it, bind both ports and serve in threads.
    /// A host speaking the built-in `cup` profile.
    pub fn start(config: HostConfig) -> Result<Host, HostError> {
        Host::start_with_profile(config, possdk_core::acquirer::Profile::cup())
    }

    /// A host speaking an acquirer profile (docs/PROFILES.md).
    pub fn start_with_profile(
        config: HostConfig,
        profile: Arc<possdk_core::acquirer::Profile>,
    ) -> Result<Host, HostError> {
        let store = store::Store::open(&config.db)?;
        let provision = match &config.provision {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| {
                    HostError::Config(format!("provision file {}: {e}", p.display()))
                })?;
                Some(provision::Provision::from_json(&text).map_err(HostError::Config)?)
            }
            None if store.meta("provisioned")?.is_none() => {
                Some(provision::Provision::default_set())
            }
            None => None,
        };
        if let Some(p) = &provision {
            store.provision(p)?;
            store.set_meta("provisioned", b"1")?;
        }
        if config.fixed_keys {
            let mut st = store.conn.prepare("SELECT tid FROM terminals")?;
            let tids: Vec<String> = st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
            drop(st);
            for tid in tids {
                let fixed = match store.key_family(&tid)? {
                    KeyFamily::Tdes => possdk_sim::fixture::FIXED_TMK,
                    KeyFamily::Sm => possdk_sim::fixture::FIXED_SM_TMK,
                };
                let tmk = hex::decode(fixed).map_err(|e| HostError::Config(e.to_string()))?;
                if store.keys(&tid)?.tmk.is_none() {
                    store.set_tmk(&tid, &tmk)?;
                }
            }
        }
        let rsa = host_rsa_key(&store, config.fixed_keys)?;
        let sm2 = host_sm2_key(&store, config.fixed_keys)?;
        let seq0: i64 =
            store
                .conn
                .query_row("SELECT COALESCE(MAX(id), 0) FROM messages", [], |r| {
                    r.get(0)
                })?;
        let wire_log = match &config.wire_log {
            Some(p) => Some(Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)?,
            )),
            None => None,
        };
        let shared = Arc::new(Shared {
            db: Mutex::new(Db::new(store)),
            faults: Mutex::new(faults::Faults::default()),
            qr: Mutex::new(engine::QrBook::default()),
            rsa_modulus: rsa.n_bytes().to_vec(),
            rsa_exponent: rsa.e_bytes().to_vec(),
            rsa,
            sm2_public: sm2.public_key().to_uncompressed().to_vec(),
            sm2,
            fixed_keys: config.fixed_keys,
            wire_log,
            seq: AtomicU64::new(seq0 as u64 + 1),
            profile,
        });
        let tls = match &config.tls {
            Some(setup) => Some(tls::server(setup).map_err(HostError::Config)?),
            None => None,
        };
        let listener = TcpListener::bind(&config.listen)?;
        let admin_host = listener.local_addr()?.ip();
        let admin_listener = TcpListener::bind(SocketAddr::new(admin_host, 0))?;
        let addr = listener.local_addr()?;
        let admin_addr = admin_listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let conns = Arc::new(Mutex::new(Vec::new()));
        let threads = Arc::new(Mutex::new(Vec::new()));
        let mut acceptors = Vec::new();
        let server_config = tls.as_ref().map(|t| t.config.clone());
        for (l, is_admin) in [(listener, false), (admin_listener, true)] {
            let (stop, conns, threads, shared) =
                (stop.clone(), conns.clone(), threads.clone(), shared.clone());
            // The admin port stays plain: it is the tests' control channel, not the terminal's.
            let tls = if is_admin {
                None
            } else {
                server_config.clone()
            };
            acceptors.push(std::thread::spawn(move || {
                accept_loop(l, is_admin, tls, stop, conns, threads, shared)
            }));
        }
        let tls_spki_sha256 = tls.map(|t| t.spki_sha256);
        match &tls_spki_sha256 {
            Some(pin) => info!(
                "possdk-host listening on {addr} over TLS (SPKI SHA-256 {pin}) (admin {admin_addr})"
            ),
            None => info!("possdk-host listening on {addr} (admin {admin_addr})"),
        }
        Ok(Host {
            addr,
            admin_addr,
            stop,
            conns,
            threads,
            acceptors,
            shared,
            tls_spki_sha256,
        })
    }

    /// With TLS: the hex SHA-256 of the served leaf certificate's SubjectPublicKeyInfo, the value a terminal
    /// pins (`pin_spki_sha256`).
    pub fn tls_spki_sha256(&self) -> Option<&str> {
        self.tls_spki_sha256.as_deref()
    }

    /// The gateway + management platform port.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// Put a terminal (every provisioned terminal with `None`) in a key family (docs/HOST.md). A terminal whose
    /// family changes loses its keys; with fixed keys it gets the new family's fixed TMK. Returns how many
    /// terminals changed.
    pub fn set_key_family(&self, tid: Option<&str>, family: KeyFamily) -> Result<usize, HostError> {
        self.shared.set_key_family(tid, family)
    }

    /// Process one raw frame in-process (tests): the encoded response, if any.
    pub fn process_frame(&self, raw: &[u8]) -> Option<Vec<u8>> {
        self.shared.handle(raw).response
    }

    /// Answer one admin request in-process.
    pub fn admin(&self, request: serde_json::Value) -> serde_json::Value {
        admin::execute(&self.shared, &request)
    }

    /// Stop accepting, close every connection and join all threads.
    pub fn shutdown(mut self) {
        self.stop_all();
    }

    fn stop_all(&mut self) {
        if self.stop.swap(true, Ordering::SeqCst) {
            return;
        }
        // Wake the accept loops.
        let _ = TcpStream::connect(self.addr);
        let _ = TcpStream::connect(self.admin_addr);
        for a in self.acceptors.drain(..) {
            let _ = a.join();
        }
        for c in lock(&self.conns).drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
        let handles: Vec<JoinHandle<()>> = lock(&self.threads).drain(..).collect();
        for h in handles {
            let _ = h.join();
        }
        info!("possdk-host on {} stopped", self.addr);
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.stop_all();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn accept_loop(
    listener: TcpListener,
    is_admin: bool,
    tls: Option<Arc<rustls::ServerConfig>>,
    stop: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    threads: Arc<Mutex<Vec<JoinHandle<()>>>>,
    shared: Arc<Shared>,
) {
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                warn!("accept: {e}");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        if let Ok(c) = stream.try_clone() {
            let mut list = lock(&conns);
            // Forget connections that have ended.
            list.retain(|s| s.peer_addr().is_ok());
            list.push(c);
        }
        let (shared, stop, tls) = (shared.clone(), stop.clone(), tls.clone());
        let h = std::thread::spawn(move || {
            let peer = stream
                .peer_addr()
                .map(|a| a.to_string())
                .unwrap_or_default();
            if is_admin {
                admin::serve(shared, stream)
            } else if let Some(config) = tls {
                // The handshake runs inside the first read; a client that fails it ends the connection.
                match rustls::ServerConnection::new(config) {
                    Ok(conn) => {
                        let tls_stream = rustls::StreamOwned::new(conn, stream);
                        serve(shared, tls_stream, &peer, stop)
                    }
                    Err(e) => warn!("{peer}: TLS setup: {e}"),
                }
            } else {
                serve(shared, stream, &peer, stop)
            }
        });
        let mut t = lock(&threads);
        t.retain(|h| !h.is_finished());
        t.push(h);
    }
}

/// One terminal connection (plain or TLS): frames in, responses out, in order.
fn serve<S: Read + Write + Close>(
    shared: Arc<Shared>,
    mut stream: S,
    peer: &str,
    stop: Arc<AtomicBool>,
) {
    let prefix = shared.profile.wire.prefix;
    let nb = prefix.bytes();
    loop {
        let mut len = vec![0u8; nb];
        if let Err(e) = stream.read_exact(&mut len) {
            if e.kind() != std::io::ErrorKind::UnexpectedEof {
                // With TLS this is where a refused handshake shows (the terminal's pin did not match ...).
                log::debug!("{peer}: connection ended: {e}");
            }
            break;
        }
        let n = prefix.read(&len).unwrap_or(0);
        if n == 0 || n > MAX_FRAME {
            warn!("{peer}: frame length {n} refused, closing");
            break;
        }
        let mut raw = vec![0u8; n + nb];
        raw[..nb].copy_from_slice(&len);
        if stream.read_exact(&mut raw[nb..]).is_err() {
            warn!("{peer}: connection ended inside a frame");
            break;
        }
        let out = shared.handle(&raw);
        let Some(resp) = out.response else {
            break;
        };
        if out.delay_ms > 0 {
            // In slices, so a shutdown does not wait for a long injected delay.
            let until = std::time::Instant::now() + std::time::Duration::from_millis(out.delay_ms);
            while std::time::Instant::now() < until && !stop.load(Ordering::SeqCst) {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        if out.no_answer {
            continue;
        }
        if out.close_mid_frame {
            let _ = stream.write_all(&resp[..resp.len() / 2]);
            let _ = stream.flush();
            break;
        }
        let bytes = if out.garbage {
            let mut g = vec![0u8; resp.len().clamp(16, 64)];
            let _ = possdk_core::crypto::random_bytes(&mut g);
            let mut f = ((g.len()) as u16).to_be_bytes().to_vec();
            f.extend(g);
            f
        } else {
            resp
        };
        if stream
            .write_all(&bytes)
            .and_then(|_| stream.flush())
            .is_err()
        {
            break;
        }
    }
    stream.close();
}

/// Ends a terminal connection: a TLS stream says close_notify first.
trait Close {
    fn close(&mut self);
}

impl Close for TcpStream {
    fn close(&mut self) {
        let _ = self.shutdown(Shutdown::Both);
    }
}

impl Close for rustls::StreamOwned<rustls::ServerConnection, TcpStream> {
    fn close(&mut self) {
        self.conn.send_close_notify();
        let _ = self.conn.complete_io(&mut self.sock);
        let _ = self.sock.shutdown(Shutdown::Both);
    }
}
