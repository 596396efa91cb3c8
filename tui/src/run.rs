//! The console loop: owns the terminal, reads keys, draws once per tick.

use std::io::{self, stdout};
use std::sync::Arc;
use std::time::Instant;

use crossterm::event::{Event, EventStream};
use futures::future::{self, Either};
use futures::{Stream, StreamExt};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

use crate::app::{Action, App, FLOW_CAPACITY};
use crate::backend::Backend;
use crate::model::ConsoleOptions;
use crate::terminal::TerminalGuard;
use crate::ui;

/// Run the console until `q` or Ctrl-C (or until `ticks` ends), then restore the terminal.
///
/// The caller owns the timers: `ticks` yields once per frame (at `opts.fps`),
/// and each tick reads a snapshot and new flow items from `backend` and
/// redraws. Keys only change state (the next tick draws it), except quit,
/// which returns at once. Commands go to [`Backend::command`] and their result
/// shows in the status line. Nothing is ever printed to the terminal besides
/// the console itself. Fails if stdout is not a terminal.
pub async fn run<B: Backend, T: Stream<Item = ()> + Unpin>(
    backend: Arc<B>,
    mut ticks: T,
    opts: ConsoleOptions,
) -> io::Result<()> {
    let mut app = App::new(&opts, backend.demo());
    // Declared before the terminal, so it is dropped (and restores) after it.
    let _guard = TerminalGuard::enter()?;
    let mut terminal = Terminal::new(CrosstermBackend::new(stdout()))?;
    terminal.clear()?;
    let mut events = EventStream::new();

    refresh(backend.as_ref(), &mut app);
    terminal.draw(|frame| ui::draw(frame, &app))?;
    loop {
        match future::select(ticks.next(), events.next()).await {
            Either::Left((Some(()), _)) => {
                refresh(backend.as_ref(), &mut app);
                // `draw` resizes the buffers first when the terminal size changed.
                terminal.draw(|frame| ui::draw(frame, &app))?;
            }
            Either::Left((None, _)) => return Ok(()),
            Either::Right((Some(Ok(Event::Key(key))), _)) => match app.on_key(key) {
                Action::Quit => return Ok(()),
                Action::Command(cmd) => {
                    let result = backend.command(cmd.clone());
                    app.on_command_result(&cmd, result);
                }
                Action::None => {}
            },
            // Resize is picked up by the next tick's draw; other events are ignored.
            Either::Right((Some(Ok(_)), _)) => {}
            Either::Right((Some(Err(err)), _)) => return Err(err),
            Either::Right((None, _)) => return Ok(()),
        }
    }
}

/// Pull the latest state from the backend into the app.
fn refresh<B: Backend>(backend: &B, app: &mut App) {
    app.on_flow(backend.drain_flow(FLOW_CAPACITY));
    app.on_snapshot(backend.snapshot(), Instant::now());
}
