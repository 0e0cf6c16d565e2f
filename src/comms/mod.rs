//! Communications: notifying internal teams on every route they have, and drafting client
//! notices from templates filled with facts from the log, optionally polished by an LLM,
//! sent only after a communicator approves.
//!
//! - [`facts`]: the facts a notice states, folded from the event log (pure).
//! - [`template`]: template names, rendering, the `Subject:` line (pure).
//! - [`polish`]: LLM polish with OpenAI → Anthropic fallback and a circuit breaker.
//! - [`drafts`]: draft state folded from `comms.*` events; who may edit and approve (pure).
//! - [`deliver`]: team routes (Discord, webhook, PagerDuty) and client outputs (announcement
//!   channel, webhook, email) with retries, every attempt an event.
//! - [`email`]: SMTP with lettre.
//! - [`errors`]: how each delivery edge fails (webhook, PagerDuty, SMTP, chat), typed.

pub mod deliver;
pub mod drafts;
pub mod email;
pub mod errors;
pub mod facts;
pub mod polish;
pub mod template;

use std::sync::{Arc, Mutex};

use crate::config::{Config, SecretSource};
use crate::domain::event::{Event, NewEvent};
use crate::domain::{Actor, IncidentId, RunId};
use crate::events::{CommsDrafted, EventKind, NotifyDelivered};
use crate::ports::chat::{Action, Button, ButtonStyle, ChannelId, Chat, Message};
use crate::ports::llm::Llm;
use crate::ports::store::EventStore;

pub use deliver::{Delivery, RouteResult};
pub use facts::{Facts, Scope};
pub use polish::{Breaker, Polished};
pub use template::{Audience, Kind};

/// State communications keep between calls, shared by the bot and the runbook steps: the
/// event log (set by the engine), the LLM circuit breaker, and a lock so two drafts never get
/// the same id.
#[derive(Clone, Default)]
pub struct CommsShared {
    pub store: Option<Arc<dyn EventStore>>,
    pub breaker: Arc<Breaker>,
    drafting: Arc<Mutex<()>>,
    /// Drafts being sent right now, so a resend never races the approval's own sending.
    sending: Arc<Mutex<std::collections::BTreeSet<String>>>,
}

/// What communications act through, lent by the caller (a run's step environment, the bot):
/// the edges and the shared state, never the whole of either.
#[derive(Clone, Copy)]
pub struct CommsEnv<'a> {
    pub config: &'a Config,
    pub http: &'a reqwest::Client,
    pub chat: &'a dyn Chat,
    /// Where progress and failure reports go when no team channel applies.
    pub channel: &'a ChannelId,
    pub secrets: &'a dyn SecretSource,
    pub llm: &'a dyn Llm,
    pub shared: &'a CommsShared,
}

/// Marks a draft as being sent until dropped.
pub struct Sending {
    drafts: Arc<Mutex<std::collections::BTreeSet<String>>>,
    draft: String,
}

impl Drop for Sending {
    fn drop(&mut self) {
        self.drafts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.draft);
    }
}

impl CommsShared {
    /// Held while a draft's state is checked and its next event appended, so two people
    /// acting on one draft at once cannot both approve it.
    pub fn exclusive(&self) -> std::sync::MutexGuard<'_, ()> {
        self.drafting.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks `draft` as being sent; `None` when it already is.
    pub fn start_sending(&self, draft: &str) -> Option<Sending> {
        let mut drafts = self.sending.lock().unwrap_or_else(|p| p.into_inner());
        drafts.insert(draft.to_owned()).then(|| Sending {
            drafts: self.sending.clone(),
            draft: draft.to_owned(),
        })
    }
}

