//! Durability in one process: a server with a data folder reloads what it accepted, a torn
//! tail is cut, a corrupt record in the middle costs only itself, and the replay of a large
//! log is timed.

use std::io::Write;
use std::time::Instant;

use herd::config::{Config, Fsync};
use herd::store::Store;

use crate::support::*;

fn alone(dir: &std::path::Path, fsync: Fsync) -> Config {
    let text = r#"(servers: [(name: "Solo", listen: "127.0.0.1:0")], links: [],
        places: (provider: Offline))"#;
    let mut cfg = Config::parse(text, "solo.ron").expect("config");
    cfg.store.dir = Some(dir.to_path_buf());
    cfg.store.fsync = fsync;
    cfg
}

#[test]
fn a_restarted_server_serves_what_it_acknowledged_and_cuts_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let h = TestHerd::start(alone(dir.path(), Fsync::Always));
    let mut acked = Vec::new();
    for i in 0..20 {
        let r = talk_str(
            h.addr("Solo"),
            &format!("IAMAT d{} +1+{i} 17000000{i:02}\n", i % 5),
        );
        assert!(r.starts_with("AT Solo "), "{r}");
        acked.push(r);
    }
    h.stop("Solo");
    // A crash in the middle of an append leaves half a record behind.
    let log = dir.path().join("Solo.wal");
    let good_len = std::fs::metadata(&log).unwrap().len();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .unwrap()
        .write_all(&[40, 0, 0, 0, 1, 2, 3, 4, b'A', b'T'])
        .unwrap();
    h.restart("Solo");
    assert_eq!(std::fs::metadata(&log).unwrap().len(), good_len, "tail cut");
    for last in &acked[15..] {
        let client = last.split(' ').nth(3).unwrap();
        let out = talk_str(h.addr("Solo"), &format!("WHATSAT {client} 10 1\n"));
        assert!(out.starts_with(last.as_str()), "{client}: {out}");
    }
    // Appends go on after the cut and survive another restart.
    let r = talk_str(h.addr("Solo"), "IAMAT after +1+1 1800000000\n");
    h.stop("Solo");
    h.restart("Solo");
    let out = talk_str(h.addr("Solo"), "WHATSAT after 10 1\n");
    assert!(out.starts_with(r.as_str()), "{out}");
}

#[test]
fn a_flipped_byte_mid_log_loses_only_that_record_and_keeps_the_cut_bytes_aside() {
    let dir = tempfile::tempdir().unwrap();
    let h = TestHerd::start(alone(dir.path(), Fsync::EverySecond));
    let acked: Vec<String> = (0..10)
        .map(|i| {
            talk_str(
                h.addr("Solo"),
                &format!("IAMAT flip{i} +1+1 170000000{i}\n"),
            )
        })
        .collect();
    h.stop("Solo");
    let log = dir.path().join("Solo.wal");
    let mut bytes = std::fs::read(&log).unwrap();
    // Ten records of the same length: flip a byte inside the fifth one's AT line.
    let one = bytes.len() / 10;
    bytes[4 * one + 20] ^= 0x04;
    std::fs::write(&log, &bytes).unwrap();
    h.restart("Solo");
    for (i, at) in acked.iter().enumerate() {
        let out = talk_str(h.addr("Solo"), &format!("WHATSAT flip{i} 10 1\n"));
        if i == 4 {
            assert!(out.starts_with("? "), "the damaged record is lost: {out}");
        } else {
            assert!(out.starts_with(at.as_str()), "flip{i}: {out}");
        }
    }
    let aside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("Solo.wal.corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(std::fs::read(&aside[0]).unwrap(), &bytes[4 * one..5 * one]);
    assert_eq!(std::fs::metadata(&log).unwrap().len() as usize, 9 * one);
}

#[test]
fn replay_of_a_large_log_is_timed() {
    let n: usize = std::env::var("HERD_REPLAY_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let dir = tempfile::tempdir().unwrap();
    let (mut s, _) = Store::open(dir.path(), "S", Fsync::Never, 4).unwrap();
    for i in 0..n {
        let line = format!(
            "AT S +0.000000001 client{i}.example.org +34.068930-118.445127 1700000000.{i:09}"
        );
        s.append(line.as_bytes()).unwrap();
    }
    drop(s);
    let bytes = std::fs::metadata(dir.path().join("S.wal")).unwrap().len();
    let start = Instant::now();
    let (_, r) = Store::open(dir.path(), "S", Fsync::Never, 4).unwrap();
    let took = start.elapsed();
    assert_eq!(r.updates.len(), n);
    assert!(r.repairs.is_empty(), "{:?}", r.repairs);
    eprintln!("replay of {n} records ({bytes} bytes): {took:?}");
}
