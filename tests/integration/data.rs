//! Data recovery with real parts on loopback: a throwaway PostgreSQL (a "primary" and a
//! "standby" database per test), backups in moto's S3 or a local directory, the shipped
//! `failover-hosting`, `restore-data` and `failback-hosting` run by the real engine, and
//! the measured data-loss window checked against the seed's own timestamps.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use lifeboat::domain::IncidentId;
use lifeboat::domain::event::{Event, NewEvent};
use lifeboat::engine::{Decision, RunHandle};
use lifeboat::ports::store::EventStore;
use lifeboat::runbook::state::RunStatus;

use crate::support::app::data_edges;
use crate::support::app::runs::{alice, kinds};
use crate::support::http::{HttpServer, Reply};
use crate::support::moto::moto;
use crate::support::postgres::{Db, seed, tables};
use crate::support::standby::{self, PRIMARY, STANDBY, cname};
use crate::support::{App, TestConfig, spawn_app};

const WAIT: Duration = Duration::from_secs(60);
const BUCKET: &str = "lifeboat-backups";
/// Nothing listens here: the primary of a Heroku outage.
const DEAD_PRIMARY: &str = "postgres://lifeboat:heroku-pw-9f2c@127.0.0.1:9/gone";

/// Where backups go in a test.
enum Store<'a> {
    S3,
    Dir(&'a Path),
}

/// The shipped runbooks' config ([`standby::config`]) with [aws] on moto with the standby's
/// services and record ([`standby::aws`]), and [data] with both databases' URLs in
/// `DATABASE_URL` and `STANDBY_DATABASE_URL` and its backups in `store`.
fn config(endpoint: &str, zone_id: &str, store: &Store<'_>, app_url: &str) -> TestConfig {
    let backups = match store {
        Store::S3 => json!({ "bucket": BUCKET, "prefix": "pg/" }),
        Store::Dir(dir) => json!({ "dir": dir.display().to_string() }),
    };
    let config = standby::config(&[("app_url", app_url.to_owned())]);
    standby::aws(config, endpoint, zone_id)
        .set("objectives.data_rto", "2h")
        .set(
            "data",
            json!({
                "primary_url_env": "DATABASE_URL",
                "standby_url_env": "STANDBY_DATABASE_URL",
                "backups": backups,
                "jobs": 2,
                "connect_timeout": "2s",
                "tables": tables(),
            }),
        )
}

/// The app in process over moto, the two databases (their URLs as its secrets) and the backup
/// store.
struct World {
    app: App,
}

impl std::ops::Deref for World {
    type Target = App;
    fn deref(&self) -> &App {
        &self.app
    }
}

impl World {
    async fn new(config: &TestConfig, primary_url: &str, standby_url: &str) -> World {
        let app = spawn_app(config.clone())
            .secret("DATABASE_URL", primary_url)
            .secret("STANDBY_DATABASE_URL", standby_url)
            .patience(WAIT)
            .start()
            .await;
        World { app }
    }

    /// Declares an incident; its declaration time is the outage start of the window.
    fn declare(&self) -> (IncidentId, DateTime<Utc>) {
        let id = IncidentId::from("INC-20261125-100000");
        let event = self
            .store
            .append(
                NewEvent::new(
                    alice(),
                    "incident.declared",
                    json!({ "title": "Heroku is down", "severity": "sev1" }),
                )
                .incident(id.clone()),
            )
            .unwrap();
        (id, event.at)
    }

    /// Declares an incident at `at` (in the past): the log must still be empty.
    fn declare_at(&self, at: DateTime<Utc>) -> IncidentId {
        let id = IncidentId::from("INC-20261125-100000");
        let declared = NewEvent::new(
            alice(),
            "incident.declared",
            json!({ "title": "Heroku is down", "severity": "sev1" }),
        )
        .incident(id.clone());
        let sealed = Event::seal(declared, 1, at, lifeboat::domain::event::GENESIS);
        self.store.import(&[sealed]).unwrap();
        id
    }

    fn start(&self, name: &str, incident: Option<IncidentId>) -> RunHandle {
        self.start_run(&self.shipped(name), incident)
    }

