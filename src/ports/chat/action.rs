//! `Action`: every button and form id Lifeboat posts, written and parsed in this one place.
//! The ids carry everything needed to act on a press, so buttons posted before a restart or
//! an upgrade keep working: the wire forms below must never change.
//!
//! | variant          | wire form                                  |
//! |------------------|--------------------------------------------|
//! | `Approve`        | `approve:<request>`                        |
//! | `Deny`           | `deny:<request>`                           |
//! | `Confirm`        | `confirm:<run>:<step>:yes` / `...:no`      |
//! | `Decide`         | `run:<run>:retry` / `skip` / `abort`       |
//! | `Declare`        | `declare:<alert>` (the alert may be empty) |
//! | `Plan`           | `plan:<runbook>:<alert>`                   |
//! | `CommsEdit`      | `comms:edit:<draft>` (button and its form) |
//! | `CommsApprove`   | `comms:approve:<draft>:v<version>`         |
//! | `CommsDiscard`   | `comms:discard:<draft>`                    |

use std::fmt;
use std::str::FromStr;

/// Discord's cap on a `custom_id`; the adapter drops buttons whose id is longer.
pub const MAX_CUSTOM_ID: usize = 100;

/// What a responder decides for a paused run (the `run:` buttons and `/runbook resume`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Run the paused step again.
    Retry,
    /// Mark it skipped and go on.
    Skip,
    /// Stop the run.
    Abort,
}

impl Decision {
    /// The word on the wire and in commands.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Retry => "retry",
            Decision::Skip => "skip",
            Decision::Abort => "abort",
        }
    }
}

impl FromStr for Decision {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "retry" => Ok(Decision::Retry),
            "skip" => Ok(Decision::Skip),
            "abort" => Ok(Decision::Abort),
            other => Err(format!("`{other}`: resume with retry, skip or abort")),
        }
    }
}

/// A button press or a form submission, typed. Writers build the id with
/// [`Action::to_custom_id`] (or `Display`); the chat adapter reads it back with
/// [`Action::parse`] (or `FromStr`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Approve a run request.
    Approve { request: String },
    /// Deny a run request.
    Deny { request: String },
    /// Answer a step's confirm question; the step id may hold colons, the run id may not.
    Confirm {
        run: String,
        step: String,
        yes: bool,
    },
    /// Decide a paused run.
    Decide { run: String, decision: Decision },
    /// Declare an incident from an alert (`alert` empty: an incident without one).
    Declare { alert: String },
    /// Dry-run the runbook mapped to an alert's provider.
    Plan { runbook: String, alert: String },
    /// Open the edit form of a draft; the form carries the same id when submitted.
    CommsEdit { draft: String },
    /// Approve and send a draft's version `version` (the text that was shown).
    CommsApprove { draft: String, version: u32 },
    /// Discard a draft.
    CommsDiscard { draft: String },
}

/// Why an id is not one of Lifeboat's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown button `{id}`: {why}")]
pub struct ActionError {
    pub id: String,
    pub why: &'static str,
}

/// A single id segment: non-empty and without the separator.
fn segment(text: &str) -> Option<&str> {
    (!text.is_empty() && !text.contains(':')).then_some(text)
}

fn draft_version(text: &str) -> Option<u32> {
    // `v` is optional, as in `/comms approve D-1 2`; written ids always carry it.
    let number = text.strip_prefix('v').unwrap_or(text);
    number.parse::<u32>().ok().filter(|v| *v >= 1)
}

impl Action {
    /// The id to put on the button (or form).
    pub fn to_custom_id(&self) -> String {
        self.to_string()
    }

