//! The config's `"profile"` through the C ABI (docs/PROFILES.md): a built-in name, a file path and an
//! inline object are accepted by `pos_terminal_new`; `pos_terminal_status` and the JSON `status` report
//! the active profile and its SHA-256; a bad profile is refused with an error naming the key.

mod common;

use possdk::*;
use std::ffi::{c_char, CStr, CString};
use std::ptr::{null, null_mut};

fn config(dir: &std::path::Path, profile: Option<serde_json::Value>) -> CString {
    let mut v = serde_json::json!({
        "tid": "12345678", "mid": "123456789012345",
        "gateway": {"address": "127.0.0.1:9", "tpdu": "6000030000"},
        "platform": {"address": "127.0.0.1:9", "tpdu": "6000050000"},
        "journal_path": dir.join("journal.db").to_str().unwrap(),
        "device": {"serial": "SN0001", "model": "test"}
    });
    if let Some(p) = profile {
        v["profile"] = p;
    }
    CString::new(v.to_string()).unwrap()
}

fn text(a: &[c_char]) -> String {
    unsafe { CStr::from_ptr(a.as_ptr()) }
        .to_str()
        .unwrap()
        .to_string()
}

fn cup_json() -> serde_json::Value {
    let path = common::workspace_root().join("core/profiles/cup.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Open a terminal with `profile`, check both status forms, return (name, sha256).
fn status_of(name: &str, profile: Option<serde_json::Value>) -> (String, String) {
    let dir = common::scratch_dir(name);
    let cfg = config(&dir, profile);
    let mut t = null_mut();
    let r = unsafe { pos_terminal_new(cfg.as_ptr(), null(), &mut t) };
    assert_eq!(r, pos_result::POS_OK);
    let mut st = unsafe { std::mem::zeroed::<pos_status_result>() };
    assert_eq!(
        unsafe { pos_terminal_status(t, &mut st) },
        pos_result::POS_OK
    );
    let p = unsafe { pos_call_json(t, c"{\"op\":\"status\"}".as_ptr()) };
    let s = unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_string();
    unsafe { pos_string_free(p) };
    let v: serde_json::Value = serde_json::from_str(&s).unwrap();
    let (n, h) = (text(&st.profile_name), text(&st.profile_sha256));
    assert_eq!(v["result"]["profile"]["name"], n.as_str(), "{v}");
    assert_eq!(v["result"]["profile"]["sha256"], h.as_str(), "{v}");
    unsafe { pos_terminal_free(t) };
    (n, h)
}

#[test]
fn name_path_and_inline_object_are_accepted() {
    let (n, cup_sha) = status_of("prof-default", None);
    assert_eq!(n, "cup");
    assert_eq!(cup_sha.len(), 64);
    assert_eq!(
        status_of("prof-cup", Some("cup".into())),
        ("cup".into(), cup_sha.clone())
    );
    assert_eq!(status_of("prof-ascii", Some("ascii".into())).0, "ascii");

    let mut bank = cup_json();
    bank["name"] = "bank".into();
    let dir = common::scratch_dir("prof-file");
    let path = dir.join("bank.json");
    std::fs::write(&path, bank.to_string()).unwrap();
    let by_path = status_of("prof-path", Some(path.to_str().unwrap().into()));
    assert_eq!(by_path.0, "bank");
    assert_eq!(status_of("prof-inline", Some(bank)), by_path);
}

#[test]
fn a_bad_profile_is_an_error_naming_the_key() {
    let mut bad = cup_json();
    bad["kinds"]["refund"]["delivery"] = "reversible".into();
    let dir = common::scratch_dir("prof-bad");
    let cfg = config(&dir, Some(bad));
    let mut t = null_mut();
    let r = unsafe { pos_terminal_new(cfg.as_ptr(), null(), &mut t) };
    assert_eq!(r, pos_result::POS_INVALID_REQUEST);
    assert!(t.is_null());
    let mut d = std::mem::MaybeUninit::<pos_error_details>::uninit();
    assert_eq!(
        unsafe { pos_last_error(d.as_mut_ptr()) },
        pos_result::POS_OK
    );
    let d = unsafe { d.assume_init() };
    assert_eq!(text(&d.field), "profile");
    assert!(
        text(&d.message).contains("kinds.refund: mti 0220 is an advice but delivery = reversible"),
        "{}",
        text(&d.message)
    );
}
