//! The threads password hashes run on: a small pool of its own, at a lower CPU priority than
//! the threads that serve requests.
//!
//! bcrypt at cost 12 keeps a core busy for about 300 ms. On the tokio blocking pool, a flood of
//! logins would compete on equal terms with the workers answering API-key checks, and every
//! key check would wait for a time slice behind a hash. Here each hash thread lowers its own
//! scheduling priority when it starts, so the kernel prefers a request thread that is ready and
//! hashes take the rest of the CPU: logins keep their throughput on an otherwise idle machine,
//! key checks keep their latency during a flood.
//!
//! Two ways, chosen by [`PoolOptions::idle`]:
//! - **Linux's `SCHED_IDLE` policy** (the default): a hash runs only on a core that nothing else
//!   wants, and a request thread that wakes up takes the core from it at once. A raised nice
//!   value alone does not do that: the kernel lets the running hash finish its time slice
//!   first (about a millisecond), which is what a key check waits during a flood.
//! - **A raised nice value** ([`PoolOptions::nice`], Linux keeps one per thread): the hash still
//!   gets a share of a core its neighbours keep busy (about a tenth at 10).
//!
//! Either is a trade against busy neighbours: next to programs that keep every core busy at
//! normal priority, an idle-policy hash gets almost nothing (a login may wait for seconds) and
//! a nice-19 hash about 1.5% of a core. If the priority cannot be lowered (a platform without
//! these, a container that forbids it), the pool still works, at normal priority, and says so
//! once in the log.

use std::panic::AssertUnwindSafe;

use crossbeam_channel::{Receiver, Sender};

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A fixed set of threads running hash jobs in the order they arrive.
#[derive(Debug)]
pub(crate) struct HashPool {
    jobs: Sender<Job>,
}

/// How the pool's threads are scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolOptions {
    /// Number of hash threads (at most this many hashes run at once).
    pub threads: usize,
    /// The threads take the `SCHED_IDLE` scheduling policy (Linux); `nice` is then unused.
    pub idle: bool,
    /// The nice value the threads add to their own (0 to 19; 0 leaves them as they are), when
    /// not `idle`.
    pub nice: i32,
}

impl PoolOptions {
    /// The default nice value of the hash threads.
    pub const DEFAULT_NICE: i32 = 10;

    /// One thread per CPU, with the idle policy.
    pub fn for_this_machine() -> PoolOptions {
        PoolOptions {
            threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            idle: true,
            nice: PoolOptions::DEFAULT_NICE,
        }
    }
}

impl HashPool {
    /// Starts the threads. They end when the last handle to the pool is dropped.
    pub(crate) fn start(options: PoolOptions) -> std::io::Result<HashPool> {
        let (jobs, queue) = crossbeam_channel::unbounded::<Job>();
        for i in 0..options.threads.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("latchkey-hash-{i}"))
                .spawn(move || work(&queue, options))?;
        }
        Ok(HashPool { jobs })
    }

    /// Runs `f` on a hash thread; `None` if the pool is gone or the job panicked.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            // The caller may have gone (a cancelled request): nothing to tell it.
            let _ = tx.send(f());
        });
        self.jobs.send(job).ok()?;
        rx.await.ok()
    }
}

fn work(queue: &Receiver<Job>, options: PoolOptions) {
    if options.idle {
        idle_policy(options.nice);
    } else if options.nice > 0 {
        lower_priority(options.nice);
    }
    while let Ok(job) = queue.recv() {
        // A panicking job loses its own answer (its caller sees a worker error), not the thread.
        if std::panic::catch_unwind(AssertUnwindSafe(job)).is_err() {
            tracing::error!("a password hash job panicked");
        }
    }
}

/// Gives the calling thread the `SCHED_IDLE` policy; where that fails, raises its nice value
/// by `nice` instead.
fn idle_policy(nice: i32) {
    use thread_priority::unix::{
        NormalThreadSchedulePolicy, ThreadSchedulePolicy, set_thread_priority_and_policy,
        thread_native_id,
    };
    let set = set_thread_priority_and_policy(
        thread_native_id(),
        thread_priority::ThreadPriority::Min,
        ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle),
    );
    if let Err(e) = set {
        static WARNED: std::sync::Once = std::sync::Once::new();
        WARNED.call_once(|| {
            tracing::warn!(error = ?e, "could not give the password hash threads the idle scheduling policy; raising their nice value instead");
        });
        if nice > 0 {
            lower_priority(nice);
        }
    }
}

/// Adds `nice` to the calling thread's nice value (Linux: the thread only, by its thread id).
fn lower_priority(nice: i32) {
    use std::sync::Once;
    static WARNED: Once = Once::new();
    let now = rustix::process::getpriority_process(Some(rustix::thread::gettid()));
    let set = now.and_then(|now| {
        rustix::process::setpriority_process(Some(rustix::thread::gettid()), (now + nice).min(19))
    });
    if let Err(e) = set {
        WARNED.call_once(|| {
            tracing::warn!(error = %e, "could not lower the priority of the password hash threads; they run at normal priority");
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_and_a_panic_keeps_the_thread() {
        let pool = HashPool::start(PoolOptions {
            threads: 1,
            idle: false,
            nice: 19,
        })
        .unwrap();
        assert_eq!(pool.run(|| 2 + 2).await, Some(4));
        let boom: Option<()> = pool.run(|| panic!("boom")).await;
        assert_eq!(boom, None);
        // The one thread survived the panic.
        assert_eq!(pool.run(|| "still here").await, Some("still here"));
    }

    /// Field `n` (counted from 1) of /proc/thread-self/stat for the calling thread.
    #[cfg(target_os = "linux")]
    fn stat_field(n: usize) -> String {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        // Fields 1 and 2 are the id and the parenthesised name (which may hold spaces).
        let after_name = stat.rsplit_once(')').unwrap().1;
        after_name.split_whitespace().nth(n - 3).unwrap().to_owned()
    }

    /// Field 19 is the nice value.
    #[cfg(target_os = "linux")]
    fn nice_of_this_thread() -> String {
        stat_field(19)
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hash_threads_add_their_nice_value() {
        let pool = HashPool::start(PoolOptions {
            threads: 1,
            idle: false,
            nice: 5,
        })
        .unwrap();
        let mine: i32 = nice_of_this_thread().parse().unwrap();
        let nice = pool.run(nice_of_this_thread).await.unwrap();
        assert_eq!(nice, (mine + 5).min(19).to_string());
        // With 0 the threads keep the nice value of the thread that started them.
        let pool = HashPool::start(PoolOptions {
            threads: 1,
            idle: false,
            nice: 0,
        })
        .unwrap();
        assert_eq!(
            pool.run(nice_of_this_thread).await.unwrap(),
            mine.to_string()
        );
    }

    /// Field 41 is the scheduling policy; 5 is `SCHED_IDLE`.
    #[cfg(target_os = "linux")]
    fn policy_of_this_thread() -> String {
        stat_field(41)
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn idle_hash_threads_take_the_idle_policy() {
        let pool = HashPool::start(PoolOptions {
            threads: 1,
            idle: true,
            nice: 10,
        })
        .unwrap();
        assert_eq!(
            policy_of_this_thread(),
            "0",
            "the test thread is SCHED_OTHER"
        );
        assert_eq!(pool.run(policy_of_this_thread).await.unwrap(), "5");
        assert_eq!(pool.run(|| 6 * 7).await, Some(42));
    }
}
