//! The one integration-test crate: in-process herds on ephemeral loopback ports, the real
//! binary as processes, a loopback HTTP server standing in for Google, tmux, network
//! namespaces, and certificates made at test time.

mod bench;
mod binary;
mod catchup;
mod certs;
mod cli;
mod client;
mod console;
mod deploy;
mod diskfull;
mod durability;
mod fairness;
mod faults;
mod herd;
mod hosts;
mod netns;
mod notify;
mod ops;
mod places;
mod ports;
mod procs;
mod props;
mod sim;
mod support;
mod tls;
