//! herd: an application-server herd. Named servers accept plain-text TCP clients that report
//! where they are (`IAMAT`) and ask what is near another client (`WHATSAT`), and flood every
//! location update to their neighbours so that any server can answer for any client.
//!
//! See ARCHITECTURE.md for the codemap and the invariants.

pub mod addr;
pub mod backoff;
pub mod bench;
pub mod cli_client;
pub mod config;
pub mod console;
pub mod counters;
pub mod demo;
pub mod digest;
pub mod events;
pub mod frame;
pub mod herd;
pub mod link;
pub mod logging;
pub mod metrics;
pub mod net;
pub mod node;
pub mod notify;
pub mod out;
pub mod outbox;
pub mod owner;
pub mod places;
pub mod protocol;
pub mod ratelog;
pub mod rt;
pub mod signals;
pub mod sim;
pub mod state;
pub mod store;
pub mod sync;
pub mod tls;
pub mod wire;
