//! Failed logins take as long as successful ones: an unknown user skips the bind round trip, so
//! credential failures are padded towards a moving average of recent successful logins, with
//! a little jitter.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::Rng;

/// Never pad beyond this, whatever the average says.
const MAX_PAD: Duration = Duration::from_secs(3);

#[derive(Debug, Default)]
pub struct Padder {
    /// Exponential moving average of successful login durations, in microseconds (0: none yet).
    average_us: AtomicU64,
}

impl Padder {
    pub fn new() -> Padder {
        Padder::default()
    }

    /// Records how long a successful login took.
    pub fn observe_success(&self, took: Duration) {
        let sample = took.as_micros().min(u128::from(u64::MAX)) as u64;
        let _ = self
            .average_us
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                Some(if old == 0 {
                    sample
                } else {
                    (old * 7 + sample) / 8
                })
            });
    }

    /// The current target, if any login has succeeded yet.
    pub fn target(&self) -> Option<Duration> {
        match self.average_us.load(Ordering::Relaxed) {
            0 => None,
            us => Some(Duration::from_micros(us).min(MAX_PAD)),
        }
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
            "no padding before any success"
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
    }
}
