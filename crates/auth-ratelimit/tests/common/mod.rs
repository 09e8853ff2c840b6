//! Helpers of the Redis tests: the shared test Redis, private redis-servers, log capture.
//!
//! The shared Redis is `LATCHKEY_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`); every test
//! uses its own random key prefix and deletes its keys afterwards (never FLUSHDB). A private
//! server is `LATCHKEY_TEST_REDIS_SERVER` (default `redis-server` on the PATH) on a free loopback
//! port, without persistence. When either is missing the tests that need it are skipped with a
//! message, unless `CI` is set: then they fail.

#![allow(dead_code)]

use std::io;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Skips (returns `None`) or, under CI, fails.
pub fn unavailable<T>(what: &str) -> Option<T> {
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
        panic!("{what} (CI is set, so this is a failure)");
    }
    eprintln!("SKIPPED: {what}");
    None
}

/// The shared test Redis, if it answers.
pub async fn shared_redis_url() -> Option<String> {
    let url = std::env::var("LATCHKEY_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let answered = async {
        let client = redis::Client::open(url.as_str()).ok()?;
        let mut conn = client.get_multiplexed_async_connection().await.ok()?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .ok()
    };
    match tokio::time::timeout(Duration::from_secs(2), answered).await {
        Ok(Some(_)) => Some(url),
        _ => unavailable(&format!("no Redis answers at {url}")),
    }
}

/// A key prefix no other test uses.
pub fn unique_prefix() -> String {
    format!("latchkey-test:{:016x}:", rand::random::<u64>())
}

/// Deletes every key under `prefix`.
pub async fn delete_prefix(url: &str, prefix: &str) {
    let Ok(client) = redis::Client::open(url) else {
        return;
    };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
        return;
    };
    let mut cursor: u64 = 0;
    loop {
        let Ok((next, keys)) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async::<(u64, Vec<String>)>(&mut conn)
            .await
        else {
            return;
        };
        if !keys.is_empty() {
            let _: Result<i64, _> = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await;
        }
        if next == 0 {
            return;
        }
        cursor = next;
    }
}

/// A direct connection for looking at what the limiter stored.
pub async fn connect(url: &str) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(url).expect("valid url");
    client
        .get_multiplexed_async_connection()
        .await
        .expect("redis connection")
}

/// The redis-server binary for private servers, if there is one.
pub fn redis_server_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("LATCHKEY_TEST_REDIS_SERVER") {
        return Some(PathBuf::from(path));
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("redis-server"))
            .find(|p| p.is_file())
    });
    on_path
        .or_else(|| {
            let usual = PathBuf::from("/usr/bin/redis-server");
            usual.is_file().then_some(usual)
        })
        .or_else(|| unavailable("no redis-server binary (set LATCHKEY_TEST_REDIS_SERVER)"))
}

/// A loopback port nobody listens on (at the time of asking).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

/// A redis-server of this test's own, without persistence; killed on drop.
pub struct PrivateRedis {
    binary: PathBuf,
    pub port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    pub async fn start(binary: PathBuf, port: u16) -> PrivateRedis {
        let mut server = PrivateRedis {
            binary,
            port,
            child: None,
        };
        server.restart().await;
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again) on the same port and waits until it answers PING.
    pub async fn restart(&mut self) {
        self.stop();
        let child = Command::new(&self.binary)
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--daemonize", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if ping(self.port).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("private redis-server on port {} did not start", self.port);
    }

    /// Kills the server (SIGKILL: a crash, not a shutdown).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn ping(port: u16) -> Result<(), String> {
    let answered = async {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).ok()?;
        let mut conn = client.get_multiplexed_async_connection().await.ok()?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .ok()
    };
    match tokio::time::timeout(Duration::from_millis(500), answered).await {
        Ok(Some(_)) => Ok(()),
        _ => Err(format!("no PONG on port {port}")),
    }
}

/// Everything logged while the guard lives (on this thread), as text.
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    pub fn capture(&self) -> tracing::subscriber::DefaultGuard {
        let sink = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || sink.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    pub fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    pub fn count(&self, needle: &str) -> usize {
        self.text().matches(needle).count()
    }
}

impl io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
