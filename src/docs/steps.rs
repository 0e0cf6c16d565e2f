//! One runbook step in words (`describe_step`): what it does with the config's values filled
//! in, never a secret.

use std::fmt::Write as _;

use super::text::{shown_url, side, with_vars};
use crate::config::Config;
use crate::runbook::{
    Audience, BackupCheck, CommandStep, EcsScale, HttpCheck, HttpRequest, LlmProbe, NoticeKind,
    Route53Upsert, Side, Step, StepAction,
};

/// What a step does, in words.
pub fn describe_step(config: &Config, step: &Step) -> String {
    let v = |t: &str| with_vars(config, t);
    match &step.action {
        StepAction::EcsScale(a) => ecs_scale(config, a),
        StepAction::Route53Upsert(a) => route53_upsert(config, a),
        StepAction::Route53Wait(a) => format!(
            "Wait until the DNS change made by step `{}` is INSYNC on every Route 53 name server (polling every {}).",
            a.change_of, a.poll
        ),
        StepAction::HttpCheck(a) => http_check(config, a),
        StepAction::HttpRequest(a) => http_request(config, a),
        StepAction::LlmProbe(a) => llm_probe(a),
        StepAction::BackupCheck(a) => backup_check(config, a),
        StepAction::Command(a) => command(config, a),
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

fn ecs_scale(config: &Config, a: &EcsScale) -> String {
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

fn route53_upsert(config: &Config, a: &Route53Upsert) -> String {
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

fn http_check(config: &Config, a: &HttpCheck) -> String {
    let v = |t: &str| with_vars(config, t);
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

fn http_request(config: &Config, a: &HttpRequest) -> String {
    let v = |t: &str| with_vars(config, t);
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

fn llm_probe(a: &LlmProbe) -> String {
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

fn backup_check(config: &Config, a: &BackupCheck) -> String {
    let v = |t: &str| with_vars(config, t);
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

fn command(config: &Config, a: &CommandStep) -> String {
    let v = |t: &str| with_vars(config, t);
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