/// Button ids of a draft message; the Discord adapter routes them back as commands. The
/// approve button names the version shown, so it never approves a later edit.
pub fn button_ids(draft: &str, version: u32) -> [String; 3] {
    [
        Action::CommsEdit {
            draft: draft.to_owned(),
        }
        .to_custom_id(),
        Action::CommsApprove {
            draft: draft.to_owned(),
            version,
        }
        .to_custom_id(),
        Action::CommsDiscard {
            draft: draft.to_owned(),
        }
        .to_custom_id(),
    ]
}

/// A draft's version `version` as posted for review: its text, how it was written,
/// [Edit] [Approve] [Discard].
pub fn draft_message(
    id: &str,
    version: u32,
    heading: &str,
    text: &str,
    notes: &[String],
) -> Message {
    let mut content = format!(
        "📝 {id} v{version} {heading} — not sent; a communicator must approve it \
         (/comms approve {id} v{version}).\n"
    );
    for note in notes {
        content.push_str(&format!("⚠️ {note}\n"));
    }
    content.push_str("────────\n");
    content.push_str(text);
    let [edit, approve, discard] = button_ids(id, version);
    Message {
        pings: Box::default(),
        content,
        embeds: Vec::new(),
        buttons: vec![
            Button {
                custom_id: edit,
                label: "Edit".into(),
                style: ButtonStyle::Secondary,
            },
            Button {
                custom_id: approve,
                label: "Approve".into(),
                style: ButtonStyle::Success,
            },
            Button {
                custom_id: discard,
                label: "Discard".into(),
                style: ButtonStyle::Danger,
            },
        ],
    }
}

/// A new draft, recorded and ready to post.
#[derive(Debug, Clone)]
pub struct NewDraft {
    pub id: String,
    pub template: String,
    pub text: String,
    pub polished: Polished,
    pub message: Message,
}

fn append(store: &dyn EventStore, event: NewEvent) -> Result<(), String> {
    store
        .append(event)
        .map(|_| ())
        .map_err(|e| format!("the event log refused the draft: {e}"))
}

/// The events [`facts::gather`] needs for `scope`, read through the store's indexes: a run's
/// own events; an incident's history as `crate::views::incident_log` selects it (its first
/// signal, an alert or feed event before the declaration carrying no incident id, decides
/// when it started), with the given run's events besides.
pub fn scope_events(store: &dyn EventStore, scope: &Scope<'_>) -> Result<Vec<Event>, String> {
    let read = |e: crate::ports::store::StoreError| format!("the event log: {e}");
    let mut events = match scope.incident {
        Some(incident) => crate::views::incident_log(store, incident).map_err(read)?,
        None => Vec::new(),
    };
    if let Some(run) = scope.run {
        events.extend(store.by_run(run).map_err(read)?);
        events.sort_by_key(|e| e.seq);
        events.dedup_by_key(|e| e.seq);
    }
    Ok(events)
}

/// The id the next draft gets: one past the last `comms.drafted` in the log, read from the
/// kind index (drafts are numbered in order, one at a time).
fn next_draft_id(store: &dyn EventStore) -> Result<String, String> {
    let read = |e: crate::ports::store::StoreError| format!("the event log: {e}");
    let drafted = EventKind::CommsDrafted.as_str();
    let Some(last) = store
        .recent_of_kinds(&[drafted], u64::MAX, 1)
        .map_err(read)?
        .pop()
    else {
        return Ok(drafts::next_id(&[]));
    };
    let number = last
        .data_as::<CommsDrafted>()
        .and_then(|d| d.draft.strip_prefix("DRAFT-")?.parse::<u64>().ok());
    match number {
        Some(n) => Ok(format!("DRAFT-{}", n + 1)),
        // Not one of ours: count them all, as the ids are defined.
        None => Ok(drafts::next_id(&store.by_kinds(&[drafted]).map_err(read)?)),
    }
}

