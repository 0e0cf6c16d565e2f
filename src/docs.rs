//! `lifeboat docs`: the living disaster-recovery plan, rendered in Markdown from the config and
//! the runbooks Lifeboat executes (and, given a log, the last drills), so the plan document
//! can never drift from what runs. Pure: the caller reads the files and the log.
//!
//! Secrets never appear: the config names environment variables, and only those names are
//! shown; header values and `${env.*}` are never expanded; webhook URLs (which carry a token
//! in their path) are shown by host only; feed and step URLs without their userinfo, query
//! and fragment (where probe URLs carry tokens).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::check::worst_case;
use crate::config::Config;
use crate::domain::Workstream;
use crate::drill::history::DrillRecord;
use crate::duration::{HumanDuration, format_elapsed};
use crate::runbook::interp::{self, Namespace};
use crate::runbook::{Audience, NoticeKind, OnFailure, Runbook, Side, Step, StepAction};

/// Markdown table cells: no pipes or line breaks.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// `text` with `${vars.*}` filled from the config; `${params.*}` and `${env.*}` stay as they
/// are written (parameters are given per run; secrets are never shown).
fn with_vars(config: &Config, text: &str) -> String {
    interp::expand(text, |r| match r.namespace {
        Namespace::Vars => config
            .vars
            .get(&r.name)
            .cloned()
            .or_else(|| Some(format!("${{vars.{}}}", r.name))),
        ns => Some(format!("${{{ns}.{}}}", r.name)),
    })
    .unwrap_or_else(|_| text.to_owned())
}

/// A URL by scheme and host only (webhook paths carry tokens).
fn host_only(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!("{}://{}/…", u.scheme(), u.host_str().unwrap_or("?")),
        Err(_) => "(an invalid URL)".to_owned(),
    }
}

/// A URL as the plan shows it: scheme, host and path. Userinfo, query and fragment are
/// dropped (a `?…` marks a dropped query or fragment). Works on text, not a parsed URL, so
/// `${params.*}` placeholders stay readable.
fn shown_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(auth_end);
    let authority = match scheme {
        Some(_) => authority
            .rsplit_once('@')
            .map_or(authority, |(_, host)| host),
        None => authority,
    };
    let path_end = tail.find(['?', '#']).unwrap_or(tail.len());
    let dropped = if path_end < tail.len() { "?…" } else { "" };
    let path = &tail[..path_end];
    match scheme {
        Some(scheme) => format!("{scheme}://{authority}{path}{dropped}"),
        None => format!("{authority}{path}{dropped}"),
    }
}

fn side(side: Side) -> &'static str {
    match side {
        Side::Standby => "standby (AWS)",
        Side::Primary => "primary (Heroku)",
    }
}

fn workstream_title(w: Workstream) -> &'static str {
    match w {
        Workstream::Hosting => "hosting",
        Workstream::Llm => "LLM",
        Workstream::Data => "data",
    }
}

