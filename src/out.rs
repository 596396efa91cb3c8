//! What the command line prints on stdout, without panicking when the reader goes away.
//!
//! `println!` panics when stdout is a pipe whose reader has exited (`herd check | head -c 400`).
//! Commands print through [`print`] instead: a closed pipe ends the process quietly with
//! status 0, as `head` and `grep -q` expect of the command before them.

use std::io::{ErrorKind, Write};

/// Writes `text` to stdout and flushes it. A reader that went away (EPIPE) ends the process
/// with status 0; any other failure is returned as a message.
pub fn print(text: &str) -> Result<(), String> {
    print_bytes(text.as_bytes())
}

/// [`print`] for bytes as they came (a server's reply), unchanged.
pub fn print_bytes(bytes: &[u8]) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(format!("cannot write to stdout: {e}")),
    }
}
