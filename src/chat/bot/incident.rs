//! The incident commands: `/incident declare|status|note|resolve|review`, and the open
//! incident's thread as the adapter asks for it.

use super::{Bot, Reply, actor, plain_message};
use crate::approval::Person;
use crate::chat::command::Command;
use crate::domain::IncidentId;
use crate::domain::event::NewEvent;
use crate::events::{EventKind, IncidentDeclared, IncidentResolved, IncidentReviewed, NoteAdded};
use crate::ports::chat::{ChannelId, MessageRef, incident_thread};

impl Bot {
    /// `/incident declare|status|note|resolve|review` (routed here by `Bot::handle`).
    pub(super) async fn incident_command(&self, command: Command, who: &Person) -> Reply {
        match command {
            Command::IncidentDeclare {
                title,
                severity,
                commander,
                alert,
            } => self.declare(title, severity, commander, alert, who),
            Command::IncidentStatus => self.incident_status(),
            Command::IncidentNote { text, lesson } => self.note(text, lesson, who),
            Command::IncidentResolve => self.resolve(who).await,
            Command::IncidentReview => self.review(who),
            other => Self::misrouted("incident", &other),
        }
    }

    fn declare(
        &self,
        title: String,
        severity: Option<crate::incident::Severity>,
        commander: Option<String>,
        alert: Option<String>,
        who: &Person,
    ) -> Reply {
        if let Some((id, _)) = self.open_incident() {
            return Reply::private(format!("incident {id} is already open"));
        }
        let now = self.clock.now();
        let id = IncidentId(format!("INC-{}", now.format("%Y%m%d-%H%M%S")));
        let title = if title.is_empty() {
            "Outage".to_owned()
        } else {
            title
        };
        // The affected workstreams: the alert's provider's, else every provider alerting now.
        let events = crate::views::alert_events(self.store.as_ref(), alert.as_deref())
            .unwrap_or_else(|err| {
                tracing::error!(error = %err, "the event log could not be read");
                Vec::new()
            });
        let (workstreams, providers) =
            crate::incident::affected_at_declaration(&self.config, &events, alert.as_deref());
        // The level of the alert's latest event (its posting, an update or its recovery).
        let alert_level = alert.as_deref().and_then(|a| {
            events
                .iter()
                .rev()
                .filter(|e| e.event_kind().is_some_and(EventKind::is_about_a_provider))
                .filter_map(|e| e.payload().ok())
                .find(|p| p.alert_id() == Some(a))
                .and_then(|p| p.alert()?.level)
        });
        let severity = severity
            .or(alert_level.map(crate::incident::Severity::for_level))
            .unwrap_or_default();
        let commander = commander.unwrap_or_else(|| who.name.clone());
        self.append(
            NewEvent::of(
                actor(who),
                IncidentDeclared {
                    title: title.clone(),
                    severity,
                    commander: Some(commander.clone()),
                    workstreams: workstreams.clone(),
                    providers,
                    alert,
                    provider: None,
                },
            )
            .incident(id.clone()),
        );
        *self.incident_slot() = Some((id.clone(), title.clone()));
        let affected: Vec<&str> = workstreams.iter().map(|w| w.as_str()).collect();
        Reply::public(plain_message(format!(
            "🚨 Incident {id} declared by {}: {title} ({severity}, commander {commander}{})",
            who.name,
            if affected.is_empty() {
                String::new()
            } else {
                format!(", affects {}", affected.join(", "))
            }
        )))
    }

    /// `/incident status`: state, severity, commander, workstreams and clocks.
    fn incident_status(&self) -> Reply {
        let store = self.store.as_ref();
        let read = crate::views::open_incidents(store).and_then(|open| {
            let needed = crate::views::forecast_runbooks(&open, &self.config, &self.runbooks);
            let history = crate::views::step_history(store, &needed)?;
            Ok((open, history))
        });
        let (open, history) = match read {
            Ok(read) => read,
            Err(err) => return Self::unreadable(err),
        };
        if open.is_empty() {
            return Reply::private("no open incident");
        }
        Reply::private(
            open.iter()
                .map(|i| {
                    crate::incident::status_text(
                        i,
                        &self.config,
                        &self.runbooks,
                        &history,
                        self.clock.now(),
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"),
        )
    }

    /// `/incident note`: a note (or a lesson) on the open incident.
    fn note(&self, text: String, lesson: bool, who: &Person) -> Reply {
        match self.open_incident() {
            Some((id, _)) => {
                self.append(
                    NewEvent::of(actor(who), NoteAdded { text, lesson }).incident(id.clone()),
                );
                Reply::private(format!("note added to {id}"))
            }
            None => Reply::private("no open incident to add a note to"),
        }
    }

    /// `/incident resolve`: closes the open incident and resolves the pages it opened.
    async fn resolve(&self, who: &Person) -> Reply {
        match self.open_incident() {
            Some((id, _)) => {
                self.append(NewEvent::of(actor(who), IncidentResolved {}).incident(id.clone()));
                *self.incident_slot() = None;
                // Recovery resolves the PagerDuty alerts the incident opened.
                let pages = self.resolve_pages(&id, who).await;
                let pages = if pages.is_empty() {
                    String::new()
                } else {
                    format!(" {}.", pages.join(", "))
                };
                Reply::public(plain_message(format!(
                    "Incident {id} resolved by {}.{pages}",
                    who.name
                )))
            }
            None => Reply::private("no open incident"),
        }
    }

    /// `/incident review`: the latest resolved incident was reviewed (never an open one).
    fn review(&self, who: &Person) -> Reply {
        let waiting = match crate::views::awaiting_review(self.store.as_ref()) {
            Ok(waiting) => waiting,
            Err(err) => return Self::unreadable(err),
        };
        match waiting {
            Some(inc) => {
                match self.unacknowledged(&inc.id) {
                    Ok(runs) if !runs.is_empty() => {
                        return Reply::private(format!(
                            "incident {} cannot be reviewed yet: an approver must first acknowledge its break-glass run{} with `/runbook acknowledge`: {}",
                            inc.id,
                            if runs.len() == 1 { "" } else { "s" },
                            runs.join(", ")
                        ));
                    }
                    Ok(_) => {}
                    Err(err) => return Self::unreadable(err),
                }
                self.append(NewEvent::of(actor(who), IncidentReviewed {}).incident(inc.id.clone()));
                let lessons = inc.notes.iter().filter(|n| n.lesson).count();
                Reply::public(plain_message(format!(
                    "📝 Incident {} reviewed by {} ({lessons} lesson{} on record).",
                    inc.id,
                    who.name,
                    if lessons == 1 { "" } else { "s" }
                )))
            }
            None => match self.open_incident() {
                Some((id, _)) => Reply::private(format!(
                    "incident {id} is still open: resolve it before its review"
                )),
                None => Reply::private("no resolved incident is waiting for a review"),
            },
        }
    }

    /// The thread of the open incident, from the log (so it survives a restart).
    pub fn incident_thread(&self) -> Option<ChannelId> {
        let (id, _) = self.open_incident()?;
        self.store
            .by_incident(&id)
            .ok()
            .and_then(|events| incident_thread(&events))
    }

    /// Opens the open incident's thread, once, started from `from` (the declaration or the
    /// alert it was declared from) where the adapter has it, and records it in the log.
    pub async fn open_thread(&self, from: Option<&MessageRef>) -> Option<ChannelId> {
        self.open_thread_from(from).await
    }
}