/// Renders the template for `audience`/`kind` with the facts of `scope`, polishes it when
/// `[comms] polish` is on, and records `comms.drafted` with the exact text.
pub async fn draft(
    env: CommsEnv<'_>,
    store: &dyn EventStore,
    audience: Audience,
    kind: Kind,
    scope: Scope<'_>,
    author: Actor,
) -> Result<NewDraft, String> {
    let events = scope_events(store, &scope)?;
    let facts = facts::gather(
        &events,
        env.config,
        &scope,
        audience.as_str(),
        chrono::Utc::now(),
    );
    let name = template::file_name(audience, kind);
    let rendered = template::render(&env.config.paths.templates, &name, &facts)?;
    let mut polished = if env.config.comms.polish {
        polish::polish(
            env.llm,
            env.config,
            env.secrets,
            &env.shared.breaker,
            &rendered,
            audience.as_str(),
            &facts.values(),
        )
        .await
    } else {
        Polished::template(&rendered)
    };
    if facts.drill {
        // Polish must keep `[DRILL]` (it is one of the facts); a template without it gets it.
        polished.text = facts::mark_drill(&polished.text);
    }
    let id = {
        let _one_at_a_time = env.shared.exclusive();
        let id = next_draft_id(store)?;
        let mut event = NewEvent::of(
            author,
            CommsDrafted {
                draft: id.clone(),
                audience: audience.as_str().to_owned(),
                kind: kind.as_str().to_owned(),
                template: name.clone(),
                text: polished.text.clone(),
                template_text: rendered.clone(),
                writer: polished.writer.clone(),
                fallback: polished.fell_back(),
                attempts: polished.attempts.clone(),
                note: polished.note.clone(),
                facts: serde_json::to_value(&facts).unwrap_or_default(),
                // Named here rather than on the envelope, like deliveries (see `deliver`).
                run: scope.run.cloned(),
            },
        );
        if let Some(i) = scope.incident {
            event = event.incident(i.clone());
        }
        append(store, event)?;
        id
    };
    let mut notes = Vec::new();
    if polished.fell_back() {
        let failed: Vec<String> = polished
            .attempts
            .iter()
            .filter(|a| a.provider != polished.writer)
            .map(|a| format!("{} {}: {}", a.provider, a.outcome, a.detail))
            .collect();
        notes.push(format!(
            "written by {} after a fallback ({})",
            polished.writer,
            failed.join("; ")
        ));
    }
    notes.extend(polished.note.clone());
    let writer = if polished.writer == "template" {
        "from the template".to_owned()
    } else {
        format!("polished by {}", polished.writer)
    };
    let heading = format!("({} · {}, {writer})", audience.as_str(), kind.as_str());
    let message = draft_message(&id, 1, &heading, &polished.text, &notes);
    Ok(NewDraft {
        id,
        template: name,
        text: polished.text.clone(),
        polished,
        message,
    })
}

/// The default text of `/notify team` without text: `internal-notify.md.j2` (or the internal
/// initial notice when absent) with the incident's facts.
pub fn notify_text(
    env: CommsEnv<'_>,
    store: &dyn EventStore,
    scope: &Scope<'_>,
) -> Result<String, String> {
    let events = scope_events(store, scope)?;
    let facts = facts::gather(&events, env.config, scope, "internal", chrono::Utc::now());
    let dir = &env.config.paths.templates;
    let name = if dir.join(template::NOTIFY_TEMPLATE).exists() {
        template::NOTIFY_TEMPLATE.to_owned()
    } else {
        template::file_name(Audience::Internal, Kind::Initial)
    };
    template::render(dir, &name, &facts)
}

/// A delivery context over the communications' edges.
pub fn delivery<'a>(
    env: CommsEnv<'a>,
    store: Option<&'a dyn EventStore>,
    incident: Option<&'a IncidentId>,
    run: Option<&'a RunId>,
    actor: Actor,
) -> Delivery<'a> {
    Delivery {
        config: env.config,
        http: env.http,
        chat: env.chat,
        secrets: env.secrets,
        store,
        channel: env.channel,
        incident,
        run,
        actor,
    }
}

