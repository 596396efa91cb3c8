//! Table columns that shrink and drop gracefully when the terminal is narrow.

use ratatui::layout::{Constraint, Rect};
use ratatui::text::Text;
use ratatui::widgets::{Block, Cell, HighlightSpacing, Row, Table, TableState};
use ratatui::Frame;

use super::theme;

/// One column of a table: how wide it wants to be and how dispensable it is.
#[derive(Clone, Copy, Debug)]
pub struct Column {
    /// Header text.
    pub title: &'static str,
    /// Width it shrinks to when space is short (a `min` at or above `max`
    /// means the column never shrinks: it drops instead).
    pub min: u16,
    /// Widest width (content longer than this is cut).
    pub max: u16,
    /// Lower is more important: columns with the highest number drop first.
    pub priority: u8,
    /// Right-align (numbers).
    pub right: bool,
    /// Takes a share of any spare width.
    pub grow: bool,
}

impl Column {
    /// A left-aligned column.
    pub const fn left(title: &'static str, min: u16, max: u16, priority: u8) -> Self {
        Self {
            title,
            min,
            max,
            priority,
            right: false,
            grow: false,
        }
    }

    /// A right-aligned column.
    pub const fn right(title: &'static str, min: u16, max: u16, priority: u8) -> Self {
        Self {
            title,
            min,
            max,
            priority,
            right: true,
            grow: false,
        }
    }

    /// The same column, taking a share of spare width.
    pub const fn grow(mut self) -> Self {
        self.grow = true;
        self
    }
}

/// The columns kept and their widths.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fitted {
    /// Index (into the column list) and width of each column shown, in order.
    pub cols: Vec<(usize, u16)>,
}

/// Choose columns and widths for `avail` cells, with one space between columns.
///
/// Each column starts at the width of its widest cell (header included),
/// at most `max`. While the total does not fit, columns shrink to
/// `min`, least important first, and only then drop, least important first;
/// the first column never drops. Spare width goes to the growing columns.
/// Widths are never below what fits; a table may still be cut when even the
/// first column is wider than `avail`.
pub fn fit(columns: &[Column], rows: &[Vec<String>], avail: u16) -> Fitted {
    let mut widths: Vec<u16> = columns
        .iter()
        .enumerate()
        .map(|(i, col)| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|s| text_width(s))
                .chain([text_width(col.title)])
                .max()
                .unwrap_or(0)
                .min(col.max)
        })
        .collect();
    let mut kept: Vec<usize> = (0..columns.len()).collect();
    let total = |kept: &[usize], widths: &[u16]| -> u32 {
        let sum: u32 = kept.iter().map(|&i| u32::from(widths[i])).sum();
        sum + kept.len().saturating_sub(1) as u32
    };
    // Least important first; among equals, the rightmost first.
    let mut order: Vec<usize> = (1..columns.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(columns[i].priority), std::cmp::Reverse(i)));
    let avail32 = u32::from(avail);
    // First shrink (growing columns first: they are made to absorb width,
    // then the least important), and only then drop, least important first.
    let mut shrink_order: Vec<usize> = order.clone();
    shrink_order.sort_by_key(|&i| !columns[i].grow);
    for &i in &shrink_order {
        if total(&kept, &widths) <= avail32 {
            break;
        }
        widths[i] = widths[i].min(columns[i].min);
    }
    for &i in &order {
        if total(&kept, &widths) <= avail32 {
            break;
        }
        kept.retain(|&k| k != i);
    }
    // Share any space left between the growing columns (if none, it stays blank at the right).
    let spare = avail32.saturating_sub(total(&kept, &widths));
    let growers: Vec<usize> = kept.iter().copied().filter(|&i| columns[i].grow).collect();
    let n = growers.len() as u32;
    for (k, &i) in growers.iter().enumerate() {
        let share = spare / n.max(1) + u32::from((k as u32) < spare % n.max(1));
        let grown = u32::from(widths[i]) + share;
        widths[i] = u16::try_from(grown).unwrap_or(u16::MAX);
    }
    Fitted {
        cols: kept.into_iter().map(|i| (i, widths[i])).collect(),
    }
}

impl Fitted {
    /// Width constraints for [`ratatui::widgets::Table::new`].
    pub fn constraints(&self) -> Vec<Constraint> {
        self.cols
            .iter()
            .map(|&(_, w)| Constraint::Length(w))
            .collect()
    }

    /// Width given to column `index`, if shown.
    pub fn width_of(&self, index: usize) -> Option<u16> {
        self.cols.iter().find(|(i, _)| *i == index).map(|(_, w)| *w)
    }

