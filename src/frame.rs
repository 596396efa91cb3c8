//! Bytes to lines, with a hard limit on line length. Pure: the caller reads into
//! [`LineBuf::spare`] and says how much arrived with [`LineBuf::commit`].
//!
//! The buffer never holds more than the limit plus one read chunk: a stream of bytes without a
//! newline cannot grow memory. What happens to a line over the limit is the owner's choice
//! ([`Overlong`]): a client connection is closed, a neighbour link skips the line and goes on
//! (so one oversized frame cannot take a link down, over and over). The buffer starts small and
//! doubles only when a read fills it (the socket had more), so an idle connection costs a few
//! hundred bytes and a busy one reads many lines per system call.

use std::ops::Range;

use crate::protocol::strip_terminator;

/// The most one read asks for.
const CHUNK: usize = 8 * 1024;

/// The buffer's first size.
const INITIAL: usize = 512;

/// What to do with a line longer than the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overlong {
    /// Report [`Framed::TooLong`]; the caller ends the connection.
    Refuse,
    /// Drop the line (without buffering it) and report [`Framed::Skipped`] once it ends.
    Skip,
}

/// What [`LineBuf::next_line`] found in the buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Framed {
    /// A complete line; the range indexes [`LineBuf::line`] and excludes the terminator.
    Line(Range<usize>),
    /// More than the limit arrived without a newline (with [`Overlong::Refuse`]).
    TooLong,
    /// A line of this many bytes (terminator excluded) was dropped (with [`Overlong::Skip`]).
    Skipped(usize),
}

/// A line buffer with a length limit.
#[derive(Debug)]
pub struct LineBuf {
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
    /// What to do past the limit.
    overlong: Overlong,
    /// While dropping an overlong line: the bytes dropped so far.
    skipping: Option<usize>,
    /// The last read filled all the room there was: the next gets more.
    filled: bool,
}

impl LineBuf {
    /// An empty buffer; lines longer than `max_line` bytes are handled as `overlong` says.
    pub fn new(max_line: usize, overlong: Overlong) -> Self {
        LineBuf {
            buf: Vec::new(),
            start: 0,
            end: 0,
            scanned: 0,
            max_line,
            overlong,
            skipping: None,
            filled: false,
        }
    }

    /// The longest line allowed.
    pub fn max_line(&self) -> usize {
        self.max_line
    }

    /// The next complete line already buffered, if any.
    pub fn next_line(&mut self) -> Option<Framed> {
        let pending = &self.buf[self.start..self.end];
        if let Some(dropped) = self.skipping {
            return match memchr::memchr(b'\n', pending) {
                Some(i) => {
                    self.start += i + 1;
                    self.scanned = 0;
                    self.skipping = None;
                    Some(Framed::Skipped(dropped + i))
                }
                None => {
                    self.skipping = Some(dropped + pending.len());
                    self.start = self.end;
                    None
                }
            };
        }
        match memchr::memchr(b'\n', &pending[self.scanned..]) {
            Some(i) => {
                let end = self.start + self.scanned + i + 1;
                let len = strip_terminator(&self.buf[self.start..end]).len();
                if len > self.max_line {
                    if self.overlong == Overlong::Refuse {
                        return Some(Framed::TooLong);
                    }
                    self.start = end;
                    self.scanned = 0;
                    return Some(Framed::Skipped(len));
                }
                let range = self.start..self.start + len;
                self.start = end;
                self.scanned = 0;
                Some(Framed::Line(range))
            }
            None => {
                self.scanned = pending.len();
                // +1: the limit excludes a CR that may still turn out to be part of the terminator.
                if pending.len() <= self.max_line + 1 {
                    return None;
                }
                match self.overlong {
                    Overlong::Refuse => Some(Framed::TooLong),
                    Overlong::Skip => {
                        self.skipping = Some(pending.len());
                        self.start = self.end;
                        self.scanned = 0;
                        None
                    }
                }
            }
        }
    }

    /// The bytes of a line returned by [`next_line`](Self::next_line); valid until the next
    /// [`spare`](Self::spare).
    pub fn line(&self, range: Range<usize>) -> &[u8] {
        &self.buf[range]
    }

    /// Room for the next read: moves unconsumed bytes to the front and grows the buffer when
    /// it is full or the last read filled it, up to the limit plus one chunk. (Growing only
    /// when full after moving bytes to the front kept a link that drains every read at its
    /// first 512 bytes: a neighbour read its floods a few hundred bytes per system call.)
    pub fn spare(&mut self) -> &mut [u8] {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() || self.filled {
            self.filled = false;
            let cap = (self.max_line + 1).saturating_add(CHUNK).max(INITIAL);
            let grown = (self.buf.len() * 2).clamp(INITIAL, cap).max(self.end + 1);
            if grown > self.buf.len() {
                self.buf.resize(grown, 0);
            }
        }
        &mut self.buf[self.end..]
    }

