//! The herd's configuration: RON types, their defaults, and validation with precise errors.
//!
//! A config names the servers (name and listen address), the links between them (symmetric
//! pairs), and optional sections for places, logs, timings, limits and the herd secret. Every
//! optional field has a documented default, so a config can be as short as the server list and
//! the links. Errors name the file, the field and what is wrong.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::addr::PeerAddr;

/// The 2023 classic herd, embedded so `herd` runs on a fresh machine with no files around it.
pub const EMBEDDED_DEFAULT: &str = include_str!("../config/herd.ron");

/// The whole herd: who exists, who talks to whom, and how everyone behaves.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The servers of the herd; each name is unique and each has its own listen address.
    pub servers: Vec<ServerConfig>,
    /// Symmetric pairs of server names: `("Clark", "Jaquez")` means both are neighbours.
    pub links: Vec<(String, String)>,
    /// Where WHATSAT finds places.
    #[serde(default)]
    pub places: PlacesConfig,
    /// Where and how much each server logs.
    #[serde(default)]
    pub log: LogConfig,
    /// Heartbeats, back-off and deadlines, in milliseconds.
    #[serde(default)]
    pub timings: Timings,
    /// Bounds that keep memory and file descriptors in check.
    #[serde(default)]
    pub limits: Limits,
    /// Durability: where accepted updates are logged, and when they reach the disk.
    #[serde(default)]
    pub store: StoreConfig,
    /// The shared herd secret that authenticates peer links. Prefer the `HERD_SECRET`
    /// environment variable, which overrides this; it is never logged.
    #[serde(default)]
    pub secret: Option<String>,
    /// TLS on links: each server's certificate and key, and the herd's CA. Default none:
    /// links are plain TCP (still authenticated by the secret).
    #[serde(default)]
    pub tls: Option<TlsConfig>,
}

/// TLS on links (mutual): every server presents a certificate signed by the herd's CA and
/// checks its neighbour's, whose name must be the neighbour's server name. `{name}` in a
/// path is replaced by the server's name, so one config serves every server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The server's certificate (PEM, the chain up to the CA), e.g. `"/etc/herd/tls/{name}.crt"`.
    pub cert: String,
    /// The server's private key (PEM: PKCS#8, PKCS#1 or SEC1), e.g. `"/etc/herd/tls/{name}.key"`.
    pub key: String,
    /// The herd's CA certificate(s) (PEM), which every neighbour's certificate must chain to.
    pub ca: String,
}

impl TlsConfig {
    /// The certificate, key and CA paths of server `name` (`{name}` replaced).
    pub fn paths(&self, name: &str) -> [(&'static str, PathBuf); 3] {
        let p = |t: &str| PathBuf::from(t.replace("{name}", name));
        [
            ("tls.cert", p(&self.cert)),
            ("tls.key", p(&self.key)),
            ("tls.ca", p(&self.ca)),
        ]
    }
}

/// One server of the herd.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// The server's name, as it appears in AT replies (`AT Clark ...`).
    pub name: String,
    /// The TCP address it listens on for clients, e.g. `"127.0.0.1:10003"`.
    pub listen: String,
    /// The TCP address it listens on for neighbour links. Default: the client port + 10000
    /// on the same IP (as Redis Cluster's bus port), so `lsof -ti:<client port>` names this
    /// server alone.
    #[serde(default)]
    pub peer_listen: Option<String>,
    /// How neighbours reach the peer port: `host:port` (a host name, resolved at every dial)
    /// or `IP:port`. Default: `peer_listen` when that is a concrete IP; required when
    /// `peer_listen` binds every interface (`0.0.0.0`, `[::]`) and the server has neighbours.
    #[serde(default)]
    pub peer_address: Option<String>,
    /// Where `herd run` serves Prometheus metrics (`GET /metrics`), e.g. `"127.0.0.1:9103"`;
    /// `herd run --metrics ADDR` overrides it. Default none: no metrics listener.
    #[serde(default)]
    pub metrics_listen: Option<String>,
}

/// How far above the client port the default peer port is.
pub const PEER_PORT_OFFSET: u16 = 10_000;

/// The shortest herd secret accepted: anyone who can reach a peer port gets a MAC keyed by the
/// secret, so a short one could be guessed offline.
pub const MIN_SECRET_LEN: usize = 32;

/// Which Places provider answers WHATSAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum Provider {
    /// Google legacy Nearby Search when `GOOGLE_PLACES_API_KEY` is set, else the offline table.
    #[default]
    Auto,
    /// The embedded GeoNames table (or `data_file`): no key, no network.
    Offline,
    /// Google Places Nearby Search (legacy), `GET .../nearbysearch/json`.
    GoogleLegacy,
    /// Google Places API (New), `POST .../v1/places:searchNearby`.
    GoogleNew,
}

