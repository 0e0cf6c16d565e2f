//! Property tests of what Lifeboat reads from outside (issue 16, item 8): whatever the input,
//! the config loader, the runbook loader, every feed parser, the button and form id codec and
//! the Discord payload → command mapping answer (a value, or an error located in the file)
//! and never panic; the id codec and the JSON export round-trip (export → verify).
//!
//! Inputs are the shipped files and real captures with random edits, so the parsers get past
//! their first line. Deterministic: one fixed seed (ChaCha), no persistence files, a bounded
//! number of cases each (a few seconds in all).

use std::path::PathBuf;

use proptest::prelude::*;
use proptest::test_runner::{Config as Cases, RngAlgorithm, RngSeed};
use serde_json::{Value, json};

use crate::config::{Config, FeedKind};
use crate::domain::event::{ChainCheck, Event, NewEvent, verify_chain};
use crate::domain::{Actor, IncidentId};
use crate::feeds::ParseContext;
use crate::ports::chat::action::{Action, Decision, MAX_CUSTOM_ID};
use crate::toml_source::{Diagnostic, TomlSource};

fn cases(n: u32) -> Cases {
    Cases {
        cases: n,
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: RngSeed::Fixed(0x11FE_B0A7),
        failure_persistence: None,
        max_shrink_iters: 512,
        ..Cases::default()
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap()
}

/// One edit of a text: delete a run of characters, insert a token, or both.
#[derive(Debug, Clone)]
struct Edit {
    at: usize,
    delete: usize,
    insert: String,
}

/// Pieces that matter to TOML and JSON, and some that matter to nobody.
const TOKENS: [&str; 24] = [
    "", "=", "\"", "'", "[", "]", "[[", "{", "}", ",", "\n", "#", ".", "0", "-1", "1e999", "true",
    "null", "é", "\u{0}", "\\", "${env.X}", "${", "::",
];

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    prop::collection::vec(
        (
            any::<usize>(),
            0usize..12,
            prop_oneof![
                prop::sample::select(TOKENS.to_vec()).prop_map(str::to_owned),
                "[ -~]{0,8}",
                any::<String>(),
            ],
        )
            .prop_map(|(at, delete, insert)| Edit { at, delete, insert }),
        1..6,
    )
}

/// `text` with `edits` applied, each at a character boundary.
fn edited(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for edit in edits {
        let at = edit.at % (chars.len() + 1);
        let end = (at + edit.delete).min(chars.len());
        chars.splice(at..end, edit.insert.chars());
    }
    chars.into_iter().collect()
}

/// `bytes` with `edits` applied byte-wise (invalid UTF-8 included).
fn edited_bytes(bytes: &[u8], edits: &[(usize, usize, Vec<u8>)]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for (at, delete, insert) in edits {
        let at = at % (out.len() + 1);
        let end = (at + delete).min(out.len());
        out.splice(at..end, insert.iter().copied());
    }
    out
}

/// An error points into the file it names: a line and column of the text (or just past it).
fn located(errors: &[Diagnostic], file: &str, text: &str) -> Result<(), TestCaseError> {
    let lines = text.split('\n').count();
    for d in errors {
        prop_assert_eq!(d.file.to_string_lossy(), file, "{}", d);
        prop_assert!(
            d.line >= 1 && d.line <= lines + 1,
            "{} ({} lines)",
            d,
            lines
        );
        prop_assert!(d.col >= 1, "{}", d);
        prop_assert!(!d.message.is_empty(), "{}", d);
    }
    Ok(())
}

fn shipped_config() -> Config {
    Config::load(&root().join("config/lifeboat.toml"))
        .unwrap()
        .config
}

