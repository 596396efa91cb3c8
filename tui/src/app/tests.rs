//! Tests of the pure update functions: no terminal involved.

use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyEventState, KeyModifiers};

use super::{Action, App, ConnSort, InputMode, StatusKind, Tab, FLOW_CAPACITY};
use crate::model::{ConsoleOptions, FlowItem, HerdSnapshot, OperatorCommand};
use crate::testing::{sample_flow, sample_snapshot};

fn app(demo: bool) -> App {
    let mut app = App::new(&ConsoleOptions::default(), demo);
    app.on_snapshot(sample_snapshot(), Instant::now());
    app
}

fn key(app: &mut App, code: KeyCode) -> Action {
    app.on_key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn chars(app: &mut App, text: &str) {
    for c in text.chars() {
        key(app, KeyCode::Char(c));
    }
}

/// Select the sample server `name` with `]`.
fn select_server(app: &mut App, name: &str) {
    key(app, KeyCode::Home);
    for _ in 0..5 {
        if app.selected_server().map(|s| s.name.as_str()) == Some(name) {
            return;
        }
        key(app, KeyCode::Char(']'));
    }
    panic!("no server {name}");
}

fn flow_item(i: u64) -> FlowItem {
    FlowItem {
        text: format!("item {i}"),
        ..sample_flow()[0].clone()
    }
}

#[test]
fn digits_and_tab_switch_views_and_wrap() {
    let mut app = app(false);
    key(&mut app, KeyCode::Char('3'));
    assert_eq!(app.tab(), Tab::Peers);
    key(&mut app, KeyCode::Char('5'));
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.tab(), Tab::Overview);
    key(&mut app, KeyCode::BackTab);
    assert_eq!(app.tab(), Tab::Clients);
}

#[test]
fn q_and_ctrl_c_quit_but_q_is_text_while_filtering() {
    let mut app = app(false);
    assert_eq!(key(&mut app, KeyCode::Char('q')), Action::Quit);
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert_eq!(app.on_key(ctrl_c), Action::Quit);

    key(&mut app, KeyCode::Char('4'));
    key(&mut app, KeyCode::Char('/'));
    assert_eq!(app.input_mode(), InputMode::FlowFilter);
    assert_eq!(key(&mut app, KeyCode::Char('q')), Action::None);
    assert_eq!(app.flow().filter(), "q");
    assert_eq!(app.on_key(ctrl_c), Action::Quit);
}

#[test]
fn key_releases_are_ignored() {
    let mut app = app(false);
    let release = KeyEvent::new_with_kind_and_state(
        KeyCode::Char('q'),
        KeyModifiers::NONE,
        KeyEventKind::Release,
        KeyEventState::NONE,
    );
    assert_eq!(app.on_key(release), Action::None);
}

#[test]
fn help_overlay_swallows_keys_until_closed() {
    let mut app = app(false);
    key(&mut app, KeyCode::Char('?'));
    assert!(app.help_open());
    key(&mut app, KeyCode::Char('2'));
    assert_eq!(app.tab(), Tab::Overview);
    key(&mut app, KeyCode::Esc);
    assert!(!app.help_open());
    key(&mut app, KeyCode::Char('2'));
    assert_eq!(app.tab(), Tab::Connections);
}

#[test]
fn o_cycles_sort_column_and_shift_o_reverses() {
    let mut app = app(false);
    select_server(&mut app, "Clark");
    key(&mut app, KeyCode::Char('2'));
    let ids = |app: &App| app.connections().iter().map(|c| c.id).collect::<Vec<_>>();
    assert_eq!(ids(&app), [1, 11, 12, 14, 15]);
    for _ in 0..8 {
        key(&mut app, KeyCode::Char('o'));
    }
    assert_eq!(app.conn_sort(), (ConnSort::BytesOut, false));
    assert_eq!(ids(&app), [14, 15, 1, 11, 12]);
    key(&mut app, KeyCode::Char('O'));
    assert_eq!(app.conn_sort(), (ConnSort::BytesOut, true));
    assert_eq!(ids(&app), [12, 11, 1, 15, 14]);
    key(&mut app, KeyCode::Char('o'));
    key(&mut app, KeyCode::Char('o'));
    assert_eq!(app.conn_sort().0, ConnSort::Id, "wraps around");
}

