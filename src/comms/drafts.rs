//! Drafts of client and internal notices as the log tells them: drafted, edited, approved,
//! discarded, sent. State is folded from `comms.*` events; who may edit or approve is a pure
//! decision over that state.

use serde::Serialize;

use crate::approval::{self, Person, Role};
use crate::config::AccessConfig;
use crate::domain::event::Event;
use crate::domain::{Actor, IncidentId};
use crate::events::{EventKind, Payload};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DraftState {
    Drafted,
    Edited,
    Approved,
    Discarded,
    Sent,
}

impl DraftState {
    pub fn as_str(self) -> &'static str {
        match self {
            DraftState::Drafted => "drafted",
            DraftState::Edited => "edited",
            DraftState::Approved => "approved",
            DraftState::Discarded => "discarded",
            DraftState::Sent => "sent",
        }
    }

    /// Still waiting for a decision.
    pub fn is_open(self) -> bool {
        matches!(self, DraftState::Drafted | DraftState::Edited)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Draft {
    pub id: String,
    pub audience: String,
    pub kind: String,
    pub incident: Option<IncidentId>,
    pub author: Actor,
    /// The current text: the latest edit, else the drafted text.
    pub text: String,
    /// `openai`, `anthropic` or `template`.
    pub writer: String,
    pub state: DraftState,
    /// 1 as drafted, one more per edit: approvals name the version they cover.
    pub version: u32,
    pub edited_by: Vec<String>,
    /// Everyone who edited it: with the author, they wrote the current text.
    pub editors: Vec<Actor>,
    pub approved_by: Option<String>,
    /// The exact text approved (what every output gets, a resend included).
    pub approved_text: Option<String>,
    /// Outputs that received it.
    pub sent_to: Vec<String>,
}

/// Every draft in the log, in the order drafted.
/// The kinds that change a draft: all [`fold`] reads.
pub const KINDS: [EventKind; 5] = [
    EventKind::CommsDrafted,
    EventKind::CommsEdited,
    EventKind::CommsApproved,
    EventKind::CommsDiscarded,
    EventKind::CommsSent,
];

pub fn fold(events: &[Event]) -> Vec<Draft> {
    let mut drafts: Vec<Draft> = Vec::new();
    for e in events {
        // Only the kinds that change a draft are decoded.
        if !e.event_kind().is_some_and(|k| KINDS.contains(&k)) {
            continue;
        }
        let Ok(payload) = e.payload() else { continue };
        if let Payload::CommsDrafted(drafted) = payload {
            drafts.push(Draft {
                id: drafted.draft,
                audience: drafted.audience,
                kind: drafted.kind,
                incident: e.incident.clone(),
                author: e.actor.clone(),
                text: drafted.text,
                writer: drafted.writer,
                state: DraftState::Drafted,
                version: 1,
                edited_by: Vec::new(),
                editors: Vec::new(),
                approved_by: None,
                approved_text: None,
                sent_to: Vec::new(),
            });
            continue;
        }
        let id = match &payload {
            Payload::CommsEdited(p) => &p.draft,
            Payload::CommsApproved(p) => &p.draft,
            Payload::CommsDiscarded(p) => &p.draft,
            Payload::CommsSent(p) => &p.draft,
            _ => continue,
        };
        let Some(d) = drafts.iter_mut().find(|d| &d.id == id) else {
            continue;
        };
        match payload {
            Payload::CommsEdited(edited) => {
                d.text = edited.text;
                d.state = DraftState::Edited;
                d.version += 1;
                d.edited_by.push(name(&e.actor));
                d.editors.push(e.actor.clone());
            }
            Payload::CommsApproved(approved) => {
                d.state = DraftState::Approved;
                d.approved_by = Some(name(&e.actor));
                d.approved_text = approved.text;
            }
            Payload::CommsDiscarded(_) => d.state = DraftState::Discarded,
            Payload::CommsSent(sent) => {
                d.state = DraftState::Sent;
                if !d.sent_to.contains(&sent.output) {
                    d.sent_to.push(sent.output);
                }
            }
            _ => {}
        }
    }
    drafts
}

fn name(actor: &Actor) -> String {
    match actor {
        Actor::User { name, .. } => name.clone(),
        other => other.to_string(),
    }
}

/// The id the next draft gets: `DRAFT-<n>`, counting every draft ever made.
pub fn next_id(events: &[Event]) -> String {
    let n = events
        .iter()
        .filter(|e| e.is(EventKind::CommsDrafted))
        .count();
    format!("DRAFT-{}", n + 1)
}

pub fn find<'a>(drafts: &'a [Draft], id: &str) -> Result<&'a Draft, String> {
    drafts
        .iter()
        .find(|d| d.id.eq_ignore_ascii_case(id))
        .ok_or_else(|| {
            let open: Vec<&str> = drafts
                .iter()
                .filter(|d| d.state.is_open())
                .map(|d| d.id.as_str())
                .collect();
            format!(
                "no draft {id} (open drafts: {})",
                crate::config::join_or_none(open.into_iter())
            )
        })
}

