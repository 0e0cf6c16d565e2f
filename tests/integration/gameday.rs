//! Game days through the fake Discord, played by several people on the shipped config and
//! runbooks: `/drill start mode:gameday` puts a DRILL alert in the incident channel; the people
//! declare from it, request and approve the runbook, answer its question and approve the
//! client draft, and the debrief posted in the game day's thread gives the phase times the
//! drill's log gives. Also a game day nobody approves (it times out and names the stalled
//! phase), self-approval refused as in production, and `/drill stop`. The live log only ever
//! gets `drill.requested`.

use std::path::PathBuf;
use std::time::Duration;

use lifeboat::domain::event::Event;
use lifeboat::drill::gameday::{Phase, played};
use lifeboat::ports::store::EventStore;
use lifeboat::store::SledStore;
use serde_json::{Value, json};

use crate::support::discord::{
    APPROVER, CHANNEL, COMMUNICATOR, Call, GUILD, Member, RESPONDER, button, content, custom_ids,
    ephemeral, in_thread, slash, text,
};
use crate::support::{App, TestConfig, spawn_app};

const WAIT: Duration = Duration::from_secs(20);

fn alice() -> Member {
    Member::new(300_000_000_000_000_001, "alice", &[RESPONDER])
}
fn bob() -> Member {
    Member::new(300_000_000_000_000_002, "bob", &[APPROVER])
}
fn carol() -> Member {
    Member::new(300_000_000_000_000_003, "carol", &[COMMUNICATOR])
}
/// A responder who is an approver too: the two-person rule still refuses his own request.
fn dave() -> Member {
    Member::new(300_000_000_000_000_004, "dave", &[RESPONDER, APPROVER])
}

async fn app(timeout: &str) -> App {
    spawn_app(TestConfig::shipped().set("drill.gameday_timeout", timeout))
        .discord()
        .patience(WAIT)
        .start()
        .await
}

/// `who` types `/command sub options` in the thread `thread` under the incident channel.
async fn in_the_thread(
    app: &App,
    thread: u64,
    who: &Member,
    command: &str,
    sub: &str,
    options: Value,
) -> (String, Call) {
    app.interact(in_thread(
        slash(GUILD, thread, who, command, sub, options),
        thread,
        CHANNEL,
    ))
    .await
}

/// `who` presses the button `id` of `message`, in the thread or the channel it is in.
async fn press(app: &App, who: &Member, id: &str, message: Value) -> (String, Call) {
    let channel: u64 = message["channel_id"].as_str().unwrap().parse().unwrap();
    let payload = button(GUILD, channel, who, id, message);
    let payload = if channel == CHANNEL {
        payload
    } else {
        in_thread(payload, channel, CHANNEL)
    };
    app.interact(payload).await
}

/// The first button of `message` whose id starts with `prefix`.
fn button_id(message: &Value, prefix: &str) -> Option<String> {
    custom_ids(message)
        .into_iter()
        .find(|id| id.starts_with(prefix))
}

/// Waits for the bot's first message with a button whose id starts with `prefix`.
async fn message_with_button(app: &App, prefix: &str) -> (Value, String) {
    let found = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(m) = app.fake().find_message(|m| button_id(m, prefix).is_some()) {
                let id = button_id(&m, prefix).unwrap();
                return (m, id);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("no message with a `{prefix}` button"))
}

/// `/drill start scenario:heroku-outage mode:gameday` by alice; the DRILL alert it puts in
/// the incident channel.
async fn start_gameday(app: &App) -> (Value, String) {
    let (_, started) = app
        .slash(
            &alice(),
            "drill",
            "start",
            json!([text("scenario", "heroku-outage"), text("mode", "gameday")]),
        )
        .await;
    let said = content(&started.body);
    assert!(!ephemeral(&started.body), "{said}");
    assert!(
        said.contains("DRILL game day heroku-outage started by alice"),
        "{said}"
    );
    let (alert, declare) = message_with_button(app, "declare:").await;
    assert!(
        content(&alert).starts_with("[DRILL]"),
        "the alert is marked: {alert}"
    );
    assert_eq!(alert["channel_id"], CHANNEL.to_string());
    (alert, declare)
}

