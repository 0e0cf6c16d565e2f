//! The training record (issue 15 item 3) through the real parts: game-day logs kept as
//! `drill-*` sled logs beside the live one (their `training.recorded` events made by
//! `training::records_of` from the game day's own events, as a game day does at its end),
//! `lifeboat training` and `lifeboat readiness` as an operator runs them, `/dr training`
//! through serenity and the fake Discord (members read over its REST guild-members route), and
//! the scheduler's training reminder naming only the people due.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use lifeboat::domain::event::{Event, GENESIS, NewEvent};
use lifeboat::domain::{Actor, IncidentId};
use lifeboat::ports::clock::TokioClock;
use lifeboat::service::scheduler::Scheduler;
use lifeboat::store::SledStore;

use crate::support::discord::{APPROVER, COMMUNICATOR, GUILD, Member, RESPONDER, content};
use crate::support::{TestConfig, lifeboat, spawn_app, stderr, stdout};

fn user(id: &str, name: &str) -> Actor {
    Actor::User {
        id: id.into(),
        name: name.into(),
    }
}

fn person(id: &str, name: &str, role: &str) -> Value {
    json!({ "id": id, "name": name, "roles": [role] })
}

/// What a game day's log says people did: `declarer` declared and requested the run,
/// `approver` approved it, `communicator` (when given) approved the client draft.
fn game_day_events(
    declarer: (&str, &str),
    approver: (&str, &str),
    communicator: Option<(&str, &str)>,
) -> Vec<NewEvent> {
    let (did, dname) = declarer;
    let (aid, aname) = approver;
    let mut events = vec![
        NewEvent::new(
            Actor::Scheduler,
            "drill.started",
            json!({ "providers": ["heroku"], "mode": "gameday" }),
        ),
        NewEvent::new(Actor::Scheduler, "drill.marked", json!({ "drill": true })),
        NewEvent::new(
            user(did, dname),
            "incident.declared",
            json!({ "title": "[DRILL] Heroku down", "commander": dname }),
        ),
        NewEvent::new(
            user(did, dname),
            "run.requested",
            json!({ "request": "REQ-1", "runbook": "failover-hosting", "detail": {
                "id": "REQ-1", "runbook": "failover-hosting", "params": {}, "plan_hash": "h",
                "requester": person(did, dname, "responder"),
                "requested_at": "2026-12-05T10:00:00Z", "expires_at": "2026-12-05T10:15:00Z",
                "required": 1, "requester_may_approve": false } }),
        ),
        NewEvent::new(
            user(aid, aname),
            "run.approval_counted",
            json!({ "request": "REQ-1", "by": person(aid, aname, "approver") }),
        ),
    ];
    if let Some((cid, cname)) = communicator {
        events.push(NewEvent::new(
            user(cid, cname),
            "comms.approved",
            json!({ "draft": "D-1", "version": 1, "text": "We are failing over." }),
        ));
    }
    events
        .into_iter()
        .map(|e| e.incident(IncidentId("INC-GAMEDAY".into())))
        .collect()
}

/// A game day's log at `<data_dir>/drill-<name>`, played at `at`: its events, then the
/// training records `records_of` derives from them, as the game day appends them at its end.
/// Played now, it goes through the store's append; played earlier, its events are sealed at
/// that time and imported (the store's restore path), so their `at` is that time.
fn game_day(data_dir: &Path, name: &str, at: Option<DateTime<Utc>>, events: Vec<NewEvent>) {
    let store = SledStore::open(&data_dir.join(format!("drill-{name}"))).unwrap();
    match at {
        None => {
            use lifeboat::ports::store::EventStore;
            store.append_batch(events).unwrap();
            let records: Vec<NewEvent> = lifeboat::training::records_of(&store.all().unwrap())
                .into_iter()
                .map(|r| {
                    let incident = IncidentId(r.incident.clone().unwrap());
                    NewEvent::of(Actor::Scheduler, r).incident(incident)
                })
                .collect();
            assert!(!records.is_empty());
            store.append_batch(records).unwrap();
        }
        Some(at) => {
            let mut prev = GENESIS.to_owned();
            let mut seal = |new: NewEvent, sealed: &mut Vec<Event>| {
                let event = Event::seal(new, sealed.len() as u64 + 1, at, &prev);
                prev = event.hash.clone();
                sealed.push(event);
            };
            let mut sealed = Vec::new();
            for new in events {
                seal(new, &mut sealed);
            }
            for record in lifeboat::training::records_of(&sealed) {
                let incident = IncidentId(record.incident.clone().unwrap());
                seal(
                    NewEvent::of(Actor::Scheduler, record).incident(incident),
                    &mut sealed,
                );
            }
            store.import(&sealed).unwrap();
        }
    }
}

