//! Drills: a simulated disaster run end to end, offline, through the real pipeline — stand-in
//! status feeds flip to an outage, the watcher alerts, an incident is declared, two simulated
//! people request and approve the runbook, the real engine executes it against the simulated
//! AWS (or `[aws] endpoint_url`) and local stand-ins for the app and the LLM providers — and
//! the measured detection time, time to recovery and data-loss window are compared with the
//! plan's objectives. Everything is logged like a real incident, marked as a drill. The data
//! is simulated offline; with `--postgres` or `[data]` it is restored for real, in a throwaway
//! PostgreSQL of the drill's own ([`data`]).
//!
//! This module holds what a drill decides: its targets, its config (everything pointed at the
//! stand-ins), its data, its marks and its results. Running one is a driver
//! (`crate::service::drill`); the drills on record are [`history`].

pub mod data;
pub mod figures;
pub mod gameday;
pub mod history;

use std::time::Duration;

use anyhow::{Context, bail};

use crate::approval::Person;
use crate::config::{AwsMode, Config, FeedConfig, FeedKind, LlmProviderConfig, WatchConfig};
use crate::domain::event::{Event, NewEvent};
use crate::domain::{Actor, Scenario, Workstream};
use crate::duration::{HumanDuration, format_elapsed};
use crate::events::{DrillFinished, DrillResultRecord};
use crate::ports::chat::Message;
use crate::runbook::Runbook;

/// One provider the drill takes down.
#[derive(Debug, Clone)]
pub struct Target {
    pub provider: String,
    pub title: String,
    pub runbook: String,
    pub workstream: Workstream,
}

/// The providers `scenario` takes down, each with the runbook its `[[providers]]` entry names.
pub fn targets(
    base: &Config,
    runbooks: &[Runbook],
    scenario: Scenario,
) -> anyhow::Result<Vec<Target>> {
    let wanted: &[&str] = match scenario {
        Scenario::HerokuOutage => &["heroku"],
        Scenario::OpenaiOutage => &["openai"],
        Scenario::Both => &["heroku", "openai"],
    };
    let mut targets = Vec::new();
    for name in wanted {
        let provider = base
            .provider(name)
            .with_context(|| format!("the drill needs a [[providers]] entry named `{name}`"))?;
        let runbook = provider
            .runbook
            .clone()
            .with_context(|| format!("provider `{name}` maps to no runbook"))?;
        if !runbooks.iter().any(|r| r.name == runbook) {
            bail!("provider `{name}` maps to runbook `{runbook}`, which is not loaded");
        }
        targets.push(Target {
            provider: (*name).to_owned(),
            title: provider.title.clone().unwrap_or_else(|| (*name).to_owned()),
            runbook,
            workstream: provider.workstream,
        });
    }
    Ok(targets)
}

/// A finished drill: what it measured and the incident it logged.
#[derive(Debug, Clone)]
pub struct Drilled {
    pub outcomes: Vec<Outcome>,
    pub incident: crate::domain::IncidentId,
    /// Where its data steps acted, for people (the simulation, a throwaway cluster, or why
    /// none could be started).
    pub data: String,
    /// Whether its AWS steps ran against real AWS ([`against_real_aws`]).
    pub real_aws: bool,
}

/// Whether a drill with config `drill` (its [`drill_config`]) acts on real AWS: `[aws]
/// endpoint_url` is set, the AWS mode is live, and a drilled runbook has an AWS step.
/// Otherwise its AWS is the simulation (and the drill does not count as the plan's test).
pub fn against_real_aws(drill: &Config, runbooks: &[Runbook], targets: &[Target]) -> bool {
    use crate::runbook::StepKind;
    let uses_aws = targets.iter().any(|t| {
        runbooks
            .iter()
            .filter(|r| r.name == t.runbook)
            .flat_map(|r| &r.steps)
            .any(|s| {
                matches!(
                    s.action.kind(),
                    StepKind::EcsScale | StepKind::Route53Upsert | StepKind::Route53Wait
                )
            })
    });
    drill.aws.mode == AwsMode::Live && drill.aws.endpoint_url.is_some() && uses_aws
}

/// What a drill measured for one workstream.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub provider: String,
    pub runbook: String,
    pub run: String,
    /// Simulated outage → confirmed alert: Lifeboat's pipeline at the drill's own polls.
    pub detection: Duration,
    /// How soon the configured intervals would let a real outage be seen (not measured).
    pub bound: figures::DetectionBound,
    /// First signal → runbook verified: Lifeboat's pipeline.
    pub recovery: Duration,
    pub rto: Duration,
    /// Measured from restored data only; `None` on the simulation.
    pub data_loss: Option<Duration>,
    pub rpo: Duration,
    pub status: String,
    /// Whether the runbook brings data over (so a missing window means "not measured").
    pub workstream_has_data: bool,
}

