//! One row of a table: a count, a duration, latency percentiles; from wrk's summary or from
//! latencies measured in this process (the in-process references).

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Stats {
    pub label: String,
    pub requests: u64,
    pub errors: u64,
    pub secs: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
}

pub const TABLE_HEAD: &str = "| scenario | requests | req/s | p50 ms | p90 ms | p99 ms | errors |\n\
                              |---|---:|---:|---:|---:|---:|---:|";

impl Stats {
    /// Requests per second over the measured window (0 when nothing was measured).
    pub fn rate(&self) -> f64 {
        if self.secs > 0.0 {
            self.requests as f64 / self.secs
        } else {
            0.0
        }
    }

    /// A row under [`TABLE_HEAD`].
    pub fn row(&self) -> String {
        format!(
            "| {} | {} | {} | {:.2} | {:.2} | {:.2} | {} |",
            self.label,
            self.requests,
            fmt_rate(self.rate()),
            self.p50_ms,
            self.p90_ms,
            self.p99_ms,
            self.errors
        )
    }

    /// Stats of latencies measured in this process over `elapsed`.
    pub fn from_latencies(
        label: &str,
        mut lat: Vec<Duration>,
        errors: u64,
        elapsed: Duration,
    ) -> Stats {
        lat.sort();
        let pct = |p: f64| {
            if lat.is_empty() {
                return 0.0;
            }
            // Nearest rank, as wrk reports it.
            let rank = ((p / 100.0) * lat.len() as f64).ceil() as usize;
            let d = lat[rank.clamp(1, lat.len()) - 1];
            d.as_secs_f64() * 1000.0
        };
        Stats {
            label: label.to_owned(),
            requests: lat.len() as u64,
            errors,
            secs: elapsed.as_secs_f64(),
            p50_ms: pct(50.0),
            p90_ms: pct(90.0),
            p99_ms: pct(99.0),
        }
    }

    /// A placeholder for a measurement that could not run (its row says why).
    pub fn missing(label: &str) -> Stats {
        Stats {
            label: format!("{label} (not measured)"),
            requests: 0,
            errors: 0,
            secs: 0.0,
            p50_ms: 0.0,
            p90_ms: 0.0,
            p99_ms: 0.0,
        }
    }
}

/// A rate with the precision it deserves: one decimal under 100/s.
pub fn fmt_rate(r: f64) -> String {
    if r < 100.0 {
        format!("{r:.1}")
    } else {
        format!("{r:.0}")
    }
}

/// `a / b`, or 0 when `b` is 0 (a missing reference).
pub fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}
