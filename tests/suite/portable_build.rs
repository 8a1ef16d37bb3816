//! The macOS/BSD twin of the Linux-only code (`src/transport/portable.rs`)
//! must keep compiling. Without a BSD toolchain, the custom cfg
//! `echokit_force_portable` selects it on Linux (mio's trick); this test
//! type-checks the crate that way, in a target directory of its own, with
//! warnings as errors. `build.rs` then leaves `echokit_linux` unset, so every
//! twin (transport, engine, sd_notify, and the few body-level pairs) is the
//! portable one.

use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn the_portable_twin_compiles_on_linux() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let target_dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("portable");
    let mut child = Command::new(cargo)
        .args([
            "check",
            "--lib",
            "--bins",
            "--quiet",
            "--offline",
            "--target-dir",
        ])
        .arg(&target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        // Warnings are errors: a twin that leaves code unused there has drifted.
        .env("RUSTFLAGS", "--cfg echokit_force_portable -D warnings")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run cargo check");
    // A cold check of every dependency takes about a minute on two cores.
    let deadline = Instant::now() + Duration::from_secs(600);
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("cargo check with --cfg echokit_force_portable took over 10 minutes");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = child.wait_with_output().expect("output");
    assert!(
        out.status.success(),
        "the portable build fails:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
