//! ISO 8583 codec benchmarks on the sale_swipe_pin_request frame of tests/vectors/messages.json.
//!
//! Instruction counts (stable on a noisy machine): run the bench binary with `CODEC_COUNT=<iterations>`
//! under callgrind; it then skips criterion and calls `count_decode` / `count_encode` that many times:
//! `CODEC_COUNT=1000 valgrind --tool=callgrind --toggle-collect='*count_decode*' <bench binary>`
//! and divide the reported Ir by the iteration count.
use criterion::{criterion_group, Criterion};
use possdk_core::acquirer::Profile;
use possdk_core::iso8583::{decode_frame, encode_frame, Frame};
use std::hint::black_box;

fn sale_frame() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/vectors/messages.json"
    );
    let text = std::fs::read_to_string(path).expect("read messages.json");
    let v: serde_json::Value = serde_json::from_str(&text).expect("parse messages.json");
    let hexframe = v["sale_swipe_pin_request"]["frame"]
        .as_str()
        .expect("sale frame");
    hex::decode(hexframe).expect("hex")
}

/// One decode including dropping the result (criterion's `iter` times the drop too).
#[inline(never)]
fn count_decode(bytes: &[u8]) {
    black_box(decode_frame(black_box(bytes)).expect("decode"));
}

/// One encode including dropping the result.
#[inline(never)]
fn count_encode(frame: &Frame) {
    black_box(encode_frame(black_box(frame)).expect("encode"));
}

fn bench(c: &mut Criterion) {
    let bytes = sale_frame();
    let frame = decode_frame(&bytes).expect("decode sale");
    assert_eq!(encode_frame(&frame).expect("encode sale"), bytes);
    c.bench_function("codec/decode_sale", |b| {
        b.iter(|| decode_frame(black_box(&bytes)).expect("decode"))
    });
    c.bench_function("codec/encode_sale", |b| {
        b.iter(|| encode_frame(black_box(&frame)).expect("encode"))
    });
    // The same frame through a profile loaded from a file (what a terminal configured with a
    // profile path uses): the cup profile's file, then the ascii built-in's dialect.
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/profiles/cup.json");
    let file = Profile::from_config(Some(&serde_json::Value::String(path.into())))
        .expect("cup.json loads");
    let wire = &file.wire;
    assert_eq!(wire.encode_frame(&frame).expect("encode sale"), bytes);
    c.bench_function("codec/decode_sale_profile_file", |b| {
        b.iter(|| wire.decode_frame(black_box(&bytes)).expect("decode"))
    });
    c.bench_function("codec/encode_sale_profile_file", |b| {
        b.iter(|| wire.encode_frame(black_box(&frame)).expect("encode"))
    });
    let ascii = Profile::built_in("ascii").expect("ascii");
    let aw = &ascii.wire;
    let abytes = aw.encode_frame(&frame).expect("encode ascii sale");
    c.bench_function("codec/decode_sale_ascii", |b| {
        b.iter(|| aw.decode_frame(black_box(&abytes)).expect("decode"))
    });
    c.bench_function("codec/encode_sale_ascii", |b| {
        b.iter(|| aw.encode_frame(black_box(&frame)).expect("encode"))
    });
}

criterion_group!(benches, bench);

fn main() {
    if let Some(n) = std::env::var("CODEC_COUNT")
        .ok()
        .and_then(|s| s.parse::<u32>().ok())
    {
        let bytes = sale_frame();
        let frame = decode_frame(&bytes).expect("decode sale");
        assert_eq!(encode_frame(&frame).expect("encode sale"), bytes);
        for _ in 0..n {
            count_decode(&bytes);
            count_encode(&frame);
        }
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
