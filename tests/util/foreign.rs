//! Echo servers nobody here wrote, for the client's verdicts (issue 16):
//! `ncat --exec /bin/cat` and `socat … EXEC:cat` (they stop echoing at
//! EOF), a Python server that reads to EOF before it answers, xinetd's
//! internal echo service (stream, and dgram cut at 2,048 bytes), a Python
//! UDP echo that goes silent after N datagrams, and a TCP server that reads
//! but never writes ([`SilentReader`], the tests' own).
//!
//! Each foreign one is `None` when its program is missing (with a line
//! saying so: the test then skips; CI has them all). ncat and xinetd take no
//! port 0: a free port is found by binding port 0 and releasing it, and as
//! another process may take it meanwhile, a server that does not come up
//! (it exited, or never accepts) is tried again on another port, 5 times.
//! Every wait has a deadline; every process is ended by its own pid on drop.

use std::io::Read;
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::{Proc, STEP, have_program, python, wait_accepting};

/// How often a port is tried before the test gives up.
const PORT_TRIES: usize = 5;

/// A foreign server and the address to give echokit.
pub struct Foreign {
    pub proc: Proc,
    /// `127.0.0.1:PORT` or a socket path.
    pub addr: String,
}

fn have(program: &str, args: &[&str]) -> bool {
    let ok = have_program(program, args);
    if !ok {
        eprintln!("skipping: {program} is not installed");
    }
    ok
}

