//! Chat commands as typed values, parsed from text (the console; Discord options map to the
//! same values). Parse, then act: handlers only ever see a `Command`.

use std::collections::BTreeMap;

use crate::approval::Person;
use crate::engine::Decision;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    IncidentDeclare {
        title: String,
        /// `None`: from the alert's level when declared from an alert, else sev2.
        severity: Option<crate::incident::Severity>,
        /// Who leads the response; `None`: the person declaring.
        commander: Option<String>,
        /// The alert whose button declared it, naming the affected provider.
        alert: Option<String>,
    },
    IncidentStatus,
    /// Records the post-incident review of the latest resolved incident.
    IncidentReview,
    /// Records a review of the DR plan (the semi-annual review).
    DrReviewed {
        note: Option<String>,
    },
    IncidentNote {
        text: String,
        lesson: bool,
    },
    IncidentResolve,
    RunbookList,
    RunbookPlan {
        name: String,
        params: BTreeMap<String, String>,
    },
    RunbookRun {
        name: String,
        params: BTreeMap<String, String>,
    },
    RunbookStatus,
    RunbookDecide {
        run: String,
        decision: Decision,
    },
    RunbookCancel {
        run: String,
    },
    /// The requester starts a request alone on a sev1 incident, after the runbook's
    /// `break_glass_after`, with a stated reason.
    RunbookBreakGlass {
        request: String,
        reason: String,
    },
    /// An approver acknowledges a break-glass run (run or request id) after the fact.
    RunbookAcknowledge {
        run: String,
    },
    Approve {
        request: String,
    },
    Deny {
        request: String,
    },
    Confirm {
        run: String,
        step: String,
        yes: bool,
    },
    /// The open (or named) incident's post-mortem, attached as a file to its thread.
    TimelineExport {
        format: crate::timeline::Format,
        incident: Option<String>,
    },
    /// A simulated outage in the background, with its own event log kept in `<data_dir>/drill-*`.
    /// `mode`: `automatic` (stand-ins play the people too) or `gameday` (people play it).
    DrillStart {
        scenario: crate::domain::Scenario,
        mode: crate::events::DrillMode,
    },
    /// Ends the running game day early, with its debrief.
    DrillStop,
    DrStatus,
    /// Is the standby ready? (the checks of `lifeboat readiness`)
    DrReadiness,
    /// Who holds a role and when they last took part in a game day (`lifeboat training`).
    DrTraining,
    Help,
    /// Draft a communication from the templates (`audience`: clients|internal, `kind`:
    /// initial|update|resolved).
    CommsDraft {
        audience: String,
        kind: String,
    },
    /// Show one draft, or every open draft.
    CommsShow {
        draft: Option<String>,
    },
    /// Approve a draft's version `version` (1 = as drafted, +1 per edit); `None` means 1, so
    /// an approval never covers text the approver did not see.
    CommsApprove {
        draft: String,
        version: Option<u32>,
    },
    /// Send an approved draft to the outputs that have not received it yet.
    CommsResend {
        draft: String,
    },
    CommsEdit {
        draft: String,
        text: String,
    },
    CommsDiscard {
        draft: String,
    },
    /// Notify a team on every route it has (Discord, webhook, PagerDuty).
    NotifyTeam {
        team: String,
        text: Option<String>,
    },
}

