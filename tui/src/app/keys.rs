//! Key handling: every key press becomes a state change and maybe an [`Action`].

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::{Action, App, InputMode, Tab, LOG_LEVELS};
use crate::model::OperatorCommand;

/// Rows moved by PageUp / PageDown in tables.
const PAGE: isize = 10;

impl App {
    /// Handle one key event; the caller sends the returned command, if any.
    pub fn on_key(&mut self, key: KeyEvent) -> Action {
        if key.kind == KeyEventKind::Release {
            return Action::None;
        }
        if key.modifiers.contains(KeyModifiers::CONTROL) {
            return match key.code {
                KeyCode::Char('c') | KeyCode::Char('C') => Action::Quit,
                _ => Action::None,
            };
        }
        if self.input != InputMode::Normal {
            self.on_input_key(key.code);
            return Action::None;
        }
        if self.help_open {
            return match key.code {
                KeyCode::Char('q') => Action::Quit,
                KeyCode::Esc | KeyCode::Char('?') => {
                    self.help_open = false;
                    Action::None
                }
                _ => Action::None,
            };
        }
        match key.code {
            KeyCode::Char('q') => return Action::Quit,
            KeyCode::Char('?') => self.help_open = true,
            KeyCode::Char(c @ '1'..='5') => {
                let i = usize::from(c as u8 - b'1');
                self.tab = Tab::ALL[i];
            }
            KeyCode::Tab => self.tab = self.tab.next(),
            KeyCode::BackTab => self.tab = self.tab.prev(),
            KeyCode::Char('[') | KeyCode::Left => self.move_server(-1),
            KeyCode::Char(']') | KeyCode::Right => self.move_server(1),
            KeyCode::Up => self.move_selection(-1),
            KeyCode::Down => self.move_selection(1),
            KeyCode::PageUp => self.move_selection(-PAGE),
            KeyCode::PageDown => self.move_selection(PAGE),
            KeyCode::Home => self.select_first(),
            KeyCode::End => self.select_last(),
            KeyCode::Esc => self.escape(),
            KeyCode::Char('l') => return self.cycle_log_level(),
            KeyCode::Char('k') => return self.server_command(true),
            KeyCode::Char('s') => return self.server_command(false),
            KeyCode::Char(c) => return self.on_view_key(c),
            _ => {}
        }
        Action::None
    }

    /// Keys that mean something in one view only.
    fn on_view_key(&mut self, c: char) -> Action {
        match (self.tab, c) {
            (Tab::Connections, 'o') => {
                self.conn_sort = self.conn_sort.next();
                self.sync_selections();
            }
            (Tab::Connections, 'O') => {
                self.conn_desc = !self.conn_desc;
                self.sync_selections();
            }
            (Tab::Connections, 'd') => return self.drop_connection(),
            (Tab::Peers, 'c') => return self.link_command(true),
            (Tab::Peers, 'r') => return self.link_command(false),
            (Tab::Flow, '/') => self.input = InputMode::FlowFilter,
            (Tab::Flow, 'p') => self.flow.toggle_pause(),
            (Tab::Clients, '/') => self.input = InputMode::ClientSearch,
            _ => {}
        }
        Action::None
    }

    /// Keys while typing a filter or search.
    fn on_input_key(&mut self, code: KeyCode) {
        let mut text = match self.input {
            InputMode::FlowFilter => self.flow.filter().to_owned(),
            InputMode::ClientSearch => self.client_search.clone(),
            InputMode::Normal => return,
        };
        match code {
            KeyCode::Enter => {
                self.input = InputMode::Normal;
                return;
            }
            KeyCode::Esc => {
                text.clear();
                self.input = InputMode::Normal;
            }
            KeyCode::Backspace => {
                text.pop();
            }
            KeyCode::Char(c) => text.push(c),
            KeyCode::Up => return self.move_selection(-1),
            KeyCode::Down => return self.move_selection(1),
            _ => return,
        }
        match self.tab {
            Tab::Flow => self.flow.set_filter(text),
            _ => {
                self.client_search = text;
                self.sync_selections();
            }
        }
    }

    fn move_server(&mut self, delta: isize) {
        let keys = self.server_keys();
        self.server.move_by(delta, &keys);
        self.sync_selections();
    }

