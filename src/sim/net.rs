//! The simulated network: one [`Pipe`] per direction of a connection, behaving as TCP does for
//! the herd, a reliable in-order byte stream whose faults show up as delay.
//!
//! - Each link has a base one-way latency (drawn once per link); each segment adds an
//!   exponentially distributed jitter and its serialisation time at the link's bandwidth.
//! - Loss: each packet (1448 bytes of a segment, at least one) is lost with the loss rate; a
//!   segment that lost a packet is retransmitted after the retransmission timeout (RTO: twice
//!   the link's round trip, at least 200 ms as in Linux), which doubles at each further loss. The
//!   receiver sees the bytes late, never missing.
//! - Reordering: a segment takes a detour (an extra delay up to twice the base latency) with
//!   the reordering rate; segments behind it that arrive first wait in reassembly. Counted;
//!   visible only as delay.
//! - Duplication: a segment arrives twice with the duplication rate; TCP drops the copy.
//!   Counted; no effect on delivery.
//! - Partition: a segment that reaches a cut (the two ends are in different groups) is lost
//!   and retransmitted with the doubling RTO (capped at 60 s) until it gets through; everything
//!   behind it waits. A connection that stays cut stalls, and its session's silence timer ends it.

use std::collections::VecDeque;
use std::time::Duration;

/// Bytes of payload per packet.
const MSS: usize = 1448;

/// Linux's smallest retransmission timeout.
const MIN_RTO: Duration = Duration::from_millis(200);

/// The longest backed-off retransmission timeout (Linux caps at 120 s).
const MAX_RTO: Duration = Duration::from_secs(60);

/// The network's shape and faults, the same on every link.
#[derive(Clone, Debug, PartialEq)]
pub struct NetParams {
    /// Range of the base one-way latency, drawn uniformly once per link.
    pub latency: (Duration, Duration),
    /// Mean of the exponential jitter added to each segment.
    pub jitter: Duration,
    /// Probability that a packet is lost (and retransmitted).
    pub loss: f64,
    /// Probability that a segment is duplicated (the copy is dropped by TCP).
    pub duplicate: f64,
    /// Probability that a segment takes a detour (and is overtaken).
    pub reorder: f64,
    /// Bytes per second each direction of a link carries.
    pub bandwidth: f64,
}

/// What crossed the network, for the report.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct NetStats {
    /// Segments sent.
    pub segments: u64,
    /// Bytes sent (every link message: handshake, summaries, updates, heartbeats).
    pub bytes: u64,
    /// Retransmissions caused by loss.
    pub retransmits: u64,
    /// Retransmissions caused by a partition.
    pub partition_retransmits: u64,
    /// Segments held back by reassembly because one before them was late.
    pub reordered: u64,
    /// Duplicate segments dropped by TCP.
    pub duplicated: u64,
}

/// What a segment carries.
#[derive(Debug)]
pub enum Payload {
    /// Bytes of the stream.
    Bytes(Vec<u8>),
    /// The sender closed the connection (FIN): the receiver reads end of stream.
    Fin,
}

/// One segment in flight.
#[derive(Debug)]
struct Seg {
    /// When it reaches the receiver (if nothing is in the way).
    at: Duration,
    /// Retransmissions caused by a partition so far (the RTO doubles with each).
    tries: u32,
    /// It carries more than heartbeats.
    data: bool,
    /// The bytes or the FIN.
    payload: Payload,
}

/// One direction of a connection.
#[derive(Debug, Default)]
pub struct Pipe {
    /// Segments in flight, in the order they were sent (the order they are delivered).
    segs: VecDeque<Seg>,
    /// When the sender's interface is free again (serialisation at the bandwidth).
    busy_until: Duration,
    /// When the last segment sent arrives (kept here: reading it from `segs` costs a cache
    /// miss per segment at a thousand servers).
    tail: Duration,
    /// Segments of `segs` that carry more than heartbeats.
    data: u32,
}

/// The retransmission timeout of a link whose one-way base latency is `base`.
pub fn rto(base: Duration) -> Duration {
    (base * 4).max(MIN_RTO)
}

/// True unless every line of `bytes` is a PING or a PONG.
pub fn carries_data(bytes: &[u8]) -> bool {
    let mut rest = bytes;
    while !rest.is_empty() {
        if !(rest.starts_with(b"PING ") || rest.starts_with(b"PONG ")) {
            return true;
        }
        match memchr::memchr(b'\n', rest) {
            Some(i) => rest = &rest[i + 1..],
            None => return false,
        }
    }
    false
}

impl NetParams {
    /// A base latency for a new link.
    pub fn draw_latency(&self, rng: &mut fastrand::Rng) -> Duration {
        let (lo, hi) = self.latency;
        lo + (hi.saturating_sub(lo)).mul_f64(rng.f64())
    }

    /// One crossing of a link of base latency `base`: base plus exponential jitter.
    pub fn one_way(&self, base: Duration, rng: &mut fastrand::Rng) -> Duration {
        let u = 1.0 - rng.f64(); // (0, 1]
        base + Duration::from_nanos((self.jitter.as_nanos() as f64 * -u.ln()) as u64)
    }

    /// True when a packet is lost.
    pub fn lost(&self, rng: &mut fastrand::Rng) -> bool {
        self.loss > 0.0 && rng.f64() < self.loss
    }
}

