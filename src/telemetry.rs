//! Tracing set-up: `RUST_LOG`-style filtering, human output by default, JSON for machines.
//! Logs go to stderr so that command output on stdout stays clean for scripts. Every line
//! passes through the process's redactor first (`redact_secrets`, set once the config is read).

use std::io::Write;
use std::sync::{LazyLock, RwLock};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::redact::Redactor;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

/// The secrets no log line may show. Process-wide because the subscriber is: it is installed
/// before the config (and so the secrets) is read. Secrets are only ever added.
static SECRETS: LazyLock<RwLock<Redactor>> = LazyLock::new(RwLock::default);

/// From now on, log lines lose these secrets too.
pub fn redact_secrets(redactor: &Redactor) {
    let mut secrets = SECRETS.write().unwrap_or_else(|p| p.into_inner());
    *secrets = secrets.with(redactor);
}

fn secrets() -> Redactor {
    SECRETS.read().unwrap_or_else(|p| p.into_inner()).clone()
}

/// `inner` with every line redacted (the subscriber writes each event in one call).
pub fn redacting<M>(inner: M) -> Redacting<M> {
    Redacting(inner)
}

pub struct Redacting<M>(M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Redacting<M> {
    type Writer = RedactingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter(self.0.make_writer())
    }
}

pub struct RedactingWriter<W>(W);

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let clean = secrets().redact(&String::from_utf8_lossy(buf));
        self.0.write_all(clean.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Installs the global subscriber. `RUST_LOG` overrides the default level (`warn` for the
/// one-shot commands, `info` for the bot).
pub fn init(format: LogFormat, default_level: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(redacting(std::io::stderr));
    // Ignore the error from a second init (tests may call this more than once).
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn log_lines_lose_the_secrets_added() {
        let out = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(redacting(move || SharedBuf(sink.clone())))
            .finish();
        redact_secrets(&Redactor::new(vec!["tel-secret-4242".into()]));
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(
                body = "echoed tel-secret-4242",
                "refused by https://u:pw@h/x"
            );
        });
        let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
        assert!(text.contains("echoed [redacted]"), "{text}");
        assert!(text.contains("https://[redacted]@h/x"), "{text}");
        assert!(
            !text.contains("tel-secret") && !text.contains("u:pw"),
            "{text}"
        );
    }

    struct SharedBuf(Arc<Mutex<Vec<u8>>>);

    impl Write for SharedBuf {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
