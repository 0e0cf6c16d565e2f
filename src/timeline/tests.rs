//! Unit tests of the summary, the objectives, the event lines and every export format
//! (moved unchanged from `timeline.rs`).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::csv::csv_field;
use super::*;
use crate::config::Objectives;
use crate::domain::event::{Event, GENESIS, NewEvent};
use crate::domain::{Actor, IncidentId, RunId, Workstream};
use crate::duration::HumanDuration;
use crate::incident::incident_events;

const INC: &str = "INC-20261125-0901";
const RUN: &str = "RUN-20261125-090210-failover-hosting-ab12";
const URL: &str = "https://status.heroku.com/incidents/1";

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-25T09:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn user(name: &str) -> Actor {
    Actor::User {
        id: format!("id-{name}"),
        name: name.to_owned(),
    }
}

fn feed(name: &str) -> Actor {
    Actor::Feed {
        name: name.to_owned(),
    }
}

fn person(name: &str) -> Value {
    json!({ "id": format!("id-{name}"), "name": name, "roles": ["approver"] })
}

/// Seals events onto a chain with increasing seq, `ms` after 09:00:00 UTC.
#[derive(Default)]
struct Log {
    events: Vec<Event>,
}

impl Log {
    fn at(&mut self, ms: i64, new: NewEvent) -> &mut Self {
        let prev = self
            .events
            .last()
            .map_or(GENESIS.to_owned(), |e| e.hash.clone());
        let seq = self.events.len() as u64 + 1;
        let at = t0() + chrono::Duration::milliseconds(ms);
        self.events.push(Event::seal(new, seq, at, &prev));
        self
    }
}

fn inc() -> IncidentId {
    IncidentId::from(INC)
}

#[test]
fn every_event_kind_reads_as_a_sentence() {
    let kinds = [
        "incident.thread_opened",
        "run.request_expired",
        "drill.requested",
        "clock.checkpoint_failed",
        "reminder.failed",
        "rpo.alert_failed",
        "comms.drafted",
        "comms.edited",
        "comms.approved",
        "comms.approval_refused",
        "comms.discarded",
        "comms.resend",
        "comms.sent",
        "comms.delivery_failed",
        "notify.delivered",
        "notify.failed",
    ];
    for kind in kinds {
        let data = json!({
            "draft": "DRAFT-1", "output": "email", "team": "engineering", "route": "webhook",
            "request": "REQ-1", "scenario": "both", "workstream": "hosting",
            "reminder": "drill", "error": "refused", "attempt": 2, "version": 2,
        });
        let event = Event::seal(NewEvent::new(Actor::Bot, kind, data), 1, t0(), GENESIS);
        let text = describe(&event);
        assert_ne!(text, kind, "{kind} has no description");
        assert!(!text.contains('{'), "{kind}: {text}");
    }
    let sent = Event::seal(
        NewEvent::new(
            Actor::Bot,
            "comms.delivery_failed",
            json!({ "draft": "DRAFT-2", "output": "email", "attempt": 3, "error": "550 no such user" }),
        ),
        1,
        t0(),
        GENESIS,
    );
    assert_eq!(
        describe(&sent),
        "Communication DRAFT-2 not delivered by email (attempt 3): 550 no such user"
    );
}

fn run_id() -> RunId {
    RunId::from(RUN)
}

fn ev(actor: Actor, kind: &str, data: Value) -> NewEvent {
    NewEvent::new(actor, kind, data)
}

fn step(kind: &str, data: Value) -> NewEvent {
    ev(Actor::Bot, kind, data).run(run_id())
}

