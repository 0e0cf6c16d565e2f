//! Button and form payloads as typed `Command`s: a pressed button's `Action`, the edit form
//! of a draft, and the person behind an interaction.

use std::collections::BTreeMap;

use serenity::all::{
    ActionRow, ActionRowComponent, CreateActionRow, CreateInputText, CreateModal, InputTextStyle,
    Member, User,
};

use super::message::*;
use crate::approval::Person;
use crate::chat::command::Command;
use crate::ports::chat::Action;

/// A button's `custom_id` as a typed `Command`. Ids carry everything needed, so buttons on
/// old messages still work after a restart.
pub fn command_from_custom_id(id: &str) -> Result<Command, String> {
    let action = Action::parse(id).map_err(|err| err.to_string())?;
    command_from_action(action).ok_or_else(|| format!("unknown button `{id}`: it opens a form"))
}

/// The command a pressed button stands for; `None` for the edit button, which opens a form
/// instead (see `Handler::on_component`).
pub fn command_from_action(action: Action) -> Option<Command> {
    Some(match action {
        Action::Approve { request } => Command::Approve { request },
        Action::Deny { request } => Command::Deny { request },
        Action::Confirm { run, step, yes } => Command::Confirm { run, step, yes },
        Action::Decide { run, decision } => Command::RunbookDecide { run, decision },
        Action::Declare { alert } => Command::IncidentDeclare {
            title: if alert.is_empty() {
                String::new()
            } else {
                format!("Outage: {alert}")
            },
            severity: None,
            commander: None,
            alert: (!alert.is_empty()).then_some(alert),
        },
        Action::Plan { runbook, alert: _ } => Command::RunbookPlan {
            name: runbook,
            params: BTreeMap::new(),
        },
        Action::CommsApprove { draft, version } => Command::CommsApprove {
            draft,
            version: Some(version),
        },
        Action::CommsDiscard { draft } => Command::CommsDiscard { draft },
        Action::CommsEdit { .. } => return None,
    })
}

/// The person behind an interaction, with the role ids Discord says they hold.
pub fn person(user: &User, member: Option<&Member>) -> Person {
    let name = member
        .and_then(|m| m.nick.clone())
        .or_else(|| user.global_name.clone())
        .unwrap_or_else(|| user.name.clone());
    Person {
        id: user.id.to_string(),
        name,
        roles: member
            .map(|m| m.roles.iter().map(|r| r.to_string()).collect())
            .unwrap_or_default(),
    }
}

/// The edit-draft modal's input id; the modal's own id is the edit button's
/// (`Action::CommsEdit`), so it carries the draft.
pub(super) const EDIT_INPUT: &str = "text";
/// Discord's cap on a text input's value.
pub(super) const MAX_INPUT: usize = 4000;

/// A submitted modal as a typed `Command`.
pub fn command_from_modal(custom_id: &str, rows: &[ActionRow]) -> Result<Command, String> {
    let Ok(Action::CommsEdit { draft }) = Action::parse(custom_id) else {
        return Err(format!("unknown form `{custom_id}`"));
    };
    let text = rows
        .iter()
        .flat_map(|r| &r.components)
        .find_map(|c| match c {
            ActionRowComponent::InputText(input) if input.custom_id == EDIT_INPUT => {
                input.value.clone()
            }
            _ => None,
        })
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| "the draft text is empty".to_owned())?;
    Ok(Command::CommsEdit { draft, text })
}

