//! Appends per second to a store with `fsync: Always`, from N concurrent tasks, two ways:
//! `append` (each append fsyncs on its own, on the calling thread: what the IAMAT path does
//! until it awaits tickets) and `submit` + awaiting the ticket (the committer thread's fsyncs
//! are shared by every append waiting). Medians over rounds, with the spread.
//!
//!     cargo run --release --example group_commit -- [TASKS=50] [SECONDS=2] [ROUNDS=3] [DIR]
//!
//! DIR defaults to a temporary folder under the current directory (so on the same disk as a
//! data folder would be).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use herd::config::Fsync;
use herd::rt;
use herd::store::Store;

fn line(task: usize, i: u64) -> String {
    format!("AT Bench +0.000000001 t{task} +34.068930-118.445127 1700000000.{i:09}")
}

/// Appends/s from `tasks` tasks for `secs`, grouped (`submit`) or not (`append`).
fn measure(dir: &std::path::Path, tasks: usize, secs: f64, grouped: bool) -> f64 {
    let (store, _) = match Store::open(dir, "Bench", Fsync::Always, 1000) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot open a store in {}: {e}", dir.display());
            std::process::exit(2);
        }
    };
    let store = Arc::new(Mutex::new(store));
    let done = Arc::new(AtomicU64::new(0));
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let start = Instant::now();
    rt::block_on(async {
        let (tx, rx) = async_channel::bounded::<()>(tasks);
        for t in 0..tasks {
            let (store, done, tx) = (store.clone(), done.clone(), tx.clone());
            rt::spawn(async move {
                let mut i = 0;
                while Instant::now() < end {
                    i += 1;
                    let at = line(t, i);
                    let ok = if grouped {
                        let ticket = match store.lock() {
                            Ok(mut s) => s.submit(at.as_bytes()).ok(),
                            Err(_) => None,
                        };
                        match ticket {
                            Some(ticket) => ticket.await.is_ok(),
                            None => false,
                        }
                    } else {
                        // Off the async threads, as a fair "before": one fsync per append.
                        let store = store.clone();
                        rt::spawn_blocking(move || {
                            store
                                .lock()
                                .map(|mut s| s.append(at.as_bytes()).is_ok())
                                .unwrap_or(false)
                        })
                        .await
                    };
                    if ok {
                        done.fetch_add(1, Relaxed);
                    }
                }
                let _ = tx.send(()).await;
            });
        }
        drop(tx);
        while rx.recv().await.is_ok() {}
    });
    done.load(Relaxed) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, d: f64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(d);
    let (tasks, secs, rounds) = (num(0, 50.0) as usize, num(1, 2.0), num(2, 3.0) as usize);
    let base = args
        .get(3)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| ".".into());
    let dir = match tempfile_in(&base) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("cannot make a folder in {}: {e}", base.display());
            std::process::exit(2);
        }
    };
    println!(
        "fsync Always, {tasks} tasks, {secs} s per run, {rounds} rounds, runtime {}, in {}",
        rt::RUNTIME,
        dir.display()
    );
    for (name, grouped) in [
        ("append (one fsync each)", false),
        ("submit + ticket (group commit)", true),
    ] {
        let mut v: Vec<f64> = (0..rounds)
            .map(|r| {
                let d = dir.join(format!("{grouped}-{r}"));
                measure(&d, tasks, secs, grouped)
            })
            .collect();
        v.sort_by(f64::total_cmp);
        println!(
            "{name:32} median {:>9.0} appends/s (min {:.0}, max {:.0})",
            v[v.len() / 2],
            v[0],
            v[v.len() - 1]
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A fresh folder under `base`.
fn tempfile_in(base: &std::path::Path) -> std::io::Result<std::path::PathBuf> {
    let d = base.join(format!("group-commit-{}", std::process::id()));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}
