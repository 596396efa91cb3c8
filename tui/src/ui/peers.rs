//! Peers: the selected server's neighbours, with the full last error of the selected one.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui::Frame;

use super::columns::{fit, Column};
use super::{fmt, theme};
use crate::app::App;
use crate::model::PeerSnapshot;

const COLUMNS: [Column; 12] = [
    Column::left("PEER", 4, 12, 0),
    Column::left("STATE", 10, 10, 0),
    Column::right("SINCE", 6, 6, 1),
    Column::right("RTT", 6, 7, 1),
    Column::right("HB", 6, 6, 3),
    Column::right("SENT", 4, 6, 1),
    Column::right("RECV", 4, 6, 1),
    Column::right("IGN", 3, 6, 2),
    Column::right("QUEUE", 5, 5, 2),
    Column::right("RECONN", 6, 6, 3),
    Column::left("INCARNATION", 16, 16, 4),
    Column::left("LAST ERROR", 10, 60, 2).grow(),
];

/// Index of the STATE column.
const COL_STATE: usize = 1;
/// Height of the detail pane under the table.
const DETAIL_HEIGHT: u16 = 4;

/// Draw the Peers view of the selected server.
pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let Some(server) = app.selected_server() else {
        return super::no_server(frame, area, "Peers");
    };
    if server.remote {
        return super::remote_server(frame, area, "Peers", &server.name);
    }
    let peers = app.peers();
    let [table_area, detail_area] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(DETAIL_HEIGHT)]).areas(area);
    let up = peers
        .iter()
        .filter(|p| p.state == crate::model::LinkState::Up)
        .count();
    let block = Block::bordered().title(format!(
        " Peers of {}: {up}/{} up ",
        server.name,
        peers.len()
    ));
    let texts: Vec<Vec<String>> = peers.iter().map(cells).collect();
    let fitted = fit(
        &COLUMNS,
        &texts,
        block.inner(table_area).width.saturating_sub(2),
    );
    let rows = peers.iter().zip(texts).map(|(p, t)| {
        let mut row_cells = fitted.row_cells(&COLUMNS, t);
        if let Some(cell) = fitted
            .position(COL_STATE)
            .and_then(|i| row_cells.get_mut(i))
        {
            *cell = std::mem::take(cell).style(Style::new().fg(theme::link(p.state)));
        }
        ratatui::widgets::Row::new(row_cells)
    });
    let selected = app.selected_peer_index();
    fitted.draw_selectable(frame, table_area, &COLUMNS, None, block, rows, selected);
    draw_detail(frame, detail_area, selected.and_then(|i| peers.get(i)));
}

/// The selected peer's full last error and incarnation, which the table may cut.
fn draw_detail(frame: &mut Frame, area: Rect, peer: Option<&PeerSnapshot>) {
    let Some(p) = peer else {
        frame.render_widget(Block::bordered().title(" Selected peer "), area);
        return;
    };
    let incarnation = p
        .incarnation
        .map_or_else(|| "unknown".to_owned(), fmt::incarnation);
    let lines = vec![
        Line::from(vec![
            Span::styled(p.state.label(), Style::new().fg(theme::link(p.state))),
            Span::raw(format!(
                " for {}, incarnation {incarnation}, {} reconnects",
                fmt::duration(p.since),
                p.reconnects
            )),
        ]),
        Line::from(format!(
            "last error: {}",
            p.last_error.as_deref().unwrap_or("none")
        )),
    ];
    let block = Block::bordered().title(format!(" {} ", p.name));
    frame.render_widget(
        Paragraph::new(lines).block(block).wrap(Wrap { trim: true }),
        area,
    );
}

/// Every column's text for one peer.
fn cells(p: &PeerSnapshot) -> Vec<String> {
    vec![
        p.name.clone(),
        p.state.label().to_owned(),
        fmt::duration(p.since),
        fmt::opt_rtt(p.rtt),
        fmt::opt_rtt(p.heartbeat_age),
        fmt::count(p.sent),
        fmt::count(p.received),
        fmt::count(p.ignored),
        p.queue_depth.to_string(),
        p.reconnects.to_string(),
        p.incarnation
            .map_or_else(|| "-".to_owned(), fmt::incarnation),
        p.last_error.clone().unwrap_or_default(),
    ]
}
