//! A copy's `pg_dump | pg_restore` pipeline in one process group.

use std::process::Stdio;
use std::time::Duration;

use crate::db::process::{self, GroupGuard, Tail, Tool};
use crate::ports::data::DataError;

/// `dump | restore`, both in one process group: a timeout kills both, and each one's failure
/// is reported with what it said.
pub(super) async fn copy_pipeline(
    dump: &Tool,
    restore: &Tool,
    limit: Duration,
) -> Result<(), DataError> {
    let mut first = dump
        .command(None)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| DataError::Setup(format!("cannot run pg_dump: {e}")))?;
    let mut group = GroupGuard::of(&first);
    let pipe: Stdio = first
        .stdout
        .take()
        .expect("piped")
        .try_into()
        .map_err(|e| DataError::Setup(format!("cannot connect pg_dump to pg_restore: {e}")))?;
    let mut second = restore
        .command(group.pgid())
        .stdin(pipe)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| DataError::Setup(format!("cannot run pg_restore: {e}")))?;
    let (mut said_dump, mut said_restore) =
        (Tail::new(&dump.redactor), Tail::new(&restore.redactor));
    let (e1, e2) = (first.stderr.take(), second.stderr.take());
    let waited = tokio::time::timeout(limit, async {
        let (_, _, a, b) = tokio::join!(
            process::drain(e1, |b| said_dump.push(b)),
            process::drain(e2, |b| said_restore.push(b)),
            first.wait(),
            second.wait()
        );
        (a, b)
    })
    .await;
    let text = |said: Tail<'_>| process::excerpt(&said.into_text());
    match waited {
        Err(_) => {
            group.kill();
            Err(DataError::TimedOut(format!(
                "pg_dump | pg_restore did not finish within {} and was killed",
                crate::duration::format_elapsed(limit)
            )))
        }
        Ok((a, b)) => {
            group.disarm();
            let (a, b) = (
                a.map_err(|e| DataError::Tool(e.to_string()))?,
                b.map_err(|e| DataError::Tool(e.to_string()))?,
            );
            if !a.success() {
                return Err(DataError::Tool(format!(
                    "pg_dump {}: {}",
                    process::describe_exit(a),
                    text(said_dump)
                )));
            }
            if !b.success() {
                return Err(DataError::Tool(format!(
                    "pg_restore {}: {}",
                    process::describe_exit(b),
                    text(said_restore)
                )));
            }
            Ok(())
        }
    }
}
