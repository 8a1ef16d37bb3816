//! `echokit serve`: bind every ADDR, print one ready line per listener, run
//! the engine until a signal (or `--count`) ends it (SPEC §4 serve).

mod log;
mod metrics;
mod policy;

/// sd_notify(3) readiness, the platform twin chosen here once (as in
/// `transport/mod.rs`): `notify.rs` on Linux, `notify_portable.rs` elsewhere
/// (and on Linux with `--cfg echokit_force_portable`). Both provide
/// `Notifier::from_env()` and its `watchdog_every`, `ready`, `stopping`,
/// `status` and `watchdog`.
#[cfg(echokit_linux)]
mod notify;
#[cfg(not(echokit_linux))]
#[path = "serve/notify_portable.rs"]
mod notify;

use log::{Readiness, ServeLog};

use std::sync::Arc;
use std::time::Duration;

use crate::addr::{self, Endpoint, Host, Role, Target};
use crate::cli::ServeArgs;
use crate::engine::{self, Control, Observer, ServerConfig};
use crate::error::{Error, ExitCode};
use crate::output::Output;
use crate::transport::SocketAddress;
use crate::transport::{self, ListenOptions, Listener};

/// Where `serve` listens when given no ADDR: loopback only.
pub const DEFAULT_ADDR: &str = "localhost:5000";

/// Runs `echokit serve`.
pub fn run(args: ServeArgs) -> Result<ExitCode, Error> {
    if args.inetd {
        return run_inetd(args);
    }
    let out = Output::new(args.output);
    transport::raise_fd_limit();
    // Before anything is bound: a platform without sd_notify says so up front.
    let readiness = notify::Notifier::from_env()
        .map_err(|_| Error::Unsupported("sd_notify (NOTIFY_SOCKET) is".into()))?
        .map(Readiness::new);
    let default_kind = super::default_kind(&args.addr_flags);
    let family = super::family(&args.addr_flags);
    // systemd socket activation: those sockets are served, and ADDRs given as well are bound too.
    let activated = transport::activated()?;
    let texts = if args.addrs.is_empty() && activated.is_empty() {
        vec![DEFAULT_ADDR.to_string()]
    } else {
        args.addrs.clone()
    };
    // Parse everything first: a typo in the third ADDR binds nothing.
    let endpoints = texts
        .iter()
        .map(|t| addr::parse(t, default_kind))
        .collect::<Result<Vec<_>, _>>()?;
    same_address_twice(&endpoints)?;
    if endpoints.iter().any(|e| e.kind.keeps_boundaries()) && args.buffer_size < 1 {
        return Err(Error::Usage("--buffer-size must be at least 1".into()));
    }
    let options = ListenOptions {
        backlog: args.backlog,
        v6only: args.v6only,
        mode: args.mode,
    };
    let mut listeners = Vec::new();
    let mut skipped = Vec::new();
    for endpoint in &endpoints {
        let targets = addr::resolve(endpoint, family, Role::Listen)?;
        let group = bind_group(endpoint, &targets, options)?;
        listeners.extend(group.listeners);
        skipped.extend(group.skipped);
    }
    // Said only once everything is bound: had a later ADDR failed, its error is the one line.
    for skip in &skipped {
        out.note(&skip.to_string());
    }
    if args.mode.is_some() {
        for listener in &listeners {
            if let SocketAddress::Abstract(_) = &listener.local {
                out.note(&format!(
                    "{}: --mode does not apply to abstract socket {}: it has no file; any local user in this network namespace can connect",
                    listener.display(),
                    addr::display_target(&listener.local)
                ));
            }
        }
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
        sockets.push(inherited);
    }
    let mut guards = Vec::new();
    for listener in listeners {
        let (socket, guard) = listener.served();
        sockets.push(socket);
        guards.extend(guard);
    }
    let names: Vec<String> = sockets.iter().map(|s| s.name.clone()).collect();
    let metrics = match &args.metrics {
        Some(text) => Some(bind_metrics(text, family, options)?),
        None => None,
    };
    let metrics_addresses: Vec<String> = metrics
        .iter()
        .flat_map(|m| m.sockets.iter())
        .filter_map(|s| s.local_addr().ok()?.as_socket())
        .map(|a| crate::addr::display_target(&SocketAddress::Inet(a)))
        .collect();
    let base = config(&args);
    let config = ServerConfig {
        // Ticks tell the service manager, and the counts of repeated log lines.
        tick_every: Some(
            readiness
                .as_ref()
                .map_or(base.drop_report_every, Readiness::tick_every),
        ),
        metrics,
        ..base
    };
    let log = Arc::new(ServeLog::new(
        Output::new(args.output),
        guards,
        readiness,
        config.drop_report_every,
    ));
    let handle = engine::spawn(
        sockets,
        config,
        workers(&args),
        policy(&args),
        Arc::clone(&log) as Arc<dyn Observer>,
    )
    .map_err(|e| Error::internal("cannot start the event loops", e))?;
    // Handlers go in before the ready lines: a script may signal us as soon as it reads them.
    install_signal_handlers(handle.control())?;
    for name in &names {
        out.ready(name);
    }
    if let Some(err) = crate::output::stdout_failure() {
        // No one can learn where we listen: stop instead of serving unseen (exit 6).
        handle.stop();
        let _ = handle.join();
        log.remove_socket_files();
        return Err(err);
    }
    for address in &metrics_addresses {
        out.note(&format!("metrics on http://{address}/metrics"));
    }
    log.ready(&out);
    let stats = handle
        .join()
        .map_err(|e| Error::internal("event loop failed", e))?;
    log.remove_socket_files();
    log.flush_repeats();
    out.report(&log::Stopped(&stats));
    Ok(ExitCode::Success)
}

