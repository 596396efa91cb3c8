//! The two bottom lines: the status line and the help bar.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::columns::text_width;
use super::keymap::{self, KeyHelp};
use super::theme;
use crate::app::{App, InputMode};

/// The last command result at the left; the selected server's log level at the right.
pub fn draw_status(frame: &mut Frame, area: Rect, app: &App) {
    let right = app
        .selected_server()
        .map(|s| format!(" log: {} ", s.log_level))
        .unwrap_or_default();
    let [left_area, right_area] =
        Layout::horizontal([Constraint::Fill(1), Constraint::Length(text_width(&right))])
            .areas(area);
    let left = match app.status() {
        Some(status) => Line::from(Span::styled(
            format!(" {}", status.text),
            theme::status(status.kind),
        )),
        None => Line::from(Span::styled(" ready", Style::new().fg(Color::DarkGray))),
    };
    frame.render_widget(Paragraph::new(left), left_area);
    frame.render_widget(
        Paragraph::new(right).style(Style::new().fg(Color::DarkGray)),
        right_area,
    );
}

/// The keys of the current view (or of the filter being typed).
pub fn draw_keys(frame: &mut Frame, area: Rect, app: &App) {
    let (keys, tail) = match app.input_mode() {
        InputMode::Normal => (keymap::view_keys(app), keymap::bar_tail()),
        mode => (keymap::input_keys(mode), Vec::new()),
    };
    frame.render_widget(Paragraph::new(bar(&keys, &tail, area.width)), area);
}

/// ` key  desc  key  desc …` with keys highlighted; `tail` always shows, and the
/// keys that do not fit before it are left out (the help overlay lists them all).
fn bar(keys: &[KeyHelp], tail: &[KeyHelp], width: u16) -> Line<'static> {
    let item_width = |(key, desc): &KeyHelp| text_width(key) + text_width(desc) + 4;
    let mut room = width.saturating_sub(tail.iter().map(item_width).sum());
    let mut spans = Vec::new();
    for item in keys {
        let w = item_width(item);
        if w > room {
            break;
        }
        room -= w;
        push(&mut spans, item);
    }
    for item in tail {
        push(&mut spans, item);
    }
    Line::from(spans)
}

fn push(spans: &mut Vec<Span<'static>>, (key, desc): &KeyHelp) {
    spans.push(Span::styled(format!(" {key} "), theme::key()));
    spans.push(Span::raw(format!(" {desc} ")));
}