/// Places settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlacesConfig {
    /// The provider; default `Auto`.
    pub provider: Provider,
    /// Base URL of the Google service (default Google's own; `HERD_PLACES_URL` overrides).
    pub url: Option<String>,
    /// A larger GeoNames table for the offline provider, loaded at start-up.
    pub data_file: Option<PathBuf>,
    /// Deadline for one lookup; past it the client gets a reply with a non-OK status. Default 5000.
    pub timeout_ms: u64,
    /// Lookups in flight at once per server; more wait their turn. Default 32.
    pub max_concurrent: usize,
    /// Cache entries kept for remote providers. Default 10000; 0 turns the cache off.
    pub cache_entries: usize,
    /// How long a cached answer stays fresh. Default 300000 (5 minutes).
    pub cache_ttl_ms: u64,
    /// Grid for cache keys: centres are rounded to this many decimal degrees. Default 0.001.
    pub cache_grid_deg: f64,
}

impl Default for PlacesConfig {
    fn default() -> Self {
        PlacesConfig {
            provider: Provider::Auto,
            url: None,
            data_file: None,
            timeout_ms: 5000,
            max_concurrent: 32,
            cache_entries: 10_000,
            cache_ttl_ms: 300_000,
            cache_grid_deg: 0.001,
        }
    }
}

/// Log settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// Folder of the per-server log files (`<dir>/<Name>.log`), created when missing. Default `logs`.
    pub dir: PathBuf,
    /// One of `error`, `warn`, `info`, `debug`, `trace`, `off`. Default `info`, which logs every
    /// client line in and out, every link change and every flood.
    pub level: String,
    /// A log file that reaches this size is rotated (`<Name>.log` -> `<Name>.log.1` -> ...).
    /// Default 67108864 (64 MiB); 0 never rotates (for an external logrotate: SIGHUP reopens).
    pub max_bytes: u64,
    /// Rotated files kept besides the live one (`<Name>.log.1` .. `<Name>.log.<keep>`); the
    /// oldest goes. Default 5.
    pub keep: usize,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            dir: PathBuf::from("logs"),
            level: "info".into(),
            max_bytes: 64 * 1024 * 1024,
            keep: 5,
        }
    }
}

/// Timings, all in milliseconds, so tests can run a herd in milliseconds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timings {
    /// A neighbour link sends a PING this often. Default 500.
    pub heartbeat_ms: u64,
    /// A link that hears nothing for this long is dropped. Default 2000.
    pub peer_timeout_ms: u64,
    /// Each link sends a summary of its table this often, so whatever a lost connection kept
    /// from a neighbour reaches it anyway (only differing buckets travel). Default 30000.
    pub resync_ms: u64,
    /// A link that stays down this long is logged as a warning (before that, a neighbour that
    /// is not up yet is "waiting for"). Default 10000.
    pub link_down_warn_ms: u64,
    /// First back-off step after a failed dial (the first retry after a drop is immediate). Default 50.
    pub backoff_initial_ms: u64,
    /// Cap of the exponential back-off. Default 1000, so a restarted neighbour is linked within a second.
    pub backoff_max_ms: u64,
    /// Deadline for a TCP connect to a neighbour. Default 1000.
    pub connect_timeout_ms: u64,
    /// Deadline for the link handshake. Default 2000.
    pub handshake_timeout_ms: u64,
    /// A client connection idle this long is closed. Default 300000 (5 minutes).
    pub client_idle_ms: u64,
    /// A client line must be complete (newline) within this long of its first byte; a client
    /// trickling bytes slower (slowloris) is cut. Default 10000.
    pub line_timeout_ms: u64,
    /// A write to a client or neighbour that takes longer is abandoned and the connection cut. Default 5000.
    pub write_timeout_ms: u64,
    /// How long shutdown waits for replies under way. Default 5000.
    pub shutdown_grace_ms: u64,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            heartbeat_ms: 500,
            peer_timeout_ms: 2000,
            resync_ms: 30_000,
            link_down_warn_ms: 10_000,
            backoff_initial_ms: 50,
            backoff_max_ms: 1000,
            connect_timeout_ms: 1000,
            handshake_timeout_ms: 2000,
            client_idle_ms: 300_000,
            line_timeout_ms: 10_000,
            write_timeout_ms: 5000,
            shutdown_grace_ms: 5000,
        }
    }
}

impl Timings {
    /// Milliseconds to a Duration.
    pub fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }
}

/// Limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Longest line accepted from a client or neighbour, terminator excluded. Default 8192.
    pub max_line: usize,
    /// Client connections at once; past it a new client is closed at once (logged). Default 10000.
    pub max_connections: usize,
    /// Clients kept in the location table; an IAMAT for a new client past it gets `? `. Default 1000000.
    pub max_clients: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line: 8192,
            max_connections: 10_000,
            max_clients: 1_000_000,
        }
    }
}

