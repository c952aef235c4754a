//! Finds out which external tools the integration tests need are missing, so those tests are ignored
//! (with the reason) rather than silently passing. Under CI (`CI=true`) nothing is ever marked missing:
//! the tests run and fail, naming the tool.
//!
//! Emits `missing_<tool>` cfgs: `missing_gcc`, `missing_gxx` (g++), `missing_valgrind`, `missing_python3`.

include!("../scripts/bridge_build.rs");

fn main() {
    pack_relocations();
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=../scripts/bridge_build.rs");
    println!("cargo::rerun-if-env-changed=CI");
    println!("cargo::rerun-if-env-changed=PATH");
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    for (cfg, tool) in [
        ("missing_gcc", "gcc"),
        ("missing_gxx", "g++"),
        ("missing_valgrind", "valgrind"),
        ("missing_python3", "python3"),
    ] {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        if !ci && !on_path(tool) {
            println!("cargo::warning={tool} is not on PATH: the tests that need it are ignored");
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}