    /// `n` bytes were read into [`spare`](Self::spare).
    pub fn commit(&mut self, n: usize) {
        self.filled = n > 0 && self.end + n >= self.buf.len();
        self.end = (self.end + n).min(self.buf.len());
    }

    /// At end of stream: the bytes after the last newline (a final command without a newline).
    pub fn rest(&mut self) -> Option<&[u8]> {
        if self.skipping.is_some() {
            return None;
        }
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

    /// Feeds `chunks` one read at a time and collects what the buffer reports.
    fn check(chunks: &[&[u8]], max: usize, overlong: Overlong, expected: &[&str]) {
        let mut b = LineBuf::new(max, overlong);
        let mut got = Vec::new();
        for chunk in chunks {
            let mut chunk: &[u8] = chunk;
            while !chunk.is_empty() {
                let spare = b.spare();
                let n = spare.len().min(chunk.len());
                spare[..n].copy_from_slice(&chunk[..n]);
                b.commit(n);
                chunk = &chunk[n..];
                while let Some(f) = b.next_line() {
                    match f {
                        Framed::Line(r) => {
                            got.push(String::from_utf8_lossy(b.line(r)).into_owned())
                        }
                        Framed::TooLong => {
                            got.push("<too long>".into());
                            assert_eq!(got, expected, "{chunks:?}");
                            return;
                        }
                        Framed::Skipped(n) => got.push(format!("<skipped {n}>")),
                    }
                }
            }
        }
        if let Some(rest) = b.rest() {
            got.push(format!("<eof>{}", String::from_utf8_lossy(rest)));
        }
        assert_eq!(got, expected, "{chunks:?}");
    }

    #[test]
    fn framing() {
        use Overlong::Refuse;
        check(&[b"a\nb\r\nc"], 100, Refuse, &["a", "b", "<eof>c"]);
        check(&[b"a\r\r\n"], 100, Refuse, &["a\r"]);
        check(&[b"\n\n"], 100, Refuse, &["", ""]);
        check(&[b"x\r"], 100, Refuse, &["<eof>x\r"]);
        check(&[b""], 100, Refuse, &[]);
        check(&[b"12345\n123456\n"], 5, Refuse, &["12345", "<too long>"]);
        check(&[b"12345\r\n"], 5, Refuse, &["12345"]);
        check(&[b"12", b"34", b"5\n6"], 5, Refuse, &["12345", "<eof>6"]);
    }

    #[test]
    fn a_busy_stream_grows_the_reads_and_an_idle_one_stays_small() {
        // Short lines, more waiting than any read takes, every line consumed after each read.
        let mut b = LineBuf::new(8192, Overlong::Skip);
        let line = [b"x".repeat(39), b"\n".to_vec()].concat();
        let mut waiting = line.repeat(2_000);
        let mut largest = 0;
        let mut lines = 0;
        while !waiting.is_empty() {
            let spare = b.spare();
            largest = largest.max(spare.len());
            let n = spare.len().min(waiting.len());
            spare[..n].copy_from_slice(&waiting[..n]);
            b.commit(n);
            waiting.drain(..n);
            while let Some(Framed::Line(_)) = b.next_line() {
                lines += 1;
            }
        }
        assert_eq!(lines, 2_000);
        assert!(largest >= CHUNK, "reads stayed at {largest} bytes");
        // One short line per read (an idle client's pace) never grows it.
        let mut b = LineBuf::new(8192, Overlong::Refuse);
        for _ in 0..100 {
            let spare = b.spare();
            assert!(spare.len() <= INITIAL);
            spare[..6].copy_from_slice(b"hello\n");
            b.commit(6);
            assert!(matches!(b.next_line(), Some(Framed::Line(_))));
        }
    }

    #[test]
    fn a_line_without_newline_is_cut_at_the_limit() {
        let big = vec![b'x'; 100_000];
        check(&[&big], 64, Overlong::Refuse, &["<too long>"]);
    }

    #[test]
    fn skipping_drops_only_the_overlong_line_at_any_size() {
        use Overlong::Skip;
        // At the limit it passes; one byte more is dropped, and the next line still arrives.
        check(
            &[b"12345\n123456\nok\n"],
            5,
            Skip,
            &["12345", "<skipped 6>", "ok"],
        );
        // An overlong line much larger than the buffer, in many reads, costs no memory.
        let mut big = vec![b'y'; 100_000];
        big.push(b'\n');
        check(
            &[b"a\n", &big[..40_000], &big[40_000..], b"b\n"],
            64,
            Skip,
            &["a", "<skipped 100000>", "b"],
        );
        // An overlong line cut by the end of the stream is not handed out as a last line.
        check(&[b"ok\n", &[b'z'; 500]], 64, Skip, &["ok"]);
    }
}
