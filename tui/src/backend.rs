//! The seam between the console and a server (or a whole demo herd).

use crate::model::{FlowItem, HerdSnapshot, OperatorCommand};

/// What the console needs from the server side.
///
/// The server crate implements this over its own state; the console calls it
/// from its single loop, once per frame for `snapshot` and `drain_flow`, and once
/// per operator command. Implementations must not block for long.
pub trait Backend: Send + Sync + 'static {
    /// The current state; cheap enough to call every frame.
    fn snapshot(&self) -> HerdSnapshot;
    /// Flow items that arrived since the last call, oldest first, at most `max`.
    fn drain_flow(&self, max: usize) -> Vec<FlowItem>;
    /// Carry out an operator command: `Ok(message to show)` or `Err(reason)`.
    fn command(&self, cmd: OperatorCommand) -> Result<String, String>;
    /// True in the whole-herd demo, where servers can be stopped and started.
    fn demo(&self) -> bool;
}