/// When appended updates are forced to the disk (fsync).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum Fsync {
    /// After every update, before the IAMAT reply is written: nothing acknowledged is lost even
    /// if the machine loses power, at the price of one disk flush per update.
    Always,
    /// Once a second: a crash of the process loses nothing (the data is in the OS), a crash of
    /// the machine loses at most the last second. The default.
    #[default]
    EverySecond,
    /// Never explicitly (the OS writes back when it likes; at shutdown too). A crash of the
    /// process loses nothing; a crash of the machine may lose tens of seconds.
    Never,
}

/// Durability settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// The data folder (`<dir>/<Name>.wal` and `<dir>/<Name>.snap`), created when missing.
    /// Default `None`, which `herd run` reads as [`DEFAULT_DATA_DIR`] (durable by default;
    /// `--no-data` runs without, `--data-dir DIR` overrides). In-process herds (the demo,
    /// tests, the bench) keep data only when this is set.
    pub dir: Option<PathBuf>,
    /// When appends reach the disk. Default `EverySecond`.
    pub fsync: Fsync,
    /// The log is compacted into a snapshot when it holds this many times as many records as
    /// the table has clients (and at least 1024). Default 4; at least 2.
    pub compact_factor: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            dir: None,
            fsync: Fsync::EverySecond,
            compact_factor: 4,
        }
    }
}

/// The data folder `herd run` uses when neither the config nor `--data-dir` names one.
pub const DEFAULT_DATA_DIR: &str = "herd-data";

/// Longest server name: it goes into AT replies and file names (`<Name>.log`, `<Name>.wal`,
/// `<Name>.snap.tmp`), so it must stay far below a file system's 255-byte name limit.
pub const MAX_NAME_LEN: usize = 64;

/// Largest `limits.max_line`: a line is buffered whole, per connection, so this bounds memory.
pub const MAX_LINE_LIMIT: usize = 1 << 20;

/// A config that cannot be used: the file and every problem found in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file it came from (`<embedded ...>` for the built-in default).
    pub file: String,
    /// Each problem as (field, reason): the field path, e.g. `links[2]`, or `line 4, column 7`
    /// for a parse error; never empty.
    pub problems: Vec<(String, String)>,
}

