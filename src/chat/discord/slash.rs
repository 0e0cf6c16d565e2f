//! Slash-command payloads as typed `Command`s: options, parameters, and which commands are
//! slow enough to acknowledge first.

use std::collections::BTreeMap;

use serenity::all::{CommandData, CommandDataOption, CommandDataOptionValue};

use crate::chat::command::Command;
use crate::engine::Decision;

pub(super) fn option<'a>(
    options: &'a [CommandDataOption],
    name: &str,
) -> Option<&'a CommandDataOptionValue> {
    options.iter().find(|o| o.name == name).map(|o| &o.value)
}

pub(super) fn text_option(options: &[CommandDataOption], name: &str) -> Option<String> {
    match option(options, name)? {
        CommandDataOptionValue::String(s) => Some(s.trim().to_owned()),
        CommandDataOptionValue::Autocomplete { value, .. } => Some(value.trim().to_owned()),
        _ => None,
    }
}

pub(super) fn required(options: &[CommandDataOption], name: &str) -> Result<String, String> {
    text_option(options, name)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| format!("missing option `{name}`"))
}

/// `k=v k=v` as typed in the `params` option.
pub(super) fn parse_params(text: &str) -> Result<BTreeMap<String, String>, String> {
    text.split_whitespace()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => Err(format!("`{w}` is not a parameter (write NAME=VALUE)")),
        })
        .collect()
}

pub(super) fn parse_decision(text: &str) -> Result<Decision, String> {
    text.parse()
}

/// A slash command's JSON payload (the interaction's `data`) as the handler reads it:
/// `None` when Discord could not have sent it (it does not decode as command data), else
/// what `command_from` makes of it. For tests outside the adapter (the property tests), which
/// should not name serenity's types.
#[cfg(test)]
pub fn command_from_payload(payload: serde_json::Value) -> Option<Result<Command, String>> {
    let data: CommandData = serde_json::from_value(payload).ok()?;
    Some(command_from(&data))
}