    /// Everything the log holds, as text.
    fn log_text(&self) -> String {
        self.log()
            .iter()
            .map(|e| serde_json::to_string(e).unwrap())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn output<'a>(events: &'a [Event], step: &str) -> &'a Value {
    &events
        .iter()
        .find(|e| e.kind == "step.succeeded" && e.data["step"] == step)
        .unwrap_or_else(|| panic!("`{step}` did not succeed: {:#?}", kinds(events)))
        .data["output"]
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn app() -> HttpServer {
    let app = HttpServer::start();
    app.reply("/health", Reply::json(r#"{"status":"ok"}"#));
    app
}

/// Takes a backup of `primary` through Lifeboat's own backup path, recorded in `world`'s log.
async fn backup(world: &World, primary: &Db, standby: &Db) -> String {
    let secrets: BTreeMap<String, String> = [
        ("DATABASE_URL".to_owned(), primary.url()),
        ("STANDBY_DATABASE_URL".to_owned(), standby.url()),
    ]
    .into();
    let live = data_edges(&world.config, &secrets).await;
    lifeboat::db::cli::backup_into(&live, &world.config, Some(world.store.as_ref()))
        .await
        .unwrap_or_else(|e| panic!("backup failed: {e}"));
    let taken = world
        .store
        .all()
        .unwrap()
        .into_iter()
        .rev()
        .find(|e| e.kind == "db.backup_taken")
        .expect("db.backup_taken recorded");
    taken.data["key"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn failover_restores_the_s3_backup_into_the_standby_and_measures_the_seed_gap() {
    let moto = moto().await;
    let aws = moto.clients().await;
    let zone_id = standby::seed(&aws, &["web", "worker"], 300).await;
    aws.s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    let (primary, standby_db, app) = (Db::new("primary"), Db::new("standby"), app());
    let config = config(&moto.endpoint(), &zone_id, &Store::S3, &app.base_url());
    // Heroku is down: its database does not answer.
    let world = World::new(&config, DEAD_PRIMARY, &standby_db.url()).await;
    let (incident, outage) = world.declare();
    // The last write reached the primary 20 minutes before the outage.
    seed(
        &primary,
        3000,
        &rfc3339(outage - chrono::Duration::minutes(20)),
    );
    let key = backup(&world, &primary, &standby_db).await;
    assert!(
        key.starts_with("pg/lifeboat-") && key.ends_with(".dump"),
        "{key}"
    );
    let head = aws
        .s3
        .head_object()
        .bucket(BUCKET)
        .key(&key)
        .send()
        .await
        .unwrap();
    let completed = head.metadata().unwrap().get("completed-at").unwrap();
    assert!(
        key.contains(&completed[..10].replace('-', "")),
        "{key} vs {completed}"
    );
    let taken = world.store.all().unwrap();
    let taken = taken.iter().find(|e| e.kind == "db.backup_taken").unwrap();
    assert!(taken.data["size"].as_u64().unwrap() > 10_000, "{taken:?}");
    assert!(taken.data["duration_ms"].is_u64());

    let handle = world.start("failover-hosting", Some(incident.clone()));
    world.answer(&handle.run, "confirm-scope", true).await;
    let (status, events) = world.finish(handle).await;
    assert_eq!(status, RunStatus::Succeeded, "{:#?}", kinds(&events));

    let copy = output(&events, "copy-data");
    assert_eq!(copy["copied"], false);
    let restore = output(&events, "restore");
    assert_eq!(restore["backup"], key.as_str());
    assert_eq!(restore["location"], format!("s3://{BUCKET}/{key}"));
    let verify = output(&events, "verify-data");
    assert_eq!(verify["data_loss_secs"], 1200, "{verify:#}");
    assert_eq!(verify["measured"], true);
    assert_eq!(verify["tables"][0]["rows"], 3000);
    assert_eq!(verify["tables"][0]["expected"], 3000);
    assert_eq!(standby_db.count("SELECT count(*) FROM orders"), 3000);
    assert_eq!(standby_db.count("SELECT count(*) FROM events"), 3000);
    assert_eq!(cname(&aws, &zone_id).await.0, [STANDBY]);
    // The one source of the window: the incident's view, the post-mortem and the notices.
    let all = world.store.all().unwrap();
    let scoped = lifeboat::incident::incident_events(&all, &incident);
    assert_eq!(
        lifeboat::incident::view(&scoped, &incident).achieved_rpo_secs,
        Some(1200)
    );
    let summary = lifeboat::timeline::summarize(&scoped, &incident);
    assert_eq!(summary.runs[0].achieved_rpo_secs, Some(1200));
    let engineering: Vec<String> = world
        .chat()
        .posts()
        .into_iter()
        .map(|m| m.content)
        .filter(|c| c.contains("Hosting failed over"))
        .collect();
    assert!(
        engineering[0].contains("data-loss window 20m 00s"),
        "{engineering:?}"
    );
}

#[tokio::test]
async fn a_primary_that_answers_is_copied_directly_with_a_zero_window() {
    let moto = moto().await;
    let aws = moto.clients().await;
    let zone_id = standby::seed(&aws, &["web", "worker"], 300).await;
    let (primary, standby_db, app) = (Db::new("primary"), Db::new("standby"), app());
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        &moto.endpoint(),
        &zone_id,
        &Store::Dir(dir.path()),
        &app.base_url(),
    );
    let world = World::new(&config, &primary.url(), &standby_db.url()).await;
    let (incident, outage) = world.declare();
    seed(
        &primary,
        2000,
        &rfc3339(outage - chrono::Duration::minutes(5)),
    );

    let handle = world.start("failover-hosting", Some(incident));
    world.answer(&handle.run, "confirm-scope", true).await;
    let (status, events) = world.finish(handle).await;
    assert_eq!(status, RunStatus::Succeeded, "{:#?}", kinds(&events));
    assert_eq!(output(&events, "copy-data")["copied"], true);
    assert_eq!(
        output(&events, "restore")["skipped"],
        true,
        "no backup needed"
    );
    let verify = output(&events, "verify-data");
    assert_eq!(verify["data_loss_secs"], 0, "{verify:#}");
    assert_eq!(verify["against"], "the primary");
    assert_eq!(standby_db.count("SELECT count(*) FROM orders"), 2000);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no backup was read or made"
    );
}

#[tokio::test]
async fn a_backup_older_than_the_rpo_stops_before_dns_unless_an_approver_accepts() {
    let moto = moto().await;
    let aws = moto.clients().await;
    let zone_id = standby::seed(&aws, &["web", "worker"], 300).await;
    let (primary, standby_db, app) = (Db::new("primary"), Db::new("standby"), app());
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        &moto.endpoint(),
        &zone_id,
        &Store::Dir(dir.path()),
        &app.base_url(),
    );
    let world = World::new(&config, DEAD_PRIMARY, &standby_db.url()).await;
    let (incident, outage) = world.declare();
    seed(&primary, 500, &rfc3339(outage - chrono::Duration::hours(2)));
    let key = backup(&world, &primary, &standby_db).await;
    // The backup's data is from two hours before the outage (the nightly job failed since).
    backdate(dir.path(), &key, outage - chrono::Duration::hours(2));
    standby_db.sql("CREATE TABLE marker (x int); INSERT INTO marker VALUES (1);");

    let handle = world.start("failover-hosting", Some(incident.clone()));
    let run = handle.run.clone();
    world.answer(&run, "confirm-scope", true).await;
    world.answer(&run, "restore", false).await;
    let paused = world.step_event(&run, "run.paused", "restore").await;
    assert!(
        paused.data["reason"]
            .as_str()
            .unwrap()
            .contains("would lose 2h 00m of data before the outage, more than the RPO of 1h (2h 00m old now): the run stops before DNS moves"),
        "{paused:?}"
    );
    assert!(
        !kinds(&world.run_events(&run))
            .iter()
            .any(|k| k.ends_with(" point-dns"))
    );
    assert_eq!(cname(&aws, &zone_id).await.0, [PRIMARY]);
    assert_eq!(
        standby_db.count("SELECT count(*) FROM marker"),
        1,
        "the standby was not touched"
    );
    let asked = world.chat().posts();
    assert!(
        asked
            .iter()
            .any(|m| m.content.contains("loses 2h 00m of data (its data is from")),
        "{asked:#?}"
    );

    // An approver accepts the loss on the retry: the run goes on and DNS moves.
    world.engine.decide(&run, Decision::Retry, alice()).unwrap();
    world.answer(&run, "restore", true).await;
    let (status, events) = world.finish(handle).await;
    assert_eq!(status, RunStatus::Succeeded, "{:#?}", kinds(&events));
    assert!(output(&events, "restore")["accepted_by"] == "bob");
    assert_eq!(cname(&aws, &zone_id).await.0, [STANDBY]);
    let all = world.store.all().unwrap();
    let accepted = all
        .iter()
        .find(|e| e.kind == "db.data_loss_accepted")
        .unwrap();
    assert_eq!(accepted.data["by"], "bob");
    assert_eq!(accepted.data["backup"], key.as_str());
    // The post-mortem says who accepted what.
    let scoped = lifeboat::incident::incident_events(&all, &incident);
    let summary = lifeboat::timeline::summarize(&scoped, &incident);
    let markdown = lifeboat::timeline::markdown(&summary, &scoped, &world.config.objectives);
    assert!(
        markdown.contains("More data loss than the plan allows accepted by bob"),
        "{markdown}"
    );
    assert!(markdown.contains(&key), "{markdown}");
}

/// Rewrites the manifest of the dump `key` in `dir` as if its data were from `at`.
fn backdate(dir: &Path, key: &str, at: DateTime<Utc>) {
    let manifest_path = dir.join(format!("{key}.json"));
    let mut manifest: Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    manifest["started_at"] = json!(rfc3339(at));
    manifest["completed_at"] = json!(rfc3339(at));
    std::fs::write(&manifest_path, manifest.to_string()).unwrap();
}

/// A failover two hours into an outage, restoring a backup whose data is from `before` the
/// outage began: the run has passed `confirm-scope`.
struct LateFailover {
    world: World,
    handle: RunHandle,
    standby: Db,
    _dir: tempfile::TempDir,
    _app: HttpServer,
    _moto: tokio::sync::MutexGuard<'static, crate::support::moto::MotoServer>,
}

async fn two_hours_into_an_outage(before: chrono::Duration) -> LateFailover {
    let moto = moto().await;
    let aws = moto.clients().await;
    let zone_id = standby::seed(&aws, &["web", "worker"], 300).await;
    let (primary, standby_db, app) = (Db::new("primary"), Db::new("standby"), app());
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        &moto.endpoint(),
        &zone_id,
        &Store::Dir(dir.path()),
        &app.base_url(),
    );
    let world = World::new(&config, DEAD_PRIMARY, &standby_db.url()).await;
    let outage = Utc::now() - chrono::Duration::hours(2);
    let incident = world.declare_at(outage);
    seed(&primary, 300, &rfc3339(outage - before));
    let key = backup(&world, &primary, &standby_db).await;
    backdate(dir.path(), &key, outage - before);
    let handle = world.start("failover-hosting", Some(incident));
    world.answer(&handle.run, "confirm-scope", true).await;
    LateFailover {
        world,
        handle,
        standby: standby_db,
        _dir: dir,
        _app: app,
        _moto: moto,
    }
}

#[tokio::test]
async fn the_rpo_gate_measures_the_loss_before_the_outage_not_the_backups_age_now() {
    // 20 minutes of data lost, though the backup is 2h 20m old when restored: no question.
    let late = two_hours_into_an_outage(chrono::Duration::minutes(20)).await;
    let world = &late.world;
    let (status, events) = world.finish(late.handle).await;
    assert_eq!(status, RunStatus::Succeeded, "{:#?}", kinds(&events));
    let restore = output(&events, "restore");
    assert_eq!(restore["loss_window_secs"], 1200, "{restore:#}");
    assert!(
        restore["backup_age_secs"].as_u64().unwrap() >= 8400,
        "{restore:#}"
    );
    assert!(restore.get("accepted_by").is_none(), "{restore:#}");
    let said = events
        .iter()
        .find(|e| e.kind == "step.succeeded" && e.data["step"] == "restore")
        .and_then(|e| e.data["summary"].as_str())
        .unwrap_or_default();
    assert!(
        said.contains("data-loss window 20m 00s") && said.contains("2h 20m old now"),
        "{said}"
    );
    assert!(
        !world
            .chat()
            .posts()
            .iter()
            .any(|m| m.buttons.iter().any(|b| b.label == "Accept more data loss")),
        "nothing asked"
    );
    assert_eq!(output(&events, "verify-data")["data_loss_secs"], 1200);
    assert_eq!(late.standby.count("SELECT count(*) FROM orders"), 300);
    drop(late._moto);

    // 90 minutes lost: more than the RPO of 1h, so an approver is asked.
    let late = two_hours_into_an_outage(chrono::Duration::minutes(90)).await;
    let (world, run) = (&late.world, late.handle.run.clone());
    world.answer(&run, "restore", false).await;
    let paused = world.step_event(&run, "run.paused", "restore").await;
    let reason = paused.data["reason"].as_str().unwrap();
    assert!(
        reason.contains(
            "would lose 1h 30m of data before the outage, more than the RPO of 1h (3h 30m old now)"
        ),
        "{reason}"
    );
    let asked = world.chat().posts();
    assert!(
        asked
            .iter()
            .any(|m| m.content.contains("loses 1h 30m of data")
                && m.content.contains("it is 3h 30m old now")),
        "{asked:#?}"
    );
    world.engine.decide(&run, Decision::Abort, alice()).unwrap();
    world.finish(late.handle).await;
}

#[tokio::test]
async fn a_truncated_or_corrupted_dump_pauses_the_run_naming_the_object() {
    let moto = moto().await;
    let aws = moto.clients().await;
    let zone_id = standby::seed(&aws, &["web", "worker"], 300).await;
    let (primary, standby_db, app) = (Db::new("primary"), Db::new("standby"), app());
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        &moto.endpoint(),
        &zone_id,
        &Store::Dir(dir.path()),
        &app.base_url(),
    );
    let world = World::new(&config, DEAD_PRIMARY, &standby_db.url()).await;
    seed(&primary, 3000, &rfc3339(Utc::now()));
    let key = backup(&world, &primary, &standby_db).await;
    let dump = dir.path().join(&key);
    let bytes = std::fs::read(&dump).unwrap();
    std::fs::write(&dump, &bytes[..bytes.len() / 2]).unwrap();
    standby_db.sql("CREATE TABLE marker (x int); INSERT INTO marker VALUES (1);");

