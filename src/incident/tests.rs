//! Unit tests of the incident fold, its RTO clocks, forecast and texts (moved unchanged from
//! `incident.rs`).

use super::*;
use crate::config::Config;
use crate::domain::Severity;
use crate::domain::event::Event;
use crate::domain::event::{GENESIS, NewEvent};
use crate::domain::{Actor, IncidentId, RunId, Workstream};
use crate::runbook::Runbook;
use crate::runbook::state;
use crate::toml_source::TomlSource;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

const INC: &str = "INC-1";

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-25T09:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn mins(m: i64) -> DateTime<Utc> {
    t0() + chrono::Duration::minutes(m)
}

#[derive(Default)]
struct Log(Vec<Event>);

impl Log {
    fn at(&mut self, minute: i64, new: NewEvent) -> &mut Self {
        let prev = self.0.last().map_or(GENESIS.to_owned(), |e| e.hash.clone());
        let seq = self.0.len() as u64 + 1;
        self.0.push(Event::seal(new, seq, mins(minute), &prev));
        self
    }
}

fn inc() -> IncidentId {
    IncidentId::from(INC)
}

fn user(name: &str) -> Actor {
    Actor::User {
        id: name.into(),
        name: name.into(),
    }
}

fn on_inc(kind: &str, data: Value) -> NewEvent {
    NewEvent::new(user("alice"), kind, data).incident(inc())
}

fn on_run(run: &str, kind: &str, data: Value) -> NewEvent {
    NewEvent::new(Actor::Bot, kind, data).run(RunId::from(run))
}

fn config(extra: &str) -> Config {
    let text = format!(
        "[objectives]\nhosting_rto = \"4h\"\nllm_rto = \"2h\"\nrpo = \"1h\"\n{extra}\n\
         [[providers]]\nname = \"heroku\"\nworkstream = \"hosting\"\nrunbook = \"failover-hosting\"\n"
    );
    Config::from_source(TomlSource::new("t.toml", &text))
        .unwrap_or_else(|e| panic!("{e:?}"))
        .config
}

fn runbook() -> Runbook {
    use crate::duration::HumanDuration;
    use crate::runbook::{ApprovalPolicy, OnFailure, Step, StepAction, WaitStep};
    let step = |id: &str, timeout_mins: u64| Step {
        id: id.into(),
        title: id.into(),
        action: StepAction::Wait(WaitStep {
            duration: HumanDuration::from_secs(1),
        }),
        timeout: HumanDuration::from_secs(timeout_mins * 60),
        retries: 0,
        backoff: HumanDuration::from_secs(1),
        idempotent: true,
        on_failure: OnFailure::Abort,
    };
    Runbook {
        name: "failover-hosting".into(),
        title: "Fail over".into(),
        description: None,
        workstream: Workstream::Hosting,
        approval: ApprovalPolicy::default(),
        params: Vec::new(),
        steps: vec![step("scale", 10), step("restore", 90), step("dns", 30)],
        source: std::path::PathBuf::new(),
        file_hash: String::new(),
    }
}

/// A Heroku outage: signal at 0, declared at 10, run at 20 (scale 20→30, restore from 30).
fn outage() -> Log {
    let mut log = Log::default();
    log.at(
        0,
        NewEvent::new(Actor::Feed { name: "h".into() }, "feed.outage", json!({"provider": "heroku", "to": "major_outage"})),
    )
    .at(
        10,
        on_inc(
            "incident.declared",
            json!({"title": "Heroku down", "severity": "sev1", "commander": "carol", "workstreams": ["hosting"]}),
        ),
    );
    log
}

fn with_run(log: &mut Log) {
    let run = "RUN-1";
    log.at(
        20,
        on_run(
            run,
            "run.started",
            json!({"runbook": "failover-hosting", "workstream": "hosting", "params": {}}),
        )
        .incident(inc()),
    )
    .at(
        20,
        on_run(run, "step.started", json!({"step": "scale", "attempt": 1})),
    )
    .at(
        30,
        on_run(
            run,
            "step.succeeded",
            json!({"step": "scale", "output": {}}),
        ),
    )
    .at(
        30,
        on_run(
            run,
            "step.started",
            json!({"step": "restore", "attempt": 1}),
        ),
    );
}

