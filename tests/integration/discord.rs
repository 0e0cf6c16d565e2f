//! The Discord adapter through the real serenity client against the in-process fake Discord
//! (`support::discord`), with the engine over the simulated AWS: slash commands, buttons,
//! the two-person rule, refusals, one thread per incident with the progress in it, buttons
//! disabled once decided or expired, exports and drill reports as uploaded files, autocomplete,
//! the draft-editing modal, registration, REST retries honouring `retry_after`, gateway
//! reconnects, and acknowledgement latency; also confirm and paused-run buttons, `/runbook
//! plan|status|resume|cancel`, commands from incident threads, approving after a restart,
//! simultaneous approvals, and an alert posted by the real feed watcher.
//!
//! Each test runs the app in process (`support::spawn_app(..).discord()`): the bot, the
//! engine and the serenity client wired as `lifeboat run` wires them, on a temp log.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use lifeboat::chat::discord;
use lifeboat::config::Secret;
use lifeboat::ports::chat::{ChannelId, Chat, Message};
use lifeboat::ports::store::EventStore;
use serde_json::{Value, json};

use crate::support::app::TOKEN;
use crate::support::discord::{
    APP_ID, APPROVER, CHANNEL, Call, FakeDiscord, Fault, GUILD, Member, OTHER_GUILD, RESPONDER,
    autocomplete, bot_message, button, content, ephemeral, slash, text,
};
use crate::support::{App, TestConfig, spawn_app};

const WAIT: Duration = Duration::from_secs(10);

const RUNBOOK: &str = r#"
name = "scale-up"
title = "Scale up the standby"
workstream = "hosting"

[approval]
approvals = 1

[[steps]]
id = "scale"
kind = "ecs_scale"
with = { to = "standby" }
"#;

/// The suite's config: two teams and a simulated standby to scale (the app adds `[discord]`
/// and `[access]` for the fake).
fn config() -> TestConfig {
    TestConfig::minimal()
        .team("db-oncall", json!({}))
        .team("platform", json!({}))
        .set(
            "aws.ecs",
            json!({ "cluster": "standby", "services": [{ "name": "web", "standby": 3 }] }),
        )
        .set(
            "aws.dns",
            json!({
                "zone_id": "Z1",
                "ttl": 60,
                "records": [{ "name": "app.example.com", "primary": "app.herokudns.com", "standby": "alb.aws.example.com" }],
            }),
        )
}

/// The app on the suite's config with `runbook`, served over the fake Discord.
async fn start_with(runbook: &str) -> App {
    spawn_app(config().runbook(runbook))
        .discord()
        .patience(WAIT)
        .start()
        .await
}

async fn start() -> App {
    start_with(RUNBOOK).await
}

fn alice() -> Member {
    Member::new(300_000_000_000_000_001, "alice", &[RESPONDER])
}
fn bob() -> Member {
    Member::new(300_000_000_000_000_002, "bob", &[APPROVER])
}
fn carol() -> Member {
    Member::new(300_000_000_000_000_003, "carol", &[RESPONDER])
}