/// The modal that edits a draft, prefilled with its current text.
pub fn edit_modal(draft: &str, current: &str) -> CreateModal {
    CreateModal::new(
        Action::CommsEdit {
            draft: draft.to_owned(),
        }
        .to_custom_id(),
        truncate(&format!("Edit {draft}"), 45),
    )
    .components(vec![CreateActionRow::InputText(
        CreateInputText::new(InputTextStyle::Paragraph, "Text", EDIT_INPUT)
            .value(truncate(current, MAX_INPUT))
            .max_length(MAX_INPUT as u16)
            .required(true),
    )])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::chat::Decision;
    use serde_json::json;

    #[test]
    fn a_submitted_edit_form_becomes_an_edit_command() {
        let rows: Vec<ActionRow> = serde_json::from_value(json!([
            { "type": 1, "components": [{ "type": 4, "custom_id": "text", "value": "  We are back.  " }] }
        ]))
        .unwrap();
        assert_eq!(
            command_from_modal("comms:edit:D-1", &rows).unwrap(),
            Command::CommsEdit {
                draft: "D-1".into(),
                text: "We are back.".into()
            }
        );
        let empty: Vec<ActionRow> = serde_json::from_value(json!([
            { "type": 1, "components": [{ "type": 4, "custom_id": "text", "value": "   " }] }
        ]))
        .unwrap();
        assert!(
            command_from_modal("comms:edit:D-1", &empty)
                .unwrap_err()
                .contains("empty")
        );
        assert!(command_from_modal("other:D-1", &rows).is_err());
        assert!(command_from_modal("comms:edit:", &rows).is_err());

        let modal = serde_json::to_value(edit_modal("D-1", &"x".repeat(5000))).unwrap();
        assert_eq!(modal["custom_id"], "comms:edit:D-1");
        let input = &modal["components"][0]["components"][0];
        assert_eq!(input["style"], 2, "a paragraph");
        assert_eq!(input["custom_id"], "text");
        assert_eq!(input["value"].as_str().unwrap().chars().count(), MAX_INPUT);
    }

    #[test]
    fn button_ids_become_typed_commands() {
        assert_eq!(
            command_from_custom_id("approve:REQ-1").unwrap(),
            Command::Approve {
                request: "REQ-1".into()
            }
        );
        assert_eq!(
            command_from_custom_id("deny:REQ-1").unwrap(),
            Command::Deny {
                request: "REQ-1".into()
            }
        );
        assert_eq!(
            command_from_custom_id("confirm:RUN-1:scope:no").unwrap(),
            Command::Confirm {
                run: "RUN-1".into(),
                step: "scope".into(),
                yes: false
            }
        );
        assert_eq!(
            command_from_custom_id("run:RUN-1:abort").unwrap(),
            Command::RunbookDecide {
                run: "RUN-1".into(),
                decision: Decision::Abort
            }
        );
        assert_eq!(
            command_from_custom_id("declare:heroku").unwrap(),
            Command::IncidentDeclare {
                title: "Outage: heroku".into(),
                severity: None,
                commander: None,
                alert: Some("heroku".into())
            }
        );
        assert_eq!(
            command_from_custom_id("plan:failover-hosting:heroku").unwrap(),
            Command::RunbookPlan {
                name: "failover-hosting".into(),
                params: BTreeMap::new()
            }
        );
        assert_eq!(
            command_from_custom_id("confirm:RUN-1:db:restore:yes").unwrap(),
            Command::Confirm {
                run: "RUN-1".into(),
                step: "db:restore".into(),
                yes: true
            }
        );
        for bad in [
            "",
            "approve",
            "approve:",
            "confirm:R:S:maybe",
            "run:R:later",
            "launch:x",
            "approve:a:b",
            "confirm:RUN-1:yes",
            "plan:",
            "run::retry",
        ] {
            assert!(command_from_custom_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn members_become_people_with_their_role_ids() {
        let member: Member = serde_json::from_value(json!({
            "user": { "id": "300000000000000001", "username": "alice", "global_name": "Alice A." },
            "nick": null,
            "roles": ["200000000000000001", "200000000000000002"],
            "joined_at": "2024-01-01T00:00:00.000000+00:00",
            "deaf": false,
            "mute": false,
            "flags": 0,
        }))
        .unwrap();
        let who = person(&member.user, Some(&member));
        assert_eq!(who.id, "300000000000000001");
        assert_eq!(who.name, "Alice A.");
        assert_eq!(who.roles, ["200000000000000001", "200000000000000002"]);
        let dm = person(&member.user, None);
        assert!(dm.roles.is_empty(), "outside a guild nobody holds a role");
    }
}
