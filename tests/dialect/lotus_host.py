#!/usr/bin/env python3
"""Lotus Bank POS gateway: an independent acquirer host for the Lotus ISO 8583 dialect.

Written from the wire description alone -- tests/dialect/SPEC.md (the Lotus dialect) and
docs/PROTOCOL.md (the CUP base it cites as "CUP §n") -- without reading the terminal's code. It
serves the gateway messages of SPEC §6: sign-in, sale (with PIN), void, refund advice, balance
inquiry, reversal, settlement and batch upload (plus the CUP sign-off and echo test), keeps an
in-memory ledger for the test card of SPEC §8, and answers with the Lotus framing, field table,
X9.19 MAC and MAK-first key layout.

Usage: lotus_host.py --listen 127.0.0.1:0 [--log FILE]
  prints {"listening": "127.0.0.1:PORT"} once it listens and exits when its stdin closes.
  Test controls, one line on stdin each, acknowledged with {"ack": LINE} on stdout:
    "drop N"       process the next N requests but close the connection instead of answering;
    "unbalance N"  answer the next N settlements "not balanced" on the domestic side (the terminal
                   then uploads its batch, CUP §5.3).
The --log file gets one JSON line per message; it never holds PINs, keys, tracks or full PANs.
"""

import argparse
import datetime
import json
import os
import secrets
import socket
import sys
import threading

from cryptography.hazmat.primitives.ciphers import Cipher, modes

try:  # cryptography >= 43 keeps TripleDES among the "decrepit" algorithms
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
except ImportError:  # pragma: no cover - older cryptography
    from cryptography.hazmat.primitives.ciphers.algorithms import TripleDES

# ---------------------------------------------------------------------------------------------
# Test data (SPEC §8) and constants

TERMINALS = {"12345678": {"mid": "123456789012345", "tmk": bytes.fromhex("B673E99226D9EAD6378A29AD433EE6FB")}}
CARDS = {"6225880123456789": {"pin": "123456", "expiry": "3012", "org": "CUP", "balance": 1_000_000}}
RESPONSE_HEADER = bytes.fromhex("612200000000")  # SPEC §1: the gateway always answers 61 22 00 00 00 00
ACQUIRER_ID = "00010000"  # field 32 (CUP §2.3 host-generated values)
FIELD44 = "0102000000 0103000000 "
CST = datetime.timezone(datetime.timedelta(hours=8))  # host clock in China Standard Time (CUP §2.3)
MAX_FRAME = 2048

# ---------------------------------------------------------------------------------------------
# Field table (SPEC §2): field -> (format, length-prefix digits (0 = fixed), max or fixed length)
FIELDS = {
    2: ("n", 2, 19), 3: ("n", 0, 6), 4: ("n", 0, 12), 11: ("n", 0, 6), 12: ("n", 0, 6),
    13: ("n", 0, 4), 14: ("n", 0, 4), 15: ("n", 0, 4), 22: ("n", 0, 3), 23: ("n", 0, 3),
    25: ("n", 0, 2), 26: ("n", 0, 2), 32: ("n", 2, 11), 35: ("z", 2, 37), 36: ("z", 3, 104),
    37: ("an", 0, 12), 38: ("an", 0, 6), 39: ("an", 0, 2), 41: ("ans", 0, 8), 42: ("ans", 0, 15),
    44: ("an", 2, 25), 48: ("n", 3, 322), 49: ("an", 0, 3), 52: ("b", 0, 8), 53: ("n", 0, 16),
    54: ("an", 3, 20), 55: ("b", 3, 255), 60: ("n", 3, 30), 61: ("n", 3, 29), 62: ("b", 3, 512),
    63: ("ans", 3, 163), 64: ("b", 0, 8),
}
LEFT_ALIGNED_FIXED = {22}  # field 22 is padded on the right like a variable field (SPEC §2)


class FormatError(Exception):
    pass


def _check_text(fno, fmt, text):
    lo = 0x20 if fmt == "an" else 0x00
    if any(not (lo <= ord(c) <= 0x7E) for c in text):
        raise FormatError(f"field {fno}: bad character")