/// A port free on 127.0.0.1 for TCP and UDP both, right now (bound, then released).
fn free_port() -> u16 {
    loop {
        let tcp = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = tcp.local_addr().expect("local addr").port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Starts `spawn(port)` on free ports until it accepts TCP on 127.0.0.1.
fn on_a_free_port(what: &str, mut spawn: impl FnMut(u16) -> Proc) -> Foreign {
    for _ in 0..PORT_TRIES {
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut proc = spawn(port);
        if wait_accepting(&addr, STEP, || proc.running()) {
            return Foreign { proc, addr };
        }
        eprintln!(
            "{what} could not use port {port}, trying another\n{}",
            proc.describe()
        );
    }
    panic!("{what} never accepted on a free port in {PORT_TRIES} tries");
}

/// `ncat -l -k 127.0.0.1 PORT --exec /bin/cat`: a cat per connection; at
/// EOF ncat drops what cat has not yet written back.
pub fn ncat_exec_cat() -> Option<Foreign> {
    if !have("ncat", &["--version"]) {
        return None;
    }
    Some(on_a_free_port("ncat", |port| {
        let mut cmd = Command::new("ncat");
        cmd.args([
            "-l",
            "-k",
            "127.0.0.1",
            &port.to_string(),
            "--exec",
            "/bin/cat",
        ]);
        Proc::spawn(cmd)
    }))
}

/// `ncat -l -k -U PATH --exec /bin/cat`, at `dir/ncat.sock`: no port to find.
pub fn ncat_exec_cat_unix(dir: &Path) -> Option<Foreign> {
    if !have("ncat", &["--version"]) {
        return None;
    }
    let path = dir.join("ncat.sock").display().to_string();
    let mut cmd = Command::new("ncat");
    cmd.args(["-l", "-k", "-U", &path, "--exec", "/bin/cat"]);
    let mut proc = Proc::spawn(cmd);
    if !wait_accepting(&format!("unix:{path}"), STEP, || proc.running()) {
        panic!("ncat never accepted on {path}\n{}", proc.describe());
    }
    Some(Foreign { proc, addr: path })
}

/// socat waits `-t` (0.5s by default) after EOF for cat's last output, so a
/// client that half-closes early fails only when cat is slower than that:
/// `-t 0` drops it at once, as ncat does, so such a client fails every time.
const SOCAT_DRAIN: &str = "-t0";

/// `socat -t0 TCP-LISTEN:PORT,bind=127.0.0.1,fork EXEC:cat`.
pub fn socat_exec_cat_tcp() -> Option<Foreign> {
    if !have("socat", &["-V"]) {
        return None;
    }
    Some(on_a_free_port("socat", |port| {
        let mut cmd = Command::new("socat");
        cmd.args([
            SOCAT_DRAIN,
            &format!("TCP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr"),
            "EXEC:cat",
        ]);
        Proc::spawn(cmd)
    }))
}

/// `socat -t0 UNIX-LISTEN:PATH,fork EXEC:cat`, at `dir/socat.sock`.
pub fn socat_exec_cat_unix(dir: &Path) -> Option<Foreign> {
    if !have("socat", &["-V"]) {
        return None;
    }
    let path = dir.join("socat.sock").display().to_string();
    let mut cmd = Command::new("socat");
    cmd.args([SOCAT_DRAIN, &format!("UNIX-LISTEN:{path},fork"), "EXEC:cat"]);
    let mut proc = Proc::spawn(cmd);
    if !wait_accepting(&format!("unix:{path}"), STEP, || proc.running()) {
        panic!("socat never accepted on {path}\n{}", proc.describe());
    }
    Some(Foreign { proc, addr: path })
}

/// Runs a Python server script that prints its address as its first line.
fn python_server(script: &str, args: &[&str]) -> Option<Foreign> {
    let python = python()?;
    let mut cmd = Command::new(python);
    cmd.arg("-c").arg(script).args(args);
    let mut proc = Proc::spawn(cmd);
    let addr = proc.expect_line("the python server's address");
    Some(Foreign { proc, addr })
}

/// A TCP server (Python) that reads each connection to EOF, then sends it
/// all back and closes: a buffering pipe, the kind that answers only after EOF.
pub fn python_reads_to_eof_then_echoes() -> Option<Foreign> {
    python_server(
        r#"
import socket, threading
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(64)
print("127.0.0.1:%d" % s.getsockname()[1], flush=True)
def serve(c):
    c.settimeout(30)
    data = b""
    while True:
        chunk = c.recv(65536)
        if not chunk:
            break
        data += chunk
    c.sendall(data)
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"#,
        &[],
    )
}

/// A UDP echo (Python) that answers the first `answers` datagrams, then
/// reads and drops every other one.
pub fn python_udp_echo_then_silent(answers: u32) -> Option<Foreign> {
    python_server(
        r#"
import socket, sys
limit = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print("127.0.0.1:%d" % s.getsockname()[1], flush=True)
n = 0
while True:
    data, peer = s.recvfrom(65536)
    if n < limit:
        s.sendto(data, peer)
    n += 1
"#,
        &[&answers.to_string()],
    )
}

/// xinetd's internal echo service, stream and dgram on one port of
/// 127.0.0.1, from a private config in `dir`, in the foreground. Its dgram
/// echo sends back at most 2,048 bytes of a datagram.
pub fn xinetd_echo(dir: &Path) -> Option<Foreign> {
    if !have("xinetd", &["-version"]) {
        return None;
    }
    let conf = dir.join("xinetd.conf");
    let pidfile = dir.join("xinetd.pid");
    Some(on_a_free_port("xinetd", |port| {
        let mut text = String::from("defaults\n{\n}\n");
        for (id, socket_type, protocol, wait) in [
            ("echo-stream", "stream", "tcp", "no"),
            ("echo-dgram", "dgram", "udp", "yes"),
        ] {
            text.push_str(&format!(
                "service echo\n{{\n  type = INTERNAL UNLISTED\n  id = {id}\n  \
                 socket_type = {socket_type}\n  protocol = {protocol}\n  port = {port}\n  \
                 bind = 127.0.0.1\n  wait = {wait}\n}}\n"
            ));
        }
        std::fs::write(&conf, text).expect("write the xinetd config");
        let mut cmd = Command::new("xinetd");
        cmd.arg("-dontfork")
            .arg("-f")
            .arg(&conf)
            .arg("-pidfile")
            .arg(&pidfile);
        Proc::spawn(cmd)
    }))
}

/// A TCP server on 127.0.0.1 that accepts and reads every connection but
/// never writes a byte: the tests' own, in threads that end on drop.
pub struct SilentReader {
    pub addr: String,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl SilentReader {
    pub fn start() -> SilentReader {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("local addr").to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut readers = Vec::new();
            while !flag.load(Ordering::Relaxed) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let flag = Arc::clone(&flag);
                        readers.push(thread::spawn(move || read_and_drop(conn, &flag)));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
            for r in readers {
                let _ = r.join();
            }
        });
        SilentReader {
            addr,
            stop,
            handle: Some(handle),
        }
    }
}

fn read_and_drop(mut conn: TcpStream, stop: &AtomicBool) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_millis(100)));
    let mut buf = vec![0u8; 1 << 16];
    while !stop.load(Ordering::Relaxed) {
        match conn.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
}

impl Drop for SilentReader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
