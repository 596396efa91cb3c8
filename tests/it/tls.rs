//! TLS on links, with certificates made at test time: a good herd links and floods; a server
//! refuses to start on a bad file and says which file and why; a neighbour from another CA,
//! with an expired certificate or with another server's name is refused and the reason
//! logged (an impostor made of rustls plays the neighbour, since a real server would not even
//! start with such a certificate); a plaintext neighbour is refused when TLS is on.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_rustls::rustls::{
    self, ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection,
    StreamOwned,
};
use herd::config::TlsConfig;
use herd::tls::LinkTls;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::certs::{self, Ca, Leaf, Validity};
use crate::procs::{free_ports, path_str, spawn_herd, wait_listening};
use crate::support::*;

fn tls_config(dir: &Path) -> TlsConfig {
    let d = dir.display();
    TlsConfig {
        cert: format!("{d}/{{name}}.crt"),
        key: format!("{d}/{{name}}.key"),
        ca: format!("{d}/ca.crt"),
    }
}

#[test]
fn a_herd_with_tls_on_its_links_links_and_floods() {
    let dir = tempfile::tempdir().unwrap();
    certs::good_herd(
        dir.path(),
        &["Bailey", "Bona", "Campbell", "Clark", "Jaquez"],
    );
    let mut cfg = fast_config();
    cfg.tls = Some(tls_config(dir.path()));
    let h = TestHerd::start(cfg);
    let at = talk_str(h.addr("Clark"), "IAMAT tls.client +34-118 1700000000.5\n");
    assert!(at.starts_with("AT Clark "), "{at}");
    for n in h.h().names() {
        h.wait_holds(&n, "tls.client", at.trim_end());
    }
}

#[test]
fn a_bad_tls_file_is_an_error_naming_the_file_and_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = certs::good_herd(d, &["Bona", "Clark"]);
    let cfg = tls_config(d);
    let file = |n: &str| d.join(n).display().to_string();
    let load = |name: &str| {
        LinkTls::load(&cfg, name)
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    assert_eq!(load("Clark"), Ok(()));
    assert_eq!(
        load("Campbell"),
        Err(format!(
            "{}: tls.cert: cannot read: No such file or directory (os error 2)",
            file("Campbell.crt")
        ))
    );
    let replace = |n: &str, text: &str| std::fs::write(d.join(n), text).unwrap();
    let restore = |n: &str| certs::write(d, n, &ca.leaf(n, Validity::Good), &ca);

    replace("Clark.crt", "not a certificate\n");
    assert_eq!(
        load("Clark"),
        Err(format!(
            "{}: tls.cert: bad PEM: no certificate in it (-----BEGIN CERTIFICATE-----)",
            file("Clark.crt")
        ))
    );
    restore("Clark");
    replace(
        "Clark.key",
        "-----BEGIN PRIVATE KEY-----\nnot base64!\n-----END PRIVATE KEY-----\n",
    );
    let e = load("Clark").unwrap_err();
    assert!(
        e.starts_with(&format!("{}: tls.key: bad PEM: ", file("Clark.key"))),
        "{e}"
    );

    // Bona's key beside Clark's certificate.
    restore("Clark");
    let bona_key = std::fs::read_to_string(d.join("Bona.key")).unwrap();
    replace("Clark.key", &bona_key);
    assert_eq!(
        load("Clark"),
        Err(format!(
            "{}: tls.key: is not the key of the certificate in {}",
            file("Clark.key"),
            file("Clark.crt")
        ))
    );

    certs::write(d, "Clark", &ca.leaf("Clark", Validity::Expired), &ca);
    let e = load("Clark").unwrap_err();
    assert!(
        e.starts_with(&format!(
            "{}: tls.cert: certificate expired: ",
            file("Clark.crt")
        )),
        "{e}"
    );

    // Bona's certificate and key in Clark's files: the wrong name.
    let bona = ca.leaf("Bona", Validity::Good);
    certs::write(d, "Clark", &bona, &ca);
    let e = load("Clark").unwrap_err();
    assert!(
        e.starts_with(&format!(
            "{}: tls.cert: certificate not valid for name \"Clark\"",
            file("Clark.crt")
        )),
        "{e}"
    );

    let other = Ca::new("another CA");
    std::fs::write(
        d.join("Clark.crt"),
        other.leaf("Clark", Validity::Good).cert,
    )
    .unwrap();
    let e = load("Clark").unwrap_err();
    assert_eq!(
        e,
        format!(
            "{}: tls.cert: not signed by the herd's CA (tls.ca {})",
            file("Clark.crt"),
            file("ca.crt")
        )
    );
}