impl Outcome {
    pub fn rto_met(&self) -> bool {
        self.status == "succeeded" && self.recovery <= self.rto
    }

    pub fn rpo_met(&self) -> bool {
        self.data_loss.is_none_or(|d| d <= self.rpo)
    }

    /// Its figures, split: Lifeboat's pipeline (measured), the detection bound of the
    /// configured intervals and the data-loss window (measured only from real data).
    pub fn figures(&self) -> figures::Figures {
        figures::Figures {
            pipeline: figures::Pipeline {
                detection: Some(self.detection),
                polled_every: figures::DRILL_POLL,
                recovery: Some(self.recovery),
            },
            bound: self.bound.clone(),
            data_loss: figures::DataLoss::from_measured(self.data_loss, self.workstream_has_data),
        }
    }
}

/// The marker every message of a drill carries.
pub const DRILL_MARK: &str = "[DRILL]";

/// The value a drill gives every secret (API keys, tokens) its runbooks use: the real ones
/// are never read. The stand-ins insist on it, so it really goes through the pipeline.
pub const DRILL_SECRET: &str = "drill-not-a-secret-5b1e";

/// `text` with the drill marker in front, unless it already starts with it.
pub fn marked(text: &str) -> String {
    if text.starts_with(DRILL_MARK) {
        text.to_owned()
    } else if text.is_empty() {
        DRILL_MARK.to_owned()
    } else {
        format!("{DRILL_MARK} {text}")
    }
}

/// The message with the drill marker in front of its content (alerts, run requests and
/// progress, team notifications: everything said during a drill).
pub fn mark(message: &Message) -> Message {
    Message {
        content: marked(&message.content),
        ..message.clone()
    }
}

/// A simulated person of the drill, holding `role`.
pub fn person(name: &str, role: &str) -> Person {
    Person {
        id: format!("drill-{name}"),
        name: format!("{name} (drill)"),
        roles: vec![role.to_owned()],
    }
}

/// The drill's config: the user's, with feeds, AWS, LLM endpoints and company values pointed
/// at the stand-ins (served at the base URL `stand`), and `[data]` replaced by `data`: the
/// drill's throwaway cluster ([`data::throwaway_data`]) or none (the simulation). Secrets are
/// fake and never leave the machine.
pub fn drill_config(
    base: &Config,
    stand: &str,
    targets: &[Target],
    data: Option<crate::config::DataConfig>,
) -> Config {
    let mut config = base.clone();
    let feed = |name: &str, provider: &str, kind: FeedKind| FeedConfig {
        name: name.to_owned(),
        provider: provider.to_owned(),
        kind,
        url: format!("drill://{name}"),
        interval: HumanDuration(figures::DRILL_POLL),
        timeout: HumanDuration::from_secs(2),
        components: Vec::new(),
        regions: Vec::new(),
        services: Vec::new(),
        expect_status: Some(200),
        body_contains: None,
        max_latency: None,
    };
    config.feeds = targets
        .iter()
        .flat_map(|t| {
            let kind = if t.provider == "heroku" {
                FeedKind::Heroku
            } else {
                FeedKind::Statuspage
            };
            [
                feed(&format!("{}-status", t.provider), &t.provider, kind),
                feed(
                    &format!("{}-probe", t.provider),
                    &t.provider,
                    FeedKind::Probe,
                ),
            ]
        })
        .collect();
    config.watch = WatchConfig {
        jitter: 0.0,
        ..WatchConfig::default()
    };
    if config.aws.endpoint_url.is_none() {
        config.aws.mode = AwsMode::Simulated;
    }
    // The drill's secrets are stand-ins, and a drill from chat runs inside the live bot: its
    // data steps act on the simulation or on a throwaway cluster of its own, never on the
    // company's databases or backups.
    config.data = data;
    for (key, value) in [
        ("app_url", stand.to_owned()),
        ("llm_switch_url", format!("{stand}/config-vars")),
    ] {
        config.vars.insert(key.to_owned(), value);
    }
    // The production app's Platform API is a stand-in too (the LLM switch on Heroku).
    config.heroku = Some(crate::config::HerokuConfig {
        app: config
            .heroku
            .as_ref()
            .map_or_else(|| "drill-app".to_owned(), |h| h.app.clone()),
        token_env: config
            .heroku
            .as_ref()
            .map_or_else(|| "HEROKU_API_KEY".to_owned(), |h| h.token_env.clone()),
        api_base: stand.to_owned(),
        timeout: HumanDuration::from_secs(10),
    });
    for (name, slot) in [
        ("openai", &mut config.llm.openai),
        ("anthropic", &mut config.llm.anthropic),
    ] {
        let provider = slot.get_or_insert_with(|| LlmProviderConfig {
            base_url: String::new(),
            key_env: format!("{}_API_KEY", name.to_uppercase()),
            model: "drill".into(),
            timeout: HumanDuration::from_secs(10),
        });
        provider.base_url = stand.to_owned();
    }
    // A drill tells no one outside it: no team webhook or page, no client notice by webhook,
    // announcement channel or email. Notices still go to the drill's own chat and log.
    for team in &mut config.teams {
        team.webhook_url = None;
        team.pagerduty_routing_key_env = None;
    }
    config.comms.webhook_url = None;
    config.comms.announcement_channel_id = None;
    config.comms.email = None;
    config
}

