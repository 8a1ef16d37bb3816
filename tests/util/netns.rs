//! A private machine for the tests that need one unlike this one: a fresh
//! network namespace (where only `lo` exists, down until a setup script
//! brings it up, strips it of `::1` or turns IPv6 off by sysctl) and, with a
//! mount namespace, a hosts file of the test's own over `/etc/hosts`.
//!
//! Creating namespaces takes root (CI runs as root) and `unshare`; where
//! either is missing, or the setup fails here, the test says why and skips.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::{BIN, Run, STEP, have_program, is_root, run_cmd, skip};

/// Brings the namespace's loopback interface up (it starts down).
pub const LO_UP: &str = "ip link set lo up";

/// Loopback up, and IPv6 disabled by sysctl, as on a machine that has it off.
pub const NO_IPV6: &str = "ip link set lo up && sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
                           && sysctl -qw net.ipv6.conf.lo.disable_ipv6=1";

/// Writes `content` as a hosts file in `dir` and returns the setup step that
/// mounts it over `/etc/hosts` (in the mount namespace only: `mount = true`).
pub fn bind_hosts(dir: &Path, content: &str) -> String {
    let hosts = dir.join("hosts");
    std::fs::write(&hosts, content).expect("write hosts");
    format!("mount --bind {} /etc/hosts", hosts.display())
}

/// Runs the shell script `setup` and then `echokit ARGS` in a fresh network
/// namespace (and a mount namespace with `mount`), within `timeout`; or says
/// why it cannot (see [`skip`], naming `test`) and returns `None`. The setup
/// is tried once on its own first, so a failure there is a skip, not a failure
/// of echokit.
pub fn in_netns(
    test: &str,
    setup: &str,
    mount: bool,
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
    let mut unshare = vec!["-n"];
    if mount {
        unshare.push("-m");
    }
    let mut probe = Command::new("unshare");
    probe.args(&unshare).args(["sh", "-c", setup]);
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
        .args(["sh", "-c", &format!("{setup} && exec \"$0\" \"$@\""), BIN])
        .args(args);
    Some(run_cmd(cmd, b"", timeout))
}
