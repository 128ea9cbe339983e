//! The bounded CPU pool algorithms run on. At most `workers` calls run at once and at
//! most `queue` more wait; anything beyond is refused at once (HTTP 429) instead of
//! piling up. A call abandoned on timeout keeps its slot until its thread really stops,
//! so abandoned work can never pile up either.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the server is busy: {workers} workers and {queue} queued calls are taken \
     (--workers, --queue); retry later"
)]
pub struct Saturated {
    pub workers: usize,
    pub queue: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    #[error("the call ran past its timeout of {} s (query parameter `timeout`) and was abandoned", .0.as_secs())]
    Timeout(Duration),
    #[error("the algorithm crashed: {0}")]
    Panicked(String),
}

#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    workers: usize,
    queue: usize,
    running: Arc<Semaphore>,
    admitted: AtomicUsize,
    tracker: TaskTracker,
}

/// The worker a running call holds, which it can hand back while it waits on the
/// network (see [`WorkerSlot::idle`]) so waiting never keeps CPU work from running.
#[derive(Default)]
pub struct WorkerSlot {
    held: std::sync::Mutex<Option<(Arc<Semaphore>, OwnedSemaphorePermit)>>,
}

impl WorkerSlot {
    fn hold(&self, running: Arc<Semaphore>, permit: OwnedSemaphorePermit) {
        *self.lock() = Some((running, permit));
    }

    fn release(&self) -> Option<Arc<Semaphore>> {
        self.lock().take().map(|(running, _permit)| running)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Arc<Semaphore>, OwnedSemaphorePermit)>> {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `wait` (blocking I/O of the calling worker thread) with the worker handed
    /// back to the pool, then takes a worker again, giving up if `cancel` fires first.
    /// Returns `None` when cancelled while waiting for the worker.
    pub fn idle<T>(
        &self,
        runtime: &tokio::runtime::Handle,
        cancel: &CancellationToken,
        wait: impl FnOnce() -> T,
    ) -> Option<T> {
        let Some(running) = self.release() else {
            return Some(wait());
        };
        let value = wait();
        let again = runtime.block_on(async {
            tokio::select! {
                permit = Arc::clone(&running).acquire_owned() => permit.ok(),
                () = cancel.cancelled() => None,
            }
        })?;
        self.hold(running, again);
        Some(value)
    }
}

/// A place in the pool (running or queued), held until the work has really ended.
pub struct Admission {
    inner: Arc<Inner>,
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.inner.admitted.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Pool {
    pub fn new(workers: usize, queue: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                workers,
                queue,
                running: Arc::new(Semaphore::new(workers)),
                admitted: AtomicUsize::new(0),
                tracker: TaskTracker::new(),
            }),
        }
    }

    /// Takes a place, or says the pool is full. Never waits.
    pub fn admit(&self) -> Result<Admission, Saturated> {
        let capacity = self.inner.workers + self.inner.queue;
        self.inner
            .admitted
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |taken| {
                (taken < capacity).then_some(taken + 1)
            })
            .map(|_| Admission {
                inner: Arc::clone(&self.inner),
            })
            .map_err(|_| Saturated {
                workers: self.inner.workers,
                queue: self.inner.queue,
            })
    }

    /// Calls admitted and not yet finished (running, queued or abandoned but still running).
    pub fn in_flight(&self) -> usize {
        self.inner.admitted.load(Ordering::Acquire)
    }

    /// Tracks background work (such as `output=void` calls) so shutdown can wait for it.
    pub fn spawn_background<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.inner.tracker.spawn(future);
    }

    /// Waits up to `grace` for all work to end; `false` if some is still running.
    pub async fn drain(&self, grace: Duration) -> bool {
        self.inner.tracker.close();
        tokio::time::timeout(grace, self.inner.tracker.wait())
            .await
            .is_ok()
    }
}