def decode_body(body):
    """MTI + bitmap + fields -> (mti, {field: value}); n/z as digit strings, an/ans as str, b as bytes."""
    if len(body) < 10:
        raise FormatError("short body")
    mti = body[:2].hex()
    if not mti.isdigit():
        raise FormatError("MTI")
    bitmap = int.from_bytes(body[2:10], "big")
    if bitmap >> 63:
        raise FormatError("secondary bitmap")
    fields, pos = {}, 10
    for fno in range(2, 65):
        if not (bitmap >> (64 - fno)) & 1:
            continue
        if fno not in FIELDS:
            raise FormatError(f"field {fno} is not in the Lotus table")
        fmt, prefix, size = FIELDS[fno]
        length = size
        if prefix:
            raw = body[pos:pos + prefix]
            if len(raw) != prefix or not raw.isdigit():
                raise FormatError(f"field {fno}: length prefix")
            length, pos = int(raw), pos + prefix
            if length > size:
                raise FormatError(f"field {fno}: too long")
        nbytes = (length + 1) // 2 if fmt in ("n", "z") else length
        raw = body[pos:pos + nbytes]
        if len(raw) != nbytes:
            raise FormatError(f"field {fno}: truncated")
        pos += nbytes
        if fmt in ("n", "z"):
            nib = raw.hex().upper()
            if length % 2:
                right_pad = prefix or fno in LEFT_ALIGNED_FIXED
                pad, nib = (nib[-1], nib[:-1]) if right_pad else (nib[0], nib[1:])
                if pad != "0":
                    raise FormatError(f"field {fno}: pad nibble")
            if fmt == "n" and not nib.isdigit():
                raise FormatError(f"field {fno}: not numeric")
            fields[fno] = nib
        elif fmt == "b":
            fields[fno] = raw
        else:
            text = raw.decode("latin-1")
            if fno != 63:
                _check_text(fno, fmt, text)
            fields[fno] = text
    if pos != len(body):
        raise FormatError("bytes after the last field")
    return mti, fields


def encode_field(fno, value):
    fmt, prefix, size = FIELDS[fno]
    if fmt in ("n", "z"):
        length = len(value)
        digits = value
        if length % 2:
            digits = value + "0" if (prefix or fno in LEFT_ALIGNED_FIXED) else "0" + value
        data = bytes.fromhex(digits)
    elif fmt == "b":
        data, length = value, len(value)
    else:
        if not prefix:
            value = value.ljust(size)
        data, length = value.encode("ascii"), len(value)
    if (prefix and length > size) or (not prefix and length != size):
        raise ValueError(f"field {fno}: length {length}")
    return (f"{length:0{prefix}d}".encode("ascii") if prefix else b"") + data


def encode_body(mti, fields):
    bitmap, parts = 0, []
    for fno in sorted(fields):
        bitmap |= 1 << (64 - fno)
        parts.append(encode_field(fno, fields[fno]))
    return bytes.fromhex(mti) + bitmap.to_bytes(8, "big") + b"".join(parts)


# ---------------------------------------------------------------------------------------------
# Cryptography (SPEC §3, §4; CUP §3.5, §7.2)

def tdes_ecb(key, data, decrypt=False):
    if len(key) == 16:  # double-length K1 K2 as the 24-byte K1 K2 K1 (16-byte keys are deprecated)
        key = key + key[:8]
    cipher = Cipher(TripleDES(key), modes.ECB())
    ctx = cipher.decryptor() if decrypt else cipher.encryptor()
    return ctx.update(data) + ctx.finalize()


def des_ecb(key8, block, decrypt=False):
    return tdes_ecb(key8 * 3, block, decrypt)


def x919_mac(mak, data):
    """ANSI X9.19: single-DES CBC under K1 (zero IV, zero padding), last block D(K2) then E(K1)."""
    k1, k2 = mak[:8], mak[8:16]
    if len(data) % 8 or not data:
        data += b"\x00" * (8 - len(data) % 8)
    state = bytes(8)
    for i in range(0, len(data), 8):
        state = des_ecb(k1, bytes(a ^ b for a, b in zip(state, data[i:i + 8])))
    return des_ecb(k1, des_ecb(k2, state, decrypt=True))


