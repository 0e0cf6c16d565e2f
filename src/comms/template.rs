//! Communication templates (`config/templates/{audience}-{kind}.md.j2`, minijinja): naming,
//! rendering with the facts, and the `Subject:` line an email takes its subject from.

use std::path::Path;

use minijinja::{Environment, UndefinedBehavior};

use super::facts::Facts;

/// Who a notice is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Clients,
    Internal,
}

/// Which notice of an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Initial,
    Update,
    Resolved,
}

impl Audience {
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "clients" => Ok(Audience::Clients),
            "internal" => Ok(Audience::Internal),
            other => Err(format!("`{other}`: audience is clients or internal")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Audience::Clients => "clients",
            Audience::Internal => "internal",
        }
    }
}

impl Kind {
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "initial" => Ok(Kind::Initial),
            "update" => Ok(Kind::Update),
            "resolved" => Ok(Kind::Resolved),
            other => Err(format!("`{other}`: kind is initial, update or resolved")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Initial => "initial",
            Kind::Update => "update",
            Kind::Resolved => "resolved",
        }
    }
}

impl From<crate::runbook::Audience> for Audience {
    fn from(a: crate::runbook::Audience) -> Self {
        match a {
            crate::runbook::Audience::Clients => Audience::Clients,
            crate::runbook::Audience::Internal => Audience::Internal,
        }
    }
}

impl From<crate::runbook::NoticeKind> for Kind {
    fn from(k: crate::runbook::NoticeKind) -> Self {
        match k {
            crate::runbook::NoticeKind::Initial => Kind::Initial,
            crate::runbook::NoticeKind::Update => Kind::Update,
            crate::runbook::NoticeKind::Resolved => Kind::Resolved,
        }
    }
}

/// The template file for a notice.
pub fn file_name(audience: Audience, kind: Kind) -> String {
    format!("{}-{}.md.j2", audience.as_str(), kind.as_str())
}

/// The team-notification template (`internal-notify.md.j2`), used by `/notify team` without
/// text; the `notify` step and `/notify team TEXT` send their own text.
pub const NOTIFY_TEMPLATE: &str = "internal-notify.md.j2";

/// The file of a template named in a runbook: `internal-notify` or `internal-notify.md.j2`.
pub fn resolve_name(name: &str) -> String {
    if name.ends_with(".j2") {
        name.to_owned()
    } else {
        format!("{name}.md.j2")
    }
}

/// Checks a template text without facts: its syntax, and that it only uses the facts'
/// variables. `Err` names the first problem.
pub fn check_source(text: &str) -> Result<(), String> {
    let env = Environment::new();
    let template = env
        .template_from_str(text)
        .map_err(|e| format!("template syntax: {}", e.detail().unwrap_or("invalid")))?;
    let mut unknown: Vec<String> = template
        .undeclared_variables(false)
        .into_iter()
        .filter(|v| !super::facts::VARIABLES.contains(&v.as_str()))
        .collect();
    unknown.sort();
    match unknown.first() {
        None => Ok(()),
        Some(name) => Err(format!(
            "unknown variable `{name}` (messages may use: {})",
            super::facts::VARIABLES.join(", ")
        )),
    }
}

/// Renders `text` with `facts`. Undefined variables are errors here too, so a template that
/// slipped past `lifeboat check` fails loudly instead of printing blanks to clients.
pub fn render_str(name: &str, text: &str, facts: &Facts) -> Result<String, String> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.render_str(text, facts)
        .map(|out| out.trim().to_owned())
        .map_err(|e| format!("template {name}: {e}"))
}

/// Reads and renders the template `name` from `dir`.
pub fn render(dir: &Path, name: &str, facts: &Facts) -> Result<String, String> {
    let path = dir.join(name);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("template {} unreadable: {e}", path.display()))?;
    render_str(name, &text, facts)
}

/// Splits a leading `Subject: ...` line off a rendered notice.
pub fn split_subject(text: &str) -> (Option<String>, String) {
    let trimmed = text.trim_start();
    if let Some(rest) = trimmed.strip_prefix("Subject:") {
        let (subject, body) = rest.split_once('\n').unwrap_or((rest, ""));
        (Some(subject.trim().to_owned()), body.trim().to_owned())
    } else {
        (None, text.trim().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        Facts {
            company: "Example".into(),
            incident: "INC-1".into(),
            audience: "clients".into(),
            status: "mitigating".into(),
            providers: vec!["Heroku".into()],
            services: vec!["the app".into()],
            started_at: "2026-11-25 10:00 UTC".into(),
            steps_done: vec![],
            expected_recovery: None,
            data_loss_window: Some("25m 00s".into()),
            now: "2026-11-25 10:10 UTC".into(),
            drill: false,
        }
    }

    #[test]
    fn renders_and_splits_the_subject() {
        let out = render_str(
            "t",
            "Subject: {{ company }} notice\n\nSince {{ started_at }}.{% if expected_recovery %} By {{ expected_recovery }}.{% endif %}",
            &facts(),
        )
        .unwrap();
        let (subject, body) = split_subject(&out);
        assert_eq!(subject.as_deref(), Some("Example notice"));
        assert_eq!(body, "Since 2026-11-25 10:00 UTC.");
        assert_eq!(split_subject("no subject"), (None, "no subject".into()));
    }

    #[test]
    fn every_shipped_template_renders_with_sparse_and_full_facts() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/templates");
        let mut sparse = facts();
        sparse.providers.clear();
        sparse.data_loss_window = None;
        let mut full = facts();
        full.expected_recovery = Some("2026-11-25 14:00 UTC".into());
        full.steps_done = vec!["Restore".into()];
        for audience in [Audience::Clients, Audience::Internal] {
            for kind in [Kind::Initial, Kind::Update, Kind::Resolved] {
                for f in [&sparse, &full] {
                    let text = render(&dir, &file_name(audience, kind), f).unwrap();
                    assert!(text.contains("2026-11-25 10:00 UTC"), "{text}");
                }
            }
        }
        let notify = render(&dir, NOTIFY_TEMPLATE, &full).unwrap();
        assert!(notify.starts_with("INC-1 (mitigating)"), "{notify}");
    }

    #[test]
    fn runbook_template_names_and_message_sources_are_checked() {
        assert_eq!(resolve_name("internal-notify"), "internal-notify.md.j2");
        assert_eq!(
            resolve_name("internal-notify.md.j2"),
            "internal-notify.md.j2"
        );
        assert_eq!(
            check_source("{{ incident }}: data-loss window {{ data_loss_window }}"),
            Ok(())
        );
        assert_eq!(check_source("no facts at all"), Ok(()));
        let err = check_source("since {{ started_at }}, eta {{ eta }}").unwrap_err();
        assert!(
            err.starts_with("unknown variable `eta` (messages may use: company,"),
            "{err}"
        );
        let err = check_source("{% if drill %}unclosed").unwrap_err();
        assert!(err.starts_with("template syntax:"), "{err}");
    }

    #[test]
    fn unknown_variables_fail_at_render_time() {
        let err = render_str("t.md.j2", "{{ eta }}", &facts()).unwrap_err();
        assert!(err.contains("t.md.j2"), "{err}");
        assert_eq!(
            file_name(
                Audience::parse("clients").unwrap(),
                Kind::parse("resolved").unwrap()
            ),
            "clients-resolved.md.j2"
        );
        assert!(
            Kind::parse("final")
                .unwrap_err()
                .contains("initial, update or resolved")
        );
    }
}