/// A Heroku outage: feeds, alert, declaration, two approvals, a run with a retried step,
/// a failed `continue` step and a skipped one, a lesson, recovery, resolution — with
/// unrelated events before and after that must stay out.
fn recorded() -> Vec<Event> {
    let s = 1000;
    let mut log = Log::default();
    log.at(
        -5000 * s,
        ev(user("zed"), "incident.declared", json!({"title": "Old one"}))
            .incident(IncidentId::from("INC-0")),
    )
    .at(
        -4000 * s,
        ev(user("zed"), "incident.resolved", json!({})).incident(IncidentId::from("INC-0")),
    )
    .at(
        -3600 * s,
        ev(feed("openai-status"), "feed.outage", json!({"provider": "openai", "from": "operational", "to": "major_outage"})),
    )
    .at(
        -3000 * s,
        ev(feed("openai-status"), "feed.recovered", json!({"provider": "openai", "from": "major_outage", "to": "operational"})),
    )
    .at(
        0,
        ev(feed("heroku-status"), "feed.observed", json!({"provider": "heroku", "from": "operational", "to": "major_outage", "summary": format!("Apps unavailable, see {URL}"), "reason": null})),
    )
    .at(
        2 * s,
        ev(feed("heroku-status"), "feed.outage", json!({"provider": "heroku", "from": "operational", "to": "major_outage", "summary": "Apps unavailable"})),
    )
    .at(
        3 * s,
        ev(Actor::Bot, "alert.posted", json!({"alert_id": "A1", "provider": "heroku", "level": "major_outage", "confirmed": false, "sources": ["heroku-status"], "incidents": [], "message": null})),
    )
    .at(
        5 * s,
        ev(Actor::Bot, "alert.updated", json!({"alert_id": "A1", "provider": "heroku", "level": "major_outage", "confirmed": true, "sources": ["heroku-status", "heroku-probe"], "incidents": [], "message": null})),
    )
    .at(
        60 * s,
        ev(user("alice"), "incident.declared", json!({"title": "Heroku outage", "severity": "sev1", "commander": "carol", "workstreams": ["hosting"]})).incident(inc()),
    )
    .at(
        70 * s,
        ev(user("alice"), "run.requested", json!({"request": "REQ-1", "runbook": "failover-hosting", "detail": {}})).incident(inc()),
    )
    .at(
        100 * s,
        ev(user("bob"), "run.approval_counted", json!({"request": "REQ-1", "by": person("bob")})),
    )
    .at(
        130 * s,
        ev(user("carol"), "run.approval_counted", json!({"request": "REQ-1", "by": person("carol")})),
    )
    .at(
        130 * s,
        ev(user("carol"), "run.started", json!({"runbook": "failover-hosting", "title": "Hosting failover", "workstream": "hosting", "file_hash": "h", "params": {}, "steps": ["scale", "restore", "notify", "dns", "smoke", "watch"]}))
            .run(run_id())
            .incident(inc()),
    )
    .at(
        130 * s + 500,
        ev(user("carol"), "run.approved", json!({"request": "REQ-1", "run": RUN, "wait_secs": 60})).run(run_id()),
    )
    .at(131 * s, step("step.started", json!({"step": "scale", "kind": "ecs_scale", "attempt": 1})))
    .at(140 * s, step("step.retrying", json!({"step": "scale", "attempt": 1, "error": "throttled", "delay_ms": 1000})))
    .at(141 * s, step("step.started", json!({"step": "scale", "kind": "ecs_scale", "attempt": 2})))
    .at(200 * s, step("step.succeeded", json!({"step": "scale", "kind": "ecs_scale", "summary": "2 services stable", "output": {}, "duration_ms": 59000, "attempts": 2})))
    .at(201 * s, step("step.started", json!({"step": "restore", "kind": "backup_check", "attempt": 1})))
    .at(210 * s, step("step.succeeded", json!({"step": "restore", "kind": "backup_check", "summary": "fresh", "output": {"age_secs": 720, "completed_at": "2026-11-25T08:48:30Z"}, "duration_ms": 9000, "attempts": 1})))
    .at(211 * s, step("step.started", json!({"step": "notify", "kind": "notify", "attempt": 1})))
    .at(212 * s, step("step.succeeded", json!({"step": "notify", "kind": "notify", "summary": "told engineering", "output": {"team": "engineering", "text": "[RUN-1] Hosting failover started, \"ETA\" 30m,\nstand by"}, "duration_ms": 1000, "attempts": 1})))
    .at(213 * s, step("step.started", json!({"step": "dns", "kind": "route53_upsert", "attempt": 1})))
    .at(220 * s, step("step.failed", json!({"step": "dns", "kind": "route53_upsert", "error": "zone not found", "duration_ms": 7000, "attempts": 1, "on_failure": "continue"})))
    .at(221 * s, ev(user("alice"), "step.skipped", json!({"step": "smoke"})).run(run_id()))
    .at(300 * s, step("run.succeeded", json!({"duration_ms": 170000})))
    .at(
        400 * s,
        ev(user("alice"), "note.added", json!({"text": "Backups should run hourly", "lesson": true})).incident(inc()),
    )
    .at(
        410 * s,
        ev(user("bob"), "note.added", json!({"text": "Dan joined <b>late</b> | pager", "lesson": false})).incident(inc()),
    )
    .at(
        500 * s,
        ev(user("alice"), "custom.thing", json!({})).incident(inc()),
    )
    .at(
        900 * s,
        ev(Actor::Bot, "alert.recovered", json!({"alert_id": "A1", "provider": "heroku", "level": "operational", "confirmed": true, "duration_secs": 897})),
    )
    .at(
        1000 * s,
        ev(user("alice"), "incident.resolved", json!({})).incident(inc()),
    )
    .at(
        2000 * s,
        ev(feed("heroku-status"), "feed.observed", json!({"provider": "heroku", "from": "operational", "to": "degraded"})),
    );
    log.events
}

