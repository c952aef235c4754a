//! Crypto benchmarks: `mac/cup_ecb` over the MAC'd span of the sale-with-PIN request frame, `pin/iso0`.
use criterion::{criterion_group, criterion_main, Criterion};
use possdk_core::crypto::{mac, pin_block, DesKey};
use std::hint::black_box;

fn messages() -> serde_json::Value {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/messages.json");
    serde_json::from_str(&std::fs::read_to_string(p).expect("messages.json"))
        .expect("messages.json parses")
}

fn benches(c: &mut Criterion) {
    let m = messages();
    let keys = &m["keys"];
    let mak = DesKey::from_hex(keys["mak"].as_str().expect("mak")).expect("mak key");
    let pik = DesKey::from_hex(keys["pik"].as_str().expect("pik")).expect("pik key");
    let frame = hex::decode(
        m["sale_swipe_pin_request"]["frame"]
            .as_str()
            .expect("frame"),
    )
    .expect("frame hex");
    let span = &frame[13..frame.len() - 8];
    // The bench measures the real thing: the span's MAC is the frame's field 64.
    assert_eq!(&mac::cup_ecb(&mak, span)[..], &frame[frame.len() - 8..]);

    c.bench_function("mac/cup_ecb", |b| {
        b.iter(|| mac::cup_ecb(black_box(&mak), black_box(span)))
    });
    c.bench_function("pin/iso0", |b| {
        b.iter(|| {
            pin_block::iso0_encrypt(
                black_box(&pik),
                black_box("123456"),
                black_box("6225880123456789"),
            )
        })
    });
}

/// On-CPU nanoseconds of this thread (Linux schedstat), so a figure can be read apart from run-queue waits on a
/// shared machine. None where unavailable.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Criterion measures wall time; on a loaded host that includes time spent waiting for a CPU. This prints the
/// on-CPU time per MAC as well.
fn cpu_time_report(c: &mut Criterion) {
    let _ = c;
    let m = messages();
    let mak = DesKey::from_hex(m["keys"]["mak"].as_str().expect("mak")).expect("mak key");
    let frame = hex::decode(
        m["sale_swipe_pin_request"]["frame"]
            .as_str()
            .expect("frame"),
    )
    .expect("frame hex");
    let span = &frame[13..frame.len() - 8];
    const N: u64 = 1_000_000;
    if let Some(t0) = thread_cpu_ns() {
        for _ in 0..N {
            black_box(mac::cup_ecb(black_box(&mak), black_box(span)));
        }
        if let Some(t1) = thread_cpu_ns() {
            println!(
                "mac/cup_ecb on-CPU time: {:.0} ns per MAC over {N} MACs",
                (t1 - t0) as f64 / N as f64
            );
        }
    }
}

criterion_group!(crypto, benches, cpu_time_report);
criterion_main!(crypto);