/// The same address given twice is a usage error (exit 2), not "another
/// process is serving on this socket" from the second bind: one socket file
/// or abstract name, whatever its type, or one non-zero port of one
/// transport. Port 0 twice is two listeners on two ports the kernel picks.
fn same_address_twice(endpoints: &[Endpoint]) -> Result<(), Error> {
    let clash = |a: &Endpoint, b: &Endpoint| match (&a.target, &b.target) {
        (Target::Path(x), Target::Path(y)) => x == y,
        (Target::Abstract(x), Target::Abstract(y)) => x == y,
        (Target::Inet { port, .. }, Target::Inet { .. }) => {
            a.kind == b.kind && a.target == b.target && *port != addr::Port::Number(0)
        }
        _ => false,
    };
    for (i, b) in endpoints.iter().enumerate() {
        if let Some(a) = endpoints[..i].iter().find(|a| clash(a, b)) {
            let both = if a.text == b.text {
                a.text.clone()
            } else {
                format!("{} and {}", a.text, b.text)
            };
            return Err(Error::Usage(format!(
                "the same address twice: {both} (each address is served once)"
            )));
        }
    }
    Ok(())
}

fn config(args: &ServeArgs) -> ServerConfig {
    ServerConfig {
        idle_timeout: args.idle_timeout,
        drain: args.drain,
        ..ServerConfig::new(args.buffer_size)
    }
}

/// `--metrics ADDR`: a TCP address (every address a name resolves to),
/// bound like the echo listeners but served with the metrics page.
fn bind_metrics(
    text: &str,
    family: addr::FamilyFilter,
    options: ListenOptions,
) -> Result<engine::MetricsEndpoint, Error> {
    let endpoint = addr::parse(text, transport::Kind::STREAM)?;
    if endpoint.kind != transport::Kind::STREAM || !matches!(endpoint.target, Target::Inet { .. }) {
        return Err(Error::Usage(format!(
            "--metrics {text}: needs a TCP address (HOST:PORT, e.g. 127.0.0.1:9862)"
        )));
    }
    let targets = addr::resolve(&endpoint, family, Role::Listen)?;
    let options = ListenOptions {
        mode: None,
        ..options
    };
    let group = bind_group(&endpoint, &targets, options)?;
    Ok(engine::MetricsEndpoint {
        sockets: group
            .listeners
            .into_iter()
            .map(|l| Arc::new(l.socket))
            .collect(),
        page: Arc::new(metrics::Page),
    })
}

