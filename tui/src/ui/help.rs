//! The `?` overlay: every key of the current view and of the whole console.

use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use ratatui::Frame;

use super::keymap;
use super::theme;
use crate::app::App;

/// Width of the key column in the overlay.
const KEY_WIDTH: usize = 15;

/// Draw the help overlay centred over `area`.
pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let mut lines = Vec::new();
    for (section, keys) in keymap::all_keys(app) {
        if !lines.is_empty() {
            lines.push(Line::raw(""));
        }
        lines.push(Line::from(Span::styled(
            section,
            Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
        )));
        for (key, desc) in keys {
            lines.push(Line::from(vec![
                Span::styled(format!(" {key:<KEY_WIDTH$}"), theme::header()),
                Span::raw(desc),
            ]));
        }
    }
    let height = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
    let [popup] = Layout::horizontal([Constraint::Length(54)])
        .flex(Flex::Center)
        .areas(area);
    let [popup] = Layout::vertical([Constraint::Length(height)])
        .flex(Flex::Center)
        .areas(popup);
    frame.render_widget(Clear, popup);
    let block = Block::bordered()
        .title(" Help ")
        .title_bottom(Line::from(" Esc or ? to close ").right_aligned());
    frame.render_widget(Paragraph::new(lines).block(block), popup);
}