impl fmt::Display for ConfigError {
    /// One line per problem: `file: field: reason`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (field, message)) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}: {field}: {message}", self.file)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            problems: vec![("file".into(), format!("cannot read: {e}"))],
        })?;
        Config::parse(&text, &file)
    }

    /// The embedded 2023 herd.
    pub fn embedded() -> Result<Config, ConfigError> {
        Config::parse(EMBEDDED_DEFAULT, "<embedded config/herd.ron>")
    }

    /// Parses and validates RON text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        // `Some(..)` may be left out: `tls: (cert: ..)` reads as `tls: Some((cert: ..))`.
        let options = ron::Options::default()
            .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME);
        let cfg: Config = options.from_str(text).map_err(|e| ConfigError {
            file: file.into(),
            problems: vec![(
                format!("line {}, column {}", e.span.start.line, e.span.start.col),
                e.code.to_string(),
            )],
        })?;
        let problems = cfg.validate();
        if problems.is_empty() {
            Ok(cfg)
        } else {
            Err(ConfigError {
                file: file.into(),
                problems,
            })
        }
    }

    /// Every problem of a parsed config, as (field, reason), in field order; empty when the
    /// config is usable. A check that finds a problem records it and goes on.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut errs: Vec<(String, String)> = Vec::new();
        let mut err = |field: &str, message: String| errs.push((field.to_string(), message));
        if self.servers.is_empty() {
            err("servers", "at least one server is needed".into());
        }
        let mut names = HashSet::new();
        let mut addrs = HashSet::new();
        for (i, s) in self.servers.iter().enumerate() {
            let field = format!("servers[{i}]");
            if s.name.is_empty() || s.name.bytes().any(|b| !b.is_ascii_graphic()) {
                err(
                    &format!("{field}.name"),
                    format!(
                        "{:?} is not a valid name (printable ASCII, no spaces)",
                        s.name
                    ),
                );
            } else if s.name.len() > MAX_NAME_LEN {
                err(
                    &format!("{field}.name"),
                    format!(
                        "a name of {} characters is too long (at most {MAX_NAME_LEN}: it names the log file)",
                        s.name.len()
                    ),
                );
            } else if s.name.contains('/') {
                err(
                    &format!("{field}.name"),
                    format!("{:?} contains '/', which cannot be in a file name", s.name),
                );
            } else if s.name.contains(',') {
                err(
                    &format!("{field}.name"),
                    format!("{:?} contains ',', which separates names on links", s.name),
                );
            }
            if !names.insert(s.name.as_str()) {
                err(
                    &format!("{field}.name"),
                    format!("duplicate server name {:?}", s.name),
                );
            }
            // A peer address derived from a bad or duplicate client address would only
            // repeat that problem.
            let mut derived_ok = s.peer_listen.is_some();
            match s.listen.parse::<SocketAddr>() {
                Err(_) => err(
                    &format!("{field}.listen"),
                    format!("{:?} is not an IP:port address", s.listen),
                ),
                // `0.0.0.0:p` on two servers is fine: they run on different hosts.
                Ok(addr)
                    if addr.port() != 0 && !addr.ip().is_unspecified() && !addrs.insert(addr) =>
                {
                    err(
                        &format!("{field}.listen"),
                        format!("duplicate address {addr} (also used by this or another server)"),
                    )
                }
                Ok(_) => derived_ok = true,
            }
            match peer_listen(s) {
                _ if !derived_ok => {}
                Err(m) => err(&format!("{field}.peer_listen"), m),
                Ok(peer)
                    if peer.port() != 0 && !peer.ip().is_unspecified() && !addrs.insert(peer) =>
                {
                    err(
                        &format!("{field}.peer_listen"),
                        format!("duplicate address {peer} (also used by this or another server)"),
                    )
                }
                Ok(_) => {}
            }
            if let (Ok(addr), Ok(peer)) = (s.listen.parse::<SocketAddr>(), peer_listen(s)) {
                let overlap = addr.ip() == peer.ip()
                    || addr.ip().is_unspecified()
                    || peer.ip().is_unspecified();
                if addr.port() != 0 && addr.port() == peer.port() && overlap && addr != peer {
                    err(
                        &format!("{field}.peer_listen"),
                        format!("{peer} takes the client port of {addr} (listen)"),
                    );
                }
            }
        }
        let mut pairs = HashSet::new();
        for (i, (a, b)) in self.links.iter().enumerate() {
            let field = format!("links[{i}]");
            let unknown: Vec<&String> = [a, b]
                .into_iter()
                .filter(|n| !names.contains(n.as_str()))
                .collect();
            if let Some(n) = unknown.first() {
                err(&field, format!("unknown server {n:?}"));
            } else if a == b {
                err(&field, format!("{a:?} cannot link to itself"));
            } else if !pairs.insert(if a < b { (a, b) } else { (b, a) }) {
                err(&field, format!("duplicate link {a:?}-{b:?}"));
            }
        }
        if log::LevelFilter::from_str_opt(&self.log.level).is_none() {
            err(
                "log.level",
                format!(
                    "{:?} is not one of off, error, warn, info, debug, trace",
                    self.log.level
                ),
            );
        }
        let t = &self.timings;
        for (name, v) in [
            ("timings.heartbeat_ms", t.heartbeat_ms),
            ("timings.peer_timeout_ms", t.peer_timeout_ms),
            ("timings.link_down_warn_ms", t.link_down_warn_ms),
            ("timings.resync_ms", t.resync_ms),
            ("timings.backoff_initial_ms", t.backoff_initial_ms),
            ("timings.backoff_max_ms", t.backoff_max_ms),
            ("timings.connect_timeout_ms", t.connect_timeout_ms),
            ("timings.handshake_timeout_ms", t.handshake_timeout_ms),
            ("timings.client_idle_ms", t.client_idle_ms),
            ("timings.line_timeout_ms", t.line_timeout_ms),
            ("timings.write_timeout_ms", t.write_timeout_ms),
        ] {
            if v == 0 {
                err(name, "must be greater than 0".into());
            }
        }
        if t.heartbeat_ms > 0 && t.peer_timeout_ms > 0 && t.peer_timeout_ms <= t.heartbeat_ms {
            err(
                "timings.peer_timeout_ms",
                "must be greater than timings.heartbeat_ms".into(),
            );
        }
        if !(64..=MAX_LINE_LIMIT).contains(&self.limits.max_line) {
            err(
                "limits.max_line",
                format!(
                    "{} is outside 64..={MAX_LINE_LIMIT} (a line is buffered whole, so this bounds memory)",
                    self.limits.max_line
                ),
            );
        }
        if self.limits.max_connections == 0 {
            err("limits.max_connections", "must be greater than 0".into());
        }
        if self.limits.max_clients == 0 {
            err("limits.max_clients", "must be greater than 0".into());
        }
        if let Some(Err(m)) = self.secret.as_deref().map(check_secret) {
            err("secret", m);
        }
        if self.store.compact_factor < 2 {
            err("store.compact_factor", "must be at least 2".into());
        }
        if self.places.max_concurrent == 0 {
            err("places.max_concurrent", "must be greater than 0".into());
        }
        if !(self.places.cache_grid_deg > 0.0 && self.places.cache_grid_deg <= 1.0) {
            err("places.cache_grid_deg", "must be in (0, 1]".into());
        }
        self.validate_ops(&mut err);
        self.validate_hosts(&mut err);
        errs
    }

    /// Across hosts: every server with neighbours can be dialed (`peer_address`), no two at
    /// the same address, and with TLS every server name can be a certificate's name.
    fn validate_hosts(&self, err: &mut impl FnMut(&str, String)) {
        let mut seen = HashSet::new();
        for (i, s) in self.servers.iter().enumerate() {
            let field = format!("servers[{i}].peer_address");
            // A derived address is peer_listen, whose problems were reported where it was
            // checked: only an explicit one is checked here.
            let explicit = s.peer_address.is_some();
            match peer_address(s) {
                Err(m) if explicit => err(&field, m),
                Err(_) => {}
                Ok(Some(a)) if explicit && a.port() != 0 && !seen.insert(a.clone()) => err(
                    &field,
                    format!("duplicate peer address {a} (also another server's)"),
                ),
                Ok(Some(a)) => {
                    seen.insert(a);
                }
                Ok(None) if !self.neighbours(&s.name).is_empty() => {
                    // A bad peer_listen was reported where it was checked.
                    if let Ok(bound) = peer_listen(s) {
                        err(
                            &field,
                            format!(
                                "required: peer_listen {bound} binds every interface, so neighbours need the host name or IP to dial (e.g. \"{}.example.net:{}\")",
                                s.name.to_lowercase(),
                                bound.port()
                            ),
                        );
                    }
                }
                Ok(None) => {}
            }
        }
        if let Some(tls) = &self.tls {
            for (what, path) in [
                ("tls.cert", &tls.cert),
                ("tls.key", &tls.key),
                ("tls.ca", &tls.ca),
            ] {
                if path.trim().is_empty() {
                    err(what, "must name a file".into());
                }
            }
            for (i, s) in self.servers.iter().enumerate() {
                if rustls_pki_types::DnsName::try_from(s.name.as_str()).is_err() {
                    err(
                        &format!("servers[{i}].name"),
                        format!("{:?} cannot be a certificate's name, which TLS needs (letters, digits, '-' and '.')", s.name),
                    );
                }
            }
        }
    }

    /// The operator's settings: metrics addresses and log rotation.
    fn validate_ops(&self, err: &mut impl FnMut(&str, String)) {
        let mut taken: HashSet<SocketAddr> = self
            .servers
            .iter()
            .flat_map(|s| [s.listen.parse().ok(), peer_listen(s).ok()])
            .flatten()
            .filter(|a: &SocketAddr| a.port() != 0)
            .collect();
        for (i, s) in self.servers.iter().enumerate() {
            let Some(m) = &s.metrics_listen else { continue };
            let field = format!("servers[{i}].metrics_listen");
            match m.parse::<SocketAddr>() {
                Err(_) => err(&field, format!("{m:?} is not an IP:port address")),
                Ok(addr) if addr.port() != 0 && !taken.insert(addr) => err(
                    &field,
                    format!("duplicate address {addr} (also used by another listener)"),
                ),
                Ok(_) => {}
            }
        }
        if self.log.max_bytes != 0 && self.log.max_bytes < 4096 {
            err(
                "log.max_bytes",
                "must be 0 (never rotate) or at least 4096".into(),
            );
        }
        if self.log.keep == 0 || self.log.keep > 1000 {
            err("log.keep", "must be within 1..=1000".into());
        }
    }

    /// Shortest hop counts between every pair of servers over the links (breadth-first);
    /// a pair missing from the map is not connected. `(a, a)` is 0.
    pub fn hop_counts(&self) -> HashMap<(String, String), usize> {
        let mut out = HashMap::new();
        for s in &self.servers {
            let mut seen = HashMap::from([(s.name.clone(), 0usize)]);
            let mut queue = VecDeque::from([s.name.clone()]);
            while let Some(n) = queue.pop_front() {
                let d = seen[&n];
                for m in self.neighbours(&n) {
                    if !seen.contains_key(&m) {
                        seen.insert(m.clone(), d + 1);
                        queue.push_back(m);
                    }
                }
            }
            out.extend(seen.into_iter().map(|(to, d)| ((s.name.clone(), to), d)));
        }
        out
    }

    /// The server called `name`.
    pub fn server(&self, name: &str) -> Option<&ServerConfig> {
        self.servers.iter().find(|s| s.name == name)
    }

    /// The client address of `name` (validated at load).
    pub fn addr(&self, name: &str) -> Option<SocketAddr> {
        self.server(name).and_then(|s| s.listen.parse().ok())
    }

    /// The address `name` binds for neighbours: `peer_listen`, or the client port + 10000
    /// (validated at load).
    pub fn peer_addr(&self, name: &str) -> Option<SocketAddr> {
        self.server(name).and_then(|s| peer_listen(s).ok())
    }

    /// How neighbours reach `name`'s peer port: `peer_address`, or `peer_listen` when that is a
    /// concrete IP (validated at load; `None` for a server without neighbours that binds every
    /// interface).
    pub fn peer_address(&self, name: &str) -> Option<PeerAddr> {
        self.server(name)
            .and_then(|s| peer_address(s).ok().flatten())
    }

    /// The neighbours of `name`, in config order.
    pub fn neighbours(&self, name: &str) -> Vec<String> {
        let mut out = Vec::new();
        for (a, b) in &self.links {
            if a == name {
                out.push(b.clone());
            } else if b == name {
                out.push(a.clone());
            }
        }
        out
    }

    /// The longest line a neighbour link carries: enough for the largest update a client of
    /// this herd can cause (see [`crate::wire::max_frame`]).
    pub fn link_max_frame(&self) -> usize {
        let longest_name = self.servers.iter().map(|s| s.name.len()).max().unwrap_or(0);
        crate::wire::max_frame(self.limits.max_line, longest_name)
    }

    /// The log level (validated at load).
    pub fn log_level(&self) -> log::LevelFilter {
        log::LevelFilter::from_str_opt(&self.log.level).unwrap_or(log::LevelFilter::Info)
    }

    /// The herd secret: `HERD_SECRET` if set and non-empty, else the file `HERD_SECRET_FILE`
    /// names, else the config's; `Ok(None)` when there is none (links then come from loopback
    /// only), an error when it is too short or the file cannot be read.
    pub fn effective_secret(&self) -> Result<Option<String>, ConfigError> {
        let secret = match std::env::var("HERD_SECRET") {
            Ok(s) if !s.is_empty() => {
                check_secret(&s).map_err(|message| ConfigError {
                    file: "environment".into(),
                    problems: vec![("HERD_SECRET".into(), message)],
                })?;
                Some(s)
            }
            _ => match std::env::var_os("HERD_SECRET_FILE").filter(|p| !p.is_empty()) {
                Some(path) => Some(read_secret_file(Path::new(&path))?),
                None => self.secret.clone().filter(|s| !s.is_empty()),
            },
        };
        Ok(secret)
    }
}

