//! A [`LineBuf`] over an async reader: the client connection's framing.

use std::io;
use std::ops::Range;

use futures::{AsyncRead, AsyncReadExt};

use crate::frame::{Framed, LineBuf, Overlong};

/// A buffered line reader over any `futures` reader; lines over the limit are refused.
pub struct LineReader<R> {
    /// The byte source.
    inner: R,
    /// The bytes read and not yet consumed.
    buf: LineBuf,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    /// Wraps `inner`; lines longer than `max_line` bytes are refused.
    pub fn new(inner: R, max_line: usize) -> Self {
        LineReader {
            inner,
            buf: LineBuf::new(max_line, Overlong::Refuse),
        }
    }

    /// The next complete line already buffered, if any. Never reads.
    pub fn next_line(&mut self) -> Option<Framed> {
        self.buf.next_line()
    }

    /// The bytes of a line returned by [`next_line`](Self::next_line); valid until the next fill.
    pub fn line(&self, range: Range<usize>) -> &[u8] {
        self.buf.line(range)
    }

    /// Reads more bytes; `Ok(0)` at end of stream.
    pub async fn fill(&mut self) -> io::Result<usize> {
        let n = self.inner.read(self.buf.spare()).await?;
        self.buf.commit(n);
        Ok(n)
    }

    /// At end of stream: the bytes after the last newline (a final command without a newline).
    pub fn rest(&mut self) -> Option<&[u8]> {
        self.buf.rest()
    }

    /// Bytes buffered but not yet consumed.
    pub fn buffered(&self) -> usize {
        self.buf.buffered()
    }
}