def check_value(key):
    return tdes_ecb(key, bytes(8))[:4]


def odd_parity_key():
    out = bytearray(secrets.token_bytes(16))
    for i, b in enumerate(out):
        out[i] = (b & 0xFE) | (1 - bin(b >> 1).count("1") % 2)
    return bytes(out)


def pin_from_block(pik, block, pan):
    """ISO 9564 format 0 (CUP §7.2): returns the PIN, or None when the block does not parse."""
    clear = tdes_ecb(pik, block, decrypt=True)
    pan_field = bytes.fromhex("0000" + pan[-13:-1])
    nib = bytes(a ^ b for a, b in zip(clear, pan_field)).hex().upper()
    n = int(nib[1], 16)
    if nib[0] != "0" or not 4 <= n <= 12:
        return None
    pin, pad = nib[2:2 + n], nib[2 + n:]
    if not pin.isdigit() or pad != "F" * len(pad):
        return None
    return pin


# ---------------------------------------------------------------------------------------------
# Host state

LOCK = threading.Lock()
STATE = {
    "keys": {},           # tid -> {"pik", "mak", "tdk"}
    "txns": {},           # (tid, batch, stan, mti) -> transaction record
    "reversals": {},      # (tid, batch, stan) -> stored 0410 fields (replayed for a repeated 0400)
    "uploads": {},        # (tid, batch) -> set of (batch, stan, amount)
    "closed": set(),      # (tid, batch) settled
    "balances": {pan: c["balance"] for pan, c in CARDS.items()},
    "rrn": secrets.randbelow(10**6) * 100,
    "drop": 0,
    "unbalance": 0,
}
LOG = {"file": None}


def log(entry):
    if LOG["file"]:
        LOG["file"].write(json.dumps(entry) + "\n")
        LOG["file"].flush()


def mask(pan):
    return pan[:6] + "*" * (len(pan) - 10) + pan[-4:] if pan and len(pan) > 10 else pan


def now():
    return datetime.datetime.now(CST)


def next_rrn():
    STATE["rrn"] += 1
    return now().strftime("%m%d") + f"{STATE['rrn'] % 10**8:08d}"


def org_of(pan):
    if pan.startswith("62"):
        return "CUP"
    if pan.startswith("4"):
        return "VIS"
    if pan[:2] in ("51", "52", "53", "54", "55"):
        return "MCC"
    if pan.startswith("35"):
        return "JCB"
    if pan[:2] in ("34", "37"):
        return "AEX"
    return "CUP"


class Answer:
    """A response: MTI, fields, and whether it is MAC'd (under the terminal's current MAK)."""

    def __init__(self, mti, fields, mac=False):
        self.mti, self.fields, self.mac = mti, fields, mac


def response_mti(mti):
    return f"{int(mti) + 10:04d}"


def echo(req, fnos):
    return {f: req[f] for f in fnos if f in req}


FIN_ECHO = (2, 3, 4, 11, 14, 22, 25, 41, 42, 49, 60)
MGMT_ECHO = (11, 41, 42, 60)


def short_answer(mti, req, rc, financial=False):
    fields = echo(req, FIN_ECHO if financial else MGMT_ECHO)
    fields[39] = rc
    return Answer(response_mti(mti), fields)


def clock_fields():
    t = now()
    return {12: t.strftime("%H%M%S"), 13: t.strftime("%m%d")}


# ---------------------------------------------------------------------------------------------
# Message handlers (called with LOCK held)

