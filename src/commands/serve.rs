//! `echokit serve`: bind every ADDR, print one ready line per listener, run
//! the engine until a signal (or `--count`) ends it (SPEC §4 serve).

mod policy;

use std::sync::{Arc, Mutex};

use serde_json::json;

use crate::addr::{self, Endpoint, Role};
use crate::cli::ServeArgs;
use crate::engine::dgram::Sender;
use crate::engine::stream::EndReason;
use crate::engine::{self, Control, Event, Observer, Peer, ServerConfig};
use crate::error::{Error, ExitCode};
use crate::output::Output;
use crate::transport::SocketAddress;
use crate::transport::{self, ListenOptions, Listener, SocketFileGuard};

/// Where `serve` listens when given no ADDR: loopback only.
pub const DEFAULT_ADDR: &str = "localhost:5000";

/// Runs `echokit serve`.
pub fn run(args: ServeArgs) -> Result<ExitCode, Error> {
    if args.inetd {
        return run_inetd(args);
    }
    let out = Output::new(args.output);
    transport::raise_fd_limit();
    let socket_type = super::default_kind(&args.addr_flags);
    let family = super::family(&args.addr_flags);
    // systemd socket activation: those sockets are served, and ADDRs given as well are bound too.
    let activated = transport::activated().map_err(|e| match e.kind() {
        std::io::ErrorKind::Unsupported => Error::Unsupported("socket activation is".into()),
        _ => Error::listen("LISTEN_FDS", e),
    })?;
    let texts = if args.addrs.is_empty() && activated.is_empty() {
        vec![DEFAULT_ADDR.to_string()]
    } else {
        args.addrs.clone()
    };
    // Parse everything first: a typo in the third ADDR binds nothing.
    let endpoints = texts
        .iter()
        .map(|t| addr::parse(t, socket_type))
        .collect::<Result<Vec<_>, _>>()?;
    if endpoints.iter().any(|e| e.socket_type.keeps_boundaries()) && args.buffer_size < 1 {
        return Err(Error::Usage("--buffer-size must be at least 1".into()));
    }
    let options = ListenOptions {
        backlog: args.backlog,
        v6only: args.v6only,
        mode: args.mode,
    };
    let mut listeners = Vec::new();
    for endpoint in &endpoints {
        let targets = addr::resolve(endpoint, family, Role::Listen)?;
        listeners.extend(bind_group(endpoint, &targets, options)?);
    }

    let mut sockets = Vec::new();
    for (inherited, name) in activated {
        if let Some(name) = name {
            out.verbose(
                1,
                &format!(
                    "{}: passed by socket activation as {name:?}",
                    inherited.name
                ),
            );
        }
        sockets.push(engine::inherited_socket(inherited));
    }
    let mut guards = Vec::new();
    for listener in listeners {
        let (socket, guard) = engine::served_socket(listener);
        sockets.push(socket);
        guards.extend(guard);
    }
    let names: Vec<String> = sockets.iter().map(|s| s.name.clone()).collect();
    let log = Arc::new(ServeLog {
        out: Output::new(args.output),
        socket_files: Mutex::new(guards),
    });
    let handle = engine::spawn(
        sockets,
        config(&args),
        usize::from(args.workers),
        policy(&args),
        Arc::clone(&log) as Arc<dyn Observer>,
    )
    .map_err(|e| Error::internal("cannot start the event loops", e))?;
    // Handlers go in before the ready lines: a script may signal us as soon as it reads them.
    install_signal_handlers(handle.control())?;
    for name in &names {
        out.ready(name);
    }
    let stats = handle
        .join()
        .map_err(|e| Error::internal("event loop failed", e))?;
    log.remove_socket_files();
    if out.json {
        out.json(&json!({
            "event": "stopped",
            "accepted": stats.accepted,
            "completed": stats.completed,
            "rejected": stats.rejected,
            "datagrams_echoed": stats.datagrams_echoed,
            "datagrams_dropped": stats.datagrams_dropped,
            "messages_truncated": stats.messages_truncated,
            "bytes_in": stats.bytes_in,
            "bytes_out": stats.bytes_out,
        }));
    } else {
        out.verbose(
            1,
            &format!(
                "stopped: {} connections accepted, {} echoed in full, {} rejected, {} closed for a cut message; {} datagrams echoed, {} dropped; {} bytes in, {} bytes out",
                stats.accepted,
                stats.completed,
                stats.rejected,
                stats.messages_truncated,
                stats.datagrams_echoed,
                stats.datagrams_dropped,
                stats.bytes_in,
                stats.bytes_out
            ),
        );
    }
    Ok(ExitCode::Success)
}

