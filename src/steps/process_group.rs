//! A child as the leader of its own process group, and the guard that kills the whole group:
//! a timeout, a dropped future or Lifeboat's own shutdown must end what the child started too
//! (a wrapper script's `pg_restore --jobs N` workers), not only the child. Shared by the
//! `command` step and the PostgreSQL tools (`db::process`).

use rustix::process::{Pid, Signal, kill_process_group};
use tokio::process::Child;

/// Kills a whole process group when dropped, unless disarmed after a clean exit. The child
/// must have been spawned with `process_group(0)` (or into this group), so its id is the
/// group's.
pub(crate) struct GroupGuard {
    pgid: Option<Pid>,
}

impl GroupGuard {
    pub(crate) fn of(child: &Child) -> Self {
        Self {
            pgid: child
                .id()
                .and_then(|id| i32::try_from(id).ok())
                .and_then(Pid::from_raw),
        }
    }

    pub(crate) fn pgid(&self) -> Option<i32> {
        self.pgid.map(|p| p.as_raw_nonzero().get())
    }

    /// Kills every process of the group now.
    pub(crate) fn kill(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            // ESRCH (all gone already) is the only expected error, and harmless.
            let _ = kill_process_group(pgid, Signal::KILL);
        }
    }

    /// The group ended by itself: nothing to kill (its id may be reused later).
    pub(crate) fn disarm(&mut self) {
        self.pgid = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}
