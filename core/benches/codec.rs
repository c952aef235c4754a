//! ISO 8583 codec benchmarks on the sale_swipe_pin_request frame of tests/vectors/messages.json.
use criterion::{criterion_group, criterion_main, Criterion};
use possdk_core::iso8583::{decode_frame, encode_frame};
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
}

criterion_group!(benches, bench);
criterion_main!(benches);
