//! examples/python/possdk_demo.py drives a full terminal day through `pos_call_json` with ctypes and
//! inline card data (no callbacks), against possdk-host. Without python3 the test is ignored, except under
//! CI (`CI=true`), where it fails naming the tool (ffi-c/build.rs).

mod common;
#[path = "common/host.rs"]
mod host;

use std::process::Command;
use std::time::Duration;

#[test]
#[cfg_attr(missing_python3, ignore = "python3 is not on PATH")]
fn python_ctypes_terminal_day() {
    common::require("python3");
    let lib = common::cdylib();
    let dir = common::scratch_dir("python-day");
    let host = host::start_host(&dir);
    let (ok, out) = common::run_with_timeout(
        Command::new("python3")
            .arg(common::workspace_root().join("examples/python/possdk_demo.py"))
            .arg(&lib)
            .arg(host.addr().to_string())
            .arg(dir.join("journal.db")),
        Duration::from_secs(300),
    );
    host.shutdown();
    println!("{out}");
    assert!(ok, "possdk_demo.py failed:\n{out}");
    assert!(out.contains("python terminal day OK"), "{out}");
}
