//! A loopback TCP proxy the test can pause: in front of moto it makes AWS (the `[ha]` table
//! among it) unreachable for a while, as a network partition would, and it counts the requests
//! that went through by their request line and `x-amz-target` (which AWS operation was called).

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct Proxy {
    addr: SocketAddr,
    paused: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<String>>>,
    stopped: Arc<AtomicBool>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards every connection to `target`.
    pub fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener.set_nonblocking(true).unwrap();
        let proxy = Proxy {
            addr: listener.local_addr().unwrap(),
            paused: Arc::default(),
            seen: Arc::default(),
            stopped: Arc::default(),
        };
        let (paused, seen, stopped) = (
            proxy.paused.clone(),
            proxy.seen.clone(),
            proxy.stopped.clone(),
        );
        std::thread::spawn(move || {
            while !stopped.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) if paused.load(Ordering::SeqCst) => drop(client),
                    Ok((client, _)) => {
                        let (paused, seen) = (paused.clone(), seen.clone());
                        std::thread::spawn(move || forward(client, target, &paused, &seen));
                    }
                    Err(err) if err.kind() == ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(_) => return,
                }
            }
        });
        proxy
    }

    /// `http://127.0.0.1:PORT`, for `[aws] endpoint_url`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Cuts every open connection and refuses new ones until [`resume`](Self::resume).
    pub fn pause(&self) {
        self.paused.store(true, Ordering::SeqCst);
    }

    pub fn resume(&self) {
        self.paused.store(false, Ordering::SeqCst);
    }

    /// How many requests went through whose request line or `x-amz-target` contains
    /// `needle` (e.g. `UpdateService`, `/rrset`).
    pub fn count(&self, needle: &str) -> usize {
        self.count_where(|s| s.contains(&needle.to_ascii_lowercase()))
    }

    /// How many requests went through whose (lower-cased) request line or `x-amz-target`
    /// `matches`.
    pub fn count_where(&self, matches: impl Fn(&str) -> bool) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| matches(s))
            .count()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.paused.store(true, Ordering::SeqCst);
    }
}

/// Copies both ways until either side closes or the proxy is paused.
fn forward(client: TcpStream, target: SocketAddr, paused: &AtomicBool, seen: &Mutex<Vec<String>>) {
    let Ok(server) = TcpStream::connect(target) else {
        return;
    };
    let tick = Some(Duration::from_millis(20));
    for stream in [&client, &server] {
        let _ = stream.set_read_timeout(tick);
        let _ = stream.set_nodelay(true);
    }
    let (client2, server2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    std::thread::scope(|scope| {
        scope.spawn(|| pump(client2, server2, paused, Some(seen)));
        pump(server, client, paused, None);
    });
}

/// Copies `from` into `to`, noting the requests seen when `seen` is given.
fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    paused: &AtomicBool,
    seen: Option<&Mutex<Vec<String>>>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if paused.load(Ordering::SeqCst) {
            break;
        }
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if let Some(seen) = seen {
                    note(&buf[..n], seen);
                }
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

/// Request lines and `x-amz-target` values in a chunk of what a client sent.
fn note(chunk: &[u8], seen: &Mutex<Vec<String>>) {
    let text = String::from_utf8_lossy(chunk);
    let mut seen = seen.lock().unwrap();
    for line in text.split("\r\n") {
        let lower = line.to_ascii_lowercase();
        if let Some(target) = lower.strip_prefix("x-amz-target:") {
            seen.push(target.trim().to_owned());
        } else if ["GET ", "POST ", "PUT ", "DELETE "]
            .iter()
            .any(|m| line.starts_with(m))
            && line.ends_with("HTTP/1.1")
        {
            seen.push(lower);
        }
    }
}
