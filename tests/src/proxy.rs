//! A loopback TCP proxy that can stop answering, for "the database host went silent" tests:
//! [`TcpProxy::blackhole`] cuts the connections it carries and from then on accepts new ones and
//! never answers (a client waits for its connect timeout), [`TcpProxy::forward`] resumes.
//!
//! Threads: one accepting (non-blocking, polled every 5 ms, for at most [`MAX_LIFETIME`]) and
//! two per forwarded connection, which end when either side closes. Dropping the proxy stops
//! everything.

use std::io::ErrorKind;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// The accept loop ends after this long even if the proxy is never dropped.
pub const MAX_LIFETIME: Duration = Duration::from_secs(600);

struct Shared {
    upstream: SocketAddr,
    blackhole: AtomicBool,
    stop: AtomicBool,
    /// Both ends of every forwarded connection (to cut them).
    forwarded: Mutex<Vec<TcpStream>>,
    /// Connections accepted while black-holed: held open, never answered.
    held: Mutex<Vec<TcpStream>>,
}

pub struct TcpProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl TcpProxy {
    /// Listens on a free loopback port and forwards to `upstream`.
    pub fn start(upstream: SocketAddr) -> Result<TcpProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").context("binding the proxy")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream,
            blackhole: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            forwarded: Mutex::new(Vec::new()),
            held: Mutex::new(Vec::new()),
        });
        let s = shared.clone();
        let accept = std::thread::Builder::new()
            .name("test-proxy".into())
            .spawn(move || accept_loop(&listener, &s))
            .context("spawning the proxy thread")?;
        Ok(TcpProxy {
            addr,
            shared,
            accept: Some(accept),
        })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Cuts every forwarded connection; new ones are accepted and never answered.
    pub fn blackhole(&self) {
        self.shared.blackhole.store(true, Ordering::SeqCst);
        cut(&self.shared.forwarded);
    }

    /// Closes the connections held while black-holed and forwards new ones again.
    pub fn forward(&self) {
        self.shared.blackhole.store(false, Ordering::SeqCst);
        cut(&self.shared.held);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        cut(&self.shared.forwarded);
        cut(&self.shared.held);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn cut(streams: &Mutex<Vec<TcpStream>>) {
    for s in streams
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .drain(..)
    {
        let _ = s.shutdown(Shutdown::Both);
    }
}

fn accept_loop(listener: &TcpListener, shared: &Shared) {
    let began = Instant::now();
    while !shared.stop.load(Ordering::SeqCst) && began.elapsed() < MAX_LIFETIME {
        let client = match listener.accept() {
            Ok((c, _)) => c,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
            Err(_) => continue,
        };
        let _ = client.set_nonblocking(false);
        if shared.blackhole.load(Ordering::SeqCst) {
            shared
                .held
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(client);
            continue;
        }
        let Ok(server) = TcpStream::connect_timeout(&shared.upstream, Duration::from_secs(2))
        else {
            continue;
        };
        let ends = [
            client.try_clone(),
            server.try_clone(),
            client.try_clone(),
            server.try_clone(),
        ];
        let [Ok(c1), Ok(s1), Ok(c2), Ok(s2)] = ends else {
            continue;
        };
        shared
            .forwarded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend([client, server]);
        std::thread::spawn(move || pipe(c1, s1));
        std::thread::spawn(move || pipe(s2, c2));
    }
}

/// Copies `from` to `to` until either side closes, then closes both directions.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let _ = std::io::copy(&mut from, &mut to);
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
