//! Shutdown by dropping senders (the a-chat way): a stop signal every task can wait on, and a
//! task counter that completes when the last task has ended.

/// Fires the stop signal when fired or dropped.
#[derive(Debug)]
pub struct StopHandle(Option<async_channel::Sender<()>>);

impl StopHandle {
    /// Fires the signal.
    pub fn fire(mut self) {
        self.0.take();
    }
}

/// The receiving side of the stop signal; cheap to clone.
#[derive(Clone, Debug)]
pub struct Stop(async_channel::Receiver<()>);

impl Stop {
    /// Completes once the signal has fired.
    pub async fn wait(&self) {
        // Nothing is ever sent: recv() returns when the sender is gone.
        let _ = self.0.recv().await;
    }

    /// Runs `fut` until it completes (`Some` of its output) or the signal fires first (`None`).
    pub async fn until<F: std::future::Future>(&self, fut: F) -> Option<F::Output> {
        let fut = std::pin::pin!(fut);
        let stopped = std::pin::pin!(self.wait());
        match futures::future::select(fut, stopped).await {
            futures::future::Either::Left((out, _)) => Some(out),
            futures::future::Either::Right(_) => None,
        }
    }

    /// True once the signal has fired.
    pub fn is_set(&self) -> bool {
        self.0.is_closed()
    }
}

/// A new stop signal.
pub fn channel() -> (StopHandle, Stop) {
    let (tx, rx) = async_channel::bounded(1);
    (StopHandle(Some(tx)), Stop(rx))
}

/// Held by every task; the counter completes when every guard is gone.
#[derive(Clone, Debug)]
pub struct TaskGuard(#[allow(dead_code)] async_channel::Sender<()>);

/// Counts running tasks through their guards.
#[derive(Debug)]
pub struct Tasks {
    /// The original sender, handed out as guards.
    tx: Option<async_channel::Sender<()>>,
    /// Closes when all guards are dropped.
    rx: async_channel::Receiver<()>,
}

impl Tasks {
    /// No tasks yet.
    pub fn new() -> Self {
        let (tx, rx) = async_channel::bounded(1);
        Tasks { tx: Some(tx), rx }
    }

    /// A guard for a new task.
    pub fn guard(&self) -> TaskGuard {
        match &self.tx {
            Some(tx) => TaskGuard(tx.clone()),
            None => TaskGuard(async_channel::bounded(1).0),
        }
    }

    /// Completes when every guard handed out has been dropped.
    pub async fn wait(mut self) {
        self.tx.take();
        let _ = self.rx.recv().await;
    }
}

impl Default for Tasks {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_fires_on_drop_and_tasks_complete_with_their_guards() {
        futures::executor::block_on(async {
            let (h, s) = channel();
            assert!(!s.is_set());
            drop(h);
            s.wait().await;
            assert!(s.is_set());

            let tasks = Tasks::new();
            let g = tasks.guard();
            let g2 = g.clone();
            drop(g);
            drop(g2);
            tasks.wait().await;
        });
    }

    #[test]
    fn until_gives_the_output_before_the_signal_and_none_after_it() {
        futures::executor::block_on(async {
            let (h, s) = channel();
            assert_eq!(s.until(async { 7 }).await, Some(7));
            // A future that never completes ends when the signal fires.
            let pending = s.until(futures::future::pending::<()>());
            h.fire();
            assert_eq!(pending.await, None);
            // Once fired, a ready future may still win the race; a pending one never does.
            assert_eq!(s.until(futures::future::pending::<u8>()).await, None);
        });
    }
}
