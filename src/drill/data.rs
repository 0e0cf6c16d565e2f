//! What a drill's data is. Offline and by default, the data steps act on the simulation and
//! no window is measured. With `lifeboat drill --postgres`, or whenever `[data]` is configured,
//! the drill restores a real database instead — but only in a throwaway PostgreSQL cluster it
//! starts itself: a drill never touches the configured primary or standby, nor the configured
//! backup store (its secrets are stand-ins, and `/drill start` runs inside the live bot).
//!
//! The throwaway's "primary" is seeded with generated rows whose newest is [`SEED_GAP`] before
//! the outage's start, backed up through Lifeboat's own backup path into a directory of the
//! drill's, and then refuses connections like Heroku's in the outage; the runbook restores
//! that backup into the throwaway's "standby", and `db_verify` must measure exactly the gap.
//! Decisions only: starting the cluster is the drill runner's (`crate::service::drill`).

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

use super::Target;
use crate::config::{BackupsConfig, Config, DataConfig, TableConfig};
use crate::duration::HumanDuration;
use crate::runbook::{Runbook, StepKind};

/// Where a drill's data steps act.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrillData {
    /// No drilled runbook moves data.
    Untouched,
    /// The simulation: nothing is restored and the window is not measured.
    Simulated,
    /// A throwaway cluster the drill starts. `required` when `--postgres` asked for it: then a
    /// cluster that cannot start fails the drill; otherwise the drill falls back to the
    /// simulation and says why.
    Throwaway { required: bool },
}

/// How far before the outage the seeded rows end: the window the drill must measure.
pub const SEED_GAP: Duration = Duration::from_secs(12 * 60);

/// Rows per seeded table: enough for a real restore, small enough for a drill inside the bot.
pub const SEED_ROWS: u64 = 2_000;

/// The drill's own URL variables. Their values are the throwaway's URLs, handed to the drill's
/// steps directly: the process environment is never read for them.
pub const PRIMARY_URL_ENV: &str = "LIFEBOAT_DRILL_PRIMARY_URL";
pub const STANDBY_URL_ENV: &str = "LIFEBOAT_DRILL_STANDBY_URL";

/// The two databases of the throwaway cluster.
pub const PRIMARY_DB: &str = "drill_primary";
pub const STANDBY_DB: &str = "drill_standby";

/// Whether a runbook brings data over (so a drill of it has something to restore).
fn moves_data(runbook: &Runbook) -> bool {
    runbook.steps.iter().any(|s| {
        matches!(
            s.action.kind(),
            StepKind::DbCopy | StepKind::DbRestore | StepKind::DbVerify
        )
    })
}

/// Where the drill of `targets` acts on data: nowhere when no drilled runbook moves data; a
/// throwaway cluster when `--postgres` asks for one or `[data]` is configured; else the
/// simulation.
pub fn choose(
    base: &Config,
    runbooks: &[Runbook],
    targets: &[Target],
    postgres: bool,
) -> DrillData {
    let has_data = targets.iter().any(|t| {
        runbooks
            .iter()
            .find(|r| r.name == t.runbook)
            .is_some_and(moves_data)
    });
    if !has_data {
        DrillData::Untouched
    } else if postgres {
        DrillData::Throwaway { required: true }
    } else if base.data.is_some() {
        DrillData::Throwaway { required: false }
    } else {
        DrillData::Simulated
    }
}

/// The tables a drill seeds and verifies: those `[data]` lists (names and freshness columns,
/// so the drill exercises the company's verification), else two stand-ins.
pub fn tables(base: &Config) -> Vec<TableConfig> {
    match &base.data {
        Some(data) if !data.tables.is_empty() => data.tables.clone(),
        _ => [("orders", "updated_at"), ("events", "created_at")]
            .into_iter()
            .map(|(name, freshness)| TableConfig {
                name: name.to_owned(),
                freshness: freshness.to_owned(),
            })
            .collect(),
    }
}

/// The drill's `[data]`: its own URL variables, its backups in `backups_dir` (never the
/// configured bucket or directory: a drill's backup there would pass for a real one), the
/// tables of [`tables`]; jobs and tools as the company configured them.
pub fn throwaway_data(base: &Config, backups_dir: &Path) -> DataConfig {
    let company = base.data.as_ref();
    DataConfig {
        primary_url_env: PRIMARY_URL_ENV.to_owned(),
        standby_url_env: STANDBY_URL_ENV.to_owned(),
        backups: BackupsConfig {
            bucket: None,
            prefix: String::new(),
            dir: Some(backups_dir.to_owned()),
        },
        tables: tables(base),
        jobs: company.map_or(2, |d| d.jobs),
        tools_dir: company.and_then(|d| d.tools_dir.clone()),
        // The primary is down in the drill: no need to wait long to see it.
        connect_timeout: HumanDuration::from_secs(2),
    }
}

/// The newest seeded row for an outage that started at `outage_start`.
pub fn seed_newest(outage_start: DateTime<Utc>) -> DateTime<Utc> {
    outage_start - chrono::Duration::from_std(SEED_GAP).unwrap_or_default()
}

