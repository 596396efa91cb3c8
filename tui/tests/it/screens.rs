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