fn objectives(hosting: u64) -> Objectives {
    Objectives {
        hosting_rto: HumanDuration::from_secs(hosting),
        llm_rto: HumanDuration::from_secs(2 * 3600),
        rpo: HumanDuration::from_secs(3600),
        data_rto: None,
        clock_start: crate::config::ClockStart::FirstSignal,
    }
}

fn selected() -> (Vec<Event>, Summary) {
    let events = incident_events(&recorded(), &inc());
    let summary = summarize(&events, &inc());
    (events, summary)
}

#[test]
fn selection_keeps_runs_approvals_and_the_providers_episode_only() {
    let all = recorded();
    let (events, _) = selected();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    // Starts at the unhealthy raw observation, ends at the resolution.
    assert_eq!(events.first().unwrap().kind, "feed.observed");
    assert_eq!(events.first().unwrap().at, t0());
    assert_eq!(events.last().unwrap().kind, "incident.resolved");
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == "run.approval_counted")
            .count(),
        2
    );
    assert!(kinds.contains(&"step.retrying"));
    assert!(kinds.contains(&"alert.recovered"));
    assert!(
        !events
            .iter()
            .any(|e| crate::incident::provider_of(e).as_deref() == Some("openai")),
        "a provider that recovered before the declaration is not involved"
    );
    assert!(
        !events
            .iter()
            .any(|e| e.incident == Some(IncidentId::from("INC-0")))
    );
    assert_eq!(events.len(), all.len() - 5, "{kinds:?}");
    assert!(events.windows(2).all(|w| w[0].seq < w[1].seq));
}

#[test]
fn summary_measures_detection_runs_steps_and_approvals() {
    let (_, s) = selected();
    assert_eq!(s.title, "Heroku outage");
    assert!(!s.drill);
    assert_eq!(s.providers, vec!["heroku".to_owned()]);
    let sig = s.first_signal.as_ref().unwrap();
    assert_eq!(sig.kind, "feed.outage");
    assert_eq!(sig.at, t0() + chrono::Duration::seconds(2));
    assert_eq!(s.alert_at, Some(t0() + chrono::Duration::seconds(3)));
    assert_eq!(s.confirmed_at, Some(t0() + chrono::Duration::seconds(5)));
    assert_eq!(s.declared_at, Some(t0() + chrono::Duration::seconds(60)));
    assert_eq!(s.declared_by.as_deref(), Some("alice"));
    assert_eq!(s.resolved_at, Some(t0() + chrono::Duration::seconds(1000)));

    assert_eq!(s.runs.len(), 1);
    let run = &s.runs[0];
    assert_eq!(run.status, "succeeded");
    assert_eq!(run.workstream, Some(Workstream::Hosting));
    assert_eq!(
        run.achieved_rto_ms,
        Some(298_000),
        "run.succeeded − first signal"
    );
    assert_eq!(run.achieved_rpo_secs, Some(720));
    assert_eq!(run.requested_by.as_deref(), Some("alice"));
    let waits: Vec<_> = run
        .approvals
        .iter()
        .map(|a| (a.by.as_str(), a.wait_ms))
        .collect();
    assert_eq!(waits, vec![("bob", Some(30_000)), ("carol", Some(60_000))]);

    let outcome = |id: &str| run.steps.iter().find(|st| st.id == id).unwrap();
    assert_eq!(outcome("scale").attempts, 2);
    assert_eq!(outcome("scale").duration_ms, Some(59_000));
    assert_eq!(outcome("scale").kind.as_deref(), Some("ecs_scale"));
    assert_eq!(outcome("dns").outcome, "failed");
    assert_eq!(outcome("dns").error.as_deref(), Some("zone not found"));
    assert_eq!(outcome("smoke").outcome, "skipped");
    assert_eq!(outcome("watch").outcome, "not_run");

    assert_eq!(s.notes.iter().filter(|n| n.lesson).count(), 1);
    assert_eq!(s.sent.len(), 1, "the notify step's output, sent");
    assert!(s.drafts.is_empty());
    assert_eq!(
        s.sent[0].text,
        "[RUN-1] Hosting failover started, \"ETA\" 30m,\nstand by"
    );
}

#[test]
fn t_offsets_count_from_the_first_signal() {
    let o = t0();
    assert_eq!(t_offset(o, o), "T+00:00:00");
    assert_eq!(
        t_offset(o + chrono::Duration::seconds(3723), o),
        "T+01:02:03"
    );
    assert_eq!(
        t_offset(o + chrono::Duration::milliseconds(1500), o),
        "T+00:00:01.500"
    );
    assert_eq!(t_offset(o - chrono::Duration::seconds(2), o), "T-00:00:02");

    let (events, s) = selected();
    let md = markdown(&s, &events, &objectives(4 * 3600));
    // The raw observation came 2 s before the settled signal the clock starts from.
    assert!(
        md.contains("| 2026-11-25 09:00:00.000 UTC | T-00:00:02 | feed:heroku-status |"),
        "{md}"
    );
    assert!(
        md.contains("| Declaration | 2026-11-25 09:01:00.000 UTC | T+00:00:58 | 55s |"),
        "{md}"
    );
    assert!(md.contains("| T+00:04:58 | bot | Run succeeded |"), "{md}");
}