impl Command {
    /// A name for logs and refusals.
    pub fn name(&self) -> &'static str {
        match self {
            Command::IncidentDeclare { .. } => "incident declare",
            Command::IncidentStatus => "incident status",
            Command::IncidentReview => "incident review",
            Command::DrReviewed { .. } => "dr reviewed",
            Command::IncidentNote { .. } => "incident note",
            Command::IncidentResolve => "incident resolve",
            Command::RunbookList => "runbook list",
            Command::RunbookPlan { .. } => "runbook plan",
            Command::RunbookRun { .. } => "runbook run",
            Command::RunbookStatus => "runbook status",
            Command::RunbookDecide { .. } => "runbook resume",
            Command::RunbookCancel { .. } => "runbook cancel",
            Command::RunbookBreakGlass { .. } => "runbook break-glass",
            Command::RunbookAcknowledge { .. } => "runbook acknowledge",
            Command::Approve { .. } => "approve",
            Command::Deny { .. } => "deny",
            Command::Confirm { .. } => "confirm",
            Command::TimelineExport { .. } => "timeline export",
            Command::DrillStart { .. } => "drill start",
            Command::DrillStop => "drill stop",
            Command::DrStatus => "dr status",
            Command::DrReadiness => "dr readiness",
            Command::DrTraining => "dr training",
            Command::Help => "help",
            Command::CommsDraft { .. } => "comms draft",
            Command::CommsShow { .. } => "comms show",
            Command::CommsApprove { .. } => "comms approve",
            Command::CommsResend { .. } => "comms resend",
            Command::CommsEdit { .. } => "comms edit",
            Command::CommsDiscard { .. } => "comms discard",
            Command::NotifyTeam { .. } => "notify team",
        }
    }

    /// Whether only a responder may run it: every state change, and two lookups with effects
    /// beyond the asker: `/timeline export` posts the post-mortem into the incident thread,
    /// `/dr readiness` sends live probes to AWS, the LLM provider and the backup endpoints.
    pub fn needs_responder(&self) -> bool {
        self.changes_state()
            || matches!(self, Command::TimelineExport { .. } | Command::DrReadiness)
    }

    /// Whether the command may take longer than Discord's 3 s: acknowledged first, answered
    /// later.
    pub fn is_slow(&self) -> bool {
        matches!(
            self,
            Command::RunbookRun { .. }
                | Command::RunbookPlan { .. }
                | Command::Approve { .. }
                | Command::RunbookBreakGlass { .. }
                | Command::TimelineExport { .. }
                | Command::CommsDraft { .. }
                | Command::CommsApprove { .. }
                | Command::CommsResend { .. }
                | Command::NotifyTeam { .. }
                | Command::DrReadiness
                | Command::DrTraining
                // Resolving calls PagerDuty for the alerts the incident opened.
                | Command::IncidentResolve
        )
    }

    /// Whether the command changes state (and so must come from the incident channel).
    pub fn changes_state(&self) -> bool {
        !matches!(
            self,
            Command::IncidentStatus
                | Command::RunbookList
                | Command::RunbookPlan { .. }
                | Command::RunbookStatus
                | Command::DrStatus
                | Command::DrReadiness
                | Command::DrTraining
                | Command::TimelineExport { .. }
                | Command::Help
                | Command::CommsShow { .. }
        )
    }
}

pub const HELP: &str = "\
/incident declare TITLE [--sev sev1|sev2|sev3] [--commander NAME] | status | note TEXT [--lesson] | resolve | review
/runbook list | plan NAME [k=v ...] | run NAME [k=v ...] | status
/runbook resume RUN [retry|skip|abort] | cancel RUN
/runbook break-glass REQUEST REASON | acknowledge RUN
/approve REQUEST | /deny REQUEST
/confirm RUN STEP yes|no
/comms draft clients|internal initial|update|resolved | show [DRAFT] | edit DRAFT TEXT (\\n = line break)
/comms approve DRAFT [vN] | resend DRAFT | discard DRAFT
/notify team TEAM [TEXT]
/timeline export md|json|csv|html [INCIDENT]
/drill start heroku-outage|openai-outage|both [automatic|gameday] | stop
/dr status | readiness | training | reviewed [NOTE]
Console identity: add `--as NAME --roles ROLE,ROLE` to a line, or set it once with `/as NAME ROLE,ROLE`.";

/// A parsed console line: a command, an identity change, or nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    Command {
        command: Command,
        who: Option<Person>,
    },
    SetIdentity(Person),
    Empty,
}

fn person(name: &str, roles: &str) -> Person {
    Person {
        id: name.to_owned(),
        name: name.to_owned(),
        roles: roles
            .split(',')
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
            .collect(),
    }
}

/// A drill's mode as typed: `automatic`, `gameday` (or `--gameday`).
fn drill_mode(text: &str) -> Result<crate::events::DrillMode, String> {
    match text.trim_start_matches("--") {
        "automatic" => Ok(crate::events::DrillMode::Automatic),
        "gameday" => Ok(crate::events::DrillMode::Gameday),
        other => Err(format!("`{other}`: a drill's mode is automatic or gameday")),
    }
}