    fn move_selection(&mut self, delta: isize) {
        match self.tab {
            Tab::Overview => self.move_server(delta),
            Tab::Connections => {
                let keys = self.conn_keys();
                self.conn.move_by(delta, &keys);
            }
            Tab::Peers => {
                let keys = self.peer_keys();
                self.peer.move_by(delta, &keys);
            }
            Tab::Clients => {
                let keys = self.client_keys();
                self.client.move_by(delta, &keys);
            }
            Tab::Flow if delta < 0 => self.flow.scroll_up(delta.unsigned_abs()),
            Tab::Flow => self.flow.scroll_down(delta.unsigned_abs()),
        }
    }

    fn select_first(&mut self) {
        match self.tab {
            Tab::Overview => {
                let keys = self.server_keys();
                self.server.first(&keys);
                self.sync_selections();
            }
            Tab::Connections => {
                let keys = self.conn_keys();
                self.conn.first(&keys);
            }
            Tab::Peers => {
                let keys = self.peer_keys();
                self.peer.first(&keys);
            }
            Tab::Clients => {
                let keys = self.client_keys();
                self.client.first(&keys);
            }
            Tab::Flow => self.flow.scroll_up(usize::MAX / 2),
        }
    }

    fn select_last(&mut self) {
        match self.tab {
            Tab::Overview => {
                let keys = self.server_keys();
                self.server.last(&keys);
                self.sync_selections();
            }
            Tab::Connections => {
                let keys = self.conn_keys();
                self.conn.last(&keys);
            }
            Tab::Peers => {
                let keys = self.peer_keys();
                self.peer.last(&keys);
            }
            Tab::Clients => {
                let keys = self.client_keys();
                self.client.last(&keys);
            }
            Tab::Flow => self.flow.follow(),
        }
    }

    /// Esc outside input: clear this view's filter, else the status line.
    fn escape(&mut self) {
        match self.tab {
            Tab::Flow if !self.flow.filter().is_empty() => self.flow.set_filter(String::new()),
            Tab::Clients if !self.client_search.is_empty() => {
                self.client_search.clear();
                self.sync_selections();
            }
            _ => self.status = None,
        }
    }

    fn cycle_log_level(&mut self) -> Action {
        let current = self
            .selected_server()
            .map(|s| s.log_level.to_lowercase())
            .unwrap_or_default();
        let next = match LOG_LEVELS.iter().position(|l| *l == current) {
            Some(i) => LOG_LEVELS[(i + 1) % LOG_LEVELS.len()],
            None => "info",
        };
        Action::Command(OperatorCommand::SetLogLevel(next.to_owned()))
    }

    /// `k` (stop) or `s` (start) on the selected server, demo only.
    fn server_command(&mut self, stop: bool) -> Action {
        if !self.demo {
            self.info("k / s (stop / start a server) work only in the herd demo");
            return Action::None;
        }
        let Some(name) = self.selected_server().map(|s| s.name.clone()) else {
            self.info("no server selected");
            return Action::None;
        };
        Action::Command(if stop {
            OperatorCommand::StopServer(name)
        } else {
            OperatorCommand::StartServer(name)
        })
    }

    fn drop_connection(&mut self) -> Action {
        let keys = self.conn_keys();
        let server = self.selected_server().map(|s| s.name.clone());
        match (server, self.conn.key_in(&keys)) {
            (Some(server), Some(id)) => {
                Action::Command(OperatorCommand::DropConnection { server, id })
            }
            _ => {
                self.info("no connection selected");
                Action::None
            }
        }
    }

    /// `c` (cut) or `r` (restore) on the link to the selected peer.
    fn link_command(&mut self, cut: bool) -> Action {
        let keys = self.peer_keys();
        let server = self.selected_server().map(|s| s.name.clone());
        match (server, self.peer.key_in(&keys)) {
            (Some(a), Some(b)) if cut => Action::Command(OperatorCommand::CutLink { a, b }),
            (Some(a), Some(b)) => Action::Command(OperatorCommand::RestoreLink { a, b }),
            _ => {
                self.info("no peer selected");
                Action::None
            }
        }
    }
}