/// What a step does, in words.
pub fn describe_step(config: &Config, step: &Step) -> String {
    let v = |t: &str| with_vars(config, t);
    match &step.action {
        StepAction::EcsScale(a) => {
            let (cluster, services) = match &config.aws.ecs {
                Some(ecs) => (
                    ecs.cluster.as_str(),
                    ecs.services
                        .iter()
                        .filter(|s| a.services.is_empty() || a.services.contains(&s.name))
                        .map(|s| {
                            let n = match (a.count, a.to) {
                                (Some(count), _) => count,
                                (None, Side::Standby) => s.standby,
                                (None, Side::Primary) => s.idle,
                            };
                            format!("{} → {n}", s.name)
                        })
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
                None => ("(no [aws.ecs])", String::new()),
            };
            format!(
                "Scale the ECS services of cluster `{cluster}` to their {} counts ({services}) and wait until each is stable.",
                side(a.to)
            )
        }
        StepAction::Route53Upsert(a) => {
            let (zone, ttl, records) = match &config.aws.dns {
                Some(dns) => (
                    dns.zone_id.as_str(),
                    dns.ttl,
                    dns.records
                        .iter()
                        .filter(|r| a.records.is_empty() || a.records.contains(&r.name))
                        .map(|r| {
                            let value = match a.to {
                                Side::Standby => &r.standby,
                                Side::Primary => &r.primary,
                            };
                            format!("`{}` {} → `{value}`", r.name, r.record_type)
                        })
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
                None => ("(no [aws.dns])", 0, String::new()),
            };
            format!(
                "Point DNS at the {} in Route 53 zone `{zone}`: {records} (UPSERT, TTL {ttl}s), recording the previous values.",
                side(a.to)
            )
        }
        StepAction::Route53Wait(a) => format!(
            "Wait until the DNS change made by step `{}` is INSYNC on every Route 53 name server (polling every {}).",
            a.change_of, a.poll
        ),
        StepAction::HttpCheck(a) => {
            let mut s = format!(
                "Poll `GET {}` (every {}) until it answers {}",
                shown_url(&v(&a.url)),
                a.poll,
                a.expect_status
            );
            if let Some(b) = &a.body_contains {
                let _ = write!(s, " with \"{b}\" in the body");
            }
            if let Some(l) = a.max_latency {
                let _ = write!(s, " within {l}");
            }
            s.push('.');
            s
        }
        StepAction::HttpRequest(a) => {
            let mut s = format!("Send `{} {}`", a.method, shown_url(&v(&a.url)));
            if let Some(json) = &a.json {
                let _ = write!(s, " with the JSON body `{json}`");
            }
            if !a.headers.is_empty() {
                let names: Vec<&str> = a.headers.keys().map(String::as_str).collect();
                let _ = write!(s, " (headers: {})", names.join(", "));
            }
            if a.expect_status.is_empty() {
                s.push_str("; any 2xx answer counts.");
            } else {
                let codes: Vec<String> = a.expect_status.iter().map(u16::to_string).collect();
                let _ = write!(s, "; expects {}.", codes.join(" or "));
            }
            s
        }
        StepAction::LlmProbe(a) => {
            let mut s = format!("Send the test prompt \"{}\" to {}", a.prompt, a.provider);
            if let Some(e) = &a.expect_contains {
                let _ = write!(s, " and expect \"{e}\" in the answer");
            }
            if let Some(l) = a.max_latency {
                let _ = write!(s, " within {l}");
            }
            s.push('.');
            s
        }
        StepAction::BackupCheck(a) => {
            let source = match (&a.url, &a.command) {
                (Some(url), _) => format!(
                    "the time at `{}` of `{}`",
                    a.time_pointer.as_deref().unwrap_or("?"),
                    shown_url(&v(url))
                ),
                (None, Some(argv)) => format!(
                    "the time printed by `{}`",
                    argv.iter().map(|x| v(x)).collect::<Vec<_>>().join(" ")
                ),
                (None, None) => "(no source)".to_owned(),
            };
            let limit = match a.max_age {
                Some(max) => format!("{max}"),
                None => format!("the RPO ({})", config.objectives.rpo),
            };
            format!(
                "Check that the latest backup ({source}) is younger than {limit}; its age is the data-loss window."
            )
        }
        StepAction::Command(a) => {
            let argv: Vec<String> = a.argv.iter().map(|x| v(x)).collect();
            let mut s = format!("Run `{}` (no shell", argv.join(" "));
            if a.env.is_empty() {
                s.push_str(", no environment but PATH");
            } else {
                let _ = write!(s, "; passes only {}", a.env.join(", "));
            }
            s.push_str(").");
            s
        }
        StepAction::Notify(a) => {
            format!("Notify team {}: \"{}\"", a.team, v(&a.what()))
        }
        StepAction::CommsDraft(a) => format!(
            "Draft the {} notice for {}; it is sent only after a communicator approves it.",
            match a.notice {
                NoticeKind::Initial => "initial",
                NoticeKind::Update => "update",
                NoticeKind::Resolved => "resolution",
            },
            match a.audience {
                Audience::Clients => "clients",
                Audience::Internal => "internal teams",
            }
        ),
        StepAction::Confirm(a) => format!(
            "Ask in the incident channel and wait for a person's yes: \"{}\"",
            a.question
        ),
        StepAction::Wait(a) => format!("Wait {}.", a.duration),
        StepAction::DbCopy(a) => format!(
            "Copy the {} database straight into the {} (`pg_dump | pg_restore --clean`){}.",
            side(a.from),
            side(a.to),
            match a.if_unreachable {
                crate::runbook::IfUnreachable::Continue => {
                    "; when it does not answer, go on to the backup path"
                }
                crate::runbook::IfUnreachable::Fail => "; it must answer",
            }
        ),
        StepAction::DbRestore(a) => format!(
            "Restore {} into the {} database (`pg_restore --clean --if-exists --no-owner --jobs N`), after checking its age against {}; an older one needs an approver to accept the extra data loss. Skipped when an earlier copy filled it.",
            a.backup.as_deref().filter(|b| !b.is_empty()).map_or_else(
                || "the newest backup".to_owned(),
                |b| format!("backup `{}`", v(b))
            ),
            side(a.to),
            a.max_age.map_or_else(
                || format!("the RPO ({})", config.objectives.rpo),
                |m| m.to_string()
            )
        ),
        StepAction::DbVerify(a) => format!(
            "Count the rows of the configured tables on the {} database against the backup (or the copy's source) and measure the data-loss window from the newest row.",
            side(a.on)
        ),
        StepAction::LlmParity(a) => format!(
            "Run the LLM parity suite `{}` against {} and stop the run unless it passes at least {:.0}% of the prompts.",
            a.suite
                .clone()
                .unwrap_or_else(|| config.parity.llm_suite_path(&config.paths))
                .display(),
            a.provider,
            a.min_pass.unwrap_or(config.parity.llm_min_pass) * 100.0
        ),
        StepAction::LlmSwitch(a) => format!(
            "Set the app's `{}` to `{}` where the app runs now (read from the log): on Heroku through the Platform API, or after a hosting failover as a new ECS task definition revision, deployed and waited on (the old revision is kept for the switch back).",
            config.app.llm_var, a.provider
        ),
    }
}

fn on_failure(o: OnFailure) -> &'static str {
    match o {
        OnFailure::Abort => "stop the run",
        OnFailure::Pause => "pause for a responder (retry, skip or abort)",
        OnFailure::Continue => "note the failure and go on",
    }
}

fn approvals(rb: &Runbook) -> String {
    let a = &rb.approval;
    if a.approvals == 0 {
        return "no approval (read-only)".to_owned();
    }
    format!(
        "{} approver{} with the approver role besides the requester{}, within {} of the request",
        a.approvals,
        if a.approvals == 1 { "" } else { "s" },
        if a.requester_may_approve {
            " (the requester's own approval counts)"
        } else {
            " (never the requester)"
        },
        a.expires
    )
}

/// The environment variables the plan depends on: names only.
fn secret_names(config: &Config, runbooks: &[Runbook]) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = config
        .secret_env_vars()
        .into_iter()
        .map(str::to_owned)
        .collect();
    for t in &config.teams {
        if let Some(var) = &t.pagerduty_routing_key_env {
            names.insert(var.clone());
        }
    }
    for step in runbooks.iter().flat_map(|r| &r.steps) {
        if let StepAction::HttpRequest(a) = &step.action {
            for value in a.headers.values().chain(std::iter::once(&a.url)) {
                for r in interp::references(value).unwrap_or_default() {
                    if r.namespace == Namespace::Env {
                        names.insert(r.name);
                    }
                }
            }
        }
    }
    names
}

