//! JSON requests (`Request::from_json`, the C and scripting entry point) and the JSON config: any
//! text is parsed or refused with an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use possdk_core::api::Request;
use possdk_core::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Request::from_json(text);
    let _ = Config::from_json(text);
});
