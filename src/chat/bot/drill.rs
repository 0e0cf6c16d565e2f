//! `/drill start`: one drill at a time in the background, on its own event log, with its
//! results posted to the incident channel.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{Bot, Reply, actor, plain_message};
use crate::approval::Person;
use crate::domain::Scenario;
use crate::domain::event::NewEvent;
use crate::events::{DrillMode, DrillRequested};
use crate::ports::chat::{Attachment, Message};
use crate::ports::drill::DrillReport;

impl Bot {
    /// Starts a drill in the background, on its own event log kept at
    /// `<data_dir>/drill-<time>` (where readiness and the drill reminder read finished
    /// drills); its summary and its Markdown post-mortem, both marked as a drill, are posted
    /// to the incident channel.
    /// A game day (`mode`) is played by people instead (`gameday`).
    pub(super) fn drill(&self, scenario: Scenario, mode: DrillMode, who: &Person) -> Reply {
        let Some(drills) = self.drills.clone() else {
            return Reply::private("drills cannot be started from here");
        };
        if self.drilling.swap(true, Ordering::SeqCst) {
            return Reply::private("a drill is already running; wait for its results");
        }
        let name = scenario.as_str();
        let dir = self.config.store.data_dir.join(format!(
            "drill-{}",
            self.clock.now().format("%Y%m%d-%H%M%S-%3f")
        ));
        // A drill from chat runs inside the live bot: always against the simulated AWS, even
        // when `[aws] endpoint_url` is set (a VPC endpoint reaches the real account).
        let mut config = (*self.config).clone();
        config.aws.endpoint_url = None;
        config.aws.mode = crate::config::AwsMode::Simulated;
        let drilling = DrillRunning(self.drilling.clone());
        if mode == DrillMode::Gameday {
            return self.start_gameday(scenario, who, dir, config, drilling);
        }
        self.append(NewEvent::of(
            actor(who),
            DrillRequested {
                scenario: name.to_owned(),
                log: dir.display().to_string(),
                mode: Some(DrillMode::Automatic),
            },
        ));
        let runbooks = self.runbooks.clone();
        let env = self.engine.env().clone();
        tokio::spawn(async move {
            let (message, files) = match drills.run(&config, &runbooks, scenario, &dir).await {
                Ok(report) => drill_message(name, &report),
                Err(err) => {
                    tracing::error!(error = format!("{err:#}"), "the drill failed");
                    (
                        plain_message(format!("🧪 DRILL {name} failed: {err:#}")),
                        Vec::new(),
                    )
                }
            };
            if let Err(err) = env.chat.attach(&env.channel, &message, &files).await {
                tracing::error!(error = %err, "the drill results could not be posted");
            }
            drop(drilling);
        });
        Reply::public(plain_message(format!(
            "🧪 DRILL {name} started by {}: simulated outage, separate event log; results follow here.",
            who.name
        )))
    }
}

/// Marks a drill as running until dropped, so a drill that fails or panics frees the slot.
struct DrillRunning(Arc<AtomicBool>);

impl Drop for DrillRunning {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// A finished drill's report: its summary, and its Markdown post-mortem marked as a drill.
fn drill_message(name: &str, report: &DrillReport) -> (Message, Vec<Attachment>) {
    let message = plain_message(format!(
        "🧪 DRILL {name} finished (simulated; the live log is untouched)\n```{}```",
        report.summary
    ));
    let file = Attachment {
        filename: format!("drill-{}.md", report.incident),
        bytes: format!(
            "> **DRILL** ({name}): every event below was simulated by a Lifeboat drill.\n\n{}",
            report.postmortem
        )
        .into_bytes(),
    };
    (message, vec![file])
}
