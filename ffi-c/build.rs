//! Finds out which external tools the integration tests need are missing, so those tests are ignored
//! (with the reason) rather than silently passing. Under CI (`CI=true`) nothing is ever marked missing:
//! the tests run and fail, naming the tool.
//!
//! Emits `missing_<tool>` cfgs: `missing_gcc`, `missing_gxx` (g++), `missing_valgrind`, `missing_python3`.

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            let p = dir.join(tool);
            p.is_file() || p.with_extension("exe").is_file()
        })
    })
}

fn main() {
    pack_relocations();
    println!("cargo::rerun-if-changed=build.rs");
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

/// Packed relative relocations for the shared library: a position-independent library holds one relocation per
/// pointer in its data (vtables, tables of strings), 24 bytes each as `.rela.dyn`; packed, they take a few
/// hundred bytes (docs/PERFORMANCE.md, "Library size"). Linux/glibc gets DT_RELR (GNU ld 2.38+, glibc 2.36+ to
/// load); Android gets its own packed format (lld, bionic API 23+, below the SDK's minimum of 24).
/// `POSSDK_PLAIN_RELOCS=1` turns it off, for a host whose glibc is older than 2.36.
fn pack_relocations() {
    println!("cargo::rerun-if-env-changed=POSSDK_PLAIN_RELOCS");
    if std::env::var("POSSDK_PLAIN_RELOCS").is_ok_and(|v| v == "1") {
        return;
    }
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    match (os.as_str(), env.as_str()) {
        ("linux", "gnu") => println!("cargo::rustc-cdylib-link-arg=-Wl,-z,pack-relative-relocs"),
        ("android", _) => println!("cargo::rustc-cdylib-link-arg=-Wl,--pack-dyn-relocs=android"),
        _ => {}
    }
}
