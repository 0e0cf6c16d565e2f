//! The bot's communication commands: `/comms draft|show|edit|approve|resend|discard` and
//! `/notify team`. Decisions live in `crate::comms`; this only authorises, records and answers.

use super::{Bot, Reply, actor, plain_message};
use crate::approval::{self, Person, Role};
use crate::chat::command::Command;
use crate::comms::{self, Audience, Kind, Scope, drafts};
use crate::domain::IncidentId;
use crate::domain::event::NewEvent;
use crate::events::{
    CommsApprovalRefused, CommsApproved, CommsDiscarded, CommsEdited, CommsResend,
};
use crate::ports::chat::ChannelId;

/// Commands a communicator may issue without the responder role.
pub(super) fn communicator_may(command: &Command) -> bool {
    matches!(
        command,
        Command::CommsDraft { .. } | Command::CommsEdit { .. } | Command::CommsDiscard { .. }
    )
}

impl Bot {
    /// `/comms draft|show|edit|approve|resend|discard` and `/notify team` (routed here by
    /// `Bot::handle`).
    pub(super) async fn comms_command(&self, command: Command, who: &Person) -> Reply {
        match command {
            Command::CommsDraft { audience, kind } => self.comms_draft(&audience, &kind, who).await,
            Command::CommsShow { draft } => self.comms_show(draft.as_deref()),
            Command::CommsEdit { draft, text } => self.comms_edit(&draft, text, who),
            Command::CommsApprove { draft, version } => {
                self.comms_approve(&draft, version, who).await
            }
            Command::CommsResend { draft } => self.comms_resend(&draft, who).await,
            Command::CommsDiscard { draft } => self.comms_discard(&draft, who),
            Command::NotifyTeam { team, text } => self.notify_team(&team, text, who).await,
            other => Self::misrouted("comms", &other),
        }
    }

    /// Where delivery failures about `incident` are reported: its thread when one is open,
    /// else the incident channel.
    fn reports_channel(&self, incident: Option<&IncidentId>) -> ChannelId {
        crate::ports::chat::incident_channel(
            self.store.as_ref(),
            incident,
            &self.engine.env().channel,
        )
    }

    fn drafts(&self) -> Vec<drafts::Draft> {
        crate::views::of_kinds(self.store.as_ref(), &drafts::KINDS)
            .map(|events| drafts::fold(&events))
            .unwrap_or_default()
    }

    /// The current text of a draft (for an edit form), if it exists.
    pub fn draft_text(&self, draft: &str) -> Option<String> {
        drafts::find(&self.drafts(), draft)
            .ok()
            .map(|d| d.text.clone())
    }

    pub(super) async fn comms_draft(&self, audience: &str, kind: &str, who: &Person) -> Reply {
        let (audience, kind) = match (Audience::parse(audience), Kind::parse(kind)) {
            (Ok(a), Ok(k)) => (a, k),
            (Err(e), _) | (_, Err(e)) => return Reply::private(e),
        };
        let Some((incident, _)) = self.open_incident() else {
            return Reply::private("no open incident: declare one first, so the notice has facts");
        };
        let scope = Scope {
            incident: Some(&incident),
            run: None,
        };
        match comms::draft(
            self.engine.env().comms_env(),
            self.store.as_ref(),
            audience,
            kind,
            scope,
            actor(who),
        )
        .await
        {
            Ok(made) => Reply::public(made.message),
            Err(err) => Reply::private(format!("Cannot draft: {err}")),
        }
    }

