//! Pure drawing: every function here reads an [`App`] and draws; none changes state.

mod clients;
mod columns;
mod connections;
mod flow;
mod fmt;
mod footer;
mod header;
mod help;
mod keymap;
mod links;
mod map;
mod map_layout;
mod overview;
mod peers;
mod theme;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;

use crate::app::{App, Tab};

/// Draw the whole console for the current state.
pub fn draw(frame: &mut Frame, app: &App) {
    let [header, body, status, keys] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    header::draw(frame, header, app);
    match app.tab() {
        Tab::Overview => overview::draw(frame, body, app),
        Tab::Connections => connections::draw(frame, body, app),
        Tab::Peers => peers::draw(frame, body, app),
        Tab::Flow => flow::draw(frame, body, app),
        Tab::Clients => clients::draw(frame, body, app),
    }
    footer::draw_status(frame, status, app);
    footer::draw_keys(frame, keys, app);
    if app.help_open() {
        help::draw(frame, frame.area(), app);
    }
}

/// A placeholder when a per-server view has no server to show.
fn no_server(frame: &mut Frame, area: Rect, title: &str) {
    let block = Block::bordered().title(format!(" {title} "));
    frame.render_widget(
        Paragraph::new(Line::from("no server in the snapshot yet")).block(block),
        area,
    );
}

/// A placeholder for a per-server view of a neighbour that runs in another process.
fn remote_server(frame: &mut Frame, area: Rect, title: &str, name: &str) {
    let block = Block::bordered().title(format!(" {title} of {name} "));
    let text = vec![
        Line::from(format!(
            "{name} runs in another process: only its link is known here."
        )),
        Line::from("Its link shows in the Peers view of the server this console runs in."),
    ];
    frame.render_widget(Paragraph::new(text).block(block), area);
}