#[tokio::test]
async fn from_alert_to_declared_incident_to_approved_run_through_discord() {
    let app = start().await;

    // An alert in the channel (posted through the same adapter); A declares from its button.
    let alert = lifeboat::chat::render::alert(
        &lifeboat::feeds::monitor::AlertView {
            alert_id: "heroku-20261125093000".into(),
            provider: "heroku".into(),
            level: lifeboat::domain::HealthLevel::MajorOutage,
            confirmed: true,
            sources: vec![(
                "heroku-status".into(),
                lifeboat::domain::HealthLevel::MajorOutage,
            )],
            incidents: Vec::new(),
            opened_at: chrono::Utc::now(),
        },
        &lifeboat::chat::render::ProviderInfo {
            title: "Heroku".into(),
            runbook: Some("scale-up".into()),
            simulated: false,
        },
    );
    let posted = app
        .discord_chat()
        .post(&ChannelId(CHANNEL.to_string()), &alert)
        .await
        .expect("the alert is posted");
    let alert_message = app.fake().message(&posted.id).expect("stored");
    // Embeds keep their level colour; buttons sit in one action row.
    assert_eq!(
        alert_message["embeds"][0]["color"],
        lifeboat::ports::chat::Colour::Red.rgb()
    );
    let declare = alert_message["components"][0]["components"][0]["custom_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(declare, "declare:heroku-20261125093000");
    let mark = app.fake().mark();
    let (_, declared) = app.press(&alice(), &declare, alert_message).await;
    assert_eq!(declared.body["type"], 4);
    assert!(!ephemeral(&declared.body), "{}", declared.body);
    assert!(
        content(&declared.body).contains("declared by alice"),
        "{}",
        declared.body
    );

    // The incident gets one thread, started from the alert it was declared from; on Discord
    // such a thread takes the message's id. The log records it, so a restart finds it.
    let opened = app
        .fake()
        .wait_call(
            mark,
            "the incident thread",
            |c| {
                c.method == "POST"
                    && c.path == format!("/channels/{CHANNEL}/messages/{}/threads", posted.id)
            },
            WAIT,
        )
        .await;
    let thread = posted.id.clone();
    let starter: u64 = thread.parse().unwrap();
    assert_eq!(app.fake().threads(), [(starter, CHANNEL, Some(starter))]);
    assert!(
        opened.body["name"].as_str().unwrap().starts_with("INC-"),
        "{}",
        opened.body
    );
    let recorded = app.wait_event(lifeboat::ports::chat::THREAD_OPENED).await;
    assert_eq!(recorded.data["thread"], thread.as_str());
    let incident = recorded
        .incident
        .clone()
        .expect("recorded for the incident");

    // A requests the run: deferred at once, then the plan with Approve/Deny replaces it.
    let mark = app.fake().mark();
    let (token, callback) = app
        .slash(
            &alice(),
            "runbook",
            "run",
            json!([text("name", "scale-up")]),
        )
        .await;
    assert_eq!(callback.body["type"], 5, "a run request is deferred");
    let original = app
        .fake()
        .edited_original(mark, &token, "the request message")
        .await;
    assert!(
        content(&original.body).contains("alice requests `scale-up`"),
        "{}",
        original.body
    );
    let buttons = &original.body["components"][0]["components"];
    let approve = buttons[0]["custom_id"].as_str().unwrap().to_owned();
    assert!(approve.starts_with("approve:REQ-"), "{buttons}");
    assert_eq!(
        buttons[1]["custom_id"],
        approve.replace("approve:", "deny:")
    );
    let request_message = app.fake().original(&token).expect("the request message");

    // A's own approval: acknowledged, then refused privately.
    let mark = app.fake().mark();
    let (token, callback) = app.press(&alice(), &approve, request_message.clone()).await;
    assert_eq!(callback.body["type"], 6);
    let refusal = app.followup(mark, &token).await;
    assert!(ephemeral(&refusal.body), "{}", refusal.body);
    assert!(
        content(&refusal.body).starts_with("Refused"),
        "{}",
        refusal.body
    );

    // Someone without the approver role: refused privately.
    let mark = app.fake().mark();
    let (token, _) = app.press(&carol(), &approve, request_message.clone()).await;
    let refusal = app.followup(mark, &token).await;
    assert!(ephemeral(&refusal.body), "{}", refusal.body);
    assert!(
        content(&refusal.body).contains("approver role"),
        "{}",
        refusal.body
    );

    // B approves: the request's buttons are disabled saying who decided, the run starts,
    // said publicly and repeated in the thread, and its progress goes to the thread.
    let mark = app.fake().mark();
    let (token, _) = app.press(&bob(), &approve, request_message).await;
    let started = app.followup(mark, &token).await;
    assert!(!ephemeral(&started.body), "{}", started.body);
    assert!(
        content(&started.body).contains("bob approved"),
        "{}",
        started.body
    );
    let settled = app
        .fake()
        .wait_call(
            mark,
            "the request message with its buttons disabled",
            |c| {
                c.method == "PATCH"
                    && c.path == format!("/webhooks/{APP_ID}/{token}/messages/@original")
            },
            WAIT,
        )
        .await;
    assert!(
        content(&settled.body).ends_with("**approved by bob**"),
        "{}",
        settled.body
    );
    let disabled = settled.body["components"][0]["components"]
        .as_array()
        .unwrap();
    assert_eq!(disabled.len(), 2, "{}", settled.body);
    assert!(
        disabled.iter().all(|b| b["disabled"] == true),
        "{}",
        settled.body
    );
    let in_thread = format!("/channels/{thread}/messages");
    let finished = app
        .fake()
        .wait_call(
            mark,
            "the run's last progress message, in the thread",
            |c| c.method == "POST" && c.path == in_thread && content(&c.body).contains("finished"),
            WAIT,
        )
        .await;
    assert!(
        content(&finished.body)
            .trim_start_matches("SIMULATED — ")
            .starts_with("[RUN-"),
        "{}",
        finished.body
    );
    app.fake()
        .wait_call(
            mark,
            "the approval repeated in the thread",
            |c| {
                c.method == "POST"
                    && c.path == in_thread
                    && content(&c.body).contains("bob approved")
            },
            WAIT,
        )
        .await;
    let thread_messages: Vec<String> = app
        .fake()
        .calls()
        .iter()
        .skip(mark)
        .filter(|c| c.path == in_thread)
        .map(|c| content(&c.body))
        .collect();
    for expected in ["bob approved", "▶ scale", "✔ scale"] {
        assert!(
            thread_messages.iter().any(|p| p.contains(expected)),
            "{expected} not in the thread: {thread_messages:?}"
        );
    }
    assert!(
        !app.fake()
            .calls()
            .iter()
            .skip(mark)
            .any(|c| c.path == format!("/channels/{CHANNEL}/messages")),
        "progress leaked into the channel"
    );

    // `/timeline export format:md`: the post-mortem is uploaded to the thread as a file (a
    // multipart POST), byte for byte what `lifeboat export --format md` prints.
    let mark = app.fake().mark();
    let (token, callback) = app
        .slash(
            &alice(),
            "timeline",
            "export",
            json!([text("format", "md")]),
        )
        .await;
    assert_eq!(callback.body["type"], 5, "an export is deferred");
    let upload = app
        .fake()
        .wait_call(
            mark,
            "the post-mortem upload",
            |c| c.method == "POST" && c.path == in_thread && !c.files.is_empty(),
            WAIT,
        )
        .await;
    assert_eq!(upload.files.len(), 1);
    let file = &upload.files[0];
    assert_eq!(file.part, "files[0]");
    assert_eq!(file.filename, format!("postmortem-{incident}.md"));
    assert!(
        content(&upload.body).contains("Post-mortem"),
        "{}",
        upload.body
    );
    let expected = lifeboat::timeline::render(
        &app.store.all().unwrap(),
        &incident,
        lifeboat::timeline::Format::Markdown,
        &app.config.objectives,
    )
    .unwrap();
    assert_eq!(String::from_utf8_lossy(&file.bytes), expected);
    let answer = app.followup(mark, &token).await;
    assert!(ephemeral(&answer.body), "{}", answer.body);
    assert!(
        content(&answer.body).contains(&format!("<#{thread}>")),
        "{}",
        answer.body
    );
    app.stop().await;
}

#[tokio::test]
async fn other_guilds_mistakes_and_refusals_are_answered_privately_and_autocomplete_works() {
    let app = start().await;
    let (_, callback) = app
        .interact(slash(
            OTHER_GUILD,
            CHANNEL,
            &alice(),
            "runbook",
            "run",
            json!([text("name", "scale-up")]),
        ))
        .await;
    assert_eq!(callback.body["type"], 4);
    assert!(ephemeral(&callback.body), "{}", callback.body);
    assert!(
        content(&callback.body).contains("own server"),
        "{}",
        callback.body
    );

    let (_, callback) = app
        .interact(button(
            OTHER_GUILD,
            CHANNEL,
            &bob(),
            "approve:REQ-1",
            bot_message(CHANNEL, "a request from elsewhere"),
        ))
        .await;
    assert!(ephemeral(&callback.body), "{}", callback.body);

    // A state-changing command outside the incident channel is refused, privately.
    let (_, callback) = app
        .interact(slash(
            GUILD,
            CHANNEL + 1,
            &alice(),
            "runbook",
            "run",
            json!([text("name", "scale-up")]),
        ))
        .await;
    assert!(ephemeral(&callback.body), "{}", callback.body);
    assert!(
        content(&callback.body).contains("taken only in"),
        "{}",
        callback.body
    );

    let (_, callback) = app
        .interact(autocomplete(
            GUILD,
            CHANNEL,
            &alice(),
            "runbook",
            "run",
            "name",
            "scale",
        ))
        .await;
    assert_eq!(callback.body["type"], 8);
    assert_eq!(callback.body["data"]["choices"][0]["value"], "scale-up");

    // A slow command refused after it was deferred: the public "thinking" answer is removed
    // and the refusal goes to the user alone.
    let mallory = Member::new(300_000_000_000_000_009, "mallory", &[]);
    let mark = app.fake().mark();
    let (token, callback) = app
        .slash(
            &mallory,
            "runbook",
            "run",
            json!([text("name", "scale-up")]),
        )
        .await;
    assert_eq!(callback.body["type"], 5);
    let refusal = app.followup(mark, &token).await;
    assert!(ephemeral(&refusal.body), "{}", refusal.body);
    assert!(
        content(&refusal.body).contains("needs the responder role"),
        "{}",
        refusal.body
    );
    assert!(
        app.fake()
            .calls()
            .iter()
            .skip(mark)
            .any(|c| c.method == "DELETE"
                && c.path == format!("/webhooks/{APP_ID}/{token}/messages/@original")),
        "the deferred answer was not removed"
    );

    // An unknown runbook: the same private answer.
    let mark = app.fake().mark();
    let (token, _) = app
        .slash(
            &alice(),
            "runbook",
            "run",
            json!([text("name", "no-such-runbook")]),
        )
        .await;
    let unknown = app.followup(mark, &token).await;
    assert!(ephemeral(&unknown.body), "{}", unknown.body);
    assert!(
        content(&unknown.body).contains("no runbook `no-such-runbook`"),
        "{}",
        unknown.body
    );

    // Missing options and unknown buttons are explained privately, not dropped.
    let (_, callback) = app.slash(&alice(), "runbook", "run", json!([])).await;
    assert!(ephemeral(&callback.body));
    assert!(
        content(&callback.body).contains("missing option"),
        "{}",
        callback.body
    );
    let (_, callback) = app
        .press(
            &bob(),
            "launch:missiles",
            bot_message(CHANNEL, "an old message"),
        )
        .await;
    assert!(ephemeral(&callback.body));
    assert!(
        content(&callback.body).contains("unknown button"),
        "{}",
        callback.body
    );

    // An export with no open incident, or of an incident the log does not know: explained
    // privately (after the deferral), nothing uploaded.
    for (options, expected) in [
        (json!([text("format", "md")]), "no open incident"),
        (
            json!([text("format", "csv"), text("incident", "INC-404")]),
            "no events for incident INC-404",
        ),
    ] {
        let mark = app.fake().mark();
        let (token, _) = app.slash(&alice(), "timeline", "export", options).await;
        let answer = app.followup(mark, &token).await;
        assert!(ephemeral(&answer.body), "{}", answer.body);
        assert!(content(&answer.body).contains(expected), "{}", answer.body);
        assert!(
            app.fake()
                .calls()
                .iter()
                .skip(mark)
                .all(|c| c.files.is_empty())
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn rest_calls_survive_a_429_and_a_500() {
    let app = start().await;
    let chat = app.discord_chat();
    // Discord asks for 0.6 s, more than the 200 ms first backoff: the retry must wait for it.
    app.fake()
        .fail_next("/messages", Fault::RateLimited { retry_after: 0.6 });
    app.fake().fail_next("/messages", Fault::ServerError);
    let mark = app.fake().mark();
    let posted = chat
        .post(
            &ChannelId(CHANNEL.to_string()),
            &Message {
                content: "hello".into(),
                ..Message::default()
            },
        )
        .await
        .expect("posted after retries");
    let attempts: Vec<Call> = app
        .fake()
        .calls()
        .into_iter()
        .skip(mark)
        .filter(|c| c.path == format!("/channels/{CHANNEL}/messages"))
        .collect();
    assert_eq!(attempts.len(), 3, "429, 500, then success");
    let waited = attempts[1].at.duration_since(attempts[0].at);
    assert!(
        waited >= Duration::from_millis(590),
        "retried {waited:?} after a 429 asking for 600 ms"
    );
    // Only catches a wait far beyond the 600 ms asked (roomy for a loaded machine).
    assert!(
        waited < Duration::from_secs(15),
        "waited {waited:?}, far longer than asked"
    );
    let logs = app.logs();
    assert!(
        logs.contains("Discord rate-limited the call") && logs.contains("wait_ms=600"),
        "the wait was not logged"
    );
    // The retries carry the first attempt's nonce, so Discord cannot post twice.
    let nonce = &attempts[0].body["nonce"];
    assert!(nonce.is_string(), "{}", attempts[0].body);
    assert!(
        attempts
            .iter()
            .all(|c| &c.body["nonce"] == nonce && c.body["enforce_nonce"] == true)
    );
    assert!(app.fake().message(&posted.id).is_some());

    // An interaction whose callback is rate-limited is still acknowledged.
    app.fake()
        .fail_next("/callback", Fault::RateLimited { retry_after: 0.05 });
    let mark = app.fake().mark();
    let payload = slash(GUILD, CHANNEL, &alice(), "runbook", "list", json!([]));
    let path = format!(
        "/interactions/{}/{}/callback",
        payload["id"].as_str().unwrap(),
        payload["token"].as_str().unwrap()
    );
    app.fake().push_interaction(payload);
    let second = app
        .fake()
        .wait_call(mark + 1, "the retried callback", |c| c.path == path, WAIT)
        .await;
    assert_eq!(second.body["type"], 4);
    app.stop().await;
}

#[tokio::test]
async fn a_gateway_reconnect_mid_flow_resumes_and_the_flow_completes() {
    let app = start().await;
    let request = app.request_run("scale-up", &alice()).await.into_message();
    let approve = request["components"][0]["components"][0]["custom_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Discord asks the client to reconnect between the request and the approval.
    app.fake().reconnect();
    app.fake().wait_resumes(1, WAIT).await;
    assert_eq!(app.fake().identifies(), 1, "resumed, not re-identified");

    let mark = app.fake().mark();
    let (token, _) = app.press(&bob(), &approve, request).await;
    let started = app.followup(mark, &token).await;
    assert!(
        content(&started.body).contains("started"),
        "{}",
        started.body
    );
    app.fake()
        .wait_call(
            mark,
            "the run's end",
            |c| {
                c.path == format!("/channels/{CHANNEL}/messages")
                    && content(&c.body).contains("finished")
            },
            WAIT,
        )
        .await;
    app.stop().await;
}

/// A slash declaration opens the thread from the declaration itself; autocomplete then
/// offers that incident's id and the configured teams.
#[tokio::test]
async fn a_declared_incident_gets_its_thread_and_autocomplete_offers_incidents_and_teams() {
    let app = start().await;
    let mark = app.fake().mark();
    let (token, callback) = app
        .slash(
            &alice(),
            "incident",
            "declare",
            json!([text("title", "Heroku down")]),
        )
        .await;
    assert_eq!(callback.body["type"], 4);
    let declaration = app
        .fake()
        .original(&token)
        .expect("the declaration message");
    let starter = declaration["id"].as_str().unwrap().to_owned();
    app.fake()
        .wait_call(
            mark,
            "the declaration read back",
            |c| {
                c.method == "GET"
                    && c.path == format!("/webhooks/{APP_ID}/{token}/messages/@original")
            },
            WAIT,
        )
        .await;
    let opened = app
        .fake()
        .wait_call(
            mark,
            "the thread from the declaration",
            |c| {
                c.method == "POST"
                    && c.path == format!("/channels/{CHANNEL}/messages/{starter}/threads")
            },
            WAIT,
        )
        .await;
    let declared = app.wait_event(lifeboat::ports::chat::THREAD_OPENED).await;
    let incident = declared.incident.clone().unwrap();
    assert_eq!(
        opened.body["name"],
        format!("{incident} Heroku down"),
        "{}",
        opened.body
    );

    // Private answers (a note's confirmation, the status) are not repeated in the thread.
    let mark = app.fake().mark();
    app.slash(
        &alice(),
        "incident",
        "note",
        json!([text("text", "DNS TTL is 60 s")]),
    )
    .await;
    let (_, callback) = app.slash(&alice(), "incident", "status", json!([])).await;
    assert!(ephemeral(&callback.body));
    assert!(
        !app.fake()
            .calls()
            .iter()
            .skip(mark)
            .any(|c| c.path == format!("/channels/{starter}/messages")),
        "private answers stay private"
    );

    let (_, callback) = app
        .interact(autocomplete(
            GUILD,
            CHANNEL,
            &alice(),
            "timeline",
            "export",
            "incident",
            "inc-",
        ))
        .await;
    assert_eq!(callback.body["type"], 8);
    assert_eq!(
        callback.body["data"]["choices"][0]["value"],
        incident.to_string(),
        "{}",
        callback.body
    );
    let (_, callback) = app
        .interact(autocomplete(
            GUILD,
            CHANNEL,
            &alice(),
            "notify",
            "team",
            "team",
            "PLAT",
        ))
        .await;
    let choices = callback.body["data"]["choices"].as_array().unwrap();
    assert_eq!(choices.len(), 1, "{}", callback.body);
    assert_eq!(choices[0]["value"], "platform");
    let (_, callback) = app
        .interact(autocomplete(
            GUILD,
            CHANNEL,
            &alice(),
            "notify",
            "team",
            "team",
            "",
        ))
        .await;
    assert_eq!(
        callback.body["data"]["choices"].as_array().unwrap().len(),
        2,
        "{}",
        callback.body
    );
    // Another guild learns nothing.
    let (_, callback) = app
        .interact(autocomplete(
            OTHER_GUILD,
            CHANNEL,
            &alice(),
            "notify",
            "team",
            "team",
            "",
        ))
        .await;
    assert_eq!(
        callback.body["data"]["choices"].as_array().unwrap().len(),
        0,
        "{}",
        callback.body
    );

    // The resolution, answered in the channel, is repeated in the thread it closes.
    let mark = app.fake().mark();
    let (token, callback) = app.slash(&alice(), "incident", "resolve", json!([])).await;
    // Resolving calls PagerDuty: deferred, then answered publicly.
    assert_eq!(callback.body["type"], 5, "{}", callback.body);
    let answer = app
        .fake()
        .edited_original(mark, &token, "the resolution")
        .await;
    assert!(
        content(&answer.body).contains("resolved by alice"),
        "{}",
        answer.body
    );
    let echoed = app
        .fake()
        .wait_call(
            mark,
            "the resolution in the thread",
            |c| c.method == "POST" && c.path == format!("/channels/{starter}/messages"),
            WAIT,
        )
        .await;
    assert_eq!(content(&echoed.body), content(&answer.body));
    app.stop().await;
}

/// A draft's [Edit] button answers with a form prefilled with the draft; the submitted form
/// becomes the draft's new text.
#[tokio::test]
async fn a_draft_is_edited_through_a_modal() {
    let app = start().await;
    app.slash(
        &alice(),
        "incident",
        "declare",
        json!([text("title", "Heroku down")]),
    )
    .await;
    app.wait_event(lifeboat::ports::chat::THREAD_OPENED).await;
    let mark = app.fake().mark();
    let (token, callback) = app
        .slash(
            &alice(),
            "comms",
            "draft",
            json!([text("audience", "clients"), text("kind", "initial")]),
        )
        .await;
    assert_eq!(callback.body["type"], 5, "drafting is deferred");
    let drafted = app
        .fake()
        .wait_call(
            mark,
            "the draft",
            |c| {
                c.path.ends_with(&format!("{token}/messages/@original"))
                    || c.path == format!("/webhooks/{APP_ID}/{token}")
            },
            WAIT,
        )
        .await;
    let buttons = drafted.body["components"][0]["components"]
        .as_array()
        .unwrap_or_else(|| panic!("no buttons on the draft: {}", drafted.body))
        .clone();
    let edit = buttons
        .iter()
        .filter_map(|b| b["custom_id"].as_str())
        .find(|id| id.starts_with("comms:edit:"))
        .unwrap_or_else(|| panic!("no edit button: {}", drafted.body))
        .to_owned();
    let draft_message = app.fake().original(&token).expect("the draft message");

    let (_, callback) = app.press(&alice(), &edit, draft_message.clone()).await;
    assert_eq!(callback.body["type"], 9, "a modal: {}", callback.body);
    assert_eq!(callback.body["data"]["custom_id"], edit.as_str());
    let input = &callback.body["data"]["components"][0]["components"][0];
    assert_eq!(input["style"], 2, "{input}");
    let before = input["value"].as_str().unwrap().to_owned();
    assert!(!before.is_empty(), "prefilled with the draft");

    let (_, callback) = app
        .interact(crate::support::discord::modal_submit(
            GUILD,
            CHANNEL,
            &alice(),
            &edit,
            "text",
            "We are failing over to our standby; next update in 30 minutes.",
        ))
        .await;
    assert_eq!(callback.body["type"], 4, "{}", callback.body);
    let (_, callback) = app.press(&alice(), &edit, draft_message).await;
    assert_eq!(
        callback.body["data"]["components"][0]["components"][0]["value"],
        "We are failing over to our standby; next update in 30 minutes.",
        "the form now holds the edited text"
    );

    // A form for a draft that does not exist, or from another guild, is refused privately.
    let (_, callback) = app
        .interact(crate::support::discord::modal_submit(
            OTHER_GUILD,
            CHANNEL,
            &alice(),
            &edit,
            "text",
            "x",
        ))
        .await;
    assert!(ephemeral(&callback.body));
    let (_, callback) = app
        .press(
            &alice(),
            "comms:edit:D-404",
            bot_message(CHANNEL, "an old draft"),
        )
        .await;
    assert!(ephemeral(&callback.body), "{}", callback.body);
    app.stop().await;
}

#[tokio::test]
async fn register_puts_the_command_list() {
    let fake = FakeDiscord::start();
    let http = discord::build_http(&Secret::new(TOKEN), Some(&fake.api_base()));
    let n = discord::register(&http, GUILD).await.expect("registered");
    assert_eq!(n, 7);
    let put = fake
        .wait_call(0, "the PUT", |c| c.method == "PUT", WAIT)
        .await;
    assert_eq!(
        put.path,
        format!("/applications/{APP_ID}/guilds/{GUILD}/commands")
    );
    let names: Vec<&str> = put
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "incident", "runbook", "dr", "timeline", "drill", "notify", "comms"
        ]
    );
}

/// `lifeboat register` through the binary: the count on success, a clear exit 1 without a
/// token, and the token never printed.
#[test]
fn the_register_command_uses_the_configured_guild_and_token() {
    let fake = FakeDiscord::start();
    let project = TestConfig::minimal()
        .discord(&fake.api_base())
        .set("discord.token_env", "LB_TEST_TOKEN")
        .project();
    let dir = project.path();
    let path = dir.join("lifeboat.toml");
    let config = path.to_str().unwrap();

    let out = crate::support::lifeboat(
        dir,
        &["register", "--config", config],
        &[("LB_TEST_TOKEN", TOKEN), ("RUST_LOG", "trace")],
    );
    let (stdout, stderr) = (crate::support::stdout(&out), crate::support::stderr(&out));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("Registered 7 slash commands"), "{stdout}");
    assert!(
        !stdout.contains(TOKEN) && !stderr.contains(TOKEN),
        "token leaked"
    );
    assert!(fake.calls().iter().any(|c| c.method == "PUT"));

    let out = crate::support::lifeboat(dir, &["register", "--config", config], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        crate::support::stderr(&out).contains("set the environment variable LB_TEST_TOKEN"),
        "{}",
        crate::support::stderr(&out)
    );
}

/// Acknowledgement latency (INTERACTION_CREATE sent → callback received), 200 interactions in
/// bursts of 10. Discord's limit is 3 s; loopback should be far below it. On a loaded CI machine
/// this only catches a hang; the real figure comes from `cargo bench --bench chat`.
#[tokio::test]
async fn acknowledgement_latency_over_200_interactions() {
    let app = start().await;
    let mut latencies = Vec::new();
    for _ in 0..20 {
        let mark = app.fake().mark();
        let payloads: Vec<Value> = (0..10)
            .map(|_| slash(GUILD, CHANNEL, &alice(), "runbook", "list", json!([])))
            .collect();
        let ids: Vec<(String, String)> = payloads
            .iter()
            .map(|p| {
                (
                    p["id"].as_str().unwrap().to_owned(),
                    p["token"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        for payload in payloads {
            app.fake().push_interaction(payload);
        }
        for (id, token) in ids {
            let path = format!("/interactions/{id}/{token}/callback");
            let call = app
                .fake()
                .wait_call(mark, "a callback", |c| c.path == path, WAIT)
                .await;
            let sent = app.fake().sent_at(&id).unwrap();
            latencies.push(call.at.duration_since(sent));
        }
    }
    latencies.sort();
    let p50 = latencies[latencies.len() / 2];
    let p99 = latencies[latencies.len() * 99 / 100];
    eprintln!(
        "acknowledgement latency over {}: p50 {p50:?}, p99 {p99:?}",
        latencies.len()
    );
    assert!(
        p99 < Duration::from_secs(20),
        "p99 {p99:?}: acknowledgements hang"
    );
    app.stop().await;
}

/// `lifeboat run` with a token set: registers on start, serves interactions over the fake,
/// and stops cleanly on SIGTERM, never printing the token.
#[tokio::test]
async fn the_run_command_serves_discord_until_sigterm() {
    let mut bot = spawn_app(
        TestConfig::minimal()
            .shipped_templates()
            .set("discord.register_on_start", true)
            .set(
                "aws.ecs",
                json!({ "cluster": "standby", "services": [{ "name": "web", "standby": 3 }] }),
            )
            .runbook(RUNBOOK),
    )
    .discord()
    .env("RUST_LOG", "debug")
    .patience(WAIT)
    .binary();
    let check = crate::support::lifeboat(
        bot.project.path(),
        &["check", "--config", "lifeboat.toml"],
        &[],
    );
    assert!(check.status.success(), "{}", crate::support::stderr(&check));
    let fake = bot.fake();
    fake.wait_sessions(1, WAIT).await;
    fake.wait_call(0, "the registration", |c| c.method == "PUT", WAIT)
        .await;

    let mark = fake.mark();
    let payload = slash(GUILD, CHANNEL, &alice(), "runbook", "list", json!([]));
    let path = format!(
        "/interactions/{}/{}/callback",
        payload["id"].as_str().unwrap(),
        payload["token"].as_str().unwrap()
    );
    fake.push_interaction(payload);
    let callback = fake
        .wait_call(mark, "the callback", |c| c.path == path, WAIT)
        .await;
    assert!(
        content(&callback.body).contains("scale-up"),
        "{}",
        callback.body
    );

    // A run requested and approved through the binary, as through the in-process app; its
    // end is read back from the running binary's log (its `/backup` endpoint).
    let run = bot.request_and_approve("scale-up", &alice(), &bob()).await;
    let succeeded = bot.wait_event("run.succeeded");
    assert_eq!(succeeded.run.map(|r| r.to_string()), Some(run));

    // SIGTERM: a clean stop.
    bot.sigterm();
    let (code, stdout, stderr) = bot.exit_with_output(WAIT);
    assert_eq!(
        code,
        Some(0),
        "lifeboat did not stop cleanly on SIGTERM\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("Registered 7 slash commands"), "{stdout}");
    assert!(stdout.contains("Lifeboat stopped."), "{stdout}");
    assert!(
        !stdout.contains(TOKEN) && !stderr.contains(TOKEN),
        "the token leaked"
    );
}

const ASKING: &str = r#"
name = "ask-then-scale"
title = "Ask, then scale up"
workstream = "hosting"

[approval]
approvals = 1
requester_may_approve = true

[[steps]]
id = "ask"
kind = "confirm"
with = { question = "scale up now?" }

[[steps]]
id = "scale"
kind = "ecs_scale"
with = { to = "standby" }
"#;

/// The incident's thread is in the log: a restarted bot finds it and opens no second one;
/// a run's progress and its questions go to the thread, and an answered question settles.
#[tokio::test]
async fn the_incident_thread_survives_a_restart_and_holds_the_run() {
    use lifeboat::approval::Person;
    use lifeboat::chat::command::Command;
    use lifeboat::chat::recorder::Recorded;

    let bench = crate::engine::bench().await;
    let runbook = bench.runbook(ASKING);
    let responder = Person {
        id: "alice".into(),
        name: "alice".into(),
        roles: vec!["responder".into(), "approver".into()],
    };
    let bot = bench.new_bot(vec![runbook.clone()]);
    let declared = bot
        .handle(
            Command::IncidentDeclare {
                title: "Heroku down".into(),
                severity: None,
                commander: None,
                alert: None,
            },
            &responder,
        )
        .await;
    assert!(!declared.ephemeral, "{declared:?}");
    let thread = bot.open_thread(None).await.expect("a thread");
    assert_eq!(bench.chat().threads(), std::slice::from_ref(&thread));
    drop(bot);

    let bot = bench.new_bot(vec![runbook]);
    assert_eq!(bot.incident_thread(), Some(thread.clone()));
    assert_eq!(bot.open_thread(None).await, Some(thread.clone()));
    assert_eq!(bench.chat().threads().len(), 1, "no second thread");

    let requested = bot
        .handle(
            Command::RunbookRun {
                name: "ask-then-scale".into(),
                params: BTreeMap::new(),
            },
            &responder,
        )
        .await;
    let request = requested.message.buttons[0]
        .custom_id
        .strip_prefix("approve:")
        .expect("an Approve button")
        .to_owned();
    // This runbook lets its requester approve.
    let started = bot.handle(Command::Approve { request }, &responder).await;
    assert!(!started.ephemeral, "{started:?}");
    tokio::time::timeout(
        WAIT,
        bench.chat().wait_for(|log| {
            log.iter().any(|r| matches!(r, Recorded::Posted { at, message } if at.channel == thread && message.content.contains("scale up now?")))
        }),
    )
    .await
    .expect("the question in the thread");
    let run = bot.runs().last().expect("a run").run.to_string();
    let answer = bot
        .handle(
            Command::Confirm {
                run: run.clone(),
                step: "ask".into(),
                yes: true,
            },
            &responder,
        )
        .await;
    assert_eq!(answer.settles.as_deref(), Some("confirmed by alice"));
    let again = bot
        .handle(
            Command::Confirm {
                run,
                step: "ask".into(),
                yes: true,
            },
            &responder,
        )
        .await;
    assert_eq!(
        again.settles.as_deref(),
        Some("no longer open"),
        "a stale button is disabled too"
    );
    tokio::time::timeout(
        WAIT,
        bench.chat().wait_for(|log| {
            log.iter().any(|r| matches!(r, Recorded::Posted { at, message } if at.channel == thread && message.content.contains("finished")))
        }),
    )
    .await
    .expect("the run finished in the thread");
    let in_channel = bench.chat().in_channel(&ChannelId("incident".into()));
    assert!(
        in_channel.iter().all(|m| !m
            .content
            .trim_start_matches("SIMULATED — ")
            .starts_with("[RUN-")),
        "progress leaked into the channel: {in_channel:?}"
    );
}

/// `/drill start` on the shipped config: answered at once, one drill at a time, and the
/// results (summary and Markdown post-mortem, both marked as a drill) posted when it ends,
/// while the live event log gets no drill incident.
#[tokio::test]
async fn a_drill_started_from_discord_reports_as_a_drill() {
    // The shipped config and runbooks; the drill's log is kept under the data dir, which is
    // the app's (a temp dir), not the checkout's.
    let app = spawn_app(TestConfig::shipped())
        .discord()
        .patience(WAIT)
        .start()
        .await;
    let mark = app.fake().mark();
    let start = || {
        slash(
            GUILD,
            CHANNEL,
            &alice(),
            "drill",
            "start",
            json!([text("scenario", "heroku-outage")]),
        )
    };
    let (_, callback) = app.interact(start()).await;
    assert_eq!(callback.body["type"], 4);
    assert!(!ephemeral(&callback.body));
    assert!(
        content(&callback.body).contains("DRILL heroku-outage started by alice"),
        "{}",
        callback.body
    );
    let (_, again) = app.interact(start()).await;
    assert!(ephemeral(&again.body));
    assert!(
        content(&again.body).contains("already running"),
        "{}",
        again.body
    );

    let report = app
        .fake()
        .wait_call(
            mark,
            "the drill's report",
            |c| {
                c.method == "POST"
                    && c.path == format!("/channels/{CHANNEL}/messages")
                    && !c.files.is_empty()
            },
            Duration::from_secs(120),
        )
        .await;
    let said = content(&report.body);
    assert!(
        said.starts_with("🧪 DRILL heroku-outage finished"),
        "{said}"
    );
    assert!(
        said.contains("heroku → failover-hosting (succeeded"),
        "{said}"
    );
    let file = &report.files[0];
    assert!(
        file.filename.starts_with("drill-INC-") && file.filename.ends_with(".md"),
        "{}",
        file.filename
    );
    let markdown = String::from_utf8_lossy(&file.bytes);
    assert!(
        markdown.starts_with("> **DRILL** (heroku-outage)"),
        "{markdown}"
    );
    assert!(markdown.contains("failover-hosting"), "{markdown}");
    let live = app.store.all().unwrap();
    assert!(live.iter().any(|e| e.kind == "drill.requested"));
    assert!(
        !live.iter().any(|e| e.kind == "incident.declared"),
        "the drill's incident stays in its own log"
    );
    app.stop().await;
}

/// A denial from the buttons answers with the request message itself updated (type 7): its
/// buttons disabled and who decided; the denial is said publicly in a follow-up.
#[tokio::test]
async fn a_denied_request_has_its_buttons_disabled() {
    let app = start().await;
    let request = app.request_run("scale-up", &alice()).await.into_message();
    let deny = request["components"][0]["components"][1]["custom_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(deny.starts_with("deny:REQ-"), "{deny}");

    let mark = app.fake().mark();
    let (token, callback) = app.press(&bob(), &deny, request.clone()).await;
    assert_eq!(callback.body["type"], 7, "{}", callback.body);
    assert!(
        content(&callback.body).ends_with("**denied by bob**"),
        "{}",
        callback.body
    );
    let buttons = callback.body["data"]["components"][0]["components"]
        .as_array()
        .unwrap();
    assert_eq!(buttons.len(), 2);
    assert!(buttons.iter().all(|b| b["disabled"] == true), "{buttons:?}");
    let said = app.followup(mark, &token).await;
    assert!(!ephemeral(&said.body));
    assert!(content(&said.body).contains("bob denied"), "{}", said.body);
    let denied = app.wait_event("run.denied").await;
    assert_eq!(
        denied.data["request"].as_str(),
        deny.strip_prefix("deny:"),
        "{denied:?}"
    );
    assert_eq!(denied.data["by"]["name"], "bob");

    // A press on the stale message answers privately and leaves the buttons disabled.
    let (_, callback) = app.press(&bob(), &deny, request).await;
    assert_eq!(callback.body["type"], 7, "{}", callback.body);
    assert!(
        content(&callback.body).ends_with("**already decided**"),
        "{}",
        callback.body
    );
    app.stop().await;
}

/// A request nobody approves in time: when it expires its message loses its buttons and says
/// so, and the log records the expiry.
#[tokio::test]
async fn an_expired_request_has_its_buttons_disabled() {
    let app = start_with(
        &RUNBOOK
            .replace("scale-up", "hasty")
            .replace("approvals = 1", "approvals = 1\nexpires = \"1s\""),
    )
    .await;
    let mark = app.fake().mark();
    let request = app.request_run("hasty", &alice()).await.into_message();
    let id = request["id"].as_str().unwrap().to_owned();
    let expired = app
        .fake()
        .wait_call(
            mark,
            "the request message edited at expiry",
            |c| c.method == "PATCH" && c.path == format!("/channels/{CHANNEL}/messages/{id}"),
            WAIT,
        )
        .await;
    assert!(
        content(&expired.body).contains("**expired at "),
        "{}",
        expired.body
    );
    let buttons = expired.body["components"][0]["components"]
        .as_array()
        .unwrap();
    assert_eq!(buttons.len(), 2);
    assert!(buttons.iter().all(|b| b["disabled"] == true), "{buttons:?}");
    let logged = app.wait_event("run.request_expired").await;
    assert_eq!(logged.data["runbook"], "hasty");

    // A late approval is refused as expired, privately.
    let mark = app.fake().mark();
    let approve = request["components"][0]["components"][0]["custom_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (token, _) = app.press(&bob(), &approve, request).await;
    let refusal = app.followup(mark, &token).await;
    assert!(ephemeral(&refusal.body));
    assert!(
        content(&refusal.body).contains("expired"),
        "{}",
        refusal.body
    );
    app.stop().await;
}

/// Threads through the adapter alone: from a message (the thread takes its id) or standalone,
/// and replies to a message that started a thread land in that thread.
#[tokio::test]
async fn threads_and_replies_through_the_adapter() {
    let fake = FakeDiscord::start();
    let chat = lifeboat::chat::discord::DiscordChat::new(Arc::new(discord::build_http(
        &Secret::new(TOKEN),
        Some(&fake.api_base()),
    )));
    let channel = ChannelId(CHANNEL.to_string());
    let say = |text: &str| Message {
        content: text.into(),
        ..Message::default()
    };
    let alert = chat.post(&channel, &say("Heroku is down")).await.unwrap();
    let other = chat
        .post(&channel, &say("Anthropic is slow"))
        .await
        .unwrap();
    let thread = chat
        .open_thread(&channel, Some(&alert), &"INC-1 ".repeat(30))
        .await
        .unwrap();
    assert_eq!(thread.0, alert.id);
    let standalone = chat.open_thread(&channel, None, "INC-2").await.unwrap();
    assert_ne!(standalone.0, alert.id);
    let calls = fake.calls();
    let named = calls.iter().find(|c| c.path.ends_with("/threads")).unwrap();
    assert_eq!(
        named.body["name"].as_str().unwrap().chars().count(),
        100,
        "thread names are cut to Discord's 100"
    );
    assert_eq!(
        calls.last().unwrap().path,
        format!("/channels/{CHANNEL}/threads")
    );
    assert_eq!(calls.last().unwrap().body["type"], 11, "a public thread");

    let mark = fake.mark();
    let update = chat.reply(&alert, &say("identified")).await.unwrap();
    assert_eq!(update.channel, thread);
    let unthreaded = chat.reply(&other, &say("recovering")).await.unwrap();
    assert_eq!(unthreaded.channel, channel);
    let calls: Vec<Call> = fake.calls().into_iter().skip(mark).collect();
    assert_eq!(calls[0].path, format!("/channels/{}/messages", alert.id));
    assert_eq!(calls[1].path, format!("/channels/{CHANNEL}/messages"));
    assert_eq!(
        calls[1].body["message_reference"]["message_id"],
        other.id.as_str()
    );
}

/// Two requests for one runbook in the same second get different ids, and approvals pressed
/// at the same moment by several approvers start the run exactly once: the others are told
/// the request is already decided, and nothing logs a denial.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_approvals_start_the_run_once_and_request_ids_never_collide() {
    use lifeboat::approval::Person;
    use lifeboat::chat::command::Command;

    let bench = crate::engine::bench().await;
    let runbook = bench.runbook(RUNBOOK);
    let bot = Arc::new(bench.new_bot(vec![runbook]));
    let person = |id: &str, role: &str| Person {
        id: id.into(),
        name: id.into(),
        roles: vec![role.into()],
    };
    let alice = person("alice", "responder");
    let request = || Command::RunbookRun {
        name: "scale-up".into(),
        params: BTreeMap::new(),
    };
    let id_of = |reply: &lifeboat::chat::bot::Reply| {
        reply.message.buttons[0]
            .custom_id
            .strip_prefix("approve:")
            .expect("an Approve button")
            .to_owned()
    };
    let first = id_of(&bot.handle(request(), &alice).await);
    let second = id_of(&bot.handle(request(), &alice).await);
    assert_ne!(first, second, "two requests, two ids");
    for id in [&first, &second] {
        assert!(id.starts_with("REQ-20"), "date and time first: {id}");
        assert!(format!("approve:{id}").len() <= 100, "{id}");
        assert!(bot.pending_request(id).is_some(), "{id} is kept");
    }
    let logged: Vec<String> = bench
        .store
        .all()
        .unwrap()
        .iter()
        .filter(|e| e.kind == "run.requested")
        .map(|e| e.data["request"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(logged, [first.clone(), second.clone()]);

    let approvers = 8;
    let gate = Arc::new(tokio::sync::Barrier::new(approvers));
    let presses: Vec<_> = (0..approvers)
        .map(|n| {
            let (bot, gate, request) = (bot.clone(), gate.clone(), first.clone());
            tokio::spawn(async move {
                let who = person(&format!("approver-{n}"), "approver");
                gate.wait().await;
                bot.handle(Command::Approve { request }, &who).await
            })
        })
        .collect();
    let mut replies = Vec::new();
    for press in presses {
        replies.push(press.await.expect("the press is handled"));
    }
    let started: Vec<_> = replies.iter().filter(|r| !r.ephemeral).collect();
    assert_eq!(started.len(), 1, "{replies:#?}");
    assert!(
        started[0].message.content.contains(": run RUN-"),
        "{:?}",
        started[0]
    );
    for refused in replies.iter().filter(|r| r.ephemeral) {
        assert_eq!(
            refused.message.content, "Refused: this request is already decided.",
            "{refused:?}"
        );
        assert_eq!(refused.settles.as_deref(), Some("already decided"));
    }
    let events = bench.store.all().unwrap();
    let count = |kind: &str| events.iter().filter(|e| e.kind == kind).count();
    assert_eq!(count("run.approved"), 1);
    assert_eq!(count("run.approval_counted"), 1);
    assert_eq!(count("approval.refused"), approvers - 1);
    assert_eq!(count("run.denied"), 0, "no misleading denial");
    assert_eq!(count("run.started"), 1);
}

const ASK_THEN_FAIL: &str = r#"
name = "ask-then-fail"
title = "Ask, try, then scale up"
workstream = "hosting"

[approval]
approvals = 1

[[steps]]
id = "ask"
kind = "confirm"
with = { question = "scale up now?" }

[[steps]]
id = "try"
kind = "command"
on_failure = "pause"
with = { argv = ["false"] }

[[steps]]
id = "scale"
kind = "ecs_scale"
with = { to = "standby" }
"#;

/// A run's buttons pressed through serenity: the `confirm` step's [Confirm], then, once a
/// failing step pauses the run, [Skip] from the paused message's [Resume] [Skip] [Abort]; each
/// press settles its message (buttons disabled, who decided) and the run goes on to the end.
/// The failed step's message gives its duration.
#[tokio::test]
async fn confirm_and_paused_run_buttons_work_through_discord() {
    let app = start_with(ASK_THEN_FAIL).await;
    // An open incident: the run's messages go to its thread, and are pressed there.
    let (_, declared) = app
        .slash(
            &alice(),
            "incident",
            "declare",
            json!([text("title", "Heroku down")]),
        )
        .await;
    assert!(!ephemeral(&declared.body), "{}", declared.body);
    let opened = app.wait_event(lifeboat::ports::chat::THREAD_OPENED).await;
    let thread: u64 = opened.data["thread"].as_str().unwrap().parse().unwrap();
    let press = |custom_id: &str, message: Value| {
        crate::support::discord::in_thread(
            button(GUILD, CHANNEL, &carol(), custom_id, message),
            thread,
            CHANNEL,
        )
    };
    let run = app
        .request_and_approve("ask-then-fail", &alice(), &bob())
        .await;

    // The question, with [Confirm] [Reject]; carol (a responder) confirms.
    let question = app
        .fake()
        .wait_message("SIMULATED — ❓ scale up now?", &run)
        .await;
    assert_eq!(question["channel_id"], thread.to_string(), "in the thread");
    let ids: Vec<&str> = question["components"][0]["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["custom_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            format!("confirm:{run}:ask:yes"),
            format!("confirm:{run}:ask:no")
        ],
        "{question}"
    );
    let (_, callback) = app.interact(press(ids[0], question.clone())).await;
    assert_eq!(callback.body["type"], 7, "{}", callback.body);
    assert!(
        content(&callback.body).ends_with("**confirmed by carol**"),
        "{}",
        callback.body
    );
    let buttons = callback.body["data"]["components"][0]["components"]
        .as_array()
        .unwrap();
    assert_eq!(buttons.len(), 2);
    assert!(buttons.iter().all(|b| b["disabled"] == true), "{buttons:?}");
    let answered = app.wait_event("step.succeeded").await;
    assert_eq!(answered.data["step"], "ask");

    // `try` fails and pauses the run: its failure says how long it took, and the paused
    // message carries [Resume] [Skip] [Abort].
    let failed = app
        .fake()
        .wait_message(&format!("SIMULATED — [{run}]"), "✖ try")
        .await;
    let said = failed["content"].as_str().unwrap();
    assert!(said.contains(" ms, 1 attempt(s)): "), "{said}");
    let paused = app
        .fake()
        .wait_message(&format!("SIMULATED — [{run}]"), "⏸ paused")
        .await;
    assert_eq!(paused["channel_id"], thread.to_string(), "in the thread");
    let ids: Vec<String> = paused["components"][0]["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["custom_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ids,
        ["retry", "skip", "abort"].map(|d| format!("run:{run}:{d}")),
        "{paused}"
    );
    let mark = app.fake().mark();
    let (_, callback) = app.interact(press(&ids[1], paused.clone())).await;
    assert_eq!(callback.body["type"], 7, "{}", callback.body);
    assert!(
        content(&callback.body).ends_with("**Skip chosen by carol**"),
        "{}",
        callback.body
    );
    let buttons = callback.body["data"]["components"][0]["components"]
        .as_array()
        .unwrap();
    assert_eq!(buttons.len(), 3);
    assert!(buttons.iter().all(|b| b["disabled"] == true), "{buttons:?}");
    let skipped = app.wait_event("step.skipped").await;
    assert_eq!(skipped.data["step"], "try");
    assert!(
        skipped.actor.to_string().starts_with("carol ("),
        "{:?}",
        skipped.actor
    );
    let resumed = app.wait_event("run.resumed").await;
    assert_eq!(resumed.data["decision"], "skip");
    app.fake()
        .wait_call(
            mark,
            "the run finishing",
            |c| c.method == "POST" && content(&c.body).contains("🏁 ask-then-fail finished"),
            WAIT,
        )
        .await;
    app.wait_event("run.succeeded").await;

    // A stale press on the paused message: no longer paused, its buttons stay disabled.
    let (_, callback) = app.interact(press(&ids[0], paused)).await;
    assert_eq!(callback.body["type"], 7, "{}", callback.body);
    assert!(
        content(&callback.body).ends_with("**no longer paused**"),
        "{}",
        callback.body
    );
    app.stop().await;
}

const FAIL_THEN_SCALE: &str = r#"
name = "fail-then-scale"
title = "Try, then scale up"
workstream = "hosting"

[approval]
approvals = 1

[[steps]]
id = "try"
kind = "command"
on_failure = "pause"
with = { argv = ["false"] }

[[steps]]
id = "scale"
kind = "ecs_scale"
with = { to = "standby" }
"#;

/// `/runbook plan|status|resume|cancel` through serenity: the plan privately (deferred
/// first), the paused run in the status, a resume that retries (and pauses again), and a
/// cancel that ends the paused run; each in the log.
#[tokio::test]
async fn runbook_plan_status_resume_and_cancel_through_discord() {
    let app = start_with(FAIL_THEN_SCALE).await;
    let ask = |sub: &str, options: Value| slash(GUILD, CHANNEL, &alice(), "runbook", sub, options);

    let mark = app.fake().mark();
    let (token, callback) = app
        .interact(ask("plan", json!([text("name", "fail-then-scale")])))
        .await;
    assert_eq!(callback.body["type"], 5, "a plan is deferred");
    let plan = app.followup(mark, &token).await;
    assert!(ephemeral(&plan.body), "{}", plan.body);
    let said = content(&plan.body);
    assert!(said.starts_with("Plan for fail-then-scale"), "{said}");
    assert!(said.contains("on failure: pause"), "{said}");

    let run = app
        .request_and_approve("fail-then-scale", &alice(), &bob())
        .await;
    app.wait_event("run.paused").await;

    let (_, status) = app.interact(ask("status", json!([]))).await;
    assert_eq!(status.body["type"], 4);
    assert!(ephemeral(&status.body), "{}", status.body);
    let said = content(&status.body);
    assert!(
        said.contains(&format!(
            "run {run} (fail-then-scale): 0 steps done, PAUSED at try"
        )),
        "{said}"
    );

    let (_, resumed) = app
        .interact(ask(
            "resume",
            json!([text("run", &run), text("decision", "retry")]),
        ))
        .await;
    assert!(ephemeral(&resumed.body), "{}", resumed.body);
    assert_eq!(content(&resumed.body), format!("{run}: Retry sent"));
    let resumed = app.wait_event("run.resumed").await;
    assert_eq!(resumed.data["decision"], "retry");
    assert!(resumed.actor.to_string().starts_with("alice ("));
    // The retry fails again: paused a second time.
    app.wait_events("run.paused", 2).await;

    let (_, cancelled) = app
        .interact(ask("cancel", json!([text("run", &run)])))
        .await;
    assert!(ephemeral(&cancelled.body), "{}", cancelled.body);
    assert_eq!(
        content(&cancelled.body),
        format!("{run} will stop after its current step")
    );
    app.wait_event("run.cancel_requested").await;
    let aborted = app.wait_event("run.aborted").await;
    assert_eq!(aborted.data["step"], "try");
    assert!(
        aborted.actor.to_string().starts_with("alice ("),
        "{:?}",
        aborted.actor
    );
    assert!(
        !app.store
            .all()
            .unwrap()
            .iter()
            .any(|e| e.kind == "step.succeeded"),
        "the cancelled run scaled nothing"
    );

    // Once it ended: nothing active, and deciding it again is refused.
    tokio::time::timeout(WAIT, async {
        loop {
            let (_, status) = app.interact(ask("status", json!([]))).await;
            if content(&status.body).contains("runs: none active") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the run ends");
    let (_, again) = app
        .interact(ask("resume", json!([text("run", &run)])))
        .await;
    assert!(ephemeral(&again.body), "{}", again.body);
    assert!(content(&again.body).contains(&run), "{}", again.body);
    app.stop().await;
}

const THREAD: u64 = 100_000_000_000_000_077;
const ELSEWHERE: u64 = 100_000_000_000_000_003;

/// State-changing commands are taken in a thread under the incident channel (the
/// interaction's channel carries its parent), refused elsewhere with `command.refused`
/// logged, and `/incident resolve` (which calls PagerDuty) is deferred before its answer.
#[tokio::test]
async fn commands_in_incident_threads_are_taken_and_elsewhere_refused_and_logged() {
    let app = start().await;
    let (_, declared) = app
        .slash(
            &alice(),
            "incident",
            "declare",
            json!([text("title", "Heroku down")]),
        )
        .await;
    assert!(!ephemeral(&declared.body), "{}", declared.body);
    app.wait_event(lifeboat::ports::chat::THREAD_OPENED).await;

    let note = |channel: u64, text_: &str| {
        slash(
            GUILD,
            channel,
            &alice(),
            "incident",
            "note",
            json!([text("text", text_)]),
        )
    };
    let (_, noted) = app
        .interact(crate::support::discord::in_thread(
            note(CHANNEL, "from the thread"),
            THREAD,
            CHANNEL,
        ))
        .await;
    assert!(ephemeral(&noted.body), "{}", noted.body);
    assert!(
        content(&noted.body).starts_with("note added to INC-"),
        "{}",
        noted.body
    );
    let added = app.wait_event("note.added").await;
    assert_eq!(added.data["text"], "from the thread");

    // Another channel, and a thread under another channel: refused privately, and logged.
    for payload in [
        note(ELSEWHERE, "from elsewhere"),
        crate::support::discord::in_thread(note(ELSEWHERE, "from elsewhere"), THREAD, ELSEWHERE),
    ] {
        let (_, refused) = app.interact(payload).await;
        assert!(ephemeral(&refused.body), "{}", refused.body);
        assert!(
            content(&refused.body).starts_with("Refused: `/incident note` changes state"),
            "{}",
            refused.body
        );
    }
    let refusals = app.wait_events("command.refused", 2).await;
    for refusal in &refusals {
        assert_eq!(refusal.data["command"], "incident note");
        assert_eq!(refusal.data["needs"], "the incident channel");
        assert!(refusal.actor.to_string().starts_with("alice ("));
    }
    let notes = app
        .store
        .all()
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "note.added")
        .count();
    assert_eq!(notes, 1, "refused notes are not added");

    // `/incident resolve` from the thread: deferred, then answered publicly.
    let mark = app.fake().mark();
    let (token, callback) = app
        .interact(crate::support::discord::in_thread(
            slash(GUILD, CHANNEL, &alice(), "incident", "resolve", json!([])),
            THREAD,
            CHANNEL,
        ))
        .await;
    assert_eq!(callback.body["type"], 5, "a resolution is deferred");
    let answer = app
        .fake()
        .edited_original(mark, &token, "the resolution")
        .await;
    assert!(
        content(&answer.body).contains("resolved"),
        "{}",
        answer.body
    );
    app.wait_event("incident.resolved").await;
    app.stop().await;
}

/// A request's [Approve] still works after a restart: a new bot over the same log, on a new
/// serenity client, finds the pending request and starts the run.
#[tokio::test]
async fn an_approve_button_works_after_a_restart() {
    let mut app = start().await;
    let request = app.request_run("scale-up", &alice()).await;
    app.restart().await;
    let run = app.approve_run(request, &bob()).await;
    assert!(run.starts_with("RUN-"), "{run}");
    let succeeded = app.wait_event("run.succeeded").await;
    assert_eq!(succeeded.run.map(|r| r.to_string()), Some(run));
    app.stop().await;
}

/// The whole flow from a real alert: the feed watcher polls a local Statuspage server (a
/// real capture of a major outage) and posts its alert through the Discord adapter; alice
/// declares from the alert's button, the thread starts from the alert, bob approves the
/// proposed runbook, and the run's progress lands in the thread.
#[tokio::test]
async fn an_alert_from_the_feed_watcher_leads_to_an_approved_run_in_the_thread() {
    let status = crate::support::http::HttpServer::start();
    status.reply(
        "/api/v2/summary.json",
        crate::support::http::Reply::json(crate::support::capture(
            "github_statuspage_summary_major_outage_2020.json",
        )),
    );
    let feed = status.url("/api/v2/summary.json");
    // The watcher runs in the app, as in `lifeboat run`, posting through the Discord adapter.
    let app = spawn_app(
        config()
            .set("watch.debounce", 1)
            .set("watch.jitter", 0.0)
            .push(
                "providers",
                json!({ "name": "github", "title": "GitHub", "workstream": "hosting", "runbook": "scale-up" }),
            )
            .feed("github-status", "github", "statuspage", &feed, "30s")
            .runbook(RUNBOOK),
    )
    .discord()
    .watcher()
    .patience(WAIT)
    .start()
    .await;

    let posted = app.wait_event("alert.posted").await;
    assert_eq!(posted.data["provider"], "github");
    let alert_id = posted.data["alert_id"].as_str().unwrap().to_owned();
    let message_id = posted.data["message"]["id"].as_str().unwrap().to_owned();
    let alert = app.fake().message(&message_id).expect("the alert message");
    assert_eq!(alert["channel_id"], CHANNEL.to_string());
    let buttons: Vec<&str> = alert["components"][0]["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["custom_id"].as_str().unwrap())
        .collect();
    assert_eq!(buttons[0], format!("declare:{alert_id}"), "{alert}");
    assert!(
        buttons.iter().any(|b| b.starts_with("plan:scale-up")),
        "the provider's runbook is proposed: {buttons:?}"
    );

    let (_, declared) = app.press(&alice(), buttons[0], alert.clone()).await;
    assert!(
        content(&declared.body).contains("declared by alice"),
        "{}",
        declared.body
    );
    let opened = app.wait_event(lifeboat::ports::chat::THREAD_OPENED).await;
    assert_eq!(
        opened.data["thread"],
        message_id.as_str(),
        "started from the alert"
    );
    let incident = app.wait_event("incident.declared").await;
    assert_eq!(incident.data["alert"], alert_id.as_str());
    assert_eq!(incident.data["providers"], json!(["github"]));

    let mark = app.fake().mark();
    let run = app.request_and_approve("scale-up", &alice(), &bob()).await;
    let in_thread = format!("/channels/{message_id}/messages");
    app.fake()
        .wait_call(
            mark,
            "the run finishing in the thread",
            |c| {
                c.method == "POST"
                    && c.path == in_thread
                    && content(&c.body)
                        .trim_start_matches("SIMULATED — ")
                        .starts_with(&format!("[{run}] 🏁"))
            },
            WAIT,
        )
        .await;
    assert!(status.hits("/api/v2/summary.json") >= 1);
    // Stopping the app stops the watcher, within the app's patience.
    app.stop().await;
}
