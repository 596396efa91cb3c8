//! The keys each view offers, shared by the help bar and the help overlay.

use crate::app::{App, InputMode, Tab};

/// A key (or keys) and what it does.
pub type KeyHelp = (&'static str, &'static str);

/// Keys specific to the current view, most useful first.
pub fn view_keys(app: &App) -> Vec<KeyHelp> {
    let mut keys = match app.tab() {
        Tab::Overview => vec![("↑↓", "server")],
        Tab::Connections => vec![("↑↓", "select"), ("o/O", "sort/rev"), ("d", "drop")],
        Tab::Peers => vec![("↑↓", "select"), ("c", "cut"), ("r", "restore")],
        Tab::Flow => vec![
            ("↑↓", "scroll"),
            ("/", "filter"),
            if app.flow().paused() {
                ("p", "resume")
            } else {
                ("p", "pause")
            },
        ],
        Tab::Clients => vec![("↑↓", "select"), ("/", "search")],
    };
    // The Flow feed is herd-wide; the other views follow the selected server.
    if !matches!(app.tab(), Tab::Overview | Tab::Flow) {
        keys.push(("[ ]", "server"));
    }
    if app.demo() {
        keys.push(("k/s", "stop/start"));
    }
    keys
}

/// Keys shown at the end of the help bar in every view.
pub fn bar_tail() -> Vec<KeyHelp> {
    vec![("l", "log"), ("?", "help"), ("q", "quit")]
}

/// Keys while typing a filter or search.
pub fn input_keys(mode: InputMode) -> Vec<KeyHelp> {
    let what = if mode == InputMode::FlowFilter {
        "filter"
    } else {
        "search"
    };
    vec![
        ("type", what),
        ("Enter", "apply"),
        ("Esc", "clear"),
        ("Bksp", "delete"),
        ("Ctrl-C", "quit"),
    ]
}

/// Every key, by section, for the help overlay.
pub fn all_keys(app: &App) -> Vec<(&'static str, Vec<KeyHelp>)> {
    let mut global = vec![
        ("1-5 Tab S-Tab", "switch view"),
        ("[ ] ← →", "select server"),
        ("↑↓ PgUp PgDn", "move selection"),
        ("Home End", "first / last"),
        ("l", "cycle log level"),
    ];
    if app.demo() {
        global.push(("k / s", "stop / start selected server"));
    }
    global.extend([
        ("Esc", "close help, clear filter"),
        ("?", "toggle this help"),
        ("q Ctrl-C", "quit"),
    ]);
    let view = match app.tab() {
        Tab::Overview => vec![("↑↓", "select server (all views follow)")],
        Tab::Connections => vec![
            ("o", "next sort column"),
            ("O", "reverse sort order"),
            ("d", "drop selected connection"),
        ],
        Tab::Peers => vec![
            ("c", "cut link to selected peer"),
            ("r", "restore link to selected peer"),
        ],
        Tab::Flow => vec![
            ("/", "type a filter (Enter keeps it)"),
            ("p", "pause / resume the feed"),
            ("↑↓ PgUp", "scroll back (pauses)"),
            ("End", "follow newest again"),
        ],
        Tab::Clients => vec![("/", "search client, origin, location")],
    };
    vec![(app.tab().title(), view), ("Everywhere", global)]
}