#[test]
fn rto_is_met_within_budget_and_missed_beyond_it_or_without_recovery() {
    let (events, s) = selected();
    let rows = objective_rows(&s, &objectives(4 * 3600));
    assert_eq!(rows[0].name, "RTO hosting");
    assert_eq!(rows[0].verdict, ObjectiveOutcome::Met);
    assert_eq!(rows[1].name, "RPO");
    assert_eq!(rows[1].achieved, Some(Duration::from_secs(720)));
    assert_eq!(rows[1].verdict, ObjectiveOutcome::Met);

    // Exactly on the budget is met; one second less of budget is missed.
    assert_eq!(
        objective_rows(&s, &objectives(298))[0].verdict,
        ObjectiveOutcome::Met
    );
    let tight = objectives(297);
    assert_eq!(
        objective_rows(&s, &tight)[0].verdict,
        ObjectiveOutcome::Missed
    );
    let md = markdown(&s, &events, &tight);
    assert!(
        md.contains("| RTO hosting | 297s | 4m 58s | MISSED |"),
        "{md}"
    );
    assert!(
        md.contains("- [ ] RTO hosting missed: achieved 4m 58s against a target of 4m 57s"),
        "{md}"
    );

    // A run that never succeeded misses its RTO whatever the budget.
    let failed: Vec<Event> = events
        .iter()
        .filter(|e| e.kind != "run.succeeded")
        .cloned()
        .collect();
    let s = summarize(&failed, &inc());
    let row = &objective_rows(&s, &objectives(4 * 3600))[0];
    assert_eq!(row.verdict, ObjectiveOutcome::Missed);
    assert_eq!(row.note.as_deref(), Some("not recovered (run running)"));
}

#[test]
fn markdown_has_every_section_and_the_key_lines() {
    let (events, s) = selected();
    let md = markdown(&s, &events, &objectives(4 * 3600));
    for line in [
        "# Post-mortem: INC-20261125-0901 — Heroku outage",
        "## Summary",
        "## Impact",
        "- Providers affected: heroku",
        "Severity sev1; commander carol.",
        "- Severity: sev1",
        "- Workstreams affected: hosting",
        "## Objectives",
        "| Objective | Target | Achieved | Result |",
        "| RTO hosting | 4h | 4m 58s | met |",
        "| RPO | 1h | 12m 00s | met |",
        "## Detection",
        "| First signal | 2026-11-25 09:00:02.000 UTC | T+00:00:00 | — |",
        "| Confirmation | 2026-11-25 09:00:05.000 UTC | T+00:00:03 | 2s |",
        "## Timeline",
        "## Approvals",
        "| failover-hosting | REQ-1 | alice | bob | 2026-11-25 09:01:40.000 UTC | 30s |",
        "## Steps",
        "| scale | ecs_scale | 2026-11-25 09:02:11.000 UTC | 2026-11-25 09:03:20.000 UTC | 59s | 2 | succeeded |",
        "| dns | route53_upsert |",
        "## Communications",
        "### Sent",
        "— team notification to engineering (step notify)",
        "### Drafts",
        "No drafts were recorded.",
        "[RUN-1] Hosting failover started, \"ETA\" 30m,\nstand by\n",
        "## Lessons learned",
        "- Backups should run hourly (alice, 2026-11-25 09:06:40.000 UTC)",
        "## Open follow-ups",
        "- [ ] Step dns of failover-hosting failed: zone not found",
        "- [ ] Step smoke of failover-hosting skipped",
        "- [ ] Review the plan (DRP) and the runbooks with these lessons",
    ] {
        assert!(md.contains(line), "missing {line:?} in\n{md}");
    }
    // Unknown kinds fall back to the kind name; pipes in text do not break the table.
    assert!(md.contains("| alice | custom.thing |"), "{md}");
    assert!(md.contains("Dan joined <b>late</b> \\| pager"), "{md}");
    assert!(!md.contains("- [ ] RTO"), "no missed objective: {md}");
}

/// Splits RFC 4180 text into records of fields.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let (mut record, mut field) = (Vec::new(), String::new());
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    records
}

