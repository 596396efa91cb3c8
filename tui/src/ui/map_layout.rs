//! Where things go on the herd map: servers on an ellipse, labels on cells.

use std::f64::consts::{FRAC_PI_2, TAU};

use ratatui::layout::Rect;

use super::columns::text_width;
use crate::app::App;
use crate::model::ServerSnapshot;

/// Mark after a stopped server's name on the map.
pub const STOPPED: &str = "×";

/// A position in cells (column, row), fractional.
pub type Cell2 = (f64, f64);

/// A server on the map.
pub struct Node<'a> {
    /// Server name.
    pub name: &'a str,
    /// Running or stopped; `None` for a neighbour known only from a link
    /// (a single server's console sees its neighbours only that way).
    pub running: Option<bool>,
}

impl Node<'_> {
    /// Label on the map.
    pub fn label(&self) -> String {
        match self.running {
            Some(false) => format!("{}{STOPPED}", self.name),
            _ => self.name.to_owned(),
        }
    }
}

/// The servers of the snapshot, then any other link end, in order of appearance.
pub fn nodes(app: &App) -> Vec<Node<'_>> {
    let snap = app.snapshot();
    let mut nodes: Vec<Node<'_>> = snap
        .servers
        .iter()
        .map(|s: &ServerSnapshot| Node {
            name: &s.name,
            running: Some(s.running),
        })
        .collect();
    for link in &snap.links {
        for end in [&link.a, &link.b] {
            if !nodes.iter().any(|n| n.name == end.as_str()) {
                nodes.push(Node {
                    name: end,
                    running: None,
                });
            }
        }
    }
    nodes
}

/// Cell positions (column, row, fractional) of the servers on an ellipse in `area`,
/// the first at the top, then clockwise.
pub fn place(nodes: &[Node<'_>], area: Rect) -> Vec<Cell2> {
    let (w, h) = (f64::from(area.width), f64::from(area.height));
    let (cx, cy) = ((w - 1.0) / 2.0, (h - 1.0) / 2.0);
    if nodes.len() < 2 {
        return vec![(cx, cy); nodes.len()];
    }
    let widest = nodes
        .iter()
        .map(|n| f64::from(text_width(&n.label())))
        .fold(0.0, f64::max);
    let rx = (cx - widest / 2.0).max(0.0);
    let ry = cy.max(0.0);
    let n = nodes.len() as f64;
    (0..nodes.len())
        .map(|i| {
            let angle = FRAC_PI_2 - TAU * i as f64 / n;
            (cx + rx * angle.cos(), cy - ry * angle.sin())
        })
        .collect()
}

/// Where a label goes on screen: one row, from `x`, `width` cells.
#[derive(Clone, Copy, Debug)]
pub struct Span2 {
    /// First column, absolute.
    pub x: u16,
    /// Row, absolute.
    pub y: u16,
    /// Width in cells (clipped to the map).
    pub width: u16,
}

impl Span2 {
    /// True if the two labels share a cell or touch (a label needs a gap to read).
    pub fn overlaps(&self, other: &Span2) -> bool {
        self.y == other.y && self.x <= other.x + other.width && other.x <= self.x + self.width
    }
}

/// The label `text` centred on cell position `pos` of `area`, clipped to it.
pub fn span_at((x, y): Cell2, text: &str, area: Rect) -> Span2 {
    let (w, h) = (f64::from(area.width), f64::from(area.height));
    let half = f64::from(text_width(text)) / 2.0;
    let col = (x - half + 0.5).floor().clamp(0.0, w - 1.0) as u16;
    let row = y.round().clamp(0.0, h - 1.0) as u16;
    Span2 {
        x: area.x + col,
        y: area.y + row,
        width: text_width(text).min(area.width - col),
    }
}
