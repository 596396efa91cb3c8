//! Owning the terminal: raw mode and the alternate screen, restored on every exit path.
//!
//! [`TerminalGuard`] restores the terminal when dropped (normal return, `?`
//! errors, unwinding). A panic hook, installed once and chained to the
//! previous hook, restores it before the panic message is printed, so the
//! message lands on a sane screen. Restoring happens at most once per guard.

use std::io::{self, stdout};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

use crossterm::cursor::{Hide, Show};
use crossterm::execute;
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};

/// True while a guard holds the terminal in raw mode.
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Installs the panic hook once per process.
static HOOK: Once = Once::new();

/// Holds the terminal in raw mode on the alternate screen until dropped.
#[derive(Debug)]
pub struct TerminalGuard {
    /// Private: only [`TerminalGuard::enter`] makes one.
    _private: (),
}

impl TerminalGuard {
    /// Enter raw mode and the alternate screen, and hide the cursor.
    ///
    /// Fails if stdout is not a terminal; anything already changed is undone.
    pub fn enter() -> io::Result<Self> {
        install_panic_hook();
        enable_raw_mode()?;
        ACTIVE.store(true, Ordering::SeqCst);
        let guard = TerminalGuard { _private: () };
        execute!(stdout(), EnterAlternateScreen, Hide)?;
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Leave raw mode and the alternate screen and show the cursor, if a guard holds them.
///
/// Errors are ignored: there is nowhere sane to report them, and the console
/// never prints to the terminal.
fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        // Raw mode first: it has more side effects than the alternate screen.
        let _ = disable_raw_mode();
        let _ = execute!(stdout(), LeaveAlternateScreen, Show);
    }
}

fn install_panic_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}
