//! `lifeboat docs`: the living disaster-recovery plan, rendered in Markdown from the config and
//! the runbooks Lifeboat executes (and, given a log, the last drills), so the plan document
//! can never drift from what runs. Pure: the caller reads the files and the log.
//!
//! Secrets never appear: the config names environment variables, and only those names are
//! shown; header values and `${env.*}` are never expanded; webhook URLs (which carry a token
//! in their path) are shown by host only; feed and step URLs without their userinfo, query
//! and fragment (where probe URLs carry tokens).

mod plan;
mod steps;
mod text;
mod training;

pub use plan::render;
pub use steps::describe_step;
pub use training::training;

#[cfg(test)]
mod tests {
    use super::text::shown_url;
    use super::*;
    use crate::config::Config;
    use crate::drill::history::DrillRecord;
    use crate::drill::history::DrillResult;
    use crate::duration::HumanDuration;
    use crate::runbook::Runbook;
    use crate::toml_source::TomlSource;
    use std::time::Duration;

    const CONFIG: &str = r#"
[objectives]
hosting_rto = "4h"
llm_rto = "2h"
rpo = "1h"

[[providers]]
name = "heroku"
title = "Heroku"
workstream = "hosting"
runbook = "failover"

[[feeds]]
name = "heroku-status"
provider = "heroku"
kind = "heroku"
url = "https://status.heroku.com/api/v4/current-status"

[aws.ecs]
cluster = "standby"
services = [{ name = "web", standby = 3 }]

[aws.dns]
zone_id = "Z1"
ttl = 60
records = [{ name = "app.example.com.", primary = "a.herokudns.com.", standby = "alb.aws.com." }]

[llm.anthropic]
base_url = "https://api.anthropic.com"
key_env = "ANTHROPIC_API_KEY"
model = "m"

[[teams]]
name = "engineering"
channel_id = "300"
webhook_url = "https://hooks.slack.com/services/T000/B000/XoXoSeCrEtToKeN"

[vars]
app_url = "https://app.example.com"
"#;

    fn config() -> Config {
        Config::from_source(TomlSource::new("t.toml", CONFIG))
            .unwrap()
            .config
    }

    fn failover(config: &Config) -> Runbook {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("failover.toml");
        std::fs::write(
            &path,
            r#"name = "failover"
title = "Fail over"
workstream = "hosting"

[[steps]]
id = "scale"
kind = "ecs_scale"
with = { to = "standby" }
timeout = "20m"
retries = 2

[[steps]]
id = "dns"
kind = "route53_upsert"
with = { to = "standby" }

[[steps]]
id = "flip"
kind = "http_request"
on_failure = "pause"
with = { method = "PATCH", url = "${vars.app_url}/switch", headers = { Authorization = "Bearer ${env.HEROKU_API_KEY}" } }

[[steps]]
id = "smoke"
kind = "http_check"
with = { url = "${vars.app_url}/health", body_contains = "ok" }
"#,
        )
        .unwrap();
        crate::runbook::load_file(&path, config).unwrap()
    }

