//! The herd map: servers on an ellipse, links drawn by state, pulses moving
//! along links that carried updates since the last frames.

use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::canvas::{Canvas, Painter, Shape};
use ratatui::widgets::Block;
use ratatui::Frame;

use super::columns::text_width;
use super::map_layout::{nodes, place, span_at, Cell2, Span2};
use super::theme;
use crate::app::App;
use crate::model::{LinkSnapshot, LinkState};

/// Positions a pulse marker cycles through along a link.
const PULSE_STEPS: u64 = 6;

/// Draw the map of servers and links.
pub fn draw_map(frame: &mut Frame, area: Rect, app: &App) {
    let block = Block::bordered()
        .title(" Herd map ")
        .title_bottom(legend(area.width));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.width < 4 || inner.height < 3 {
        return;
    }
    let nodes = nodes(app);
    let places = place(&nodes, inner);
    let find = |name: &str| nodes.iter().position(|n| n.name == name).map(|i| places[i]);
    let links: Vec<(&LinkSnapshot, Cell2, Cell2)> = app
        .snapshot()
        .links
        .iter()
        .filter_map(|l| Some((l, find(&l.a)?, find(&l.b)?)))
        .collect();
    let (w, h) = (f64::from(inner.width), f64::from(inner.height));
    let to_canvas = |(x, y): (f64, f64)| (x + 0.5, h - y - 0.5);
    let canvas = Canvas::default()
        .marker(Marker::Braille)
        .x_bounds([0.0, w])
        .y_bounds([0.0, h])
        .paint(|ctx| {
            for (link, from, to) in &links {
                let (x1, y1) = to_canvas(*from);
                let (x2, y2) = to_canvas(*to);
                ctx.draw(&StateLine {
                    from: (x1, y1),
                    to: (x2, y2),
                    state: link.state,
                });
            }
        });
    frame.render_widget(canvas, inner);

    // Labels: server names first claim their cells; link labels go where they fit.
    let mut taken: Vec<Span2> = Vec::new();
    let names: Vec<(Span2, String, Style)> = nodes
        .iter()
        .zip(&places)
        .map(|(node, pos)| {
            let text = node.label();
            let style = match node.running {
                Some(running) => theme::running(running),
                None => Style::new().fg(Color::DarkGray),
            };
            (span_at(*pos, &text, inner), text, style)
        })
        .collect();
    taken.extend(names.iter().map(|(span, ..)| *span));
    let mut labels: Vec<(Span2, &str, Style)> = Vec::new();
    for (link, from, to) in &links {
        let at = |t: f64| (from.0 + (to.0 - from.0) * t, from.1 + (to.1 - from.1) * t);
        if app.pulse(&link.a, &link.b) > 0 {
            let step = app.frame() % PULSE_STEPS;
            let t = (step as f64 + 0.5) / PULSE_STEPS as f64;
            labels.push((span_at(at(0.15 + 0.7 * t), "●", inner), "●", theme::pulse()));
        }
        let text = match link.state {
            LinkState::Up => continue,
            LinkState::Connecting => "conn",
            LinkState::Down => "down",
            LinkState::Cut => "cut",
        };
        let spot = [0.5, 0.38, 0.62, 0.28, 0.72]
            .iter()
            .map(|&t| span_at(at(t), text, inner))
            .find(|span| taken.iter().all(|other| !span.overlaps(other)));
        if let Some(span) = spot {
            taken.push(span);
            labels.push((span, text, Style::new().fg(theme::link(link.state))));
        }
    }
    let buf = frame.buffer_mut();
    for (span, text, style) in labels {
        buf.set_stringn(span.x, span.y, text, usize::from(span.width), style);
    }
    for (span, text, style) in names {
        buf.set_stringn(span.x, span.y, text, usize::from(span.width), style);
    }
}

/// The legend in the map's bottom border, as wide as fits.
fn legend(width: u16) -> Line<'static> {
    let items = [
        (" ─ up ", Style::new().fg(theme::link(LinkState::Up))),
        (
            " ╌ conn ",
            Style::new().fg(theme::link(LinkState::Connecting)),
        ),
        (" ┈ down ", Style::new().fg(theme::link(LinkState::Down))),
        (" ─ ─ cut ", Style::new().fg(theme::link(LinkState::Cut))),
        (" × stopped ", theme::running(false)),
    ];
    // As many items as fit, leaving the corners and a little border visible.
    let mut room = width.saturating_sub(4);
    let mut spans = Vec::new();
    for (text, style) in items {
        let w = text_width(text);
        if w > room {
            break;
        }
        room -= w;
        spans.push(Span::styled(text, style));
    }
    Line::from(spans).right_aligned()
}

/// A straight line whose dot pattern tells the link state:
/// solid (up), dashed (connecting), dotted (down), broken in the middle (cut).
struct StateLine {
    /// Start, in canvas coordinates.
    from: (f64, f64),
    /// End, in canvas coordinates.
    to: (f64, f64),
    /// Decides the pattern and colour.
    state: LinkState,
}

impl Shape for StateLine {
    fn draw(&self, painter: &mut Painter) {
        let (Some((x1, y1)), Some((x2, y2))) = (
            painter.get_point(self.from.0, self.from.1),
            painter.get_point(self.to.0, self.to.1),
        ) else {
            return;
        };
        let (dx, dy) = (x2 as f64 - x1 as f64, y2 as f64 - y1 as f64);
        let steps = dx.abs().max(dy.abs()).max(1.0) as usize;
        let color: Color = theme::link(self.state);
        for i in 0..=steps {
            let t = i as f64 / steps as f64;
            let on = match self.state {
                LinkState::Up => true,
                LinkState::Connecting => (i / 3) % 2 == 0,
                LinkState::Down => i % 4 == 0,
                LinkState::Cut => (t - 0.5).abs() > 0.15,
            };
            if on {
                let x = (x1 as f64 + dx * t).round() as usize;
                let y = (y1 as f64 + dy * t).round() as usize;
                painter.paint(x, y, color);
            }
        }
    }
}
