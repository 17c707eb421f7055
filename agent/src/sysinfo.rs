//! Facts about this machine sent once in `Register`: hostname, machine id,
//! OS name, architecture, agent version and the address of the outgoing
//! interface. Every function is best effort: a missing file gives an empty
//! string, never an error, since none of these facts is needed to run.

use std::net::{SocketAddr, UdpSocket};

/// The kernel's hostname (`/proc/sys/kernel/hostname`, else `/etc/hostname`,
/// else `localhost`).
pub fn hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .map(|text| text.trim().to_owned())
        .find(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// `/etc/machine-id` (or the D-Bus copy), trimmed; empty when absent.
pub fn machine_id() -> String {
    ["/etc/machine-id", "/var/lib/dbus/machine-id"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .map(|text| text.trim().to_owned())
        .find(|id| !id.is_empty())
        .unwrap_or_default()
}

/// `PRETTY_NAME` of `/etc/os-release` (falls back to `/usr/lib/os-release`,
/// then `Linux`).
pub fn os_name() -> String {
    ["/etc/os-release", "/usr/lib/os-release"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .find_map(|text| pretty_name(&text))
        .unwrap_or_else(|| std::env::consts::OS.to_owned())
}

fn pretty_name(os_release: &str) -> Option<String> {
    os_release.lines().find_map(|line| {
        let value = line.trim().strip_prefix("PRETTY_NAME=")?;
        let value = value.trim_matches(|c| c == '"' || c == '\'');
        (!value.is_empty()).then(|| value.to_owned())
    })
}

/// CPU architecture as Rust names it (`x86_64`, `aarch64`, ...).
pub fn arch() -> String {
    std::env::consts::ARCH.to_owned()
}

/// This agent's version.
pub fn agent_version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

/// Address of the interface that routes to `server`: a UDP socket is
/// "connected" (no packet is sent) and its local address read. Empty when
/// there is no route.
pub fn outgoing_ip(server: SocketAddr) -> String {
    let bind: SocketAddr = if server.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
    UdpSocket::bind(bind)
        .and_then(|socket| {
            socket.connect(server)?;
            socket.local_addr()
        })
        .map(|local| local.ip().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pretty_name_quoted_or_not() {
        assert_eq!(
            pretty_name("NAME=x\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n").as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        assert_eq!(pretty_name("PRETTY_NAME=Alpine\n").as_deref(), Some("Alpine"));
        assert_eq!(pretty_name("NAME=x\n"), None);
    }

    #[test]
    fn outgoing_ip_to_loopback_is_loopback() {
        assert_eq!(outgoing_ip(([127, 0, 0, 1], 9).into()), "127.0.0.1");
    }
}
