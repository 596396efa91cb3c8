//! Bytes to lines, with a hard limit on line length.
//!
//! The buffer never holds more than the limit plus one read chunk: a stream of bytes without a
//! newline cannot grow memory. A line that exceeds the limit is reported, not buffered further.
//! It starts small and doubles only when a read fills it, so an idle connection costs a few
//! hundred bytes, and a busy one reads up to a chunk at a time without zeroing memory per read.

use std::io;
use std::ops::Range;

use futures::{AsyncRead, AsyncReadExt};

use crate::protocol::strip_terminator;

/// The most one read asks for.
const CHUNK: usize = 8 * 1024;

/// The buffer's first size.
const INITIAL: usize = 512;

/// What [`LineReader::next_line`] found in the buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Framed {
    /// A complete line; the range indexes [`LineReader::line`] and excludes the terminator.
    Line(Range<usize>),
    /// More than the limit arrived without a newline.
    TooLong,
}

/// A buffered line reader over any `futures` reader.
pub struct LineReader<R> {
    /// The byte source.
    inner: R,
    /// Read bytes are `buf[start..end]`; the rest is space for the next read.
    buf: Vec<u8>,
    /// First unconsumed byte.
    start: usize,
    /// End of the bytes read.
    end: usize,
    /// Bytes from `start` already searched for a newline.
    scanned: usize,
    /// Longest line allowed, terminator excluded.
    max_line: usize,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    /// Wraps `inner`; lines longer than `max_line` bytes are refused.
    pub fn new(inner: R, max_line: usize) -> Self {
        LineReader {
            inner,
            buf: Vec::new(),
            start: 0,
            end: 0,
            scanned: 0,
            max_line,
        }
    }

    /// Changes the longest line allowed (a connection that turns out to be a neighbour link).
    pub fn set_max_line(&mut self, max_line: usize) {
        self.max_line = max_line;
    }

    /// The next complete line already buffered, if any. Never reads.
    pub fn next_line(&mut self) -> Option<Framed> {
        let pending = &self.buf[self.start..self.end];
        match memchr::memchr(b'\n', &pending[self.scanned..]) {
            Some(i) => {
                let end = self.start + self.scanned + i + 1;
                let with_lf = &self.buf[self.start..end];
                let len = strip_terminator(with_lf).len();
                if len > self.max_line {
                    return Some(Framed::TooLong);
                }
                let range = self.start..self.start + len;
                self.start = end;
                self.scanned = 0;
                Some(Framed::Line(range))
            }
            None => {
                self.scanned = pending.len();
                // +1: the limit excludes a CR that may still turn out to be part of the terminator.
                (pending.len() > self.max_line + 1).then_some(Framed::TooLong)
            }
        }
    }

    /// The bytes of a line returned by [`next_line`](Self::next_line); valid until the next fill.
    pub fn line(&self, range: Range<usize>) -> &[u8] {
        &self.buf[range]
    }

    /// Reads more bytes; `Ok(0)` at end of stream.
    pub async fn fill(&mut self) -> io::Result<usize> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            // Full: double, up to the limit plus one chunk.
            let cap = (self.max_line + 1).saturating_add(CHUNK).max(INITIAL);
            let grown = (self.buf.len() * 2).clamp(INITIAL, cap);
            self.buf.resize(grown.max(self.end + 1), 0);
        }
        let n = self.inner.read(&mut self.buf[self.end..]).await?;
        self.end += n;
        Ok(n)
    }

    /// At end of stream: the bytes after the last newline (a final command without a newline).
    pub fn rest(&mut self) -> Option<&[u8]> {
        let rest = &self.buf[self.start..self.end];
        self.start = self.end;
        self.scanned = 0;
        (!rest.is_empty()).then_some(rest)
    }

    /// Bytes buffered but not yet consumed.
    pub fn buffered(&self) -> usize {
        self.end - self.start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `chunks` one read at a time and collects what the reader reports.
    fn check(chunks: &[&[u8]], max: usize, expected: &[&str]) {
        let data: Vec<u8> = chunks.concat();
        let mut r = LineReader::new(futures::io::Cursor::new(data), max);
        let mut got = Vec::new();
        futures::executor::block_on(async {
            loop {
                while let Some(f) = r.next_line() {
                    match f {
                        Framed::Line(range) => {
                            got.push(String::from_utf8_lossy(r.line(range)).into_owned())
                        }
                        Framed::TooLong => {
                            got.push("<too long>".into());
                            return;
                        }
                    }
                }
                if r.fill().await.unwrap() == 0 {
                    if let Some(rest) = r.rest() {
                        got.push(format!("<eof>{}", String::from_utf8_lossy(rest)));
                    }
                    return;
                }
            }
        });
        assert_eq!(got, expected, "{chunks:?}");
    }

    #[test]
    fn framing() {
        check(&[b"a\nb\r\nc"], 100, &["a", "b", "<eof>c"]);
        check(&[b"a\r\r\n"], 100, &["a\r"]);
        check(&[b"\n\n"], 100, &["", ""]);
        check(&[b"x\r"], 100, &["<eof>x\r"]);
        check(&[b""], 100, &[]);
        check(&[b"12345\n123456\n"], 5, &["12345", "<too long>"]);
        check(&[b"12345\r\n"], 5, &["12345"]);
    }

    #[test]
    fn a_line_without_newline_is_cut_at_the_limit() {
        let big = vec![b'x'; 100_000];
        check(&[&big], 64, &["<too long>"]);
    }
}