/// A server's peer address: `peer_listen` when given, else its client port + 10000.
fn peer_listen(s: &ServerConfig) -> Result<SocketAddr, String> {
    if let Some(p) = &s.peer_listen {
        return p
            .parse()
            .map_err(|_| format!("{p:?} is not an IP:port address"));
    }
    let client: SocketAddr = s
        .listen
        .parse()
        .map_err(|_| format!("{:?} is not an IP:port address", s.listen))?;
    if client.port() == 0 {
        // Ephemeral client port: the peer port is ephemeral too.
        return Ok(client);
    }
    match client.port().checked_add(PEER_PORT_OFFSET) {
        Some(port) => Ok(SocketAddr::new(client.ip(), port)),
        None => Err(format!(
            "the default peer port ({} + {PEER_PORT_OFFSET}) passes 65535; set peer_listen",
            client.port()
        )),
    }
}

/// How neighbours reach a server: `peer_address`, else `peer_listen` when it is a concrete IP.
fn peer_address(s: &ServerConfig) -> Result<Option<PeerAddr>, String> {
    if let Some(text) = &s.peer_address {
        return PeerAddr::parse(text).map(Some);
    }
    let bound = peer_listen(s)?;
    Ok((!bound.ip().is_unspecified()).then_some(PeerAddr::Ip(bound)))
}