    let handle = world.start("failover-hosting", None);
    let run = handle.run.clone();
    world.answer(&run, "confirm-scope", true).await;
    let paused = world.step_event(&run, "run.paused", "restore").await;
    let reason = paused.data["reason"].as_str().unwrap();
    assert!(
        reason.contains(&dump.display().to_string()) && reason.contains("cut short"),
        "{reason}"
    );
    assert_eq!(
        standby_db.count("SELECT count(*) FROM marker"),
        1,
        "left as it was"
    );
    assert_eq!(cname(&aws, &zone_id).await.0, [PRIMARY]);
    world.engine.decide(&run, Decision::Abort, alice()).unwrap();
    world.finish(handle).await;

    // A dump copied in from elsewhere has no manifest: the damage shows during the restore,
    // and the standby is marked as needing a clean restore.
    let foreign = dir.path().join("heroku-b042.dump");
    std::fs::rename(&dump, &foreign).unwrap();
    std::fs::remove_file(dir.path().join(format!("{key}.json"))).unwrap();
    let handle = world.start("failover-hosting", None);
    let run = handle.run.clone();
    world.answer(&run, "confirm-scope", true).await;
    let paused = world.step_event(&run, "run.paused", "restore").await;
    let reason = paused.data["reason"].as_str().unwrap();
    assert!(reason.contains(&foreign.display().to_string()), "{reason}");
    let failed = world
        .run_events(&run)
        .into_iter()
        .find(|e| e.kind == "step.failed" && e.data["step"] == "restore")
        .unwrap();
    assert_eq!(
        failed.data["output"]["target_state"], "needs a clean restore",
        "{failed:?}"
    );
    assert!(
        !kinds(&world.run_events(&run))
            .iter()
            .any(|k| k.ends_with(" point-dns"))
    );
    world.engine.decide(&run, Decision::Abort, alice()).unwrap();
    world.finish(handle).await;
}