/// Whether the draft can still change (edit, discard).
pub fn may_change(draft: &Draft) -> Result<(), String> {
    if draft.state.is_open() {
        Ok(())
    } else {
        Err(format!(
            "{} is already {}; draft a new notice instead",
            draft.id,
            draft.state.as_str()
        ))
    }
}

/// The version an approval names: the one given, else 1 (the text as drafted), so an
/// approval without a version never covers an edit.
pub fn approved_version(given: Option<u32>) -> u32 {
    given.unwrap_or(1)
}

/// Approval needs a communicator who read the current version (`version`, see
/// [`approved_version`]) and who neither drafted nor edited it, unless the config allows
/// authors to approve their own drafts.
pub fn may_approve(
    draft: &Draft,
    who: &Person,
    access: &AccessConfig,
    author_may_approve: bool,
    version: Option<u32>,
) -> Result<(), String> {
    may_change(draft)?;
    if !approval::holds(access, who, Role::Communicator) {
        return Err(format!(
            "approving {} needs the communicator role",
            draft.id
        ));
    }
    let read = approved_version(version);
    if read != draft.version {
        return Err(format!(
            "{id} has changed since v{read}: it is now v{now}, edited by {by}; read it \
             (/comms show {id}) and approve v{now} (/comms approve {id} v{now} or its [Approve] button)",
            id = draft.id,
            now = draft.version,
            by = draft.edited_by.last().map_or("someone", String::as_str),
        ));
    }
    let is_me = |actor: &Actor| matches!(actor, Actor::User { id, .. } if *id == who.id);
    if !author_may_approve {
        if is_me(&draft.author) {
            return Err(format!(
                "you drafted {}; another communicator must approve it",
                draft.id
            ));
        }
        if draft.editors.iter().any(is_me) {
            return Err(format!(
                "you edited {}; another communicator must approve it",
                draft.id
            ));
        }
    }
    if draft.text.trim().is_empty() {
        return Err(format!("{} is empty", draft.id));
    }
    Ok(())
}

