//! Integration tests: the console drawn over ratatui's `TestBackend`.

mod common;
mod screens;
