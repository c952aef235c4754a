//! The libraries we ship (libpossdk from ffi-c, libpossdk_jni from ffi-jni) carry no test data: none of
//! `possdk_sim::fixture`'s constants may appear in their bytes, as text or in binary form. They are built
//! first exactly as `./build.sh test` builds them (`cargo build --workspace --bins --lib`, a no-op when
//! fresh), into this test's target directory and profile.

use possdk_sim::fixture;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `target/<profile>/` of this test binary (`target/<profile>/deps/shipped_libraries-<hash>`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile> directory")
        .to_path_buf()
}

/// Every fixture value that must not ship, with a name for the failure message.
fn needles() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let mut text =
        |name: &str, value: &str| out.push((name.to_string(), value.as_bytes().to_vec()));
    for card in fixture::ALL {
        text(&format!("PAN {}", card.pan), card.pan);
    }
    text("MID", fixture::MID);
    text("device serial", fixture::DEVICE_SN);
    text("device token", fixture::DEVICE_TOKEN);
    for qr in [
        fixture::QR_CODE,
        fixture::QR_CODE_2,
        fixture::QR_CODE_DECLINED_51,
    ] {
        text(&format!("QR code {qr}"), qr);
    }
    let keys = [
        ("FIXED_TMK", fixture::FIXED_TMK),
        ("FIXED_PIK", fixture::FIXED_PIK),
        ("FIXED_MAK", fixture::FIXED_MAK),
        ("FIXED_TDK", fixture::FIXED_TDK),
        ("IMK_AC", fixture::IMK_AC),
        ("SEAL_KEY", fixture::SEAL_KEY_HEX),
    ];
    for (name, hex_value) in keys {
        out.push((
            format!("{name} (hex)"),
            hex_value.to_uppercase().into_bytes(),
        ));
        out.push((
            format!("{name} (hex)"),
            hex_value.to_lowercase().into_bytes(),
        ));
        out.push((
            format!("{name} (binary)"),
            hex::decode(hex_value).expect("fixture keys are hex"),
        ));
    }
    // PANs as packed BCD too (how field 2 travels).
    for card in fixture::ALL {
        out.push((
            format!("PAN {} (BCD)", card.pan),
            hex::decode(card.pan).expect("16-digit PANs pack into bytes"),
        ));
    }
    out
}

/// SHA-1's initial state H0..H3 in memory order is 01 23 45 67 89 AB CD EF FE DC BA 98 76 54 32 10, the
/// bytes of the fixture's TDK / IMK; every SHA-1 implementation carries it, followed by H4 (F0 E1 D2 C3).
fn is_sha1_initial_state(lib: &[u8], at: usize, needle: &[u8]) -> bool {
    needle == hex::decode("0123456789ABCDEFFEDCBA9876543210").unwrap()
        && lib.get(at + 16..at + 20) == Some(&[0xF0, 0xE1, 0xD2, 0xC3][..])
}

/// Where each needle occurs in `lib` (one pass, indexed by the needles' first two bytes: the libraries
/// are tens of megabytes and this test runs unoptimised).
fn find_each(lib: &[u8], needles: &[&[u8]]) -> Vec<Vec<usize>> {
    let mut by_prefix: Vec<Vec<usize>> = vec![Vec::new(); 1 << 16];
    for (i, n) in needles.iter().enumerate() {
        assert!(n.len() >= 2, "needles are at least two bytes");
        by_prefix[usize::from(n[0]) << 8 | usize::from(n[1])].push(i);
    }
    let mut found = vec![Vec::new(); needles.len()];
    for at in 0..lib.len().saturating_sub(1) {
        for &i in &by_prefix[usize::from(lib[at]) << 8 | usize::from(lib[at + 1])] {
            let n = needles[i];
            if lib[at..].starts_with(n) && !is_sha1_initial_state(lib, at, n) {
                found[i].push(at);
            }
        }
    }
    found
}

fn find_all(lib: &[u8], needle: &[u8]) -> Vec<usize> {
    find_each(lib, &[needle]).remove(0)
}

#[test]
fn shipped_libraries_contain_no_test_constants() {
    let dir = profile_dir();
    let profile = match dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev".to_string(),
        Some(other) => other.to_string(),
    };
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--workspace",
            "--bins",
            "--lib",
            "--profile",
            &profile,
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("run cargo build");
    assert!(status.success(), "cargo build failed ({status})");

    let needles = needles();
    let mut found = Vec::new();
    for name in ["possdk", "possdk_jni"] {
        let path = dir.join(format!(
            "{}{name}{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        ));
        let lib = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{} after cargo build: {e}", path.display()));
        assert!(lib.len() > 100_000, "{} is not a library", path.display());
        let bytes: Vec<&[u8]> = needles.iter().map(|(_, n)| n.as_slice()).collect();
        for ((what, _), at) in needles.iter().zip(find_each(&lib, &bytes)) {
            if !at.is_empty() {
                found.push(format!("{what} in {} at {at:?}", path.display()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "test constants in shipped libraries:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_finds_what_it_looks_for() {
    let mut lib = b"some code ... ".to_vec();
    assert!(find_all(&lib, fixture::CUP_SWIPE.pan.as_bytes()).is_empty());
    lib.extend_from_slice(fixture::CUP_SWIPE.pan.as_bytes());
    assert_eq!(find_all(&lib, fixture::CUP_SWIPE.pan.as_bytes()).len(), 1);
    // The TDK's bytes count, except as SHA-1's initial state.
    let tdk = hex::decode(fixture::FIXED_TDK).unwrap();
    let mut sha1_state = tdk.clone();
    sha1_state.extend_from_slice(&[0xF0, 0xE1, 0xD2, 0xC3]);
    assert!(find_all(&sha1_state, &tdk).is_empty());
    let mut key = tdk.clone();
    key.extend_from_slice(&[0, 0, 0, 0]);
    assert_eq!(find_all(&key, &tdk), vec![0]);
}
