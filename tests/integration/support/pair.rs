//! Two `lifeboat run` processes as an HA pair (`[ha]`): one moto server (DynamoDB, Route 53,
//! ECS) behind a pausable proxy that counts the AWS calls, the fake Discord they share, the
//! standby seeded in moto, a stand-in app whose `/health` holds each request (a slow step to
//! kill a leader in) and whose `/announce` counts the notices, and each node's own project and
//! data dir. Short lease (2 s, renewed every 500 ms) so that take-overs are quick.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lifeboat::aws::AwsClients;
use serde_json::json;
use tokio::sync::MutexGuard;

use super::app::Binary;
use super::discord::FakeDiscord;
use super::http::{HttpServer, Reply};
use super::moto::{MotoServer, moto};
use super::proxy::Proxy;
use super::standby;

/// The lease, its renewal and the skew margin of every pair in the tests.
pub const LEASE: Duration = Duration::from_secs(2);
pub const RENEW: Duration = Duration::from_millis(500);
/// How long the stand-in app holds each `/health` request.
pub const SLOW: Duration = Duration::from_secs(3);
pub const NODES: [&str; 2] = ["node-a", "node-b"];
const TABLE: &str = "lifeboat-pair";
pub const AWS_ENV: [(&str, &str); 2] = [
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "testing"),
];

/// `failover-hosting`'s hosting steps against moto (the shipped one also asks a human and
/// restores a database, which these tests do not exercise): scale ECS, point DNS, a slow
/// smoke test on the stand-in app, and a notice to it.
pub const FAILOVER: &str = r#"
name = "failover-hosting"
title = "Fail over hosting from Heroku to AWS"
workstream = "hosting"

[approval]
approvals = 1

[[steps]]
id = "scale-standby"
kind = "ecs_scale"
with = { to = "standby" }

[[steps]]
id = "point-dns"
kind = "route53_upsert"
with = { to = "standby" }

[[steps]]
id = "smoke"
kind = "http_check"
with = { url = "${vars.app_url}/health", expect_status = 200, max_latency = "30s" }
timeout = "30s"

[[steps]]
id = "announce"
kind = "http_request"
with = { method = "POST", url = "${vars.app_url}/announce" }
"#;

pub struct Pair {
    pub nodes: Vec<Binary>,
    pub proxy: Proxy,
    pub fake: Arc<FakeDiscord>,
    /// The stand-in app (`/health`, `/announce`).
    pub app: HttpServer,
    /// moto, directly (not through the proxy).
    pub aws: AwsClients,
    _moto: MutexGuard<'static, MotoServer>,
}

impl Pair {
    /// Seeds the standby, creates the table and starts node-a; returns once it leads. node-b
    /// is started by [`Pair::start_follower`].
    pub async fn start() -> Pair {
        let moto = moto().await;
        let aws = moto.clients().await;
        let zone = standby::seed(&aws, &["web", "worker"], 300).await;
        let target = moto
            .endpoint()
            .trim_start_matches("http://")
            .parse()
            .expect("moto's address");
        let proxy = Proxy::start(target);
        let app = HttpServer::start();
        app.reply("/health", Reply::json("{\"status\":\"ok\"}").delay(SLOW));
        app.reply("/announce", Reply::json("{}"));
        let fake = Arc::new(FakeDiscord::start());
        fake.set_patience(Duration::from_secs(30));
        let mut pair = Pair {
            nodes: Vec::new(),
            proxy,
            fake,
            app,
            aws,
            _moto: moto,
        };
        lifeboat::ha::Table::new(pair.aws.dynamodb.clone(), TABLE)
            .create()
            .await
            .expect("the pair's table");
        let first = pair.project(NODES[0], &zone);
        let mut leader = Binary::on_discord(first, pair.fake.clone(), &AWS_ENV, patience());
        leader.wait_for("Lifeboat is watching");
        pair.nodes.push(leader);
        let second = pair.project(NODES[1], &zone);
        pair.nodes.push(Binary::on_discord(
            second,
            pair.fake.clone(),
            &AWS_ENV,
            patience(),
        ));
        pair.nodes[1].wait_for("Following node-a");
        pair
    }

    /// A node's project: the standby's config on moto through the proxy, `[ha]` with the
    /// short lease, the fake Discord, the failover runbook.
    fn project(&self, node: &str, zone: &str) -> super::config::Project {
        standby::aws(
            standby::config(&[("app_url", self.app.base_url())]),
            &self.proxy.url(),
            zone,
        )
        .set(
            "ha",
            json!({
                "table": TABLE,
                "node_id": node,
                "lease": "2s",
                "renew": "500ms",
                "skew_margin": "200ms",
            }),
        )
        .runbook(FAILOVER)
        .discord(&self.fake.api_base())
        .access()
        .server_on_free_port()
        .project()
    }

    /// Requests and approves a failover on the leader `node`; returns the run id.
    pub async fn fail_over(&mut self, node: usize) -> String {
        let (alice, bob) = (
            super::discord::Member::new(1, "alice", &[super::discord::RESPONDER]),
            super::discord::Member::new(2, "bob", &[super::discord::APPROVER]),
        );
        self.nodes[node]
            .request_and_approve("failover-hosting", &alice, &bob)
            .await
    }

    /// Waits until the stand-in app saw `n` requests to `path`.
    pub fn wait_hits(&self, path: &str, n: usize, within: Duration) {
        let deadline = Instant::now() + within;
        while self.app.hits(path) < n {
            assert!(
                Instant::now() < deadline,
                "{path} had {} requests after {within:?}, not {n}",
                self.app.hits(path)
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Every AWS call that changes the standby, and the notice, as counted on the way: each
    /// finished step's must have been made exactly once.
    pub fn side_effects(&self) -> [usize; 3] {
        [
            self.proxy.count("UpdateService"),
            // ChangeResourceRecordSets (reads of the records are GETs).
            self.proxy
                .count_where(|s| s.starts_with("post ") && s.contains("/rrset")),
            self.app.hits("/announce"),
        ]
    }
}

/// How long the nodes' waits may take.
pub fn patience() -> Duration {
    Duration::from_secs(40)
}
