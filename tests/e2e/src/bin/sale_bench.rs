//! Sale benchmark: N card sales over loopback against the in-process possdk-host, durable journal
//! (SQLite WAL, synchronous FULL). Prints p50 / p99 of the whole `Terminal::sale` call.
//!
//! Usage: sale-bench [--count N] (default 500). Run with --release for the reported figures.

use possdk_core::api::Payment;
use possdk_core::hal::Hal;
use possdk_e2e::*;
use std::time::Instant;

fn main() {
    // `sale-bench [--count] N` (build.sh passes `--count 500`).
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(500);
    let host = TestHost::start("bench");
    let dir = temp_dir("bench-term");
    let t = host.ready(&dir, Hal::default());
    // Warm up (connections, statement caches).
    for _ in 0..20 {
        let r = t
            .sale(100, Payment::Card(Some(swipe(CARD_OK))))
            .expect("warm-up sale");
        assert!(r.approved, "warm-up sale declined: {}", r.response_code);
    }
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let card = swipe(CARD_OK);
        let start = Instant::now();
        let r = t.sale(100, Payment::Card(Some(card))).expect("sale");
        samples.push(start.elapsed().as_micros());
        assert!(r.approved, "sale declined: {}", r.response_code);
    }
    let (p50, p99) = percentiles(&mut samples);
    println!(
        "sale over loopback, durable journal: n={n} p50={:.3} ms p99={:.3} ms",
        p50 as f64 / 1000.0,
        p99 as f64 / 1000.0
    );
    host.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}