def handle_sign_in(mti, req, tid):
    term = TERMINALS[tid]
    keys = {name: odd_parity_key() for name in ("mak", "pik", "tdk")}
    f62 = b"".join(tdes_ecb(term["tmk"], keys[n]) + check_value(keys[n]) for n in ("mak", "pik", "tdk"))
    STATE["keys"][tid] = keys
    fields = echo(req, MGMT_ECHO)
    fields.update(clock_fields())
    fields.update({37: next_rrn(), 39: "00", 62: f62})
    return Answer(response_mti(mti), fields)  # CUP §3.4 / §1.7: the sign-in answer carries no MAC


def card_of(req):
    """PAN and expiry from field 2 / 14 / track 2 (SPEC §8). Raises FormatError when unreadable."""
    track = req.get(35, "").replace("=", "D")
    track_pan, track_exp = None, None
    if track:
        if "D" not in track:
            raise FormatError("track 2 without separator")
        track_pan, rest = track.split("D", 1)
        track_exp = rest[:4] or None
    pan = req.get(2) or track_pan
    if not pan or not pan.isdigit() or not 13 <= len(pan) <= 19:
        raise FormatError("no PAN")
    if track_pan and track_pan != pan:
        raise FormatError("track 2 PAN differs from field 2")
    return pan, req.get(14) or track_exp


def handle_financial(mti, req, tid, body_wo_mac):
    batch, stan = req[60][2:8], req[11]
    key = (tid, batch, stan, mti)
    old = STATE["txns"].get(key)
    if mti == "0220" and old is not None:
        if old["body"] == body_wo_mac:  # CUP §6.7: a resent advice gets its first answer again
            return Answer(old["answer"].mti, dict(old["answer"].fields), old["answer"].fields[39] == "00")
        return short_answer(mti, req, "94", True)
    if old is not None or (tid, batch, stan) in STATE["reversals"]:
        return short_answer(mti, req, "94", True)  # duplicate, or an original overtaken by its 0400

    kind = {("0200", "000000", "00", "22"): "sale", ("0200", "200000", "00", "23"): "void",
            ("0220", "200000", "00", "25"): "refund", ("0200", "310000", "00", "01"): "balance",
            }.get((mti, req.get(3), req.get(25), req[60][:2]))
    if kind is None or len(req[60]) < 15:
        return short_answer(mti, req, "30", True)
    rec = {"kind": kind, "tid": tid, "batch": batch, "stan": stan, "amount": int(req.get(4, "0")),
           "state": "declined", "refunded": 0, "orig": None, "body": body_wo_mac}
    try:
        rc, extra = process(kind, req, tid, rec)
    except FormatError:
        rc, extra = "30", {}
    if rc == "30":
        return short_answer(mti, req, "30", True)
    fields = echo(req, FIN_ECHO)
    fields.update(clock_fields())
    fields.update({15: fields[13], 32: ACQUIRER_ID, 44: FIELD44, 39: rc, 63: "00" + org_of(rec.get("pan", ""))})
    fields.update(extra)
    if rc == "00":
        fields[37] = next_rrn()
        fields[38] = f"{secrets.randbelow(10**6):06d}"
        rec.update(state="approved", rrn=fields[37], date=fields[13])
    answer = Answer(response_mti(mti), fields, rc == "00")
    rec["answer"] = answer
    STATE["txns"][key] = rec
    return answer


