//! The top line: title, view tabs, and the selected server.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Tabs};
use ratatui::Frame;

use super::columns::text_width;
use super::theme;
use crate::app::{App, Tab};

/// Draw the tab bar with the title at the left and the server selector at the right.
///
/// Every tab stays visible: tab titles shorten first, then the console's title is cut.
pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let server = server_label(app);
    let room = area.width.saturating_sub(text_width(&server));
    let title = if app.demo() {
        format!(" {} demo ", app.title())
    } else {
        format!(" {} ", app.title())
    };
    let styles: [fn(Tab) -> String; 3] = [full_title, short_title, tiny_title];
    let all = |f: &fn(Tab) -> String| Tab::ALL.iter().map(|t| f(*t)).collect::<Vec<_>>();
    let titles = styles
        .iter()
        .map(all)
        .find(|titles| text_width(&title) + tabs_width(titles) <= room)
        .unwrap_or_else(|| all(&styles[2]));
    let title = cut(&title, room.saturating_sub(tabs_width(&titles)));
    let [title_area, tabs_area, server_area] = Layout::horizontal([
        Constraint::Length(text_width(&title)),
        Constraint::Fill(1),
        Constraint::Length(text_width(&server)),
    ])
    .areas(area);
    frame.render_widget(
        Paragraph::new(title).style(Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED)),
        title_area,
    );
    let tabs = Tabs::new(titles)
        .select(app.tab().index())
        .highlight_style(Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED))
        .divider("│");
    frame.render_widget(tabs, tabs_area);
    let style = app
        .selected_server()
        .map_or(Style::new(), |s| theme::running(s.running));
    frame.render_widget(
        Paragraph::new(Line::from(Span::styled(server, style))),
        server_area,
    );
}

/// `title` in at most `width` columns: whole, or cut with `…` and a space, or nothing when
/// even that does not fit.
fn cut(title: &str, width: u16) -> String {
    if text_width(title) <= width {
        return title.to_owned();
    }
    if width < 4 {
        return String::new();
    }
    let mut out = String::new();
    for c in title.chars() {
        out.push(c);
        if text_width(&out) + 2 > width {
            out.pop();
            break;
        }
    }
    out.push_str("… ");
    out
}

/// `2 Connections`.
fn full_title(tab: Tab) -> String {
    format!("{} {}", tab.index() + 1, tab.title())
}

/// `2 Conns`, for an 80-column terminal with a long title or server name.
fn short_title(tab: Tab) -> String {
    match tab {
        Tab::Connections => "2 Conns".to_owned(),
        other => full_title(other),
    }
}

/// `2 Conn`, for narrower terminals still.
fn tiny_title(tab: Tab) -> String {
    let title: String = tab.title().chars().take(4).collect();
    format!("{} {title}", tab.index() + 1)
}

/// Width of a tab bar: one space of padding each side of a title, dividers between.
fn tabs_width(titles: &[String]) -> u16 {
    let sum: u16 = titles.iter().map(|t| text_width(t) + 3).sum();
    sum.saturating_sub(1)
}

/// `◀ Clark ▶` (arrows only when there is more than one server to pick from).
fn server_label(app: &App) -> String {
    match app.selected_server() {
        Some(s) if app.snapshot().servers.len() > 1 => format!("◀ {} ▶ ", s.name),
        Some(s) => format!("{} ", s.name),
        None => String::new(),
    }
}
