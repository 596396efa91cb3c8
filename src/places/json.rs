//! Google's JSON layout and the reply's newline rules. Pure.
//!
//! Google lays out Places responses with three-space indents and `"key" : value`; we print
//! every WHATSAT body that way, whatever the provider, so clients see one shape.

use std::io;

use serde::Serialize;
use serde_json::ser::{Formatter, PrettyFormatter};

/// serde_json's pretty printer with Google's separator.
struct GoogleFormatter(PrettyFormatter<'static>);

impl Formatter for GoogleFormatter {
    fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b" : ")
    }
    fn end_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_value(w)
    }
}

/// Appends `value` laid out as Google does.
pub fn to_google_json(value: &serde_json::Value, out: &mut Vec<u8>) {
    let mut ser = serde_json::Serializer::with_formatter(
        &mut *out,
        GoogleFormatter(PrettyFormatter::with_indent(b"   ")),
    );
    // Serializing a Value into a Vec cannot fail: no IO error, and map keys are strings.
    if value.serialize(&mut ser).is_err() {
        out.extend_from_slice(b"{}");
    }
}

/// Collapses every run of two or more newlines into one and removes trailing newlines.
pub fn squeeze_newlines(text: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    for &b in text {
        if b == b'\n' && out.len() > start && out.last() == Some(&b'\n') {
            continue;
        }
        out.push(b);
    }
    while out.len() > start && out.last() == Some(&b'\n') {
        out.pop();
    }
}

/// The whole WHATSAT reply: the stored AT line, a newline, the JSON, then exactly two newlines.
pub fn whatsat_reply(at_line: &[u8], doc: &serde_json::Value, out: &mut Vec<u8>) {
    let mut json = Vec::with_capacity(1024);
    to_google_json(doc, &mut json);
    out.extend_from_slice(at_line);
    out.push(b'\n');
    squeeze_newlines(&json, out);
    out.extend_from_slice(b"\n\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_squeeze(input: &str, expected: &str) {
        let mut out = Vec::new();
        squeeze_newlines(input.as_bytes(), &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), expected, "{input:?}");
    }

    #[test]
    fn newline_rules() {
        check_squeeze("a\nb", "a\nb");
        check_squeeze("a\n\nb", "a\nb");
        check_squeeze("a\n\n\n\nb\n\nc", "a\nb\nc");
        check_squeeze("a\n", "a");
        check_squeeze("a\n\n\n", "a");
        check_squeeze("\n\na", "\na");
        check_squeeze("", "");
    }

    #[test]
    fn google_layout() {
        let doc = serde_json::json!({
            "html_attributions": [],
            "results": [{"name": "A", "geometry": {"location": {"lat": 1.5, "lng": -2.0}}}],
            "status": "OK"
        });
        let mut out = Vec::new();
        whatsat_reply(b"AT X +0.000000000 c +1+2 3", &doc, &mut out);
        let expected = "AT X +0.000000000 c +1+2 3\n{\n   \"html_attributions\" : [],\n   \"results\" : [\n      {\n         \"name\" : \"A\",\n         \"geometry\" : {\n            \"location\" : {\n               \"lat\" : 1.5,\n               \"lng\" : -2.0\n            }\n         }\n      }\n   ],\n   \"status\" : \"OK\"\n}\n\n";
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }
}