    pub(super) fn comms_show(&self, draft: Option<&str>) -> Reply {
        let all = self.drafts();
        match draft {
            Some(id) => match drafts::find(&all, id) {
                Ok(d) if d.state.is_open() => {
                    let mut message = comms::draft_message(
                        &d.id,
                        d.version,
                        &format!("({} · {}, {})", d.audience, d.kind, d.state.as_str()),
                        &d.text,
                        &[],
                    );
                    message.content = message.content.replacen("📝", "📄", 1);
                    let mut reply = Reply::public(message);
                    reply.ephemeral = true;
                    reply
                }
                Ok(d) => Reply::private(format!(
                    "{} ({} · {}) is {}{}\n{}",
                    d.id,
                    d.audience,
                    d.kind,
                    d.state.as_str(),
                    d.approved_by
                        .as_deref()
                        .map(|b| format!(", approved by {b}"))
                        .unwrap_or_default(),
                    d.text
                )),
                Err(err) => Reply::private(err),
            },
            None if all.is_empty() => Reply::private("no drafts yet"),
            None => Reply::private(
                all.iter()
                    .map(|d| {
                        format!(
                            "{} ({} · {}) {} by {}",
                            d.id,
                            d.audience,
                            d.kind,
                            d.state.as_str(),
                            d.author
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
        }
    }

    pub(super) fn comms_edit(&self, draft: &str, new_text: String, who: &Person) -> Reply {
        if new_text.trim().is_empty() {
            return Reply::private("the new text is empty; discard the draft instead");
        }
        let env = self.engine.env();
        let (id, audience, kind, version) = {
            let _guard = env.comms.exclusive();
            let all = self.drafts();
            let d = match drafts::find(&all, draft).and_then(|d| drafts::may_change(d).map(|()| d))
            {
                Ok(d) => d,
                Err(err) => return Reply::private(err),
            };
            let mut event = NewEvent::of(
                actor(who),
                CommsEdited {
                    draft: d.id.clone(),
                    text: new_text.clone(),
                    previous: d.text.clone(),
                },
            );
            if let Some(i) = &d.incident {
                event = event.incident(i.clone());
            }
            // An edit the log does not hold never happened: the approver would read a text
            // the log cannot show.
            if let Err(err) = self.store.append(event) {
                tracing::error!(error = %err, draft = %d.id, "comms.edited could not be stored");
                return Reply::private(format!(
                    "Not edited: the event log refused the edit ({err}); {} is unchanged.",
                    d.id
                ));
            }
            (
                d.id.clone(),
                d.audience.clone(),
                d.kind.clone(),
                d.version + 1,
            )
        };
        Reply::public(comms::draft_message(
            &id,
            version,
            &format!("({audience} · {kind}, edited by {})", who.name),
            &new_text,
            &[],
        ))
    }

    pub(super) fn comms_discard(&self, draft: &str, who: &Person) -> Reply {
        let env = self.engine.env();
        let _guard = env.comms.exclusive();
        let all = self.drafts();
        match drafts::find(&all, draft).and_then(|d| drafts::may_change(d).map(|()| d)) {
            Ok(d) => {
                let mut event = NewEvent::of(
                    actor(who),
                    CommsDiscarded {
                        draft: d.id.clone(),
                    },
                );
                if let Some(i) = &d.incident {
                    event = event.incident(i.clone());
                }
                if let Err(err) = self.store.append(event) {
                    tracing::error!(error = %err, draft = %d.id, "comms.discarded could not be stored");
                    return Reply::private(format!(
                        "Not discarded: the event log refused it ({err})."
                    ));
                }
                Reply::public(plain_message(format!(
                    "🗑 {} discarded by {}.",
                    d.id, who.name
                )))
                .settling(format!("discarded by {}", who.name))
            }
            Err(err) => Reply::private(err),
        }
    }

    pub(super) async fn comms_approve(
        &self,
        draft: &str,
        version: Option<u32>,
        who: &Person,
    ) -> Reply {
        let env = self.engine.env();
        let (approved, _sending) = {
            let _guard = env.comms.exclusive();
            let all = self.drafts();
            let decision = drafts::find(&all, draft).and_then(|d| {
                drafts::may_approve(
                    d,
                    who,
                    &self.config.access,
                    self.config.comms.author_may_approve,
                    version,
                )
                .map(|()| d.clone())
            });
            match decision {
                Ok(d) => {
                    let Some(sending) = env.comms.start_sending(&d.id) else {
                        return Reply::private(format!("{} is being sent right now.", d.id));
                    };
                    let mut event = NewEvent::of(
                        actor(who),
                        CommsApproved {
                            draft: d.id.clone(),
                            version: d.version,
                            text: Some(d.text.clone()),
                        },
                    );
                    if let Some(i) = &d.incident {
                        event = event.incident(i.clone());
                    }
                    // Nothing goes out that the log does not show as approved.
                    if let Err(err) = self.store.append(event) {
                        tracing::error!(error = %err, draft = %d.id, "comms.approved could not be stored");
                        return Reply::private(format!(
                            "Not sent: the event log refused the approval ({err}); {} is still waiting for approval.",
                            d.id
                        ));
                    }
                    (d, sending)
                }
                Err(reason) => {
                    self.append(NewEvent::of(
                        actor(who),
                        CommsApprovalRefused {
                            draft: draft.to_owned(),
                            version,
                            reason: reason.clone(),
                        },
                    ));
                    return Reply::private(format!("Refused: {reason}."));
                }
            }
        };
        let reports = self.reports_channel(approved.incident.as_ref());
        let mut delivery = comms::delivery(
            env.comms_env(),
            Some(self.store.as_ref()),
            approved.incident.as_ref(),
            None,
            actor(who),
        );
        delivery.channel = &reports;
        let results = delivery.send_notice(&approved.id, &approved.text).await;
        let outcome = if results.is_empty() {
            "no outputs are configured in [comms], so nothing was sent".to_owned()
        } else {
            format!("sent: {}", comms::summarise(&results))
        };
        Reply::public(plain_message(format!(
            "✅ {} v{} approved by {}; {outcome}{}",
            approved.id,
            approved.version,
            who.name,
            resend_hint(&approved.id, &results)
        )))
        .settling(format!("approved by {}", who.name))
    }

    /// `/comms resend DRAFT`: sends an approved draft to the outputs with no `comms.sent` for
    /// it (every attempt failed, or the bot stopped between approval and sending).
    pub(super) async fn comms_resend(&self, draft: &str, who: &Person) -> Reply {
        let env = self.engine.env();
        let configured = comms::deliver::outputs(&self.config);
        let (d, missing, _sending) = {
            let _guard = env.comms.exclusive();
            let all = self.drafts();
            let decision = drafts::find(&all, draft).and_then(|d| {
                drafts::may_resend(d, who, &self.config.access, &configured)
                    .map(|missing| (d.clone(), missing))
            });
            match decision {
                Ok((d, missing)) => {
                    let Some(sending) = env.comms.start_sending(&d.id) else {
                        return Reply::private(format!(
                            "Refused: {} is being sent right now; see its result first.",
                            d.id
                        ));
                    };
                    let mut event = NewEvent::of(
                        actor(who),
                        CommsResend {
                            draft: d.id.clone(),
                            outputs: missing.iter().map(|o| (*o).to_owned()).collect(),
                        },
                    );
                    if let Some(i) = &d.incident {
                        event = event.incident(i.clone());
                    }
                    if let Err(err) = self.store.append(event) {
                        tracing::error!(error = %err, draft = %d.id, "comms.resend could not be stored");
                        return Reply::private(format!(
                            "Not resent: the event log refused it ({err})."
                        ));
                    }
                    (d, missing, sending)
                }
                Err(reason) => return Reply::private(format!("Refused: {reason}.")),
            }
        };
        let reports = self.reports_channel(d.incident.as_ref());
        let mut delivery = comms::delivery(
            env.comms_env(),
            Some(self.store.as_ref()),
            d.incident.as_ref(),
            None,
            actor(who),
        );
        delivery.channel = &reports;
        let approved = d.approved_text.as_deref().unwrap_or(&d.text);
        let results = delivery.send_notice_to(&d.id, approved, &missing).await;
        Reply::public(plain_message(format!(
            "🔁 {} resent by {}: {}{}",
            d.id,
            who.name,
            comms::summarise(&results),
            resend_hint(&d.id, &results)
        )))
    }

    pub(super) async fn notify_team(
        &self,
        team: &str,
        given: Option<String>,
        who: &Person,
    ) -> Reply {
        let Some(team) = self.config.team(team) else {
            let known: Vec<&str> = self.config.teams.iter().map(|t| t.name.as_str()).collect();
            return Reply::private(format!(
                "no team `{team}` (teams: {})",
                crate::config::join_or_none(known.into_iter())
            ));
        };
        let env = self.engine.env();
        let incident = self.open_incident().map(|(id, _)| id);
        let message = match given.filter(|t| !t.trim().is_empty()) {
            Some(t) => t,
            None if incident.is_none() => {
                return Reply::private(
                    "no open incident to take the facts from: write the text (/notify team TEAM TEXT)",
                );
            }
            None => {
                let scope = Scope {
                    incident: incident.as_ref(),
                    run: None,
                };
                match comms::notify_text(env.comms_env(), self.store.as_ref(), &scope) {
                    Ok(t) => t,
                    Err(err) => return Reply::private(format!("Cannot notify: {err}")),
                }
            }
        };
        let reports = self.reports_channel(incident.as_ref());
        let mut delivery = comms::delivery(
            env.comms_env(),
            Some(self.store.as_ref()),
            incident.as_ref(),
            None,
            actor(who),
        );
        delivery.channel = &reports;
        let results = delivery.notify_team(team, &message).await;
        Reply::public(plain_message(format!(
            "📣 {} notified {}: {}",
            who.name,
            team.name,
            comms::summarise(&results)
        )))
    }

    /// Resolves the PagerDuty alerts opened for `incident`.
    pub(super) async fn resolve_pages(&self, incident: &IncidentId, who: &Person) -> Vec<String> {
        let Ok(events) = self.store.by_incident(incident) else {
            return Vec::new();
        };
        let env = self.engine.env();
        let reports = self.reports_channel(Some(incident));
        let mut lines = Vec::new();
        for name in comms::paged_teams(&events, incident) {
            let Some(team) = self.config.team(&name) else {
                continue;
            };
            let mut delivery = comms::delivery(
                env.comms_env(),
                Some(self.store.as_ref()),
                Some(incident),
                None,
                actor(who),
            );
            delivery.channel = &reports;
            let result = delivery.resolve_page(team).await;
            lines.push(format!(
                "{}'s page {}",
                team.name,
                if result.ok {
                    "resolved"
                } else {
                    "could not be resolved"
                }
            ));
        }
        lines
    }
}

/// Tells how to retry when some output failed.
fn resend_hint(draft: &str, results: &[comms::RouteResult]) -> String {
    if results.iter().any(|r| !r.ok) {
        format!(" — /comms resend {draft} retries the failed outputs")
    } else {
        String::new()
    }
}

/// Whether `who` may issue `command` as a communicator (for the authorisation check).
pub(super) fn allowed_as_communicator(bot: &Bot, command: &Command, who: &Person) -> bool {
    communicator_may(command) && approval::holds(&bot.config.access, who, Role::Communicator)
}
