//! The async-std build's worker threads: one executor per thread, each task placed on one of
//! them in turn and run there to its end.
//!
//! Why not async-std's own pool: async-std runs every task on one shared `async-executor` queue,
//! and a thread of that executor that finds a task wakes another sleeping thread first, "in
//! case running it takes long". A server's tasks are short (read a line, answer, ring a link),
//! so on a quiet thread each socket event cost a futex wake and two context switches of a
//! thread that found nothing to do. With five servers and the load on two cores that was a
//! quarter of a neighbour's CPU (`finish_task_switch` in `perf`); see BENCHMARKS.md, "CPU per
//! IAMAT". Here each thread has its own executor and is the only one that runs it, so a wake
//! reaches exactly the thread whose task is ready. The crates are the ones async-std itself is
//! built on (`async-executor` for the queues, `async-io` for the reactor and the timers), so
//! sockets and timers are async-std's as before.
//!
//! What it gives up: work stealing. A task stays on its thread, so a task that computes for
//! long delays the others placed there. The herd's tasks do not: blocking work (Places HTTP,
//! DNS) goes to [`super::spawn_blocking`], and a link task, a client task and an accept loop
//! yield after a bounded number of rounds ([`super::Budget`]).

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};

use async_executor::Executor;

/// Worker threads asked for with [`set_threads`] (0: not asked).
static THREADS: AtomicUsize = AtomicUsize::new(0);

/// The pool, started by the first spawn.
static POOL: OnceLock<Option<Pool>> = OnceLock::new();

/// Executors, one per running thread.
struct Pool {
    executors: Vec<Arc<Executor<'static>>>,
    /// The next executor to place a task on.
    next: AtomicUsize,
}

/// Sets the number of worker threads; takes effect if the pool has not started yet.
pub fn set_threads(n: usize) {
    THREADS.store(n.max(1), Relaxed);
}

/// How many threads the pool starts with: [`set_threads`], else async-std's own variable
/// `ASYNC_STD_THREAD_COUNT` (so an operator's habit still works), else one per CPU.
fn threads() -> usize {
    match THREADS.load(Relaxed) {
        0 => std::env::var("ASYNC_STD_THREAD_COUNT")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|n| *n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        n => n,
    }
}

impl Pool {
    /// Starts `n` threads; `None` when not one could be started.
    fn start(n: usize) -> Option<Pool> {
        let executors: Vec<_> = (0..n)
            .filter_map(|i| {
                let ex = Arc::new(Executor::new());
                let mine = ex.clone();
                let started = std::thread::Builder::new()
                    .name(format!("herd-worker-{i}"))
                    .spawn(move || work(i, &mine));
                match started {
                    Ok(_) => Some(ex),
                    Err(e) => {
                        log::warn!("cannot start worker thread {i}: {e}");
                        None
                    }
                }
            })
            .collect();
        (!executors.is_empty()).then_some(Pool {
            executors,
            next: AtomicUsize::new(0),
        })
    }

    /// Places `fut` on the executor `group` names, or on the next one in turn.
    fn spawn<F: Future<Output = ()> + Send + 'static>(&self, group: Option<u64>, fut: F) {
        let n = self.executors.len();
        let i = match group {
            Some(g) => (g % n as u64) as usize,
            None => self.next.fetch_add(1, Relaxed) % n,
        };
        self.executors[i].spawn(fut).detach();
    }
}

/// A worker thread's life: run its executor's tasks forever. A panicking task is caught by the
/// executor (its detached handle drops the panic); anything else that unwinds out of the loop
/// is logged and the loop starts again, so the tasks placed here keep running.
fn work(i: usize, ex: &Executor<'static>) {
    loop {
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            async_io::block_on(ex.run(futures::future::pending::<()>()))
        }));
        if ran.is_err() {
            log::error!("worker thread {i} unwound; it goes on");
        }
    }
}

/// Runs `fut` on the pool: on the thread `group` names (the same for every task of the group),
/// or without one on each thread in turn. `Err(fut)` when no worker thread could be started.
pub fn spawn<F: Future<Output = ()> + Send + 'static>(group: Option<u64>, fut: F) -> Result<(), F> {
    match POOL.get_or_init(|| Pool::start(threads())) {
        Some(pool) => {
            pool.spawn(group, fut);
            Ok(())
        }
        None => Err(fut),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::Mutex;

    #[test]
    fn tasks_are_placed_on_every_thread_in_turn() {
        let Some(pool) = Pool::start(3) else {
            panic!("no worker thread could start");
        };
        let names = Arc::new(Mutex::new(HashSet::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        for _ in 0..6 {
            let (names, tx) = (names.clone(), tx.clone());
            pool.spawn(None, async move {
                let name = std::thread::current().name().map(str::to_string);
                if let Ok(mut n) = names.lock() {
                    n.insert(name);
                }
                let _ = tx.send(());
            });
        }
        for _ in 0..6 {
            assert!(rx.recv_timeout(std::time::Duration::from_secs(10)).is_ok());
        }
        let names = names.lock().map(|n| n.clone()).unwrap_or_default();
        let want: HashSet<_> = (0..3).map(|i| Some(format!("herd-worker-{i}"))).collect();
        assert_eq!(names, want);
    }

    #[test]
    fn a_group_runs_on_one_thread() {
        let Some(pool) = Pool::start(3) else {
            panic!("no worker thread could start");
        };
        let (tx, rx) = std::sync::mpsc::channel();
        for _ in 0..6 {
            let tx = tx.clone();
            pool.spawn(Some(7), async move {
                let _ = tx.send(std::thread::current().name().map(str::to_string));
            });
        }
        let names: HashSet<_> = (0..6)
            .filter_map(|_| rx.recv_timeout(std::time::Duration::from_secs(10)).ok())
            .collect();
        let want: HashSet<_> = [Some("herd-worker-1".to_string())].into();
        assert_eq!(names, want, "7 % 3 = 1, every time");
    }

    #[test]
    fn a_panicking_task_leaves_its_thread_running() {
        let Some(pool) = Pool::start(1) else {
            panic!("no worker thread could start");
        };
        pool.spawn(None, async { panic!("a task's own panic") });
        let (tx, rx) = std::sync::mpsc::channel();
        pool.spawn(None, async move {
            let _ = tx.send(());
        });
        assert!(rx.recv_timeout(std::time::Duration::from_secs(10)).is_ok());
    }
}
