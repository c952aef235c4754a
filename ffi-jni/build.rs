//! Finds out whether the JVM tools the integration test needs are missing, so that test is ignored (with
//! the reason) rather than failing on a machine without them. Under CI (`CI=true`) nothing is ever
//! marked missing: the test runs and fails, naming the tool.
//!
//! Emits `missing_java` and `missing_kotlinc` cfgs.

include!("../scripts/bridge_build.rs");

fn main() {
    pack_relocations();
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=../scripts/bridge_build.rs");
    println!("cargo::rerun-if-env-changed=CI");
    println!("cargo::rerun-if-env-changed=PATH");
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    for (cfg, tool) in [("missing_java", "java"), ("missing_kotlinc", "kotlinc")] {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        if !ci && !on_path(tool) {
            println!("cargo::warning={tool} is not on PATH: the JVM test is ignored");
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}
