//! `herd client HOST:PORT [LINE...]`: a client of the client protocol, as redis-cli is to Redis.
//!
//! It sends each line on one connection and prints each reply exactly as it came (the WHATSAT
//! JSON included). `now` as an IAMAT's time field becomes the current POSIX time, so examples
//! can be repeated. With no lines it reads them from the terminal (line editing and history by
//! rustyline) or, when stdin is not a terminal, from stdin. It refuses nothing: whatever the
//! user types goes to the server, which decides. Errors say what went wrong: refused, timed
//! out, closed. Blocking std sockets: one connection, one reply at a time, no runtime needed.

use std::io::{BufRead, BufReader, ErrorKind, IsTerminal, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::out;
use crate::protocol::is_ws;

/// One connection to a server, answering one line at a time.
pub struct Conn {
    /// Where it is connected (for messages).
    addr: SocketAddr,
    /// The write half.
    stream: TcpStream,
    /// The read half, buffered so replies are read a line at a time.
    reader: BufReader<TcpStream>,
    /// How long a reply may take.
    timeout: Duration,
}

/// Connects to the first address `target` resolves to that accepts, within `timeout` each.
pub fn connect(target: &str, timeout: Duration) -> Result<Conn, String> {
    let addrs: Vec<SocketAddr> = target
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {target:?} as HOST:PORT: {e}"))?
        .collect();
    let mut last = format!("{target:?} resolves to no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(stream) => return Conn::new(addr, stream, timeout),
            Err(e) => last = connect_error(addr, &e, timeout),
        }
    }
    Err(last)
}

fn connect_error(addr: SocketAddr, e: &std::io::Error, timeout: Duration) -> String {
    match e.kind() {
        ErrorKind::ConnectionRefused => {
            format!("connection refused by {addr}: no server listens there")
        }
        ErrorKind::TimedOut | ErrorKind::WouldBlock => {
            format!("timed out connecting to {addr} after {timeout:?}")
        }
        _ => format!("cannot connect to {addr}: {e}"),
    }
}

impl Conn {
    fn new(addr: SocketAddr, stream: TcpStream, timeout: Duration) -> Result<Conn, String> {
        let setup = |s: &TcpStream| -> std::io::Result<TcpStream> {
            s.set_read_timeout(Some(timeout))?;
            s.set_write_timeout(Some(timeout))?;
            s.set_nodelay(true)?;
            s.try_clone()
        };
        let read_half = setup(&stream).map_err(|e| format!("cannot set up {addr}: {e}"))?;
        Ok(Conn {
            addr,
            stream,
            reader: BufReader::new(read_half),
            timeout,
        })
    }

    /// Where it is connected.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sends one line (a newline is added) and returns the whole reply: one line, or for a
    /// WHATSAT answered with an AT line, everything up to and including the empty line.
    pub fn exchange(&mut self, line: &str) -> Result<Vec<u8>, String> {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        if let Err(e) = self.stream.write_all(&bytes) {
            return Err(self.io_error(&e, line));
        }
        let mut reply = Vec::new();
        self.read_line(&mut reply, line)?;
        if first_field(line) == Some("WHATSAT") && reply.starts_with(b"AT ") {
            loop {
                let start = reply.len();
                self.read_line(&mut reply, line)?;
                if reply[start..] == *b"\n" {
                    break;
                }
            }
        }
        Ok(reply)
    }

    /// Appends one line (with its newline) to `buf`; EOF before the newline is an error.
    fn read_line(&mut self, buf: &mut Vec<u8>, sent: &str) -> Result<(), String> {
        match self.reader.read_until(b'\n', buf) {
            Ok(_) if buf.ends_with(b"\n") => Ok(()),
            Ok(_) => Err(format!(
                "{} closed the connection before answering {:?}",
                self.addr,
                shorten(sent)
            )),
            Err(e) => Err(self.io_error(&e, sent)),
        }
    }

    fn io_error(&self, e: &std::io::Error, sent: &str) -> String {
        match e.kind() {
            ErrorKind::WouldBlock | ErrorKind::TimedOut => format!(
                "no reply from {} within {:?} to {:?}",
                self.addr,
                self.timeout,
                shorten(sent)
            ),
            ErrorKind::ConnectionReset | ErrorKind::BrokenPipe => format!(
                "{} closed the connection (reset) while sending {:?}",
                self.addr,
                shorten(sent)
            ),
            _ => format!("{}: {e}", self.addr),
        }
    }
}

/// A long line cut for an error message.
fn shorten(line: &str) -> String {
    match line.char_indices().nth(60) {
        Some((i, _)) => format!("{}...", &line[..i]),
        None => line.to_string(),
    }
}

/// The first field of a line, as the server splits fields.
fn first_field(line: &str) -> Option<&str> {
    line.split(|c: char| c.is_ascii() && is_ws(c as u8))
        .find(|f| !f.is_empty())
}

/// The current POSIX time as clients write it (`1700000000.123456789`).
pub fn now_text(now: SystemTime) -> String {
    let d = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}

