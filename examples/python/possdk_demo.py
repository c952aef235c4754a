#!/usr/bin/env python3
"""A terminal day through possdk's JSON entry point, from Python with ctypes.

    possdk_demo.py LIBPOSSDK HOST:PORT JOURNAL_PATH

LIBPOSSDK is the shared library (target/debug/libpossdk.so), HOST:PORT a possdk-host. No device
callbacks are registered: card data, PINs and QR codes travel inline in the requests (the
scripting-host case of docs/JSON-API.md). Exits 0 when every step went as expected.
"""

import ctypes
import json
import sys

CARD = {"entry": "swipe", "track2": "6225880123456789D30121010000000000", "pin": "123456"}
WRONG_PIN = dict(CARD, pin="654321")
QR_CODE = "134567890123456789"


class Possdk:
    """The four C entry points of the JSON API, wrapped."""

    def __init__(self, path):
        lib = ctypes.CDLL(path)
        lib.pos_terminal_new.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)]
        lib.pos_terminal_new.restype = ctypes.c_int32
        # The returned string is owned by us: keep it as a raw pointer so it can be given back.
        lib.pos_call_json.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.pos_call_json.restype = ctypes.c_void_p
        lib.pos_string_free.argtypes = [ctypes.c_void_p]
        lib.pos_string_free.restype = None
        lib.pos_terminal_free.argtypes = [ctypes.c_void_p]
        lib.pos_terminal_free.restype = None
        lib.pos_cancel.argtypes = [ctypes.c_void_p]
        lib.pos_cancel.restype = ctypes.c_int32
        lib.pos_result_message.argtypes = [ctypes.c_int32]
        lib.pos_result_message.restype = ctypes.c_char_p
        self.lib = lib

    def new_terminal(self, config):
        handle = ctypes.c_void_p()
        data = config if isinstance(config, bytes) else json.dumps(config).encode()
        rc = self.lib.pos_terminal_new(data, None, ctypes.byref(handle))
        return rc, handle

    def call_raw(self, handle, request_bytes):
        ptr = self.lib.pos_call_json(handle, request_bytes)
        if not ptr:
            raise RuntimeError("pos_call_json returned NULL")
        try:
            return json.loads(ctypes.string_at(ptr).decode())
        finally:
            self.lib.pos_string_free(ptr)

    def call(self, handle, request):
        return self.call_raw(handle, json.dumps(request).encode())


failures = 0


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print(f"FAIL {what}")
    return cond


def ok(sdk, t, request, what=None):
    """Run a request that must succeed; return its result."""
    what = what or request["op"]
    env = sdk.call(t, request)
    if not check(env.get("ok") is True, f"{what}: {env.get('error')}"):
        raise SystemExit(1)
    result = env["result"]
    if isinstance(result, dict) and "approved" in result:
        print(f"{what:22} {'APPROVED' if result['approved'] else 'DECLINED'} rc={result['response_code']} "
              f"stan={result['stan']:06d} amount={result['amount']} ref={result.get('reference')} "
              f"auth={result.get('auth_code')} pan={result.get('masked_pan')} voucher={result.get('voucher')}")
    else:
        print(f"{what:22} {json.dumps(result)[:150]}")
    return result


def approved(sdk, t, request, what=None):
    r = ok(sdk, t, request, what)
    check(r["approved"], f"{what or request['op']} approved")
    check(r.get("outcome") == "approved", f"{what or request['op']} outcome approved")
    return r


def error(sdk, t, request_bytes, code, field=None, what=""):
    env = sdk.call_raw(t, request_bytes)
    err = env.get("error") or {}
    good = env.get("ok") is False and err.get("code") == code and (field is None or err.get("field") == field)
    check(good, f"{what}: expected {code}/{field}, got {env}")
    print(f"{what:22} -> {err.get('code')} field={err.get('field')} ({err.get('message')})")