fn config(args: &ServeArgs) -> ServerConfig {
    ServerConfig {
        idle_timeout: args.idle_timeout,
        drain: args.drain,
        ..ServerConfig::new(args.buffer_size)
    }
}

fn policy(args: &ServeArgs) -> Arc<policy::ServePolicy> {
    Arc::new(policy::ServePolicy::new(
        args.max_conns,
        args.count,
        args.udp_rate,
    ))
}

/// `--inetd`: stdin is the socket. inetd hands the same socket over as stdout
/// and often stderr too, so nothing is printed: any byte we wrote there would
/// go to the client as if it were echo.
fn run_inetd(args: ServeArgs) -> Result<ExitCode, Error> {
    let socket = transport::from_stdin().map_err(|e| {
        Error::Usage(format!(
            "--inetd needs a socket on stdin: {}",
            crate::error::describe(&e)
        ))
    })?;
    let quiet = Output::new(crate::cli::OutputFlags {
        json: false,
        verbose: 0,
        quiet: true,
    });
    let log = Arc::new(ServeLog {
        out: quiet,
        socket_files: Mutex::new(Vec::new()),
    });
    let handle = engine::spawn(
        vec![engine::inherited_socket(socket)],
        config(&args),
        1,
        policy(&args),
        log,
    )
    .map_err(|e| Error::internal("cannot start the event loop", e))?;
    install_signal_handlers(handle.control())?;
    handle
        .join()
        .map_err(|e| Error::internal("event loop failed", e))?;
    Ok(ExitCode::Success)
}

