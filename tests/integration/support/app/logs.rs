//! Everything traced during a test, kept in memory: to grep (a token must never appear), and
//! printed when the test fails.

use std::cell::RefCell;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;

/// The bot's and serenity's logs at debug level and finer.
const FILTER: &str = "debug,lifeboat=trace,serenity=trace,serenity::gateway::bridge=debug,hyper=info,h2=info,rustls=info,sled=info";

#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }

    /// Installs a subscriber for this thread, until the returned handle is dropped. On a
    /// current-thread runtime (the default of `#[tokio::test]`) the client's tasks run here
    /// too, so their logs are caught; on a multi-thread runtime only this thread's are.
    pub fn install(&self) -> Installed {
        let logs = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(FILTER))
            .with_ansi(false)
            .with_writer(move || logs.clone())
            .finish();
        let guard = tracing::subscriber::set_default(subscriber);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        GUARDS.with(|guards| guards.borrow_mut().push((id, guard)));
        Installed {
            id,
            thread: std::thread::current().id(),
        }
    }

    /// The last `n` lines, for a failing test's output.
    pub fn tail(&self, n: usize) -> String {
        let text = self.text();
        let tail: Vec<&str> = text.lines().rev().take(n).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }
}

static NEXT: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The installed subscribers' guards: a guard must stay on its thread, while the app that
    /// owns the capture may be shared with others (`Arc<App>` across threads).
    static GUARDS: RefCell<Vec<(u64, tracing::subscriber::DefaultGuard)>> = const { RefCell::new(Vec::new()) };
}

/// A subscriber installed on one thread; dropping it (on that thread) uninstalls it. Dropped
/// elsewhere, the subscriber stays until its thread ends.
pub struct Installed {
    id: u64,
    thread: ThreadId,
}

impl Drop for Installed {
    fn drop(&mut self) {
        if std::thread::current().id() == self.thread {
            let guard = GUARDS.with(|guards| {
                let mut guards = guards.borrow_mut();
                let at = guards.iter().position(|(id, _)| *id == self.id);
                at.map(|at| guards.remove(at))
            });
            drop(guard);
        }
    }
}