#[test]
fn d_drops_the_selected_connection_even_after_resorting() {
    let mut app = app(false);
    select_server(&mut app, "Clark");
    key(&mut app, KeyCode::Char('2'));
    key(&mut app, KeyCode::Down);
    assert_eq!(app.selected_connection_index(), Some(1));
    key(&mut app, KeyCode::Char('O'));
    // Row 1 (id 11) moved to position 3 of 5 in descending id order.
    assert_eq!(app.selected_connection_index(), Some(3));
    let expected = OperatorCommand::DropConnection {
        server: "Clark".into(),
        id: 11,
    };
    assert_eq!(key(&mut app, KeyCode::Char('d')), Action::Command(expected));
}

#[test]
fn selection_stays_in_place_when_its_row_disappears() {
    let mut app = app(false);
    select_server(&mut app, "Clark");
    key(&mut app, KeyCode::Char('2'));
    key(&mut app, KeyCode::Down);
    let mut snap = sample_snapshot();
    snap.servers[3].connections.retain(|c| c.id != 11);
    app.on_snapshot(snap, Instant::now());
    let expected = OperatorCommand::DropConnection {
        server: "Clark".into(),
        id: 12,
    };
    assert_eq!(key(&mut app, KeyCode::Char('d')), Action::Command(expected));
}

#[test]
fn d_without_connections_only_hints() {
    let mut app = App::new(&ConsoleOptions::default(), false);
    key(&mut app, KeyCode::Char('2'));
    assert_eq!(key(&mut app, KeyCode::Char('d')), Action::None);
    assert_eq!(app.status().map(|s| s.kind), Some(StatusKind::Info));
}

#[test]
fn c_and_r_cut_and_restore_the_link_to_the_selected_peer() {
    let mut app = app(false);
    select_server(&mut app, "Campbell");
    key(&mut app, KeyCode::Char('3'));
    key(&mut app, KeyCode::End);
    assert_eq!(
        key(&mut app, KeyCode::Char('c')),
        Action::Command(OperatorCommand::CutLink {
            a: "Campbell".into(),
            b: "Jaquez".into()
        })
    );
    key(&mut app, KeyCode::Up);
    assert_eq!(
        key(&mut app, KeyCode::Char('r')),
        Action::Command(OperatorCommand::RestoreLink {
            a: "Campbell".into(),
            b: "Bona".into()
        })
    );
}

#[test]
fn view_keys_do_nothing_in_other_views() {
    let mut app = app(false);
    key(&mut app, KeyCode::Char('3'));
    assert_eq!(key(&mut app, KeyCode::Char('d')), Action::None);
    key(&mut app, KeyCode::Char('2'));
    assert_eq!(key(&mut app, KeyCode::Char('c')), Action::None);
}

#[test]
fn stop_and_start_only_in_demo() {
    let mut app = app(true);
    select_server(&mut app, "Bona");
    assert_eq!(
        key(&mut app, KeyCode::Char('k')),
        Action::Command(OperatorCommand::StopServer("Bona".into()))
    );
    key(&mut app, KeyCode::Char('4'));
    assert_eq!(
        key(&mut app, KeyCode::Char('s')),
        Action::Command(OperatorCommand::StartServer("Bona".into()))
    );

    let mut single = self::app(false);
    assert_eq!(key(&mut single, KeyCode::Char('k')), Action::None);
    assert_eq!(key(&mut single, KeyCode::Char('s')), Action::None);
    assert_eq!(single.status().map(|s| s.kind), Some(StatusKind::Info));
}

#[test]
fn l_cycles_the_log_level_of_the_selected_server() {
    let mut app = app(false);
    select_server(&mut app, "Campbell");
    assert_eq!(
        key(&mut app, KeyCode::Char('l')),
        Action::Command(OperatorCommand::SetLogLevel("trace".into()))
    );
    let mut snap = sample_snapshot();
    snap.servers[2].log_level = "trace".into();
    app.on_snapshot(snap.clone(), Instant::now());
    assert_eq!(
        key(&mut app, KeyCode::Char('l')),
        Action::Command(OperatorCommand::SetLogLevel("error".into()))
    );
    snap.servers[2].log_level = "verbose".into();
    app.on_snapshot(snap, Instant::now());
    assert_eq!(
        key(&mut app, KeyCode::Char('l')),
        Action::Command(OperatorCommand::SetLogLevel("info".into()))
    );
}

#[test]
fn server_selector_clamps_and_follows_the_server_by_name() {
    let mut app = app(true);
    for _ in 0..10 {
        key(&mut app, KeyCode::Char(']'));
    }
    assert_eq!(
        app.selected_server().map(|s| s.name.as_str()),
        Some("Jaquez")
    );
    key(&mut app, KeyCode::Left);
    assert_eq!(
        app.selected_server().map(|s| s.name.as_str()),
        Some("Clark")
    );
    let mut snap = sample_snapshot();
    snap.servers.reverse();
    app.on_snapshot(snap, Instant::now());
    assert_eq!(
        app.selected_server().map(|s| s.name.as_str()),
        Some("Clark")
    );
    assert_eq!(app.selected_server_index(), Some(1));
}