/// The plan document. `drills`: `None` when no log was given, else every finished drill.
pub fn render(config: &Config, runbooks: &[Runbook], drills: Option<&[DrillRecord]>) -> String {
    let mut out = String::new();
    let o = &config.objectives;
    let _ = writeln!(out, "# Disaster-recovery plan\n");
    let _ = writeln!(
        out,
        "_Generated by `lifeboat docs` from the configuration and the runbooks in `{}`: this is exactly what Lifeboat executes. Change those files, not this document._\n",
        config.paths.runbooks.display()
    );

    let _ = writeln!(out, "## Objectives\n");
    let _ = writeln!(out, "| objective | target |\n|---|---|");
    let _ = writeln!(out, "| hosting recovery time (RTO) | {} |", o.hosting_rto);
    let _ = writeln!(out, "| LLM recovery time (RTO) | {} |", o.llm_rto);
    if let Some(d) = o.data_rto {
        let _ = writeln!(out, "| data restore recovery time (RTO) | {d} |");
    }
    let _ = writeln!(out, "| data loss at most (RPO) | {} |\n", o.rpo);

    let _ = writeln!(out, "## Providers and their protocols\n");
    let _ = writeln!(
        out,
        "| provider | workstream | protocol on outage |\n|---|---|---|"
    );
    for p in &config.providers {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            cell(p.title.as_deref().unwrap_or(&p.name)),
            workstream_title(p.workstream),
            p.runbook
                .as_deref()
                .map(|r| format!("[`{r}`](#{r})"))
                .unwrap_or_else(|| "watched only".to_owned())
        );
    }
    out.push('\n');

    let _ = writeln!(out, "## Feeds watched\n");
    if config.feeds.is_empty() {
        let _ = writeln!(out, "None.\n");
    } else {
        let _ = writeln!(
            out,
            "| feed | provider | kind | source | every | watched components |\n|---|---|---|---|---|---|"
        );
        for f in &config.feeds {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                cell(&f.name),
                cell(&f.provider),
                f.kind,
                cell(&shown_url(&f.url)),
                f.interval,
                if f.components.is_empty() {
                    "all".to_owned()
                } else {
                    cell(&f.components.join(", "))
                }
            );
        }
        let _ = writeln!(
            out,
            "\nA level counts after {} consecutive readings; an alert is CONFIRMED when two feeds of a provider agree.\n",
            config.watch.debounce
        );
    }

    let _ = writeln!(out, "## Protocols\n");
    let ttl = config.aws.dns.as_ref().map(|d| d.ttl);
    for rb in runbooks {
        let _ = writeln!(out, "### {}\n", rb.name);
        let _ = writeln!(out, "**{}**\n", rb.title);
        if let Some(d) = &rb.description {
            let _ = writeln!(out, "{d}\n");
        }
        let objective = o
            .rto_for(rb.workstream)
            .map(|rto| {
                format!(
                    "measured against the {} RTO of {rto}",
                    workstream_title(rb.workstream)
                )
            })
            .unwrap_or_else(|| "no recovery-time objective".to_owned());
        let worst = worst_case(rb, ttl);
        let over = o
            .rto_for(rb.workstream)
            .filter(|rto| worst.total > rto.get())
            .map(|rto| {
                format!(": **more than the RTO of {rto}** (see `lifeboat check --production`)")
            })
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "- Workstream: {}, {objective}. Worst case if every step runs to its timeout on every attempt: {}{}{over}.",
            workstream_title(rb.workstream),
            format_elapsed(worst.total),
            worst
                .dns_ttl
                .map(|t| format!(" (including the DNS TTL of {})", HumanDuration(t)))
                .unwrap_or_default()
        );
        let _ = writeln!(out, "- Approval: {}.", approvals(rb));
        if !rb.params.is_empty() {
            let params: Vec<String> = rb
                .params
                .iter()
                .map(|p| {
                    let mut s = format!("`{}`", p.name);
                    if let Some(d) = &p.description {
                        let _ = write!(s, " ({d})");
                    }
                    if let Some(d) = &p.default {
                        let _ = write!(s, ", default `{d}`");
                    }
                    s
                })
                .collect();
            let _ = writeln!(out, "- Parameters: {}.", params.join("; "));
        }
        let _ = writeln!(out, "\nSteps:\n");
        for (i, step) in rb.steps.iter().enumerate() {
            let _ = writeln!(
                out,
                "{}. **{}** (`{}`, {})  \n   {}  \n   Timeout {}{}; on failure: {}{}.",
                i + 1,
                step.title,
                step.id,
                step.action.kind().as_str(),
                describe_step(config, step),
                step.timeout,
                if step.retries > 0 {
                    format!(
                        ", up to {} retr{} on transient errors (backoff from {})",
                        step.retries,
                        if step.retries == 1 { "y" } else { "ies" },
                        step.backoff
                    )
                } else {
                    String::new()
                },
                on_failure(step.on_failure),
                if step.idempotent {
                    ""
                } else {
                    "; after a crash it is not re-run without a person"
                }
            );
        }
        out.push('\n');
    }

    let _ = writeln!(out, "## Teams and routes\n");
    if config.teams.is_empty() {
        let _ = writeln!(out, "None.\n");
    } else {
        let _ = writeln!(
            out,
            "| team | Discord channel | role mentioned | webhook | PagerDuty routing key |\n|---|---|---|---|---|"
        );
        for t in &config.teams {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                cell(&t.name),
                t.channel_id.as_deref().unwrap_or("—"),
                t.role_id.as_deref().unwrap_or("—"),
                t.webhook_url
                    .as_deref()
                    .map(host_only)
                    .unwrap_or_else(|| "—".into()),
                t.pagerduty_routing_key_env
                    .as_deref()
                    .map(|v| format!("from `${v}`"))
                    .unwrap_or_else(|| "—".into())
            );
        }
        out.push('\n');
    }

    let _ = writeln!(out, "## Who may act\n");
    let roles = |ids: &[String]| {
        if ids.is_empty() {
            "nobody configured".to_owned()
        } else {
            ids.join(", ")
        }
    };
    let a = &config.access;
    let _ = writeln!(
        out,
        "- Responders (declare incidents, request runs, add notes): Discord roles {}.",
        roles(&a.responders)
    );
    let _ = writeln!(
        out,
        "- Approvers (approve runs, never their own unless a protocol allows it): Discord roles {}.",
        roles(&a.approvers)
    );
    let _ = writeln!(
        out,
        "- Communicators (approve client communications): Discord roles {}.\n",
        roles(&a.communicators)
    );
    let _ = writeln!(out, "| protocol | approval |\n|---|---|");
    for rb in runbooks {
        let _ = writeln!(out, "| `{}` | {} |", rb.name, approvals(rb));
    }
    out.push('\n');

    let _ = writeln!(out, "## Secrets\n");
    let names = secret_names(config, runbooks);
    if names.is_empty() {
        let _ = writeln!(out, "None.\n");
    } else {
        let _ = writeln!(
            out,
            "Read from the environment when needed, never stored or logged: {}.\n",
            names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }

    let _ = writeln!(out, "## Upkeep\n");
    let _ = writeln!(
        out,
        "- Drill both protocols every {} (`lifeboat drill both`).",
        config.schedule.drill_every
    );
    let _ = writeln!(
        out,
        "- Review this plan every {}.",
        config.schedule.review_every
    );
    let _ = writeln!(
        out,
        "- After every recovery: export the post-mortem (`lifeboat export`), record lessons learned, update the runbooks.\n"
    );

    let _ = writeln!(out, "## Last drills\n");
    match drills {
        None => {
            let _ = writeln!(
                out,
                "Not included: render with `--data-dir` to add the drills recorded in the event log."
            );
        }
        Some([]) => {
            let _ = writeln!(out, "No drill has been recorded yet.");
        }
        Some(drills) => {
            let _ = writeln!(
                out,
                "| date (UTC) | incident | provider → protocol | outcome | detection | recovery vs RTO | data loss vs RPO |\n|---|---|---|---|---|---|---|"
            );
            let fmt = |d: Option<std::time::Duration>| {
                d.map(format_elapsed).unwrap_or_else(|| "—".into())
            };
            let verdict = |met: bool| if met { "met" } else { "MISSED" };
            for d in drills.iter().rev().take(10) {
                for r in &d.results {
                    let _ = writeln!(
                        out,
                        "| {} | {} | {} → `{}` | {} | {} | {} / {} ({}) | {} / {} ({}) |",
                        d.at.format("%Y-%m-%d %H:%M"),
                        d.incident.as_deref().unwrap_or("—"),
                        cell(&r.provider),
                        r.runbook,
                        r.status,
                        fmt(r.detection),
                        fmt(r.recovery),
                        r.rto
                            .map(|t| HumanDuration(t).to_string())
                            .unwrap_or_else(|| "—".into()),
                        verdict(r.rto_met),
                        fmt(r.data_loss),
                        r.rpo
                            .map(|t| HumanDuration(t).to_string())
                            .unwrap_or_else(|| "—".into()),
                        verdict(r.rpo_met),
                    );
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drill::history::DrillResult;
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
            results: vec![DrillResult {
                provider: "heroku".into(),
                runbook: "failover".into(),
                run: "RUN-1".into(),
                status: "succeeded".into(),
                detection: Some(Duration::from_millis(462)),
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
        let newest = text.find("| 2026-11-20 10:00 | INC-20 | heroku → `failover` | succeeded | 462ms | 48ms / 4h (met) | 12m 00s / 1h (met) |").expect(&text);
        let oldest = text.find("| 2026-11-01 10:00 | INC-1 |").expect(&text);
        assert!(newest < oldest);
        assert!(text.contains("/ 4h (MISSED)"));
    }
}
