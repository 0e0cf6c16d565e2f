//! `cargo bench --bench data`: a generated database of at least 200 MB in a throwaway
//! PostgreSQL, dumped once (`pg_dump --format=custom`, as `lifeboat db backup` takes it), then
//! restored into empty databases twice, one run each: by hand (`pg_restore --jobs 2` with the
//! same flags Lifeboat passes) and through Lifeboat's own `db_restore` step (store lookup,
//! checksum against the manifest, table of contents, `pg_restore --jobs 2`). Prints both times
//! and their ratio (goal ≤ 1.05×), and the time `db_copy` takes for the same data
//! (`pg_dump | pg_restore`, streamed). Under `cargo test` it only compiles.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lifeboat::config::Config;
use lifeboat::db::throwaway::LocalCluster;
use lifeboat::domain::RunId;
use lifeboat::ports::chat::ChannelId;
use lifeboat::runbook::load_file;
use lifeboat::steps::{StepInput, execute};
use lifeboat::toml_source::TomlSource;

/// Rows of `orders`; about 230 MB of table and index.
const ROWS: u64 = 1_600_000;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(bench());
}

async fn bench() {
    let cluster = LocalCluster::start().unwrap_or_else(|e| panic!("{e}"));
    for db in ["primary", "by_hand", "through_lifeboat", "copied"] {
        cluster.create_database(db).unwrap();
    }
    let started = Instant::now();
    cluster
        .sql(
            "primary",
            &format!(
                "CREATE TABLE orders (id bigint PRIMARY KEY, customer bigint NOT NULL, body text NOT NULL, updated_at timestamptz NOT NULL);
                 INSERT INTO orders SELECT g, g % 9973, md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text), now() - (g || ' seconds')::interval FROM generate_series(1, {ROWS}) g;
                 CREATE INDEX orders_customer ON orders (customer);
                 CREATE INDEX orders_updated ON orders (updated_at);
                 ANALYZE orders;"
            ),
        )
        .unwrap();
    let size: u64 = cluster
        .sql("primary", "SELECT pg_database_size(current_database())")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    println!(
        "generated {ROWS} rows: {} MB database in {:.1}s",
        size / 1_000_000,
        started.elapsed().as_secs_f64()
    );
    assert!(size >= 200_000_000, "the database must be at least 200 MB");

    let work = tempfile::tempdir().unwrap();
    let backups = work.path().join("backups");
    let config_text = |standby: &str| {
        format!(
            "[objectives]\nhosting_rto = \"4h\"\nllm_rto = \"2h\"\nrpo = \"1h\"\ndata_rto = \"2h\"\n\n[data]\nprimary_url_env = \"BENCH_PRIMARY\"\nstandby_url_env = \"BENCH_{standby}\"\nbackups = {{ dir = {:?} }}\njobs = 2\ntables = [{{ name = \"orders\", freshness = \"updated_at\" }}]\n",
            backups.display()
        )
    };
    let secrets: BTreeMap<String, String> = [
        ("BENCH_PRIMARY", cluster.url("primary")),
        ("BENCH_LIFEBOAT", cluster.url("through_lifeboat")),
        ("BENCH_COPY", cluster.url("copied")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let env_for = async |standby: &str| {
        let config = Arc::new(
            Config::from_source(TomlSource::new("bench.toml", config_text(standby)))
                .unwrap()
                .config,
        );
        lifeboat::service::env::step_env(
            config,
            Arc::new(lifeboat::ports::clock::TokioClock::new()),
            Arc::new(lifeboat::chat::recorder::RecordingChat::new()),
            ChannelId("bench".into()),
            Arc::new(secrets.clone()),
        )
        .await
    };

    // One dump, as `lifeboat db backup` takes it.
    let env = env_for("LIFEBOAT").await;
    let started = Instant::now();
    let taken = lifeboat::db::take_backup(&env.data, &env.config, Duration::from_secs(3600))
        .await
        .unwrap();
    let dump = backups.join(&taken.backup.key);
    println!(
        "dump: {} MB (custom format) in {:.2}s",
        taken.backup.size / 1_000_000,
        started.elapsed().as_secs_f64()
    );

    // By hand: pg_restore --jobs 2, the same flags as Lifeboat's.
    let tools = lifeboat::db::pg::Tools::find(None).unwrap();
    let started = Instant::now();
    let status = std::process::Command::new(&tools.pg_restore)
        .args([
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-privileges",
            "--jobs=2",
            "--host=127.0.0.1",
            &format!("--port={}", cluster.port()),
            "--username=lifeboat",
            "--dbname=by_hand",
        ])
        .arg(&dump)
        .status()
        .unwrap();
    let by_hand = started.elapsed();
    assert!(status.success());

    // Through Lifeboat's db_restore step.
    let runbook_path = work.path().join("restore.toml");
    std::fs::write(
        &runbook_path,
        "name = \"restore\"\ntitle = \"Restore\"\nworkstream = \"data\"\n\n[[steps]]\nid = \"restore\"\nkind = \"db_restore\"\nwith = { to = \"standby\" }\n\n[[steps]]\nid = \"copy\"\nkind = \"db_copy\"\nwith = { from = \"primary\", to = \"standby\" }\n",
    )
    .unwrap();
    let runbook = load_file(&runbook_path, &env.config).unwrap();
    let run = RunId::from("RUN-bench");
    let (params, earlier) = (BTreeMap::new(), BTreeMap::new());
    let input = |i: usize| StepInput {
        run: &run,
        incident: None,
        step: &runbook.steps[i],
        workstream: None,
        params: &params,
        earlier: &earlier,
        attempt: 1,
    };
    let started = Instant::now();
    let restored = execute(&env, &input(0)).await.unwrap();
    let through_lifeboat = started.elapsed();
    println!("lifeboat: {}", restored.summary);

    // db_copy of the same data into an empty database.
    let env = env_for("COPY").await;
    let started = Instant::now();
    let copied = execute(&env, &input(1)).await.unwrap();
    let copy = started.elapsed();
    println!("copy: {}", copied.summary);

    for db in ["by_hand", "through_lifeboat", "copied"] {
        let rows = cluster.sql(db, "SELECT count(*) FROM orders").unwrap();
        assert_eq!(rows.trim(), ROWS.to_string(), "{db}");
    }
    println!(
        "\n| restore of the same {} MB dump | time |",
        taken.backup.size / 1_000_000
    );
    println!("|---|---|");
    println!(
        "| pg_restore --jobs 2 by hand | {:.2}s |",
        by_hand.as_secs_f64()
    );
    println!(
        "| Lifeboat db_restore (jobs 2) | {:.2}s |",
        through_lifeboat.as_secs_f64()
    );
    println!(
        "| ratio | {:.3}× (goal ≤ 1.05×) |",
        through_lifeboat.as_secs_f64() / by_hand.as_secs_f64()
    );
    println!(
        "| Lifeboat db_copy (pg_dump | pg_restore) of the {} MB database | {:.2}s |",
        size / 1_000_000,
        copy.as_secs_f64()
    );
}
