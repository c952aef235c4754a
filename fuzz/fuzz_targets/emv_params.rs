//! EMV parameter answers, the same bytes read as each of them: a CAPK / AID query page (status byte,
//! then the list, split into entries at 9F06, each checked as a CAPK), a CAPK download answer
//! (checksum and expiry verified) and an AID download answer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use possdk_core::fuzzing::{aid_tlv, capk_from_tlvs, emv_entries, f62_items, query_page};

const TODAY: &str = "20261201";

fuzz_target!(|data: &[u8]| {
    if let Ok((_status, items)) = query_page(data) {
        for entry in emv_entries(items) {
            let _ = capk_from_tlvs(&entry, TODAY);
        }
    }
    if let Ok(items) = f62_items(data, true) {
        if let Ok(capk) = capk_from_tlvs(&items, TODAY) {
            assert!(capk.expiry.as_str() >= TODAY && capk.expiry.len() == 8);
        }
    }
    let _ = aid_tlv(data);
});
