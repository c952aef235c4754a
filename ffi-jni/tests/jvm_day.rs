//! The JNI bridge on the host JVM. Builds the host `libpossdk_jni` (cargo), compiles the Kotlin API
//! (android-demo/possdk/src/main/kotlin, the one copy the Android library uses) with the test harness
//! (tests/jvm/DayTest.kt), starts `possdk_host::Host` in-process, and runs a terminal day through
//! `libpossdk_jni` with Kotlin device callbacks, plus the failure paths (see DayTest.kt).
//!
//! Needs `kotlinc` and a JDK (`java`) on PATH: Debian packages `kotlin` and `openjdk-17-jdk-headless`; and
//! `org.json`, which Android ships and the API uses, from Debian's `libandroid-json-java` (Android's own
//! implementation). `.ci/run` installs all three. When kotlinc or java is missing the test is ignored, except
//! under CI (`CI=true`), where it fails with that message (ffi-jni/build.rs); a missing org.json jar fails.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

fn on_path(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

fn newest(dir: &Path, newest_so_far: &mut SystemTime) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            newest(&p, newest_so_far);
        } else if p.extension().is_some_and(|x| x == "kt") {
            if let Ok(m) = e.metadata().and_then(|m| m.modified()) {
                if m > *newest_so_far {
                    *newest_so_far = m;
                }
            }
        }
    }
}

/// Android's `org.json` for the host JVM (Debian `libandroid-json-java`).
const ANDROID_JSON_JAR: &str = "/usr/share/java/com.android.json.jar";
/// BouncyCastle, whose SM2 and SM4 the test's Kotlin SM security module uses (Debian `libbcprov-java`).
const BCPROV_JAR: &str = "/usr/share/java/bcprov.jar";

/// `target/<profile>/` of this test binary (`target/<profile>/deps/jvm_day-<hash>`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile> directory")
        .to_path_buf()
}

#[test]
#[cfg_attr(
    any(missing_java, missing_kotlinc),
    ignore = "java or kotlinc is not on PATH"
)]
fn jvm_terminal_day() {
    let (Some(kotlinc), Some(java)) = (on_path("kotlinc"), on_path("java")) else {
        panic!("kotlinc and java are needed on PATH: apt-get install -y kotlin openjdk-17-jdk-headless");
    };
    let json_jar = Path::new(ANDROID_JSON_JAR);
    assert!(
        json_jar.is_file(),
        "{ANDROID_JSON_JAR} (org.json) is needed: apt-get install -y libandroid-json-java"
    );
    let bc_jar = Path::new(BCPROV_JAR);
    assert!(
        bc_jar.is_file(),
        "{BCPROV_JAR} (BouncyCastle, for the SM-family module) is needed: apt-get install -y libbcprov-java"
    );
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let api_src = manifest.join("../android-demo/possdk/src/main/kotlin");
    let harness = manifest.join("tests/jvm");
    let lib_dir = profile_dir();
    // Integration tests do not make cargo build a cdylib: build it (a no-op when fresh) into the same
    // target directory and profile as this test.
    let profile = match lib_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev".to_string(),
        Some(other) => other.to_string(),
    };
    let status = Command::new(env!("CARGO"))
        .args(["build", "-p", "possdk-jni", "--lib", "--profile", &profile])
        .current_dir(manifest)
        .status()
        .expect("run cargo build");
    assert!(
        status.success(),
        "cargo build -p possdk-jni failed ({status})"
    );
    let lib = lib_dir.join(format!(
        "{}possdk_jni{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    assert!(
        lib.is_file(),
        "{} is missing after cargo build",
        lib.display()
    );

    // Compile the Kotlin API + harness into one jar (with the Kotlin runtime), unless it is up to date.
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("jvm-day");
    std::fs::create_dir_all(&out).expect("create the test directory");
    let jar = out.join("daytest.jar");
    let mut src_time = SystemTime::UNIX_EPOCH;
    newest(&api_src, &mut src_time);
    newest(&harness, &mut src_time);
    let fresh = jar
        .metadata()
        .and_then(|m| m.modified())
        .is_ok_and(|t| t > src_time);
    if !fresh {
        let status = Command::new(&kotlinc)
            .arg(&api_src)
            .arg(&harness)
            .arg("-cp")
            .arg(std::env::join_paths([json_jar, bc_jar]).expect("classpath"))
            .args(["-include-runtime", "-nowarn", "-d"])
            .arg(&jar)
            .status()
            .expect("run kotlinc");
        assert!(status.success(), "kotlinc failed ({status})");
    }

    // A fresh host and journal directory for this run.
    let work = out.join(format!("run-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).expect("create the work directory");
    let host = possdk_host::Host::start(possdk_host::HostConfig::new(
        "127.0.0.1:0",
        work.join("host.db"),
    ))
    .expect("start possdk-host");
    let addr = host.addr().to_string();
    // A second host whose terminal is in the SM key family (docs/PROTOCOL.md §11).
    let sm_host = possdk_host::Host::start(possdk_host::HostConfig::new(
        "127.0.0.1:0",
        work.join("host-sm.db"),
    ))
    .expect("start the SM-family possdk-host");
    sm_host
        .set_key_family(None, possdk_core::crypto::KeyFamily::Sm)
        .expect("SM family");

    let output = Command::new(&java)
        .arg("-Xcheck:jni")
        .arg(format!("-Djava.library.path={}", lib_dir.display()))
        .arg("-cp")
        .arg(std::env::join_paths([jar.as_path(), json_jar, bc_jar]).expect("classpath"))
        .arg("possdk.jvmtest.DayTestKt")
        .arg(&addr)
        .arg(&work)
        .arg(manifest.join("../tests/vectors/crypto.json"))
        .arg(sm_host.addr().to_string())
        .output()
        .expect("run java");
    host.shutdown();
    sm_host.shutdown();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    // -Xcheck:jni reports misuse (pending exceptions, local reference overflow) as warnings on stderr.
    assert!(
        !stderr
            .lines()
            .chain(stdout.lines())
            .any(|l| l.starts_with("WARNING") || l.contains("FATAL ERROR in native method")),
        "JNI misuse reported by -Xcheck:jni"
    );
    assert!(
        output.status.success(),
        "JVM harness failed ({})",
        output.status
    );
    assert!(
        stdout.contains(" passed, 0 failed"),
        "harness summary missing"
    );
    let _ = std::fs::remove_dir_all(&work);
}
