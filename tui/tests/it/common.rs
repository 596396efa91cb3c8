//! Shared builders: an App fed with the sample herd, and a renderer.

use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use herd_tui::testing::{sample_flow, sample_snapshot};
use herd_tui::{ui, App, ConsoleOptions, HerdSnapshot};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

/// The sample herd after `step` seconds of deterministic traffic.
pub fn sample_at(step: u64) -> HerdSnapshot {
    let mut snap = sample_snapshot();
    for (i, s) in snap.servers.iter_mut().enumerate() {
        let i = i as u64 + 1;
        // Uneven, growing traffic so the sparklines have a shape.
        let wave = |k: u64| (k * k * i) % 23 + k * i;
        let total_in: u64 = (1..=step).map(wave).sum();
        let total_out: u64 = (1..=step).map(|k| wave(k) * 2).sum();
        s.lines_in += total_in;
        s.lines_out += total_out;
    }
    // Only Clark-Jaquez carried updates in the last second: it pulses.
    for l in &mut snap.links {
        if l.a == "Clark" && l.b == "Jaquez" {
            l.flows += step;
        }
    }
    snap
}

/// An App (demo mode) that has seen 20 seconds of the sample herd and the sample flow.
pub fn sample_app(demo: bool) -> App {
    let mut app = App::new(&ConsoleOptions::default(), demo);
    let t0 = Instant::now();
    for step in 0..=20 {
        app.on_snapshot(sample_at(step), t0 + Duration::from_secs(step));
    }
    app.on_flow(sample_flow());
    app
}

/// Press a sequence of plain keys.
pub fn press(app: &mut App, keys: &[KeyCode]) {
    for &code in keys {
        app.on_key(KeyEvent::new(code, KeyModifiers::NONE));
    }
}

/// Type characters one by one.
pub fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        app.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    }
}

/// Draw `app` on a `width` x `height` test terminal and return the screen as text.
pub fn render(app: &App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|frame| ui::draw(frame, app)).unwrap();
    terminal.backend().to_string()
}
