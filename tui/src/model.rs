//! Plain data the console renders: snapshots of a server or a whole herd,
//! flow items, and the operator commands it can send back.
//!
//! Nothing here knows about sockets, clocks or the server crate: the server
//! side fills these types from its own state (see [`crate::Backend`]).

use std::fmt;
use std::time::{Duration, SystemTime};

/// Everything the console shows at one instant: one server, or a whole local herd.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HerdSnapshot {
    /// The servers, in the order the operator should see them.
    pub servers: Vec<ServerSnapshot>,
    /// The configured neighbour links (each undirected link once).
    pub links: Vec<LinkSnapshot>,
}

/// One undirected link between two servers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkSnapshot {
    /// Name of one end.
    pub a: String,
    /// Name of the other end.
    pub b: String,
    /// Current state of the link.
    pub state: LinkState,
    /// Updates sent across, both directions, cumulative (drives the pulse on the map).
    pub flows: u64,
}

/// State of a link between two servers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LinkState {
    /// Connected and exchanging heartbeats.
    Up,
    /// Dialling, or handshaking.
    Connecting,
    /// Not connected (neighbour unreachable or stopped); reconnect keeps trying.
    Down,
    /// Cut by the operator; stays down until restored.
    Cut,
}

impl LinkState {
    /// Short lowercase label used in tables and on the map.
    pub fn label(self) -> &'static str {
        match self {
            LinkState::Up => "up",
            LinkState::Connecting => "connecting",
            LinkState::Down => "down",
            LinkState::Cut => "cut",
        }
    }
}

impl fmt::Display for LinkState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// One server as seen at one instant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerSnapshot {
    /// Server name (e.g. `Clark`).
    pub name: String,
    /// Listen address, as text.
    pub listen: String,
    /// False when the server is stopped (demo herds can stop and start servers).
    pub running: bool,
    /// True for a neighbour seen only through a link of the console's own server (it runs in
    /// another process): its uptime, counters and tables are unknown here, and `running` only
    /// says that its link is up.
    pub remote: bool,
    /// Time since the server started.
    pub uptime: Duration,
    /// Number of clients in its location table.
    pub clients_known: usize,
    /// Lines read from all connections, cumulative.
    pub lines_in: u64,
    /// Lines written to all connections, cumulative.
    pub lines_out: u64,
    /// Bytes read, cumulative.
    pub bytes_in: u64,
    /// Bytes written, cumulative.
    pub bytes_out: u64,
    /// Flood messages sent to neighbours, cumulative.
    pub floods_sent: u64,
    /// Flood messages received from neighbours, cumulative.
    pub floods_received: u64,
    /// Flood messages received but ignored (not newer than the table), cumulative.
    pub floods_ignored: u64,
    /// Open connections (clients and peers).
    pub connections: Vec<ConnSnapshot>,
    /// Configured neighbours, whatever their state.
    pub peers: Vec<PeerSnapshot>,
    /// The location table.
    pub clients: Vec<ClientRow>,
    /// Current log level (`error`, `warn`, `info`, `debug` or `trace`).
    pub log_level: String,
}

/// Kind of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConnKind {
    /// A client speaking IAMAT / WHATSAT.
    Client,
    /// A neighbour server.
    Peer,
}

impl ConnKind {
    /// Short lowercase label.
    pub fn label(self) -> &'static str {
        match self {
            ConnKind::Client => "client",
            ConnKind::Peer => "peer",
        }
    }
}

/// One open connection of a server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnSnapshot {
    /// Connection id, unique within its server (the handle for `DropConnection`).
    pub id: u64,
    /// Remote address, as text.
    pub addr: String,
    /// Client or neighbour.
    pub kind: ConnKind,
    /// Time since the connection was accepted or dialled.
    pub age: Duration,
    /// Time since the last line in either direction.
    pub idle: Duration,
    /// Lines read, cumulative.
    pub lines_in: u64,
    /// Lines written, cumulative.
    pub lines_out: u64,
    /// Bytes read, cumulative.
    pub bytes_in: u64,
    /// Bytes written, cumulative.
    pub bytes_out: u64,
    /// The last command seen on this connection (e.g. `IAMAT`), empty if none.
    pub last_command: String,
}

