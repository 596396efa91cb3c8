//! Snapshot tests of every view at 80x24 (the smallest supported size) and 120x36.

use crossterm::event::KeyCode;
use insta::assert_snapshot;

use crate::common::{press, render, sample_app, type_text};

/// Keys that select the Clark server (fourth in the sample) from the default.
const TO_CLARK: [KeyCode; 3] = [KeyCode::Char(']'); 3];

#[test]
fn overview_80x24() {
    let app = sample_app(true);
    assert_snapshot!(render(&app, 80, 24));
}

#[test]
fn overview_120x36() {
    let app = sample_app(true);
    assert_snapshot!(render(&app, 120, 36));
}

#[test]
fn overview_single_server_80x24() {
    let mut app = sample_app(false);
    // A server-side console sees only its own server.
    let mut snap = crate::common::sample_at(20);
    snap.servers.retain(|s| s.name == "Campbell");
    snap.links
        .retain(|l| l.a == "Campbell" || l.b == "Campbell");
    app.on_snapshot(snap, std::time::Instant::now());
    assert_snapshot!(render(&app, 80, 24));
}

#[test]
fn connections_80x24() {
    let mut app = sample_app(true);
    press(&mut app, &TO_CLARK);
    press(&mut app, &[KeyCode::Char('2'), KeyCode::Down]);
    assert_snapshot!(render(&app, 80, 24));
}

#[test]
fn connections_sorted_by_bytes_out_desc_120x36() {
    let mut app = sample_app(true);
    press(&mut app, &TO_CLARK);
    press(&mut app, &[KeyCode::Char('2')]);
    // id -> addr -> kind -> age -> idle -> lines in -> lines out -> bytes in -> bytes out
    press(&mut app, &[KeyCode::Char('o'); 8]);
    press(&mut app, &[KeyCode::Char('O')]);
    assert_snapshot!(render(&app, 120, 36));
}

#[test]
fn peers_80x24() {
    let mut app = sample_app(true);
    // Campbell has one peer in each of up, connecting and down.
    press(&mut app, &[KeyCode::Char(']'), KeyCode::Char(']')]);
    press(
        &mut app,
        &[KeyCode::Char('3'), KeyCode::Down, KeyCode::Down],
    );
    assert_snapshot!(render(&app, 80, 24));
}

#[test]
fn peers_120x36() {
    let mut app = sample_app(true);
    press(&mut app, &[KeyCode::Char(']'), KeyCode::Char(']')]);
    press(&mut app, &[KeyCode::Char('3'), KeyCode::Down]);
    assert_snapshot!(render(&app, 120, 36));
}

#[test]
fn flow_80x24() {
    let mut app = sample_app(true);
    press(&mut app, &[KeyCode::Char('4')]);
    assert_snapshot!(render(&app, 80, 24));
}

#[test]
fn flow_paused_and_filtered_120x36() {
    let mut app = sample_app(true);
    press(&mut app, &[KeyCode::Char('4'), KeyCode::Char('p')]);
    app.on_flow(herd_tui::testing::sample_flow());
    press(&mut app, &[KeyCode::Char('/')]);
    type_text(&mut app, "rose");
    assert_snapshot!(render(&app, 120, 36));
}

#[test]
fn clients_80x24() {
    let mut app = sample_app(true);
    press(&mut app, &TO_CLARK);
    press(&mut app, &[KeyCode::Char('5')]);
    assert_snapshot!(render(&app, 80, 24));
}

#[test]
fn clients_searching_120x36() {
    let mut app = sample_app(true);
    press(&mut app, &[KeyCode::Char('5'), KeyCode::Char('/')]);
    type_text(&mut app, "118.4");
    assert_snapshot!(render(&app, 120, 36));
}

#[test]
fn help_overlay_80x24() {
    let mut app = sample_app(true);
    press(&mut app, &[KeyCode::Char('4'), KeyCode::Char('?')]);
    assert_snapshot!(render(&app, 80, 24));
}

#[test]
fn status_line_shows_command_failure_80x24() {
    let mut app = sample_app(true);
    let cmd = herd_tui::OperatorCommand::StopServer("Bailey".into());
    app.on_command_result(&cmd, Err("already stopped".into()));
    assert_snapshot!(render(&app, 80, 24));
}