proptest! {
    #![proptest_config(cases(96))]

    #[test]
    fn the_config_loader_accepts_or_locates_its_error(edits in edits()) {
        let text = edited(&read("config/lifeboat.toml"), &edits);
        if let Err(errors) = Config::from_source(TomlSource::new("lifeboat.toml", text.clone())) {
            prop_assert!(!errors.is_empty());
            located(&errors, "lifeboat.toml", &text)?;
        }
    }

    #[test]
    fn the_runbook_loader_accepts_or_locates_its_error(
        file in prop::sample::select(vec![
            "commands/failover-hosting.toml",
            "commands/switch-llm.toml",
            "commands/restore-data.toml",
        ]),
        edits in edits(),
    ) {
        let text = edited(&read(file), &edits);
        let source = TomlSource::new(file, text.clone());
        if let Err(errors) = crate::runbook::load_source(&source, &shipped_config()) {
            prop_assert!(!errors.is_empty());
            located(&errors, file, &text)?;
        }
    }

    #[test]
    fn every_feed_parser_answers_whatever_the_body(
        capture in prop::sample::select(vec![
            (FeedKind::Statuspage, "anthropic_statuspage_summary_incident_2026-10-07.json"),
            (FeedKind::Statuspage, "openai_incidentio_summary_degraded_2026-09-29.json"),
            (FeedKind::Statuspage, "github_statuspage_incidents_resolved_2024.json"),
            (FeedKind::Heroku, "heroku_v4_current_status_red_SHAPE_cli_test.json"),
            (FeedKind::Sftrust, "heroku_sftrust_incidents_active_SHAPE_cli_test.json"),
            (FeedKind::AwsHealth, "aws_health_currentevents.json"),
            (FeedKind::Rss, "aws_status_rss_all_2021-12.xml"),
        ]),
        edits in prop::collection::vec(
            (any::<usize>(), 0usize..16, prop::collection::vec(any::<u8>(), 0..8)),
            1..6,
        ),
        kind in prop::sample::select(vec![
            FeedKind::Statuspage, FeedKind::Heroku, FeedKind::Sftrust,
            FeedKind::AwsHealth, FeedKind::Rss, FeedKind::Probe,
        ]),
    ) {
        let (own, file) = capture;
        let body = std::fs::read(root().join("tests/fixtures/feeds/captured").join(file)).unwrap();
        let ctx = ParseContext {
            page_url: "https://status.example.com".into(),
            components: Vec::new(),
            regions: vec!["us-east-1".into()],
            services: Vec::new(),
        };
        // Its own parser on an edited capture, and any parser on it: an answer, no panic.
        let broken = edited_bytes(&body, &edits);
        let _ = crate::feeds::parse(own, &broken, &ctx);
        let _ = crate::feeds::parse(kind, &broken, &ctx);
        let _ = crate::feeds::probe::evaluate(
            200,
            &String::from_utf8_lossy(&broken),
            std::time::Duration::from_millis(5),
            &crate::feeds::probe::ProbeExpectations::default(),
        );
    }
}

fn segment() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_.-]{1,16}"
}

fn actions() -> impl Strategy<Value = Action> {
    let decision = prop::sample::select(vec![Decision::Retry, Decision::Skip, Decision::Abort]);
    prop_oneof![
        segment().prop_map(|request| Action::Approve { request }),
        segment().prop_map(|request| Action::Deny { request }),
        (segment(), "[A-Za-z0-9_.:-]{1,16}", any::<bool>())
            .prop_map(|(run, step, yes)| Action::Confirm { run, step, yes }),
        (segment(), decision).prop_map(|(run, decision)| Action::Decide { run, decision }),
        "[A-Za-z0-9_.:-]{0,16}".prop_map(|alert| Action::Declare { alert }),
        (segment(), "[A-Za-z0-9_.:-]{0,16}")
            .prop_map(|(runbook, alert)| Action::Plan { runbook, alert }),
        segment().prop_map(|draft| Action::CommsEdit { draft }),
        (segment(), 1u32..).prop_map(|(draft, version)| Action::CommsApprove { draft, version }),
        segment().prop_map(|draft| Action::CommsDiscard { draft }),
    ]
}

/// Option values of every type a slash command carries.
fn option_value() -> impl Strategy<Value = (u8, Value)> {
    prop_oneof![
        any::<String>().prop_map(|s| (3, json!(s))),
        "[a-z0-9=, -]{0,24}".prop_map(|s| (3, json!(s))),
        any::<i32>().prop_map(|n| (4, json!(n))),
        any::<bool>().prop_map(|b| (5, json!(b))),
    ]
}

