//! Detail query answers (`397`): a page's status byte and TLVs, and every FF01 record in it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use possdk_core::fuzzing::{page_records, query_page};

fuzz_target!(|data: &[u8]| {
    if let Ok((_status, page)) = query_page(data) {
        let _ = page_records(&page);
    }
});
