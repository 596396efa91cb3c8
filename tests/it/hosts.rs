//! Bind and dial addresses across hosts: `listen` and `peer_listen` are what a server binds
//! (`0.0.0.0` allowed), `peer_address` is how its neighbours reach it (a host name, resolved
//! at every dial). Resolution through the network is in `netns.rs`; here names resolve through
//! this machine's `/etc/hosts` (`localhost`), so nothing leaves the loopback.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use herd::addr::PeerAddr;
use herd::config::Config;
use herd::net::{self, ServerSpec};
use herd::rt;

use crate::procs::free_ports;
use crate::support::*;

fn check(text: &str, expected: &str) {
    match Config::parse(text, "h.ron") {
        Ok(_) => assert_eq!("ok", expected, "{text}"),
        Err(e) => assert_eq!(e.to_string(), expected, "{text}"),
    }
}

fn two(a: &str, b: &str, links: &str) -> String {
    format!("(servers: [(name: \"A\", {a}), (name: \"B\", {b})], links: [{links}])")
}

#[test]
fn servers_bind_any_address_and_are_dialed_at_their_peer_address() {
    let any = "listen: \"0.0.0.0:10000\", peer_listen: \"0.0.0.0:20000\"";
    let ab = "(\"A\", \"B\")";
    // Every server on its own host, each on the same ports: fine.
    let ok = two(
        &format!("{any}, peer_address: \"a.herd:20000\""),
        &format!("{any}, peer_address: \"b.herd:20000\""),
        ab,
    );
    check(&ok, "ok");
    let cfg = Config::parse(&ok, "h.ron").unwrap();
    assert_eq!(
        cfg.peer_address("A"),
        Some(PeerAddr::Name {
            host: "a.herd".into(),
            port: 20000
        })
    );
    assert_eq!(cfg.peer_addr("A"), Some("0.0.0.0:20000".parse().unwrap()));
    check(
        &two(any, &format!("{any}, peer_address: \"b.herd:20000\""), ab),
        "h.ron: servers[0].peer_address: required: peer_listen 0.0.0.0:20000 binds every interface, so neighbours need the host name or IP to dial (e.g. \"a.example.net:20000\")",
    );
    // The default peer port on an unspecified client address is unspecified too.
    check(
        &two("listen: \"[::]:10000\"", "listen: \"127.0.0.1:10001\"", ab),
        "h.ron: servers[0].peer_address: required: peer_listen [::]:20000 binds every interface, so neighbours need the host name or IP to dial (e.g. \"a.example.net:20000\")",
    );
    // Without neighbours nobody dials it.
    check(&two(any, any, ""), "ok");
    // A concrete peer_listen is the default peer_address.
    let cfg = Config::parse(
        &two(
            "listen: \"10.0.0.1:10000\"",
            "listen: \"10.0.0.2:10000\"",
            ab,
        ),
        "h.ron",
    )
    .unwrap();
    assert_eq!(
        cfg.peer_address("B"),
        Some(PeerAddr::Ip("10.0.0.2:20000".parse().unwrap()))
    );
    check(
        &two(
            "listen: \"0.0.0.0:10000\", peer_listen: \"127.0.0.1:10000\"",
            "listen: \"127.0.0.1:1\"",
            "",
        ),
        "h.ron: servers[0].peer_listen: 127.0.0.1:10000 takes the client port of 0.0.0.0:10000 (listen)",
    );
    check(
        &two(
            &format!("{any}, peer_address: \"a b:1\""),
            "listen: \"127.0.0.1:1\"",
            "",
        ),
        "h.ron: servers[0].peer_address: \"a b:1\" is not host:port (\"a b\" is not a host name or IP)",
    );
    check(
        &two(
            &format!("{any}, peer_address: \"same:20000\""),
            &format!("{any}, peer_address: \"same:20000\""),
            ab,
        ),
        "h.ron: servers[1].peer_address: duplicate peer address same:20000 (also another server's)",
    );
    check(
        &two("listen: \"localhost:10000\"", "listen: \"127.0.0.1:1\"", ""),
        "h.ron: servers[0].listen: \"localhost:10000\" is not an IP:port address",
    );
}

#[test]
fn a_tls_section_needs_files_and_server_names_a_certificate_can_carry() {
    let tls = "tls: (cert: \"c/{name}.crt\", key: \"c/{name}.key\", ca: \"c/ca.crt\")";
    check(
        &format!("(servers: [(name: \"A\", listen: \"127.0.0.1:1\")], links: [], {tls})"),
        "ok",
    );
    // `Some(..)` is accepted too.
    check(
        "(servers: [(name: \"A\", listen: \"127.0.0.1:1\")], links: [], tls: Some((cert: \"a\", key: \"b\", ca: \"c\")))",
        "ok",
    );
    check(
        &format!("(servers: [(name: \"A!\", listen: \"127.0.0.1:1\")], links: [], {tls})"),
        "h.ron: servers[0].name: \"A!\" cannot be a certificate's name, which TLS needs (letters, digits, '-' and '.')",
    );
    check(
        "(servers: [(name: \"A\", listen: \"127.0.0.1:1\")], links: [], tls: (cert: \"\", key: \"b\", ca: \"c\"))",
        "h.ron: tls.cert: must name a file",
    );
}

#[test]
fn neighbours_named_by_host_names_are_resolved_when_dialed() {
    let p = free_ports(4);
    let text = format!(
        "(servers: [\
         (name: \"Bona\", listen: \"127.0.0.1:{}\", peer_listen: \"127.0.0.1:{}\", peer_address: \"localhost:{}\"), \
         (name: \"Clark\", listen: \"127.0.0.1:{}\", peer_listen: \"127.0.0.1:{}\", peer_address: \"localhost:{}\")], \
         links: [(\"Bona\", \"Clark\")], places: (provider: Offline), \
         timings: (heartbeat_ms: 50, peer_timeout_ms: 400, backoff_initial_ms: 10, backoff_max_ms: 100))",
        p[0], p[1], p[1], p[2], p[3], p[3]
    );
    let cfg = Arc::new(Config::parse(&text, "h.ron").unwrap());
    let handles: Vec<_> = ["Bona", "Clark"]
        .iter()
        .map(|n| {
            let spec = ServerSpec {
                name: n.to_string(),
                config: cfg.clone(),
                neighbour_addrs: HashMap::new(),
                places: offline_places(),
            };
            let (client, peer) = (cfg.addr(n).unwrap(), cfg.peer_addr(n).unwrap());
            rt::block_on(net::start(spec, client, peer)).expect("starts")
        })
        .collect();
    let servers: Vec<_> = handles.iter().map(|h| h.server.clone()).collect();
    wait_until("the link is up on both sides", || {
        servers.iter().all(|s| s.peers.iter().all(|p| p.is_up()))
    });
    assert_eq!(
        servers[0].peers[0].addr.to_string(),
        format!("localhost:{}", p[3])
    );
    let clark = SocketAddr::from(([127, 0, 0, 1], p[2]));
    let at = talk_str(clark, "IAMAT named +1+1 1700000000\n");
    wait_until("Bona holds the update", || {
        servers[0]
            .lookup(b"named")
            .is_some_and(|u| &*u.at == at.trim_end().as_bytes())
    });
    for h in handles {
        rt::block_on(h.shutdown());
    }
}
