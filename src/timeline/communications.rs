//! What was sent (one entry per recipient and text, with every route it went by) and what was
//! drafted (one entry per draft and text, with the stages it went through).

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::RunId;
use crate::domain::event::Event;
use crate::events::{
    CommsDraftOutput, EventKind, NotifyOutput, Payload, StepSucceeded, read_output,
};
use crate::runbook::StepKind;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Communication {
    /// When it was first sent (or drafted).
    pub at: DateTime<Utc>,
    pub run: Option<RunId>,
    pub step: Option<String>,
    /// Sent: `notify` (a team told) or `comms.sent` (a client notice). Drafts: the
    /// `comms.*` kinds it went through (`comms.drafted`, `comms.edited`, `comms.approved`),
    /// joined with `, `, or `comms_draft` for a draft step's output.
    pub kind: String,
    /// The team told, the draft's audience, or the template drafted.
    pub to: Option<String>,
    /// The draft (`DRAFT-1`) it came from, if any.
    pub draft: Option<String>,
    /// Sent: every route or output it was delivered by (`discord`, `webhook`, `email`, …).
    pub via: Vec<String>,
    /// The exact text.
    pub text: String,
}

/// Adds `item` to `list` unless it is there already.
fn add_once(list: &mut Vec<String>, item: Option<String>) {
    if let Some(item) = item
        && !list.contains(&item)
    {
        list.push(item);
    }
}

/// What was sent (one entry per recipient and text, with every route it went by) and what was
/// drafted (one entry per draft and text, with the stages it went through). A `notify` or
/// `comms_draft` step's output only adds an entry when no delivery or draft event has its text.
pub(super) fn communications(events: &[Event]) -> (Vec<Communication>, Vec<Communication>) {
    let mut sent: Vec<Communication> = Vec::new();
    let mut drafts: Vec<Communication> = Vec::new();
    add_deliveries_and_drafts(events, &mut sent, &mut drafts);
    add_step_outputs(events, &mut sent, &mut drafts);
    sent.sort_by_key(|c| c.at);
    drafts.sort_by_key(|c| c.at);
    (sent, drafts)
}

/// The delivery and draft events: `notify.delivered` and `comms.sent` into `sent`,
/// `comms.drafted`, `comms.edited` and `comms.approved` into `drafts`.
fn add_deliveries_and_drafts(
    events: &[Event],
    sent: &mut Vec<Communication>,
    drafts: &mut Vec<Communication>,
) {
    for e in events {
        if !matches!(
            e.event_kind(),
            Some(
                EventKind::NotifyDelivered
                    | EventKind::CommsSent
                    | EventKind::CommsDrafted
                    | EventKind::CommsEdited
                    | EventKind::CommsApproved
            )
        ) {
            continue;
        }
        match e.payload() {
            Ok(Payload::NotifyDelivered(delivered)) => add_sent(
                sent,
                e,
                "notify",
                Some(delivered.team),
                None,
                Some(delivered.route),
                delivered.text,
            ),
            Ok(Payload::CommsSent(delivered)) => {
                let audience = drafts
                    .iter()
                    .find(|c| c.draft.as_deref() == Some(&delivered.draft))
                    .and_then(|c| c.to.clone());
                add_sent(
                    sent,
                    e,
                    EventKind::CommsSent.as_str(),
                    audience,
                    Some(delivered.draft),
                    Some(delivered.output),
                    delivered.text,
                );
            }
            Ok(Payload::CommsDrafted(drafted)) => add_draft(
                drafts,
                e,
                drafted.draft,
                Some(drafted.audience),
                drafted.text,
            ),
            Ok(Payload::CommsEdited(edited)) => {
                add_draft(drafts, e, edited.draft, None, edited.text);
            }
            Ok(Payload::CommsApproved(approved)) => {
                if let Some(text) = approved.text {
                    add_draft(drafts, e, approved.draft, None, text);
                }
            }
            _ => {}
        }
    }
}

/// A `notify` or `comms_draft` step's output: names the step and run of the entry with its
/// text, or adds an entry when no delivery or draft event had it.
fn add_step_outputs(
    events: &[Event],
    sent: &mut Vec<Communication>,
    drafts: &mut Vec<Communication>,
) {
    for e in events {
        let Some(step) = e.data_as::<StepSucceeded>() else {
            continue;
        };
        let (list, kind, to, draft, text) = match step.kind {
            Some(StepKind::Notify) => {
                let out: NotifyOutput = read_output(&step.output);
                (&mut *sent, "notify", out.team, None, out.text)
            }
            Some(StepKind::CommsDraft) => {
                let out: CommsDraftOutput = read_output(&step.output);
                (
                    &mut *drafts,
                    "comms_draft",
                    out.template,
                    out.draft,
                    out.text,
                )
            }
            _ => continue,
        };
        let Some(text) = text else {
            continue;
        };
        let known = list
            .iter_mut()
            .find(|c| c.text == text && (kind == "comms_draft" || c.to.is_none() || c.to == to));
        match known {
            Some(c) => {
                c.step = c.step.take().or(Some(step.step));
                c.run = c.run.take().or_else(|| e.run.clone());
            }
            None => list.push(Communication {
                at: e.at,
                run: e.run.clone(),
                step: Some(step.step),
                kind: kind.to_owned(),
                to,
                draft,
                via: Vec::new(),
                text,
            }),
        }
    }
}

/// A delivered text: one entry per `kind`, recipient and text, with every route it went by.
fn add_sent(
    sent: &mut Vec<Communication>,
    e: &Event,
    kind: &str,
    to: Option<String>,
    draft: Option<String>,
    via: Option<String>,
    text: String,
) {
    match sent
        .iter_mut()
        .find(|c| c.kind == kind && c.to == to && c.text == text)
    {
        Some(c) => add_once(&mut c.via, via),
        None => sent.push(Communication {
            at: e.at,
            run: e.run.clone(),
            step: None,
            kind: kind.to_owned(),
            to,
            draft,
            via: via.into_iter().collect(),
            text,
        }),
    }
}

/// A draft's text: one entry per draft and text, with the `comms.*` stages it went through;
/// `to` is the draft's audience (from its `comms.drafted`).
fn add_draft(
    drafts: &mut Vec<Communication>,
    e: &Event,
    draft: String,
    audience: Option<String>,
    text: String,
) {
    let draft = Some(draft);
    let to = audience.or_else(|| {
        drafts
            .iter()
            .find(|c| c.draft == draft)
            .and_then(|c| c.to.clone())
    });
    match drafts
        .iter_mut()
        .find(|c| c.draft == draft && c.text == text)
    {
        Some(c) => {
            if !c.kind.split(", ").any(|k| k == e.kind) {
                c.kind = format!("{}, {}", c.kind, e.kind);
            }
        }
        None => drafts.push(Communication {
            at: e.at,
            run: e.run.clone(),
            step: None,
            kind: e.kind.clone(),
            to,
            draft,
            via: Vec::new(),
            text,
        }),
    }
}
