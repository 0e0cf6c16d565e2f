//! Who may do what, and the two-person rule for runs — pure decisions, no I/O.
//!
//! An approval counts only if the approver holds an approver role, is not the requester
//! (unless the runbook allows it), answers before the request expires, has not approved this
//! request already, and the plan hash still matches (runbook file and parameters unchanged).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::config::AccessConfig;

/// A person acting in chat, with the role ids chat says they hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub roles: Vec<String>,
}

/// What a command needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Responder,
    Approver,
    Communicator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Responder => "responder",
            Role::Approver => "approver",
            Role::Communicator => "communicator",
        }
    }

    fn role_ids(self, access: &AccessConfig) -> &[String] {
        match self {
            Role::Responder => &access.responders,
            Role::Approver => &access.approvers,
            Role::Communicator => &access.communicators,
        }
    }
}

/// Whether `person` holds `role`. A person may hold a role by id or, for the console and
/// drills, by its name (`responder`, `approver`, `communicator`).
pub fn holds(access: &AccessConfig, person: &Person, role: Role) -> bool {
    let ids = role.role_ids(access);
    person
        .roles
        .iter()
        .any(|r| ids.contains(r) || r == role.as_str())
}

/// A pending run request, as the log tells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub id: String,
    pub runbook: String,
    pub params: BTreeMap<String, String>,
    pub plan_hash: String,
    pub requester: Person,
    pub requested_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub required: u32,
    pub requester_may_approve: bool,
    #[serde(default)]
    pub approvals: Vec<Person>,
    #[serde(default)]
    pub closed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    NotApprover,
    OwnRequest,
    Expired { at: DateTime<Utc> },
    PlanChanged,
    AlreadyApproved,
    Closed,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NotApprover => f.write_str("approving a run needs the approver role"),
            Refusal::OwnRequest => f.write_str(
                "you requested this run: a second person must approve it (two-person rule)",
            ),
            Refusal::Expired { at } => write!(
                f,
                "this request expired at {}; request the run again",
                at.format("%H:%M UTC")
            ),
            Refusal::PlanChanged => f.write_str(
                "the runbook or its parameters changed since the request; request the run again so approvers see the current plan",
            ),
            Refusal::AlreadyApproved => f.write_str("you already approved this request"),
            Refusal::Closed => f.write_str("this request is already decided"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Counted; more approvals are needed.
    Counted {
        remaining: u32,
    },
    /// Counted; the run may start.
    Approved,
    Refused(Refusal),
}

/// Decides on one approval.
pub fn approve(
    request: &Request,
    who: &Person,
    access: &AccessConfig,
    now: DateTime<Utc>,
    current_plan_hash: &str,
) -> Verdict {
    let refusal = if request.closed {
        Some(Refusal::Closed)
    } else if !holds(access, who, Role::Approver) {
        Some(Refusal::NotApprover)
    } else if who.id == request.requester.id && !request.requester_may_approve {
        Some(Refusal::OwnRequest)
    } else if now >= request.expires_at {
        Some(Refusal::Expired {
            at: request.expires_at,
        })
    } else if current_plan_hash != request.plan_hash {
        Some(Refusal::PlanChanged)
    } else if request.approvals.iter().any(|p| p.id == who.id) {
        Some(Refusal::AlreadyApproved)
    } else {
        None
    };
    if let Some(refusal) = refusal {
        return Verdict::Refused(refusal);
    }
    let have = request.approvals.len() as u32 + 1;
    if have >= request.required {
        Verdict::Approved
    } else {
        Verdict::Counted {
            remaining: request.required - have,
        }
    }
}

/// Why the requester may not start a run alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BreakGlassRefusal {
    /// The runbook has no `[approval] break_glass_after`.
    Off,
    Closed,
    NotRequester,
    NotSev1,
    NoReason,
    TooEarly {
        at: DateTime<Utc>,
    },
    /// The request expired before anyone broke the glass: request the run again.
    Expired {
        at: DateTime<Utc>,
    },
}

