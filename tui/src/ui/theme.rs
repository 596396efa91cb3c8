//! Colours and styles, in one place.

use ratatui::style::{Color, Modifier, Style};

use crate::app::StatusKind;
use crate::model::LinkState;

/// Colour of a link state.
pub fn link(state: LinkState) -> Color {
    match state {
        LinkState::Up => Color::Green,
        LinkState::Connecting => Color::Yellow,
        LinkState::Down => Color::Red,
        LinkState::Cut => Color::Magenta,
    }
}

/// Style of a running / stopped server.
pub fn running(running: bool) -> Style {
    if running {
        Style::new().fg(Color::Green)
    } else {
        Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
    }
}

/// Style of a table header row.
pub fn header() -> Style {
    Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)
}

/// Style of the selected table row.
pub fn selected() -> Style {
    Style::new().add_modifier(Modifier::REVERSED)
}

/// Symbol in front of the selected row.
pub const SELECTED_SYMBOL: &str = "▶ ";

/// Style of a key name in the help bar and overlay.
pub fn key() -> Style {
    Style::new().fg(Color::Black).bg(Color::Cyan)
}

/// Style of a status message.
pub fn status(kind: StatusKind) -> Style {
    match kind {
        StatusKind::Info => Style::new().fg(Color::Yellow),
        StatusKind::Ok => Style::new().fg(Color::Green),
        StatusKind::Error => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
    }
}

/// Style of a pulsing link.
pub fn pulse() -> Style {
    Style::new()
        .fg(Color::LightCyan)
        .add_modifier(Modifier::BOLD)
}
