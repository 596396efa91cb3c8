//! Connections (nats-top style): one row per open connection, sortable.

use ratatui::layout::Rect;
use ratatui::widgets::Block;
use ratatui::Frame;

use super::columns::{fit, Column};
use super::fmt;
use crate::app::App;
use crate::model::ConnSnapshot;

/// Columns, in [`crate::app::ConnSort::ALL`] order.
const COLUMNS: [Column; 10] = [
    Column::right("ID", 2, 6, 0),
    Column::left("ADDRESS", 21, 24, 0),
    Column::left("KIND", 6, 6, 1),
    Column::right("AGE", 6, 6, 3),
    Column::right("IDLE", 6, 6, 1),
    Column::right("L-IN", 5, 6, 2),
    Column::right("L-OUT", 5, 6, 2),
    Column::right("B-IN", 5, 6, 1),
    Column::right("B-OUT", 5, 6, 1),
    Column::left("LAST CMD", 8, 40, 2).grow(),
];

/// Draw the Connections view of the selected server.
pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let Some(server) = app.selected_server() else {
        return super::no_server(frame, area, "Connections");
    };
    if server.remote {
        return super::remote_server(frame, area, "Connections", &server.name);
    }
    let conns = app.connections();
    let (sort, desc) = app.conn_sort();
    let clients = conns
        .iter()
        .filter(|c| c.kind == crate::model::ConnKind::Client)
        .count();
    let block = Block::bordered().title(format!(
        " Connections: {} ({}, {}) sorted by {} {} ",
        server.name,
        plural(clients, "client"),
        plural(conns.len() - clients, "peer"),
        sort.label(),
        arrow(desc),
    ));
    let mark = Some((sort.index(), arrow(desc)));
    let mut texts: Vec<Vec<String>> = conns.iter().map(|c| cells(c)).collect();
    // Size the header with its sort mark too.
    texts.push(
        COLUMNS
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i == sort.index() {
                    format!("{}{}", c.title, arrow(desc))
                } else {
                    c.title.to_owned()
                }
            })
            .collect(),
    );
    let fitted = fit(&COLUMNS, &texts, block.inner(area).width.saturating_sub(2));
    texts.pop();
    let rows = texts.into_iter().map(|t| fitted.row(&COLUMNS, t));
    let selected = app.selected_connection_index();
    fitted.draw_selectable(frame, area, &COLUMNS, mark, block, rows, selected);
}

fn arrow(desc: bool) -> &'static str {
    if desc {
        "▼"
    } else {
        "▲"
    }
}

/// Every column's text, in [`crate::app::ConnSort::ALL`] order.
fn cells(c: &ConnSnapshot) -> Vec<String> {
    vec![
        c.id.to_string(),
        c.addr.clone(),
        c.kind.label().to_owned(),
        fmt::duration(c.age),
        fmt::duration(c.idle),
        fmt::count(c.lines_in),
        fmt::count(c.lines_out),
        fmt::bytes(c.bytes_in),
        fmt::bytes(c.bytes_out),
        c.last_command.clone(),
    ]
}

/// `1 peer`, `3 peers`.
fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}
