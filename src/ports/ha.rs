//! Leadership, for the high-availability pair (`[ha]`): which node may act. Exactly one node of
//! a pair holds the lease (a DynamoDB item, see `crate::ha`) at a time, under an epoch that
//! grows with every change of holder; only that node connects to the Discord gateway, polls
//! the feeds, runs steps, sends notices and takes scheduled jobs. The others tail the log.
//!
//! The lease keeper publishes the node's [`Role`]; the drivers read it through a
//! [`Leadership`]. A single node (`[ha]` off) is always [`Role::Single`] and always acts.

use tokio::sync::watch;
use tokio::time::Instant;

/// What this node may do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// `[ha]` is off: the only node, always acting.
    Single,
    /// This node holds the lease at `epoch`. It may act until `acting_until` by its own
    /// monotonic clock: the start of its last successful renewal plus the lease duration,
    /// minus the clock-skew margin. Past it, it stops acting even before it learns it lost.
    Leader { epoch: u64, acting_until: Instant },
    /// Another node holds the lease (`leader`, `None` when nobody does) at `epoch`; this node
    /// only keeps its copy of the log current and serves `/healthz` and `/metrics`.
    Follower { leader: Option<String>, epoch: u64 },
}

impl Role {
    /// Whether a node in this role may act at `now`.
    pub fn may_act(&self, now: Instant) -> bool {
        match self {
            Role::Single => true,
            Role::Leader { acting_until, .. } => now < *acting_until,
            Role::Follower { .. } => false,
        }
    }

    /// `single`, `leader` or `follower`, for `/healthz`, metrics and `ha status`.
    pub fn name(&self) -> &'static str {
        match self {
            Role::Single => "single",
            Role::Leader { .. } => "leader",
            Role::Follower { .. } => "follower",
        }
    }
}

/// A node's view of its role, as the lease keeper publishes it. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Leadership(watch::Receiver<Role>);

impl Leadership {
    /// A single node's: always acting.
    pub fn single() -> Self {
        let (_keeper, role) = watch::channel(Role::Single);
        Self(role)
    }

    /// A keeper's side and the matching view: the keeper sends every change of role.
    pub fn channel(initial: Role) -> (watch::Sender<Role>, Self) {
        let (keeper, role) = watch::channel(initial);
        (keeper, Self(role))
    }

    /// The role now.
    pub fn role(&self) -> Role {
        self.0.borrow().clone()
    }

    /// Whether this node may act now (see [`Role::may_act`]). Checked before every side
    /// effect: a step, a post, a notice, a scheduled job.
    pub fn may_act(&self) -> bool {
        self.0.borrow().may_act(Instant::now())
    }

    /// Resolves at the next change of role; `false` if the keeper is gone.
    pub async fn changed(&mut self) -> bool {
        self.0.changed().await.is_ok()
    }

    /// Resolves when this node may act (at once for a single node). Returns `false` if the
    /// keeper is gone, i.e. the node is shutting down.
    pub async fn acting(&mut self) -> bool {
        loop {
            if self.may_act() {
                return true;
            }
            if self.0.changed().await.is_err() {
                return self.may_act();
            }
        }
    }

    /// Resolves when this node may no longer act: it lost the lease, or its acting deadline
    /// passed without a renewal, or the keeper is gone. Never resolves for a single node.
    pub async fn lost(&mut self) {
        loop {
            let role = self.role();
            match role {
                Role::Single => std::future::pending::<()>().await,
                Role::Follower { .. } => return,
                Role::Leader { acting_until, .. } => {
                    tokio::select! {
                        () = tokio::time::sleep_until(acting_until) => {
                            if !self.may_act() {
                                return;
                            }
                        }
                        changed = self.0.changed() => {
                            if changed.is_err() {
                                return;
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_leader_stops_acting_at_its_deadline_without_being_told() {
        let until = Instant::now() + Duration::from_secs(10);
        let (_keeper, mut leadership) = Leadership::channel(Role::Leader {
            epoch: 3,
            acting_until: until,
        });
        assert!(leadership.may_act());
        leadership.lost().await;
        assert!(Instant::now() >= until);
        assert!(!leadership.may_act());
    }

    #[tokio::test(start_paused = true)]
    async fn a_renewal_moves_the_deadline_and_a_follower_waits_for_the_lease() {
        let start = Instant::now();
        let (keeper, mut leadership) = Leadership::channel(Role::Follower {
            leader: Some("b".into()),
            epoch: 1,
        });
        assert!(!leadership.may_act());
        let mut waiting = leadership.clone();
        let acting = tokio::spawn(async move { waiting.acting().await });
        keeper
            .send(Role::Leader {
                epoch: 2,
                acting_until: start + Duration::from_secs(10),
            })
            .unwrap();
        assert!(acting.await.unwrap());

        let renewer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            keeper
                .send(Role::Leader {
                    epoch: 2,
                    acting_until: start + Duration::from_secs(15),
                })
                .unwrap();
            keeper
        });
        leadership.lost().await;
        assert!(Instant::now() >= start + Duration::from_secs(15));
        drop(renewer.await.unwrap());
    }

    #[tokio::test]
    async fn a_single_node_always_acts() {
        let mut leadership = Leadership::single();
        assert!(leadership.may_act());
        assert!(leadership.acting().await);
        assert_eq!(leadership.role().name(), "single");
    }
}
