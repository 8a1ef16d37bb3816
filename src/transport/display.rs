//! SPEC §2's written form of a concrete address, with its transport's prefix
//! (`tcp:127.0.0.1:40123`, `unix:/tmp/e.sock`, `unixgram:@echo`): what ready
//! lines, logs and check rows print, and what the grammar (`addr.rs`) parses
//! back. It sits beside the model because the prefix is the model's, and the
//! transport room names the sockets it hands over (inherited ones too)
//! without asking the grammar.

use std::net::SocketAddr;

use super::model::{Kind, SocketAddress, Transport};

/// Formats a concrete address in the grammar, with its prefix: the ready-line form
/// (`tcp:127.0.0.1:40123`, `udp:[::1]:7`, `unix:/tmp/e.sock`, `unixgram:@echo`).
pub fn display(kind: Kind, target: &SocketAddress) -> String {
    Transport::of(kind, target).display(target)
}

impl Transport {
    /// `target` in the grammar with this transport's prefix: the ready-line form.
    pub fn display(self, target: &SocketAddress) -> String {
        format!("{}:{}", self.prefix(), display_target(target))
    }
}

/// Formats a concrete address without a prefix (`127.0.0.1:7`, `[::1]:7`, `/tmp/e.sock`, `@echo`).
pub fn display_target(target: &SocketAddress) -> String {
    match target {
        SocketAddress::Inet(addr) => display_inet(addr),
        // A relative path starting with `@` is written `./@x`: `@x` is an abstract name.
        // Names the kernel handed over (an inherited socket, a peer) may hold
        // control characters the grammar refuses: shown escaped (SPEC §6).
        SocketAddress::Path(path) if path.as_os_str().as_encoded_bytes().starts_with(b"@") => {
            format!("./{}", escape_controls(&path.display().to_string()))
        }
        SocketAddress::Path(path) => escape_controls(&path.display().to_string()),
        SocketAddress::Abstract(name) => {
            format!("@{}", escape_controls(&String::from_utf8_lossy(name)))
        }
    }
}

fn display_inet(addr: &SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => a.to_string(),
        SocketAddr::V6(a) if a.scope_id() != 0 => {
            // nix answers an index with no interface with an empty name, not
            // an error: then the number, which parses back.
            let scope = nix::net::if_::if_indextoname(a.scope_id())
                .ok()
                .and_then(|name| name.into_string().ok())
                .filter(|name| !name.is_empty())
                .unwrap_or_else(|| a.scope_id().to_string());
            format!("[{}%{}]:{}", a.ip(), scope, a.port())
        }
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    }
}

/// `text` with every control character of SPEC §2 (bytes 0x00–0x1f and
/// 0x7f) escaped (`\n`, `\t`, `\x1b`), so a name that came from outside — a
/// peer's path, an inherited socket's abstract name — prints as one line and
/// forges none (SPEC §6).
pub fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            c if c.is_ascii_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}