def process(kind, req, tid, rec):
    """Checks and effects of one financial request: returns (39, extra response fields)."""
    if kind != "balance":
        if 4 not in req:
            raise FormatError("no amount")
        if rec["amount"] == 0:
            return "13", {}
    pan, expiry = card_of(req)
    rec["pan"] = pan
    card = CARDS.get(pan)
    if card is None:
        return "14", {}
    if (expiry or card["expiry"]) < now().strftime("%y%m"):
        return "54", {}
    if 52 in req:
        pin = pin_from_block(STATE["keys"][tid]["pik"], req[52], pan)
        if pin is None:
            return "99", {}
        if pin != card["pin"]:
            return "55", {}
    elif kind == "balance":
        return "55", {}
    bal = STATE["balances"]
    if kind == "balance":
        b = bal[pan]
        return "00", {54: "1002156" + ("C" if b >= 0 else "D") + f"{abs(b):012d}"}
    if kind == "sale":
        if rec["amount"] > bal[pan]:
            return "51", {}
        bal[pan] -= rec["amount"]
        return "00", {}
    f61 = req.get(61, "")
    if kind == "void":
        if len(f61) < 12:
            raise FormatError("61")
        orig = STATE["txns"].get((tid, f61[:6], f61[6:12], "0200"))
        if (orig is None or orig["kind"] != "sale" or orig["state"] == "declined" or orig.get("pan") != pan
                or (37 in req and req[37] != orig["rrn"])):
            return "25", {}
        if f61[:6] != rec["batch"] or orig["state"] != "approved" or orig["refunded"]:
            return "12", {}
        if rec["amount"] != orig["amount"]:
            return "64", {}
        bal[pan] += orig["amount"]
        orig["state"], rec["orig"] = "voided", orig
        return "00", {}
    # refund (0220): 61 = batch n6 + STAN n6 + 61.3 n2 + date MMDD n4 (SPEC §5)
    if len(f61) < 18:
        raise FormatError("61")
    obatch, ostan, odate = f61[:6], f61[6:12], f61[14:18]
    if ostan != "000000":
        orig = STATE["txns"].get((tid, obatch, ostan, "0200"))
    else:
        orig = next((t for t in STATE["txns"].values() if t["tid"] == tid and t.get("rrn") == req.get(37)
                     and t["kind"] == "sale"), None)
        if orig is not None and odate != "0000" and odate != orig["date"]:
            orig = None
    if (orig is None or orig["kind"] != "sale" or orig["state"] == "declined" or orig.get("pan") != pan
            or (37 in req and req[37] != orig["rrn"])):
        return "25", {}
    if orig["state"] != "approved":
        return "12", {}
    if orig["refunded"] + rec["amount"] > orig["amount"]:
        return "61", {}
    bal[pan] += rec["amount"]
    orig["refunded"] += rec["amount"]
    rec["orig"] = orig
    return "00", {}


def handle_reversal(mti, req, tid):
    batch, stan = req[60][2:8], req[11]
    stored = STATE["reversals"].get((tid, batch, stan))
    if stored is None:
        orig = STATE["txns"].get((tid, batch, stan, "0200"))
        rc = "00"  # SPEC §6: 00 also when the original was never seen
        if orig is not None and orig["state"] == "approved":
            if orig["kind"] == "sale" and orig["refunded"]:
                rc = "12"  # CUP §6.5: undoing it would need undoing the refund that followed
            elif orig["kind"] == "sale":
                STATE["balances"][orig["pan"]] += orig["amount"]
                orig["state"] = "reversed"
            elif orig["kind"] == "void":
                sale = orig["orig"]
                STATE["balances"][sale["pan"]] -= sale["amount"]
                sale["state"], orig["state"] = "approved", "reversed"
            else:
                orig["state"] = "reversed"  # a balance inquiry moves nothing
        elif orig is not None and orig["state"] == "voided":
            rc = "12"
        stored = echo(req, FIN_ECHO)
        stored[39] = rc
        STATE["reversals"][(tid, batch, stan)] = stored
    fields = dict(stored)
    fields.update(clock_fields())
    return Answer(response_mti(mti), fields, True)  # CUP §6.5: a 0410 is always MAC'd


def batch_totals(tid, batch):
    """Per side [debit amount, debit count, credit amount, credit count] and the counted set."""
    sides = {"dom": [0, 0, 0, 0], "for": [0, 0, 0, 0]}
    counted = set()
    for t in STATE["txns"].values():
        if t["tid"] != tid or t["batch"] != batch or t["state"] != "approved" or t["kind"] not in ("sale", "refund"):
            continue
        side = sides["dom" if org_of(t["pan"]) == "CUP" else "for"]
        i = 0 if t["kind"] == "sale" else 2
        side[i] += t["amount"]
        side[i + 1] += 1
        counted.add((t["batch"], t["stan"], t["amount"]))
    return sides, counted


