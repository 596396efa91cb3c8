//! `herd client` as a process against a real server on a fresh loopback port.

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Output, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::support::*;

const BIN: &str = env!("CARGO_BIN_EXE_herd");

/// `herd client [OPTS] ADDR [LINES]`, with `stdin` as its input.
fn client_with(opts: &[&str], addr: SocketAddr, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(BIN)
        .arg("client")
        .args(opts)
        .arg(addr.to_string())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("herd client starts");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).expect("stdin written");
    }
    drop(input);
    child.wait_with_output().expect("herd client ends")
}

fn client(addr: SocketAddr, args: &[&str], stdin: Option<&str>) -> Output {
    client_with(&[], addr, args, stdin)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn the_client_sends_lines_and_prints_replies_as_they_came() {
    let h = TestHerd::start(fast_config());
    let clark = h.addr("Clark");
    let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let out = client(
        clark,
        &[
            "IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 now",
            "WHATSAT kiwi.cs.ucla.edu 10 2",
            "AT is not a command",
        ],
        None,
    );
    let after = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let (at, rest) = stdout.split_once('\n').expect("an AT line");
    // `now` became the current time, and the server's difference is small and exact in form.
    let time = at.rsplit(' ').next().unwrap();
    assert_at(
        &format!("{at}\n"),
        "Clark",
        "kiwi.cs.ucla.edu",
        "+34.068930-118.445127",
        time,
    );
    let secs: f64 = time.parse().unwrap();
    assert!(
        secs >= before.as_secs_f64() - 1.0 && secs <= after.as_secs_f64(),
        "{time}"
    );
    // The WHATSAT reply is byte for byte what a grader-style client gets.
    let whatsat = talk_str(clark, "WHATSAT kiwi.cs.ucla.edu 10 2\n");
    assert!(
        whatsat.starts_with(at) && whatsat.ends_with("}\n\n"),
        "{whatsat}"
    );
    assert_eq!(rest, format!("{whatsat}? AT is not a command\n"));
}

#[test]
fn the_client_reads_lines_from_stdin_when_given_none() {
    let h = TestHerd::start(fast_config());
    let bona = h.addr("Bona");
    let out = client(
        bona,
        &[],
        Some("IAMAT piped +1+1 1700000000\n\nWHATSAT nobody 1 1\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].starts_with("AT Bona ") && lines[0].ends_with(" piped +1+1 1700000000"));
    // Nothing is refused: the empty line goes to the server, which answers it.
    assert_eq!(lines[1], "? ");
    assert_eq!(lines[2], "? WHATSAT nobody 1 1");
}

#[test]
fn client_errors_say_refused_timed_out_or_closed() {
    // Refused: a port nobody listens on.
    let free = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = free.local_addr().unwrap();
    drop(free);
    let out = client(addr, &["IAMAT a +1+1 1"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(&format!("connection refused by {addr}")),
        "{}",
        text(&out.stderr)
    );
    // Timed out: a listener that never answers (the kernel accepts; nobody reads).
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let out = client_with(&["--timeout", "200ms"], addr, &["IAMAT a +1+1 1"], None);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("no reply from {addr} within 200ms")),
        "{err}"
    );
    drop(silent);
    // Closed: a line past the server's limit makes it close the connection.
    let h = TestHerd::start(fast_config());
    let long = "x".repeat(h.h().config.limits.max_line + 10);
    let out = client(h.addr("Clark"), &[&long], None);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("closed the connection"), "{err}");
}
