// Shared by the build scripts of both bridges (ffi-c/build.rs and ffi-jni/build.rs include it).

/// Whether `tool` is an executable on PATH.
fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            let p = dir.join(tool);
            p.is_file() || p.with_extension("exe").is_file()
        })
    })
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