/// Parses one console line.
pub fn parse_line(line: &str) -> Result<Line, String> {
    let mut words: Vec<&str> = line.split_whitespace().collect();
    if words.is_empty() {
        return Ok(Line::Empty);
    }
    // `--as NAME --roles R1,R2` anywhere at the end.
    let mut who_name = None;
    let mut who_roles = String::new();
    let mut i = 0;
    while i < words.len() {
        match words[i] {
            "--as" if i + 1 < words.len() => {
                who_name = Some(words[i + 1].to_owned());
                words.drain(i..i + 2);
            }
            "--roles" if i + 1 < words.len() => {
                who_roles = words[i + 1].to_owned();
                words.drain(i..i + 2);
            }
            _ => i += 1,
        }
    }
    let who = who_name.map(|n| person(&n, &who_roles));
    if words.first() == Some(&"/as") {
        return match words.as_slice() {
            [_, name] => Ok(Line::SetIdentity(person(name, ""))),
            [_, name, roles] => Ok(Line::SetIdentity(person(name, roles))),
            _ => Err("usage: /as NAME ROLE,ROLE".into()),
        };
    }
    let command = parse_words(&words)?;
    Ok(Line::Command { command, who })
}

fn params(words: &[&str]) -> Result<BTreeMap<String, String>, String> {
    words
        .iter()
        .map(|w| {
            w.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .ok_or_else(|| format!("`{w}` is not a parameter (write NAME=VALUE)"))
        })
        .collect()
}

/// `/incident declare TITLE [--sev S] [--commander NAME]`: the flags may come anywhere.
fn declaration(words: &[&str]) -> Result<Command, String> {
    let mut title = Vec::new();
    let mut severity = None;
    let mut commander = None;
    let mut words = words.iter();
    while let Some(word) = words.next() {
        match *word {
            "--sev" | "--severity" => {
                let value = words
                    .next()
                    .ok_or("`--sev` needs a value: sev1, sev2 or sev3")?;
                severity = Some(value.parse()?);
            }
            "--commander" => {
                let value = words.next().ok_or("`--commander` needs a name")?;
                commander = Some((*value).to_owned());
            }
            other => title.push(other),
        }
    }
    Ok(Command::IncidentDeclare {
        title: title.join(" "),
        severity,
        commander,
        alert: None,
    })
}

/// A console line is one line: in a draft's text, `\n` stands for a line break (so a
/// `Subject:` line stays on its own) and `\\` for a backslash. Spaces around a break are
/// dropped, as words are joined with single spaces.
pub fn unescape_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (c, chars.clone().next()) {
            ('\\', Some('n')) => {
                chars.next();
                out.push('\n');
            }
            ('\\', Some('\\')) => {
                chars.next();
                out.push('\\');
            }
            _ => out.push(c),
        }
    }
    out.split('\n')
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("\n")
}