/// Whether an approved draft may be sent again, to the outputs in `configured` that have not
/// received it. Returns those outputs.
pub fn may_resend<'a>(
    draft: &Draft,
    who: &Person,
    access: &AccessConfig,
    configured: &'a [&'a str],
) -> Result<Vec<&'a str>, String> {
    if !approval::holds(access, who, Role::Communicator) {
        return Err(format!(
            "resending {} needs the communicator role",
            draft.id
        ));
    }
    if !matches!(draft.state, DraftState::Approved | DraftState::Sent) {
        return Err(format!(
            "{} is {}, not approved: only an approved notice can be resent",
            draft.id,
            draft.state.as_str()
        ));
    }
    let missing: Vec<&str> = configured
        .iter()
        .copied()
        .filter(|o| !draft.sent_to.iter().any(|s| s == o))
        .collect();
    if configured.is_empty() {
        return Err("no outputs are configured in [comms]".to_owned());
    }
    if missing.is_empty() {
        return Err(format!(
            "{} was already sent to every output ({})",
            draft.id,
            draft.sent_to.join(", ")
        ));
    }
    Ok(missing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::NewEvent;
    use serde_json::json;

    fn user(id: &str) -> Actor {
        Actor::User {
            id: id.into(),
            name: id.into(),
        }
    }

    fn person(id: &str, roles: &[&str]) -> Person {
        Person {
            id: id.into(),
            name: id.into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
        }
    }

    fn log(items: Vec<NewEvent>) -> Vec<Event> {
        let mut prev = crate::domain::event::GENESIS.to_owned();
        items
            .into_iter()
            .enumerate()
            .map(|(i, n)| {
                let e = Event::seal(n, i as u64 + 1, chrono::Utc::now(), &prev);
                prev = e.hash.clone();
                e
            })
            .collect()
    }

    #[test]
    fn state_is_folded_and_approval_is_decided() {
        let events = log(vec![
            NewEvent::new(
                user("alice"),
                "comms.drafted",
                json!({ "draft": "DRAFT-1", "audience": "clients", "kind": "initial", "text": "v1", "writer": "openai" }),
            ),
            NewEvent::new(
                user("bob"),
                "comms.edited",
                json!({ "draft": "DRAFT-1", "text": "v2" }),
            ),
        ]);
        let drafts = fold(&events);
        let d = find(&drafts, "draft-1").unwrap();
        assert_eq!((d.text.as_str(), d.state), ("v2", DraftState::Edited));
        assert_eq!(d.edited_by, ["bob"]);
        assert_eq!(next_id(&events), "DRAFT-2");
        assert_eq!(d.version, 2);
        let access = AccessConfig::default();
        let v2 = Some(2);
        assert!(
            may_approve(d, &person("carol", &["responder"]), &access, false, v2)
                .unwrap_err()
                .contains("communicator")
        );
        assert!(
            may_approve(d, &person("alice", &["communicator"]), &access, false, v2)
                .unwrap_err()
                .contains("you drafted DRAFT-1; another communicator")
        );
        assert!(may_approve(d, &person("alice", &["communicator"]), &access, true, v2).is_ok());
        assert!(may_approve(d, &person("carol", &["communicator"]), &access, false, v2).is_ok());
        assert!(find(&drafts, "DRAFT-9").unwrap_err().contains("DRAFT-1"));

        let mut events = events;
        events.extend(log(vec![
            NewEvent::new(
                user("carol"),
                "comms.approved",
                json!({ "draft": "DRAFT-1", "text": "v2" }),
            ),
            NewEvent::new(
                Actor::Bot,
                "comms.sent",
                json!({ "draft": "DRAFT-1", "output": "email" }),
            ),
        ]));
        let drafts = fold(&events);
        let d = find(&drafts, "DRAFT-1").unwrap();
        assert_eq!(d.state, DraftState::Sent);
        assert_eq!(d.sent_to, ["email"]);
        assert!(may_change(d).unwrap_err().contains("already sent"));
    }

    #[test]
    fn whoever_edited_the_text_may_not_approve_it_and_approval_names_the_version_read() {
        // The bot drafted it (no human author); bob edited it.
        let mut items = vec![
            NewEvent::new(
                Actor::Bot,
                "comms.drafted",
                json!({ "draft": "DRAFT-1", "audience": "clients", "kind": "update", "text": "v1" }),
            ),
            NewEvent::new(
                user("bob"),
                "comms.edited",
                json!({ "draft": "DRAFT-1", "text": "v2" }),
            ),
        ];
        let access = AccessConfig::default();
        let bob = person("bob", &["communicator"]);
        let carol = person("carol", &["communicator"]);
        let drafts = fold(&log(items.clone()));
        let d = find(&drafts, "DRAFT-1").unwrap();
        assert!(
            may_approve(d, &bob, &access, false, Some(2))
                .unwrap_err()
                .contains("you edited DRAFT-1; another communicator must approve it")
        );
        assert!(may_approve(d, &bob, &access, true, Some(2)).is_ok());
        // Carol read v1 (or gave no version): the text changed under her.
        for read in [Some(1), None] {
            let err = may_approve(d, &carol, &access, false, read).unwrap_err();
            assert!(
                err.contains("DRAFT-1 has changed since v1: it is now v2, edited by bob"),
                "{err}"
            );
        }
        assert!(may_approve(d, &carol, &access, false, Some(3)).is_err());
        assert!(may_approve(d, &carol, &access, false, Some(2)).is_ok());

        // Carol edits it back: now neither bob nor carol may approve v3; dave may.
        items.push(NewEvent::new(
            user("carol"),
            "comms.edited",
            json!({ "draft": "DRAFT-1", "text": "v3" }),
        ));
        let drafts = fold(&log(items));
        let d = find(&drafts, "DRAFT-1").unwrap();
        assert_eq!(d.version, 3);
        for who in [&bob, &carol] {
            assert!(
                may_approve(d, who, &access, false, Some(3))
                    .unwrap_err()
                    .contains("you edited")
            );
        }
        assert!(
            may_approve(
                d,
                &person("dave", &["communicator"]),
                &access,
                false,
                Some(3)
            )
            .is_ok()
        );
    }

    #[test]
    fn only_an_approved_draft_is_resent_and_only_where_it_is_missing() {
        let mut items = vec![NewEvent::new(
            user("alice"),
            "comms.drafted",
            json!({ "draft": "DRAFT-1", "audience": "clients", "kind": "update", "text": "v1" }),
        )];
        let access = AccessConfig::default();
        let carol = person("carol", &["communicator"]);
        let outputs = ["announcement", "webhook", "email"];
        let drafts = fold(&log(items.clone()));
        assert!(
            may_resend(&drafts[0], &carol, &access, &outputs)
                .unwrap_err()
                .contains("is drafted, not approved")
        );
        items.push(NewEvent::new(
            user("carol"),
            "comms.approved",
            json!({ "draft": "DRAFT-1", "text": "v1", "version": 1 }),
        ));
        let drafts = fold(&log(items.clone()));
        assert_eq!(drafts[0].approved_text.as_deref(), Some("v1"));
        assert!(
            may_resend(
                &drafts[0],
                &person("eve", &["responder"]),
                &access,
                &outputs
            )
            .unwrap_err()
            .contains("communicator")
        );
        assert_eq!(
            may_resend(&drafts[0], &carol, &access, &outputs).unwrap(),
            outputs
        );
        items.push(NewEvent::new(
            Actor::Bot,
            "comms.sent",
            json!({ "draft": "DRAFT-1", "output": "webhook" }),
        ));
        let drafts = fold(&log(items.clone()));
        assert_eq!(
            may_resend(&drafts[0], &carol, &access, &outputs).unwrap(),
            ["announcement", "email"]
        );
        for output in ["announcement", "email"] {
            items.push(NewEvent::new(
                Actor::Bot,
                "comms.sent",
                json!({ "draft": "DRAFT-1", "output": output }),
            ));
        }
        let drafts = fold(&log(items));
        assert!(
            may_resend(&drafts[0], &carol, &access, &outputs)
                .unwrap_err()
                .contains("already sent to every output")
        );
        assert!(may_resend(&drafts[0], &carol, &access, &[]).is_err());
    }
}