/// Binds every address one ADDR resolved to. With port 0, the first gets a
/// port from the kernel and the others bind that same port (SPEC §2), so one
/// number serves both 127.0.0.1 and ::1; if another process took that port
/// on the other family meanwhile, the whole group is tried again.
fn bind_group(
    endpoint: &Endpoint,
    targets: &[SocketAddress],
    options: ListenOptions,
) -> Result<Vec<Listener>, Error> {
    let port_zero = targets
        .iter()
        .all(|t| matches!(t, SocketAddress::Inet(a) if a.port() == 0));
    let attempts = if port_zero && targets.len() > 1 { 5 } else { 1 };
    let mut last_error = None;
    for _ in 0..attempts {
        let mut bound: Vec<Listener> = Vec::new();
        let mut port = None;
        let mut failed = None;
        for target in targets {
            let mut target = target.clone();
            if let (Some(p), SocketAddress::Inet(a)) = (port, &mut target) {
                a.set_port(p);
            }
            match transport::listen(endpoint.socket_type, &target, options) {
                Ok(listener) => {
                    if let SocketAddress::Inet(a) = &listener.local {
                        port.get_or_insert(a.port());
                    }
                    bound.push(listener);
                }
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        match failed {
            None => return Ok(bound),
            Some(e) => last_error = Some(e),
        }
    }
    Err(last_error.expect("at least one attempt ran"))
}

fn install_signal_handlers(control: Arc<Control>) -> Result<(), Error> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
        .map_err(|e| Error::internal("cannot install signal handlers", e))?;
    std::thread::spawn(move || {
        for signal in signals.forever() {
            // SIGHUP is ignored (SPEC §4): a closed terminal does not stop a server.
            if signal != SIGHUP {
                control.signal();
            }
        }
    });
    Ok(())
}

/// Turns engine events into log lines (stderr) or JSON lines (stdout), and
/// removes the socket files once the listeners close (SPEC §4: at once on
/// the first signal, not after the drain).
struct ServeLog {
    out: Output,
    socket_files: Mutex<Vec<SocketFileGuard>>,
}

impl ServeLog {
    fn remove_socket_files(&self) {
        if let Ok(mut files) = self.socket_files.lock() {
            files.clear();
        }
    }
}

/// A peer in `serve -v` words: the address, or for Unix sockets pid/uid/gid.
fn peer_text(peer: Option<&Peer>) -> String {
    match peer {
        Some(Peer::Inet(addr)) => {
            crate::addr::display_target(&crate::transport::SocketAddress::Inet(*addr))
        }
        Some(Peer::Unix(Some((pid, uid, gid)))) => format!("pid={pid} uid={uid} gid={gid}"),
        Some(Peer::Unix(None)) => "unix peer".to_string(),
        Some(Peer::Named(name)) => name.clone(),
        None => String::new(),
    }
}

fn sender_text(sender: Option<&Sender>) -> String {
    sender.map_or_else(|| "unknown sender".to_string(), Sender::to_string)
}

impl Observer for ServeLog {
    fn details(&self) -> bool {
        self.out.json || self.out.verbose > 0
    }

    fn event(&self, event: &Event<'_>) {
        let out = &self.out;
        match event {
            Event::Accepted { listener, peer } => {
                let peer = peer_text(Some(peer));
                if out.json {
                    out.json(&json!({"event": "accepted", "listener": listener, "peer": peer}));
                } else {
                    out.verbose(2, &format!("{listener}: accepted {peer}"));
                }
            }
            Event::Closed {
                listener,
                peer,
                bytes_in,
                bytes_out,
                duration,
                reason,
            } => {
                let peer = peer_text(*peer);
                if out.json {
                    out.json(&json!({
                        "event": "closed",
                        "listener": listener,
                        "peer": peer,
                        "bytes_in": bytes_in,
                        "bytes_out": bytes_out,
                        "duration_ms": duration.as_secs_f64() * 1000.0,
                        "end": reason.to_string(),
                    }));
                } else {
                    let line = format!(
                        "{listener}: {peer}: {bytes_in} bytes in, {bytes_out} bytes out, {}, {reason}",
                        crate::output::duration(*duration)
                    );
                    // SPEC §3: a cut message is logged whatever the verbosity.
                    if *reason == EndReason::Truncated {
                        out.note(&line);
                    } else {
                        out.verbose(1, &line);
                    }
                }
            }
            Event::Rejected { listener, peer } => {
                let peer = peer_text(*peer);
                if out.json {
                    out.json(&json!({"event": "rejected", "listener": listener, "peer": peer, "why": "max-conns"}));
                } else {
                    out.verbose(
                        1,
                        &format!("{listener}: {peer}: closed at once (--max-conns reached)"),
                    );
                }
            }
            Event::Dropped {
                listener,
                reason,
                count,
                last_sender,
            } => {
                let last_sender = sender_text(*last_sender);
                if out.json {
                    out.json(&json!({
                        "event": "dropped",
                        "listener": listener,
                        "count": count,
                        "why": reason.to_string(),
                        "last_sender": last_sender,
                    }));
                } else {
                    let plural = if *count == 1 { "" } else { "s" };
                    out.note(&format!(
                        "{listener}: dropped {count} datagram{plural} (last from {last_sender}): {reason}"
                    ));
                }
            }
            Event::ListenerError { listener, error } => {
                out.note(&format!("{listener}: {}", crate::error::describe(error)));
            }
            Event::Draining { open } => {
                self.remove_socket_files();
                if out.json {
                    out.json(&json!({"event": "draining", "open": open}));
                } else {
                    out.verbose(
                        1,
                        &format!("shutting down: listeners closed, {open} connections open"),
                    );
                }
            }
        }
    }
}
