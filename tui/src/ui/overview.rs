//! Overview: the servers with their rates, and the herd map with its links.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::widgets::Block;
use ratatui::Frame;

use super::columns::{fit, Column};
use super::{fmt, links, map, theme};
use crate::app::App;
use crate::model::ServerSnapshot;

/// Server table columns; IN/s and OUT/s hold the rate and a sparkline.
const COLUMNS: [Column; 7] = [
    Column::left("NAME", 4, 12, 0),
    Column::left("LISTEN", 21, 21, 3),
    Column::left("STATE", 7, 7, 0),
    Column::right("UPTIME", 6, 7, 2),
    Column::right("CLIENTS", 7, 7, 2),
    Column::left("IN/s", RATE_MIN, 40, 1).grow(),
    Column::left("OUT/s", RATE_MIN, 40, 1).grow(),
];

/// Index of the IN/s column in [`COLUMNS`].
const COL_IN: usize = 5;
/// Index of the OUT/s column in [`COLUMNS`].
const COL_OUT: usize = 6;
/// Width of the number in a rate column.
const RATE_DIGITS: usize = 5;
/// Narrowest rate column: the number, a space and a short sparkline.
const RATE_MIN: u16 = RATE_DIGITS as u16 + 1 + 5;
/// Width a rate column asks for before sharing spare space.
const RATE_WANTED: usize = RATE_DIGITS + 1 + 12;
/// What a cell shows when this console cannot know it (a neighbour in another process).
const UNKNOWN: &str = "?";
/// Width of the link list beside the map.
const LINKS_WIDTH: u16 = 38;
/// Below this width the map is left out and only the link list shows.
const MAP_MIN_WIDTH: u16 = 24;

/// Draw the Overview.
pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let servers = &app.snapshot().servers;
    let table_height = u16::try_from(servers.len() + 3)
        .unwrap_or(u16::MAX)
        .min(area.height / 2)
        .max(4);
    let [table_area, herd_area] =
        Layout::vertical([Constraint::Length(table_height), Constraint::Fill(1)]).areas(area);
    draw_servers(frame, table_area, app);
    let links_width = LINKS_WIDTH.min(herd_area.width);
    let map_width = herd_area.width - links_width;
    if map_width >= MAP_MIN_WIDTH {
        let [map_area, links_area] =
            Layout::horizontal([Constraint::Fill(1), Constraint::Length(links_width)])
                .areas(herd_area);
        map::draw_map(frame, map_area, app);
        links::draw_links(frame, links_area, app);
    } else {
        links::draw_links(frame, herd_area, app);
    }
}

fn draw_servers(frame: &mut Frame, area: Rect, app: &App) {
    let servers = &app.snapshot().servers;
    let count = |remote: bool, running: bool| {
        servers
            .iter()
            .filter(|s| s.remote == remote && (s.running || !running))
            .count()
    };
    let mut title = format!(
        " Servers {}/{} running ",
        count(false, true),
        count(false, false)
    );
    if count(true, false) > 0 {
        // Neighbours in other processes: only whether their link is up is known.
        title = format!(
            "{}, neighbours {}/{} linked ",
            title.trim_end(),
            count(true, true),
            count(true, false)
        );
    }
    let block = Block::bordered().title(title);
    let inner_width = block.inner(area).width.saturating_sub(2);
    let texts: Vec<Vec<String>> = servers.iter().map(|s| cells(app, s, None)).collect();
    let fitted = fit(&COLUMNS, &texts, inner_width);
    let spark = |col: usize| {
        fitted
            .width_of(col)
            .map_or(0, |w| usize::from(w).saturating_sub(RATE_DIGITS + 1))
    };
    let widths = Some((spark(COL_IN), spark(COL_OUT)));
    let rows = servers.iter().map(|s| {
        let style = theme::running(s.running);
        let cells = cells(app, s, widths);
        let row = fitted.row(&COLUMNS, cells);
        if s.running {
            row
        } else {
            row.style(style)
        }
    });
    let selected = app.selected_server_index();
    fitted.draw_selectable(frame, area, &COLUMNS, None, block, rows, selected);
}

/// Every column's text for one server; `spark` = sparkline widths once known.
fn cells(app: &App, s: &ServerSnapshot, spark: Option<(usize, usize)>) -> Vec<String> {
    let rates = app.rates(&s.name);
    let rate = |current: Option<u64>| current.map_or_else(|| "-".to_owned(), fmt::count);
    let (rate_in, rate_out) = (
        rate(rates.and_then(|r| r.current_in())),
        rate(rates.and_then(|r| r.current_out())),
    );
    let (in_text, out_text) = match (spark, rates) {
        (Some((w_in, w_out)), Some(r)) => (
            format!(
                "{rate_in:>RATE_DIGITS$} {}",
                fmt::sparkline(r.lines_in.iter(), w_in)
            ),
            format!(
                "{rate_out:>RATE_DIGITS$} {}",
                fmt::sparkline(r.lines_out.iter(), w_out)
            ),
        ),
        (Some(_), None) => (
            format!("{rate_in:>RATE_DIGITS$}"),
            format!("{rate_out:>RATE_DIGITS$}"),
        ),
        // Sizing pass: ask for room for a sparkline.
        (None, _) => (" ".repeat(RATE_WANTED), " ".repeat(RATE_WANTED)),
    };
    if s.remote {
        // Another process: a link up says it runs; nothing else is known here.
        let unknown = || UNKNOWN.to_owned();
        let state = if s.running { "running" } else { UNKNOWN };
        return vec![
            s.name.clone(),
            s.listen.clone(),
            state.to_owned(),
            unknown(),
            unknown(),
            format!("{UNKNOWN:>RATE_DIGITS$}"),
            format!("{UNKNOWN:>RATE_DIGITS$}"),
        ];
    }
    vec![
        s.name.clone(),
        s.listen.clone(),
        if s.running { "running" } else { "stopped" }.to_owned(),
        if s.running {
            fmt::duration(s.uptime)
        } else {
            "-".to_owned()
        },
        s.clients_known.to_string(),
        in_text,
        out_text,
    ]
}
