//! The place table's text format and its strict parser.
//!
//! The format (written by `scripts/build_places.py`) is UTF-8 text, one record a line:
//! - lines starting with `#` are comments, anywhere;
//! - the first other line is the header, exactly [`HEADER`];
//! - every further line is one place: 8 fields separated by single tabs, in the header's order:
//!   `geonameid` (decimal integer, unique in the table), `name` (non-empty, no control
//!   characters), `lat` and `lng` (plain decimals such as `-118.24368`: an optional `-`, digits,
//!   optionally `.` and digits; latitude within [-90, 90], longitude within [-180, 180]),
//!   `country` (two ASCII capital letters), `admin1` (GeoNames admin1 code: up to 20 ASCII
//!   letters or digits, may be empty), `population` (decimal integer), `fcode` (GeoNames feature
//!   code: up to 10 ASCII capital letters or digits, empty when unknown);
//! - lines end with LF or CRLF; an empty line is an error.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;

/// The header line every table starts with (after any comments).
pub(super) const HEADER: &str = "geonameid\tname\tlat\tlng\tcountry\tadmin1\tpopulation\tfcode";

/// The number of tab-separated fields on each place line.
const FIELDS: usize = 8;

/// The most characters of an offending field quoted in an error message.
const QUOTE_LIMIT: usize = 40;

/// One place of the table, as parsed.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Place {
    /// GeoNames id: the stable identity behind `place_id` and the tie-break of the ordering.
    pub(super) geonameid: u64,
    /// GeoNames name, shown as `name` and at the head of `vicinity`.
    pub(super) name: Box<str>,
    /// Latitude in decimal degrees.
    pub(super) lat: f64,
    /// Longitude in decimal degrees.
    pub(super) lng: f64,
    /// ISO 3166-1 alpha-2 country code, the tail of `vicinity`.
    pub(super) country: [u8; 2],
    /// GeoNames admin1 code (possibly empty), shown in `vicinity` when it is alphabetic.
    pub(super) admin1: Box<str>,
    /// Population as GeoNames gives it (0 when unknown).
    pub(super) population: u64,
    /// GeoNames feature code (possibly empty), mapped to Google `types`.
    pub(super) fcode: Box<str>,
}

impl Place {
    /// The country code as text.
    pub(super) fn country(&self) -> &str {
        // Both bytes were checked to be ASCII capital letters by the parser.
        std::str::from_utf8(&self.country).unwrap_or("")
    }
}

/// Why a place table could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    /// The table file could not be read (missing, unreadable, or not UTF-8).
    Io {
        /// The file that was being read.
        path: PathBuf,
        /// What the operating system or the UTF-8 check said.
        error: std::io::Error,
    },
    /// A line of the table is malformed; nothing was loaded.
    Parse {
        /// The file the table came from, when it came from a file.
        path: Option<PathBuf>,
        /// The 1-based line number of the offending line (comments and the header count).
        line: usize,
        /// What is wrong with that line.
        message: String,
    },
}

impl LoadError {
    /// The 1-based line number a parse error points at, if this is a parse error.
    pub fn line(&self) -> Option<usize> {
        match self {
            LoadError::Io { .. } => None,
            LoadError::Parse { line, .. } => Some(*line),
        }
    }

    /// Attaches the file name to a parse error.
    pub(super) fn in_file(self, file: PathBuf) -> Self {
        match self {
            LoadError::Parse { line, message, .. } => LoadError::Parse {
                path: Some(file),
                line,
                message,
            },
            io => io,
        }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Io { path, error } => {
                write!(f, "cannot read place table {}: {error}", path.display())
            }
            LoadError::Parse {
                path: Some(path),
                line,
                message,
            } => write!(f, "place table {}, line {line}: {message}", path.display()),
            LoadError::Parse {
                path: None,
                line,
                message,
            } => write!(f, "place table, line {line}: {message}"),
        }
    }
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LoadError::Io { error, .. } => Some(error),
            LoadError::Parse { .. } => None,
        }
    }
}

/// Parses a whole table; the first malformed line stops the parse with its line number.
pub(super) fn parse_table(text: &str) -> Result<Vec<Place>, LoadError> {
    let mut places = Vec::new();
    let mut first_line_of: HashMap<u64, usize> = HashMap::new();
    let mut seen_header = false;
    let mut line_no = 0;
    for (index, line) in text.lines().enumerate() {
        line_no = index + 1;
        let fail = |message: String| LoadError::Parse {
            path: None,
            line: line_no,
            message,
        };
        if line.starts_with('#') {
            continue;
        }
        if !seen_header {
            if line != HEADER {
                return Err(fail(format!(
                    "expected the header line {:?}, found {}",
                    HEADER,
                    quote(line)
                )));
            }
            seen_header = true;
            continue;
        }
        let place = parse_place(line).map_err(fail)?;
        if let Some(first) = first_line_of.insert(place.geonameid, line_no) {
            return Err(fail(format!(
                "duplicate geonameid {} (first on line {first})",
                place.geonameid
            )));
        }
        places.push(place);
    }
    if !seen_header {
        return Err(LoadError::Parse {
            path: None,
            line: line_no + 1,
            message: format!("missing the header line {HEADER:?}"),
        });
    }
    Ok(places)
}

