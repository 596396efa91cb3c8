//! The console over a live herd: the bridge without a terminal, then the real binary in tmux.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use herd_tui::model::{LinkState, OperatorCommand};
use herd_tui::Backend;

use crate::support::*;

#[test]
fn the_bridge_shows_the_live_herd_and_carries_operator_commands() {
    let mut h = TestHerd::start(fast_config());
    let herd = Arc::new(h.herd.take().expect("herd"));
    let bridge = herd::console::herd_backend(herd.clone());
    assert!(bridge.demo());
    talk_str(
        herd.addr("Clark").unwrap(),
        "IAMAT seen +34.068930-118.445127 1700000000\n",
    );
    // Counters move after the write returns, which can be after the neighbour applied it.
    wait_until(
        "every server shows the client, and Clark counted its floods",
        || {
            let snap = bridge.snapshot();
            snap.servers.iter().all(|s| {
                s.clients
                    .iter()
                    .any(|c| c.client == "seen" && c.origin == "Clark")
            }) && snap
                .servers
                .iter()
                .any(|s| s.name == "Clark" && s.floods_sent >= 2)
        },
    );
    let snap = bridge.snapshot();
    assert_eq!(snap.servers.len(), 5);
    assert_eq!(snap.links.len(), 6);
    assert!(
        snap.links.iter().all(|l| l.state == LinkState::Up),
        "{:?}",
        snap.links
    );
    let clark = snap.servers.iter().find(|s| s.name == "Clark").unwrap();
    assert!(
        clark.running && clark.lines_in >= 1 && clark.floods_sent >= 2,
        "{clark:?}"
    );
    assert_eq!(clark.peers.len(), 2);
    // The flow feed carries the client's line, the reply and the floods.
    // Subscriptions start at the first drain; traffic after it shows in the feed.
    bridge.drain_flow(10_000);
    talk_str(
        herd.addr("Clark").unwrap(),
        "IAMAT seen +34.068930-118.445127 1700000001\n",
    );
    wait_until("flow shows the floods", || {
        bridge
            .drain_flow(10_000)
            .iter()
            .any(|f| f.server == "Bona" && f.text.contains("1700000001"))
    });
    // Operator commands: cut a link, see it cut, restore it, see it up again.
    let msg = bridge
        .command(OperatorCommand::CutLink {
            a: "Clark".into(),
            b: "Bona".into(),
        })
        .unwrap();
    assert!(msg.contains("Clark-Bona"), "{msg}");
    let state = |b: &dyn Backend| {
        b.snapshot()
            .links
            .iter()
            .find(|l| l.a == "Clark" && l.b == "Bona")
            .unwrap()
            .state
    };
    assert_eq!(state(&bridge), LinkState::Cut);
    assert!(bridge
        .command(OperatorCommand::CutLink {
            a: "Clark".into(),
            b: "Bailey".into()
        })
        .is_err());
    bridge
        .command(OperatorCommand::RestoreLink {
            a: "Clark".into(),
            b: "Bona".into(),
        })
        .unwrap();
    wait_until("link back up", || state(&bridge) == LinkState::Up);
    // Stop and start a server from the console; no link's flow count goes back meanwhile.
    let flows =
        |b: &dyn Backend| -> Vec<u64> { b.snapshot().links.iter().map(|l| l.flows).collect() };
    let before = flows(&bridge);
    assert!(
        before.iter().sum::<u64>() >= 2,
        "Clark's floods counted: {before:?}"
    );
    bridge
        .command(OperatorCommand::StopServer("Jaquez".into()))
        .unwrap();
    wait_until("Jaquez stopped", || {
        bridge
            .snapshot()
            .servers
            .iter()
            .any(|s| s.name == "Jaquez" && !s.running)
    });
    let stopped = flows(&bridge);
    assert!(
        stopped.iter().zip(&before).all(|(now, then)| now >= then),
        "{before:?} -> {stopped:?}"
    );
    bridge
        .command(OperatorCommand::StartServer("Jaquez".into()))
        .unwrap();
    wait_until("Jaquez back with the table", || {
        herd.server("Jaquez")
            .and_then(|s| s.lookup(b"seen"))
            .is_some_and(|u| u.at.ends_with(b"1700000001"))
    });
    let restarted = flows(&bridge);
    assert!(
        restarted
            .iter()
            .zip(&stopped)
            .all(|(now, then)| now >= then),
        "{stopped:?} -> {restarted:?}"
    );
    herd::rt::block_on(herd.shutdown());
}

fn tmux(sock: &str, args: &[&str]) -> String {
    let out = Command::new("tmux")
        .arg("-L")
        .arg(sock)
        .args(args)
        .output()
        .expect("tmux runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn wait_screen(sock: &str, what: &str, cond: impl Fn(&str) -> bool) -> String {
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let screen = tmux(sock, &["capture-pane", "-p", "-t", "herd"]);
        if cond(&screen) {
            return screen;
        }
        assert!(
            Instant::now() < end,
            "timed out waiting for {what}; screen:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_demo_console_runs_in_a_real_terminal_and_q_restores_it_needs_tmux() {
    let missing =
        Command::new("tmux").arg("-V").output().err().map(|e| {
            format!("tmux is not installed ({e}; apt-get install tmux; .ci/run installs it)")
        });
    if !prerequisite("console test in tmux", missing) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sock = format!("herd-test-{}", std::process::id());
    let bin = env!("CARGO_BIN_EXE_herd");
    let cmd = format!(
        "{bin} demo --ephemeral --log-dir {} ; echo EXITED=$? ; stty -a | tr ' ' '\\n' | grep -x -- '-*icanon' ; sleep 60",
        dir.path().join("logs").display()
    );
    tmux(
        &sock,
        &[
            "new-session",
            "-d",
            "-s",
            "herd",
            "-x",
            "100",
            "-y",
            "30",
            &cmd,
        ],
    );
    let guard = KillServer(sock.clone());
    let screen = wait_screen(&sock, "the overview with every server running", |s| {
        s.contains("Overview")
            && ["Bailey", "Bona", "Campbell", "Clark", "Jaquez"]
                .iter()
                .all(|n| s.contains(n))
            && s.matches("running").count() >= 5
    });
    assert!(
        screen.contains("Links 6/6 up") || screen.contains("Links"),
        "{screen}"
    );
    // The Peers view of the selected server shows its neighbours up.
    tmux(&sock, &["send-keys", "-t", "herd", "3"]);
    wait_screen(&sock, "the peers view", |s| {
        s.contains("Peers of") && s.contains(" up ")
    });
    // q quits: the shell prints the exit code and the terminal is back in cooked mode.
    tmux(&sock, &["send-keys", "-t", "herd", "q"]);
    let after = wait_screen(&sock, "the console to exit and stty to report", |s| {
        s.contains("EXITED=") && s.lines().any(|l| l.trim().ends_with("icanon"))
    });
    assert!(after.contains("EXITED=0"), "{after}");
    assert!(
        after.lines().any(|l| l.trim() == "icanon"),
        "terminal restored to canonical mode:\n{after}"
    );
    assert!(
        !after.contains("Peers of"),
        "the alternate screen is gone:\n{after}"
    );
    drop(guard);
}

struct KillServer(String);

impl Drop for KillServer {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-L")
            .arg(&self.0)
            .arg("kill-server")
            .output();
    }
}