def side_digits(s):
    return f"{s[0]:012d}{s[1] % 10000:04d}{s[2]:012d}{s[3] % 10000:04d}"


def handle_settlement(mti, req, tid):
    f48, batch = req.get(48, ""), req[60][2:8]
    if len(f48) != 66:
        return short_answer(mti, req, "30")
    sides, _ = batch_totals(tid, batch)
    results = ["1" if f48[o:o + 32] == side_digits(sides[s]) else "2" for o, s in ((0, "dom"), (33, "for"))]
    if STATE["unbalance"] > 0:
        STATE["unbalance"] -= 1
        results[0] = "2"
    if results == ["1", "1"]:
        STATE["closed"].add((tid, batch))
    fields = echo(req, MGMT_ECHO)
    fields.update(clock_fields())
    fields.update({15: fields[13], 39: "00", 48: f48[:32] + results[0] + f48[33:65] + results[1]})
    return Answer(response_mti(mti), fields, True)


def handle_upload(mti, req, tid, code):
    batch = req[60][2:8]
    fields = echo(req, MGMT_ECHO)
    fields.update(clock_fields())
    uploads = STATE["uploads"].setdefault((tid, batch), set())
    if code == "201":
        f61 = req.get(61, "")
        if len(f61) < 12 or 4 not in req:
            return short_answer(mti, req, "30")
        uploads.add((f61[:6], f61[6:12], int(req[4])))
        fields.update(echo(req, (2, 3, 4, 37, 38)))
        fields[39] = "00"
        return Answer(response_mti(mti), fields, True)
    f48 = req.get(48, "")
    if len(f48) != 4:
        return short_answer(mti, req, "30")
    _, counted = batch_totals(tid, batch)
    ok = uploads == counted and int(f48) == len(uploads) % 10000
    STATE["uploads"].pop((tid, batch), None)
    STATE["closed"].add((tid, batch))
    fields.update({39: "00", 48: "1" if ok else "2"})
    return Answer(response_mti(mti), fields, True)


def handle(mti, req, body_wo_mac, header, mac):
    """Checks of CUP §1.8 in order, then the message's own handler. Called with LOCK held."""
    financial = mti in ("0200", "0220")
    tid = req.get(41)
    if tid is None or len(tid) != 8:
        return short_answer(mti, req, "30")
    if len(req.get(60, "")) < 11 or 11 not in req:
        return short_answer(mti, req, "30")
    if tid not in TERMINALS:
        return short_answer(mti, req, "97")
    if req.get(42) != TERMINALS[tid]["mid"]:
        return short_answer(mti, req, "03")
    code = req[60][8:11]
    if mti == "0800" and code == "001":
        return handle_sign_in(mti, req, tid)
    keys = STATE["keys"].get(tid)
    if mti == "0820" and code == "002" and keys is None:
        return short_answer(mti, req, "00")  # a resent sign-off: nothing to drop
    macd = mti in ("0200", "0220", "0320", "0400", "0500") or (mti == "0820" and (code == "002" or mac))
    if macd and (keys is None or mac is None or not secrets.compare_digest(mac, x919_mac(keys["mak"], header + body_wo_mac))):
        ans = short_answer(mti, req, "A0", financial or mti == "0400")
        ans.mac = mti == "0400" and keys is not None
        return ans
    if financial:
        return handle_financial(mti, req, tid, body_wo_mac)
    if mti == "0400":
        return handle_reversal(mti, req, tid)
    if mti == "0500" and code == "501":
        return handle_settlement(mti, req, tid)
    if mti == "0320" and code in ("201", "202"):
        return handle_upload(mti, req, tid, code)
    if mti == "0820" and code == "002":  # CUP §3.9 sign-off: drop the keys, answer without MAC
        del STATE["keys"][tid]
        return short_answer(mti, req, "00")
    if mti == "0820" and code == "301":  # CUP §3.10 echo test
        ans = short_answer(mti, req, "00")
        ans.fields.update(clock_fields())
        ans.mac = mac is not None
        return ans
    return short_answer(mti, req, "30")