#[test]
fn csv_quotes_commas_quotes_and_newlines() {
    assert_eq!(csv_field("plain"), "plain");
    assert_eq!(csv_field("a,b"), "\"a,b\"");
    assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
    assert_eq!(csv_field("cr\rhere"), "\"cr\rhere\"");

    let mut events = selected().0;
    let odd = Actor::User {
        id: "7".into(),
        name: "Eve, \"ops\"\nlead".into(),
    };
    let last = events.last().unwrap().clone();
    events.push(Event::seal(
        NewEvent::new(odd, "note.added", json!({"text": "a, b"})).incident(inc()),
        last.seq + 1,
        last.at,
        &last.hash,
    ));
    let text = csv(&events);
    assert!(text.starts_with("seq,at,actor,incident,run,kind,data\r\n"));
    assert!(text.contains(",\"Eve, \"\"ops\"\"\nlead (7)\","), "{text}");
    let records = parse_csv(&text);
    assert_eq!(records.len(), events.len() + 1);
    assert!(records.iter().all(|r| r.len() == 7), "{records:?}");
    let row = records.last().unwrap();
    assert_eq!(row[2], "Eve, \"ops\"\nlead (7)");
    assert_eq!(row[3], INC);
    assert_eq!(
        serde_json::from_str::<Value>(&row[6]).unwrap(),
        json!({"text": "a, b"})
    );
    let first = &records[1];
    assert_eq!(first[1], "2026-11-25T09:00:00.000Z");
    assert_eq!(first[5], "feed.observed");
}

#[test]
fn json_round_trips_every_event_and_the_summary() {
    let (events, s) = selected();
    let text = json(&s, &events);
    let value: Value = serde_json::from_str(&text).unwrap();
    let back: Vec<Event> = serde_json::from_value(value["events"].clone()).unwrap();
    assert_eq!(back, events);
    for (e, stored) in back.iter().zip(value["events"].as_array().unwrap()) {
        assert_eq!(serde_json::to_value(e).unwrap(), *stored);
        assert_eq!(e.compute_hash(), e.hash, "the envelope is intact");
    }
    assert_eq!(value["summary"]["incident"], INC);
    assert_eq!(value["summary"]["runs"][0]["achieved_rto_ms"], 298_000);
    assert_eq!(value["summary"]["runs"][0]["achieved_rpo_secs"], 720);
    assert_eq!(value["summary"]["drill"], false);
    assert_eq!(value["summary"]["severity"], "sev1");
    assert_eq!(value["summary"]["commander"], "carol");
    assert_eq!(value["summary"]["workstreams"], json!(["hosting"]));
    assert_eq!(value["summary"]["sent"][0]["to"], "engineering");
    assert_eq!(value["summary"]["drafts"], json!([]));
    assert_eq!(value["summary"]["simulated_outages"], json!([]));
}

#[test]
fn html_is_self_contained_escaped_and_has_the_chart() {
    let (mut events, _) = selected();
    let last = events.last().unwrap().clone();
    events.push(Event::seal(
        NewEvent::new(
            user("mallory"),
            "note.added",
            json!({"text": "<script>alert(1)</script><link rel=x href=\"http://evil\">", "lesson": true}),
        )
        .incident(inc()),
        last.seq + 1,
        last.at,
        &last.hash,
    ));
    let s = summarize(&events, &inc());
    let page = html(&s, &events, &objectives(4 * 3600));
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains("<svg") && page.contains("</svg>"));
    // Escaped event text may still read `href=&quot;…`; real attributes would be quoted.
    for forbidden in [
        "<script", "<link", "@import", "src=\"", "href=\"", "url(", "=\"http",
    ] {
        assert!(!page.contains(forbidden), "{forbidden} in\n{page}");
    }
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(
        page.contains(&format!("Apps unavailable, see {URL}")),
        "URLs in events stay text"
    );
    // Every "http" in the page comes from event text.
    assert_eq!(
        page.matches("http").count(),
        page.matches(URL).count() + page.matches("http://evil").count()
    );
    // The chart: a lane for hosting, markers, step bars, recovery; the 4 h budget is
    // beyond a 16-minute incident and says so.
    for part in [
        ">hosting</text>",
        "first signal",
        ">declared</text>",
        "<title>approved by carol",
        "<title>scale succeeded (59s)</title>",
        "<title>dns failed (7s)</title>",
        "<title>recovered at 2026-11-25 09:05:00.000 UTC</title>",
        ">alert</text>",
        ">confirmed</text>",
        "<title>alert 2026-11-25 09:00:03.000 UTC</title>",
        "<title>confirmed 2026-11-25 09:00:05.000 UTC</title>",
    ] {
        assert!(page.contains(part), "missing {part:?}");
    }
    // The 4 h budget ends far past a 16-minute incident: a line beyond a break in the axis,
    // labelled with where it ends.
    assert!(page.contains("axis break"), "{page}");
    assert!(
        page.contains("<title>RTO budget 4h ends T+04:00:00</title>"),
        "{page}"
    );
    assert!(page.contains(">RTO 4h at T+04:00:00</text>"), "{page}");
    // Within the chart the budget is a line at its place, and there is no break.
    let page = html(&s, &events, &objectives(120));
    assert!(page.contains("<title>RTO budget 2m ends T+00:02:00</title>"));
    assert!(page.contains(">RTO 2m</text>"));
    assert!(!page.contains("axis break"));
    // Same content as the Markdown.
    for heading in [
        "Detection",
        "Timeline",
        "Approvals",
        "Communications",
        "Open follow-ups",
    ] {
        assert!(page.contains(&format!("<h2>{heading}</h2>")), "{heading}");
    }
    assert!(page.contains("[RUN-1] Hosting failover started, &quot;ETA&quot; 30m,\nstand by"));
}