/// Every figure as the post-mortem reports it, read back from the drill's log (`events`) so
/// both agree: detection from the logged simulated outage to the confirmed alert, time to
/// recovery (RTO) from the first signal to the runbook's success, the data-loss window as
/// `db_verify` measured it from the restored rows (none on the simulation).
pub fn as_logged(drilled: &mut Drilled, events: &[Event]) {
    let summary = crate::timeline::summarize(
        &crate::incident::incident_events(events, &drilled.incident),
        &drilled.incident,
    );
    for outcome in &mut drilled.outcomes {
        if let Some(ms) = summary
            .simulated_outages
            .iter()
            .find(|d| d.provider == outcome.provider)
            .and_then(|d| d.detection_ms)
        {
            outcome.detection = Duration::from_millis(ms.max(0) as u64);
        }
        if let Some(run) = summary.runs.iter().find(|r| r.run.as_str() == outcome.run) {
            if let Some(ms) = run.achieved_rto_ms {
                outcome.recovery = Duration::from_millis(ms.max(0) as u64);
            }
            outcome.data_loss = run
                .achieved_rpo_secs
                .map(Duration::from_secs)
                .or(outcome.data_loss);
        }
    }
}

/// The `drill.finished` event: one result per drilled protocol, as readiness, the drill
/// reminder and the DRP document read it back (`history`), recorded as played in `mode`.
pub fn finished(drilled: &Drilled, mode: crate::events::DrillMode) -> NewEvent {
    let results = drilled
        .outcomes
        .iter()
        .map(|o| DrillResultRecord {
            provider: o.provider.clone(),
            runbook: o.runbook.clone(),
            run: o.run.clone(),
            status: o.status.clone(),
            detection_ms: Some(o.detection.as_millis() as u64),
            detection_bound: Some(o.bound.to_string()),
            recovery_ms: Some(o.recovery.as_millis() as u64),
            rto_secs: Some(o.rto.as_secs()),
            data_loss_secs: o.data_loss.map(|d| d.as_secs()),
            rpo_secs: Some(o.rpo.as_secs()),
            rto_met: o.rto_met(),
            rpo_met: o.rpo_met(),
        })
        .collect();
    NewEvent::of(
        Actor::Scheduler,
        DrillFinished {
            results,
            mode: Some(mode),
            real_aws: Some(drilled.real_aws),
        },
    )
    .incident(drilled.incident.clone())
}

/// The results table and where the data steps acted: what a drill reports.
pub fn report(drilled: &Drilled) -> String {
    format!("{}data: {}\n", summary(&drilled.outcomes), drilled.data)
}

/// The results table a drill ends with: per protocol, Lifeboat's own pipeline (detection at
/// the drill's fast polls, recovery), measured, apart from the detection bound the configured
/// intervals put on a real outage, and the data-loss window only where data was restored.
pub fn summary(outcomes: &[Outcome]) -> String {
    let mut out = String::from("\n== Drill results ==\n");
    for o in outcomes {
        let verdict = |met: bool| if met { "met" } else { "MISSED" };
        let figures = o.figures();
        let rpo = if figures.data_loss.measured().is_some() {
            verdict(o.rpo_met())
        } else {
            "not measured"
        };
        out.push_str(&format!(
            "{} → {} ({}, run {})\n  detection time   {} (simulated outage → confirmed alert; Lifeboat's pipeline, the drill polling every {})\n  time to recovery {} (first signal → runbook verified; Lifeboat's pipeline; RTO {}: {})\n  detection bound  {} (the configured intervals; not measured)\n  data-loss window {} (RPO {}: {})\n",
            o.provider,
            o.runbook,
            o.status,
            o.run,
            format_elapsed(o.detection),
            HumanDuration(figures.pipeline.polled_every),
            format_elapsed(o.recovery),
            HumanDuration(o.rto),
            verdict(o.rto_met()),
            figures.bound,
            figures.data_loss,
            HumanDuration(o.rpo),
            rpo,
        ));
    }
    out
}