#[test]
fn overview_with_a_stopped_server_80x24() {
    let mut app = sample_app(true);
    let mut snap = crate::common::sample_at(20);
    for s in snap.servers.iter_mut().filter(|s| s.name == "Campbell") {
        s.running = false;
        s.connections.clear();
    }
    for l in snap.links.iter_mut() {
        if (l.a == "Campbell" || l.b == "Campbell") && l.state != herd_tui::LinkState::Cut {
            l.state = herd_tui::LinkState::Down;
        }
    }
    app.on_snapshot(snap, std::time::Instant::now());
    assert_snapshot!(render(&app, 80, 24));
}

#[test]
fn every_view_draws_at_tiny_and_odd_sizes_without_panicking() {
    for view in ['1', '2', '3', '4', '5'] {
        let mut app = sample_app(true);
        press(&mut app, &[KeyCode::Char(view), KeyCode::Char('?')]);
        for help in [true, false] {
            for (w, h) in [(1, 1), (7, 3), (20, 5), (40, 10), (61, 17), (79, 23)] {
                let screen = render(&app, w, h);
                assert_eq!(
                    screen.lines().count(),
                    usize::from(h),
                    "view {view} at {w}x{h}"
                );
            }
            if help {
                press(&mut app, &[KeyCode::Esc]);
            }
        }
    }
}

#[test]
fn per_server_views_say_so_before_the_first_snapshot() {
    let mut app = herd_tui::App::new(&herd_tui::ConsoleOptions::default(), false);
    for view in ['2', '3', '5'] {
        press(&mut app, &[KeyCode::Char(view)]);
        let screen = render(&app, 80, 24);
        assert!(
            screen.contains("no server in the snapshot yet"),
            "view {view}:\n{screen}"
        );
    }
    press(&mut app, &[KeyCode::Char('1')]);
    assert!(render(&app, 80, 24).contains("Servers 0/0 running"));
}

/// `herd run Clark --console`: Clark in full, its neighbours known only through their links.
fn single_server_app() -> herd_tui::App {
    let opts = herd_tui::ConsoleOptions {
        fps: 10,
        title: "herd Clark (127.0.0.1:10003)".into(),
    };
    let mut app = herd_tui::App::new(&opts, false);
    let t0 = std::time::Instant::now();
    for step in 0..=2 {
        let mut snap = crate::common::sample_at(step);
        snap.links.retain(|l| l.a == "Clark" || l.b == "Clark");
        let links = snap.links.clone();
        snap.servers
            .retain(|s| links.iter().any(|l| l.a == s.name || l.b == s.name));
        // The console's own server comes first, as the bridge sends it.
        snap.servers.sort_by_key(|s| s.name != "Clark");
        for s in snap.servers.iter_mut().filter(|s| s.name != "Clark") {
            let up = links
                .iter()
                .any(|l| (l.a == s.name || l.b == s.name) && l.state == herd_tui::LinkState::Up);
            *s = herd_tui::ServerSnapshot {
                remote: true,
                running: up,
                uptime: std::time::Duration::ZERO,
                clients_known: 0,
                lines_in: 0,
                lines_out: 0,
                connections: Vec::new(),
                peers: Vec::new(),
                clients: Vec::new(),
                ..s.clone()
            };
        }
        app.on_snapshot(snap, t0 + std::time::Duration::from_secs(step));
    }
    app
}

#[test]
fn single_server_console_with_remote_neighbours_80x24() {
    let mut app = single_server_app();
    let screen = render(&app, 80, 24);
    let tabs = screen.lines().next().unwrap_or_default();
    for n in ["1 ", "2 ", "3 ", "4 ", "5 Clie"] {
        assert!(tabs.contains(n), "every tab shows: {tabs}");
    }
    assert_snapshot!(screen);
    // A neighbour's per-server views say what cannot be known here.
    press(&mut app, &[KeyCode::Char(']'), KeyCode::Char('2')]);
    let screen = render(&app, 80, 24);
    assert!(
        screen.contains("runs in another process: only its link is known here"),
        "{screen}"
    );
}