/// An IAMAT of exactly four fields whose time is `now` gets the time `now` stands for, the
/// rest of the line byte for byte; every other line is returned unchanged.
pub fn expand_now(line: &str, now: SystemTime) -> String {
    let ws = |c: char| c.is_ascii() && is_ws(c as u8);
    let mut spans = Vec::new();
    let mut start = None;
    for (i, c) in line.char_indices().chain([(line.len(), ' ')]) {
        match (start, ws(c)) {
            (None, false) => start = Some(i),
            (Some(s), true) => {
                spans.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    match spans[..] {
        [(a, b), _, _, (t0, t1)] if &line[a..b] == "IAMAT" && &line[t0..t1] == "now" => {
            format!("{}{}{}", &line[..t0], now_text(now), &line[t1..])
        }
        _ => line.to_string(),
    }
}

/// Lines given on the command line: each argument is one line, or several if it holds newlines.
pub fn split_args(args: &[String]) -> Vec<String> {
    args.iter()
        .flat_map(|a| a.split('\n').map(str::to_string))
        .collect()
}

/// `herd client`: sends `lines` (or reads them interactively when there are none) to `target`.
pub fn run(target: &str, lines: &[String], timeout: Duration) -> Result<(), String> {
    if !lines.is_empty() {
        let mut conn = connect(target, timeout)?;
        for line in split_args(lines) {
            let reply = conn.exchange(&expand_now(&line, SystemTime::now()))?;
            out::print_bytes(&reply)?;
        }
        return Ok(());
    }
    if std::io::stdin().is_terminal() {
        interactive(target, timeout)
    } else {
        let mut conn = connect(target, timeout)?;
        for line in std::io::stdin().lock().lines() {
            let line = line.map_err(|e| format!("cannot read stdin: {e}"))?;
            let reply = conn.exchange(&expand_now(&line, SystemTime::now()))?;
            out::print_bytes(&reply)?;
        }
        Ok(())
    }
}

/// The prompt loop: line editing and history (kept in `~/.herd_history`); a connection that
/// closes is reported and opened again for the next line.
fn interactive(target: &str, timeout: Duration) -> Result<(), String> {
    use rustyline::error::ReadlineError;
    let mut conn = Some(connect(target, timeout)?);
    let mut editor =
        rustyline::DefaultEditor::new().map_err(|e| format!("cannot set up the terminal: {e}"))?;
    let history =
        std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".herd_history"));
    if let Some(h) = &history {
        // A missing history file is the normal first run.
        let _ = editor.load_history(h);
    }
    eprintln!(
        "connected to {target}. Try: IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 now\n\
         or WHATSAT kiwi.cs.ucla.edu 10 5. Ctrl-D quits."
    );
    let prompt = format!("{target}> ");
    loop {
        let line = match editor.readline(&prompt) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(format!("cannot read the terminal: {e}")),
        };
        if line.trim().is_empty() {
            continue;
        }
        let _ = editor.add_history_entry(line.as_str());
        // After a failure the connection is gone: the next line opens a new one.
        let mut c = match conn.take().map_or_else(|| connect(target, timeout), Ok) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("herd client: {e}");
                continue;
            }
        };
        match c.exchange(&expand_now(&line, SystemTime::now())) {
            Ok(reply) => {
                out::print_bytes(&reply)?;
                conn = Some(c);
            }
            Err(e) => eprintln!("herd client: {e}"),
        }
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, nanos)
    }

    #[test]
    fn now_in_an_iamat_time_field_is_the_current_time() {
        let t = at(1_700_000_000, 5);
        let check = |input: &str, want: &str| assert_eq!(expand_now(input, t), want, "{input:?}");
        check(
            "IAMAT kiwi +34-118 now",
            "IAMAT kiwi +34-118 1700000000.000000005",
        );
        check(
            "  IAMAT\tkiwi  +34-118 now\r",
            "  IAMAT\tkiwi  +34-118 1700000000.000000005\r",
        );
        // Anything else goes as it is: the server decides what is valid.
        check("IAMAT kiwi +34-118 1.5", "IAMAT kiwi +34-118 1.5");
        check("IAMAT now +34-118 1", "IAMAT now +34-118 1");
        check("IAMAT kiwi now", "IAMAT kiwi now");
        check(
            "IAMAT kiwi +34-118 now extra",
            "IAMAT kiwi +34-118 now extra",
        );
        check("iamat kiwi +34-118 now", "iamat kiwi +34-118 now");
        check("WHATSAT kiwi 10 now", "WHATSAT kiwi 10 now");
        check("", "");
        check(
            "IAMAT é +34-118 now",
            "IAMAT é +34-118 1700000000.000000005",
        );
    }

    #[test]
    fn arguments_with_newlines_are_several_lines() {
        let args = vec!["IAMAT a +1+1 1\nWHATSAT a 1 1".to_string(), String::new()];
        assert_eq!(split_args(&args), ["IAMAT a +1+1 1", "WHATSAT a 1 1", ""]);
    }

    #[test]
    fn first_field_uses_the_protocol_white_space() {
        assert_eq!(first_field("\x0bWHATSAT\x0ca 1 1"), Some("WHATSAT"));
        assert_eq!(first_field("   "), None);
    }
}
