//! The plan's training section (`training`): for each protocol, what the responder, the
//! approver and the communicator do at each step and the exact commands they type, derived from
//! the loaded runbook (its parameters, approval policy, steps and their kinds, questions and
//! timeouts) and the config (which outage a game day plays to practise it). Never written by
//! hand per runbook, so it cannot drift from what runs.

use std::fmt::Write as _;

use super::steps::describe_step;
use super::text::cell;
use crate::config::Config;
use crate::domain::Scenario;
use crate::runbook::{OnFailure, Runbook, Step, StepAction};

/// The training section: one sub-section per protocol.
pub fn training(config: &Config, runbooks: &[Runbook]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## Training\n");
    let _ = writeln!(
        out,
        "What each role does in each protocol, and the commands they type (console form; on Discord the same slash command with its options, or the buttons named). The bot's messages give the request (`REQ-…`), run (`RUN-…`) and draft (`DRAFT-…`) ids. Who has practised which role: `/dr training` (or `lifeboat training`).\n"
    );
    for rb in runbooks {
        protocol(&mut out, config, rb);
    }
    out
}

fn protocol(out: &mut String, config: &Config, rb: &Runbook) {
    let _ = writeln!(out, "### Training: {}\n", rb.name);
    let _ = writeln!(out, "**{}**\n", rb.title);
    let _ = writeln!(
        out,
        "1. Responder: declare the incident, `/incident declare TITLE --sev sev1` (or the alert's [Declare incident] button), or work in the incident already open."
    );
    let _ = writeln!(
        out,
        "2. Responder: read the plan with `/runbook plan {name}{params}`, then request the run: `/runbook run {name}{params}`.{described}",
        name = rb.name,
        params = run_params(rb),
        described = param_descriptions(rb)
    );
    let _ = writeln!(out, "3. {}", approver_line(rb));
    let _ = writeln!(
        out,
        "\n| # | step | who | what happens, what to type |\n|---|---|---|---|"
    );
    for (i, step) in rb.steps.iter().enumerate() {
        let (who, what) = step_line(config, step);
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {} |",
            i + 1,
            step.id,
            who,
            cell(&what)
        );
    }
    let _ = writeln!(
        out,
        "\nAfterwards, responder: `/incident note TEXT [--lesson]` as you go, `/incident resolve` when the service is back, `/timeline export md` for the post-mortem.\n"
    );
    let _ = writeln!(out, "Practise: {}\n", practice(config, rb));
}

/// ` k=…` for every parameter, in brackets where it has a default.
fn run_params(rb: &Runbook) -> String {
    rb.params
        .iter()
        .map(|p| match p.default {
            Some(_) => format!(" [{}=…]", p.name),
            None => format!(" {}=…", p.name),
        })
        .collect()
}

fn param_descriptions(rb: &Runbook) -> String {
    let described: Vec<String> = rb
        .params
        .iter()
        .map(|p| {
            format!(
                "`{}`: {}",
                p.name,
                match (&p.description, &p.default) {
                    (Some(d), Some(default)) => format!("{d} (default {})", shown_default(default)),
                    (Some(d), None) => format!("{d} (required)"),
                    (None, Some(default)) => format!("default {}", shown_default(default)),
                    (None, None) => "required".to_owned(),
                }
            )
        })
        .collect();
    if described.is_empty() {
        String::new()
    } else {
        format!(" Parameters: {}.", described.join("; "))
    }
}

fn shown_default(default: &str) -> String {
    if default.is_empty() {
        "empty".to_owned()
    } else {
        format!("`{default}`")
    }
}

/// The approver's part: the two-person rule, expiry and break-glass as the runbook sets them.
fn approver_line(rb: &Runbook) -> String {
    let a = &rb.approval;
    if a.approvals == 0 {
        return "No approval: the run starts as soon as it is requested.".to_owned();
    }
    let mut s = format!(
        "Approver: read the plan the bot posts and approve it with `/approve REQ-…` (or [Approve]; `/deny REQ-…` or [Deny] refuses it). It takes {} approver{} with the approver role{}, within {} of the request; after that the request expires and must be made again.",
        a.approvals,
        if a.approvals == 1 { "" } else { "s" },
        if a.requester_may_approve {
            " (the requester's own approval counts)"
        } else {
            " other than the requester"
        },
        a.expires
    );
    if let Some(after) = a.break_glass_after {
        let _ = write!(
            s,
            " Break-glass: on a sev1 incident, when no approver has decided within {after}, the requester alone may start it with `/runbook break-glass REQ-… REASON`; an approver other than the requester then runs `/runbook acknowledge RUN-…` before the incident can be reviewed."
        );
    }
    s
}