    /// Reads an id written by [`Action::to_custom_id`] (today's or an earlier release's).
    pub fn parse(id: &str) -> Result<Action, ActionError> {
        let bad = |why| ActionError {
            id: id.to_owned(),
            why,
        };
        let (kind, rest) = id.split_once(':').ok_or_else(|| bad("no `kind:` prefix"))?;
        let owned = str::to_owned;
        match kind {
            "approve" | "deny" => {
                let request =
                    owned(segment(rest).ok_or_else(|| bad("expected `<kind>:<request>`"))?);
                Ok(if kind == "approve" {
                    Action::Approve { request }
                } else {
                    Action::Deny { request }
                })
            }
            "confirm" => {
                let shape = "expected `confirm:<run>:<step>:yes|no`";
                let (key, answer) = rest.rsplit_once(':').ok_or_else(|| bad(shape))?;
                let (run, step) = key.split_once(':').ok_or_else(|| bad(shape))?;
                let yes = match answer {
                    "yes" => true,
                    "no" => false,
                    _ => return Err(bad("the answer must be `yes` or `no`")),
                };
                if run.is_empty() || step.is_empty() {
                    return Err(bad(shape));
                }
                Ok(Action::Confirm {
                    run: owned(run),
                    step: owned(step),
                    yes,
                })
            }
            "run" => {
                let shape = "expected `run:<run>:retry|skip|abort`";
                let (run, decision) = rest.rsplit_once(':').ok_or_else(|| bad(shape))?;
                if run.is_empty() {
                    return Err(bad(shape));
                }
                let decision = decision
                    .parse()
                    .map_err(|_| bad("the decision must be retry, skip or abort"))?;
                Ok(Action::Decide {
                    run: owned(run),
                    decision,
                })
            }
            "declare" => Ok(Action::Declare { alert: owned(rest) }),
            "plan" => {
                let (runbook, alert) = rest
                    .split_once(':')
                    .filter(|(runbook, _)| !runbook.is_empty())
                    .ok_or_else(|| bad("expected `plan:<runbook>:<alert>`"))?;
                Ok(Action::Plan {
                    runbook: owned(runbook),
                    alert: owned(alert),
                })
            }
            "comms" => Self::parse_comms(rest).ok_or_else(|| {
                bad("expected `comms:edit|discard:<draft>` or `comms:approve:<draft>:v<version>`")
            }),
            _ => Err(bad("not a Lifeboat button")),
        }
    }

    fn parse_comms(rest: &str) -> Option<Action> {
        let draft = |d: &str| segment(d).map(str::to_owned);
        match rest.split_once(':')? {
            ("edit", d) => Some(Action::CommsEdit { draft: draft(d)? }),
            ("discard", d) => Some(Action::CommsDiscard { draft: draft(d)? }),
            // The approval covers the text shown: the id names its version.
            ("approve", ids) => {
                let (d, version) = ids.split_once(':')?;
                Some(Action::CommsApprove {
                    draft: draft(d)?,
                    version: draft_version(segment(version)?)?,
                })
            }
            _ => None,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Approve { request } => write!(f, "approve:{request}"),
            Action::Deny { request } => write!(f, "deny:{request}"),
            Action::Confirm { run, step, yes } => {
                write!(
                    f,
                    "confirm:{run}:{step}:{}",
                    if *yes { "yes" } else { "no" }
                )
            }
            Action::Decide { run, decision } => write!(f, "run:{run}:{}", decision.as_str()),
            Action::Declare { alert } => write!(f, "declare:{alert}"),
            Action::Plan { runbook, alert } => write!(f, "plan:{runbook}:{alert}"),
            Action::CommsEdit { draft } => write!(f, "comms:edit:{draft}"),
            Action::CommsApprove { draft, version } => {
                write!(f, "comms:approve:{draft}:v{version}")
            }
            Action::CommsDiscard { draft } => write!(f, "comms:discard:{draft}"),
        }
    }
}

impl FromStr for Action {
    type Err = ActionError;

