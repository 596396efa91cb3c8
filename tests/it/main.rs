//! The one integration-test crate: in-process herds on ephemeral loopback ports, the real
//! binary as processes, a loopback HTTP server standing in for Google, and tmux.

mod binary;
mod catchup;
mod client;
mod durability;
mod faults;
mod herd;
mod netns;
mod places;
mod procs;
mod props;
mod support;
