//! Clients: the selected server's location table, searchable.

use ratatui::layout::Rect;
use ratatui::widgets::Block;
use ratatui::Frame;

use super::columns::{fit, Column};
use super::fmt;
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
    if server.remote {
        return super::remote_server(frame, area, "Clients", &server.name);
    }
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
    let rows = texts.into_iter().map(|t| fitted.row(&COLUMNS, t));
    let selected = app.selected_client_index();
    fitted.draw_selectable(frame, area, &COLUMNS, None, block, rows, selected);
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
