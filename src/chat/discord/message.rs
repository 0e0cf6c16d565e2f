//! A `Message` in Discord's shape: truncated to its limits, buttons in rows, and the settled
//! form of a decided message.

use serenity::all::{
    ActionRow, ActionRowComponent, ButtonStyle as DiscordButtonStyle, CreateActionRow,
    CreateAllowedMentions, CreateButton, CreateEmbed, CreateEmbedFooter, RoleId, UserId,
};

use crate::ports::chat::{ButtonStyle, Message};

/// Discord's limits on one message.
pub(super) const MAX_CONTENT: usize = 2000;
pub(super) const MAX_EMBEDS: usize = 10;
pub(super) const MAX_BUTTONS_PER_ROW: usize = 5;
pub(super) const MAX_ROWS: usize = 5;
pub(super) const MAX_THREAD_NAME: usize = 100;
/// Cuts `text` to at most `max` characters, on a character boundary, marking the cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

pub(super) fn embeds(message: &Message) -> Vec<CreateEmbed> {
    message
        .embeds
        .iter()
        .take(MAX_EMBEDS)
        .map(|e| {
            let mut embed = CreateEmbed::new()
                .title(truncate(&e.title, 256))
                .description(truncate(&e.description, 4096))
                .colour(e.colour.rgb());
            for field in e.fields.iter().take(25) {
                embed = embed.field(
                    truncate(&field.name, 256),
                    truncate(&field.value, 1024),
                    field.inline,
                );
            }
            if let Some(url) = &e.url {
                embed = embed.url(url);
            }
            if let Some(footer) = &e.footer {
                embed = embed.footer(CreateEmbedFooter::new(truncate(footer, 2048)));
            }
            embed
        })
        .collect()
}

/// Buttons as action rows of at most five; ids Discord would refuse are dropped (and logged).
pub fn rows(message: &Message) -> Vec<CreateActionRow> {
    let buttons: Vec<CreateButton> = message
        .buttons
        .iter()
        .filter(|b| {
            let ok = !b.custom_id.is_empty() && b.custom_id.len() <= crate::ports::chat::action::MAX_CUSTOM_ID;
            if !ok {
                tracing::warn!(custom_id = %b.custom_id, "button dropped: custom_id too long or empty");
            }
            ok
        })
        .take(MAX_ROWS * MAX_BUTTONS_PER_ROW)
        .map(|b| {
            CreateButton::new(b.custom_id.clone())
                .label(truncate(&b.label, 80))
                .style(match b.style {
                    ButtonStyle::Primary => DiscordButtonStyle::Primary,
                    ButtonStyle::Secondary => DiscordButtonStyle::Secondary,
                    ButtonStyle::Success => DiscordButtonStyle::Success,
                    ButtonStyle::Danger => DiscordButtonStyle::Danger,
                })
        })
        .collect();
    buttons
        .chunks(MAX_BUTTONS_PER_ROW)
        .map(|row| CreateActionRow::Buttons(row.to_vec()))
        .collect()
}

/// Who a message may ping: exactly the roles it names in `pings`, never `@everyone`, `@here`,
/// users or any other role written in its text (titles, notes and drafts are user text).
pub(super) fn allowed_mentions(message: &Message) -> CreateAllowedMentions {
    let users = message
        .pings
        .iter()
        .filter_map(|ping| ping.strip_prefix(crate::ports::chat::USER_PING))
        .filter_map(|user| super::connect::snowflake(user).ok())
        .map(UserId::new);
    let roles = message
        .pings
        .iter()
        .filter(|ping| !ping.starts_with(crate::ports::chat::USER_PING))
        .filter_map(|role| super::connect::snowflake(role).ok())
        .map(RoleId::new);
    no_mentions().roles(roles).users(users)
}

/// Nothing pings: the REST client's default, so a response built without
/// [`allowed_mentions`] (interaction answers, follow-ups, edits) is inert too.
pub(super) fn no_mentions() -> CreateAllowedMentions {
    CreateAllowedMentions::new()
        .everyone(false)
        .all_users(false)
        .all_roles(false)
        .empty_users()
        .empty_roles()
        .replied_user(false)
}