/// Two servers, Bona and Clark, on free loopback ports; Bona owns the link (it redials).
fn pair_ron(ports: &[u16], tls: &str) -> String {
    format!(
        "(servers: [(name: \"Bona\", listen: \"127.0.0.1:{}\", peer_listen: Some(\"127.0.0.1:{}\")), \
         (name: \"Clark\", listen: \"127.0.0.1:{}\", peer_listen: Some(\"127.0.0.1:{}\"))], \
         links: [(\"Bona\", \"Clark\")], places: (provider: Offline), \
         timings: (heartbeat_ms: 50, peer_timeout_ms: 500, backoff_initial_ms: 10, backoff_max_ms: 100, \
         connect_timeout_ms: 500, handshake_timeout_ms: 1000), {tls})",
        ports[0], ports[1], ports[2], ports[3]
    )
}

/// Servers as processes, killed when dropped.
struct Procs(Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn run(dir: &Path, cfg: &str, name: &str) -> Child {
    let logs = dir.join("logs");
    let args = [
        "run",
        name,
        "--config",
        cfg,
        "--log-dir",
        path_str(&logs),
        "--no-data",
    ];
    spawn_herd(&args, None, &[])
}

fn wait_log(dir: &Path, name: &str, texts: &[&str]) {
    let path = dir.join("logs").join(format!("{name}.log"));
    wait_until(&format!("{name} logs a line with {texts:?}"), || {
        std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .any(|l| texts.iter().all(|t| l.contains(t)))
    });
}

fn log_of(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join("logs").join(format!("{name}.log"))).unwrap_or_default()
}

#[test]
fn a_plaintext_neighbour_is_refused_when_tls_is_on() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    certs::good_herd(&d.join("tls"), &["Bona", "Clark"]);
    let ports = free_ports(4);
    let with_tls = d.join("tls.ron");
    let plain = d.join("plain.ron");
    std::fs::write(
        &with_tls,
        pair_ron(&ports, &certs::tls_section(&d.join("tls"))),
    )
    .unwrap();
    std::fs::write(&plain, pair_ron(&ports, "")).unwrap();
    let mut procs = Procs(vec![run(d, path_str(&with_tls), "Clark")]);
    wait_listening(SocketAddr::from(([127, 0, 0, 1], ports[2])));
    // Bona, without TLS, owns the link and keeps dialing.
    procs.0.push(run(d, path_str(&plain), "Bona"));
    wait_log(
        d,
        "Clark",
        &[
            "refused neighbour connection from 127.0.0.1:",
            "a plaintext link: this server has tls configured, so links must use TLS",
        ],
    );
    assert!(!log_of(d, "Clark").contains("link to Bona up"));
    assert!(!log_of(d, "Bona").contains("link to Clark up"));
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn chain_and_key(leaf: &Leaf) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let chain = CertificateDer::pem_slice_iter(leaf.cert.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    (
        chain,
        PrivateKeyDer::from_pem_slice(leaf.key.as_bytes()).unwrap(),
    )
}

fn roots(ca: &Ca) -> RootCertStore {
    let mut r = RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca.pem.as_bytes()) {
        r.add(c.unwrap()).unwrap();
    }
    r
}

/// A TLS server for the impostor: presents `leaf`, asks for no client certificate.
fn impostor_server(leaf: &Leaf) -> Arc<ServerConfig> {
    let (chain, key) = chain_and_key(leaf);
    Arc::new(
        ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap(),
    )
}

/// Dials `addr` as a neighbour presenting `leaf` (trusting `ca`), and says HELLO as `from`.
fn impostor_dial(addr: SocketAddr, leaf: &Leaf, ca: &Ca, from: &str) {
    let (chain, key) = chain_and_key(leaf);
    let cfg = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots(ca))
        .with_client_auth_cert(chain, key)
        .unwrap();
    let Ok(tcp) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return;
    };
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(3)));
    let name = ServerName::try_from("Bona").unwrap();
    let conn = ClientConnection::new(Arc::new(cfg), name).unwrap();
    let mut s = StreamOwned::new(conn, tcp);
    let hello = format!(
        "HERD/1 HELLO {from} Bona 0000000000000001 {}\n",
        "0".repeat(32)
    );
    let _ = s.write_all(hello.as_bytes()).and_then(|()| s.flush());
    let _ = s.read_to_end(&mut Vec::new());
}

