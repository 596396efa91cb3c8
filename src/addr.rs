//! Where a neighbour's peer port is, as its config says: an IP address, or a host name that is
//! resolved again at every dial (so a neighbour that moves under the same name, like a
//! rescheduled pod, is found again). Pure: parsing and printing only; resolving is `rt`'s.

use std::fmt;
use std::net::SocketAddr;

use rustls_pki_types::DnsName;

/// A neighbour's peer address: `IP:port` or `host:port`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PeerAddr {
    /// A literal address, dialed as it is.
    Ip(SocketAddr),
    /// A host name, resolved at every dial.
    Name {
        /// The host name, e.g. `clark` or `herd-3.herd.default.svc.cluster.local`.
        host: String,
        /// The peer port.
        port: u16,
    },
}

impl PeerAddr {
    /// Parses `IP:port`, `[IPv6]:port` or `host:port`; the error says what is wrong.
    pub fn parse(text: &str) -> Result<PeerAddr, String> {
        if let Ok(a) = text.parse::<SocketAddr>() {
            return Ok(PeerAddr::Ip(a));
        }
        let Some((host, port)) = text.rsplit_once(':') else {
            return Err(format!("{text:?} is not host:port (the port is missing)"));
        };
        let port: u16 = port
            .parse()
            .map_err(|_| format!("{text:?} is not host:port ({port:?} is not a port)"))?;
        if port == 0 {
            return Err(format!("{text:?}: port 0 cannot be dialed"));
        }
        if DnsName::try_from(host).is_err() || host.contains(':') {
            return Err(format!(
                "{text:?} is not host:port ({host:?} is not a host name or IP)"
            ));
        }
        Ok(PeerAddr::Name {
            host: host.to_string(),
            port,
        })
    }

    /// The literal address, when it is one.
    pub fn ip(&self) -> Option<SocketAddr> {
        match self {
            PeerAddr::Ip(a) => Some(*a),
            PeerAddr::Name { .. } => None,
        }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        match self {
            PeerAddr::Ip(a) => a.port(),
            PeerAddr::Name { port, .. } => *port,
        }
    }
}

impl fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerAddr::Ip(a) => write!(f, "{a}"),
            PeerAddr::Name { host, port } => write!(f, "{host}:{port}"),
        }
    }
}

impl From<SocketAddr> for PeerAddr {
    fn from(a: SocketAddr) -> Self {
        PeerAddr::Ip(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: &str) {
        match PeerAddr::parse(text) {
            Ok(a) => assert_eq!(format!("ok {a} {}", a.ip().is_some()), expected, "{text}"),
            Err(e) => assert_eq!(e, expected, "{text}"),
        }
    }

    #[test]
    fn addresses_and_host_names_parse_and_print_back() {
        check("10.0.0.1:20003", "ok 10.0.0.1:20003 true");
        check("[::1]:20003", "ok [::1]:20003 true");
        check("clark:20003", "ok clark:20003 false");
        check(
            "herd-3.herd.default.svc.cluster.local:20000",
            "ok herd-3.herd.default.svc.cluster.local:20000 false",
        );
        check("localhost:7", "ok localhost:7 false");
    }

    #[test]
    fn bad_addresses_say_what_is_wrong() {
        check("clark", "\"clark\" is not host:port (the port is missing)");
        check(
            "clark:http",
            "\"clark:http\" is not host:port (\"http\" is not a port)",
        );
        check("clark:0", "\"clark:0\": port 0 cannot be dialed");
        check(
            "cl ark:1",
            "\"cl ark:1\" is not host:port (\"cl ark\" is not a host name or IP)",
        );
        check(
            "::1:20003",
            "\"::1:20003\" is not host:port (\"::1\" is not a host name or IP)",
        );
        check(
            ":5",
            "\":5\" is not host:port (\"\" is not a host name or IP)",
        );
    }
}