#[test]
fn drills_are_marked_by_event_or_title() {
    let mut events = selected().0;
    assert!(!summarize(&events, &inc()).drill);
    let last = events.last().unwrap().clone();
    events.push(Event::seal(
        NewEvent::new(Actor::Scheduler, "drill.marked", json!({"drill": true})).incident(inc()),
        last.seq + 1,
        last.at,
        &last.hash,
    ));
    let s = summarize(&events, &inc());
    assert!(s.drill);
    let md = markdown(&s, &events, &objectives(4 * 3600));
    assert!(md.starts_with("# Post-mortem [DRILL]: "), "{md}");
    assert!(md.contains("This incident was a drill"));

    let mut log = Log::default();
    log.at(
        0,
        ev(
            Actor::Scheduler,
            "drill.started",
            json!({"providers": ["heroku"]}),
        ),
    )
    .at(
        1000,
        ev(
            user("c"),
            "incident.declared",
            json!({"title": "[DRILL] Heroku outage"}),
        )
        .incident(inc()),
    );
    let events = incident_events(&log.events, &inc());
    assert_eq!(events.len(), 2, "the drill.started that opened it is kept");
    assert!(summarize(&events, &inc()).drill);
}

#[test]
fn render_selects_and_refuses_unknown_incidents() {
    let all = recorded();
    let obj = objectives(4 * 3600);
    for name in ["md", "json", "csv", "html"] {
        let format: Format = name.parse().unwrap();
        assert_eq!(format.extension(), name);
        assert!(!render(&all, &inc(), format, &obj).unwrap().is_empty());
    }
    assert!(matches!(
        "pdf".parse::<Format>(),
        Err(TimelineError::UnknownFormat(_))
    ));
    let err = render(&all, &IncidentId::from("INC-nope"), Format::Markdown, &obj).unwrap_err();
    assert_eq!(err, TimelineError::NoEvents(IncidentId::from("INC-nope")));
    assert!(err.to_string().contains("INC-nope"));
}

#[test]
fn secrets_from_the_config_appear_in_no_format() {
    use crate::config::Config;
    use crate::toml_source::TomlSource;
    let text = "[objectives]\nhosting_rto = \"4h\"\nllm_rto = \"2h\"\nrpo = \"1h\"\n\n\
        [llm.anthropic]\nbase_url = \"https://api.anthropic.com\"\nkey_env = \"LIFEBOAT_TEST_ANTHROPIC_KEY\"\nmodel = \"m\"\n";
    let config = Config::from_source(TomlSource::new("lifeboat.toml", text))
        .unwrap()
        .config;
    const PLANTED: &str = "sk-ant-planted-7f3a9c";
    // The secrets map as the engine builds it: env var name → value.
    let secrets: BTreeMap<String, String> = config
        .secret_env_vars()
        .into_iter()
        .map(|v| (v.to_owned(), PLANTED.to_owned()))
        .collect();
    assert!(secrets.contains_key("LIFEBOAT_TEST_ANTHROPIC_KEY"));

    // Events name the variable (as a probe step's output might), never its value.
    let mut events = recorded();
    let last = events.last().unwrap().clone();
    events.push(Event::seal(
        NewEvent::new(
            Actor::Bot,
            "note.added",
            json!({"text": "probe used ${env.LIFEBOAT_TEST_ANTHROPIC_KEY}", "key_env": "LIFEBOAT_TEST_ANTHROPIC_KEY"}),
        )
        .incident(inc()),
        last.seq + 1,
        last.at,
        &last.hash,
    ));
    for format in [Format::Markdown, Format::Json, Format::Csv, Format::Html] {
        let out = render(&events, &inc(), format, &config.objectives).unwrap();
        for value in secrets.values() {
            assert!(!out.contains(value.as_str()), "{format:?} leaks the secret");
        }
        assert!(!out.contains("[redacted]"), "{format:?} printed a Secret");
    }
}

