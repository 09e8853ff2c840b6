//! Failed logins take as long as successful ones: an unknown user skips the bind round trip, so
//! credential failures are padded towards a moving average of recent successful logins (or,
//! until one has succeeded on this instance, of failed binds), with a little jitter.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::Rng;

/// Never pad beyond this, whatever the average says.
const MAX_PAD: Duration = Duration::from_secs(3);

#[derive(Debug, Default)]
pub struct Padder {
    /// Exponential moving average of successful login durations, in microseconds (0: none yet).
    average_us: AtomicU64,
    /// The same for attempts that reached a bind and failed it (a wrong password): the target
    /// until a login has succeeded.
    bind_average_us: AtomicU64,
}

fn fold(cell: &AtomicU64, took: Duration) {
    let sample = took.as_micros().min(u128::from(u64::MAX)) as u64;
    let _ = cell.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
        Some(if old == 0 {
            sample
        } else {
            (old * 7 + sample) / 8
        })
    });
}

impl Padder {
    pub fn new() -> Padder {
        Padder::default()
    }

    /// Records how long a successful login took.
    pub fn observe_success(&self, took: Duration) {
        fold(&self.average_us, took);
    }

    /// Records how long an attempt that failed its bind took.
    pub fn observe_failed_bind(&self, took: Duration) {
        fold(&self.bind_average_us, took);
    }

    /// The current target: the successful-login average, else the failed-bind average.
    pub fn target(&self) -> Option<Duration> {
        let us = match self.average_us.load(Ordering::Relaxed) {
            0 => self.bind_average_us.load(Ordering::Relaxed),
            us => us,
        };
        (us != 0).then(|| Duration::from_micros(us).min(MAX_PAD))
    }

    /// Sleeps until `started + target × (0.9 … 1.1)`.
    pub async fn pad(&self, started: Instant) {
        let Some(target) = self.target() else {
            return;
        };
        let jitter = rand::rng().random_range(0.9..1.1);
        let goal = target.mul_f64(jitter);
        let elapsed = started.elapsed();
        if goal > elapsed {
            tokio::time::sleep(goal - elapsed).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pads_towards_the_average() {
        let p = Padder::new();
        let t = Instant::now();
        p.pad(t).await;
        assert!(
            t.elapsed() < Duration::from_millis(20),
            "no padding before any sample"
        );
        for _ in 0..5 {
            p.observe_success(Duration::from_millis(60));
        }
        assert_eq!(p.target(), Some(Duration::from_millis(60)));
        let t = Instant::now();
        p.pad(t).await;
        assert!(t.elapsed() >= Duration::from_millis(54));
        p.observe_success(Duration::from_secs(100));
        assert!(p.target().unwrap() <= MAX_PAD);
        // Before any success, failed binds set the target; successes take over.
        let q = Padder::new();
        q.observe_failed_bind(Duration::from_millis(40));
        assert_eq!(q.target(), Some(Duration::from_millis(40)));
        q.observe_success(Duration::from_millis(80));
        assert_eq!(q.target(), Some(Duration::from_millis(80)));
    }
}
