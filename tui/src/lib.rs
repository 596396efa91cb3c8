//! `herd-tui`: the operator console of a herd of IAMAT/WHATSAT servers.
//!
//! The console renders snapshots of one server or of a whole local herd and
//! sends back only explicit [`OperatorCommand`]s. It knows nothing of sockets
//! nor of the server crate: the server implements [`Backend`] and fills the
//! [`model`] types from its own state. It names no async runtime: the caller
//! supplies the tick stream that paces [`run`].
//!
//! Layout: [`model`] (plain data), [`Backend`] (the seam), [`app`] (state and
//! pure update functions, testable without a terminal), [`ui`] (pure drawing),
//! [`run()`] (the loop, owning the terminal through a restoring guard).

#![warn(missing_docs)]

pub mod app;
mod backend;
pub mod model;
mod run;
mod terminal;
pub mod testing;
pub mod ui;

pub use app::{Action, App};
pub use backend::Backend;
pub use model::{
    ClientRow, ConnKind, ConnSnapshot, ConsoleOptions, FlowDir, FlowItem, FlowKind, HerdSnapshot,
    LinkSnapshot, LinkState, OperatorCommand, PeerSnapshot, ServerSnapshot,
};
pub use run::run;
