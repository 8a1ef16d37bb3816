//! Hostile input and environments (issue 15): another local user racing the
//! socket file `serve --mode` creates, listen queues that are full, control
//! characters in addresses and peer names, and what systemd or a user puts in
//! LISTEN_FDS. Tests named `issue15_…` pin what that issue asked for.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use crate::util::*;

/// Whether strace can trace a child here (it needs ptrace).
fn have_strace() -> bool {
    program_succeeds("strace", &["-qq", "-o", "/dev/null", "true"])
}

/// Issue 15 point 1: `--mode` changes the mode of the socket file this
/// process created and nothing else. A local user who replaces the new
/// socket with a symlink to a 0600 file, in a world-writable directory
/// without the sticky bit, must not get that file chmod'ed. strace holds
/// every syscall that could set a mode or move the file into place for
/// 300 ms, so the swapper wins any race there is; once with the usual way
/// (a thread of its own umask) and once with unshare(2) refused, as a
/// container's seccomp filter does, which takes the private-directory way.
#[test]
fn issue15_mode_never_chmods_what_a_swapper_put_at_the_path() {
    if !have_strace() {
        eprintln!("skipping: strace is missing or cannot trace here");
        return;
    }
    let dir = temp_dir();
    let world = dir.path().join("world");
    std::fs::create_dir(&world).expect("mkdir");
    std::fs::set_permissions(&world, std::fs::Permissions::from_mode(0o777)).expect("chmod 777");
    for (n, refuse_unshare) in [false, true].into_iter().enumerate() {
        let victim = dir.path().join(format!("victim{n}"));
        std::fs::write(&victim, "secret").expect("write the victim");
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600))
            .expect("chmod 600");
        let sock = world.join(format!("s{n}.sock"));
        let mut cmd = std::process::Command::new("strace");
        cmd.args(["-f", "-qq", "-o", "/dev/null"]);
        cmd.arg("-e")
            .arg("inject=chmod,fchmodat,?fchmodat2,fchmod,linkat,renameat2:delay_enter=300000");
        if refuse_unshare {
            cmd.args(["-e", "inject=unshare:error=EPERM"]);
        }
        cmd.args([BIN, "serve", "--count", "1", "--mode", "666"]);
        cmd.arg(format!("unix:{}", sock.display()));
        cmd.arg("127.0.0.1:0");
        let mut server = Proc::spawn(cmd);
        // The other user: as soon as a socket is there, a symlink takes its place.
        let swapper = {
            let (sock, victim) = (sock.clone(), victim.clone());
            thread::spawn(move || {
                let deadline = Instant::now() + STEP;
                while Instant::now() < deadline {
                    if std::fs::symlink_metadata(&sock).is_ok_and(|m| m.file_type().is_socket()) {
                        std::fs::remove_file(&sock).expect("remove the socket");
                        std::os::unix::fs::symlink(&victim, &sock).expect("symlink");
                        return true;
                    }
                    thread::sleep(Duration::from_micros(200));
                }
                false
            })
        };
        let first = server.expect_line("the unix ready line");
        let tcp = server.expect_line("the tcp ready line");
        assert_eq!(
            first,
            format!("unix:{}", sock.display()),
            "{}",
            server.describe()
        );
        assert!(
            swapper.join().expect("swapper"),
            "the socket never appeared"
        );
        // Ends the server (--count 1), so strace and echokit exit by themselves.
        send(&[&tcp, "hi"], b"", STEP).assert_echo(b"hi\n");
        assert_eq!(server.expect_exit(), 0, "{}", server.describe());
        let mode = std::fs::metadata(&victim)
            .expect("stat")
            .permissions()
            .mode()
            & 0o7777;
        assert_eq!(
            mode, 0o600,
            "the swapped-in symlink's target was chmod'ed (unshare refused: {refuse_unshare})"
        );
        // The symlink is not ours: it stays.
        assert!(
            std::fs::symlink_metadata(&sock).is_ok_and(|m| m.file_type().is_symlink()),
            "the symlink that replaced the socket was removed"
        );
        let _ = std::fs::remove_file(&sock);
    }
}

/// Issue 15 point 1: the private-directory way (unshare refused) still gives
/// exactly `--mode`, whatever the umask, and leaves no directory behind.
#[test]
fn issue15_mode_is_exact_when_the_socket_is_made_in_a_private_directory() {
    if !have_strace() {
        eprintln!("skipping: strace is missing or cannot trace here");
        return;
    }
    let dir = temp_dir();
    for (mode, want) in [("666", 0o666), ("0660", 0o660), ("600", 0o600)] {
        let sock = dir.path().join(format!("p{mode}.sock"));
        let mut cmd = std::process::Command::new("sh");
        cmd.args([
            "-c",
            "umask 077; exec strace -f -qq -o /dev/null -e inject=unshare:error=EPERM \"$0\" serve --count 1 --mode \"$1\" \"$2\"",
            BIN,
            mode,
        ]);
        cmd.arg(format!("unix:{}", sock.display()));
        let mut server = Proc::spawn(cmd);
        let ready = server.expect_line("the ready line");
        assert_eq!(
            ready,
            format!("unix:{}", sock.display()),
            "{}",
            server.describe()
        );
        let meta = std::fs::symlink_metadata(&sock).expect("stat the socket");
        assert!(meta.file_type().is_socket());
        assert_eq!(meta.permissions().mode() & 0o7777, want, "--mode {mode}");
        // Ends the server (--count 1), so strace and echokit exit by themselves.
        send(&[&ready, "hi"], b"", STEP).assert_echo(b"hi\n");
        assert_eq!(server.expect_exit(), 0, "{}", server.describe());
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .expect("read the dir")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with(".echokit-"))
            .collect();
        assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
        assert!(
            !Path::new(&sock).exists(),
            "the socket file outlived the server"
        );
    }
}