#[test]
fn neighbours_with_bad_certificates_are_refused_with_the_reason_logged() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = certs::good_herd(&d.join("tls"), &["Bona"]);
    let other = Ca::new("another CA");
    let ports = free_ports(4);
    let cfg = d.join("herd.ron");
    std::fs::write(&cfg, pair_ron(&ports, &certs::tls_section(&d.join("tls")))).unwrap();

    // The impostor plays Clark: it listens where Bona dials Clark...
    let listener = TcpListener::bind(("127.0.0.1", ports[3])).unwrap();
    listener.set_nonblocking(true).unwrap();
    let presented = Arc::new(Mutex::new(impostor_server(
        &ca.leaf("Clark", Validity::Expired),
    )));
    let done = Arc::new(AtomicBool::new(false));
    let server = {
        let (presented, done) = (presented.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                let Ok((tcp, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let _ = tcp.set_nonblocking(false);
                let _ = tcp.set_read_timeout(Some(Duration::from_secs(2)));
                let cfg = presented.lock().unwrap().clone();
                let mut s = StreamOwned::new(ServerConnection::new(cfg).unwrap(), tcp);
                let _ = s.read(&mut [0u8; 64]);
            }
        })
    };
    let _bona = Procs(vec![run(d, path_str(&cfg), "Bona")]);
    let failed = "TLS handshake with Clark failed: invalid peer certificate: ";
    wait_log(d, "Bona", &[failed, "certificate expired"]);
    *presented.lock().unwrap() = impostor_server(&ca.leaf("Jaquez", Validity::Good));
    wait_log(
        d,
        "Bona",
        &[failed, "certificate not valid for name \"Clark\""],
    );
    *presented.lock().unwrap() = impostor_server(&other.leaf("Clark", Validity::Good));
    wait_log(d, "Bona", &[failed, "UnknownIssuer"]);
    done.store(true, Ordering::Relaxed);
    server.join().unwrap();

    // ...and dials Bona.
    let bona = SocketAddr::from(([127, 0, 0, 1], ports[1]));
    let refused = "refused neighbour connection from 127.0.0.1:";
    let handshake = "TLS handshake failed: invalid peer certificate: ";
    impostor_dial(bona, &ca.leaf("Clark", Validity::Expired), &ca, "Clark");
    wait_log(d, "Bona", &[refused, handshake, "certificate expired"]);
    impostor_dial(bona, &other.leaf("Clark", Validity::Good), &ca, "Clark");
    wait_log(d, "Bona", &[refused, handshake, "UnknownIssuer"]);
    impostor_dial(bona, &ca.leaf("Jaquez", Validity::Good), &ca, "Clark");
    wait_log(
        d,
        "Bona",
        &[
            refused,
            "it says HELLO as Clark but its certificate: invalid peer certificate: certificate not valid for name \"Clark\"",
        ],
    );
    assert!(!log_of(d, "Bona").contains("link to Clark up"));
}

#[test]
fn herd_run_refuses_to_start_on_an_expired_certificate_and_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let tls = d.join("tls");
    let ca = certs::good_herd(&tls, &["Bona"]);
    certs::write(&tls, "Clark", &ca.leaf("Clark", Validity::Expired), &ca);
    let cfg = d.join("herd.ron");
    std::fs::write(&cfg, pair_ron(&free_ports(4), &certs::tls_section(&tls))).unwrap();
    let out = std::process::Command::new(crate::procs::BIN)
        .args(["run", "Clark", "--config", path_str(&cfg), "--no-data"])
        .args(["--log-dir", path_str(&d.join("logs"))])
        .env_remove("HERD_SECRET")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let expected = format!(
        "herd: error: Clark cannot start: {}: tls.cert: certificate expired: ",
        tls.join("Clark.crt").display()
    );
    assert!(err.starts_with(&expected), "{err}");
}
