//! A fixed pool of threads for CPU-bound work whose cost the sender controls (checking the
//! enveloped signature of an inbound SAML message: a whole libxml2 parse and c14n of up to the
//! gate's size limit). It has one thread per core: unlike `spawn_blocking`, whose pool grows
//! with the number of waiting tasks, a flood of signed messages does not become hundreds of
//! threads time-slicing one another on few cores, and the runtime threads stay free for
//! everything else. Work queues in order; a caller waits without holding a runtime thread.

use std::sync::{Arc, Mutex, mpsc};

type Job = Box<dyn FnOnce() + Send + 'static>;

/// The handle; cheap to clone. The threads end when the last handle is dropped.
#[derive(Clone)]
pub struct CpuPool {
    queue: mpsc::SyncSender<Job>,
}

#[derive(Debug, thiserror::Error)]
#[error("the CPU pool has stopped")]
pub struct Stopped;

/// Jobs waiting for a thread; callers wait (asynchronously) beyond that.
const QUEUE: usize = 1024;

impl CpuPool {
    /// A pool of `threads` threads (at least one) named `name`.
    pub fn new(name: &str, threads: usize) -> std::io::Result<CpuPool> {
        let (queue, jobs) = mpsc::sync_channel::<Job>(QUEUE);
        let jobs = Arc::new(Mutex::new(jobs));
        for i in 0..threads.max(1) {
            let jobs = Arc::clone(&jobs);
            std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || {
                    loop {
                        // The lock is held only while waiting for the next job.
                        let job = match jobs.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })?;
        }
        Ok(CpuPool { queue })
    }

    /// One thread per available core.
    pub fn per_core(name: &str) -> std::io::Result<CpuPool> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        CpuPool::new(name, cores)
    }

    /// Runs `f` on the pool and waits for its result. A panic in `f` is resumed here.
    pub async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, Stopped> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            let _ = reply.send(result);
        });
        let job = match self.queue.try_send(job) {
            Ok(()) => None,
            Err(mpsc::TrySendError::Full(job)) => Some(job),
            Err(mpsc::TrySendError::Disconnected(_)) => return Err(Stopped),
        };
        if let Some(job) = job {
            // A full queue: wait for room off the runtime threads.
            let queue = self.queue.clone();
            tokio::task::spawn_blocking(move || queue.send(job))
                .await
                .map_err(|_| Stopped)?
                .map_err(|_| Stopped)?;
        }
        match answer.await.map_err(|_| Stopped)? {
            Ok(r) => Ok(r),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_work_off_the_runtime_and_returns_its_result() {
        let pool = CpuPool::new("test-cpu", 2).unwrap();
        let caller = std::thread::current().id();
        let (value, thread) = pool
            .run(move || (6 * 7, std::thread::current().id()))
            .await
            .unwrap();
        assert_eq!(value, 42);
        assert_ne!(thread, caller);
    }

    #[tokio::test]
    async fn many_jobs_beyond_the_queue_all_complete() {
        let pool = CpuPool::new("test-cpu", 2).unwrap();
        let jobs: Vec<_> = (0..(QUEUE as u64 + 200))
            .map(|i| {
                let pool = pool.clone();
                tokio::spawn(async move { pool.run(move || i * 2).await.unwrap() })
            })
            .collect();
        let mut sum = 0;
        for j in jobs {
            sum += j.await.unwrap();
        }
        let n = QUEUE as u64 + 200;
        assert_eq!(sum, n * (n - 1));
    }

    #[tokio::test]
    async fn a_panic_in_the_job_reaches_the_caller_and_the_pool_survives() {
        let pool = CpuPool::new("test-cpu", 1).unwrap();
        let p = pool.clone();
        let failed = tokio::spawn(async move { p.run(|| panic!("boom")).await }).await;
        assert!(failed.is_err());
        assert_eq!(pool.run(|| 1).await.unwrap(), 1);
    }
}