fn parse_words(words: &[&str]) -> Result<Command, String> {
    let rest = |from: usize| words[from.min(words.len())..].join(" ");
    match words {
        ["/help" | "help", ..] => Ok(Command::Help),
        ["/incident", "declare", more @ ..] => declaration(more),
        ["/incident", "review"] => Ok(Command::IncidentReview),
        ["/dr", "reviewed", ..] => Ok(Command::DrReviewed { note: Some(rest(2)).filter(|n| !n.is_empty()) }),
        ["/incident", "status"] => Ok(Command::IncidentStatus),
        ["/incident", "note", ..] => {
            let lesson = words.contains(&"--lesson");
            let text: Vec<&str> = words[2..].iter().copied().filter(|w| *w != "--lesson").collect();
            if text.is_empty() {
                return Err("usage: /incident note TEXT [--lesson]".into());
            }
            Ok(Command::IncidentNote { text: text.join(" "), lesson })
        }
        ["/incident", "resolve"] => Ok(Command::IncidentResolve),
        ["/runbook", "list"] => Ok(Command::RunbookList),
        ["/runbook", "status"] => Ok(Command::RunbookStatus),
        ["/runbook", "plan", name, more @ ..] => Ok(Command::RunbookPlan { name: (*name).to_owned(), params: params(more)? }),
        ["/runbook", "run", name, more @ ..] => Ok(Command::RunbookRun { name: (*name).to_owned(), params: params(more)? }),
        ["/runbook", "resume", run] => Ok(Command::RunbookDecide { run: (*run).to_owned(), decision: Decision::Retry }),
        ["/runbook", "resume", run, how] => {
            let decision = match *how {
                "retry" => Decision::Retry,
                "skip" => Decision::Skip,
                "abort" => Decision::Abort,
                other => return Err(format!("`{other}`: resume with retry, skip or abort")),
            };
            Ok(Command::RunbookDecide { run: (*run).to_owned(), decision })
        }
        ["/runbook", "cancel", run] => Ok(Command::RunbookCancel { run: (*run).to_owned() }),
        ["/runbook", "break-glass", request, _, ..] => Ok(Command::RunbookBreakGlass { request: (*request).to_owned(), reason: rest(3) }),
        ["/runbook", "break-glass", ..] => Err("usage: /runbook break-glass REQUEST REASON".into()),
        ["/runbook", "acknowledge", run] => Ok(Command::RunbookAcknowledge { run: (*run).to_owned() }),
        ["/approve", request] => Ok(Command::Approve { request: (*request).to_owned() }),
        ["/deny", request] => Ok(Command::Deny { request: (*request).to_owned() }),
        ["/confirm", run, step, answer] => {
            let yes = match *answer {
                "yes" => true,
                "no" => false,
                other => return Err(format!("`{other}`: answer yes or no")),
            };
            Ok(Command::Confirm { run: (*run).to_owned(), step: (*step).to_owned(), yes })
        }
        ["/dr", "status"] => Ok(Command::DrStatus),
        ["/dr", "readiness"] => Ok(Command::DrReadiness),
        ["/dr", "training"] => Ok(Command::DrTraining),
        ["/timeline", "export", format] => Ok(Command::TimelineExport { format: format.parse().map_err(|e: crate::timeline::TimelineError| e.to_string())?, incident: None }),
        ["/timeline", "export", format, incident] => Ok(Command::TimelineExport { format: format.parse().map_err(|e: crate::timeline::TimelineError| e.to_string())?, incident: Some((*incident).to_owned()) }),
        ["/drill", "start", scenario] => Ok(Command::DrillStart { scenario: scenario.parse()?, mode: crate::events::DrillMode::Automatic }),
        ["/drill", "start", scenario, mode] => Ok(Command::DrillStart { scenario: scenario.parse()?, mode: drill_mode(mode)? }),
        ["/drill", "stop"] => Ok(Command::DrillStop),
        ["/timeline", ..] => Err("usage: /timeline export md|json|csv|html [INCIDENT]".into()),
        ["/drill", ..] => Err("usage: /drill start heroku-outage|openai-outage|both [automatic|gameday] | /drill stop".into()),
        ["/comms", "draft", audience, kind] => Ok(Command::CommsDraft { audience: (*audience).to_owned(), kind: (*kind).to_owned() }),
        ["/comms", "show"] => Ok(Command::CommsShow { draft: None }),
        ["/comms", "show", draft] => Ok(Command::CommsShow { draft: Some((*draft).to_owned()) }),
        ["/comms", "approve", draft] => Ok(Command::CommsApprove { draft: (*draft).to_owned(), version: None }),
        ["/comms", "approve", draft, version] => Ok(Command::CommsApprove { draft: (*draft).to_owned(), version: Some(parse_draft_version(version)?) }),
        ["/comms", "resend", draft] => Ok(Command::CommsResend { draft: (*draft).to_owned() }),
        ["/comms", "discard", draft] => Ok(Command::CommsDiscard { draft: (*draft).to_owned() }),
        ["/comms", "edit", draft, _, ..] => Ok(Command::CommsEdit { draft: (*draft).to_owned(), text: unescape_lines(&rest(3)) }),
        ["/notify", "team", team] => Ok(Command::NotifyTeam { team: (*team).to_owned(), text: None }),
        ["/notify", "team", team, _, ..] => Ok(Command::NotifyTeam { team: (*team).to_owned(), text: Some(rest(3)) }),
        ["/comms", ..] => Err("usage: /comms draft clients|internal initial|update|resolved | show [DRAFT] | edit DRAFT TEXT | approve DRAFT [vN] | resend DRAFT | discard DRAFT".into()),
        ["/notify", ..] => Err("usage: /notify team TEAM [TEXT]".into()),
        ["/runbook", ..] => Err("usage: /runbook list | plan NAME | run NAME [k=v ...] | status | resume RUN [retry|skip|abort] | cancel RUN | break-glass REQUEST REASON | acknowledge RUN".into()),
        ["/incident", ..] => Err("usage: /incident declare TITLE [--sev sev1|sev2|sev3] [--commander NAME] | status | note TEXT [--lesson] | resolve | review".into()),
        [other, ..] => Err(format!("unknown command `{other}`; type /help")),
        [] => Err("empty command".into()),
    }
}