/// One line per route, for replies and step summaries.
pub fn summarise(results: &[RouteResult]) -> String {
    results
        .iter()
        .map(|r| {
            if r.ok {
                format!("{} ✔", r.route)
            } else {
                format!("{} ✖ ({})", r.route, r.detail)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Teams paged on PagerDuty for `incident` (their alerts resolve with it).
pub fn paged_teams(events: &[crate::domain::event::Event], incident: &IncidentId) -> Vec<String> {
    let mut teams: Vec<String> = Vec::new();
    for e in events
        .iter()
        .filter(|e| e.incident.as_ref() == Some(incident))
    {
        if let Some(delivered) = e.data_as::<NotifyDelivered>()
            && delivered.route == "pagerduty"
            && delivered.action.as_deref() == Some("trigger")
            && !teams.contains(&delivered.team)
        {
            teams.push(delivered.team);
        }
    }
    teams
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_draft_is_sent_by_one_caller_at_a_time() {
        let shared = CommsShared::default();
        let first = shared.start_sending("DRAFT-1").expect("free");
        assert!(shared.start_sending("DRAFT-1").is_none(), "already sending");
        assert!(shared.clone().start_sending("DRAFT-2").is_some());
        drop(first);
        assert!(shared.start_sending("DRAFT-1").is_some(), "free again");
    }

    #[test]
    fn the_next_draft_id_follows_the_last_draft_far_back_in_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::SledStore::open(dir.path()).unwrap();
        assert_eq!(next_draft_id(&store).unwrap(), "DRAFT-1");
        let drafted = |n: u32| {
            NewEvent::new(
                Actor::Bot,
                "comms.drafted",
                json!({ "draft": format!("DRAFT-{n}") }),
            )
        };
        store.append_batch(vec![drafted(1), drafted(2)]).unwrap();
        // Many other events after the last draft (more than a look-back window once was).
        let noise = (0..522)
            .map(|i| NewEvent::new(Actor::Bot, "feed.observed", json!({ "i": i })))
            .collect();
        store.append_batch(noise).unwrap();
        assert_eq!(next_draft_id(&store).unwrap(), "DRAFT-3");
        assert_eq!(
            next_draft_id(&store).unwrap(),
            drafts::next_id(&store.all().unwrap())
        );
    }

    #[test]
    fn a_run_outside_an_incident_reads_only_its_own_events() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::SledStore::open(dir.path()).unwrap();
        let run = RunId("R-1".into());
        let other = RunId("R-2".into());
        store
            .append_batch(vec![
                NewEvent::new(Actor::Bot, "run.started", json!({})).run(run.clone()),
                NewEvent::new(Actor::Bot, "run.started", json!({})).run(other.clone()),
                NewEvent::new(Actor::Bot, "feed.observed", json!({})),
            ])
            .unwrap();
        let scope = Scope {
            incident: None,
            run: Some(&run),
        };
        let events = scope_events(&store, &scope).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].run.as_ref(), Some(&run));
        let none = Scope {
            incident: None,
            run: None,
        };
        assert!(scope_events(&store, &none).unwrap().is_empty());
    }

    #[test]
    fn the_approve_button_names_the_version_shown() {
        let m = draft_message("DRAFT-3", 2, "(clients · update)", "text", &[]);
        assert!(m.content.starts_with("📝 DRAFT-3 v2 "), "{}", m.content);
        assert!(m.content.contains("/comms approve DRAFT-3 v2"));
        let ids: Vec<&str> = m.buttons.iter().map(|b| b.custom_id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "comms:edit:DRAFT-3",
                "comms:approve:DRAFT-3:v2",
                "comms:discard:DRAFT-3"
            ]
        );
        let parsed = crate::chat::discord::command_from_custom_id(ids[1]).unwrap();
        assert_eq!(
            parsed,
            crate::chat::command::Command::CommsApprove {
                draft: "DRAFT-3".into(),
                version: Some(2)
            }
        );
    }
}