/// Parses one place line; the error says which field is wrong and how.
fn parse_place(line: &str) -> Result<Place, String> {
    if line.is_empty() {
        return Err("empty line".to_string());
    }
    let fields: Vec<&str> = line.split('\t').collect();
    let [id, name, lat, lng, country, admin1, population, fcode] = fields[..] else {
        return Err(format!(
            "expected {FIELDS} tab-separated fields, found {}",
            fields.len()
        ));
    };
    let geonameid = parse_integer(id).ok_or_else(|| bad("geonameid", "an integer", id))?;
    if name.is_empty() || name.chars().any(char::is_control) {
        return Err(bad("name", "a name without control characters", name));
    }
    let lat = parse_degrees(lat, 90.0).ok_or_else(|| bad("lat", "a decimal in [-90, 90]", lat))?;
    let lng =
        parse_degrees(lng, 180.0).ok_or_else(|| bad("lng", "a decimal in [-180, 180]", lng))?;
    let country_code = match country.as_bytes() {
        [a, b] if a.is_ascii_uppercase() && b.is_ascii_uppercase() => [*a, *b],
        _ => return Err(bad("country", "two capital letters", country)),
    };
    if admin1.len() > 20 || !admin1.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(bad("admin1", "up to 20 letters or digits", admin1));
    }
    let population =
        parse_integer(population).ok_or_else(|| bad("population", "an integer", population))?;
    if fcode.len() > 10
        || !fcode
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        return Err(bad("fcode", "up to 10 capital letters or digits", fcode));
    }
    Ok(Place {
        geonameid,
        name: name.into(),
        lat,
        lng,
        country: country_code,
        admin1: admin1.into(),
        population,
        fcode: fcode.into(),
    })
}

/// A field error message: which field, what was expected, what was found.
fn bad(field: &str, expected: &str, found: &str) -> String {
    format!("field {field}: expected {expected}, found {}", quote(found))
}

/// A field quoted for an error message, cut to [`QUOTE_LIMIT`] characters.
fn quote(text: &str) -> String {
    match text.char_indices().nth(QUOTE_LIMIT) {
        Some((cut, _)) => format!("{:?}...", &text[..cut]),
        None => format!("{text:?}"),
    }
}