#[test]
fn an_older_comms_sent_with_addresses_exports_as_a_count_and_domains() {
    let mut events = with_comms();
    let last = events.last().unwrap().clone();
    // As logs before this change recorded an email: the addresses themselves.
    events.push(Event::seal(
        NewEvent::new(
            Actor::Bot,
            "comms.sent",
            json!({"draft": "DRAFT-1", "output": "email", "attempt": 2, "text": "v2 text", "detail": "250",
                "recipients": ["ops@Client-One.example", "Jo Doe <jo.doe@client-two.example>", "cto@client-one.example"],
                "subject": "Notice", "body": "v2 text"}),
        )
        .incident(inc()),
        last.seq + 1,
        last.at,
        &last.hash,
    ));
    let payload: crate::events::CommsSent = events.last().unwrap().data_as().unwrap();
    assert_eq!(
        payload.recipients_line().as_deref(),
        Some("3 recipients at client-one.example, client-two.example")
    );
    for format in [Format::Markdown, Format::Json, Format::Csv, Format::Html] {
        let out = render(&events, &inc(), format, &objectives(4 * 3600)).unwrap();
        for address in ["ops@", "jo.doe@", "cto@", "Jo Doe"] {
            assert!(!out.contains(address), "{format:?} shows `{address}`");
        }
        if format == Format::Json {
            let doc: Value = serde_json::from_str(&out).unwrap();
            let sent = doc["events"].as_array().unwrap().last().unwrap();
            assert_eq!(sent["data"]["recipient_count"], 3);
            assert_eq!(
                sent["data"]["recipient_domains"],
                json!(["client-one.example", "client-two.example"])
            );
        }
    }
    // A new event never holds the addresses.
    let new =
        crate::events::CommsSent::to_recipients(&["a@x.example".into(), "b@x.example".into()]);
    let json = serde_json::to_value(&new).unwrap();
    assert_eq!(json["recipient_count"], 2);
    assert_eq!(json["recipient_domains"], json!(["x.example"]));
    assert!(json.get("recipients").is_none(), "{json}");
}

/// The fixture plus the communication events of a real run: a team told on two routes,
/// a client notice drafted, edited, approved and sent on two outputs.
fn with_comms() -> Vec<Event> {
    let mut events = recorded();
    let mut add = |kind: &str, data: Value, step_output: bool| {
        let last = events.last().unwrap().clone();
        let mut new = NewEvent::new(Actor::Bot, kind, data).incident(inc());
        if step_output {
            new = new.run(run_id());
        }
        events.push(Event::seal(
            new,
            last.seq + 1,
            last.at + chrono::Duration::seconds(1),
            &last.hash,
        ));
    };
    let told = "Hosting failed over to AWS.";
    add(
        "notify.delivered",
        json!({"team": "support", "route": "discord", "attempt": 1, "text": told, "detail": "ok"}),
        true,
    );
    add(
        "notify.delivered",
        json!({"team": "support", "route": "webhook", "attempt": 2, "text": told, "detail": "204"}),
        true,
    );
    add(
        "step.succeeded",
        json!({"step": "tell-support", "kind": "notify", "summary": "told support", "output": {"team": "support", "text": told}, "duration_ms": 5, "attempts": 1}),
        true,
    );
    add(
        "comms.drafted",
        json!({"draft": "DRAFT-1", "audience": "clients", "kind": "initial", "text": "v1 text"}),
        true,
    );
    add(
        "step.succeeded",
        json!({"step": "draft", "kind": "comms_draft", "summary": "drafted", "output": {"draft": "DRAFT-1", "template": "clients-initial.md.j2", "text": "v1 text"}, "duration_ms": 5, "attempts": 1}),
        true,
    );
    add(
        "comms.edited",
        json!({"draft": "DRAFT-1", "text": "v2 text", "previous": "v1 text"}),
        false,
    );
    add(
        "comms.approved",
        json!({"draft": "DRAFT-1", "version": 2, "text": "v2 text"}),
        false,
    );
    add(
        "comms.sent",
        json!({"draft": "DRAFT-1", "output": "webhook", "attempt": 1, "text": "v2 text", "detail": "200"}),
        false,
    );
    add(
        "comms.sent",
        json!({"draft": "DRAFT-1", "output": "email", "attempt": 1, "text": "v2 text", "detail": "250"}),
        false,
    );
    events
}

