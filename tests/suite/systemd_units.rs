//! The systemd units in `contrib/systemd/` (README "Run it under systemd"):
//! `systemd-analyze verify` reads them as systemd would, and they keep the
//! lines the README and echokit-serve(1) promise. Running them for real needs
//! systemd as pid 1; `activation.rs` runs echokit under systemd's own
//! `systemd-socket-activate` instead.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::util::{BIN, have_program, run_cmd, skip, temp_dir};

/// The unit files, in the order they are verified.
const UNITS: [&str; 6] = [
    "echokit.socket",
    "echokit.service",
    "echokit-inetd.socket",
    "echokit-inetd@.service",
    "echokit-check.service",
    "echokit-check.timer",
];

/// Where the units are installed from.
fn contrib() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/systemd")
}

fn unit(name: &str) -> String {
    std::fs::read_to_string(contrib().join(name))
        .unwrap_or_else(|e| panic!("contrib/systemd/{name}: {e}"))
}

#[test]
fn systemd_analyze_verify_accepts_the_units() {
    let test = "systemd_analyze_verify_accepts_the_units";
    if !have_program("systemd-analyze", &["--version"]) {
        skip(
            test,
            "systemd-analyze is not installed (Debian: apt-get install systemd)",
        );
        return;
    }
    // verify checks that ExecStart= can be run, and /usr/bin/echokit is not
    // installed here: a copy of the units runs the binary under test instead.
    let dir = temp_dir();
    for name in UNITS {
        let text = unit(name);
        assert!(
            !name.ends_with(".service") || text.contains("ExecStart=/usr/bin/echokit "),
            "{name} should run /usr/bin/echokit"
        );
        let text = text.replace("ExecStart=/usr/bin/echokit ", &format!("ExecStart={BIN} "));
        std::fs::write(dir.path().join(name), text).expect("write a unit copy");
    }
    let mut cmd = Command::new("systemd-analyze");
    cmd.current_dir(dir.path()).arg("verify");
    // Documentation=man:echokit-serve(1) is checked too, against our own
    // pages, where man(1) is installed to look.
    if have_program("man", &["-w", "man"]) {
        let man1 = dir.path().join("man/man1");
        std::fs::create_dir_all(&man1).unwrap();
        let pages = Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
        for page in std::fs::read_dir(pages).expect("man/") {
            let page = page.unwrap().path();
            std::fs::copy(&page, man1.join(page.file_name().unwrap())).unwrap();
        }
        cmd.env("MANPATH", dir.path().join("man"));
    } else {
        skip(test, "man is not installed: Documentation= is not checked");
        cmd.arg("--man=no");
    }
    cmd.args(UNITS.map(|u| format!("./{u}")));
    let run = run_cmd(cmd, b"", Duration::from_secs(60));
    // Unknown keys and bad values are warnings with exit 0: any output fails.
    assert!(
        run.code == 0 && run.stdout.is_empty() && run.stderr.is_empty(),
        "systemd-analyze verify complains\n{}",
        run.describe()
    );
}

#[test]
fn the_units_keep_what_the_readme_promises() {
    let service = unit("echokit.service");
    for line in [
        "Type=notify",
        "ExecStart=/usr/bin/echokit serve",
        "DynamicUser=yes",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
        "MemoryDenyWriteExecute=yes",
        "SystemCallFilter=@system-service",
    ] {
        assert!(
            service.lines().any(|l| l == line),
            "echokit.service lacks {line:?}"
        );
    }
    assert!(service.lines().any(|l| l.starts_with("WatchdogSec=")));
    // Every hardening line says why, in a comment just above it.
    let lines: Vec<&str> = service.lines().collect();
    for key in [
        "DynamicUser=",
        "NoNewPrivileges=",
        "ProtectSystem=",
        "PrivateTmp=",
        "RestrictAddressFamilies=",
        "MemoryDenyWriteExecute=",
        "SystemCallFilter=",
    ] {
        let at = lines.iter().position(|l| l.starts_with(key)).unwrap();
        assert!(
            lines[at - 1].starts_with('#'),
            "echokit.service: no comment above {key}"
        );
    }
    let socket = unit("echokit.socket");
    for line in ["ListenStream=7", "ListenDatagram=7"] {
        assert!(
            socket.lines().any(|l| l == line),
            "echokit.socket lacks {line:?}"
        );
    }
    let inetd = unit("echokit-inetd.socket");
    assert!(inetd.lines().any(|l| l == "Accept=yes"));
    let instance = unit("echokit-inetd@.service");
    assert!(
        instance
            .lines()
            .any(|l| l == "ExecStart=/usr/bin/echokit serve --inetd")
    );
    // stderr must not be the connection: an error line would reach the client as echo.
    assert!(instance.lines().any(|l| l == "StandardError=journal"));
    // The textfile timer: check every minute into node_exporter's directory.
    let check = unit("echokit-check.service");
    assert!(check.lines().any(|l| l
        == "ExecStart=/usr/bin/echokit check -q --metrics-file /var/lib/prometheus/node-exporter/echokit.prom"));
    assert!(check.lines().any(|l| l == "Type=oneshot"));
    let timer = unit("echokit-check.timer");
    assert!(timer.lines().any(|l| l == "OnUnitActiveSec=1min"));
}
