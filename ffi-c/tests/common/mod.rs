//! Shared helpers of the integration tests: where the workspace and the built library are, scratch
//! directories, C compilation, and a possdk-host started in-process.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// The profile directory the test binary was built into (`target/debug`, honouring CARGO_TARGET_DIR):
/// the test runs from `<profile>/deps/`.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("deps dir");
    deps.parent().expect("profile dir").to_path_buf()
}

/// A fresh directory for this test's files (inside the target dir, so nothing escapes the build tree).
pub fn scratch_dir(name: &str) -> PathBuf {
    // One directory per test name, emptied at the start: kept after a failure for inspection, and
    // never piling up across runs.
    let dir = profile_dir().join("ffi-test-scratch").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Path of the shared library. `cargo test` links the cdylib into `<profile>/deps/` together with the
/// test binaries (only `cargo build` copies it up to `<profile>/`, so that copy may be stale): use the
/// `deps` one, falling back to the uplifted one, building it if neither exists.
pub fn cdylib() -> PathBuf {
    let name = if cfg!(target_os = "macos") {
        "libpossdk.dylib"
    } else {
        "libpossdk.so"
    };
    let candidates = [
        profile_dir().join("deps").join(name),
        profile_dir().join(name),
    ];
    if let Some(lib) = candidates.iter().find(|p| p.exists()) {
        return lib.clone();
    }
    let cargo = option_env!("CARGO").unwrap_or("cargo");
    let status = Command::new(cargo)
        .args(["build", "-p", "possdk-ffi"])
        .current_dir(workspace_root())
        .status()
        .expect("run cargo build");
    assert!(status.success(), "cargo build -p possdk-ffi failed");
    let lib = candidates.into_iter().find(|p| p.exists());
    lib.unwrap_or_else(|| panic!("{name} missing after cargo build -p possdk-ffi"))
}

/// Fail the test, naming the tool, when it cannot be run. Outside CI the build script has already marked
/// the tests that need a missing tool `#[ignore]` (see ffi-c/build.rs); under CI (`CI=true`) they run
/// and stop here.
pub fn require(tool: &str) {
    let runs = Command::new(tool)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        runs,
        "{tool} is needed by this test and is not on PATH (apt-get install {tool}); outside CI \
         (CI != true) the test is ignored instead"
    );
}

/// Compile a C file against include/possdk.h and the shared library; extra flags (sanitizers) appended.
pub fn compile_c(src: &Path, out: &Path, extra: &[&str]) {
    require("gcc");
    let lib = cdylib();
    let libdir = lib.parent().unwrap();
    let output = Command::new("gcc")
        .args([
            "-std=c99",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-g",
            "-O1",
            "-D_POSIX_C_SOURCE=200809L",
        ])
        .args(extra)
        .arg("-I")
        .arg(workspace_root().join("include"))
        .arg(src)
        .arg("-o")
        .arg(out)
        .arg("-L")
        .arg(libdir)
        // DT_RPATH (not RUNPATH): wins over the LD_LIBRARY_PATH cargo sets for tests, which lists the
        // profile dir whose libpossdk.so may be stale.
        .arg(format!(
            "-Wl,--disable-new-dtags,-rpath,{}",
            libdir.display()
        ))
        .args(["-lpossdk", "-lpthread"])
        .output()
        .expect("gcc runs");
    assert!(
        output.status.success(),
        "gcc failed for {}:\n{}",
        src.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Run a command with a time limit; returns (success, stdout + stderr).
pub fn run_with_timeout(cmd: &mut Command, limit: std::time::Duration) -> (bool, String) {
    use std::io::Read;
    let mut child = cmd
        .env_remove("LD_LIBRARY_PATH")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let text = format!(
        "--- stdout ---\n{}\n--- stderr ---\n{}",
        out_t.join().unwrap_or_default(),
        err_t.join().unwrap_or_default()
    );
    match status {
        Some(s) => (s.success(), text),
        None => (false, format!("TIMED OUT after {limit:?}\n{text}")),
    }
}