#[tokio::test]
async fn a_tool_that_prints_the_url_leaves_it_out_of_the_log_chat_and_export() {
    let moto = moto().await;
    let aws = moto.clients().await;
    let zone_id = standby::seed(&aws, &["web", "worker"], 300).await;
    let (primary, standby_db, app) = (Db::new("primary"), Db::new("standby"), app());
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("backups");
    // Tools that say the URL they were given, as a careless wrapper would, then fail.
    let tools = dir.path().join("tools");
    std::fs::create_dir(&tools).unwrap();
    let real = lifeboat::db::pg::Tools::find(None).unwrap();
    for (name, path) in [("pg_dump", &real.pg_dump), ("psql", &real.psql)] {
        write_script(
            &tools.join(name),
            &format!("#!/bin/sh\nexec {} \"$@\"\n", path.display()),
        );
    }
    write_script(
        &tools.join("pg_restore"),
        &format!(
            "#!/bin/sh\ncase \"$*\" in *--list*) exec {} \"$@\";; esac\necho \"connecting to postgres://$PGUSER:$PGPASSWORD@$PGHOST:$PGPORT/$PGDATABASE\" >&2\necho \"password is $PGPASSWORD\" >&2\nexit 1\n",
            real.pg_restore.display()
        ),
    );
    let config = config(
        &moto.endpoint(),
        &zone_id,
        &Store::Dir(&store_dir),
        &app.base_url(),
    )
    .set("data.tools_dir", tools.display().to_string());
    // Standby credentials with a password the log must never hold.
    standby_db.sql("CREATE ROLE standby_app LOGIN PASSWORD 'S3cret-standby-pw'; GRANT ALL ON SCHEMA public TO standby_app;");
    let standby_url = format!(
        "postgres://standby_app:S3cret-standby-pw@127.0.0.1:{}/{}",
        crate::support::postgres::cluster().port(),
        standby_db.name
    );
    let world = World::new(&config, DEAD_PRIMARY, &standby_url).await;
    seed(&primary, 100, &rfc3339(Utc::now()));
    backup(&world, &primary, &standby_db).await;
    let (incident, _) = world.declare();

    let handle = world.start("failover-hosting", Some(incident.clone()));
    let run = handle.run.clone();
    world.answer(&run, "confirm-scope", true).await;
    let paused = world.step_event(&run, "run.paused", "restore").await;
    assert!(
        paused.data["reason"]
            .as_str()
            .unwrap()
            .contains("[redacted]"),
        "{paused:?}"
    );
    world.engine.decide(&run, Decision::Abort, alice()).unwrap();
    world.finish(handle).await;

    let all = world.store.all().unwrap();
    let scoped = lifeboat::incident::incident_events(&all, &incident);
    let summary = lifeboat::timeline::summarize(&scoped, &incident);
    let exports = [
        lifeboat::timeline::markdown(&summary, &scoped, &world.config.objectives),
        lifeboat::timeline::json(&summary, &scoped),
        lifeboat::timeline::csv(&scoped),
        lifeboat::timeline::html(&summary, &scoped, &world.config.objectives),
    ];
    let chat: Vec<String> = world
        .chat()
        .posts()
        .into_iter()
        .map(|m| m.content)
        .collect();
    let everything = format!(
        "{}\n{}\n{}",
        world.log_text(),
        exports.join("\n"),
        chat.join("\n")
    );
    for secret in [
        "S3cret-standby-pw",
        &standby_url,
        "heroku-pw-9f2c",
        DEAD_PRIMARY,
    ] {
        assert!(!everything.contains(secret), "`{secret}` leaked");
    }
    assert!(
        everything.contains("connecting to [redacted]"),
        "the redacted line is kept"
    );
}