impl Admission {
    /// Runs `job` on a worker thread once one is free. After `timeout` (queueing
    /// included) `cancel` fires and the caller gets [`RunError::Timeout`]; the job should
    /// watch `cancel` and stop. Dropping the returned future cancels too.
    pub async fn run<T, F>(
        self,
        timeout: Duration,
        cancel: CancellationToken,
        job: F,
    ) -> Result<T, RunError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        self.run_gated(timeout, cancel, None, job).await
    }

    /// [`Admission::run`], first waiting (without a worker) for a permit of `gate`, the
    /// algorithm's shared resource; the job holds it until it really ends.
    pub async fn run_gated<T, F>(
        self,
        timeout: Duration,
        cancel: CancellationToken,
        gate: Option<Arc<Semaphore>>,
        job: F,
    ) -> Result<T, RunError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        self.run_in_slot(timeout, cancel, gate, Arc::default(), job)
            .await
    }

    /// [`Admission::run_gated`] with the worker kept in `slot`, which the job may hand
    /// back while it waits on the network ([`WorkerSlot::idle`]).
    pub async fn run_in_slot<T, F>(
        self,
        timeout: Duration,
        cancel: CancellationToken,
        gate: Option<Arc<Semaphore>>,
        slot: Arc<WorkerSlot>,
        job: F,
    ) -> Result<T, RunError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let _cancel_on_exit = cancel.clone().drop_guard();
        let deadline = tokio::time::Instant::now() + timeout;
        let gate_permit = match gate {
            None => None,
            Some(gate) => match tokio::time::timeout_at(deadline, gate.acquire_owned()).await {
                Ok(Ok(permit)) => Some(permit),
                Ok(Err(_closed)) => {
                    return Err(RunError::Panicked("the algorithm's gate is closed".into()));
                }
                Err(_) => return Err(RunError::Timeout(timeout)),
            },
        };
        let running = Arc::clone(&self.inner.running);
        let permit = match tokio::time::timeout_at(deadline, Arc::clone(&running).acquire_owned())
            .await
        {
            Ok(Ok(permit)) => permit,
            Ok(Err(_closed)) => return Err(RunError::Panicked("the worker pool is closed".into())),
            Err(_) => return Err(RunError::Timeout(timeout)),
        };
        slot.hold(Arc::clone(&running), permit);
        let tracker = self.inner.tracker.clone();
        let handle = tracker.spawn_blocking(move || {
            // All are released when the work really ends, not when the caller gives up.
            let _gate_permit = gate_permit;
            let _admission = self;
            let value = job();
            slot.release();
            value
        });
        match tokio::time::timeout_at(deadline, handle).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(join_error)) => Err(RunError::Panicked(panic_message(join_error))),
            Err(_) => Err(RunError::Timeout(timeout)),
        }
    }
}

fn panic_message(error: tokio::task::JoinError) -> String {
    match error.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".to_owned()),
        Err(error) => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refuses_beyond_workers_plus_queue() {
        let pool = Pool::new(1, 1);
        let first = pool.admit().expect("first");
        let _second = pool.admit().expect("second (queued)");
        assert!(pool.admit().is_err());
        drop(first);
        assert!(pool.admit().is_ok());
    }

    #[tokio::test]
    async fn timeout_cancels_and_frees_the_slot_when_the_job_stops() {
        let pool = Pool::new(1, 0);
        let cancel = CancellationToken::new();
        let watched = cancel.clone();
        let result = pool
            .admit()
            .expect("admitted")
            .run(Duration::from_millis(50), cancel, move || {
                while !watched.is_cancelled() {
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
            .await;
        assert!(matches!(result, Err(RunError::Timeout(_))));
        for _ in 0..100 {
            if pool.in_flight() == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the abandoned job never released its slot");
    }

    #[tokio::test]
    async fn a_panic_is_reported() {
        let pool = Pool::new(1, 0);
        let result: Result<(), _> = pool
            .admit()
            .expect("admitted")
            .run(Duration::from_secs(5), CancellationToken::new(), || {
                panic!("boom")
            })
            .await;
        assert_eq!(result, Err(RunError::Panicked("boom".into())));
    }
}
