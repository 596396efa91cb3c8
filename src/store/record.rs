//! Record framing for the log and the snapshot. Pure: bytes in, bytes out.
//!
//! A record is `len: u32 LE | crc32(payload): u32 LE | payload`, the payload being one AT line
//! exactly as the origin server produced it. [`decode_all`] stops at the first record that is
//! incomplete (a torn write), too long, or whose checksum does not match (corruption), and says
//! where the valid prefix ends. [`scan`] goes on past damage: it resynchronises on the next
//! valid frame, so one corrupt record costs only itself, and it says exactly which byte ranges
//! it could not read, so the caller can keep them aside.

/// Bytes before each payload.
pub const HEADER: usize = 8;

/// The longest payload a record may carry; a larger length field is corruption.
pub const MAX_PAYLOAD: usize = 1 << 20;

/// Appends the record for `payload` to `out`.
pub fn encode(payload: &[u8], out: &mut Vec<u8>) {
    out.reserve(HEADER + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// Why decoding stopped before the end of the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Damage {
    /// The last record is cut short (a write torn by a crash).
    Torn,
    /// A length field larger than any record can be.
    BadLength,
    /// A checksum that does not match its payload.
    BadChecksum,
    /// A frame whose checksum holds but whose payload the caller refused (not an AT line).
    Refused,
}

impl Damage {
    /// For the log.
    pub fn as_str(self) -> &'static str {
        match self {
            Damage::Torn => "torn record (incomplete write)",
            Damage::BadLength => "corrupt record (impossible length)",
            Damage::BadChecksum => "corrupt record (checksum mismatch)",
            Damage::Refused => "record that is not an AT line",
        }
    }
}

/// The records of `buf`, the length of its valid prefix, and why the rest (if any) was refused.
pub fn decode_all(buf: &[u8]) -> (Vec<&[u8]>, usize, Option<Damage>) {
    let mut records = Vec::new();
    let mut at = 0;
    loop {
        match decode_one(&buf[at..]) {
            Ok(None) => return (records, at, None),
            Ok(Some((payload, used))) => {
                records.push(payload);
                at += used;
            }
            Err(d) => return (records, at, Some(d)),
        }
    }
}

/// What [`scan`] found in a buffer.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Scan<'a> {
    /// Every valid record, in file order.
    pub records: Vec<&'a [u8]>,
    /// The byte ranges that could not be read, in file order, with why each one starts.
    pub bad: Vec<(std::ops::Range<usize>, Damage)>,
}

/// Reads every valid record of `buf`. A frame counts only if its checksum holds and `accept`
/// takes its payload; after damage, decoding resumes at the next offset where such a frame
/// starts, so a corrupt record in the middle loses only itself. A false resynchronisation needs
/// a random 32-bit checksum to match and the payload to be accepted.
pub fn scan<'a>(buf: &'a [u8], accept: impl Fn(&[u8]) -> bool) -> Scan<'a> {
    let mut out = Scan::default();
    let mut at = 0;
    while at < buf.len() {
        let damage = match decode_one(&buf[at..]) {
            Ok(Some((payload, used))) if accept(payload) => {
                out.records.push(payload);
                at += used;
                continue;
            }
            Ok(Some(_)) => Damage::Refused,
            Ok(None) => break,
            Err(d) => d,
        };
        let next = (at + 1..buf.len())
            .find(|&p| matches!(decode_one(&buf[p..]), Ok(Some((payload, _))) if accept(payload)))
            .unwrap_or(buf.len());
        out.bad.push((at..next, damage));
        at = next;
    }
    out
}

/// The first record of `buf` and the bytes it takes; `Ok(None)` on an empty buffer.
fn decode_one(buf: &[u8]) -> Result<Option<(&[u8], usize)>, Damage> {
    if buf.is_empty() {
        return Ok(None);
    }
    let Some((head, rest)) = buf.split_first_chunk::<HEADER>() else {
        return Err(Damage::Torn);
    };
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    if len > MAX_PAYLOAD {
        return Err(Damage::BadLength);
    }
    let Some(payload) = rest.get(..len) else {
        return Err(Damage::Torn);
    };
    if crc32fast::hash(payload) != crc {
        return Err(Damage::BadChecksum);
    }
    Ok(Some((payload, HEADER + len)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(payloads: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in payloads {
            encode(p, &mut out);
        }
        out
    }

    fn check(buf: &[u8], records: &[&[u8]], valid: usize, damage: Option<Damage>) {
        let (got, len, d) = decode_all(buf);
        assert_eq!(
            (got.as_slice(), len, d),
            (records, valid, damage),
            "{buf:?}"
        );
    }

    #[test]
    fn records_roundtrip() {
        let buf = encoded(&[b"one", b"", b"three"]);
        check(&buf, &[b"one", b"", b"three"], buf.len(), None);
        check(&[], &[], 0, None);
    }

    #[test]
    fn every_cut_of_the_last_record_is_detected_as_torn() {
        let whole = encoded(&[b"first", b"second"]);
        let first = HEADER + 5;
        for cut in first + 1..whole.len() {
            check(&whole[..cut], &[b"first"], first, Some(Damage::Torn));
        }
    }

    #[test]
    fn corruption_is_detected_where_it_starts() {
        let mut buf = encoded(&[b"first", b"second", b"third"]);
        let second = HEADER + 5;
        buf[second + HEADER + 2] ^= 0x20;
        check(&buf, &[b"first"], second, Some(Damage::BadChecksum));
        let mut buf = encoded(&[b"first", b"second"]);
        buf[second + 3] = 0xff;
        check(&buf, &[b"first"], second, Some(Damage::BadLength));
    }

    fn any(p: &[u8]) -> bool {
        !p.is_empty()
    }

    #[test]
    fn a_scan_resynchronises_after_a_corrupt_record_and_names_the_bytes_it_cut() {
        let payloads: Vec<Vec<u8>> = (0..10)
            .map(|i| format!("record {i}").into_bytes())
            .collect();
        let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
        let clean = encoded(&refs);
        let one = HEADER + payloads[0].len();
        assert_eq!(scan(&clean, any).records, refs);
        assert!(scan(&clean, any).bad.is_empty());
        // A flipped byte in record 5 of 10 loses record 5 only.
        let mut buf = clean.clone();
        buf[5 * one + HEADER + 3] ^= 0x01;
        let s = scan(&buf, any);
        let mut want = refs.clone();
        want.remove(5);
        assert_eq!(s.records, want);
        assert_eq!(s.bad, vec![(5 * one..6 * one, Damage::BadChecksum)]);
        // A torn tail is one bad range to the end.
        let s = scan(&clean[..clean.len() - 2], any);
        assert_eq!(s.records, &refs[..9]);
        assert_eq!(s.bad, vec![(9 * one..clean.len() - 2, Damage::Torn)]);
        // Garbage in the middle, and a refused payload (zeros decode as empty records).
        let mut buf = clean[..2 * one].to_vec();
        buf.extend_from_slice(&[0u8; 40]);
        buf.extend_from_slice(&clean[2 * one..]);
        let s = scan(&buf, any);
        assert_eq!(s.records, refs);
        assert_eq!(s.bad, vec![(2 * one..2 * one + 40, Damage::Refused)]);
        // Nothing valid at all: one range, the whole buffer.
        let junk = vec![0xabu8; 3000];
        let s = scan(&junk, any);
        assert!(s.records.is_empty());
        assert_eq!(s.bad, vec![(0..3000, Damage::BadLength)]);
    }
}