#[test]
fn communications_sent_are_listed_apart_from_drafts_without_duplicates() {
    let events = incident_events(&with_comms(), &inc());
    let s = summarize(&events, &inc());
    let sent: Vec<(&str, Option<&str>, &str, Vec<&str>)> = s
        .sent
        .iter()
        .map(|c| {
            (
                c.kind.as_str(),
                c.to.as_deref(),
                c.text.as_str(),
                c.via.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        sent,
        vec![
            (
                "notify",
                Some("engineering"),
                "[RUN-1] Hosting failover started, \"ETA\" 30m,\nstand by",
                vec![]
            ),
            (
                "notify",
                Some("support"),
                "Hosting failed over to AWS.",
                vec!["discord", "webhook"]
            ),
            (
                "comms.sent",
                Some("clients"),
                "v2 text",
                vec!["webhook", "email"]
            ),
        ]
    );
    assert_eq!(
        s.sent[1].step.as_deref(),
        Some("tell-support"),
        "the step joins its delivery"
    );
    assert_eq!(s.sent[2].draft.as_deref(), Some("DRAFT-1"));
    let drafts: Vec<(&str, &str)> = s
        .drafts
        .iter()
        .map(|c| (c.kind.as_str(), c.text.as_str()))
        .collect();
    assert_eq!(
        drafts,
        vec![
            ("comms.drafted", "v1 text"),
            ("comms.edited, comms.approved", "v2 text"),
        ]
    );
    assert_eq!(s.drafts[0].step.as_deref(), Some("draft"));

    let md = markdown(&s, &events, &objectives(4 * 3600));
    let sent_part = &md[md.find("### Sent").unwrap()..md.find("### Drafts").unwrap()];
    let drafts_part = &md[md.find("### Drafts").unwrap()..md.find("## Lessons").unwrap()];
    assert!(
        sent_part.contains(
            "— client notice DRAFT-1 to clients by webhook, email\n\n```text\nv2 text\n```"
        ),
        "{sent_part}"
    );
    assert!(
        sent_part.contains("— team notification to support by discord, webhook (step tell-support)\n\n```text\nHosting failed over to AWS.\n```"),
        "{sent_part}"
    );
    assert_eq!(
        sent_part.matches("Hosting failed over to AWS.").count(),
        1,
        "{sent_part}"
    );
    assert_eq!(sent_part.matches("v2 text").count(), 1);
    assert!(
        !sent_part.contains("v1 text"),
        "a draft never sent is not listed as sent"
    );
    assert!(
        drafts_part.contains("DRAFT-1 for clients (comms.drafted) (step draft)"),
        "{drafts_part}"
    );
    assert!(
        drafts_part.contains("DRAFT-1 for clients (comms.edited, comms.approved)"),
        "{drafts_part}"
    );
    assert_eq!(drafts_part.matches("v1 text").count(), 1, "{drafts_part}");
}

#[test]
fn a_drill_logs_its_simulated_outage_and_measures_detection_from_it() {
    let mut log = Log::default();
    log.at(0, ev(Actor::Scheduler, "drill.started", json!({"providers": ["heroku"]})))
        .at(800, ev(Actor::Scheduler, "drill.outage_simulated", json!({"provider": "heroku"})))
        .at(1050, ev(feed("heroku-probe"), "feed.observed", json!({"provider": "heroku", "from": "operational", "to": "major_outage"})))
        .at(1300, ev(feed("heroku-probe"), "feed.outage", json!({"provider": "heroku", "from": "operational", "to": "major_outage"})))
        .at(1301, ev(Actor::Bot, "alert.posted", json!({"alert_id": "A1", "provider": "heroku", "level": "major_outage", "confirmed": false})))
        .at(1303, ev(Actor::Bot, "alert.updated", json!({"alert_id": "A1", "provider": "heroku", "level": "major_outage", "confirmed": true})))
        .at(1310, ev(user("c"), "incident.declared", json!({"title": "[DRILL] Heroku outage", "severity": "sev1", "commander": "c"})).incident(inc()))
        .at(1900, ev(Actor::Bot, "alert.recovered", json!({"alert_id": "A1", "provider": "heroku", "duration_secs": 0, "duration_ms": 599})))
        .at(2000, ev(user("c"), "incident.resolved", json!({})).incident(inc()));
    let events = incident_events(&log.events, &inc());
    assert!(events.iter().any(|e| e.kind == "drill.outage_simulated"));
    let s = summarize(&events, &inc());
    assert_eq!(s.simulated_outages.len(), 1);
    let d = &s.simulated_outages[0];
    assert_eq!((d.provider.as_str(), d.detection_ms), ("heroku", Some(503)));
    assert_eq!(d.outage_at, t0() + chrono::Duration::milliseconds(800));

    let md = markdown(&s, &events, &objectives(4 * 3600));
    assert!(
        md.contains("| Simulated outage of heroku (drill) | 2026-11-25 09:00:00.800 UTC | T-00:00:00.500 | — |"),
        "{md}"
    );
    assert!(
        md.contains("| First signal | 2026-11-25 09:00:01.300 UTC | T+00:00:00 | 500ms |"),
        "{md}"
    );
    assert!(
        md.contains(
            "- Detection time of the drill for heroku: 503ms (simulated outage → confirmed alert)"
        ),
        "{md}"
    );
    assert!(
        md.contains("| Drill: simulated outage of heroku begins |"),
        "{md}"
    );
    // The recovery's duration in ms, not rounded down to 0 s.
    assert!(md.contains("heroku recovered after 599ms"), "{md}");

    // Outside a drill, a stray drill.outage_simulated is neither selected nor measured.
    let s = summarize(&selected().0, &inc());
    assert!(s.simulated_outages.is_empty());
    assert!(drill_detections(&log.events).len() == 1);
}
