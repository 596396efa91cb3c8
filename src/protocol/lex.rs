//! Tokens: the six white-space bytes, fields, and line terminators.

/// True for exactly the protocol's white space: space, `\t`, `\r`, `\n`, form feed (0x0C) and
/// vertical tab (0x0B). Note that `u8::is_ascii_whitespace` leaves out the vertical tab.
pub fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0x0C | 0x0B)
}

/// The fields of a line: the non-empty runs of non-white-space bytes, in order. Leading and
/// trailing white space yields nothing.
pub fn fields(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|&b| is_ws(b)).filter(|f| !f.is_empty())
}

/// Removes the line terminator from bytes read up to and including a final `\n`: the LF and one
/// CR right before it. Bytes that do not end in LF (a command cut by EOF) are returned whole, so
/// a lone trailing CR is kept: the line is then exactly as received.
pub fn strip_terminator(line: &[u8]) -> &[u8] {
    match line.strip_suffix(b"\n") {
        Some(rest) => rest.strip_suffix(b"\r").unwrap_or(rest),
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_fields(input: &[u8], expected: &[&str]) {
        let got: Vec<String> = fields(input)
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect();
        assert_eq!(got, expected, "input {input:?}");
    }

    #[test]
    fn splits_fields() {
        check_fields(b"", &[]);
        check_fields(b" ", &[]);
        check_fields(b" \t\r\n\x0b\x0c", &[]);
        check_fields(b"a", &["a"]);
        check_fields(b"a b", &["a", "b"]);
        check_fields(b"a\tb", &["a", "b"]);
        check_fields(b"a\rb", &["a", "b"]);
        check_fields(b"a\nb", &["a", "b"]);
        check_fields(b"a\x0bb", &["a", "b"]);
        check_fields(b"a\x0cb", &["a", "b"]);
        check_fields(b"\x0b a \x0c\t\t b\r\n", &["a", "b"]);
        check_fields(b"\ta\x0b", &["a"]);
        check_fields(b"\x0ca\x0c", &["a"]);
        check_fields(b"\ra\r", &["a"]);
        check_fields(b"IAMAT  kiwi\t+1+1\x0b1", &["IAMAT", "kiwi", "+1+1", "1"]);
        // Bytes that other definitions call white space are field bytes here.
        check_fields(b"a\x00b", &["a\0b"]);
        check_fields(b"a\x1cb\x85c", &["a\x1cb\u{FFFD}c"]);
    }

    #[test]
    fn white_space_set() {
        for b in 0..=u8::MAX {
            let expected = b.is_ascii_whitespace() || b == 0x0B;
            assert_eq!(is_ws(b), expected, "byte {b:#04x}");
        }
    }

    fn check_strip(input: &[u8], expected: &[u8]) {
        assert_eq!(strip_terminator(input), expected, "input {input:?}");
    }

    #[test]
    fn strips_terminator() {
        check_strip(b"abc\n", b"abc");
        check_strip(b"abc\r\n", b"abc");
        check_strip(b"abc", b"abc");
        check_strip(b"abc\r", b"abc\r");
        check_strip(b"abc\r\r\n", b"abc\r");
        check_strip(b"abc\n\r", b"abc\n\r");
        check_strip(b"a\rb\n", b"a\rb");
        check_strip(b"abc \t\n", b"abc \t");
        check_strip(b"\n", b"");
        check_strip(b"\r\n", b"");
        check_strip(b"\r", b"\r");
        check_strip(b"", b"");
    }
}
