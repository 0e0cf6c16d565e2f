//! The data-loss measurement: what restoring a backup would cost (its age now and the writes
//! it loses before the outage began), and the outage start the window is measured from.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::ports::data::{BackupInfo, loss_window};
use crate::steps::backup::{Freshness, freshness};
use crate::steps::{StepEnv, StepInput};

/// What restoring a backup would cost: its age now, and the data it loses — the writes
/// between the backup's data time and the outage start (`window`). The limit (the RPO) is
/// held against the window, not the age: detection and approval take time that loses no data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Loss {
    pub(super) age: Duration,
    pub(super) outage_start: DateTime<Utc>,
    pub(super) window: Duration,
    pub(super) too_much: bool,
}

/// Judges `backup` against `limit`; `Err(by)` when it claims to be from the future.
pub(super) fn judge_loss(
    backup: &BackupInfo,
    outage_start: DateTime<Utc>,
    now: DateTime<Utc>,
    limit: Duration,
) -> Result<Loss, Duration> {
    let age = match freshness(backup.data_at(), now, limit) {
        Freshness::Fresh { age } | Freshness::TooOld { age } => age,
        Freshness::InFuture { by } => return Err(by),
    };
    let window = loss_window(outage_start, backup.data_at());
    Ok(Loss {
        age,
        outage_start,
        window,
        too_much: window > limit,
    })
}

/// The outage start the window is measured from: the incident's first signal (or its
/// declaration), else the run's start.
pub(super) fn outage_start(env: &StepEnv, input: &StepInput<'_>) -> DateTime<Utc> {
    let Some(store) = &env.comms.store else {
        return Utc::now();
    };
    // The incident's history through the indexes: the signals before a declaration carry no
    // incident id, the provider index finds them.
    if let Some(incident) = input.incident
        && let Ok(log) = crate::views::incident_log(store.as_ref(), incident)
        && let Some(at) = crate::incident::outage_start(&log, incident)
    {
        return at;
    }
    store
        .by_run(input.run)
        .ok()
        .and_then(|events| events.first().map(|e| e.at))
        .unwrap_or_else(Utc::now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taken_at(at: DateTime<Utc>) -> BackupInfo {
        BackupInfo {
            key: "k".into(),
            location: "s3://b/k".into(),
            completed_at: at,
            size: 1,
            manifest: None,
        }
    }

    #[test]
    fn the_rpo_is_held_against_the_loss_before_the_outage_not_the_age_now() {
        let outage: DateTime<Utc> = "2026-11-25T10:00:00Z".parse().unwrap();
        let now = outage + chrono::Duration::hours(2);
        let hour = Duration::from_secs(3600);
        // Taken 20 min before the outage, restored 2 h into it: 2h 20m old, 20 min lost.
        let loss = judge_loss(
            &taken_at(outage - chrono::Duration::minutes(20)),
            outage,
            now,
            hour,
        )
        .unwrap();
        assert_eq!(loss.age, Duration::from_secs(140 * 60));
        assert_eq!(loss.window, Duration::from_secs(20 * 60));
        assert!(!loss.too_much);
        let loss = judge_loss(
            &taken_at(outage - chrono::Duration::minutes(90)),
            outage,
            now,
            hour,
        )
        .unwrap();
        assert_eq!(loss.window, Duration::from_secs(90 * 60));
        assert!(loss.too_much);
        // A backup taken after the outage began loses nothing it held.
        let after = judge_loss(
            &taken_at(outage + chrono::Duration::minutes(5)),
            outage,
            now,
            hour,
        )
        .unwrap();
        assert_eq!(after.window, Duration::ZERO);
        assert!(
            judge_loss(
                &taken_at(now + chrono::Duration::hours(1)),
                outage,
                now,
                hour
            )
            .is_err(),
            "from the future"
        );
    }
}