/// SQL that creates `tables` and fills each with `rows` rows, the newest at `newest` and the
/// others a second apart before it. Names were checked by the config (or are the stand-ins)
/// and are quoted.
pub fn seed_sql(tables: &[TableConfig], rows: u64, newest: DateTime<Utc>) -> String {
    let newest = newest.to_rfc3339_opts(SecondsFormat::Micros, true);
    let mut sql = String::new();
    for table in tables {
        let (schema, name) = table.parts();
        let fresh = &table.freshness;
        let row = if fresh == "drill_row" {
            "drill_row_no"
        } else {
            "drill_row"
        };
        sql.push_str(&format!(
            "CREATE SCHEMA IF NOT EXISTS \"{schema}\";\n\
             CREATE TABLE \"{schema}\".\"{name}\" (\"{row}\" bigint PRIMARY KEY, \"{fresh}\" timestamptz NOT NULL);\n\
             INSERT INTO \"{schema}\".\"{name}\" (\"{row}\", \"{fresh}\")\n  \
             SELECT g, '{newest}'::timestamptz - (g - 1) * interval '1 second' FROM generate_series(1, {rows}) g;\n"
        ));
    }
    sql
}

/// SQL, run in another database of the cluster, after which the primary refuses every
/// connection: the drill's Heroku outage reaches its database.
pub fn take_down_sql() -> String {
    format!(
        "ALTER DATABASE \"{PRIMARY_DB}\" WITH ALLOW_CONNECTIONS false;\n\
         SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '{PRIMARY_DB}';\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toml_source::TomlSource;

    const BASE: &str = "[objectives]\nhosting_rto = \"4h\"\nllm_rto = \"2h\"\nrpo = \"1h\"\n";

    fn config(extra: &str) -> Config {
        Config::from_source(TomlSource::new("c.toml", format!("{BASE}{extra}")))
            .unwrap_or_else(|e| panic!("{e:?}"))
            .config
    }

    const COMPANY: &str = "[data]\nprimary_url_env = \"DATABASE_URL\"\nstandby_url_env = \"STANDBY_DATABASE_URL\"\nbackups = { bucket = \"company-backups\", prefix = \"pg/\" }\njobs = 4\ntables = [{ name = \"billing.invoices\", freshness = \"changed_at\" }]\n";

    #[test]
    fn the_drill_never_names_the_companys_databases_or_backups() {
        let base = config(COMPANY);
        let data = throwaway_data(&base, Path::new("/tmp/drill-backups"));
        assert_eq!(data.primary_url_env, PRIMARY_URL_ENV);
        assert_eq!(data.standby_url_env, STANDBY_URL_ENV);
        let company = base.data.as_ref().unwrap();
        for var in data.secret_env_vars() {
            assert!(!company.secret_env_vars().contains(&var), "{var}");
        }
        assert_eq!(data.backups.bucket, None);
        assert_eq!(
            data.backups.dir.as_deref(),
            Some(Path::new("/tmp/drill-backups"))
        );
        // What it does copy: the tables to verify and how the company restores.
        assert_eq!(data.tables, company.tables);
        assert_eq!(data.jobs, 4);
    }

    #[test]
    fn real_data_when_asked_or_configured_and_only_for_runbooks_that_move_data() {
        let dir = tempfile::tempdir().unwrap();
        let runbook = |name: &str, kind: &str, with: &str| {
            let path = dir.path().join(format!("{name}.toml"));
            std::fs::write(
                &path,
                format!("name = \"{name}\"\ntitle = \"T\"\nworkstream = \"hosting\"\n\n[[steps]]\nid = \"s\"\nkind = \"{kind}\"\nwith = {with}\n"),
            )
            .unwrap();
            crate::runbook::load_file(&path, &config("")).unwrap_or_else(|e| panic!("{e:?}"))
        };
        let rb = [
            runbook("failover-hosting", "db_verify", "{ on = \"standby\" }"),
            runbook("switch-llm", "confirm", "{ question = \"Switch?\" }"),
        ];
        let target = |runbook: &str| Target {
            provider: "p".into(),
            title: "P".into(),
            runbook: runbook.into(),
            workstream: crate::domain::Workstream::Hosting,
        };
        let (offline, company) = (config(""), config(COMPANY));
        let hosting = [target("failover-hosting")];
        let llm = [target("switch-llm")];
        assert_eq!(choose(&offline, &rb, &hosting, false), DrillData::Simulated);
        assert_eq!(
            choose(&offline, &rb, &hosting, true),
            DrillData::Throwaway { required: true }
        );
        assert_eq!(
            choose(&company, &rb, &hosting, false),
            DrillData::Throwaway { required: false }
        );
        assert_eq!(choose(&company, &rb, &llm, true), DrillData::Untouched);
    }

    #[test]
    fn without_data_the_drill_seeds_stand_in_tables() {
        let names: Vec<String> = tables(&config(""))
            .into_iter()
            .map(|t| format!("{}.{}", t.name, t.freshness))
            .collect();
        assert_eq!(names, ["orders.updated_at", "events.created_at"]);
    }

    #[test]
    fn the_seed_ends_the_gap_before_the_outage() {
        let outage = DateTime::parse_from_rfc3339("2026-11-25T10:00:00.250Z")
            .unwrap()
            .with_timezone(&Utc);
        let newest = seed_newest(outage);
        assert_eq!(
            crate::ports::data::loss_window(outage, newest),
            SEED_GAP,
            "the window the drill must measure"
        );
        let sql = seed_sql(&tables(&config(COMPANY)), 3, newest);
        assert!(
            sql.contains("CREATE SCHEMA IF NOT EXISTS \"billing\";"),
            "{sql}"
        );
        assert!(
            sql.contains("CREATE TABLE \"billing\".\"invoices\" (\"drill_row\" bigint PRIMARY KEY, \"changed_at\" timestamptz NOT NULL);"),
            "{sql}"
        );
        assert!(
            sql.contains("'2026-11-25T09:48:00.250000Z'::timestamptz - (g - 1) * interval '1 second' FROM generate_series(1, 3) g;"),
            "{sql}"
        );
    }
}
