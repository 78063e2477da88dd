//! Where a node can be reached: its [`NodeAddr`] (the Raft and Redis addresses the membership
//! stores for it) and the one parser of `host:port` text that every front end and the
//! configuration use.

use serde::{Deserialize, Serialize};

/// Where a node can be reached: stored in the Raft membership for every member.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeAddr {
    pub raft_addr: String,
    pub resp_addr: String,
}

impl std::fmt::Display for NodeAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "raft {} resp {}", self.raft_addr, self.resp_addr)
    }
}

/// Splits `host:port` at its last colon: a non-empty host (a name, an IPv4 address, or an IPv6
/// address in brackets) and a port number. `None` for anything else.
pub fn split_host_port(text: &str) -> Option<(&str, u16)> {
    let (host, port) = text.rsplit_once(':')?;
    let port = port.parse::<u16>().ok()?;
    (!host.is_empty()).then_some((host, port))
}

/// Whether `text` is `host:port` with a non-empty host and a port number.
pub fn is_host_port(text: &str) -> bool {
    split_host_port(text).is_some()
}

/// Whether `host:port` names a loopback address (`127.0.0.0/8`, `::1`, `localhost`), which
/// only processes on the same machine can reach.
pub fn is_loopback(text: &str) -> bool {
    let Some((host, _)) = split_host_port(text) else { return false };
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_addresses_are_told_apart() {
        for addr in ["127.0.0.1:1", "127.3.4.5:16379", "[::1]:7", "localhost:9", "LOCALHOST:9"] {
            assert!(is_loopback(addr), "{addr}");
        }
        for addr in ["0.0.0.0:1", "10.0.0.1:2", "[::]:3", "node1:4", "128.0.0.1:5", "localhost", "127.0.0.1"]
        {
            assert!(!is_loopback(addr), "{addr}");
        }
    }

    /// The host is everything before the last colon, so bracketed IPv6 addresses split right;
    /// a missing host, a missing port or a port out of range is refused.
    #[test]
    fn host_port_splits_at_the_last_colon() {
        assert_eq!(split_host_port("127.0.0.1:6379"), Some(("127.0.0.1", 6379)));
        assert_eq!(split_host_port("[::1]:7000"), Some(("[::1]", 7000)));
        assert_eq!(split_host_port("localhost:0"), Some(("localhost", 0)));
        for bad in ["", ":6379", "127.0.0.1", "127.0.0.1:", "h:65536", "h:-1", "h:port"] {
            assert_eq!(split_host_port(bad), None, "{bad:?}");
            assert!(!is_host_port(bad), "{bad:?}");
        }
    }
}