/// Says the URL and password it was given on stderr, as a careless wrapper would.
const SAY_SECRETS: &str = "echo \"connecting to postgres://$PGUSER:$PGPASSWORD@$PGHOST:$PGPORT/$PGDATABASE\" >&2\necho \"password is $PGPASSWORD\" >&2\n";

#[tokio::test]
async fn pg_dump_psql_and_the_copy_pipeline_leave_no_secret_in_the_log_chat_export_or_traces() {
    let traces = crate::support::app::logs::Logs::default();
    let _traced = traces.install();
    let moto = moto().await;
    let aws = moto.clients().await;
    let zone_id = standby::seed(&aws, &["web", "worker"], 300).await;
    let (primary, standby_db, app) = (Db::new("primary"), Db::new("standby"), app());
    let dir = tempfile::tempdir().unwrap();
    let tools = dir.path().join("tools");
    std::fs::create_dir(&tools).unwrap();
    let real = lifeboat::db::pg::Tools::find(None).unwrap();
    let fail_psql = tools.join("fail-psql");
    // psql fails (saying the secrets) when asked to end earlier restores, while the flag is
    // there; pg_dump always does; pg_restore is the real one.
    write_script(
        &tools.join("psql"),
        &format!(
            "#!/bin/sh\nif [ -e {flag} ]; then case \"$*\" in *pg_terminate_backend*) {SAY_SECRETS}exit 2;; esac; fi\nexec {psql} \"$@\"\n",
            flag = fail_psql.display(),
            psql = real.psql.display()
        ),
    );
    write_script(
        &tools.join("pg_dump"),
        &format!("#!/bin/sh\n{SAY_SECRETS}exit 1\n"),
    );
    write_script(
        &tools.join("pg_restore"),
        &format!("#!/bin/sh\nexec {} \"$@\"\n", real.pg_restore.display()),
    );
    let config = config(
        &moto.endpoint(),
        &zone_id,
        &Store::Dir(&dir.path().join("backups")),
        &app.base_url(),
    )
    .set("data.tools_dir", tools.display().to_string());
    let port = crate::support::postgres::cluster().port();
    // Roles are per cluster: names of this test's own.
    primary.sql("CREATE ROLE leak_primary LOGIN PASSWORD 'S3cret-primary-pw'; GRANT ALL ON SCHEMA public TO leak_primary;");
    standby_db.sql("CREATE ROLE leak_standby LOGIN PASSWORD 'S3cret-standby-pw2'; GRANT ALL ON SCHEMA public TO leak_standby;");
    let primary_url = format!(
        "postgres://leak_primary:S3cret-primary-pw@127.0.0.1:{port}/{}",
        primary.name
    );
    let standby_url = format!(
        "postgres://leak_standby:S3cret-standby-pw2@127.0.0.1:{port}/{}",
        standby_db.name
    );
    seed(&primary, 100, &rfc3339(Utc::now()));
    primary.sql("GRANT SELECT ON ALL TABLES IN SCHEMA public TO leak_primary;");
    let world = World::new(&config, &primary_url, &standby_url).await;
    let (incident, _) = world.declare();

    // A backup: pg_dump fails saying the secrets.
    let secrets: BTreeMap<String, String> = [
        ("DATABASE_URL".to_owned(), primary_url.clone()),
        ("STANDBY_DATABASE_URL".to_owned(), standby_url.clone()),
    ]
    .into();
    let live = data_edges(&world.config, &secrets).await;
    let failed = lifeboat::db::cli::backup_into(&live, &world.config, Some(world.store.as_ref()))
        .await
        .expect_err("pg_dump fails")
        .to_string();
    assert!(failed.contains("[redacted]"), "{failed}");

    // The copy fails in psql (ending earlier restores), then in the pg_dump | pg_restore
    // pipeline; each run goes on to the backup path and pauses there (no backup).
    std::fs::write(&fail_psql, "").unwrap();
    let mut reasons = Vec::new();
    for round in 0..2 {
        if round == 1 {
            std::fs::remove_file(&fail_psql).unwrap();
        }
        let handle = world.start("failover-hosting", Some(incident.clone()));
        let run = handle.run.clone();
        world.answer(&run, "confirm-scope", true).await;
        world.step_event(&run, "run.paused", "restore").await;
        let copy = output(&world.run_events(&run), "copy-data").clone();
        reasons.push(copy["reason"].as_str().unwrap_or_default().to_owned());
        world.engine.decide(&run, Decision::Abort, alice()).unwrap();
        world.finish(handle).await;
    }
    assert!(
        reasons[0].contains("psql") && reasons[0].contains("connecting to [redacted]"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].contains("pg_dump exited with code 1")
            && reasons[1].contains("connecting to [redacted]"),
        "{reasons:?}"
    );

    let all = world.store.all().unwrap();
    let scoped = lifeboat::incident::incident_events(&all, &incident);
    let summary = lifeboat::timeline::summarize(&scoped, &incident);
    let exports = [
        lifeboat::timeline::markdown(&summary, &scoped, &world.config.objectives),
        lifeboat::timeline::json(&summary, &scoped),
        lifeboat::timeline::csv(&scoped),
        lifeboat::timeline::html(&summary, &scoped, &world.config.objectives),
    ];
    let chat: Vec<String> = world
        .chat()
        .posts()
        .into_iter()
        .map(|m| m.content)
        .collect();
    let traced = traces.text();
    assert!(traced.contains("copy failed"), "the warn! is captured");
    let everything = format!(
        "{}\n{}\n{}\n{failed}\n{traced}",
        world.log_text(),
        exports.join("\n"),
        chat.join("\n")
    );
    for secret in [
        "S3cret-primary-pw",
        "S3cret-standby-pw2",
        &primary_url,
        &standby_url,
        "leak_primary:",
        "leak_standby:",
    ] {
        assert!(!everything.contains(secret), "`{secret}` leaked");
    }
}

