//! The one integration-test crate: in-process herds on ephemeral loopback ports, the real
//! binary as processes, a loopback HTTP server standing in for Google, and tmux.

mod bench;
mod binary;
mod catchup;
mod cli;
mod client;
mod console;
mod durability;
mod faults;
mod herd;
mod netns;
mod places;
mod procs;
mod props;
mod support;