/// A non-negative decimal integer made of ASCII digits only (no sign, no white space).
fn parse_integer(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A plain decimal (`-`? digits (`.` digits)?) whose magnitude is at most `limit`.
fn parse_degrees(text: &str, limit: f64) -> Option<f64> {
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (unsigned, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !fraction.is_none_or(digits) {
        return None;
    }
    let value: f64 = text.parse().ok()?;
    (value.abs() <= limit).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::{parse_table, HEADER};

    #[test]
    fn parse_errors_name_the_line_and_the_problem() {
        let row = "1\tA\t1.5\t-2\tUS\tCA\t5\tPPL";
        let ok = |fields: &str| format!("# c\n{HEADER}\n{row}\n{fields}\n");
        let cut = format!("found \"{}\"...", "9".repeat(40));
        let cases: Vec<(String, usize, &str)> = vec![
            (String::new(), 1, "missing the header"),
            ("# only a comment\n".into(), 2, "missing the header"),
            ("geonameid\tname\n".into(), 1, "expected the header"),
            (format!("{HEADER}\n{row}\n\n"), 3, "empty line"),
            (
                ok("2\tB\t1\t2\tUS\tCA\t5"),
                4,
                "expected 8 tab-separated fields, found 7",
            ),
            (ok("2\tB\t1\t2\tUS\tCA\t5\tPPL\tx"), 4, "found 9"),
            (ok("x2\tB\t1\t2\tUS\tCA\t5\tPPL"), 4, "field geonameid"),
            (ok("-2\tB\t1\t2\tUS\tCA\t5\tPPL"), 4, "field geonameid"),
            (
                ok("99999999999999999999\tB\t1\t2\tUS\tCA\t5\tPPL"),
                4,
                "field geonameid",
            ),
            (ok("2\t\t1\t2\tUS\tCA\t5\tPPL"), 4, "field name"),
            (ok("2\tB\u{7}\t1\t2\tUS\tCA\t5\tPPL"), 4, "field name"),
            (ok("2\tB\t90.5\t2\tUS\tCA\t5\tPPL"), 4, "field lat"),
            (ok("2\tB\t1e1\t2\tUS\tCA\t5\tPPL"), 4, "field lat"),
            (ok("2\tB\tNaN\t2\tUS\tCA\t5\tPPL"), 4, "field lat"),
            (ok("2\tB\t+1\t2\tUS\tCA\t5\tPPL"), 4, "field lat"),
            (ok("2\tB\t1.\t2\tUS\tCA\t5\tPPL"), 4, "field lat"),
            (ok("2\tB\t.5\t2\tUS\tCA\t5\tPPL"), 4, "field lat"),
            (ok("2\tB\t\t2\tUS\tCA\t5\tPPL"), 4, "field lat"),
            (ok("2\tB\t1\t180.0001\tUS\tCA\t5\tPPL"), 4, "field lng"),
            (ok("2\tB\t1\t-inf\tUS\tCA\t5\tPPL"), 4, "field lng"),
            (ok("2\tB\t1\t2\tus\tCA\t5\tPPL"), 4, "field country"),
            (ok("2\tB\t1\t2\tUSA\tCA\t5\tPPL"), 4, "field country"),
            (ok("2\tB\t1\t2\t\tCA\t5\tPPL"), 4, "field country"),
            (ok("2\tB\t1\t2\tUS\tC-A\t5\tPPL"), 4, "field admin1"),
            (
                ok("2\tB\t1\t2\tUS\tABCDEFGHIJKLMNOPQRSTU\t5\tPPL"),
                4,
                "field admin1",
            ),
            (ok("2\tB\t1\t2\tUS\tCA\t-5\tPPL"), 4, "field population"),
            (ok("2\tB\t1\t2\tUS\tCA\t1.5\tPPL"), 4, "field population"),
            (ok("2\tB\t1\t2\tUS\tCA\t5\tppl"), 4, "field fcode"),
            (ok("2\tB\t1\t2\tUS\tCA\t5\tPPLPPLPPLPP"), 4, "field fcode"),
            (
                ok("1\tB\t1\t2\tUS\tCA\t5\tPPL"),
                4,
                "duplicate geonameid 1 (first on line 3)",
            ),
            (
                format!("{HEADER}\n# mid\n{row}\n# mid\nbad\n"),
                5,
                "expected 8",
            ),
            // A long field is quoted cut to 40 characters.
            (
                ok(&format!("2\tB\t{}\t2\tUS\tCA\t5\tPPL", "9".repeat(100))),
                4,
                &cut,
            ),
        ];
        for (text, line, fragment) in cases {
            let err = parse_table(&text).unwrap_err();
            assert_eq!(err.line(), Some(line), "{text:?}: {err}");
            let shown = err.to_string();
            assert!(shown.contains(&format!("line {line}:")), "{shown}");
            assert!(shown.contains(fragment), "{text:?}: {shown}");
        }
    }

    #[test]
    fn parse_accepts_edge_values_and_crlf() {
        let text = format!(
            "{HEADER}\r\n1\tNorth\t90\t-180\tAQ\t\t0\t\r\n2\tSouth\t-90.0\t180.0\tAQ\t00\t0\tPPL\r\n3\tZero\t-0\t0.000001\tZZ\tA1\t18446744073709551615\tPPLA2\n"
        );
        let places = parse_table(&text).unwrap();
        assert_eq!(places.len(), 3);
        assert_eq!(places[2].population, u64::MAX);
        assert_eq!((places[0].lat, places[0].lng), (90.0, -180.0));
        assert_eq!((places[0].country(), &*places[1].admin1), ("AQ", "00"));
        assert!(parse_table(&format!("{HEADER}\n")).unwrap().is_empty());
    }

    #[test]
    fn parse_never_panics_on_mutated_tables() {
        let base =
            format!("# c\n{HEADER}\n1\tA\t1.5\t-2\tUS\tCA\t5\tPPL\n2\tB\t-3\t4.25\tFR\t11\t0\t\n");
        let alphabet = [
            '\t', '\n', '\r', '-', '.', '0', '9', 'A', 'z', '#', 'é', ' ', '\u{0}',
        ];
        let mut rng = fastrand::Rng::with_seed(11);
        let mut rejected = 0;
        for _ in 0..3000 {
            let mut chars: Vec<char> = base.chars().collect();
            for _ in 0..rng.usize(1..4) {
                let at = rng.usize(..chars.len());
                match rng.u8(..3) {
                    0 => chars[at] = alphabet[rng.usize(..alphabet.len())],
                    1 => drop(chars.remove(at)),
                    _ => chars.insert(at, alphabet[rng.usize(..alphabet.len())]),
                }
            }
            let text: String = chars.into_iter().collect();
            if let Err(err) = parse_table(&text) {
                rejected += 1;
                let line = err.line().unwrap();
                assert!(
                    line >= 1 && line <= text.lines().count() + 1,
                    "{text:?}: {err}"
                );
            }
        }
        assert!(
            rejected > 1000,
            "only {rejected} mutated tables were rejected"
        );
    }
}