fn write_script(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[tokio::test]
async fn failback_copies_the_rows_written_on_aws_home_before_dns_moves_back() {
    let moto = moto().await;
    let aws = moto.clients().await;
    let zone_id = standby::seed(&aws, &["web", "worker"], 300).await;
    let (primary, standby_db, app) = (Db::new("primary"), Db::new("standby"), app());
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        &moto.endpoint(),
        &zone_id,
        &Store::Dir(dir.path()),
        &app.base_url(),
    );
    seed(
        &primary,
        1000,
        &rfc3339(Utc::now() - chrono::Duration::minutes(3)),
    );
    // Failover while Heroku's database is down: the backup path.
    let down = World::new(&config, DEAD_PRIMARY, &standby_db.url()).await;
    backup(&down, &primary, &standby_db).await;
    let handle = down.start("failover-hosting", None);
    down.answer(&handle.run, "confirm-scope", true).await;
    let (status, events) = down.finish(handle).await;
    assert_eq!(status, RunStatus::Succeeded, "{:#?}", kinds(&events));
    drop(down);
    // The app ran on AWS: 250 new orders and 3 events.
    standby_db.sql(
        "INSERT INTO orders (body, updated_at) SELECT 'on aws', now() FROM generate_series(1, 250);
         INSERT INTO events (ref, kind, created_at) VALUES (1, 'aws', now()), (2, 'aws', now()), (3, 'aws', now());",
    );

    // Heroku is back: fail back with both databases answering.
    let back = World::new(&config, &primary.url(), &standby_db.url()).await;
    let handle = back.start("failback-hosting", None);
    back.answer(&handle.run, "confirm-heroku", true).await;
    let (status, events) = back.finish(handle).await;
    assert_eq!(status, RunStatus::Succeeded, "{:#?}", kinds(&events));
    assert_eq!(primary.count("SELECT count(*) FROM orders"), 1250);
    assert_eq!(
        primary.count("SELECT count(*) FROM orders WHERE body = 'on aws'"),
        250
    );
    assert_eq!(primary.count("SELECT count(*) FROM events"), 1003);
    // Writes stopped first, the data was home and verified before DNS moved.
    let order = kinds(&events);
    let at = |k: &str| {
        order
            .iter()
            .position(|x| x == k)
            .unwrap_or_else(|| panic!("{k}: {order:#?}"))
    };
    assert!(at("step.succeeded stop-writes") < at("step.started copy-back"));
    assert!(at("step.succeeded verify-data") < at("step.started point-dns"));
    let stopped = output(&events, "stop-writes");
    assert_eq!(
        stopped["changes"],
        json!([{"service": "web", "from": 3, "to": 0}, {"service": "worker", "from": 2, "to": 0}])
    );
    assert_eq!(cname(&aws, &zone_id).await.0, [PRIMARY]);
    // The post-mortem records the rows that came back per table.
    let copy = events
        .iter()
        .find(|e| e.kind == "step.succeeded" && e.data["step"] == "copy-back")
        .unwrap();
    let line = lifeboat::timeline::describe(copy);
    assert!(
        line.contains("public.orders +250 (1250 rows)")
            && line.contains("public.events +3 (1003 rows)"),
        "{line}"
    );
    assert_eq!(output(&events, "verify-data")["data_loss_secs"], 0);
}

