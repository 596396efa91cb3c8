//! Record framing for the log and the snapshot. Pure: bytes in, bytes out.
//!
//! A record is `len: u32 LE | crc32(payload): u32 LE | payload`, the payload being one AT line
//! exactly as the origin server produced it. Decoding stops at the first record that is
//! incomplete (a torn write), too long, or whose checksum does not match (corruption), and
//! says where the valid prefix ends, so the caller can cut the file there.

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
}

impl Damage {
    /// For the log.
    pub fn as_str(self) -> &'static str {
        match self {
            Damage::Torn => "torn record (incomplete write)",
            Damage::BadLength => "corrupt record (impossible length)",
            Damage::BadChecksum => "corrupt record (checksum mismatch)",
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
}