#[test]
fn the_lifecycle_follows_the_events() {
    let mut log = outage();
    let v = view(&incident_events(&log.0, &inc()), &inc());
    assert_eq!(v.phase, Phase::Declared);
    assert_eq!(v.severity, Severity::Sev1);
    assert_eq!(v.commander.as_deref(), Some("carol"));
    assert_eq!(v.first_signal.as_ref().unwrap().at, t0());
    assert_eq!(v.providers, BTreeSet::from(["heroku".to_owned()]));

    with_run(&mut log);
    let v = &all(&log.0)[0];
    assert_eq!(v.phase, Phase::Mitigating);
    assert_eq!(v.runs.len(), 1);

    log.at(
        100,
        on_run(
            "RUN-1",
            "step.succeeded",
            json!({"step": "restore", "kind": "backup_check", "output": {"age_secs": 1200}}),
        ),
    )
    .at(110, on_run("RUN-1", "run.succeeded", json!({})));
    let v = &all(&log.0)[0];
    assert_eq!(v.phase, Phase::Recovered);
    assert_eq!(v.recovered_at, Some(mins(110)));
    assert_eq!(v.achieved_rpo_secs, Some(1200));
    assert_eq!(open(&log.0).len(), 1, "recovered is still open");

    log.at(
        120,
        on_inc(
            "note.added",
            json!({"text": "TTL too high", "lesson": true}),
        ),
    )
    .at(130, on_inc("incident.resolved", json!({})));
    let v = &all(&log.0)[0];
    assert_eq!(v.phase, Phase::Resolved);
    assert!(v.notes[0].lesson);
    assert!(open(&log.0).is_empty());
    assert_eq!(awaiting_review(&log.0).unwrap().id, inc());
    assert_eq!(last_open(&log.0), None);

    log.at(200, on_inc("incident.reviewed", json!({})));
    let v = &all(&log.0)[0];
    assert_eq!(v.phase, Phase::Reviewed);
    assert_eq!(v.reviewed_by.as_deref(), Some("alice"));
    assert!(awaiting_review(&log.0).is_none());
}

#[test]
fn a_failed_run_keeps_it_mitigating_and_runs_add_workstreams() {
    let mut log = outage();
    with_run(&mut log);
    log.at(
        40,
        on_run(
            "RUN-1",
            "run.failed",
            json!({"step": "restore", "error": "x"}),
        ),
    )
    .at(
        45,
        on_run(
            "RUN-2",
            "run.started",
            json!({"runbook": "switch-llm", "workstream": "llm", "params": {}}),
        )
        .incident(inc()),
    )
    .at(50, on_run("RUN-2", "run.succeeded", json!({})));
    let v = &all(&log.0)[0];
    assert_eq!(v.phase, Phase::Mitigating, "hosting has not recovered");
    assert_eq!(
        v.workstreams,
        BTreeSet::from([Workstream::Hosting, Workstream::Llm])
    );
}

#[test]
fn clocks_start_at_the_first_signal_or_the_declaration() {
    let log = outage();
    let v = &all(&log.0)[0];
    let clocks = clocks(v, &config("").objectives);
    assert_eq!(clocks.len(), 1);
    let c = &clocks[0];
    assert_eq!(c.started_at, t0());
    assert_eq!(c.budget, Duration::from_secs(4 * 3600));
    assert_eq!(c.elapsed(mins(60)), Duration::from_secs(3600));
    assert_eq!(c.percent(mins(60)), 25);
    assert_eq!(c.at_percent(50), mins(120));
    assert_eq!(c.at_percent(90), mins(216));

    let by_declaration = config("clock_start = \"declaration\"");
    let c = &super::clocks(v, &by_declaration.objectives)[0];
    assert_eq!(c.started_at, mins(10));
}

#[test]
fn clock_start_must_be_a_known_value() {
    let text = "[objectives]\nhosting_rto = \"4h\"\nllm_rto = \"2h\"\nrpo = \"1h\"\nclock_start = \"alert\"\n";
    let errors = Config::from_source(TomlSource::new("t.toml", text)).unwrap_err();
    let text = errors[0].to_string();
    assert!(
        text.contains("first_signal") && text.contains("t.toml:5"),
        "{text}"
    );
}