/// `--workers`, or one loop per CPU this process may run on: its affinity
/// (`taskset`, cgroup cpusets), not the machine's count.
fn workers(args: &ServeArgs) -> usize {
    args.workers.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get().min(256)),
        usize::from,
    )
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
    // One connection, started per connection by inetd or `Accept=yes`: there
    // is no service to declare ready, so no sd_notify either.
    let log = Arc::new(ServeLog::new(
        quiet,
        Vec::new(),
        None,
        Duration::from_secs(1),
    ));
    let handle = engine::spawn(vec![socket], config(&args), 1, policy(&args), log)
        .map_err(|e| Error::internal("cannot start the event loop", e))?;
    install_signal_handlers(handle.control())?;
    handle
        .join()
        .map_err(|e| Error::internal("event loop failed", e))?;
    Ok(ExitCode::Success)
}

/// An address a name resolved to that this machine does not have, left out.
struct Skipped {
    /// The address in the ready-line form (`tcp:[::1]:5000`).
    address: String,
    /// The name as typed (`localhost`).
    name: String,
    /// Why it cannot be bound.
    error: Error,
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "skipping {} ({}): {}",
            self.address,
            self.name,
            self.error.reason()
        )
    }
}

/// What one ADDR bound, and what of it was left out.
struct Group {
    listeners: Vec<Listener>,
    skipped: Vec<Skipped>,
}

/// Binds every address one ADDR resolved to. With port 0, the first gets a
/// port from the kernel and the others bind that same port (SPEC §2), so one
/// number serves both 127.0.0.1 and ::1; if another process took that port
/// on the other family meanwhile, the whole group is tried again.
///
/// An address a *name* resolved to that this machine lacks (a container whose
/// hosts file names ::1 while IPv6 is off) is skipped, as long as another
/// address of the name binds (SPEC §4 serve); when none does, the first
/// failure is the error. A literal that cannot be bound is always an error.
fn bind_group(
    endpoint: &Endpoint,
    targets: &[SocketAddress],
    options: ListenOptions,
) -> Result<Group, Error> {
    let name = match &endpoint.target {
        Target::Inet {
            host: Host::Name(name),
            ..
        } => Some(name),
        _ => None,
    };
    let port_zero = targets
        .iter()
        .all(|t| matches!(t, SocketAddress::Inet(a) if a.port() == 0));
    let attempts = if port_zero && targets.len() > 1 { 5 } else { 1 };
    let mut last_error = None;
    for _ in 0..attempts {
        let mut bound: Vec<Listener> = Vec::new();
        let mut skipped: Vec<Skipped> = Vec::new();
        let mut port = None;
        let mut failed = None;
        for target in targets {
            let mut target = target.clone();
            if let (Some(p), SocketAddress::Inet(a)) = (port, &mut target) {
                a.set_port(p);
            }
            match transport::listen(endpoint.kind, &target, options) {
                Ok(listener) => {
                    if let SocketAddress::Inet(a) = &listener.local {
                        port.get_or_insert(a.port());
                    }
                    bound.push(listener);
                }
                Err(error) if name.is_some() && error.is_address_unavailable() => {
                    skipped.push(Skipped {
                        address: addr::display(endpoint.kind, &target),
                        name: name.cloned().unwrap_or_default(),
                        error,
                    });
                }
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        match failed {
            None if bound.is_empty() => {
                // Nothing of the name binds: exit 5 with the first reason, as for a literal.
                let first = skipped.into_iter().next().map(|s| s.error);
                return Err(
                    first.unwrap_or_else(|| Error::address(&endpoint.text, "resolves to nothing"))
                );
            }
            None => {
                return Ok(Group {
                    listeners: bound,
                    skipped,
                });
            }
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
