//! The JSON entry point end to end (what the C and JNI bridges call), inline card data, no HAL.

use possdk_core::api::call_json;
use possdk_core::hal::Hal;
use possdk_e2e::*;
use serde_json::{json, Value};

fn call(t: &possdk_core::Terminal, req: Value) -> Value {
    serde_json::from_str(&call_json(t, &req.to_string())).expect("call_json returns JSON")
}

#[test]
fn a_day_through_call_json() {
    let host = TestHost::start("json");
    let dir = temp_dir("json-term");
    let t = host.terminal(&dir, Hal::default());
    let v = call(&t, json!({"op": "sale", "amount": 100, "qr_code": QR_CODE}));
    assert_eq!(
        (v["ok"].clone(), v["error"]["code"].clone()),
        (json!(false), json!("not_activated"))
    );
    assert_eq!(v["error"]["outcome"], "not_sent", "{v}");
    // A financial request that does not parse never left either; a non-financial error has no outcome.
    let v = call(&t, json!({"op": "refund", "amount": "x"}));
    assert_eq!(
        (v["error"]["field"].clone(), v["error"]["outcome"].clone()),
        (json!("amount"), json!("not_sent")),
        "{v}"
    );
    let v = call(&t, json!({"op": "sign_in"}));
    assert!(v["error"].get("outcome").is_none(), "{v}");
    for op in [
        "download_master_key",
        "sign_in",
        "download_aids",
        "download_capks",
    ] {
        if op == "download_master_key" {
            let a = call(&t, json!({"op": "activate", "device_token": DEVICE_TOKEN}));
            assert_eq!(a["ok"], true, "{a}");
            assert!(a["result"]["merchant_name"].is_string());
        }
        let v = call(&t, json!({"op": op}));
        assert_eq!(v["ok"], true, "{op}: {v}");
    }
    let card =
        json!({"entry": "swipe", "track2": "6225880123456789=30121010000000000", "pin": "123456"});
    let sale = call(&t, json!({"op": "sale", "amount": 1234, "card": card}));
    assert_eq!(sale["ok"], true, "{sale}");
    assert_eq!(sale["result"]["outcome"], "approved", "{sale}");
    let r = &sale["result"];
    assert_eq!(r["approved"], true);
    assert_eq!(r["masked_pan"], "622588******6789");
    assert!(r["receipt"].as_array().is_some_and(|l| !l.is_empty()));
    assert!(
        !sale.to_string().contains("6225880123456789"),
        "full PAN in the result"
    );

    let stan = r["stan"].as_u64().unwrap();
    let reprint = call(&t, json!({"op": "reprint", "stan": stan}));
    assert_eq!(reprint["result"]["reference"], r["reference"], "{reprint}");
    // zh-CN, the default locale: the mark is bilingual.
    assert_eq!(reprint["result"]["receipt"][0], "*** 重打印 REPRINT ***");
    assert_eq!(
        call(&t, json!({"op": "reprint", "stan": 999_999}))["error"]["code"],
        "original_not_found"
    );
    let void = call(&t, json!({"op": "void", "stan": stan, "card": card}));
    assert_eq!(void["result"]["approved"], true, "{void}");
    let again = call(&t, json!({"op": "void", "stan": stan, "card": card}));
    assert_eq!(again["error"]["code"], "invalid_state");
    assert_eq!(again["error"]["field"], "stan");

    let declined = call(
        &t,
        json!({"op": "sale", "amount": 500000, "card": {"entry": "swipe", "track2": "6225881111111111=3012101", "pin": "111111"}}),
    );
    assert_eq!(declined["ok"], true);
    assert_eq!(declined["result"]["approved"], false);
    assert_eq!(declined["result"]["response_code"], "51");

    let q = call(&t, json!({"op": "sale", "amount": 880, "qr_code": QR_CODE}));
    assert_eq!(q["result"]["approved"], true, "{q}");
    let details = call(&t, json!({"op": "query_details"}));
    let records = details["result"]["records"]
        .as_array()
        .expect("records")
        .clone();
    assert_eq!(records.len(), 3, "{details}");
    assert_eq!(records[0]["state"], "voided");
    assert_eq!(records[2]["kind"], "qr_sale");
    let journal = call(&t, json!({"op": "journal"}));
    assert!(!journal.to_string().contains("6225880123456789"));
    let status = call(&t, json!({"op": "status"}));
    assert_eq!(status["result"]["signed_in"], true);
    assert_eq!(status["result"]["pending_reversal"], Value::Null);
    let settle = call(&t, json!({"op": "settle"}));
    assert_eq!(settle["result"]["balanced"], true, "{settle}");
    assert_eq!(
        settle["result"]["terminal"]["domestic"]["debit"]["amount"],
        880
    );
    host.shutdown();
}