#[tokio::test]
async fn a_dump_above_the_threshold_goes_up_to_s3_in_parts_and_comes_back_whole() {
    use lifeboat::aws::S3Backups;
    use lifeboat::ports::data::{BackupStore, MANIFEST_FORMAT, Manifest};
    use sha2::{Digest, Sha256};

    let moto = moto().await;
    let aws = moto.clients().await;
    aws.s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    // 11 MiB in parts of 5 MiB (S3's smallest): three parts, the last one short.
    let bytes: Vec<u8> = (0..11 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.dump");
    std::fs::write(&file, &bytes).unwrap();
    let now = Utc::now();
    let manifest = Manifest {
        format: MANIFEST_FORMAT.to_owned(),
        version: 1,
        key: "pg/lifeboat-20261205T070000Z.dump".to_owned(),
        started_at: now,
        completed_at: now,
        size: bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(&bytes)),
        tables: Vec::new(),
    };
    let store = S3Backups::new(aws.s3.clone(), BUCKET, "pg/").with_multipart(1024 * 1024, 0);
    let info = store.put(&file, &manifest).await.unwrap();
    assert_eq!(info.size, bytes.len() as u64);
    let head = aws
        .s3
        .head_object()
        .bucket(BUCKET)
        .key(&manifest.key)
        .send()
        .await
        .unwrap();
    // A multipart object's ETag ends in its number of parts.
    assert!(
        head.e_tag().unwrap().trim_matches('"').ends_with("-3"),
        "{:?}",
        head.e_tag()
    );
    assert_eq!(
        head.metadata().unwrap().get("sha256"),
        Some(&manifest.sha256)
    );
    let latest = store.latest().await.unwrap().unwrap();
    let local = store.fetch(&latest).await.unwrap();
    assert!(std::fs::read(&local.path).unwrap() == bytes, "not whole");
}
