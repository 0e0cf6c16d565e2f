//! Pure rendering of what the bot says: alerts, recovery and notices as `Message`s.

use crate::domain::HealthLevel;
use crate::feeds::monitor::AlertView;
use crate::ports::chat::{Action, Button, ButtonStyle, Colour, Embed, Field, Message};

/// What the config knows about a provider, for the alert's wording and buttons.
#[derive(Debug, Clone, Default)]
pub struct ProviderInfo {
    pub title: String,
    pub runbook: Option<String>,
    /// `[aws] mode = "simulated"`: the failover it proposes moves nothing real, and the alert
    /// says SIMULATED.
    pub simulated: bool,
}

fn level_words(level: HealthLevel) -> &'static str {
    match level {
        HealthLevel::Operational => "operational",
        HealthLevel::Maintenance => "under maintenance",
        HealthLevel::Degraded => "degraded",
        HealthLevel::PartialOutage => "partial outage",
        HealthLevel::MajorOutage => "major outage",
        HealthLevel::Unknown => "unknown",
    }
}

/// The outage alert: provider, level, confirmation, vendor incidents, the proposed runbook
/// and the buttons to act on it.
pub fn alert(alert: &AlertView, provider: &ProviderInfo) -> Message {
    let label = if alert.confirmed {
        "CONFIRMED"
    } else {
        "UNCONFIRMED"
    };
    let mut fields = vec![Field {
        name: "Signals".into(),
        value: alert
            .sources
            .iter()
            .map(|(feed, level)| format!("{feed}: {}", level_words(*level)))
            .collect::<Vec<_>>()
            .join("\n"),
        inline: false,
    }];
    for incident in alert.incidents.iter().take(5) {
        let mut value = format!("{} ({})", incident.status, level_words(incident.impact));
        if let Some(update) = &incident.latest_update {
            value.push_str(&format!("\n{}", truncate(update, 300)));
        }
        if let Some(url) = &incident.url {
            value.push_str(&format!("\n{url}"));
        }
        fields.push(Field {
            name: format!("Vendor incident: {}", truncate(&incident.title, 200)),
            value,
            inline: false,
        });
    }
    let description = match &provider.runbook {
        Some(runbook) => format!(
            "{} is reporting a {} ({}). Runbook for this provider: `{runbook}`.",
            provider.title,
            level_words(alert.level),
            if alert.confirmed {
                "two independent signals agree"
            } else {
                "one signal so far; waiting for a second"
            }
        ),
        None => format!(
            "{} is reporting a {}. No runbook is mapped to this provider.",
            provider.title,
            level_words(alert.level)
        ),
    };
    let mut buttons = vec![Button {
        custom_id: Action::Declare {
            alert: alert.alert_id.clone(),
        }
        .to_custom_id(),
        label: "Declare incident".into(),
        style: ButtonStyle::Danger,
    }];
    if let Some(runbook) = &provider.runbook {
        buttons.push(Button {
            custom_id: Action::Plan {
                runbook: runbook.clone(),
                alert: alert.alert_id.clone(),
            }
            .to_custom_id(),
            label: format!("Plan {runbook}"),
            style: ButtonStyle::Primary,
        });
    }
    Message {
        pings: Box::default(),
        content: format!("[{label}] {} {}", provider.title, level_words(alert.level)),
        embeds: vec![Embed {
            title: format!("{}: {} ({label})", provider.title, level_words(alert.level)),
            description,
            colour: Colour::for_level(alert.level),
            fields,
            url: alert.incidents.iter().find_map(|i| i.url.clone()),
            footer: Some(format!(
                "alert {} · since {}",
                alert.alert_id,
                alert.opened_at.format("%Y-%m-%d %H:%M UTC")
            )),
        }],
        buttons,
    }
    .simulated(provider.simulated)
}

/// The single recovery notice that closes an alert.
pub fn recovered(
    alert: &AlertView,
    provider: &ProviderInfo,
    at: chrono::DateTime<chrono::Utc>,
) -> Message {
    let minutes = (at - alert.opened_at).num_minutes();
    Message {
        pings: Box::default(),
        content: format!("[RECOVERED] {} is operational again", provider.title),
        embeds: vec![Embed {
            title: format!("{}: recovered", provider.title),
            description: format!(
                "Every signal for {} is back to normal, {minutes} min after the alert.",
                provider.title
            ),
            colour: Colour::Green,
            fields: Vec::new(),
            url: None,
            footer: Some(format!("alert {}", alert.alert_id)),
        }],
        buttons: Vec::new(),
    }
}

/// A plain notice (feed unreadable, flapping, vendor update).
pub fn notice(text: &str) -> Message {
    Message {
        content: text.to_owned(),
        ..Message::default()
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let cut: String = text.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn view(confirmed: bool) -> AlertView {
        AlertView {
            alert_id: "heroku-20261125083000".into(),
            provider: "heroku".into(),
            level: HealthLevel::MajorOutage,
            confirmed,
            sources: vec![("heroku-status".into(), HealthLevel::MajorOutage)],
            incidents: Vec::new(),
            opened_at: Utc::now(),
        }
    }

    #[test]
    fn an_alert_shows_confirmation_runbook_and_buttons() {
        let info = ProviderInfo {
            title: "Heroku".into(),
            runbook: Some("failover-hosting".into()),
            simulated: false,
        };
        let m = alert(&view(false), &info);
        assert!(m.content.contains("UNCONFIRMED"));
        assert_eq!(m.embeds[0].colour, Colour::Red);
        assert!(m.embeds[0].description.contains("`failover-hosting`"));
        let ids: Vec<&str> = m.buttons.iter().map(|b| b.custom_id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "declare:heroku-20261125083000",
                "plan:failover-hosting:heroku-20261125083000"
            ]
        );
        assert!(
            ids.iter().all(|id| id.len() <= 100),
            "Discord's custom_id limit"
        );
        assert!(alert(&view(true), &info).content.contains("[CONFIRMED]"));
    }

    #[test]
    fn an_alert_with_simulated_aws_says_so_in_its_text_and_title() {
        let mut info = ProviderInfo {
            title: "Heroku".into(),
            runbook: Some("failover-hosting".into()),
            simulated: true,
        };
        let m = alert(&view(true), &info);
        assert_eq!(m.content, "SIMULATED — [CONFIRMED] Heroku major outage");
        assert_eq!(
            m.embeds[0].title,
            "SIMULATED — Heroku: major outage (CONFIRMED)"
        );
        info.simulated = false;
        let m = alert(&view(true), &info);
        assert!(!m.content.contains("SIMULATED") && !m.embeds[0].title.contains("SIMULATED"));
    }
}