/// Alice declares from the DRILL alert; the game day's thread.
async fn declare(app: &App, alert: Value, id: &str) -> u64 {
    let (_, declared) = press(app, &alice(), id, alert).await;
    assert!(
        content(&declared.body).contains("declared"),
        "{}",
        declared.body
    );
    tokio::time::timeout(WAIT, async {
        loop {
            if let Some((thread, _, _)) = app.fake().threads().first() {
                return *thread;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the game day's thread")
}

/// `who` requests failover-hosting in the thread; the request message with its buttons.
async fn request(app: &App, thread: u64, who: &Member) -> Value {
    let mark = app.fake().mark();
    let (token, _) = in_the_thread(
        app,
        thread,
        who,
        "runbook",
        "run",
        json!([text("name", "failover-hosting")]),
    )
    .await;
    app.fake()
        .edited_original(mark, &token, "the request message")
        .await;
    app.fake().original(&token).expect("the request message")
}

/// `who` presses [Approve] on the request; what the bot said back.
async fn approve(app: &App, who: &Member, request: &Value) -> String {
    let id = button_id(request, "approve:").expect("an Approve button");
    let mut message = request.clone();
    // The original response lives in the thread it was given in.
    if message["channel_id"].is_null() {
        message["channel_id"] = json!(CHANNEL.to_string());
    }
    let mark = app.fake().mark();
    let (token, _) = press(app, who, &id, message).await;
    content(&app.fake().followup(mark, &token).await.body)
}

/// The debrief posted in `channel` (the game day's thread) with the post-mortem attached.
async fn debrief(app: &App, since: usize, channel: u64) -> Call {
    app.fake()
        .wait_call(
            since,
            "the game day's debrief",
            |c| {
                c.method == "POST"
                    && c.path == format!("/channels/{channel}/messages")
                    && content(&c.body).contains("debrief")
            },
            WAIT,
        )
        .await
}

/// The game day's own log (`<data_dir>/drill-*`), once it let go of it.
async fn drill_log(app: &App) -> Vec<Event> {
    let dir: PathBuf = app
        .store
        .all()
        .unwrap()
        .iter()
        .find(|e| e.kind == "drill.requested")
        .map(|e| e.data["log"].as_str().unwrap().into())
        .expect("drill.requested in the live log");
    tokio::time::timeout(WAIT, async {
        loop {
            if let Ok(store) = SledStore::open(&dir) {
                return store.all().unwrap();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the game day's log is let go when it ends")
}

/// The line of `text` starting (after spaces) with `label`.
fn line<'a>(text: &'a str, label: &str) -> &'a str {
    text.lines()
        .find(|l| l.trim_start().starts_with(label))
        .unwrap_or_else(|| panic!("no `{label}` line in\n{text}"))
}

#[tokio::test]
async fn a_game_day_played_to_the_end_by_people_reports_the_phase_times_of_its_log() {
    let app = app("2m").await;
    let (alert, declare_id) = start_gameday(&app).await;
    let thread = declare(&app, alert, &declare_id).await;

    let request = request(&app, thread, &alice()).await;
    assert!(content(&request).starts_with("[DRILL]"), "{request}");
    let said = approve(&app, &bob(), &request).await;
    assert!(said.contains("bob approved"), "{said}");

    // The runbook's question, answered by a person (no stand-in answers in a game day).
    let (question, yes) = message_with_button(&app, "confirm:").await;
    let yes = yes.replace(":no", ":yes");
    assert!(yes.ends_with(":yes"), "{yes}");
    press(&app, &alice(), &yes, question).await;

    // The client draft, approved by the communicator.
    let (draft, approve_draft) = message_with_button(&app, "comms:approve:").await;
    let since = app.fake().mark();
    press(&app, &carol(), &approve_draft, draft).await;

    let posted = debrief(&app, since, thread).await;
    let said = content(&posted.body);
    assert!(
        said.contains("DRILL game day heroku-outage: debrief (finished"),
        "{said}"
    );
    assert!(!said.contains("Stalled"), "{said}");
    assert!(
        said.contains("failover-hosting (succeeded): time to recovery"),
        "{said}"
    );
    assert!(said.contains("RTO 4h: met"), "{said}");
    assert!(
        said.contains("alice: declared the incident; requested failover-hosting"),
        "{said}"
    );
    assert!(said.contains("bob: approved REQ-"), "{said}");
    assert!(said.contains("carol: approved the draft"), "{said}");
    let file = &posted.files[0];
    assert!(file.filename.starts_with("drill-INC-"), "{}", file.filename);
    let markdown = String::from_utf8_lossy(&file.bytes);
    assert!(
        markdown.starts_with("> **DRILL** (game day heroku-outage)"),
        "{markdown}"
    );

    // The phase times the debrief shows are the ones read back from the drill's log.
    let log = drill_log(&app).await;
    let played = played(&log);
    assert_eq!(played.stalled(), None, "{played:#?}");
    for phase in Phase::ALL {
        let t = played.phase(phase);
        let took = lifeboat::duration::format_elapsed(t.took().expect("every phase done"));
        let shown = line(&said, phase.label());
        assert!(shown.contains(&took), "{phase:?}: `{took}` in `{shown}`");
        if let Some(by) = &t.by {
            assert!(shown.ends_with(&format!("by {by}")), "{shown}");
        }
    }
    let gameday = |e: &&Event| e.data["mode"] == "gameday";
    assert!(
        log.iter()
            .filter(|e| e.kind == "drill.started")
            .any(|e| gameday(&e))
    );
    let ended = log
        .iter()
        .find(|e| e.kind == "drill.ended")
        .expect("drill.ended");
    assert_eq!(ended.data["reason"], "finished");
    let finished = log
        .iter()
        .find(|e| e.kind == "drill.finished")
        .expect("drill.finished");
    assert_eq!(finished.data["mode"], "gameday");
    assert_eq!(finished.data["results"][0]["status"], "succeeded");
    assert!(
        log.iter().any(|e| e.kind == "drill.marked"),
        "the incident is a drill's"
    );
    // The training record: each person who took part, in the role they played.
    let trained: Vec<(String, String)> = log
        .iter()
        .filter(|e| e.kind == "training.recorded")
        .map(|e| {
            (
                e.data["person_name"].as_str().unwrap().to_owned(),
                e.data["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for (who, role) in [
        ("alice", "responder"),
        ("bob", "approver"),
        ("carol", "communicator"),
    ] {
        assert!(
            trained.contains(&(who.to_owned(), role.to_owned())),
            "{who} as {role} in {trained:?}"
        );
    }
    assert!(
        !trained.iter().any(|(who, _)| who == "dave"),
        "dave took no part: {trained:?}"
    );
    let live = app.store.all().unwrap();
    assert!(
        !live
            .iter()
            .any(|e| e.kind.starts_with("incident.") || e.kind.starts_with("run.")),
        "nothing of the game day reaches the live log: {:?}",
        live.iter().map(|e| &e.kind).collect::<Vec<_>>()
    );
    app.stop().await;
}

#[tokio::test]
async fn self_approval_is_refused_in_a_game_day_and_drill_stop_ends_it_with_a_debrief() {
    let app = app("2m").await;
    let (alert, declare_id) = start_gameday(&app).await;
    let thread = declare(&app, alert, &declare_id).await;
    let request = request(&app, thread, &dave()).await;
    let said = approve(&app, &dave(), &request).await;
    assert!(
        said.contains("a second person must approve it (two-person rule)"),
        "{said}"
    );

    let since = app.fake().mark();
    let (_, stopped) = in_the_thread(&app, thread, &alice(), "drill", "stop", json!([])).await;
    assert!(
        content(&stopped.body).contains("game day stopped by alice"),
        "{}",
        stopped.body
    );
    let posted = debrief(&app, since, thread).await;
    let said = content(&posted.body);
    assert!(said.contains("debrief (stopped by alice after"), "{said}");
    assert!(
        said.contains("Stalled at: requested → approved (nobody approved the run request"),
        "{said}"
    );
    assert!(
        said.contains(
            "dave: requested failover-hosting; was refused approving (you requested this run"
        ),
        "{said}"
    );

    let log = drill_log(&app).await;
    let refused = log
        .iter()
        .find(|e| e.kind == "approval.refused")
        .expect("approval.refused");
    assert_eq!(refused.actor.to_string(), format!("dave ({})", dave().id));
    let ended = log
        .iter()
        .find(|e| e.kind == "drill.ended")
        .expect("drill.ended");
    assert_eq!(ended.data["reason"], "stopped");
    assert_eq!(ended.data["stalled"], "requested → approved");
    assert!(!log.iter().any(|e| e.kind == "run.started"));
    assert!(
        !log.iter().any(|e| e.kind == "drill.finished"),
        "a stopped game day is no finished drill"
    );
    // A new drill may start once it ended.
    let (_, again) = app.slash(&alice(), "drill", "stop", json!([])).await;
    assert!(
        content(&again.body).contains("no game day is running"),
        "{}",
        again.body
    );
    app.stop().await;
}

#[tokio::test]
async fn a_game_day_nobody_approves_times_out_naming_the_stalled_phase() {
    let app = app("4s").await;
    let (alert, declare_id) = start_gameday(&app).await;
    let thread = declare(&app, alert, &declare_id).await;
    let since = app.fake().mark();
    request(&app, thread, &alice()).await;

    let posted = debrief(&app, since, thread).await;
    let said = content(&posted.body);
    assert!(said.contains("debrief (timed out after"), "{said}");
    assert!(said.contains("Stalled at: requested → approved"), "{said}");
    assert!(
        line(&said, "run → verified").contains("not reached"),
        "{said}"
    );
    let log = drill_log(&app).await;
    let ended = log
        .iter()
        .find(|e| e.kind == "drill.ended")
        .expect("drill.ended");
    assert_eq!(ended.data["reason"], "timed_out");
    assert_eq!(ended.data["stalled"], "requested → approved");
    app.stop().await;
}
