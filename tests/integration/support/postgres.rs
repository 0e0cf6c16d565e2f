//! A real PostgreSQL for the data tests: one throwaway cluster per test binary (Lifeboat's own
//! `LocalCluster`, started as the `postgres` user when the tests run as root), shared like the
//! moto server, and a fresh database per test. The cluster stops when the binary exits.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use lifeboat::db::throwaway::LocalCluster;

/// The shared cluster; panics with what to install when PostgreSQL is missing.
pub fn cluster() -> &'static LocalCluster {
    static CLUSTER: OnceLock<LocalCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        LocalCluster::start().unwrap_or_else(|err| {
            panic!("cannot start a throwaway PostgreSQL: {err}; scripts/test checks for it")
        })
    })
}

/// A new, empty database on the shared cluster.
pub struct Db {
    pub name: String,
}

impl Db {
    pub fn new(label: &str) -> Db {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "{label}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        cluster()
            .create_database(&name)
            .unwrap_or_else(|e| panic!("{e}"));
        Db { name }
    }

    pub fn url(&self) -> String {
        cluster().url(&self.name)
    }

    /// Runs SQL here; panics on an error.
    pub fn sql(&self, sql: &str) -> String {
        cluster()
            .sql(&self.name, sql)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// One number from a query.
    pub fn count(&self, sql: &str) -> u64 {
        let out = self.sql(sql);
        out.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{sql} gave {out:?}"))
    }
}

/// The tables the data tests use, as `[data] tables`: `orders` (a primary key, `updated_at`)
/// and `events` (no key at all, so a doubled restore would show as doubled rows).
pub fn tables() -> serde_json::Value {
    serde_json::json!([
        { "name": "orders", "freshness": "updated_at" },
        { "name": "public.events", "freshness": "created_at" },
    ])
}

/// Creates both tables with `rows` rows each, the newest `updated_at`/`created_at` exactly at
/// `newest` (RFC 3339) and the others a second apart before it.
pub fn seed(db: &Db, rows: u64, newest: &str) {
    db.sql(&format!(
        "CREATE TABLE orders (id bigserial PRIMARY KEY, body text NOT NULL, updated_at timestamptz NOT NULL);
         CREATE INDEX orders_updated ON orders (updated_at);
         CREATE TABLE events (ref bigint, kind text, created_at timestamptz);
         INSERT INTO orders (body, updated_at)
           SELECT md5(g::text), '{newest}'::timestamptz - ((g - 1) || ' seconds')::interval
           FROM generate_series(1, {rows}) g;
         INSERT INTO events (ref, kind, created_at)
           SELECT g, 'created', '{newest}'::timestamptz - ((g - 1) || ' seconds')::interval
           FROM generate_series(1, {rows}) g;"
    ));
}