/// The herd secret from a file (`HERD_SECRET_FILE`, as container secrets and systemd
/// credentials provide it), without its trailing newline.
fn read_secret_file(path: &Path) -> Result<String, ConfigError> {
    let error = |message: String| ConfigError {
        file: path.display().to_string(),
        problems: vec![("HERD_SECRET_FILE".into(), message)],
    };
    let text = std::fs::read_to_string(path).map_err(|e| error(format!("cannot read: {e}")))?;
    let secret = text.trim_end_matches(['\n', '\r']).to_string();
    if secret.is_empty() {
        return Err(error("is empty: it should hold the herd secret".into()));
    }
    check_secret(&secret).map_err(error)?;
    Ok(secret)
}

/// An empty secret means none; any other must be long enough not to be guessed offline.
fn check_secret(secret: &str) -> Result<(), String> {
    if !secret.is_empty() && secret.len() < MIN_SECRET_LEN {
        return Err(format!(
            "too short ({} bytes): a herd secret needs at least {MIN_SECRET_LEN} bytes (`herd secret` prints a fresh one)",
            secret.len()
        ));
    }
    Ok(())
}

/// Parsing a level name without pulling FromStr errors through the code.
trait LevelExt: Sized {
    fn from_str_opt(s: &str) -> Option<Self>;
}

