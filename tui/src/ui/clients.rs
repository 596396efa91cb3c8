//! Clients: the selected server's location table, searchable.

use ratatui::layout::Rect;
use ratatui::widgets::{Block, HighlightSpacing, Table, TableState};
use ratatui::Frame;

use super::columns::{fit, Column};
use super::{fmt, theme};
use crate::app::{App, InputMode};
use crate::model::ClientRow;

const COLUMNS: [Column; 5] = [
    Column::left("CLIENT", 8, 32, 0),
    Column::left("ORIGIN", 6, 10, 1),
    Column::left("DIFF", 12, 22, 2),
    Column::left("LOCATION", 22, 24, 0),
    Column::right("AGE", 6, 6, 1),
];

/// Draw the Clients view of the selected server.
pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let Some(server) = app.selected_server() else {
        return super::no_server(frame, area, "Clients");
    };
    let rows = app.clients();
    let mut title = format!(
        " Clients known to {}: {} of {}",
        server.name,
        rows.len(),
        server.clients.len()
    );
    let editing = app.input_mode() == InputMode::ClientSearch;
    if editing || !app.client_search().is_empty() {
        title.push_str(&format!(" | search: {}", app.client_search()));
        if editing {
            title.push('_');
        }
    }
    title.push(' ');
    let block = Block::bordered().title(title);
    let texts: Vec<Vec<String>> = rows.iter().map(|c| cells(c)).collect();
    let fitted = fit(&COLUMNS, &texts, block.inner(area).width.saturating_sub(2));
    let table = Table::new(
        texts.into_iter().map(|t| fitted.row(&COLUMNS, t)),
        fitted.constraints(),
    )
    .header(fitted.header(&COLUMNS, None).style(theme::header()))
    .block(block)
    .row_highlight_style(theme::selected())
    .highlight_symbol(theme::SELECTED_SYMBOL)
    .highlight_spacing(HighlightSpacing::Always);
    let mut state = TableState::default().with_selected(app.selected_client_index());
    frame.render_stateful_widget(table, area, &mut state);
}

/// Every column's text for one row.
fn cells(c: &ClientRow) -> Vec<String> {
    vec![
        c.client.clone(),
        c.origin.clone(),
        c.diff.clone(),
        c.location.clone(),
        fmt::duration(c.age),
    ]
}
