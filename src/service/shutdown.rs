//! Stopping `lifeboat run`: SIGTERM and SIGINT (Ctrl-C) ask for a graceful stop; a second one
//! exits at once, with the code a shell gives a killed process.

/// SIGTERM and SIGINT (Ctrl-C), registered at once rather than at the first wait: a signal
/// that arrives while `lifeboat run` is still starting is kept and stops it gracefully once it
/// is up, instead of killing it with the default action and the log unflushed. The receiver
/// turns true at the first one.
pub fn shutdown_signals() -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            tokio::spawn(async move {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
                let _ = tx.send(true);
                // A second one means "now": a hung start-up or drain can still be killed.
                let interrupt = tokio::select! {
                    _ = term.recv() => false,
                    _ = int.recv() => true,
                };
                force_exit(interrupt);
            });
            return rx;
        }
    }
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        let _ = tx.send(true);
        let _ = tokio::signal::ctrl_c().await;
        force_exit(true);
    });
    rx
}

/// The exit code after a second stop signal: the shell's 128 + the signal's number.
pub fn forced_exit_code(interrupt: bool) -> u8 {
    if interrupt { 130 } else { 143 }
}

/// Leaves at once, without the graceful stop (the log's writes so far are durable).
pub fn force_exit(interrupt: bool) -> ! {
    eprintln!("lifeboat run: second stop signal; exiting now without waiting for running steps");
    std::process::exit(i32::from(forced_exit_code(interrupt)))
}

/// Waits for the first stop signal.
pub async fn wait_for_shutdown_signal(mut signalled: tokio::sync::watch::Receiver<bool>) {
    let _ = signalled.wait_for(|stop| *stop).await;
}

#[cfg(test)]
mod tests {
    use super::forced_exit_code;

    #[test]
    fn a_forced_exit_reports_the_second_signal_as_the_shell_does() {
        assert_eq!(forced_exit_code(true), 130, "SIGINT is 2");
        assert_eq!(forced_exit_code(false), 143, "SIGTERM is 15");
    }
}