    #[test]
    fn the_plan_shows_objectives_protocols_steps_and_teams() {
        let c = config();
        let text = render(&c, &[failover(&c)], None);
        for expected in [
            "| hosting recovery time (RTO) | 4h |",
            "| data loss at most (RPO) | 1h |",
            "| Heroku | hosting | [`failover`](#failover) |",
            "| heroku-status | heroku | heroku | https://status.heroku.com/api/v4/current-status | 1m | all |",
            "### failover",
            "Worst case if every step runs to its timeout on every attempt: 1h 07m",
            "(including the DNS TTL of 1m)",
            "Approval: 1 approver with the approver role besides the requester (never the requester), within 15m",
            "1. **scale** (`scale`, ecs_scale)",
            "Scale the ECS services of cluster `standby` to their standby (AWS) counts (web → 3)",
            "Timeout 20m, up to 2 retries on transient errors (backoff from 2s); on failure: stop the run.",
            "`app.example.com.` CNAME → `alb.aws.com.` (UPSERT, TTL 60s)",
            "Send `PATCH https://app.example.com/switch` (headers: Authorization)",
            "on failure: pause for a responder (retry, skip or abort); after a crash it is not re-run without a person.",
            "Poll `GET https://app.example.com/health` (every 5s) until it answers 200 with \"ok\" in the body.",
            "| engineering | 300 | — | https://hooks.slack.com/… | — |",
            "`ANTHROPIC_API_KEY`, `HEROKU_API_KEY`",
            "Drill both protocols every 365d",
            "render with `--data-dir`",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
    }

    #[test]
    fn secrets_and_webhook_tokens_never_appear() {
        let c = config();
        let text = render(&c, &[failover(&c)], Some(&[]));
        assert!(!text.contains("XoXoSeCrEtToKeN"), "{text}");
        assert!(
            !text.contains("Bearer"),
            "header values are never shown:\n{text}"
        );
        assert!(text.contains("No drill has been recorded yet."));
        let mut tight = c.clone();
        tight.objectives.hosting_rto = HumanDuration::from_secs(3600);
        let text = render(&tight, &[failover(&c)], None);
        assert!(
            text.contains("1h 07m (including the DNS TTL of 1m): **more than the RTO of 1h**"),
            "{text}"
        );
    }

    #[test]
    fn urls_are_shown_without_userinfo_query_or_fragment() {
        assert_eq!(
            shown_url("https://ops:PaSs@probe.example.com:8443/health?token=SeCrEt#x"),
            "https://probe.example.com:8443/health?…"
        );
        assert_eq!(
            shown_url("https://status.heroku.com/api/v4/current-status"),
            "https://status.heroku.com/api/v4/current-status"
        );
        assert_eq!(
            shown_url("https://app.example.com?token=SeCrEt"),
            "https://app.example.com?…"
        );
        assert_eq!(
            shown_url("${params.base}/restore?key=SeCrEt"),
            "${params.base}/restore?…"
        );

        // Through the whole plan: a feed URL and a vars-expanded step URL with tokens.
        let text = CONFIG
            .replace(
                "url = \"https://status.heroku.com/api/v4/current-status\"",
                "url = \"https://watch:FeEdPaSs@status.heroku.com/api/v4/current-status?token=FeEdToKeN\"",
            )
            .replace(
                "app_url = \"https://app.example.com\"",
                "app_url = \"https://ops:VaRpAsS@app.example.com\"",
            );
        let c = Config::from_source(TomlSource::new("t.toml", &text))
            .unwrap()
            .config;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("probe.toml");
        std::fs::write(
            &path,
            r#"name = "probe"
title = "Probe"
workstream = "hosting"

[[steps]]
id = "smoke"
kind = "http_check"
with = { url = "${vars.app_url}/health?token=StEpToKeN" }

[[steps]]
id = "flip"
kind = "http_request"
with = { method = "POST", url = "${vars.app_url}/switch?token=StEpToKeN" }
"#,
        )
        .unwrap();
        let rb = crate::runbook::load_file(&path, &c).unwrap();
        let plan = render(&c, &[rb], None);
        for secret in ["FeEdToKeN", "FeEdPaSs", "VaRpAsS", "StEpToKeN", "token="] {
            assert!(!plan.contains(secret), "{secret} shown in:\n{plan}");
        }
        for shown in [
            "| https://status.heroku.com/api/v4/current-status?… |",
            "Poll `GET https://app.example.com/health?…`",
            "Send `POST https://app.example.com/switch?…`",
        ] {
            assert!(plan.contains(shown), "missing {shown:?} in:\n{plan}");
        }
    }

    #[test]
    fn the_last_drills_are_listed_newest_first() {
        let c = config();
        let drill = |day: u32, met: bool| DrillRecord {
            at: format!("2026-11-{day:02}T10:00:00Z").parse().unwrap(),
            incident: Some(format!("INC-{day}")),
            mode: crate::events::DrillMode::Automatic,
            real_aws: false,
            results: vec![DrillResult {
                provider: "heroku".into(),
                runbook: "failover".into(),
                run: "RUN-1".into(),
                status: "succeeded".into(),
                detection: Some(Duration::from_millis(462)),
                detection_bound: None,
                recovery: Some(Duration::from_millis(48)),
                rto: Some(Duration::from_secs(4 * 3600)),
                data_loss: Some(Duration::from_secs(720)),
                rpo: Some(Duration::from_secs(3600)),
                rto_met: met,
                rpo_met: true,
            }],
        };
        let text = render(
            &c,
            &[failover(&c)],
            Some(&[drill(1, false), drill(20, true)]),
        );
        let newest = text.find("| 2026-11-20 10:00 | INC-20 | automatic (does not count as the plan's drill: it measures Lifeboat's pipeline on the simulation) | heroku → `failover` | succeeded | 462ms | 48ms / 4h (met) | 12m 00s / 1h (met) |").expect(&text);
        let oldest = text.find("| 2026-11-01 10:00 | INC-1 |").expect(&text);
        assert!(newest < oldest);
        assert!(text.contains("/ 4h (MISSED)"));
    }
}
