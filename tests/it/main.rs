//! The one integration-test crate: in-process herds on ephemeral loopback ports, the real
//! binary as processes, a loopback HTTP server standing in for Google, and tmux.

mod bench;
mod binary;
mod catchup;
mod client;
mod console;
mod diskfull;
mod durability;
mod faults;
mod herd;
mod netns;
mod ops;
mod places;
mod ports;
mod procs;
mod props;
mod sim;
mod support;