impl Pipe {
    /// Sends `payload` at `now` over a link of base latency `base`. Returns the time of a
    /// delivery event to schedule when the pipe was empty (otherwise the pending one covers it).
    pub fn send(
        &mut self,
        payload: Payload,
        now: Duration,
        base: Duration,
        p: &NetParams,
        rng: &mut fastrand::Rng,
        stats: &mut NetStats,
    ) -> Option<Duration> {
        let len = match &payload {
            Payload::Bytes(b) => b.len(),
            Payload::Fin => 0,
        };
        let data = matches!(&payload, Payload::Bytes(b) if carries_data(b));
        stats.segments += 1;
        stats.bytes += len as u64;
        let start = self.busy_until.max(now);
        self.busy_until = start + Duration::from_nanos((len as f64 * 1e9 / p.bandwidth) as u64);
        let mut at = self.busy_until + p.one_way(base, rng);
        if p.loss > 0.0 {
            let packets = len.div_ceil(MSS).max(1) as i32;
            let p_seg = 1.0 - (1.0 - p.loss).powi(packets);
            let mut timeout = rto(base);
            while rng.f64() < p_seg {
                stats.retransmits += 1;
                at += timeout;
                timeout = (timeout * 2).min(MAX_RTO);
            }
        }
        if p.reorder > 0.0 && rng.f64() < p.reorder {
            at += (base * 2).mul_f64(rng.f64());
        }
        if p.duplicate > 0.0 && rng.f64() < p.duplicate {
            stats.duplicated += 1;
        }
        let was_empty = self.segs.is_empty();
        if !was_empty && at < self.tail {
            stats.reordered += 1;
        }
        self.tail = at;
        self.data += u32::from(data);
        self.segs.push_back(Seg {
            at,
            tries: 0,
            data,
            payload,
        });
        was_empty.then_some(at)
    }

    /// The segments that arrive at `now`, in order, into `out`; `cut` when the two ends are
    /// partitioned (the head is lost and retransmitted later). Returns when the next delivery
    /// event is due, if anything is left.
    pub fn arrive(
        &mut self,
        now: Duration,
        cut: bool,
        base: Duration,
        stats: &mut NetStats,
        out: &mut Vec<Payload>,
    ) -> Option<Duration> {
        while let Some(head) = self.segs.front_mut() {
            if head.at > now {
                return Some(head.at);
            }
            if cut {
                let backoff = rto(base).saturating_mul(1 << head.tries.min(16));
                head.at = now + backoff.min(MAX_RTO);
                head.tries += 1;
                stats.partition_retransmits += 1;
                return Some(head.at);
            }
            if let Some(seg) = self.segs.pop_front() {
                self.data -= u32::from(seg.data);
                out.push(seg.payload);
            }
        }
        None
    }

    /// Drops everything in flight (a reset, or the receiver is gone).
    pub fn clear(&mut self) {
        self.segs.clear();
        self.data = 0;
    }

    /// Segments in flight that carry more than heartbeats.
    pub fn data_in_flight(&self) -> u32 {
        self.data
    }

    /// True when nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.segs.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(loss: f64, reorder: f64) -> NetParams {
        NetParams {
            latency: (Duration::from_millis(10), Duration::from_millis(10)),
            jitter: Duration::from_millis(5),
            loss,
            duplicate: 0.0,
            reorder,
            bandwidth: 1e9,
        }
    }

    /// Sends 200 numbered segments and drains the pipe through its delivery events.
    fn run(p: &NetParams, cut_until: Duration) -> (Vec<u8>, NetStats, Duration) {
        let mut rng = fastrand::Rng::with_seed(3);
        let (mut pipe, mut stats, base) = (Pipe::default(), NetStats::default(), p.latency.0);
        let mut due = None;
        for i in 0..200u8 {
            let at = Duration::from_millis(u64::from(i));
            let d = pipe.send(Payload::Bytes(vec![i]), at, base, p, &mut rng, &mut stats);
            due = due.or(d);
        }
        let (mut got, mut out, mut last) = (Vec::new(), Vec::new(), Duration::ZERO);
        while let Some(now) = due {
            due = pipe.arrive(now, now < cut_until, base, &mut stats, &mut out);
            for seg in out.drain(..) {
                if let Payload::Bytes(b) = seg {
                    got.extend(b);
                    last = now;
                }
            }
        }
        (got, stats, last)
    }

    #[test]
    fn loss_reordering_and_partitions_cost_time_never_bytes_or_order() {
        let all: Vec<u8> = (0..200).collect();
        let (got, clean, t_clean) = run(&params(0.0, 0.0), Duration::ZERO);
        assert_eq!(got, all);
        assert_eq!(clean.retransmits + clean.partition_retransmits, 0);
        let (got, lossy, t_lossy) = run(&params(0.2, 0.3), Duration::ZERO);
        assert_eq!(got, all, "in order, nothing missing");
        assert!(lossy.retransmits > 10 && lossy.reordered > 10, "{lossy:?}");
        assert!(
            t_lossy > t_clean + Duration::from_millis(200),
            "at least one RTO later"
        );
        let (got, cut, t_cut) = run(&params(0.0, 0.0), Duration::from_secs(5));
        assert_eq!(got, all);
        assert!(cut.partition_retransmits >= 4, "{cut:?}");
        assert!(t_cut >= Duration::from_secs(5), "nothing crosses the cut");
    }

    #[test]
    fn heartbeats_are_not_data() {
        assert!(!carries_data(b"PING 3\nPONG 2\n"));
        assert!(carries_data(b"PING 3\nUPDATE AT x\n"));
        assert!(!carries_data(b""));
        assert!(carries_data(b"PONG 1\nSUMMARY 0 0 00\n"));
        assert!(!carries_data(b"PONG 1\nPING 2"));
    }
}
