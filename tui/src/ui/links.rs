//! The list of links beside the herd map: state, cumulative flows, pulse.

use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Row, Table};
use ratatui::Frame;

use super::{fmt, theme};
use crate::app::App;
use crate::model::LinkState;

/// Draw the list of links with state, cumulative flows and a pulse mark.
pub fn draw_links(frame: &mut Frame, area: Rect, app: &App) {
    let links = &app.snapshot().links;
    let up = links.iter().filter(|l| l.state == LinkState::Up).count();
    let rows = links.iter().map(|l| {
        let pulse = if app.pulse(&l.a, &l.b) > 0 { "●" } else { "" };
        Row::new([
            Cell::from(format!("{}-{}", l.a, l.b)),
            Cell::from(Span::styled(
                l.state.label(),
                Style::new().fg(theme::link(l.state)),
            )),
            Cell::from(Line::from(fmt::count(l.flows)).right_aligned()),
            Cell::from(Span::styled(pulse, theme::pulse())),
        ])
    });
    let table = Table::new(
        rows,
        [
            Constraint::Fill(1),
            Constraint::Length(10),
            Constraint::Length(6),
            Constraint::Length(1),
        ],
    )
    .header(Row::new(["LINK", "STATE", " FLOWS", ""]).style(theme::header()))
    .block(Block::bordered().title(format!(" Links {up}/{} up ", links.len())));
    frame.render_widget(table, area);
}