def log_request(mti, req, tpdu):
    entry = {"dir": "request", "mti": mti, "tpdu": tpdu.hex()}
    for f in (3, 4, 11, 22, 25, 37, 39, 48, 49, 53, 60, 61, 63):
        if f in req:
            entry[f"f{f}"] = req[f]
    entry["pan"] = mask(req.get(2) or req.get(35, "").replace("=", "D").split("D")[0])
    entry["has"] = sorted(req)
    log(entry)


def answer_frame(frame):
    """One request frame (after its length prefix) -> the response frame bytes, or None to close."""
    if len(frame) < 21:
        return None
    tpdu, header, body = frame[:5], frame[5:11], frame[11:]
    out_tpdu = tpdu[:1] + tpdu[3:5] + tpdu[1:3]
    try:
        mti, req = decode_body(body)
    except FormatError as e:
        req, mti = {}, body[:2].hex()
        log({"dir": "request", "error": str(e), "mti": mti})
        if not mti.isdigit() or int(mti[2]) % 2:
            return None
        ans = Answer(response_mti(mti), {39: "30"})
    else:
        mac = req.get(64)
        body_wo_mac = body[:-8] if mac is not None else body
        with LOCK:
            log_request(mti, req, tpdu)
            ans = handle(mti, req, body_wo_mac, header, mac)
    with LOCK:
        keys = STATE["keys"].get(req.get(41))
        out = encode_body(ans.mti, ans.fields)
        if ans.mac and keys is not None:
            out = encode_body(ans.mti, {**ans.fields, 64: bytes(8)})[:-8]
            out += x919_mac(keys["mak"], RESPONSE_HEADER + out)
        log({"dir": "response", "mti": ans.mti, "rc": ans.fields.get(39), "f48": ans.fields.get(48),
             "f54": ans.fields.get(54), "f60": ans.fields.get(60), "mac": ans.mac and keys is not None})
    return out_tpdu + RESPONSE_HEADER + out


# ---------------------------------------------------------------------------------------------
# Transport

def recv_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def serve_connection(conn):
    try:
        serve_frames(conn)
    except OSError:  # the terminal went away
        pass
    finally:
        conn.close()


def serve_frames(conn):
    while True:
        prefix = recv_exact(conn, 2)
        if prefix is None:
            return
        length = int.from_bytes(prefix, "big")
        if length < 11 or length > MAX_FRAME - 2:
            return
        frame = recv_exact(conn, length)
        if frame is None:
            return
        try:
            out = answer_frame(frame)
        except Exception as e:  # a bug must not kill the server; close this connection
            with LOCK:
                log({"dir": "error", "error": repr(e)})
            return
        with LOCK:
            drop = out is not None and STATE["drop"] > 0
            if drop:
                STATE["drop"] -= 1
            if out is None or drop:
                log({"dir": "dropped" if drop else "closed"})
        if out is None or drop:
            return
        conn.sendall(len(out).to_bytes(2, "big") + out)


def watch_stdin():
    for line in sys.stdin:
        words = line.split()
        if len(words) == 2 and words[0] in ("drop", "unbalance") and words[1].isdigit():
            with LOCK:
                STATE[words[0]] += int(words[1])
            print(json.dumps({"ack": line.strip()}), flush=True)
    os._exit(0)


def main():
    ap = argparse.ArgumentParser(description="Lotus Bank POS gateway (independent test host)")
    ap.add_argument("--listen", required=True, help="HOST:PORT (port 0 picks a free one)")
    ap.add_argument("--log", help="file for a per-message JSON log (no PINs, keys, tracks or PANs)")
    args = ap.parse_args()
    if args.log:
        LOG["file"] = open(args.log, "a", encoding="utf-8")
    host, port = args.listen.rsplit(":", 1)
    srv = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host.strip("[]"), int(port)))
    srv.listen(16)
    addr = srv.getsockname()
    print(json.dumps({"listening": f"{addr[0]}:{addr[1]}"}), flush=True)
    threading.Thread(target=watch_stdin, daemon=True).start()
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve_connection, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
