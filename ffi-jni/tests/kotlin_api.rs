//! The Kotlin API (android-demo/possdk/src/main/kotlin) against the core's one description of each thing:
//! - `ErrorCodes.kt` is rendered from `ErrorKind::ALL` (code, number, exception class) and checked in; this
//!   test fails on any difference (set POSSDK_UPDATE_KOTLIN=1 to rewrite it), and the class table of
//!   docs/ANDROID.md is rendered from the same mapping;
//! - every operation of `api::OPS` has its public method on `PosTerminal`;
//! - Kotlin's `PinEntry` numbers are the core's `hal::PinEntry::{CLEAR, BLOCK, BYPASS}`.

use possdk_core::api::OPS;
use possdk_core::hal::PinEntry;
use possdk_core::ErrorKind;
use std::path::{Path, PathBuf};

fn kotlin_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../android-demo/possdk/src/main/kotlin/com/possdk")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `PosException` subclass an error is thrown as: its own class for `cancelled` and `host_timeout`,
/// otherwise the class of its domain (the hundreds of its number).
fn exception_class(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Cancelled => "CancelledException",
        ErrorKind::HostTimeout => "HostTimeoutException",
        other => match other.number() / 100 {
            1 => "RequestException",
            2 => "HostException",
            3 => "PosSecurityException",
            4 => "DeviceException",
            _ => "InternalException",
        },
    }
}

/// How the class is constructed from `message`, `field` and `cause` (the two single-code classes know their
/// code and take no field).
fn construct(class: &str) -> String {
    match class {
        "CancelledException" | "HostTimeoutException" => format!("{class}(message, cause)"),
        _ => format!("{class}(code, number, message, field, cause)"),
    }
}

fn constant(kind: ErrorKind) -> String {
    kind.code().to_uppercase()
}

/// The classes in the order they first appear in `ErrorKind::ALL`, each with its kinds.
fn by_class() -> Vec<(&'static str, Vec<ErrorKind>)> {
    let mut out: Vec<(&'static str, Vec<ErrorKind>)> = Vec::new();
    for kind in ErrorKind::ALL {
        let class = exception_class(kind);
        match out.iter_mut().find(|(c, _)| *c == class) {
            Some((_, kinds)) => kinds.push(kind),
            None => out.push((class, vec![kind])),
        }
    }
    out
}

fn render_error_codes() -> String {
    let mut s = String::new();
    s.push_str(
        "// Generated from possdk-core's ErrorKind::ALL by ffi-jni/tests/kotlin_api.rs: do not edit. Regenerate\n\
         // with POSSDK_UPDATE_KOTLIN=1 cargo test -p possdk-jni --test kotlin_api\n\
         package com.possdk\n\n\
         /**\n \
         * Every error of the core: its stable [code] (the JSON API's), its stable [number] (the C API's) and the\n \
         * [PosException] subclass it is thrown as ([exceptionClass]).\n \
         */\n\
         enum class ErrorCode(val code: String, val number: Int, val exceptionClass: Class<out PosException>) {\n",
    );
    let n = ErrorKind::ALL.len();
    for (i, kind) in ErrorKind::ALL.into_iter().enumerate() {
        let end = if i + 1 == n { ";" } else { "," };
        s.push_str(&format!(
            "    {}(\"{}\", {}, {}::class.java){end}\n",
            constant(kind),
            kind.code(),
            kind.number(),
            exception_class(kind)
        ));
    }
    s.push_str(
        "\n    /** The exception this error is thrown as. */\n    \
         fun exception(message: String, field: String? = null, cause: Throwable? = null): PosException =\n        \
         when (this) {\n",
    );
    for (class, kinds) in by_class() {
        let names: Vec<String> = kinds.into_iter().map(constant).collect();
        s.push_str(&format!(
            "            {} -> {}\n",
            names.join(", "),
            construct(class)
        ));
    }
    s.push_str(
        "        }\n\n    \
         companion object {\n        \
         /** The error of a code; null for a code this version does not know. */\n        \
         @JvmStatic\n        \
         fun fromCode(code: String): ErrorCode? = values().firstOrNull { it.code == code }\n    \
         }\n\
         }\n",
    );
    s
}

/// The class table of docs/ANDROID.md.
fn render_docs_table() -> String {
    let mut s = String::from("  | class | codes |\n  |---|---|\n");
    for (class, kinds) in by_class() {
        let codes: Vec<String> = kinds.iter().map(|k| format!("`{}`", k.code())).collect();
        let numbers = if kinds.len() == 1 {
            kinds[0].number().to_string()
        } else {
            format!("{}xx", kinds[0].number() / 100)
        };
        s.push_str(&format!(
            "  | `{class}` ({numbers}) | {} |\n",
            codes.join(", ")
        ));
    }
    s
}

#[test]
fn error_codes_kt_is_rendered_from_the_core_table() {
    let path = kotlin_dir().join("ErrorCodes.kt");
    let generated = render_error_codes();
    if std::env::var_os("POSSDK_UPDATE_KOTLIN").is_some() {
        std::fs::write(&path, &generated).expect("write ErrorCodes.kt");
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "{} differs from possdk_core::ErrorKind::ALL; regenerate with \
         POSSDK_UPDATE_KOTLIN=1 cargo test -p possdk-jni --test kotlin_api",
        path.display()
    );
    // PosException.create maps through it, not through numbers of its own.
    let exception = read(&kotlin_dir().join("PosException.kt"));
    assert!(
        exception.contains("ErrorCode.fromCode(code)"),
        "PosException.create must map codes through ErrorCode"
    );
    let docs = read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/ANDROID.md"));
    let table = render_docs_table();
    assert!(
        docs.contains(&table),
        "docs/ANDROID.md's exception table differs from ErrorKind::ALL; paste this:\n{table}"
    );
}

/// Whether `src` declares `fun <name>(` without `private`, `internal` or `protected` on that line.
fn has_public_fun(src: &str, name: &str) -> bool {
    let decl = format!("fun {name}(");
    src.lines().any(|line| {
        line.find(&decl).is_some_and(|at| {
            let before = &line[..at];
            let boundary = before.is_empty() || before.ends_with(' ');
            boundary
                && !["private", "internal", "protected"]
                    .iter()
                    .any(|m| before.split_whitespace().any(|w| w == *m))
        })
    })
}

#[test]
fn every_operation_has_its_kotlin_method() {
    let src = read(&kotlin_dir().join("PosTerminal.kt"));
    let missing: Vec<String> = OPS
        .iter()
        .filter(|o| !has_public_fun(&src, o.kotlin))
        .map(|o| format!("{} (`fun {}(`)", o.name, o.kotlin))
        .collect();
    assert!(
        missing.is_empty(),
        "PosTerminal.kt has no public method for: {}",
        missing.join(", ")
    );
    assert!(has_public_fun("    fun sale(amount: Long)", "sale"));
    assert!(!has_public_fun(
        "    private fun sale(amount: Long)",
        "sale"
    ));
    assert!(!has_public_fun("    fun presale(amount: Long)", "sale"));
}

#[test]
fn pin_entry_numbers_are_the_cores() {
    let src = read(&kotlin_dir().join("Devices.kt"));
    for (name, n) in [
        ("CLEAR", PinEntry::CLEAR),
        ("BLOCK", PinEntry::BLOCK),
        ("BYPASS", PinEntry::BYPASS),
    ] {
        assert!(
            src.contains(&format!("const val {name} = {n}\n")),
            "Devices.kt: PinEntry.{name} must be {n} (possdk_core::hal::PinEntry::{name})"
        );
    }
}