    fn from_str(id: &str) -> Result<Self, ActionError> {
        Action::parse(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(text: &str) -> String {
        text.to_owned()
    }

    /// Every variant with the id it has on the wire today (messages already posted carry them).
    fn every_variant() -> Vec<(Action, &'static str)> {
        vec![
            (
                Action::Approve {
                    request: owned("REQ-1"),
                },
                "approve:REQ-1",
            ),
            (
                Action::Deny {
                    request: owned("REQ-1"),
                },
                "deny:REQ-1",
            ),
            (
                Action::Confirm {
                    run: owned("RUN-1"),
                    step: owned("db:restore"),
                    yes: true,
                },
                "confirm:RUN-1:db:restore:yes",
            ),
            (
                Action::Confirm {
                    run: owned("RUN-1"),
                    step: owned("scope"),
                    yes: false,
                },
                "confirm:RUN-1:scope:no",
            ),
            (
                Action::Decide {
                    run: owned("RUN-1"),
                    decision: Decision::Retry,
                },
                "run:RUN-1:retry",
            ),
            (
                Action::Decide {
                    run: owned("RUN-1"),
                    decision: Decision::Skip,
                },
                "run:RUN-1:skip",
            ),
            (
                Action::Decide {
                    run: owned("RUN-1"),
                    decision: Decision::Abort,
                },
                "run:RUN-1:abort",
            ),
            (
                Action::Declare {
                    alert: owned("heroku-20261125083000"),
                },
                "declare:heroku-20261125083000",
            ),
            (Action::Declare { alert: owned("") }, "declare:"),
            (
                Action::Plan {
                    runbook: owned("failover-hosting"),
                    alert: owned("heroku-20261125083000"),
                },
                "plan:failover-hosting:heroku-20261125083000",
            ),
            (
                Action::CommsEdit {
                    draft: owned("D-1"),
                },
                "comms:edit:D-1",
            ),
            (
                Action::CommsApprove {
                    draft: owned("D-1"),
                    version: 2,
                },
                "comms:approve:D-1:v2",
            ),
            (
                Action::CommsDiscard {
                    draft: owned("D-1"),
                },
                "comms:discard:D-1",
            ),
        ]
    }

    #[test]
    fn every_action_round_trips_through_its_wire_form() {
        for (action, wire) in every_variant() {
            assert_eq!(action.to_custom_id(), wire);
            assert_eq!(Action::parse(wire).unwrap(), action, "{wire}");
            assert_eq!(wire.parse::<Action>().unwrap(), action, "{wire}");
        }
    }

    #[test]
    fn the_longest_ids_fit_discord() {
        // The longest request id the bot makes (`REQ-<date>-<time>-<runbook, 60 chars at
        // most>-<suffix>`). Run ids carry the runbook name and confirm ids the step id, neither
        // bounded: these take half again the longest shipped ones (`failover-hosting`,
        // `notify-engineering`); longer ones may not fit and the adapter drops such a button.
        let request = format!("REQ-20261125-083000-{}-ffff", "x".repeat(60));
        let run = format!("RUN-20261125-083000-{}-ffff", "x".repeat(24));
        let longest = [
            Action::Approve { request },
            Action::Confirm {
                run: run.clone(),
                step: "x".repeat(27),
                yes: false,
            },
            Action::Decide {
                run,
                decision: Decision::Abort,
            },
            Action::Plan {
                runbook: "x".repeat(24),
                alert: owned("cloudflare-20261125083000"),
            },
            Action::CommsApprove {
                draft: owned("DRAFT-99999"),
                version: u32::MAX,
            },
        ];
        for action in longest {
            let id = action.to_custom_id();
            assert!(id.len() <= MAX_CUSTOM_ID, "{id} is {} chars", id.len());
            assert_eq!(Action::parse(&id).unwrap(), action);
        }
    }

    #[test]
    fn an_unprefixed_approval_version_is_read() {
        assert_eq!(
            Action::parse("comms:approve:D-1:2").unwrap(),
            Action::CommsApprove {
                draft: owned("D-1"),
                version: 2
            }
        );
    }

    #[test]
    fn bad_ids_say_what_is_wrong() {
        for bad in [
            "",
            "approve",
            "approve:",
            "approve:a:b",
            "deny:",
            "confirm:R:S:maybe",
            "confirm:RUN-1:yes",
            "confirm::S:yes",
            "run:R:later",
            "run::retry",
            "run:",
            "plan:",
            "plan::A",
            "comms:approve:",
            "comms:approve:D-1",
            "comms:approve:D-1:",
            "comms:approve::v1",
            "comms:approve:D-1:v0",
            "comms:approve:D-1:v1:x",
            "comms:send:D-1",
            "comms:edit:",
            "comms:edit:a:b",
            "comms:discard:a:b",
            "launch:rockets",
        ] {
            let err = Action::parse(bad).expect_err(bad);
            assert_eq!(err.id, bad);
            assert!(
                err.to_string()
                    .starts_with(&format!("unknown button `{bad}`: ")),
                "{err}"
            );
        }
        assert_eq!(
            Action::parse("confirm:R:S:maybe").unwrap_err().to_string(),
            "unknown button `confirm:R:S:maybe`: the answer must be `yes` or `no`"
        );
    }
}
