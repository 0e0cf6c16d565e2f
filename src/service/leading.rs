//! Leadership in `lifeboat run` (`[ha]`): a follower waits for the lease, serving only
//! `/healthz` and `/metrics`; the node that takes it says so in the incident channel and then
//! starts as a single node starts after a restart (unfinished runs resumed from the log, the
//! watcher, the scheduler, the gateway); once it may no longer act it stops at once and exits.
//!
//! A deposed leader exits (code [`LOST_LEASE`]) rather than going back to following in the
//! same process: everything that must survive is in the replicated log, a fresh start as a
//! follower is the one path every restart already takes, and an exit is the only way to be
//! sure that no task of the old term (a gateway shard, a loop, a step's retry) acts again. A
//! supervisor (systemd `Restart=always`, an ECS service, ...) starts it again as a follower.

use tokio::sync::watch;

use crate::config::Config;
use crate::ha::{Keeper, KeeperHandle};
use crate::ports::chat::{ChannelId, Chat, Message};
use crate::ports::ha::{Leadership, Role};

/// The exit code of a node that lost the lease: not a failure of the node, but a restart is
/// due (it starts again as a follower).
pub const LOST_LEASE: u8 = 3;

/// The node's leadership: with `[ha]`, the lease keeper on the pair's table (this node
/// starts as a follower); without it, a single node's, which always acts.
pub async fn start(config: &Config) -> (Leadership, Option<KeeperHandle>) {
    let Some(ha) = &config.ha else {
        return (Leadership::single(), None);
    };
    let table = crate::ha::table(&config.aws, ha).await;
    let node = ha.node_id();
    println!(
        "High availability: node {node} on table {} (lease {}, renewed every {}).",
        ha.table, ha.lease, ha.renew
    );
    let (leadership, keeper) =
        Keeper::start(table, node, ha.timing(), crate::metrics::Recorder::live());
    (leadership, Some(keeper))
}

/// Stops the lease keeper, if any: a leader that stops cleanly releases the lease, so its
/// follower takes over at its next try instead of waiting for the lease to run out.
pub async fn release(keeper: Option<KeeperHandle>) {
    if let Some(keeper) = keeper {
        keeper.stop().await;
    }
}

/// How the wait for the lease ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Followed {
    /// This node may act: a single node at once, or the new leader of a pair.
    Leading(Option<TakeOver>),
    /// A stop was asked for (or the keeper is gone) before this node led.
    Stopped,
}

/// A change of leader this node made: whom it took the lease from, and at which epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakeOver {
    pub from: Option<String>,
    pub epoch: u64,
}

impl TakeOver {
    /// The one line the new leader posts in the incident channel.
    pub fn line(&self) -> String {
        match &self.from {
            Some(node) => format!("took over as leader from {node} (epoch {})", self.epoch),
            None => format!(
                "took over as leader (epoch {}); no node held the lease before",
                self.epoch
            ),
        }
    }
}

/// Waits until this node may act, or a stop signal. A single node leads at once, with no
/// take-over to announce; a follower prints whom it follows, once per change.
pub async fn follow(leadership: &Leadership, signalled: &watch::Receiver<bool>) -> Followed {
    let mut waiting = leadership.clone();
    let mut signalled = signalled.clone();
    // The last holder this node saw: the one it takes over from.
    let mut holder: Option<String> = None;
    let mut said = String::new();
    loop {
        match waiting.role() {
            Role::Single => return Followed::Leading(None),
            Role::Leader { epoch, .. } if waiting.may_act() => {
                return Followed::Leading(Some(TakeOver {
                    from: holder,
                    epoch,
                }));
            }
            Role::Leader { .. } => {}
            Role::Follower { leader, epoch } => {
                let line = match &leader {
                    Some(node) => format!(
                        "Following {node} (epoch {epoch}): this node keeps its copy of the log and serves /healthz and /metrics until it takes the lease."
                    ),
                    None => format!(
                        "Following: nobody holds the lease (epoch {epoch}); waiting for it."
                    ),
                };
                // Epoch 0 with no holder: the keeper has not looked at the table yet.
                if line != said && (leader.is_some() || epoch > 0) {
                    println!("{line}");
                    said = line;
                }
                if leader.is_some() {
                    holder = leader;
                }
            }
        }
        if *signalled.borrow() {
            return Followed::Stopped;
        }
        tokio::select! {
            kept = waiting.changed() => {
                if !kept {
                    return Followed::Stopped;
                }
            }
            _ = signalled.wait_for(|stop| *stop) => return Followed::Stopped,
        }
    }
}

/// Posts the take-over line in the incident channel; a chat that cannot be reached is logged,
/// not fatal (the log and the runs matter more than the line).
pub async fn announce_take_over(chat: &dyn Chat, channel: &ChannelId, take_over: &TakeOver) {
    let line = take_over.line();
    println!("This node {line}.");
    let message = Message {
        content: format!("Lifeboat {line}"),
        ..Message::default()
    };
    if let Err(err) = chat.post(channel, &message).await {
        tracing::warn!(error = %err, "the take-over line could not be posted");
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::time::Instant;

    use super::*;

    #[tokio::test]
    async fn a_single_node_leads_at_once_with_nothing_to_announce() {
        let (_signal, signalled) = watch::channel(false);
        assert_eq!(
            follow(&Leadership::single(), &signalled).await,
            Followed::Leading(None)
        );
    }

    #[tokio::test]
    async fn a_follower_takes_over_from_the_last_leader_it_saw() {
        let (_signal, signalled) = watch::channel(false);
        let (keeper, leadership) = Leadership::channel(Role::Follower {
            leader: None,
            epoch: 0,
        });
        let waiting = tokio::spawn(async move { follow(&leadership, &signalled).await });
        let send = |role| keeper.send(role).unwrap();
        send(Role::Follower {
            leader: Some("node-a".into()),
            epoch: 1,
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        // The lease expired: nobody holds it for a moment, then this node takes it.
        send(Role::Follower {
            leader: None,
            epoch: 1,
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        send(Role::Leader {
            epoch: 2,
            acting_until: Instant::now() + Duration::from_secs(10),
        });
        let followed = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap();
        let Followed::Leading(Some(take_over)) = followed else {
            panic!("{followed:?}");
        };
        assert_eq!(
            take_over.line(),
            "took over as leader from node-a (epoch 2)"
        );
    }

    #[tokio::test]
    async fn a_stop_while_following_ends_the_wait() {
        let (signal, signalled) = watch::channel(false);
        let (_keeper, leadership) = Leadership::channel(Role::Follower {
            leader: Some("node-a".into()),
            epoch: 1,
        });
        let waiting = tokio::spawn(async move { follow(&leadership, &signalled).await });
        signal.send(true).unwrap();
        let followed = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(followed, Followed::Stopped);
    }
}