fn slash_payload() -> impl Strategy<Value = Value> {
    let names = || {
        prop::sample::select(vec![
            "title",
            "severity",
            "commander",
            "name",
            "params",
            "text",
            "team",
            "format",
            "incident",
            "draft",
            "version",
            "run",
            "decision",
            "scenario",
            "reason",
            "x",
        ])
    };
    (
        prop::sample::select(vec![
            "incident", "runbook", "comms", "notify", "timeline", "drill", "dr", "approve", "x",
        ]),
        prop::sample::select(vec![
            "declare", "status", "note", "resolve", "list", "plan", "run", "resume", "cancel",
            "draft", "show", "approve", "edit", "discard", "resend", "team", "export", "start", "",
            "x",
        ]),
        prop::collection::vec((names(), option_value()), 0..5),
    )
        .prop_map(|(name, sub, options)| {
            let options: Vec<Value> = options
                .into_iter()
                .map(|(n, (t, v))| json!({"name": n, "type": t, "value": v}))
                .collect();
            json!({
                "id": "1100000000000000001",
                "name": name,
                "type": 1,
                "options": [{"name": sub, "type": 1, "options": options}],
            })
        })
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn every_action_round_trips_through_its_id(action in actions()) {
        let id = action.to_custom_id();
        prop_assert_eq!(Action::parse(&id), Ok(action.clone()), "{}", id);
        if id.len() <= MAX_CUSTOM_ID {
            // What the Discord adapter makes of the same id: a command, never a panic.
            let _ = crate::chat::discord::command_from_custom_id(&id);
        }
    }

    #[test]
    fn any_id_parses_or_says_why_and_what_parses_is_canonical(id in prop_oneof![
        any::<String>(),
        "(approve|deny|confirm|run|declare|plan|comms|x)?:?[a-z0-9:v]{0,24}",
    ]) {
        match Action::parse(&id) {
            Ok(action) => {
                let again = action.to_custom_id();
                prop_assert_eq!(Action::parse(&again), Ok(action), "{} → {}", id, again);
            }
            Err(err) => prop_assert_eq!(&err.id, &id),
        }
        let _ = crate::chat::discord::command_from_custom_id(&id);
    }

    #[test]
    fn any_slash_payload_becomes_a_command_or_a_message(payload in slash_payload()) {
        // Payloads Discord could not send (a value of the wrong shape) do not decode at all.
        if let Some(Err(message)) = crate::chat::discord::command_from_payload(payload) {
            prop_assert!(!message.is_empty());
        }
    }
}

/// A note's text, a step's output: strings, integers, booleans and nesting (no floats: the
/// export writes them back exactly only when they were integers).
fn data() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<String>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        Just(Value::Null),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(cases(64))]

    #[test]
    fn a_json_export_verifies_as_the_chain_it_came_from(
        notes in prop::collection::vec(
            (any::<String>(), data(), "[a-z]{1,8}", 0i64..100_000_000),
            0..12,
        ),
    ) {
        let incident = IncidentId::from("INC-20261205-101500");
        let t0 = chrono::DateTime::parse_from_rfc3339("2026-12-05T10:15:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let mut events: Vec<Event> = Vec::new();
        let mut prev = crate::domain::event::GENESIS.to_owned();
        let declared = NewEvent::new(
            Actor::Bot,
            "incident.declared",
            json!({"title": "Heroku down", "severity": "sev1"}),
        );
        let mut all = vec![declared];
        for (text, extra, who, _) in &notes {
            all.push(NewEvent::new(
                Actor::User { id: "1".into(), name: who.clone() },
                "note.added",
                json!({"text": text, "extra": extra}),
            ));
        }
        for (i, new) in all.into_iter().enumerate() {
            let at = t0 + chrono::Duration::milliseconds(
                notes.get(i.saturating_sub(1)).map_or(0, |n| n.3) + i as i64,
            );
            let event = Event::seal(new.incident(incident.clone()), i as u64 + 1, at, &prev);
            prev = event.hash.clone();
            events.push(event);
        }
        let exported = crate::timeline::render(
            &events,
            &incident,
            crate::timeline::Format::Json,
            &shipped_config().objectives,
        )
        .unwrap();
        let doc: Value = serde_json::from_str(&exported).unwrap();
        let back: Vec<Event> = serde_json::from_value(doc["events"].clone()).unwrap();
        prop_assert_eq!(back.len(), events.len());
        let verdict = verify_chain(back.iter().map(|e| (e.seq, e.to_bytes())), None);
        prop_assert!(
            matches!(verdict, ChainCheck::Intact { events: n, .. } if n == events.len() as u64),
            "{:?}",
            verdict
        );
    }
}
