//! examples/c/terminal_day.c, compiled here with gcc, runs a full terminal day against possdk-host
//! through the C ABI with device callbacks written in C: once with AddressSanitizer + UBSan (leaks
//! included), once under valgrind with no leaks.

mod common;
#[path = "common/host.rs"]
mod host;

use std::process::Command;
use std::time::Duration;

fn source() -> std::path::PathBuf {
    common::workspace_root().join("examples/c/terminal_day.c")
}

#[test]
#[cfg_attr(missing_gcc, ignore = "gcc is not on PATH")]
fn c_terminal_day_under_asan_and_ubsan() {
    let dir = common::scratch_dir("c-day-asan");
    let exe = dir.join("terminal_day_asan");
    common::compile_c(
        &source(),
        &exe,
        &[
            "-fsanitize=address,undefined",
            "-fno-omit-frame-pointer",
            "-fno-sanitize-recover=all",
        ],
    );
    let host = host::start_host(&dir);
    let (ok, out) = common::run_with_timeout(
        Command::new(&exe)
            .arg(host.addr().to_string())
            .arg(dir.join("journal.db"))
            // LeakSanitizer runs at exit; a leak fails the program.
            .env(
                "ASAN_OPTIONS",
                "detect_leaks=1:abort_on_error=0:exitcode=23",
            )
            .env("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1"),
        Duration::from_secs(300),
    );
    host.shutdown();
    println!("{out}");
    assert!(ok, "terminal_day (ASan/UBSan) failed:\n{out}");
    assert!(out.contains("terminal day OK"), "{out}");
}

#[test]
#[cfg_attr(
    any(missing_gcc, missing_valgrind),
    ignore = "gcc or valgrind is not on PATH"
)]
fn c_terminal_day_under_valgrind_has_no_leaks() {
    common::require("valgrind");
    let dir = common::scratch_dir("c-day-valgrind");
    let exe = dir.join("terminal_day");
    common::compile_c(&source(), &exe, &[]);
    let host = host::start_host(&dir);
    let (ok, out) = common::run_with_timeout(
        Command::new("valgrind")
            .args([
                "--leak-check=full",
                "--show-leak-kinds=definite,indirect",
                "--errors-for-leak-kinds=definite,indirect",
                "--error-exitcode=1",
                "--quiet",
            ])
            .arg(&exe)
            .arg(host.addr().to_string())
            .arg(dir.join("journal.db")),
        Duration::from_secs(900),
    );
    host.shutdown();
    println!("{out}");
    assert!(ok, "terminal_day under valgrind failed:\n{out}");
    assert!(out.contains("terminal day OK"), "{out}");
}