/// Who acts at a step, and what happens or what they type.
fn step_line(config: &Config, step: &Step) -> (&'static str, String) {
    let id = &step.id;
    let (who, mut what) = match &step.action {
        StepAction::Confirm(c) => (
            "responder",
            format!(
                "The bot asks \"{}\" and waits up to {}. Answer `/confirm RUN-… {id} yes` (or [Confirm]); `/confirm RUN-… {id} no` (or [Reject]) refuses.",
                c.question, step.timeout
            ),
        ),
        StepAction::CommsDraft(_) => (
            "communicator",
            format!(
                "Automatic: {} Communicator: read it (`/comms show DRAFT-…`), correct it with `/comms edit DRAFT-… TEXT` (or [Edit]), send it with `/comms approve DRAFT-… vN` naming the version you read (or [Approve]){}.",
                describe_step(config, step),
                if config.comms.author_may_approve {
                    ""
                } else {
                    "; not a draft whose current text you wrote"
                }
            ),
        ),
        StepAction::DbRestore(_) => (
            "bot; approver",
            format!(
                "Automatic (up to {}): {} Approver: only if the bot asks to accept more data loss, `/confirm RUN-… {id} yes` (an approver other than the requester); otherwise the run stops at this step.",
                step.timeout,
                describe_step(config, step)
            ),
        ),
        _ => (
            "bot",
            format!(
                "Automatic (up to {}{}): {}",
                step.timeout,
                if step.retries > 0 {
                    format!(" per attempt, {} retries", step.retries)
                } else {
                    String::new()
                },
                describe_step(config, step)
            ),
        ),
    };
    if step.on_failure == OnFailure::Pause {
        let _ = write!(
            what,
            " If it fails the run pauses for a responder: `/runbook resume RUN-… retry|skip|abort` (or [Resume] [Skip] [Abort])."
        );
    }
    (who, what)
}

/// The game day that takes this protocol's provider down, from the config's `[[providers]]`.
fn practice(config: &Config, rb: &Runbook) -> String {
    let scenario = [Scenario::HerokuOutage, Scenario::OpenaiOutage]
        .into_iter()
        .find(|s| {
            crate::drill::targets(config, std::slice::from_ref(rb), *s)
                .is_ok_and(|targets| targets.iter().any(|t| t.runbook == rb.name))
        });
    match scenario {
        Some(s) => format!(
            "a game day, `/drill start scenario:{s} mode:gameday` (on a terminal: `lifeboat drill {s} --gameday`), plays the outage for real people in these roles, against stand-ins for AWS, the providers and the app.",
            s = s.as_str()
        ),
        None => format!(
            "no drill scenario takes down a provider that runs `{}`; read it through with `/runbook plan {}`.",
            rb.name, rb.name
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toml_source::TomlSource;

    const CONFIG: &str = r#"
[objectives]
hosting_rto = "4h"
llm_rto = "2h"
rpo = "1h"

[[providers]]
name = "heroku"
workstream = "hosting"
runbook = "failover"

[aws.ecs]
cluster = "standby"
services = [{ name = "web", standby = 3 }]
"#;

    fn setup(runbook: &str) -> (Config, Runbook) {
        let config = Config::from_source(TomlSource::new("t.toml", CONFIG))
            .unwrap()
            .config;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rb.toml");
        std::fs::write(&path, runbook).unwrap();
        let rb = crate::runbook::load_file(&path, &config).unwrap();
        (config, rb)
    }

    #[test]
    fn a_confirm_step_and_approval_give_the_responders_and_approvers_lines() {
        let (config, rb) = setup(
            r#"name = "failover"
title = "Fail over"
workstream = "hosting"

[approval]
approvals = 2
expires = "20m"
break_glass_after = "10m"

[[params]]
name = "reason"
description = "why"

[[params]]
name = "region"
default = "eu-west-1"

[[steps]]
id = "go"
kind = "confirm"
with = { question = "Fail over now?" }

[[steps]]
id = "scale"
kind = "ecs_scale"
with = { to = "standby" }
timeout = "20m"
retries = 2
on_failure = "pause"

[[steps]]
id = "tell"
kind = "comms_draft"
with = { audience = "clients", notice = "initial" }
"#,
        );
        let text = training(&config, &[rb]);
        for expected in [
            "### Training: failover",
            "`/runbook run failover reason=… [region=…]`",
            "`reason`: why (required); `region`: default `eu-west-1`",
            "`/approve REQ-…`",
            "It takes 2 approvers with the approver role other than the requester, within 20m of the request",
            "when no approver has decided within 10m, the requester alone may start it with `/runbook break-glass REQ-… REASON`",
            "| 1 | `go` | responder | The bot asks \"Fail over now?\" and waits up to",
            "Answer `/confirm RUN-… go yes` (or [Confirm])",
            "| 2 | `scale` | bot | Automatic (up to 20m per attempt, 2 retries): Scale the ECS services of cluster `standby`",
            "`/runbook resume RUN-… retry\\|skip\\|abort`",
            "| 3 | `tell` | communicator | Automatic: Draft the initial notice for clients",
            "`/comms approve DRAFT-… vN`",
            "not a draft whose current text you wrote",
            "`/drill start scenario:heroku-outage mode:gameday`",
            "`lifeboat drill heroku-outage --gameday`",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
    }

    #[test]
    fn a_read_only_protocol_no_provider_runs_has_no_approver_and_no_game_day() {
        let (config, rb) = setup(
            r#"name = "look"
title = "Look around"
workstream = "hosting"

[approval]
approvals = 0

[[steps]]
id = "pause"
kind = "wait"
with = { duration = "1m" }
"#,
        );
        let text = training(&config, &[rb]);
        assert!(
            text.contains("No approval: the run starts as soon as it is requested."),
            "{text}"
        );
        assert!(!text.contains("/approve"), "{text}");
        assert!(!text.contains("break-glass"), "{text}");
        assert!(
            text.contains("no drill scenario takes down a provider that runs `look`"),
            "{text}"
        );
    }
}
