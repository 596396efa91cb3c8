//! Flow: the live feed of traffic and link events, newest at the bottom.

use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::{Block, Table};
use ratatui::Frame;

use super::columns::{fit, Column};
use super::{fmt, theme};
use crate::app::{App, InputMode};
use crate::model::{FlowItem, FlowKind};

const COLUMNS: [Column; 6] = [
    Column::left("TIME", 12, 12, 1),
    Column::left("SERVER", 6, 10, 0),
    Column::left("DIR", 3, 3, 0),
    Column::left("KIND", 6, 6, 2),
    Column::left("PEER", 21, 21, 1),
    Column::left("TEXT", 16, 200, 0).grow(),
];

/// Draw the Flow view.
pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let flow = app.flow();
    let items = flow.visible();
    let mut title = format!(" Flow: {} of {} items", items.len(), flow.len());
    if flow.paused() {
        title.push_str(&format!(" | PAUSED, {} new", flow.new_since_pause()));
    }
    let editing = app.input_mode() == InputMode::FlowFilter;
    if editing || !flow.filter().is_empty() {
        title.push_str(&format!(" | filter: {}", flow.filter()));
        if editing {
            title.push('_');
        }
    }
    title.push(' ');
    let title_style = if flow.paused() {
        Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD)
    } else {
        Style::new()
    };
    let block = Block::bordered().title(title).title_style(title_style);
    let inner = block.inner(area);
    // One line for the header; the rest shows the newest items (minus the scroll).
    let height = usize::from(inner.height.saturating_sub(1));
    let end = items.len().saturating_sub(flow.scroll());
    let start = end.saturating_sub(height);
    let shown = &items[start..end];
    let texts: Vec<Vec<String>> = shown.iter().map(|i| cells(i)).collect();
    let fitted = fit(&COLUMNS, &texts, inner.width);
    let rows = shown
        .iter()
        .zip(texts)
        .map(|(item, t)| fitted.row(&COLUMNS, t).style(style(item)));
    let table = Table::new(rows, fitted.constraints())
        .header(fitted.header(&COLUMNS, None).style(theme::header()))
        .block(block);
    frame.render_widget(table, area);
}

/// Colour by kind, so floods and link events stand out from client traffic.
fn style(item: &FlowItem) -> Style {
    match item.kind {
        FlowKind::Client => Style::new(),
        FlowKind::Reply => Style::new().fg(Color::Gray),
        FlowKind::Flood => Style::new().fg(Color::Cyan),
        FlowKind::Link => Style::new().fg(Color::Magenta),
    }
}

/// Every column's text for one item.
fn cells(item: &FlowItem) -> Vec<String> {
    vec![
        fmt::clock(item.at),
        item.server.clone(),
        item.dir.arrow().to_owned(),
        item.kind.label().to_owned(),
        item.peer.clone(),
        item.text.clone(),
    ]
}
