#!/usr/bin/env python3
"""Write the fuzz seed corpus to fuzz/seeds/<target>/ from tests/vectors (and a few answers built here
the way possdk-host builds them). The seeds are regenerated on every `./build.sh fuzz`, so they always
follow the vectors; what the fuzzer finds on top of them goes to fuzz/corpus/<target>/ (not committed).

Usage: python3 fuzz/seeds.py [OUT_DIR]   (default: fuzz/seeds next to this script)
"""
import hashlib
import json
import os
import re
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
VECTORS = os.path.join(HERE, "..", "tests", "vectors")


def tlv(tag, value):
    """One BER-TLV item (tag given as an int of its raw bytes, value bytes or a list of items)."""
    if isinstance(value, list):
        value = b"".join(value)
    tag_bytes = tag.to_bytes((tag.bit_length() + 7) // 8 or 1, "big")
    n = len(value)
    if n < 0x80:
        length = bytes([n])
    elif n <= 0xFF:
        length = bytes([0x81, n])
    else:
        length = bytes([0x82, n >> 8, n & 0xFF])
    return tag_bytes + length + value


def ascii59(items):
    """Field 59 ASCII TLV: tag(2) length(3 digits) value."""
    return "".join(f"{t}{len(v):03}{v}" for t, v in items).encode()


def field_of_frame(frames, name, number):
    return frames[name]["fields"].get(str(number))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "seeds")
    with open(os.path.join(VECTORS, "messages.json")) as f:
        messages = json.load(f)
    with open(os.path.join(VECTORS, "rsa", "rsa_vectors.json")) as f:
        rsa = json.load(f)
    with open(os.path.join(VECTORS, "README.md")) as f:
        readme = f.read()
    frames = {k: v for k, v in messages.items() if isinstance(v, dict) and "frame" in v}

    seeds = {}

    def add(target, name, data):
        seeds.setdefault(target, []).append((name, data))

    # ISO 8583: every frame of the vectors, and the real CUP capture quoted in the vectors' README.
    for name, v in frames.items():
        add("iso8583_frame", name, bytes.fromhex(v["frame"]))
    for i, capture in enumerate(re.findall(r"`(00[0-9A-F]{40,})`", readme)):
        add("iso8583_frame", f"cup_capture_{i}", bytes.fromhex(capture))

    # BER-TLV and the field 59 ASCII TLV (the same input is tried as both).
    f59 = field_of_frame(frames, "qr_sale_request", 59)
    add("tlv", "qr_sale_59", f59.encode())
    add("tlv", "voucher_59", ascii59([("A3", "134567890123456789"), ("A4", "26112518000000000003")]))
    add(
        "tlv",
        "icc_55",
        tlv(0x9F26, bytes(8)) + tlv(0x9F27, b"\x80") + tlv(0x9F10, bytes(18)) + tlv(0x95, bytes(5))
        + tlv(0x5F2A, b"\x01\x56") + tlv(0x9F1A, b"\x01\x56") + tlv(0x82, b"\x7c\x00"),
    )
    add("tlv", "constructed", tlv(0xFF01, [tlv(0xDF70, b"000002"), tlv(0xE1, [tlv(0x5A, bytes(8))])]))
    add("tlv", "long_length", tlv(0xDF02, bytes(200)) + tlv(0xDF03, bytes(300)))

    # Field 62 key answers: sign-in working keys (the vectors', under their TMK), the TMK download
    # answer and the host RSA key answer.
    f62 = bytes.fromhex(field_of_frame(frames, "signin_response", 62))
    add("f62_keys", "signin_working_keys", f62)
    add("f62_keys", "tmk_answer", tlv(0xDF21, f62[:16]) + tlv(0xDF22, f62[16:20]))
    n = bytes.fromhex(rsa["n_hex"])
    e = int(rsa["e"]).to_bytes(3, "big")
    add(
        "f62_keys",
        "host_key_answer",
        tlv(0x9F06, bytes.fromhex("A000000333")) + tlv(0x9F22, b"\x01") + tlv(0xDF02, n) + tlv(0xDF04, e),
    )

    # The SM key family (docs/PROTOCOL.md §11): its sign-in field 62 under the vectors' SM4 TMK, its TMK
    # download answer, and a host key answer with the 65-byte SM2 point and DF25 `SM2`.
    with open(os.path.join(VECTORS, "sm.json")) as f:
        sm = json.load(f)
    add("f62_keys", "sm_signin_working_keys", bytes.fromhex(sm["sign_in_f62"]["f62"]))
    dl = sm["sm2_tmk_download"]
    add(
        "f62_keys",
        "sm_tmk_answer",
        tlv(0xDF21, bytes.fromhex(dl["DF21_tmk_under_R"])) + tlv(0xDF22, bytes.fromhex(dl["DF22_kcv_tmk"])),
    )
    add(
        "f62_keys",
        "sm_host_key_answer",
        tlv(0x9F06, bytes.fromhex("A000000333")) + tlv(0x9F22, b"\x01")
        + tlv(0xDF02, bytes.fromhex(dl["host_public_key"])) + tlv(0xDF25, b"SM2"),
    )
    # An SM-family request: 41 (a TID the target reads as SM), 52 b128, 53 `2410...`.
    bitmap = 0
    for field in (41, 52, 53):
        bitmap |= 1 << (64 - field)
    body = (
        bytes.fromhex("0200") + bitmap.to_bytes(8, "big") + b"12345678" + bytes(range(16))
        + bytes.fromhex("2410000000000000")
    )
    framed = bytes.fromhex("6000030000") + bytes.fromhex("603100000000") + body
    add("iso8583_frame", "sm_pin_block_b128", len(framed).to_bytes(2, "big") + framed)

    # EMV parameters: query pages (status byte + list), a CAPK download answer with its SHA-1 and
    # an AID download answer.
    rid, index, modulus, exponent = bytes.fromhex("A000000333"), 0x92, bytes([0xC1]) * 64, b"\x03"
    checksum = hashlib.sha1(rid + bytes([index]) + modulus + exponent).digest()
    capk = (
        tlv(0x9F06, rid) + tlv(0x9F22, bytes([index])) + tlv(0xDF05, b"20301231") + tlv(0xDF06, b"\x01")
        + tlv(0xDF07, b"\x01") + tlv(0xDF02, modulus) + tlv(0xDF04, exponent) + tlv(0xDF03, checksum)
    )
    add("emv_params", "capk_download", b"0" + capk)
    add(
        "emv_params",
        "capk_query_more",
        b"2" + b"".join(tlv(0x9F06, rid) + tlv(0x9F22, bytes([i])) + tlv(0xDF05, b"20301231") for i in (1, 2, 3)),
    )
    aid = bytes.fromhex("A000000333010101")
    add("emv_params", "aid_query", b"1" + tlv(0x9F06, aid) + tlv(0x9F06, bytes.fromhex("A000000333010102")))
    add(
        "emv_params",
        "aid_download",
        b"0" + tlv(0x9F06, aid) + tlv(0xDF01, b"\x00") + tlv(0x9F08, b"\x00\x20")
        + tlv(0xDF11, bytes(5)) + tlv(0x9F1B, b"\x00\x00\x05\x00") + tlv(0xDF19, b"\x00\x00\x00\x10\x00\x00"),
    )

    # Detail query pages: FF01 records as possdk-host sends them.
    def record(stan, kind, amount, who, state):
        return tlv(
            0xFF01,
            [
                tlv(0xDF70, f"{stan:06}".encode()), tlv(0xDF71, kind), tlv(0xDF72, f"{amount:012}".encode()),
                tlv(0xDF73, who), tlv(0xDF74, b"112510154502"), tlv(0xDF75, b"A1B2C3"),
                tlv(0xDF76, b"20261125101545"), tlv(0xDF77, state), tlv(0xDF78, b"000000000000"),
            ],
        )

    add("detail_query", "two_records", b"1" + record(2, b"22", 1234, b"622588******6789", b"A")
        + record(3, b"22", 8800, b"26112518000000000003", b"V"))
    add("detail_query", "more", b"2" + record(4, b"20", 500, b"622588******6789", b"R"))

    # Field 48 of a settlement answer (the request's totals, status 1 = balanced, 2 = not).
    f48 = field_of_frame(frames, "settlement_request", 48)
    add("settlement_48", "balanced", (f48[:30] + "1" + f48[31:61] + "1").encode())
    add("settlement_48", "not_balanced", (f48[:30] + "2" + f48[31:61] + "1").encode())

    # Field 54 of a balance answer: one entry, and ledger + available.
    add("balance_54", "one", b"1002156C000001000000")
    add("balance_54", "two", b"1001156C0000000000051002156D000000000007")

    # JSON requests (docs/JSON-API.md) and a config.
    requests = [
        {"op": "status"},
        {"op": "activate", "device_token": "TOKEN0001"},
        {"op": "sale", "amount": 10000,
         "card": {"entry": "swipe", "track2": "6225880123456789D30121010000000000", "pin": "123456"}},
        {"op": "sale", "amount": 1234, "qr_code": "134567890123456789"},
        {"op": "void", "stan": 7},
        {"op": "refund", "amount": 2000, "original": {"reference": "112500000002", "date": "1125"},
         "card": {"entry": "chip", "pan": "6225884444444444", "expiry": "3012", "sequence": "001",
                  "track2": "6225884444444444D30122010000000000", "icc": "9F2608AABBCCDDEEFF0011", "pin": "444444"}},
        {"op": "preauth_complete", "amount": 100,
         "original": {"auth_code": "A1B2C3", "date": "1125", "batch": 1, "stan": 3, "voucher": "2611"}},
        {"op": "tip", "stan": 6, "tip": 100},
        {"op": "query_details", "batch": 1},
        {"tid": "12345678", "mid": "123456789012345",
         "gateway": {"address": "127.0.0.1:7001", "tpdu": "6000030000"},
         "platform": {"address": "127.0.0.1:7001", "tpdu": "6000050000"},
         "journal_path": "/tmp/j.db", "timeouts_ms": {"connect": 10000, "response": 30000},
         "pin_required": ["sale"], "pin_bypass_allowed": []},
    ]
    for i, r in enumerate(requests):
        add("json_request", f"request_{i}", json.dumps(r).encode())

    # Acquirer profiles: the built-ins, the test dialect and the independent host's dialect.
    root = os.path.join(HERE, "..")
    for name, path in [("cup", "core/profiles/cup.json"), ("ascii", "core/profiles/ascii.json"),
                       ("bank", "tests/e2e/profiles/bank.json"), ("lotus", "tests/dialect/lotus.json")]:
        with open(os.path.join(root, path), "rb") as f:
            add("profile", name, f.read())

    if os.path.isdir(out):
        shutil.rmtree(out)
    for target, items in seeds.items():
        os.makedirs(os.path.join(out, target))
        for name, data in items:
            with open(os.path.join(out, target, name), "wb") as f:
                f.write(data)
    total = sum(len(v) for v in seeds.values())
    print(f"seeds: {total} files for {len(seeds)} targets in {os.path.relpath(out)}")


if __name__ == "__main__":
    main()