impl LevelExt for log::LevelFilter {
    fn from_str_opt(s: &str) -> Option<Self> {
        s.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: &str) {
        match Config::parse(text, "t.ron") {
            Ok(_) => assert_eq!("ok", expected, "config {text}"),
            Err(e) => assert_eq!(e.to_string(), expected, "config {text}"),
        }
    }

    const TWO: &str =
        r#"servers: [(name: "A", listen: "127.0.0.1:1"), (name: "B", listen: "127.0.0.1:2")]"#;

    #[test]
    fn validation_names_file_field_and_reason() {
        check(&format!("({TWO}, links: [(\"A\", \"B\")])"), "ok");
        check(
            &format!("({TWO}, links: [(\"A\", \"C\")])"),
            "t.ron: links[0]: unknown server \"C\"",
        );
        check(
            &format!("({TWO}, links: [(\"A\", \"A\")])"),
            "t.ron: links[0]: \"A\" cannot link to itself",
        );
        check(
            &format!("({TWO}, links: [(\"A\", \"B\"), (\"B\", \"A\")])"),
            "t.ron: links[1]: duplicate link \"B\"-\"A\"",
        );
        check(
            r#"(servers: [(name: "A", listen: "127.0.0.1:1"), (name: "B", listen: "127.0.0.1:1")], links: [])"#,
            "t.ron: servers[1].listen: duplicate address 127.0.0.1:1 (also used by this or another server)",
        );
        check(
            r#"(servers: [(name: "A", listen: "127.0.0.1:1"), (name: "A", listen: "127.0.0.1:2")], links: [])"#,
            "t.ron: servers[1].name: duplicate server name \"A\"",
        );
        check(
            r#"(servers: [(name: "A", listen: "localhost")], links: [])"#,
            "t.ron: servers[0].listen: \"localhost\" is not an IP:port address",
        );
        check(
            &format!("({TWO}, links: [], log: (level: \"loud\"))"),
            "t.ron: log.level: \"loud\" is not one of off, error, warn, info, debug, trace",
        );
        check(
            &format!("({TWO}, links: [], timings: (heartbeat_ms: 0))"),
            "t.ron: timings.heartbeat_ms: must be greater than 0",
        );
        check(
            &format!("({TWO}, links: [], store: (dir: Some(\"data\"), fsync: Always, compact_factor: 1))"),
            "t.ron: store.compact_factor: must be at least 2",
        );
        check(
            &format!("({TWO}, links: [], store: (dir: Some(\"data\"), fsync: Never))"),
            "ok",
        );
        check(
            "(servers: [], links: [])",
            "t.ron: servers: at least one server is needed",
        );
        check(
            &format!("({TWO}, links: [], secret: Some(\"short\"))"),
            "t.ron: secret: too short (5 bytes): a herd secret needs at least 32 bytes (`herd secret` prints a fresh one)",
        );
        check(
            &format!("({TWO}, links: [], secret: Some(\"{}\"))", "s".repeat(32)),
            "ok",
        );
    }

    #[test]
    fn peer_addresses_default_to_the_client_port_plus_10000_and_never_collide() {
        let cfg = Config::parse(&format!("({TWO}, links: [])"), "t.ron").unwrap();
        assert_eq!(cfg.peer_addr("A"), Some("127.0.0.1:10001".parse().unwrap()));
        check(
            r#"(servers: [(name: "A", listen: "127.0.0.1:60000")], links: [])"#,
            "t.ron: servers[0].peer_listen: the default peer port (60000 + 10000) passes 65535; set peer_listen",
        );
        check(
            r#"(servers: [(name: "A", listen: "127.0.0.1:60000", peer_listen: Some("127.0.0.1:7000"))], links: [])"#,
            "ok",
        );
        // B's client port is A's default peer port.
        check(
            r#"(servers: [(name: "A", listen: "127.0.0.1:1"), (name: "B", listen: "127.0.0.1:10001")], links: [])"#,
            "t.ron: servers[1].listen: duplicate address 127.0.0.1:10001 (also used by this or another server)",
        );
        // A peer port equal to the server's own client port.
        check(
            r#"(servers: [(name: "A", listen: "127.0.0.1:5", peer_listen: Some("127.0.0.1:5"))], links: [])"#,
            "t.ron: servers[0].peer_listen: duplicate address 127.0.0.1:5 (also used by this or another server)",
        );
        check(
            r#"(servers: [(name: "A", listen: "127.0.0.1:5", peer_listen: Some("nowhere"))], links: [])"#,
            "t.ron: servers[0].peer_listen: \"nowhere\" is not an IP:port address",
        );
        let embedded = Config::embedded().unwrap();
        assert_eq!(embedded.peer_addr("Clark").unwrap().port(), 20003);
    }