#[test]
fn flow_filter_is_typed_after_slash_and_cleared_with_esc() {
    let mut app = app(false);
    app.on_flow(sample_flow());
    key(&mut app, KeyCode::Char('4'));
    key(&mut app, KeyCode::Char('/'));
    chars(&mut app, "FLOODx");
    key(&mut app, KeyCode::Backspace);
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.input_mode(), InputMode::Normal);
    assert_eq!(app.flow().filter(), "FLOOD");
    let shown = app.flow().visible();
    assert_eq!(shown.len(), 6, "case-insensitive match on the kind");
    assert!(shown
        .iter()
        .all(|i| i.kind == crate::model::FlowKind::Flood));
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.flow().visible().len(), sample_flow().len());
}

#[test]
fn pause_freezes_the_feed_and_counts_new_items() {
    let mut app = app(false);
    app.on_flow(sample_flow());
    key(&mut app, KeyCode::Char('4'));
    key(&mut app, KeyCode::Char('p'));
    assert!(app.flow().paused());
    app.on_flow((0..3).map(flow_item).collect());
    assert_eq!(app.flow().visible().len(), 14);
    assert_eq!(app.flow().new_since_pause(), 3);
    key(&mut app, KeyCode::Char('p'));
    assert!(!app.flow().paused());
    assert_eq!(app.flow().visible().len(), 17);
    assert_eq!(app.flow().new_since_pause(), 0);
}

#[test]
fn scrolling_back_pauses_and_end_follows_again() {
    let mut app = app(false);
    app.on_flow(sample_flow());
    key(&mut app, KeyCode::Char('4'));
    key(&mut app, KeyCode::PageUp);
    assert!(app.flow().paused());
    assert_eq!(app.flow().scroll(), 10);
    key(&mut app, KeyCode::Home);
    assert_eq!(app.flow().scroll(), 13, "clamped to the oldest item");
    key(&mut app, KeyCode::End);
    assert!(!app.flow().paused());
    assert_eq!(app.flow().scroll(), 0);
}

#[test]
fn flow_ring_buffer_is_bounded() {
    let mut app = app(false);
    let n = FLOW_CAPACITY as u64 + 100;
    app.on_flow((0..n).map(flow_item).collect());
    assert_eq!(app.flow().len(), FLOW_CAPACITY);
    assert_eq!(app.flow().total(), n);
    let shown = app.flow().visible();
    assert_eq!(shown.first().map(|i| i.text.as_str()), Some("item 100"));
    assert_eq!(
        shown.last().map(|i| i.text.clone()),
        Some(format!("item {}", n - 1))
    );
}

#[test]
fn clients_search_filters_and_sorts_by_client() {
    let mut app = app(false);
    key(&mut app, KeyCode::Char('5'));
    let names = |app: &App| {
        app.clients()
            .iter()
            .map(|c| c.client.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&app).len(), 7);
    assert!(names(&app).windows(2).all(|w| w[0] <= w[1]));
    key(&mut app, KeyCode::Char('/'));
    chars(&mut app, "campbell");
    assert_eq!(app.input_mode(), InputMode::ClientSearch);
    assert_eq!(names(&app), ["getty.center", "lax.airport"]);
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.client_search(), "");
    assert_eq!(names(&app).len(), 7);
}

#[test]
fn rates_are_per_second_over_at_least_one_second() {
    let mut app = App::new(&ConsoleOptions::default(), false);
    let t0 = Instant::now();
    let snap = |lines_in: u64, lines_out: u64| {
        let mut s = sample_snapshot();
        s.servers.truncate(1);
        s.servers[0].lines_in = lines_in;
        s.servers[0].lines_out = lines_out;
        s
    };
    app.on_snapshot(snap(1_000, 500), t0);
    assert!(app.rates("Bailey").is_none());
    app.on_snapshot(snap(1_150, 500), t0 + Duration::from_millis(500));
    assert!(
        app.rates("Bailey").is_none(),
        "less than a second: no sample"
    );
    app.on_snapshot(snap(1_300, 800), t0 + Duration::from_secs(1));
    let rates = app.rates("Bailey").cloned().unwrap_or_default();
    assert_eq!(
        (rates.current_in(), rates.current_out()),
        (Some(300), Some(300))
    );
    app.on_snapshot(snap(1_700, 800), t0 + Duration::from_secs(3));
    let rates = app.rates("Bailey").cloned().unwrap_or_default();
    assert_eq!(
        (rates.current_in(), rates.current_out()),
        (Some(200), Some(0))
    );
    // A restarted server's counters go back down: the rate is zero, not huge.
    app.on_snapshot(snap(10, 5), t0 + Duration::from_secs(4));
    let rates = app.rates("Bailey").cloned().unwrap_or_default();
    assert_eq!(rates.lines_in, [300, 200, 0]);
}