/// A draft version as written in `/comms approve DRAFT vN` and the [Approve] button: `v2` or `2`.
pub fn parse_draft_version(text: &str) -> Result<u32, String> {
    text.strip_prefix('v')
        .unwrap_or(text)
        .parse::<u32>()
        .ok()
        .filter(|v| *v >= 1)
        .ok_or_else(|| format!("`{text}` is not a draft version (v1, v2, ...)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands_with_identity() {
        let line = parse_line(
            "/runbook run failover-hosting reason=db --as alice --roles responder,approver",
        )
        .unwrap();
        let Line::Command { command, who } = line else {
            panic!()
        };
        assert_eq!(
            command,
            Command::RunbookRun {
                name: "failover-hosting".into(),
                params: BTreeMap::from([("reason".into(), "db".into())])
            }
        );
        let who = who.unwrap();
        assert_eq!(who.name, "alice");
        assert_eq!(who.roles, ["responder", "approver"]);
    }

    #[test]
    fn explains_mistakes() {
        assert!(
            parse_line("/runbook run x notaparam")
                .unwrap_err()
                .contains("NAME=VALUE")
        );
        assert!(
            parse_line("/runbook resume R later")
                .unwrap_err()
                .contains("retry, skip or abort")
        );
        assert!(
            parse_line("/launch")
                .unwrap_err()
                .contains("unknown command")
        );
        assert!(parse_line("/runbook").unwrap_err().starts_with("usage"));
        assert_eq!(parse_line("   ").unwrap(), Line::Empty);
    }

    #[test]
    fn comms_and_notify_commands() {
        let parse = |line: &str| match parse_line(line).unwrap() {
            Line::Command { command, .. } => command,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            parse("/comms draft clients initial"),
            Command::CommsDraft {
                audience: "clients".into(),
                kind: "initial".into()
            }
        );
        assert_eq!(
            parse("/comms edit DRAFT-1 We are   back on Heroku. --as bob"),
            Command::CommsEdit {
                draft: "DRAFT-1".into(),
                text: "We are back on Heroku.".into()
            }
        );
        // `\n` breaks lines, so a `Subject:` line stays on its own; `\\` is a backslash.
        assert_eq!(
            parse(
                r"/comms edit DRAFT-1 Subject: We keep running\n\nDear customer, \n we moved C:\\app. --as bob"
            ),
            Command::CommsEdit {
                draft: "DRAFT-1".into(),
                text: "Subject: We keep running\n\nDear customer,\nwe moved C:\\app.".into()
            }
        );
        let edited = unescape_lines(r"Subject: Back\n\nAll good.");
        assert_eq!(
            crate::comms::template::split_subject(&edited),
            (Some("Back".into()), "All good.".into())
        );
        assert_eq!(unescape_lines(r"no breaks \t here"), r"no breaks \t here");
        assert_eq!(parse("/comms show"), Command::CommsShow { draft: None });
        assert_eq!(
            parse("/comms approve DRAFT-2"),
            Command::CommsApprove {
                draft: "DRAFT-2".into(),
                version: None
            }
        );
        assert_eq!(
            parse("/comms approve DRAFT-2 v3"),
            Command::CommsApprove {
                draft: "DRAFT-2".into(),
                version: Some(3)
            }
        );
        assert_eq!(
            parse("/comms approve DRAFT-2 2"),
            Command::CommsApprove {
                draft: "DRAFT-2".into(),
                version: Some(2)
            }
        );
        for bad in ["/comms approve DRAFT-2 latest", "/comms approve DRAFT-2 v0"] {
            assert!(parse_line(bad).unwrap_err().contains("version"), "{bad}");
        }
        assert_eq!(
            parse("/comms resend DRAFT-2"),
            Command::CommsResend {
                draft: "DRAFT-2".into()
            }
        );
        assert_eq!(
            parse("/comms discard DRAFT-2"),
            Command::CommsDiscard {
                draft: "DRAFT-2".into()
            }
        );
        assert_eq!(
            parse("/notify team support"),
            Command::NotifyTeam {
                team: "support".into(),
                text: None
            }
        );
        assert_eq!(
            parse("/notify team support Heroku is down"),
            Command::NotifyTeam {
                team: "support".into(),
                text: Some("Heroku is down".into())
            }
        );
        assert!(
            parse_line("/comms edit DRAFT-1")
                .unwrap_err()
                .starts_with("usage: /comms")
        );
        assert!(
            parse_line("/notify")
                .unwrap_err()
                .starts_with("usage: /notify")
        );
        assert!(!Command::CommsShow { draft: None }.changes_state());
    }

    #[test]
    fn export_and_drill_lines() {
        let Line::Command { command, .. } = parse_line("/timeline export html INC-1").unwrap()
        else {
            panic!()
        };
        assert_eq!(
            command,
            Command::TimelineExport {
                format: crate::timeline::Format::Html,
                incident: Some("INC-1".into())
            }
        );
        assert!(!command.changes_state());
        assert!(command.needs_responder(), "an export posts to the thread");
        let Line::Command { command, .. } = parse_line("/drill start both").unwrap() else {
            panic!()
        };
        assert_eq!(
            command,
            Command::DrillStart {
                scenario: crate::domain::Scenario::Both,
                mode: crate::events::DrillMode::Automatic,
            }
        );
        assert!(command.changes_state(), "a drill needs a responder");
        for line in ["/drill start both gameday", "/drill start both --gameday"] {
            let Line::Command { command, .. } = parse_line(line).unwrap() else {
                panic!()
            };
            assert_eq!(
                command,
                Command::DrillStart {
                    scenario: crate::domain::Scenario::Both,
                    mode: crate::events::DrillMode::Gameday,
                }
            );
        }
        let Line::Command { command, .. } = parse_line("/drill stop").unwrap() else {
            panic!()
        };
        assert_eq!(command, Command::DrillStop);
        assert!(
            command.changes_state(),
            "stopping a game day needs a responder"
        );
        assert!(
            parse_line("/drill start both manual")
                .unwrap_err()
                .contains("automatic or gameday")
        );
        assert!(
            parse_line("/timeline export pdf")
                .unwrap_err()
                .contains("md, json, csv or html")
        );
        assert!(
            parse_line("/drill start aws")
                .unwrap_err()
                .contains("unknown scenario")
        );
        assert!(parse_line("/drill").unwrap_err().starts_with("usage"));
    }

    #[test]
    fn identity_and_notes() {
        assert_eq!(
            parse_line("/as bob approver").unwrap(),
            Line::SetIdentity(person("bob", "approver"))
        );
        let Line::Command { command, .. } =
            parse_line("/incident note DNS TTL too high --lesson").unwrap()
        else {
            panic!()
        };
        assert_eq!(
            command,
            Command::IncidentNote {
                text: "DNS TTL too high".into(),
                lesson: true
            }
        );
        assert_eq!(
            parse_line("/dr readiness").unwrap(),
            Line::Command {
                command: Command::DrReadiness,
                who: None
            }
        );
        assert!(!Command::DrReadiness.changes_state());
        assert!(
            Command::DrReadiness.needs_responder(),
            "it sends live probes"
        );
        assert!(!Command::RunbookStatus.changes_state());
        assert!(!Command::RunbookStatus.needs_responder());
        let Line::Command { command, .. } =
            parse_line("/incident declare Heroku down --sev 1 --commander carol").unwrap()
        else {
            panic!()
        };
        assert_eq!(
            command,
            Command::IncidentDeclare {
                title: "Heroku down".into(),
                severity: Some(crate::incident::Severity::Sev1),
                commander: Some("carol".into()),
                alert: None
            }
        );
        assert!(
            parse_line("/incident declare x --sev 9")
                .unwrap_err()
                .contains("not a severity")
        );
        assert!(
            parse_line("/incident declare x --commander")
                .unwrap_err()
                .contains("needs a name")
        );
        assert_eq!(
            parse_line("/dr reviewed all good").unwrap(),
            Line::Command {
                command: Command::DrReviewed {
                    note: Some("all good".into())
                },
                who: None
            }
        );
        assert!(Command::IncidentReview.changes_state());
        assert!(
            Command::Approve {
                request: "x".into()
            }
            .changes_state()
        );
    }
}
