//! The lease's decisions, pure: when a lease item is free for the taking, until when a leader
//! may act after a renewal, and which [`Role`] an attempt leaves the node in. The keeper
//! (`keeper.rs`) does the I/O around them.

use tokio::time::Instant;

use crate::config::LeaseTiming;
use crate::ports::ha::Role;

/// The lease item as stored: who holds it, under which epoch, until when (Unix ms, by the
/// holder's wall clock at the start of its last renewal plus the lease).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub holder: String,
    pub epoch: u64,
    pub expires_ms: i64,
    /// When the holder last renewed it (Unix ms, the holder's clock), for `ha status`.
    pub renewed_ms: i64,
}

impl Lease {
    /// Whether a contender may take the lease at `now_ms` (its wall clock). The holder stops
    /// acting `skew_margin` before `expires_ms` by its own clock, so a contender whose clock is
    /// off by less than that never overlaps it.
    pub fn is_expired(&self, now_ms: i64) -> bool {
        now_ms > self.expires_ms
    }

    /// Whether `node` holds it at `epoch` (what a renewal and a fenced append check).
    pub fn is_held_by(&self, node: &str, epoch: u64) -> bool {
        self.holder == node && self.epoch == epoch
    }
}

/// Until when a leader may act after a renewal (or acquisition) that *started* at `started`:
/// the lease runs from the wall-clock time written then, so the deadline counts from before the
/// request was sent, never from its answer, and the skew margin comes off.
pub fn acting_until(started: Instant, timing: &LeaseTiming) -> Instant {
    started + timing.lease.saturating_sub(timing.skew_margin)
}

/// When the lease item written at `now_ms` expires.
pub fn expires_ms(now_ms: i64, timing: &LeaseTiming) -> i64 {
    now_ms.saturating_add(i64::try_from(timing.lease.as_millis()).unwrap_or(i64::MAX))
}

/// What one attempt to take or renew the lease came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The conditional write succeeded: this node holds the lease at `epoch`.
    Held { epoch: u64 },
    /// The condition failed: another node holds it (as read back, if it could be).
    Refused { current: Option<Lease> },
    /// The table did not answer (network, throttling, timeout): nothing is known.
    Unknown,
}

/// The role after an attempt that started at `started`, from the role before it. An unknown
/// outcome keeps the role: a leader keeps its old deadline and so stops acting when it passes
/// unless a later renewal succeeds (same epoch: nobody else took over meanwhile).
pub fn next_role(before: &Role, attempt: Attempt, started: Instant, timing: &LeaseTiming) -> Role {
    match attempt {
        Attempt::Held { epoch } => Role::Leader {
            epoch,
            acting_until: acting_until(started, timing),
        },
        Attempt::Refused { current } => Role::Follower {
            leader: current.as_ref().map(|l| l.holder.clone()),
            epoch: current.map_or_else(|| epoch_of(before), |l| l.epoch),
        },
        Attempt::Unknown => before.clone(),
    }
}

/// The epoch a role knows of (0 for a single node).
pub fn epoch_of(role: &Role) -> u64 {
    match role {
        Role::Single => 0,
        Role::Leader { epoch, .. } | Role::Follower { epoch, .. } => *epoch,
    }
}

/// A change of leadership worth counting: `acquired` or `lost`.
pub fn change(before: &Role, after: &Role) -> Option<&'static str> {
    match (before, after) {
        (Role::Leader { epoch: a, .. }, Role::Leader { epoch: b, .. }) if a == b => None,
        (_, Role::Leader { .. }) => Some("acquired"),
        (Role::Leader { .. }, _) => Some("lost"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn timing() -> LeaseTiming {
        LeaseTiming {
            lease: Duration::from_secs(10),
            renew: Duration::from_secs(3),
            skew_margin: Duration::from_secs(1),
        }
    }

    fn lease(expires_ms: i64) -> Lease {
        Lease {
            holder: "a".into(),
            epoch: 4,
            expires_ms,
            renewed_ms: expires_ms - 10_000,
        }
    }

    #[test]
    fn a_lease_is_free_only_after_its_expiry() {
        assert!(!lease(1_000).is_expired(999));
        assert!(!lease(1_000).is_expired(1_000));
        assert!(lease(1_000).is_expired(1_001));
        assert_eq!(expires_ms(5_000, &timing()), 15_000);
        assert!(lease(0).is_held_by("a", 4));
        assert!(!lease(0).is_held_by("a", 3));
        assert!(!lease(0).is_held_by("b", 4));
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_counts_from_the_start_of_the_renewal_minus_the_margin() {
        let started = Instant::now();
        tokio::time::advance(Duration::from_secs(2)).await; // a slow answer
        let role = next_role(
            &Role::Follower {
                leader: None,
                epoch: 3,
            },
            Attempt::Held { epoch: 4 },
            started,
            &timing(),
        );
        assert_eq!(
            role,
            Role::Leader {
                epoch: 4,
                acting_until: started + Duration::from_secs(9)
            }
        );
        assert!(role.may_act(Instant::now()));
        assert!(!role.may_act(started + Duration::from_secs(9)));
    }

    #[tokio::test(start_paused = true)]
    async fn an_unknown_outcome_keeps_the_old_deadline_and_a_refusal_follows_the_holder() {
        let started = Instant::now();
        let leader = Role::Leader {
            epoch: 4,
            acting_until: started + Duration::from_secs(2),
        };
        let later = started + Duration::from_secs(3);
        let kept = next_role(&leader, Attempt::Unknown, later, &timing());
        assert_eq!(kept, leader);
        assert!(!kept.may_act(later));
        let refused = Attempt::Refused {
            current: Some(Lease {
                holder: "b".into(),
                epoch: 5,
                expires_ms: 0,
                renewed_ms: 0,
            }),
        };
        let follower = next_role(&leader, refused, later, &timing());
        assert_eq!(
            follower,
            Role::Follower {
                leader: Some("b".into()),
                epoch: 5
            }
        );
        assert_eq!(change(&leader, &follower), Some("lost"));
        assert_eq!(change(&follower, &leader), Some("acquired"));
        assert_eq!(change(&leader, &leader), None);
        assert_eq!(change(&follower, &follower), None);
    }
}