/// A slash command's data as a typed `Command`; the error is shown to the user.
pub fn command_from(data: &CommandData) -> Result<Command, String> {
    let (sub, options) = match data.options.first() {
        Some(CommandDataOption {
            name,
            value: CommandDataOptionValue::SubCommand(options),
            ..
        }) => (name.as_str(), options.as_slice()),
        _ => return Err(format!("`/{}` needs a subcommand", data.name)),
    };
    let runbook =
        |options: &[CommandDataOption]| -> Result<(String, BTreeMap<String, String>), String> {
            let name = required(options, "name")?;
            let params = parse_params(&text_option(options, "params").unwrap_or_default())?;
            Ok((name, params))
        };
    match (data.name.as_str(), sub) {
        ("incident", "declare") => Ok(Command::IncidentDeclare {
            title: text_option(options, "title").unwrap_or_default(),
            severity: text_option(options, "severity")
                .map(|s| s.parse())
                .transpose()?,
            commander: text_option(options, "commander").filter(|c| !c.is_empty()),
            alert: None,
        }),
        ("incident", "review") => Ok(Command::IncidentReview),
        ("dr", "reviewed") => Ok(Command::DrReviewed {
            note: text_option(options, "note").filter(|n| !n.is_empty()),
        }),
        ("incident", "status") => Ok(Command::IncidentStatus),
        ("incident", "note") => Ok(Command::IncidentNote {
            text: required(options, "text")?,
            lesson: matches!(
                option(options, "lesson"),
                Some(CommandDataOptionValue::Boolean(true))
            ),
        }),
        ("incident", "resolve") => Ok(Command::IncidentResolve),
        ("runbook", "list") => Ok(Command::RunbookList),
        ("runbook", "plan") => {
            runbook(options).map(|(name, params)| Command::RunbookPlan { name, params })
        }
        ("runbook", "run") => {
            runbook(options).map(|(name, params)| Command::RunbookRun { name, params })
        }
        ("runbook", "status") => Ok(Command::RunbookStatus),
        ("runbook", "resume") => Ok(Command::RunbookDecide {
            run: required(options, "run")?,
            decision: parse_decision(
                &text_option(options, "decision").unwrap_or_else(|| "retry".into()),
            )?,
        }),
        ("runbook", "cancel") => Ok(Command::RunbookCancel {
            run: required(options, "run")?,
        }),
        ("runbook", "break-glass") => Ok(Command::RunbookBreakGlass {
            request: required(options, "request")?,
            reason: required(options, "reason")?,
        }),
        ("runbook", "acknowledge") => Ok(Command::RunbookAcknowledge {
            run: required(options, "run")?,
        }),
        ("dr", "status") => Ok(Command::DrStatus),
        ("dr", "readiness") => Ok(Command::DrReadiness),
        ("dr", "training") => Ok(Command::DrTraining),
        ("timeline", "export") => Ok(Command::TimelineExport {
            format: required(options, "format")?
                .parse()
                .map_err(|e: crate::timeline::TimelineError| e.to_string())?,
            incident: text_option(options, "incident").filter(|i| !i.is_empty()),
        }),
        ("drill", "start") => Ok(Command::DrillStart {
            scenario: required(options, "scenario")?.parse()?,
            mode: match text_option(options, "mode").as_deref() {
                None | Some("" | "automatic") => crate::events::DrillMode::Automatic,
                Some("gameday") => crate::events::DrillMode::Gameday,
                Some(other) => return Err(format!("`{other}`: mode is automatic or gameday")),
            },
        }),
        ("drill", "stop") => Ok(Command::DrillStop),
        ("notify", "team") => Ok(Command::NotifyTeam {
            team: required(options, "team")?,
            text: text_option(options, "text").filter(|t| !t.is_empty()),
        }),
        ("comms", "draft") => Ok(Command::CommsDraft {
            audience: required(options, "audience")?,
            kind: required(options, "kind")?,
        }),
        ("comms", "show") => Ok(Command::CommsShow {
            draft: text_option(options, "draft").filter(|d| !d.is_empty()),
        }),
        ("comms", "approve") => Ok(Command::CommsApprove {
            draft: required(options, "draft")?,
            version: text_option(options, "version")
                .filter(|v| !v.is_empty())
                .map(|v| crate::chat::command::parse_draft_version(&v))
                .transpose()?,
        }),
        ("comms", "resend") => Ok(Command::CommsResend {
            draft: required(options, "draft")?,
        }),
        (command, sub) => Err(format!("unknown command `/{command} {sub}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::discord::command_from_custom_id;

    use serde_json::json;

    fn data(name: &str, sub: &str, options: serde_json::Value) -> CommandData {
        serde_json::from_value(json!({
            "id": "1100000000000000001",
            "name": name,
            "type": 1,
            "options": [{ "name": sub, "type": 1, "options": options }],
        }))
        .unwrap()
    }

    #[test]
    fn slash_commands_become_typed_commands() {
        let run = data(
            "runbook",
            "run",
            json!([
                { "name": "name", "type": 3, "value": "failover-hosting" },
                { "name": "params", "type": 3, "value": "region=eu reason=db" }
            ]),
        );
        assert_eq!(
            command_from(&run).unwrap(),
            Command::RunbookRun {
                name: "failover-hosting".into(),
                params: BTreeMap::from([
                    ("reason".into(), "db".into()),
                    ("region".into(), "eu".into())
                ]),
            }
        );
        let note = data(
            "incident",
            "note",
            json!([
                { "name": "text", "type": 3, "value": "TTL too high" },
                { "name": "lesson", "type": 5, "value": true }
            ]),
        );
        assert_eq!(
            command_from(&note).unwrap(),
            Command::IncidentNote {
                text: "TTL too high".into(),
                lesson: true
            }
        );
        let resume = data(
            "runbook",
            "resume",
            json!([
                { "name": "run", "type": 3, "value": "RUN-1" },
                { "name": "decision", "type": 3, "value": "skip" }
            ]),
        );
        assert_eq!(
            command_from(&resume).unwrap(),
            Command::RunbookDecide {
                run: "RUN-1".into(),
                decision: Decision::Skip
            }
        );
        assert_eq!(
            command_from(&data("dr", "status", json!([]))).unwrap(),
            Command::DrStatus
        );
        assert_eq!(
            command_from(&data("dr", "readiness", json!([]))).unwrap(),
            Command::DrReadiness
        );
        assert!(
            Command::DrReadiness.is_slow(),
            "probes take time: defer first"
        );
        assert!(
            Command::IncidentResolve.is_slow(),
            "resolving calls PagerDuty: defer first"
        );
        assert_eq!(
            command_from(&data("incident", "declare", json!([]))).unwrap(),
            Command::IncidentDeclare {
                title: String::new(),
                severity: None,
                commander: None,
                alert: None
            }
        );
    }

    #[test]
    fn bad_slash_commands_are_explained() {
        let missing = data("runbook", "run", json!([]));
        assert!(
            command_from(&missing)
                .unwrap_err()
                .contains("missing option `name`")
        );
        let bad_params = data(
            "runbook",
            "plan",
            json!([
                { "name": "name", "type": 3, "value": "x" },
                { "name": "params", "type": 3, "value": "oops" }
            ]),
        );
        assert!(
            command_from(&bad_params)
                .unwrap_err()
                .contains("NAME=VALUE")
        );
        let no_sub: CommandData = serde_json::from_value(json!({
            "id": "1100000000000000001", "name": "runbook", "type": 1
        }))
        .unwrap();
        assert!(
            command_from(&no_sub)
                .unwrap_err()
                .contains("needs a subcommand")
        );
        assert!(
            command_from(&data("launch", "now", json!([])))
                .unwrap_err()
                .contains("unknown command")
        );
        assert!(
            command_from(&data("drill", "start", json!([])))
                .unwrap_err()
                .contains("missing option `scenario`")
        );
        let bad_scenario = data(
            "drill",
            "start",
            json!([{ "name": "scenario", "type": 3, "value": "aws-outage" }]),
        );
        assert!(
            command_from(&bad_scenario)
                .unwrap_err()
                .contains("unknown scenario")
        );
        let bad_format = data(
            "timeline",
            "export",
            json!([{ "name": "format", "type": 3, "value": "pdf" }]),
        );
        assert!(
            command_from(&bad_format)
                .unwrap_err()
                .contains("use md, json, csv or html")
        );
    }

    #[test]
    fn export_drill_notify_and_comms_become_typed_commands() {
        let export = data(
            "timeline",
            "export",
            json!([
                { "name": "format", "type": 3, "value": "html" },
                { "name": "incident", "type": 3, "value": "INC-1" }
            ]),
        );
        assert_eq!(
            command_from(&export).unwrap(),
            Command::TimelineExport {
                format: crate::timeline::Format::Html,
                incident: Some("INC-1".into())
            }
        );
        let drill = data(
            "drill",
            "start",
            json!([{ "name": "scenario", "type": 3, "value": "both" }]),
        );
        assert_eq!(
            command_from(&drill).unwrap(),
            Command::DrillStart {
                scenario: crate::domain::Scenario::Both,
                mode: crate::events::DrillMode::Automatic,
            }
        );
        let gameday = data(
            "drill",
            "start",
            json!([{ "name": "scenario", "type": 3, "value": "heroku-outage" },
                   { "name": "mode", "type": 3, "value": "gameday" }]),
        );
        assert_eq!(
            command_from(&gameday).unwrap(),
            Command::DrillStart {
                scenario: crate::domain::Scenario::HerokuOutage,
                mode: crate::events::DrillMode::Gameday,
            }
        );
        assert_eq!(
            command_from(&data("drill", "stop", json!([]))).unwrap(),
            Command::DrillStop
        );
        let notify = data(
            "notify",
            "team",
            json!([{ "name": "team", "type": 3, "value": "eng" }]),
        );
        assert_eq!(
            command_from(&notify).unwrap(),
            Command::NotifyTeam {
                team: "eng".into(),
                text: None
            }
        );
        let draft = data(
            "comms",
            "draft",
            json!([
                { "name": "audience", "type": 3, "value": "clients" },
                { "name": "kind", "type": 3, "value": "initial" }
            ]),
        );
        assert_eq!(
            command_from(&draft).unwrap(),
            Command::CommsDraft {
                audience: "clients".into(),
                kind: "initial".into()
            }
        );
        assert_eq!(
            command_from(&data("comms", "show", json!([]))).unwrap(),
            Command::CommsShow { draft: None }
        );
        assert!(
            command_from(&data("comms", "approve", json!([])))
                .unwrap_err()
                .contains("missing option `draft`")
        );
        let approve = |options| command_from(&data("comms", "approve", options));
        assert_eq!(
            approve(json!([
                { "name": "draft", "type": 3, "value": "D-1" },
                { "name": "version", "type": 3, "value": "v3" }
            ]))
            .unwrap(),
            Command::CommsApprove {
                draft: "D-1".into(),
                version: Some(3)
            }
        );
        assert!(
            approve(json!([
                { "name": "draft", "type": 3, "value": "D-1" },
                { "name": "version", "type": 3, "value": "latest" }
            ]))
            .unwrap_err()
            .contains("not a draft version")
        );
        assert_eq!(
            command_from(&data(
                "comms",
                "resend",
                json!([{ "name": "draft", "type": 3, "value": "D-1" }])
            ))
            .unwrap(),
            Command::CommsResend {
                draft: "D-1".into()
            }
        );
        assert_eq!(
            command_from_custom_id("comms:approve:D-1:v2").unwrap(),
            Command::CommsApprove {
                draft: "D-1".into(),
                version: Some(2)
            }
        );
        assert_eq!(
            command_from_custom_id("comms:discard:D-1").unwrap(),
            Command::CommsDiscard {
                draft: "D-1".into()
            }
        );
        for bad in [
            "comms:approve:",
            "comms:approve:D-1",
            "comms:approve:D-1:",
            "comms:approve::v1",
            "comms:approve:D-1:v0",
            "comms:approve:D-1:v1:x",
            "comms:send:D-1",
            "comms:edit:D-1",
            "comms:discard:a:b",
        ] {
            assert!(command_from_custom_id(bad).is_err(), "{bad}");
        }
    }
}