impl std::fmt::Display for BreakGlassRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BreakGlassRefusal::Off => f.write_str(
                "this runbook does not allow break-glass (`[approval] break_glass_after`)",
            ),
            BreakGlassRefusal::Closed => f.write_str("this request is already decided"),
            BreakGlassRefusal::NotRequester => {
                f.write_str("only the person who requested the run may break the glass")
            }
            BreakGlassRefusal::NotSev1 => {
                f.write_str("break-glass is only for a sev1 incident; wait for an approver")
            }
            BreakGlassRefusal::NoReason => f.write_str("state the reason for breaking the glass"),
            BreakGlassRefusal::TooEarly { at } => write!(
                f,
                "an approver may still answer: break-glass opens at {}",
                at.format("%H:%M:%S UTC")
            ),
            BreakGlassRefusal::Expired { at } => write!(
                f,
                "the request expired at {}; request the run again",
                at.format("%H:%M:%S UTC")
            ),
        }
    }
}

/// Decides whether the requester may start a run alone: the runbook allows it after
/// `after`, the open incident is sev1, it is the requester, a reason is given, and the request
/// has waited at least `after` without being decided nor expired (an expired request's
/// parameters may be stale, as for an approval). `Ok` holds the seconds waited.
pub fn break_glass(
    request: &Request,
    who: &Person,
    sev1: bool,
    after: Option<std::time::Duration>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<i64, BreakGlassRefusal> {
    let Some(after) = after else {
        return Err(BreakGlassRefusal::Off);
    };
    if request.closed {
        return Err(BreakGlassRefusal::Closed);
    }
    if who.id != request.requester.id {
        return Err(BreakGlassRefusal::NotRequester);
    }
    if !sev1 {
        return Err(BreakGlassRefusal::NotSev1);
    }
    if reason.trim().is_empty() {
        return Err(BreakGlassRefusal::NoReason);
    }
    // A delay too large to add to a time never opens: the same as no break-glass at all.
    let Some(opens) = Duration::from_std(after)
        .ok()
        .and_then(|after| request.requested_at.checked_add_signed(after))
    else {
        return Err(BreakGlassRefusal::Off);
    };
    if now < opens {
        return Err(BreakGlassRefusal::TooEarly { at: opens });
    }
    if now >= request.expires_at {
        return Err(BreakGlassRefusal::Expired {
            at: request.expires_at,
        });
    }
    Ok((now - request.requested_at).num_seconds())
}

/// When a request made `now` with `expires` validity expires.
pub fn expiry(now: DateTime<Utc>, expires: std::time::Duration) -> DateTime<Utc> {
    now + Duration::from_std(expires).unwrap_or(Duration::minutes(15))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access() -> AccessConfig {
        AccessConfig {
            responders: vec!["r".into()],
            approvers: vec!["a".into()],
            communicators: vec!["c".into()],
            roster: Vec::new(),
        }
    }

    fn person(id: &str, roles: &[&str]) -> Person {
        Person {
            id: id.into(),
            name: id.into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
        }
    }

    fn request(required: u32) -> Request {
        let now = Utc::now();
        Request {
            id: "REQ-1".into(),
            runbook: "failover-hosting".into(),
            params: BTreeMap::new(),
            plan_hash: "h1".into(),
            requester: person("alice", &["r", "a"]),
            requested_at: now,
            expires_at: now + Duration::minutes(15),
            required,
            requester_may_approve: false,
            approvals: Vec::new(),
            closed: false,
        }
    }

    #[test]
    fn a_second_approver_approves() {
        let r = request(1);
        assert_eq!(
            approve(&r, &person("bob", &["a"]), &access(), Utc::now(), "h1"),
            Verdict::Approved
        );
    }

    #[test]
    fn the_requester_cannot_approve_their_own_run_unless_allowed() {
        let mut r = request(1);
        let alice = r.requester.clone();
        assert_eq!(
            approve(&r, &alice, &access(), Utc::now(), "h1"),
            Verdict::Refused(Refusal::OwnRequest)
        );
        r.requester_may_approve = true;
        assert_eq!(
            approve(&r, &alice, &access(), Utc::now(), "h1"),
            Verdict::Approved
        );
    }

    #[test]
    fn roles_expiry_and_plan_hash_are_enforced() {
        let r = request(1);
        let bob = person("bob", &["a"]);
        assert_eq!(
            approve(&r, &person("carol", &["r"]), &access(), Utc::now(), "h1"),
            Verdict::Refused(Refusal::NotApprover)
        );
        let later = r.expires_at + Duration::seconds(1);
        assert!(matches!(
            approve(&r, &bob, &access(), later, "h1"),
            Verdict::Refused(Refusal::Expired { .. })
        ));
        assert_eq!(
            approve(&r, &bob, &access(), Utc::now(), "h2"),
            Verdict::Refused(Refusal::PlanChanged)
        );
        // Role names work too (console, drills).
        assert_eq!(
            approve(
                &r,
                &person("dan", &["approver"]),
                &access(),
                Utc::now(),
                "h1"
            ),
            Verdict::Approved
        );
    }

    #[test]
    fn break_glass_needs_the_delay_sev1_the_requester_and_a_reason() {
        let r = request(1);
        let alice = r.requester.clone();
        let after = Some(std::time::Duration::from_secs(600));
        let early = r.requested_at + Duration::seconds(599);
        let late = r.requested_at + Duration::seconds(601);
        assert_eq!(
            break_glass(&r, &alice, true, None, "db down", late),
            Err(BreakGlassRefusal::Off)
        );
        assert_eq!(
            break_glass(&r, &alice, true, after, "db down", early),
            Err(BreakGlassRefusal::TooEarly {
                at: r.requested_at + Duration::seconds(600)
            })
        );
        assert_eq!(
            break_glass(&r, &alice, false, after, "db down", late),
            Err(BreakGlassRefusal::NotSev1)
        );
        assert_eq!(
            break_glass(&r, &person("bob", &["a"]), true, after, "db down", late),
            Err(BreakGlassRefusal::NotRequester)
        );
        assert_eq!(
            break_glass(&r, &alice, true, after, "  ", late),
            Err(BreakGlassRefusal::NoReason)
        );
        assert_eq!(
            break_glass(&r, &alice, true, after, "db down", late),
            Ok(601)
        );
        let mut closed = r.clone();
        closed.closed = true;
        assert_eq!(
            break_glass(&closed, &alice, true, after, "db down", late),
            Err(BreakGlassRefusal::Closed)
        );
        assert_eq!(
            break_glass(&r, &alice, true, after, "db down", r.expires_at),
            Err(BreakGlassRefusal::Expired { at: r.expires_at })
        );
        // A delay past any representable time never opens (and does not panic).
        assert_eq!(
            break_glass(
                &r,
                &alice,
                true,
                Some(std::time::Duration::MAX),
                "db down",
                late
            ),
            Err(BreakGlassRefusal::Off)
        );
    }

    #[test]
    fn two_approvals_need_two_different_people() {
        let mut r = request(2);
        let bob = person("bob", &["a"]);
        assert_eq!(
            approve(&r, &bob, &access(), Utc::now(), "h1"),
            Verdict::Counted { remaining: 1 }
        );
        r.approvals.push(bob.clone());
        assert_eq!(
            approve(&r, &bob, &access(), Utc::now(), "h1"),
            Verdict::Refused(Refusal::AlreadyApproved)
        );
        assert_eq!(
            approve(&r, &person("eve", &["a"]), &access(), Utc::now(), "h1"),
            Verdict::Approved
        );
        r.closed = true;
        assert_eq!(
            approve(&r, &person("fay", &["a"]), &access(), Utc::now(), "h1"),
            Verdict::Refused(Refusal::Closed)
        );
    }
}