    /// The header row; `mark` = (column, symbol) appends the symbol to that column's title.
    pub fn header(&self, columns: &[Column], mark: Option<(usize, &str)>) -> Row<'static> {
        Row::new(self.cols.iter().map(|&(i, w)| {
            let title = match mark {
                Some((m, sym)) if m == i => format!("{}{sym}", columns[i].title),
                _ => columns[i].title.to_owned(),
            };
            align(title, w, columns[i].right)
        }))
    }

    /// Draws `rows` as a table in `block` under this header (`mark` as for [`Fitted::header`]),
    /// with the row at `selected` highlighted: the one look every selectable table shares.
    #[allow(clippy::too_many_arguments)]
    pub fn draw_selectable<'a>(
        &self,
        frame: &mut Frame,
        area: Rect,
        columns: &[Column],
        mark: Option<(usize, &str)>,
        block: Block<'a>,
        rows: impl IntoIterator<Item = Row<'a>>,
        selected: Option<usize>,
    ) {
        let table = Table::new(rows, self.constraints())
            .header(self.header(columns, mark).style(theme::header()))
            .block(block)
            .row_highlight_style(theme::selected())
            .highlight_symbol(theme::SELECTED_SYMBOL)
            .highlight_spacing(HighlightSpacing::Always);
        let mut state = TableState::default().with_selected(selected);
        frame.render_stateful_widget(table, area, &mut state);
    }

    /// One body row built from every column's text, keeping the shown ones.
    pub fn row(&self, columns: &[Column], cells: Vec<String>) -> Row<'static> {
        Row::new(self.row_cells(columns, cells))
    }

    /// The cells of [`Fitted::row`], for callers that style some of them.
    pub fn row_cells(&self, columns: &[Column], cells: Vec<String>) -> Vec<Cell<'static>> {
        let mut cells: Vec<Option<String>> = cells.into_iter().map(Some).collect();
        self.cols
            .iter()
            .map(|&(i, w)| {
                let text = cells.get_mut(i).and_then(Option::take).unwrap_or_default();
                align(text, w, columns[i].right)
            })
            .collect()
    }

    /// Position among the shown cells of column `index`, if shown.
    pub fn position(&self, index: usize) -> Option<usize> {
        self.cols.iter().position(|(i, _)| *i == index)
    }
}

/// A cell padded on the left when right-aligned (ratatui cells align per line).
fn align(text: String, width: u16, right: bool) -> Cell<'static> {
    if right {
        let pad = usize::from(width).saturating_sub(usize::from(text_width(&text)));
        Cell::from(Text::raw(format!("{}{text}", " ".repeat(pad))))
    } else {
        Cell::from(Text::raw(text))
    }
}

/// Display width of a string, in cells.
pub fn text_width(s: &str) -> u16 {
    u16::try_from(ratatui::text::Line::raw(s).width()).unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLS: [Column; 3] = [
        Column::left("NAME", 4, 10, 0),
        Column::right("N", 3, 6, 2),
        Column::left("TEXT", 4, 40, 1).grow(),
    ];

    fn rows() -> Vec<Vec<String>> {
        vec![vec![
            "Campbell".into(),
            "12345".into(),
            "hello world".into(),
        ]]
    }

    #[test]
    fn wide_enough_keeps_all_and_grows_growing_columns() {
        let f = fit(&COLS, &rows(), 40);
        assert_eq!(f.cols, vec![(0, 8), (1, 5), (2, 25)]);
        let fixed = [COLS[0], COLS[1]];
        assert_eq!(fit(&fixed, &rows(), 40).cols, vec![(0, 8), (1, 5)]);
    }

    #[test]
    fn spare_width_is_shared_between_growing_columns() {
        let cols = [
            Column::left("AA", 2, 2, 0),
            Column::left("BB", 2, 2, 0).grow(),
            Column::left("CC", 2, 2, 0).grow(),
        ];
        assert_eq!(fit(&cols, &[], 13).cols, vec![(0, 2), (1, 5), (2, 4)]);
    }

    #[test]
    fn narrow_shrinks_then_drops_least_important() {
        // 8 + 1 + 5 + 1 + 11 = 26: the growing TEXT shrinks first, then takes what is left.
        assert_eq!(fit(&COLS, &rows(), 24).cols, vec![(0, 8), (1, 5), (2, 9)]);
        // Then N shrinks to its minimum, before anything drops.
        assert_eq!(fit(&COLS, &rows(), 18).cols, vec![(0, 8), (1, 3), (2, 5)]);
        // Too narrow even then: N, the least important, drops.
        assert_eq!(fit(&COLS, &rows(), 16).cols, vec![(0, 8), (2, 7)]);
        // The first column always stays.
        assert_eq!(fit(&COLS, &rows(), 5).cols, vec![(0, 8)]);
    }
}