#[test]
fn rate_history_is_bounded_and_forgets_vanished_servers() {
    let mut app = App::new(&ConsoleOptions::default(), false);
    let t0 = Instant::now();
    for k in 0..(super::RATE_HISTORY as u64 + 10) {
        let mut s = sample_snapshot();
        s.servers[0].lines_in += k * 10;
        app.on_snapshot(s, t0 + Duration::from_secs(k));
    }
    let history = app.rates("Bailey").cloned().unwrap_or_default();
    assert_eq!(history.lines_in.len(), super::RATE_HISTORY);
    assert_eq!(history.current_in(), Some(10));
    app.on_snapshot(HerdSnapshot::default(), t0 + Duration::from_secs(500));
    assert!(app.rates("Bailey").is_none());
}

#[test]
fn a_link_pulses_for_a_few_frames_after_its_flows_grow() {
    let mut app = app(false);
    assert_eq!(app.pulse("Clark", "Jaquez"), 0);
    let mut snap = sample_snapshot();
    snap.links[0].flows += 1;
    app.on_snapshot(snap.clone(), Instant::now());
    assert_eq!(
        app.pulse("Jaquez", "Clark"),
        4,
        "either order names the link"
    );
    assert_eq!(app.pulse("Clark", "Bona"), 0);
    for left in (0..4).rev() {
        app.on_snapshot(snap.clone(), Instant::now());
        assert_eq!(app.pulse("Clark", "Jaquez"), left);
    }
}

#[test]
fn command_results_show_in_the_status_line() {
    let mut app = app(true);
    let cmd = OperatorCommand::StopServer("Bona".into());
    app.on_command_result(&cmd, Ok("Bona stopped".into()));
    let status = app.status().cloned();
    assert_eq!(status.as_ref().map(|s| s.kind), Some(StatusKind::Ok));
    assert_eq!(status.map(|s| s.text), Some("Bona stopped".into()));
    app.on_command_result(&cmd, Err("already stopped".into()));
    let status = app.status().cloned();
    assert_eq!(status.as_ref().map(|s| s.kind), Some(StatusKind::Error));
    assert_eq!(
        status.map(|s| s.text),
        Some("stop server Bona failed: already stopped".into())
    );
    key(&mut app, KeyCode::Esc);
    assert!(app.status().is_none());
}

#[test]
fn a_stop_or_start_under_way_is_replaced_by_its_outcome() {
    let mut app = app(true);
    let text = |app: &App| app.status().map(|s| (s.kind, s.text.clone()));
    let with_bona = |running: bool| {
        let mut snap = sample_snapshot();
        for s in snap.servers.iter_mut().filter(|s| s.name == "Bona") {
            s.running = running;
        }
        snap
    };
    let stop = OperatorCommand::StopServer("Bona".into());
    app.on_command_result(&stop, Ok("stopping Bona".into()));
    app.on_snapshot(with_bona(true), Instant::now());
    assert_eq!(text(&app), Some((StatusKind::Ok, "stopping Bona".into())));
    app.on_snapshot(with_bona(false), Instant::now());
    assert_eq!(text(&app), Some((StatusKind::Ok, "Bona stopped".into())));
    // Later snapshots leave the outcome alone.
    app.on_snapshot(with_bona(true), Instant::now());
    assert_eq!(text(&app), Some((StatusKind::Ok, "Bona stopped".into())));

    // A start that never shows is reported late after 10 s of frames (10 fps by default).
    let start = OperatorCommand::StartServer("Bona".into());
    app.on_command_result(&start, Ok("starting Bona".into()));
    for _ in 0..99 {
        app.on_snapshot(with_bona(false), Instant::now());
    }
    assert_eq!(text(&app), Some((StatusKind::Ok, "starting Bona".into())));
    app.on_snapshot(with_bona(false), Instant::now());
    assert_eq!(
        text(&app),
        Some((
            StatusKind::Error,
            "Bona did not start within 10 s (see the logs)".into()
        ))
    );
}
