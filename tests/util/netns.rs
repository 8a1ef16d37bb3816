//! A private machine for the tests that need one unlike this one: a fresh
//! network namespace (where only `lo` exists, down until a setup script
//! brings it up, strips it of `::1` or turns IPv6 off by sysctl) and, with a
//! mount namespace, a hosts file of the test's own over `/etc/hosts`.
//!
//! Creating namespaces takes root (CI runs as root) and `unshare`; where
//! either is missing, or the setup fails here, the test says why and skips.

use std::process::Command;
use std::time::Duration;

use super::{BIN, Run, STEP, have_program, is_root, run_cmd, skip, temp_dir};

/// Brings the namespace's loopback interface up (it starts down).
pub const LO_UP: &str = "ip link set lo up";

/// Loopback up, and IPv6 disabled by sysctl, as on a machine that has it off.
pub const NO_IPV6: &str = "ip link set lo up && sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
                           && sysctl -qw net.ipv6.conf.lo.disable_ipv6=1";

/// A hosts file that names `localhost` both ways, as most distributions ship.
pub const LOCALHOST_BOTH_WAYS: &str = "127.0.0.1 localhost\n::1 localhost\n";

/// Runs the shell script `setup` and then `echokit ARGS` in a fresh network
/// namespace, within `timeout`; or says why it cannot (see [`skip`], naming
/// `test`) and returns `None`. With `hosts`, a mount namespace too, in which
/// a file with that content is mounted over `/etc/hosts` before `setup`. The
/// setup is tried once on its own first, so a failure there is a skip, not a
/// failure of echokit.
pub fn in_netns(
    test: &str,
    hosts: Option<&str>,
    setup: &str,
    args: &[&str],
    timeout: Duration,
) -> Option<Run> {
    netns_run(test, hosts, setup, r#"exec "$0" "$@""#, args, timeout)
}

/// As [`in_netns`], but runs the shell script `script` after `setup`, with
/// `$0` the binary under test: for a server and its clients in the same
/// namespace (the script waits for nothing but what it reads).
pub fn in_netns_sh(
    test: &str,
    hosts: Option<&str>,
    setup: &str,
    script: &str,
    timeout: Duration,
) -> Option<Run> {
    netns_run(test, hosts, setup, script, &[], timeout)
}

fn netns_run(
    test: &str,
    hosts: Option<&str>,
    setup: &str,
    script: &str,
    args: &[&str],
    timeout: Duration,
) -> Option<Run> {
    if !is_root() {
        skip(
            test,
            "needs root to create a network namespace (CI runs as root)",
        );
        return None;
    }
    if !have_program("unshare", &["--help"]) {
        skip(test, "cannot run unshare");
        return None;
    }
    let dir = temp_dir();
    let mut unshare = vec!["-n"];
    let setup = match hosts {
        Some(content) => {
            let file = dir.path().join("hosts");
            std::fs::write(&file, content).expect("write hosts");
            unshare.push("-m");
            // A private mount namespace: /etc/hosts changes for this run only.
            format!("mount --bind {} /etc/hosts && {setup}", file.display())
        }
        None => setup.to_string(),
    };
    let mut probe = Command::new("unshare");
    probe.args(&unshare).args(["sh", "-c", &setup]);
    let probe = run_cmd(probe, b"", STEP);
    if probe.code != 0 {
        skip(
            test,
            &format!(
                "unshare {unshare:?} with {setup:?} failed here: {}",
                probe.stderr.trim()
            ),
        );
        return None;
    }
    let mut cmd = Command::new("unshare");
    cmd.args(&unshare)
        .args(["sh", "-c", &format!("{setup} && {script}"), BIN])
        .args(args);
    Some(run_cmd(cmd, b"", timeout))
}