#[test]
fn checkpoints_are_due_once_each_and_stop_with_recovery() {
    let mut log = outage();
    let v = &all(&log.0)[0];
    let c = &clocks(v, &config("").objectives)[0];
    let none = BTreeSet::new();
    assert!(c.due_checkpoints(mins(119), &none).is_empty());
    assert_eq!(c.due_checkpoints(mins(120), &none), vec![50]);
    assert_eq!(c.due_checkpoints(mins(200), &none), vec![50, 75]);
    assert_eq!(
        c.due_checkpoints(mins(200), &BTreeSet::from([50])),
        vec![75]
    );
    assert_eq!(c.next_checkpoint(&BTreeSet::from([50])), Some(mins(180)));
    assert_eq!(c.due_checkpoints(mins(300), &none), vec![50, 75, 90, 100]);
    assert!(
        c.due_checkpoints(mins(300), &BTreeSet::from([50, 75, 90, 100]))
            .is_empty()
    );
    assert_eq!(c.next_checkpoint(&BTreeSet::from([50, 75, 90, 100])), None);

    // Posted checkpoints are read back from the log.
    log.at(
        121,
        NewEvent::new(
            Actor::Scheduler,
            "clock.checkpoint",
            json!({"workstream": "hosting", "percent": 50}),
        )
        .incident(inc()),
    );
    let v = &all(&log.0)[0];
    assert_eq!(posted(v, Workstream::Hosting), BTreeSet::from([50]));

    with_run(&mut log);
    log.at(150, on_run("RUN-1", "run.succeeded", json!({})));
    let v = &all(&log.0)[0];
    let c = &clocks(v, &config("").objectives)[0];
    assert!(c.recovered);
    assert_eq!(c.achieved(), Some(Duration::from_secs(150 * 60)));
    assert!(
        c.due_checkpoints(mins(300), &none).is_empty(),
        "a stopped clock posts nothing"
    );
    assert_eq!(c.elapsed(mins(500)), Duration::from_secs(150 * 60));
    assert!(
        c.describe(mins(500)).contains("RTO met"),
        "{}",
        c.describe(mins(500))
    );
}

#[test]
fn the_achieved_rto_is_the_post_mortems_for_either_clock_start() {
    let mut log = outage();
    with_run(&mut log);
    log.at(110, on_run("RUN-1", "run.succeeded", json!({})));
    for (extra, minutes) in [("", 110), ("clock_start = \"declaration\"", 100)] {
        let objectives = config(extra).objectives;
        let v = &all(&log.0)[0];
        let achieved = clocks(v, &objectives)[0].achieved();
        assert_eq!(achieved, Some(Duration::from_secs(minutes * 60)), "{extra}");
        let events = incident_events(&log.0, &inc());
        let rows = crate::timeline::objective_rows(
            &crate::timeline::summarize(&events, &inc()),
            &objectives,
        );
        assert_eq!(rows[0].name, "RTO hosting");
        assert_eq!(
            rows[0].achieved, achieved,
            "the post-mortem agrees ({extra})"
        );
    }
}

#[test]
fn a_clock_stops_without_recovery_when_resolved() {
    let mut log = outage();
    log.at(30, on_inc("incident.resolved", json!({})));
    let v = &all(&log.0)[0];
    let c = &clocks(v, &config("").objectives)[0];
    assert!(!c.recovered);
    assert_eq!(c.achieved(), None);
    assert_eq!(c.elapsed(mins(90)), Duration::from_secs(30 * 60));
}

