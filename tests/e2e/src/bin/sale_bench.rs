//! Sale benchmark: N card sales over loopback against the in-process possdk-host, durable journal
//! (SQLite WAL, synchronous FULL). Prints p50 / p99 of the whole `Terminal::sale` call, and of the part
//! spent in the transport (connect + host + answer) so the terminal's own share is visible.
//!
//! Usage: sale-bench [--count N] (default 500). Run with --release for the reported figures.

use possdk_core::api::Payment;
use possdk_core::hal::{CancelToken, Endpoint, Hal, Transport, TransportError};
use possdk_core::transport::TcpTransport;
use possdk_e2e::*;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The default TCP transport, timed.
struct Timed {
    inner: TcpTransport,
    samples: Arc<Mutex<Vec<u128>>>,
}

impl Transport for Timed {
    fn exchange(
        &mut self,
        endpoint: &Endpoint,
        frame: &[u8],
        cancel: &CancelToken,
    ) -> Result<Vec<u8>, TransportError> {
        let start = Instant::now();
        let r = self.inner.exchange(endpoint, frame, cancel);
        if let Ok(mut s) = self.samples.lock() {
            s.push(start.elapsed().as_micros());
        }
        r
    }
}

fn main() {
    // `sale-bench [--count] N` (build.sh passes `--count 500`).
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(500);
    let host = TestHost::start("bench");
    let dir = temp_dir("bench-term");
    let wire = Arc::new(Mutex::new(Vec::new()));
    let hal = Hal {
        transport: Some(Box::new(Timed {
            inner: TcpTransport::default(),
            samples: wire.clone(),
        })),
        ..Default::default()
    };
    let t = host.ready(&dir, hal);
    // Warm up (connections, statement caches).
    for _ in 0..20 {
        let r = t
            .sale(100, Payment::Card(Some(swipe(&CUP_SWIPE))))
            .expect("warm-up sale");
        assert!(r.approved, "warm-up sale declined: {}", r.response_code);
    }
    wire.lock().map(|mut w| w.clear()).ok();
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let card = swipe(&CUP_SWIPE);
        let start = Instant::now();
        let r = t.sale(100, Payment::Card(Some(card))).expect("sale");
        samples.push(start.elapsed().as_micros());
        assert!(r.approved, "sale declined: {}", r.response_code);
    }
    let (p50, p99) = percentiles(&mut samples);
    let mut wire = wire.lock().map(|w| w.clone()).unwrap_or_default();
    let (w50, w99) = percentiles(&mut wire);
    let ms = |us: u128| us as f64 / 1000.0;
    println!(
        "sale over loopback, durable journal: n={n} p50={:.3} ms p99={:.3} ms",
        ms(p50),
        ms(p99)
    );
    println!(
        "  of which transport + host:          p50={:.3} ms p99={:.3} ms",
        ms(w50),
        ms(w99)
    );
    host.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}