fn days_ago(days: i64) -> Option<DateTime<Utc>> {
    Some(Utc::now() - Duration::days(days))
}

/// Runs `lifeboat ARGS --config CONFIG --data-dir DATA` in `dir`.
fn run(dir: &Path, args: &[&str]) -> std::process::Output {
    let config = dir.join("lifeboat.toml");
    let data = dir.join("data");
    let mut all: Vec<&str> = args.to_vec();
    all.extend([
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    lifeboat(dir, &all, &[])
}

#[test]
fn the_cli_lists_participants_and_untrained_role_holders_and_readiness_follows_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    TestConfig::minimal()
        .set("schedule.training_every", "182d")
        .push(
            "access.roster",
            json!({ "id": "u-cid", "name": "cid", "roles": ["communicator"] }),
        )
        .push(
            "access.roster",
            json!({ "id": "u-ben", "name": "ben", "roles": ["approver"] }),
        )
        .write(dir.path());
    // ben approved in a game day 200 days ago; ann declared in that one and in one 10 days
    // ago, where dan (in no roster) approved. cid never took part.
    game_day(
        &data,
        "old",
        days_ago(200),
        game_day_events(("u-ann", "ann"), ("u-ben", "ben"), None),
    );
    game_day(
        &data,
        "recent",
        days_ago(10),
        game_day_events(("u-ann", "ann"), ("u-dan", "dan"), None),
    );

    let out = run(dir.path(), &["training"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let listing = stdout(&out);
    let line = |who: &str| {
        listing
            .lines()
            .find(|l| l.starts_with(who))
            .unwrap_or_else(|| panic!("no line for {who}:\n{listing}"))
            .to_owned()
    };
    let recent = (Utc::now() - Duration::days(10))
        .format("%Y-%m-%d")
        .to_string();
    let old = (Utc::now() - Duration::days(200))
        .format("%Y-%m-%d")
        .to_string();
    assert!(
        listing.starts_with("Training record at ") && listing.contains("(a game day every 182d)"),
        "{listing}"
    );
    assert!(
        line("ann (u-ann)").contains(&format!(
            "last game day: {recent} heroku-outage as responder, commander  ok"
        )),
        "{listing}"
    );
    assert!(
        line("ben (u-ben)").contains("approver")
            && line("ben (u-ben)").contains(&format!(
                "last game day: {old} heroku-outage as approver  OVERDUE"
            )),
        "{listing}"
    );
    assert!(
        line("cid (u-cid)").contains("communicator")
            && line("cid (u-cid)").ends_with("last game day: never  NOT TRAINED"),
        "the untrained role holder: {listing}"
    );
    assert!(
        line("dan (u-dan)").ends_with("as approver  ok"),
        "{listing}"
    );
    assert!(
        listing
            .contains("People: Discord not connected; [[access.roster]] (2); the training records"),
        "{listing}"
    );

    // readiness fails on the overdue and the never-trained, naming them.
    let out = run(dir.path(), &["readiness"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = stdout(&out);
    let training = report
        .lines()
        .find(|l| l.contains(" training: "))
        .unwrap_or_else(|| panic!("no training line:\n{report}"));
    assert_eq!(
        training,
        format!(
            "FAIL  training: never trained: cid; overdue (a game day every 182d): ben (last {old}, 200 days ago)"
        )
    );

    // A game day today with ben approving and cid on the client draft: everyone is current.
    game_day(
        &data,
        "today",
        None,
        game_day_events(("u-ann", "ann"), ("u-ben", "ben"), Some(("u-cid", "cid"))),
    );
    let out = run(dir.path(), &["readiness"]);
    let report = stdout(&out);
    assert!(
        report
            .lines()
            .any(|l| l == "ok    training: all 4 people took part in a game day within 182d"),
        "{report}"
    );
    let out = run(dir.path(), &["training"]);
    let listing = stdout(&out);
    assert!(
        !listing.contains("OVERDUE") && !listing.contains("NOT TRAINED"),
        "{listing}"
    );
}

fn alice() -> Member {
    Member::new(300_000_000_000_000_001, "alice", &[RESPONDER])
}
fn bob() -> Member {
    Member::new(300_000_000_000_000_002, "bob", &[APPROVER])
}
fn carol() -> Member {
    Member::new(300_000_000_000_000_003, "carol", &[COMMUNICATOR])
}
fn eve() -> Member {
    Member::new(300_000_000_000_000_005, "eve", &[])
}

/// The fake Discord's guild: alice (responder) took part in a game day 10 days ago, bob
/// (approver) 300 days ago, carol (communicator) never; eve holds no role.
fn guild_with_game_days(data_dir: &Path) {
    let id = |m: &Member| m.id.to_string();
    game_day(
        data_dir,
        "old",
        days_ago(300),
        game_day_events(("u-x", "xavier"), (&id(&bob()), "bob"), None),
    );
    game_day(
        data_dir,
        "recent",
        days_ago(10),
        game_day_events((&id(&alice()), "alice"), ("u-x", "xavier"), None),
    );
}

fn config() -> TestConfig {
    TestConfig::minimal()
        .set("schedule.training_every", "182d")
        .set("access.communicators", [COMMUNICATOR.to_string()])
}

#[tokio::test]
async fn dr_training_lists_the_discord_role_holders_with_their_last_game_day() {
    let app = spawn_app(config()).discord().start().await;
    app.fake()
        .set_members(GUILD, &[alice(), bob(), carol(), eve()]);
    guild_with_game_days(&app.config.store.data_dir);

    let mark = app.fake().mark();
    let (token, callback) = app.slash(&eve(), "dr", "training", json!([])).await;
    assert_eq!(
        callback.body["type"], 5,
        "read-only, but slow: {}",
        callback.body
    );
    let answer = app.followup(mark, &token).await;
    let said = content(&answer.body);
    let recent = (Utc::now() - Duration::days(10))
        .format("%Y-%m-%d")
        .to_string();
    let old = (Utc::now() - Duration::days(300))
        .format("%Y-%m-%d")
        .to_string();
    for expected in [
        "alice (300000000000000001)   responder".to_owned(),
        format!("last game day: {recent} heroku-outage as responder, commander  ok"),
        "bob (300000000000000002)     approver".to_owned(),
        format!("last game day: {old} heroku-outage as approver  OVERDUE"),
        "carol (300000000000000003)   communicator                       last game day: never  NOT TRAINED".to_owned(),
        "xavier (u-x)                 no role known".to_owned(),
        "(holds no role now)".to_owned(),
        "People: the Discord members holding an [access] role (4 members read)".to_owned(),
    ] {
        assert!(said.contains(&expected), "{expected:?} in:\n{said}");
    }
    assert!(!said.contains("eve ("), "eve holds no role: {said}");
    assert!(
        app.fake()
            .calls()
            .iter()
            .any(|c| c.method == "GET" && c.path == format!("/guilds/{GUILD}/members")),
        "members are read over the REST route"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_training_reminder_names_and_pings_only_the_people_due() {
    let app = spawn_app(config()).discord().start().await;
    app.fake()
        .set_members(GUILD, &[alice(), bob(), carol(), eve()]);
    guild_with_game_days(&app.config.store.data_dir);
    let members = {
        let http = lifeboat::chat::discord::build_http(
            &lifeboat::config::Secret::new(crate::support::app::TOKEN),
            Some(&app.fake().api_base()),
        );
        let members: Arc<dyn lifeboat::ports::members::Members> = Arc::new(
            lifeboat::chat::discord::DiscordMembers::new(Arc::new(http), GUILD),
        );
        members
    };
    let scheduler = Scheduler::new(
        app.engine.env().clone(),
        app.runbooks.clone(),
        app.store.clone(),
        Arc::new(TokioClock::new()),
    )
    .unwrap()
    .with_members(Some(members));
    let mark = app.fake().mark();
    scheduler.tick().await;

    let posted = app
        .fake()
        .wait_call(
            mark,
            "the training reminder",
            |c| c.method == "POST" && content(&c.body).contains("DR training due"),
            std::time::Duration::from_secs(10),
        )
        .await
        .body;
    let said = content(&posted);
    assert!(
        said.contains("<@300000000000000002> (bob): last game day"),
        "{said}"
    );
    assert!(
        said.contains("<@300000000000000003> (carol): never took part in a game day"),
        "{said}"
    );
    assert!(
        !said.contains("(alice)") && !said.contains("(eve)"),
        "{said}"
    );
    let mentions = &posted["allowed_mentions"];
    assert_eq!(
        mentions["users"],
        json!(["300000000000000002", "300000000000000003"]),
        "only the people concerned are pinged: {posted}"
    );
    assert_eq!(mentions["roles"], json!([]));

    let training = |events: &[lifeboat::domain::event::Event]| -> Vec<Value> {
        events
            .iter()
            .filter(|e| e.kind == "reminder.posted" && e.data["reminder"] == "training")
            .map(|e| e.data.clone())
            .collect()
    };
    let logged = app
        .wait_for_event("the training reminder logged", |events| {
            training(events).into_iter().next()
        })
        .await;
    assert_eq!(
        logged["people"],
        json!(["300000000000000002", "300000000000000003"])
    );

    // Once per period: another pass (a new scheduler: no hourly throttle) posts nothing more.
    let again = Scheduler::new(
        app.engine.env().clone(),
        app.runbooks.clone(),
        app.store.clone(),
        Arc::new(TokioClock::new()),
    )
    .unwrap();
    again.tick().await;
    assert_eq!(training(&app.log()).len(), 1);
    app.stop().await;
}
