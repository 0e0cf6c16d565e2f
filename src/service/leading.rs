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

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::ha::{HaStore, Keeper, KeeperHandle};
use crate::ports::chat::{ChannelId, Chat, Message};
use crate::ports::ha::{Leadership, Role};
use crate::ports::store::EventStore;
use crate::store::SledStore;

/// The exit code of a node that lost the lease: not a failure of the node, but a restart is
/// due (it starts again as a follower).
pub const LOST_LEASE: u8 = 3;

/// This node's part in a pair: its leadership, and with `[ha]` the lease keeper and the fenced,
/// replicated log over its local one.
pub struct Node {
    pub leadership: Leadership,
    keeper: Option<KeeperHandle>,
    replicated: Option<Arc<HaStore>>,
    /// How often a follower copies the table into its local log: the renew interval.
    tail_every: Duration,
}

/// How [`Node::lead`] ended.
#[derive(Debug)]
pub enum Led {
    /// This node acts now (a single node at once).
    Leading,
    /// A stop was asked for before it led.
    Stopped,
    /// It took the lease but could not bring its log level with the table.
    Failed(String),
}

impl Node {
    /// With `[ha]`, the lease keeper on the pair's table (this node starts as a follower) and
    /// the replicated log over `local`; without it, a single node's leadership, which always
    /// acts, and `local` alone.
    pub async fn start(config: &Config, local: &Arc<SledStore>) -> Result<Node, String> {
        let Some(ha) = &config.ha else {
            return Ok(Node {
                leadership: Leadership::single(),
                keeper: None,
                replicated: None,
                tail_every: Duration::ZERO,
            });
        };
        let table = crate::ha::table(&config.aws, ha).await;
        let node = ha.node_id();
        let timing = ha.timing();
        println!(
            "High availability: node {node} on table {} (lease {}, renewed every {}).",
            ha.table, ha.lease, ha.renew
        );
        let (leadership, keeper) = Keeper::start(
            table.clone(),
            node.clone(),
            timing,
            crate::metrics::Recorder::live(),
        );
        let replicated = HaStore::new(local.clone(), table, node, leadership.clone(), timing.lease)
            .map_err(|err| format!("cannot set up the replicated log: {err}"))?;
        Ok(Node {
            leadership,
            keeper: Some(keeper),
            replicated: Some(Arc::new(replicated)),
            tail_every: timing.renew,
        })
    }

    /// The log the engine, the bot and the loops write through: the replicated one in a
    /// pair (an append is durable once it is in the table, under the lease), else `local`.
    pub fn log(&self, local: &Arc<SledStore>) -> Arc<dyn EventStore> {
        match &self.replicated {
            Some(replicated) => replicated.clone(),
            None => local.clone(),
        }
    }

    /// In a pair, keeps the local log level with the table until `stopped`.
    pub fn tail(&self, stopped: &watch::Receiver<bool>) -> Option<JoinHandle<()>> {
        let replicated = self.replicated.clone()?;
        let mut stopped = stopped.clone();
        Some(crate::ha::tail(replicated, self.tail_every, async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        }))
    }

    /// Follows until this node may act; then, in a pair, brings its log level with the table
    /// (so that the runs to resume are all there) and says in the incident channel that it
    /// took over.
    pub async fn lead(
        &self,
        signalled: &watch::Receiver<bool>,
        chat: &dyn Chat,
        channel: &ChannelId,
    ) -> Led {
        let take_over = match follow(&self.leadership, signalled).await {
            Followed::Stopped => return Led::Stopped,
            Followed::Leading(take_over) => take_over,
        };
        if let Some(replicated) = self.replicated.clone() {
            match tokio::task::spawn_blocking(move || replicated.catch_up()).await {
                Ok(Ok(seq)) => tracing::info!(seq, "level with the table before acting"),
                Ok(Err(err)) => {
                    return Led::Failed(format!("cannot catch up from the table: {err}"));
                }
                Err(err) => return Led::Failed(format!("catching up failed: {err}")),
            }
        }
        if let Some(take_over) = &take_over {
            announce_take_over(chat, channel, take_over).await;
        }
        Led::Leading
    }

    /// Stops the lease keeper, if any: a leader that stops cleanly releases the lease, so its
    /// follower takes over at its next try instead of waiting for the lease to run out.
    pub async fn release(self) {
        if let Some(keeper) = self.keeper {
            keeper.stop().await;
        }
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