#[test]
fn the_forecast_uses_recent_durations_then_timeouts() {
    // An earlier run took 12m, 14m and 16m for `scale` (mean 14m) and 40m for `restore`.
    let mut log = Log::default();
    for (i, d) in [12, 14, 16].into_iter().enumerate() {
        let run = format!("RUN-OLD-{i}");
        let start = i as i64 * 100;
        log.at(
            start,
            on_run(
                &run,
                "run.started",
                json!({"runbook": "failover-hosting", "workstream": "hosting"}),
            ),
        )
        .at(
            start,
            on_run(&run, "step.started", json!({"step": "scale"})),
        )
        .at(
            start + d,
            on_run(
                &run,
                "step.succeeded",
                json!({"step": "scale", "output": {}}),
            ),
        );
    }
    let old = RunId::from("RUN-OLD-0");
    log.at(
        400,
        NewEvent::new(Actor::Bot, "step.started", json!({"step": "restore"})).run(old.clone()),
    )
    .at(
        440,
        NewEvent::new(
            Actor::Bot,
            "step.succeeded",
            json!({"step": "restore", "output": {}}),
        )
        .run(old),
    );
    let history = StepHistory::from_runs(&state::fold(&log.0));
    assert_eq!(
        history.recent("failover-hosting", "scale"),
        Some((Duration::from_secs(14 * 60), 3))
    );

    // No run yet: scale 14m + restore 40m + dns (never ran) 30m timeout = 84m.
    let rb = runbook();
    let steps = remaining_steps(&rb, None, &history, t0());
    assert_eq!(
        steps.iter().map(|s| s.expected).sum::<Duration>(),
        Duration::from_secs(84 * 60)
    );
    assert_eq!(steps[2].basis, EstimateBasis::Timeout);
    let clock = RtoClock {
        workstream: Workstream::Hosting,
        started_at: t0(),
        budget: Duration::from_secs(2 * 3600),
        stopped_at: None,
        recovered: false,
        run: None,
        from_signal: true,
    };
    let f = forecast(&clock, mins(30), &steps);
    assert!(f.fits());
    assert_eq!(
        f.text(),
        "forecast: fits, 6m 00s to spare (3 steps left, about 1h 24m, done at 1h 54m of 2h 00m; 1 of them never ran, counted at their timeouts)"
    );
    let late = forecast(&clock, mins(50), &steps);
    assert!(!late.fits());
    assert!(
        late.text()
            .starts_with("forecast: does NOT fit: 14m 00s over the budget"),
        "{}",
        late.text()
    );

    // A run in flight: scale done, restore 10m into its 40m estimate → 30m + dns 30m.
    let mut current = outage();
    with_run(&mut current);
    let v = &all(&current.0)[0];
    let run = v.run_for(Workstream::Hosting).unwrap();
    let steps = remaining_steps(&rb, Some(run), &history, mins(40));
    assert_eq!(
        steps
            .iter()
            .map(|s| (s.step.as_str(), s.expected))
            .collect::<Vec<_>>(),
        vec![
            ("restore", Duration::from_secs(30 * 60)),
            ("dns", Duration::from_secs(30 * 60))
        ]
    );
    let c = &clocks(v, &config("").objectives)[0];
    let f = clock_forecast(v, c, &config(""), &[rb], &history, mins(40)).unwrap();
    assert_eq!(f.steps_left, 2);
    assert_eq!(f.expected_total(), Duration::from_secs(100 * 60));
}

#[test]
fn status_and_checkpoint_texts_say_what_matters() {
    let mut log = outage();
    with_run(&mut log);
    let v = &all(&log.0)[0];
    let cfg = config("");
    let history = StepHistory::default();
    let text = status_text(v, &cfg, &[runbook()], &history, mins(60));
    assert!(
        text.starts_with("INC-1: Heroku down — mitigating, sev1, commander carol\n"),
        "{text}"
    );
    assert!(text.contains("workstreams: hosting\n"), "{text}");
    assert!(
        text.contains("run RUN-1 (failover-hosting): running"),
        "{text}"
    );
    assert!(
        text.contains("clock hosting: 1h 00m / 4h 00m (25%); forecast: fits"),
        "{text}"
    );

    let c = &clocks(v, &cfg.objectives)[0];
    let msg = checkpoint_text(v, c, 75, None, mins(180));
    assert_eq!(
        msg,
        "⏱ INC-1: hosting RTO clock at 75% — 3h 00m of 4h 00m since the first signal, 1h 00m left."
    );
    let msg = checkpoint_text(v, c, 100, None, mins(240));
    assert!(
        msg.starts_with("⏰ INC-1: the hosting RTO budget of 4h 00m is spent"),
        "{msg}"
    );
}