    #[test]
    fn metrics_addresses_and_log_rotation_are_checked() {
        let with_metrics = |m: &str| {
            format!(
                r#"(servers: [(name: "A", listen: "127.0.0.1:1", metrics_listen: Some("{m}"))], links: [])"#
            )
        };
        check(&with_metrics("127.0.0.1:9103"), "ok");
        check(
            &with_metrics("127.0.0.1:1"),
            "t.ron: servers[0].metrics_listen: duplicate address 127.0.0.1:1 (also used by another listener)",
        );
        check(
            &with_metrics("nine"),
            "t.ron: servers[0].metrics_listen: \"nine\" is not an IP:port address",
        );
        check(
            &format!("({TWO}, links: [], log: (max_bytes: 100))"),
            "t.ron: log.max_bytes: must be 0 (never rotate) or at least 4096",
        );
        check(
            &format!("({TWO}, links: [], log: (max_bytes: 0, keep: 0))"),
            "t.ron: log.keep: must be within 1..=1000",
        );
    }

    #[test]
    fn parse_errors_carry_line_and_column() {
        let err = Config::parse("(\n  servers: [],\n  linkz: [],\n)", "bad.ron").unwrap_err();
        assert_eq!(err.file, "bad.ron");
        let [(field, message)] = &err.problems[..] else {
            panic!("one parse error: {err}");
        };
        assert!(field.starts_with("line 3, column"), "{err}");
        assert!(message.contains("linkz"), "{err}");
    }

    #[test]
    fn every_problem_is_reported_not_only_the_first() {
        let long = "N".repeat(MAX_NAME_LEN + 1);
        let text = format!(
            r#"(servers: [(name: "{long}", listen: "127.0.0.1:1"), (name: "a/b", listen: "nowhere")],
               links: [("A", "B"), ("a/b", "a/b")], limits: (max_line: 18446744073709551615),
               timings: (heartbeat_ms: 0))"#
        );
        let err = Config::parse(&text, "t.ron").unwrap_err();
        let fields: Vec<&str> = err.problems.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "servers[0].name",
                "servers[1].name",
                "servers[1].listen",
                "links[0]",
                "links[1]",
                "timings.heartbeat_ms",
                "limits.max_line"
            ],
            "{err}"
        );
        let text = err.to_string();
        assert_eq!(text.lines().count(), 7, "{text}");
        assert!(text.lines().all(|l| l.starts_with("t.ron: ")), "{text}");
        assert!(
            text.contains("65 characters is too long (at most 64"),
            "{text}"
        );
        assert!(text.contains("\"a/b\" contains '/'"), "{text}");
        assert!(
            text.contains("18446744073709551615 is outside 64..=1048576"),
            "{text}"
        );
    }

    #[test]
    fn max_line_is_bounded_both_ways() {
        for (v, ok) in [
            (63, false),
            (64, true),
            (MAX_LINE_LIMIT, true),
            (MAX_LINE_LIMIT + 1, false),
        ] {
            let text = format!("({TWO}, links: [], limits: (max_line: {v}))");
            assert_eq!(Config::parse(&text, "t.ron").is_ok(), ok, "max_line {v}");
        }
    }

    #[test]
    fn hop_counts_follow_the_links() {
        let cfg = Config::embedded().unwrap();
        let h = cfg.hop_counts();
        let d = |a: &str, b: &str| h[&(a.to_string(), b.to_string())];
        assert_eq!(d("Clark", "Clark"), 0);
        assert_eq!(d("Clark", "Bona"), 1);
        assert_eq!(d("Clark", "Jaquez"), 1);
        assert_eq!(d("Clark", "Bailey"), 2);
        assert_eq!(d("Clark", "Campbell"), 2);
        assert_eq!(d("Bailey", "Jaquez"), 2);
        assert_eq!(h.len(), 25, "every pair of the connected herd");
        let split = Config::parse(&format!("({TWO}, links: [])"), "t.ron").unwrap();
        assert_eq!(split.hop_counts().get(&("A".into(), "B".into())), None);
    }

    #[test]
    fn embedded_default_is_the_2023_herd() {
        let cfg = Config::embedded().unwrap();
        let names: Vec<_> = cfg.servers.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["Bailey", "Bona", "Campbell", "Clark", "Jaquez"]);
        assert_eq!(cfg.addr("Clark").unwrap().port(), 10003);
        assert_eq!(cfg.neighbours("Clark"), ["Jaquez", "Bona"]);
        assert_eq!(cfg.neighbours("Campbell"), ["Bailey", "Bona", "Jaquez"]);
    }

    #[test]
    fn every_shipped_config_is_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "ron") {
                let cfg = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(cfg.servers.len(), 5, "{}", path.display());
                assert_eq!(cfg.links.len(), 6, "{}", path.display());
                n += 1;
            }
        }
        assert_eq!(n, 5, "the five classic herds");
    }
}