pub(super) fn content(message: &Message) -> String {
    truncate(&message.content, MAX_CONTENT)
}

/// The text of a message whose buttons a decision settled: how it ended, below the original.
pub fn settled_content(content: &str, outcome: &str) -> String {
    truncate(&format!("{content}\n**{outcome}**"), MAX_CONTENT)
}

/// The same buttons, disabled: nobody can press a decided question again.
pub fn disabled_rows(rows: &[ActionRow]) -> Vec<CreateActionRow> {
    rows.iter()
        .map(|row| {
            row.components
                .iter()
                .filter_map(|c| match c {
                    ActionRowComponent::Button(b) => {
                        Some(CreateButton::from(b.clone()).disabled(true))
                    }
                    _ => None,
                })
                .collect::<Vec<_>>()
        })
        .filter(|buttons| !buttons.is_empty())
        .map(CreateActionRow::Buttons)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn settled_buttons_are_disabled_and_the_outcome_is_said() {
        let rows: Vec<ActionRow> = serde_json::from_value(json!([
            { "type": 1, "components": [
                { "type": 2, "custom_id": "approve:REQ-1", "label": "Approve", "style": 3 },
                { "type": 2, "custom_id": "deny:REQ-1", "label": "Deny", "style": 4 }
            ] }
        ]))
        .unwrap();
        let disabled = serde_json::to_value(disabled_rows(&rows)).unwrap();
        let buttons = disabled[0]["components"].as_array().unwrap();
        assert_eq!(buttons.len(), 2);
        assert!(buttons.iter().all(|b| b["disabled"] == true));
        assert_eq!(buttons[0]["custom_id"], "approve:REQ-1");
        assert_eq!(
            settled_content("alice requests `scale-up`", "approved by bob"),
            "alice requests `scale-up`\n**approved by bob**"
        );
        assert_eq!(
            settled_content(&"a".repeat(2500), "x").chars().count(),
            MAX_CONTENT
        );
    }

    #[test]
    fn only_the_named_roles_may_ping() {
        let message = Message {
            content: "<@&42> @everyone @here <@7> hello".into(),
            pings: ["42".into(), "not-an-id".into()].into(),
            ..Message::default()
        };
        let allowed = serde_json::to_value(allowed_mentions(&message)).unwrap();
        assert_eq!(allowed["parse"], json!([]));
        assert_eq!(allowed["users"], json!([]));
        assert_eq!(allowed["roles"], json!(["42"]));
        assert_eq!(allowed["replied_user"], false);
        let users = Message {
            content: "<@7> <@8> please train".into(),
            pings: ["user:7".into(), "user:nope".into()].into(),
            ..Message::default()
        };
        let allowed = serde_json::to_value(allowed_mentions(&users)).unwrap();
        assert_eq!(allowed["users"], json!(["7"]), "only the named user pings");
        assert_eq!(allowed["roles"], json!([]));
        let none = serde_json::to_value(no_mentions()).unwrap();
        assert_eq!(none["parse"], json!([]));
        assert_eq!(none["roles"], json!([]));
    }

    #[test]
    fn messages_fit_discord_limits() {
        let long = "é".repeat(2500);
        let cut = truncate(&long, MAX_CONTENT);
        assert_eq!(cut.chars().count(), MAX_CONTENT);
        assert!(cut.ends_with('…'));
        assert_eq!(truncate("short", 10), "short");

        let message = Message {
            content: String::new(),
            embeds: Vec::new(),
            pings: Box::default(),
            buttons: (0..12)
                .map(|i| crate::ports::chat::Button {
                    custom_id: format!("approve:{i}"),
                    label: format!("B{i}"),
                    style: ButtonStyle::Success,
                })
                .chain(std::iter::once(crate::ports::chat::Button {
                    custom_id: "x".repeat(101),
                    label: "too long".into(),
                    style: ButtonStyle::Danger,
                }))
                .collect(),
        };
        let rows = serde_json::to_value(rows(&message)).unwrap();
        let rows = rows.as_array().unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0]["components"].as_array().unwrap().len(), 5);
        assert_eq!(rows[2]["components"].as_array().unwrap().len(), 2);
        assert_eq!(rows[0]["components"][0]["custom_id"], "approve:0");
    }
}
