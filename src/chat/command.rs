//! Chat commands as typed values, parsed from text (the console; Discord options map to the
//! same values). Parse, then act: handlers only ever see a `Command`.

use std::collections::BTreeMap;

use crate::approval::Person;
use crate::runbook::engine::Decision;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    IncidentDeclare {
        title: String,
    },
    IncidentStatus,
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
    DrStatus,
    Help,
}

impl Command {
    /// A name for logs and refusals.
    pub fn name(&self) -> &'static str {
        match self {
            Command::IncidentDeclare { .. } => "incident declare",
            Command::IncidentStatus => "incident status",
            Command::IncidentNote { .. } => "incident note",
            Command::IncidentResolve => "incident resolve",
            Command::RunbookList => "runbook list",
            Command::RunbookPlan { .. } => "runbook plan",
            Command::RunbookRun { .. } => "runbook run",
            Command::RunbookStatus => "runbook status",
            Command::RunbookDecide { .. } => "runbook resume",
            Command::RunbookCancel { .. } => "runbook cancel",
            Command::Approve { .. } => "approve",
            Command::Deny { .. } => "deny",
            Command::Confirm { .. } => "confirm",
            Command::DrStatus => "dr status",
            Command::Help => "help",
        }
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
                | Command::Help
        )
    }
}

pub const HELP: &str = "\
/incident declare TITLE | status | note TEXT [--lesson] | resolve
/runbook list | plan NAME [k=v ...] | run NAME [k=v ...] | status
/runbook resume RUN [retry|skip|abort] | cancel RUN
/approve REQUEST | /deny REQUEST
/confirm RUN STEP yes|no
/dr status
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

fn parse_words(words: &[&str]) -> Result<Command, String> {
    let rest = |from: usize| words[from.min(words.len())..].join(" ");
    match words {
        ["/help" | "help", ..] => Ok(Command::Help),
        ["/incident", "declare", ..] => Ok(Command::IncidentDeclare { title: rest(2) }),
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
        ["/runbook", ..] => Err("usage: /runbook list | plan NAME | run NAME [k=v ...] | status | resume RUN [retry|skip|abort] | cancel RUN".into()),
        ["/incident", ..] => Err("usage: /incident declare TITLE | status | note TEXT [--lesson] | resolve".into()),
        [other, ..] => Err(format!("unknown command `{other}`; type /help")),
        [] => Err("empty command".into()),
    }
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
        assert!(!Command::RunbookStatus.changes_state());
        assert!(
            Command::Approve {
                request: "x".into()
            }
            .changes_state()
        );
    }
}