/// One configured neighbour of a server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerSnapshot {
    /// Neighbour server name.
    pub name: String,
    /// Link state as seen from this server.
    pub state: LinkState,
    /// Time in this state.
    pub since: Duration,
    /// Last measured round-trip time, if any.
    pub rtt: Option<Duration>,
    /// Time since the last heartbeat from the neighbour, if any.
    pub heartbeat_age: Option<Duration>,
    /// Updates sent to the neighbour, cumulative.
    pub sent: u64,
    /// Updates received from the neighbour, cumulative.
    pub received: u64,
    /// Updates received and ignored (not newer), cumulative.
    pub ignored: u64,
    /// Updates waiting in the outgoing queue.
    pub queue_depth: usize,
    /// Reconnections so far.
    pub reconnects: u64,
    /// The last error on this link, if any.
    pub last_error: Option<String>,
    /// The neighbour's incarnation (changes when it restarts), if known; shown in hex, as the
    /// logs write it.
    pub incarnation: Option<u64>,
}

/// One row of a server's location table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientRow {
    /// Client id as given in IAMAT.
    pub client: String,
    /// Server that first received the update.
    pub origin: String,
    /// Clock difference as printed in AT replies (e.g. `+0.263873386`).
    pub diff: String,
    /// ISO 6709 location as given by the client.
    pub location: String,
    /// Time since the client's timestamp.
    pub age: Duration,
}

/// Direction of a flow item, from the named server's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FlowDir {
    /// Received by the server.
    In,
    /// Sent by the server.
    Out,
}

impl FlowDir {
    /// Arrow shown in the flow feed.
    pub fn arrow(self) -> &'static str {
        match self {
            FlowDir::In => "<-",
            FlowDir::Out => "->",
        }
    }
}

/// Kind of a flow item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FlowKind {
    /// A line from a client.
    Client,
    /// A reply to a client.
    Reply,
    /// A flooded update between servers.
    Flood,
    /// A link event (up, down, handshake, heartbeat failure).
    Link,
}

impl FlowKind {
    /// Short lowercase label.
    pub fn label(self) -> &'static str {
        match self {
            FlowKind::Client => "client",
            FlowKind::Reply => "reply",
            FlowKind::Flood => "flood",
            FlowKind::Link => "link",
        }
    }
}

/// One line of traffic or one link event, for the live flow feed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowItem {
    /// When it happened (wall clock).
    pub at: SystemTime,
    /// The server that saw it.
    pub server: String,
    /// Received or sent.
    pub dir: FlowDir,
    /// What kind of traffic.
    pub kind: FlowKind,
    /// Client address or neighbour name.
    pub peer: String,
    /// The line, or a description of the event.
    pub text: String,
}

/// An explicit operator command: the only way the console changes server state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OperatorCommand {
    /// Close one connection of one server.
    DropConnection {
        /// Server holding the connection.
        server: String,
        /// Connection id (see [`ConnSnapshot::id`]).
        id: u64,
    },
    /// Cut the link between two servers (it stays down until restored).
    CutLink {
        /// One end.
        a: String,
        /// The other end.
        b: String,
    },
    /// Restore a link previously cut.
    RestoreLink {
        /// One end.
        a: String,
        /// The other end.
        b: String,
    },
    /// Change the log level (`error`, `warn`, `info`, `debug`, `trace`).
    SetLogLevel(String),
    /// Stop a server of a demo herd.
    StopServer(String),
    /// Start a stopped server of a demo herd.
    StartServer(String),
}

impl fmt::Display for OperatorCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OperatorCommand::DropConnection { server, id } => {
                write!(f, "drop connection {id} on {server}")
            }
            OperatorCommand::CutLink { a, b } => write!(f, "cut link {a}-{b}"),
            OperatorCommand::RestoreLink { a, b } => write!(f, "restore link {a}-{b}"),
            OperatorCommand::SetLogLevel(level) => write!(f, "set log level {level}"),
            OperatorCommand::StopServer(name) => write!(f, "stop server {name}"),
            OperatorCommand::StartServer(name) => write!(f, "start server {name}"),
        }
    }
}

/// How the console looks and paces itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsoleOptions {
    /// Frames per second the caller's tick stream runs at (sets how long a link pulse lasts).
    pub fps: u32,
    /// Title shown at the left of the tab bar.
    pub title: String,
}

impl Default for ConsoleOptions {
    fn default() -> Self {
        Self {
            fps: 10,
            title: "herd".to_owned(),
        }
    }
}
