//! An acquirer profile (docs/PROFILES.md) as JSON text: the loader and validator, then the sub-field
//! layouts of a profile that loads, reading the same bytes as fields 48, 60, 61, 62 and 63.
#![no_main]

use libfuzzer_sys::fuzz_target;
use possdk_core::acquirer::{Profile, SideTotals};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(p) = Profile::from_json(text) else {
        return;
    };
    // The identity does not depend on how the JSON was written.
    let again =
        Profile::from_value(&serde_json::from_str(text).expect("it loaded")).expect("again");
    assert_eq!(p.sha256, again.sha256);
    let sf = &p.subfields;
    let _ = sf.read60(text);
    let _ = sf.read61(text);
    let _ = sf.read48(text);
    let _ = sf.read62(data);
    let _ = sf.organisation63(text);
    let _ = sf.with_batch60(text, 7);
    // What the terminal writes, the host reads back.
    let f60 = sf.field60("22", 123, "000", Some((b'5', b'0')));
    assert_eq!(
        sf.read60(&f60),
        Some(("22".to_string(), 123, "000".to_string()))
    );
    let f61 = sf.field61(1, 42, Some("1201"));
    let back = sf.read61(&f61).expect("61 reads back");
    assert_eq!((back.0, back.1), (1, 42));
    let t = SideTotals {
        debit_amount: 12_345,
        debit_count: 3,
        credit_amount: 100,
        credit_count: 1,
        result: 0,
    };
    if let Ok(f48) = sf.field48(&[t, SideTotals::default()]) {
        assert_eq!(sf.read48(&f48).map(|s| s[0].debit_amount), Some(12_345));
    }
    let k = [0x11u8; 16];
    let c = [0x22u8; 4];
    let f62 = sf.field62([(&k, &c), (&k, &c), (&k, &c)]);
    assert!(sf.read62(&f62).is_some());
    let f63 = sf.field63("CUP");
    assert_eq!(sf.organisation63(&f63), Some("CUP"));
});
