//! `/timeline export`: the open (or named) incident's post-mortem, attached in its thread.

use super::{Bot, Reply, mention, plain_message};
use crate::domain::IncidentId;
use crate::ports::chat::{Attachment, incident_channel};
use crate::timeline::{self, Format};

impl Bot {
    /// Renders the post-mortem of the open (or named) incident and attaches it in the
    /// incident's thread (its channel when it has none).
    pub(super) async fn export(&self, format: Format, incident: Option<String>) -> Reply {
        let id = match incident.filter(|i| !i.is_empty()) {
            Some(id) => IncidentId(id),
            None => match self.open_incident() {
                Some((id, _)) => id,
                None => {
                    return Reply::private(
                        "no open incident: name one, e.g. `/timeline export format:md incident:INC-20261125-101500`",
                    );
                }
            },
        };
        // The incident's own history (what the export selects from a whole log).
        let events = match crate::views::incident_log(self.store.as_ref(), &id) {
            Ok(events) => events,
            Err(err) => {
                tracing::error!(error = %err, "the log could not be read for an export");
                return Reply::private("the event log could not be read; see the bot's log");
            }
        };
        let rendered = match timeline::render(&events, &id, format, &self.config.objectives) {
            Ok(rendered) => rendered,
            Err(err) => return Reply::private(err.to_string()),
        };
        let env = self.engine.env();
        let target = incident_channel(self.store.as_ref(), Some(&id), &env.channel);
        let file = Attachment {
            filename: format!("postmortem-{id}.{}", format.extension()),
            bytes: rendered.into_bytes(),
        };
        let note = plain_message(format!("📄 Post-mortem of {id} ({})", format.extension()));
        match env.chat.attach(&target, &note, &[file]).await {
            Ok(_) => Reply::private(format!(
                "post-mortem of {id} attached in {}",
                mention(&target)
            )),
            Err(err) => {
                tracing::error!(error = %err, incident = %id, "the export could not be attached");
                Reply::private(format!("the export could not be posted: {err}"))
            }
        }
    }
}