def mmdd(iso):
    return iso[5:7] + iso[8:10]


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    sdk = Possdk(sys.argv[1])
    address, journal = sys.argv[2], sys.argv[3]

    # Bad configs are errors, never crashes.
    rc, _ = sdk.new_terminal(b"{not json")
    check(rc == 100, f"malformed config -> POS_INVALID_JSON, got {rc}")
    rc, _ = sdk.new_terminal({"tid": "12345678"})
    check(rc == 101, f"incomplete config -> POS_INVALID_REQUEST, got {rc}")
    print(f"{'bad config':22} {sdk.lib.pos_result_message(rc).decode()}")

    config = {
        "tid": "12345678", "mid": "123456789012345",
        "gateway": {"address": address, "tpdu": "6000030000"},
        "platform": {"address": address, "tpdu": "6000050000"},
        "journal_path": journal,
        "timeouts_ms": {"connect": 3000, "response": 10000},
        "device": {"serial": "SN0001", "model": "python-demo"},
    }
    rc, t = sdk.new_terminal(config)
    if not check(rc == 0, f"pos_terminal_new: {rc}"):
        return 1
    try:
        # Errors come back as envelopes naming the field.
        error(sdk, t, b"{\"op\": ", "invalid_json", what="malformed JSON")
        error(sdk, t, b"[1, 2]", "invalid_json", what="not an object")
        error(sdk, t, b"{\"op\": \"fly\"}", "invalid_request", "op", what="unknown op")
        error(sdk, t, b"{\"op\": \"sale\", \"amount\": \"ten\", \"card\": {}}", "invalid_request", "amount",
              what="wrong type")
        error(sdk, t, b"{\"op\": \"tip\", \"stan\": 1}", "invalid_request", "tip", what="missing field")
        error(sdk, t, b"{\"op\": \"sale\", \"amount\": 100, \"card\": " + json.dumps(CARD).encode() + b"}",
              "not_activated", what="sale before activation")
        error(sdk, t, b"\xff\xfe", "invalid_json", what="not UTF-8")

        ok(sdk, t, {"op": "activate", "device_token": "TOKEN0001"})
        ok(sdk, t, {"op": "download_master_key"})
        ok(sdk, t, {"op": "sign_in"})
        r = ok(sdk, t, {"op": "download_capks"})
        check(r["count"] > 0, "CAPKs downloaded")
        r = ok(sdk, t, {"op": "download_aids"})
        check(r["count"] > 0, "AIDs downloaded")

        sale = approved(sdk, t, {"op": "sale", "amount": 10000, "card": CARD})
        check(sale["masked_pan"] == "622588******6789", "masked PAN")
        check(all("6225880123456789" not in line for line in sale["receipt"]), "receipt masks the PAN")
        print("\n".join(["---- receipt ----"] + sale["receipt"] + ["-----------------"]))
        approved(sdk, t, {"op": "void", "stan": sale["stan"], "card": CARD})

        sale2 = approved(sdk, t, {"op": "sale", "amount": 5000, "card": CARD}, "sale 2")
        tip = approved(sdk, t, {"op": "tip", "stan": sale2["stan"], "tip": 500})
        approved(sdk, t, {"op": "tip_void", "stan": tip["stan"]})
        approved(sdk, t, {"op": "refund", "amount": 2000, "card": CARD,
                          "original": {"reference": sale2["reference"], "date": mmdd(sale2["datetime"])}})

        pre = approved(sdk, t, {"op": "preauth", "amount": 30000, "card": CARD})
        original = {"auth_code": pre["auth_code"], "date": mmdd(pre["datetime"]), "batch": pre["batch"],
                    "stan": pre["stan"]}
        comp = approved(sdk, t, {"op": "preauth_complete", "amount": 32000, "original": original, "card": CARD})
        approved(sdk, t, {"op": "preauth_complete_void", "stan": comp["stan"], "card": CARD})
        pre2 = approved(sdk, t, {"op": "preauth", "amount": 10000, "card": CARD}, "preauth 2")
        approved(sdk, t, {"op": "preauth_void", "amount": 10000, "card": CARD,
                          "original": {"auth_code": pre2["auth_code"], "date": mmdd(pre2["datetime"]),
                                       "batch": pre2["batch"], "stan": pre2["stan"]}})

        bal = approved(sdk, t, {"op": "balance", "card": CARD})
        check(isinstance(bal.get("balance"), int) and bal["balance"] > 0, "balance returned")

        declined = ok(sdk, t, {"op": "sale", "amount": 100, "card": WRONG_PIN}, "sale wrong PIN")
        check(not declined["approved"] and declined["response_code"] == "55", "wrong PIN declined 55")

        qr = approved(sdk, t, {"op": "sale", "amount": 1234, "qr_code": QR_CODE}, "qr sale")
        check(bool(qr.get("voucher")), "QR voucher")

        error(sdk, t, json.dumps({"op": "void", "stan": 999999, "card": CARD}).encode(), "original_not_found",
              what="void unknown STAN")

        again = ok(sdk, t, {"op": "reprint", "stan": sale["stan"]})
        check(again["stan"] == sale["stan"] and any("6789" in line for line in again["receipt"]), "reprint")
        details = ok(sdk, t, {"op": "query_details"})
        check(len(details["records"]) > 0, "detail records")
        local = ok(sdk, t, {"op": "journal"})
        check(len(local["records"]) > 0, "journal records")
        check("6225880123456789" not in json.dumps(local), "journal masks PANs")
        status = ok(sdk, t, {"op": "status"})
        check(status["signed_in"] and status["pending_reversal"] is None, "status")

        # Cancelling with nothing running, twice, is harmless.
        check(sdk.lib.pos_cancel(t) == 0 and sdk.lib.pos_cancel(t) == 0, "pos_cancel twice")

        settle = ok(sdk, t, {"op": "settle"})
        check(settle["balanced"], "settlement balanced")
        check(settle["terminal"] == settle["host"] or settle["uploaded"] > 0, "terminal totals = host totals")
    finally:
        sdk.lib.pos_terminal_free(t)
        sdk.lib.pos_terminal_free(None)
        sdk.lib.pos_string_free(None)

    # The handle is checked on every call: after pos_terminal_free it is refused, never used, and freeing
    # it again is harmless.
    stale = sdk.call(t, {"op": "status"})
    check(stale["ok"] is False and stale["error"]["code"] == "invalid_handle", "freed handle refused")
    check(sdk.lib.pos_cancel(t) == 605, "pos_cancel on a freed handle: POS_INVALID_HANDLE")
    sdk.lib.pos_terminal_free(t)

    if failures:
        print(f"python terminal day FAILED ({failures})")
        return 1
    print("python terminal day OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
