//! Mentions only where meant (issue 16, item 4), through serenity against the fake Discord:
//! user text (an incident title, a note, `/notify` text) holding `@everyone`, `@here`, a user
//! or a role pings nobody, and a team notification pings exactly that team's role.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::discord::{Call, Member, RESPONDER, content, text};
use crate::support::{TestConfig, spawn_app};

const WAIT: Duration = Duration::from_secs(10);
const TEAM_ROLE: &str = "200000000000000077";
const LOUD: &str = "@everyone @here <@&200000000000000002> <@300000000000000009> DB down";

fn alice() -> Member {
    Member::new(300_000_000_000_000_001, "alice", &[RESPONDER])
}

/// `allowed_mentions` of a REST body: a message's top level or an interaction answer's `data`.
fn allowed(body: &Value) -> Value {
    body.get("allowed_mentions")
        .or_else(|| body["data"].get("allowed_mentions"))
        .cloned()
        .unwrap_or(Value::Null)
}

/// Pings nothing: Discord parses no mention kind and lists no user or role.
fn assert_inert(call: &Call) {
    let allowed = allowed(&call.body);
    assert_eq!(allowed["parse"], json!([]), "{} {}", call.path, call.body);
    assert_eq!(allowed["users"], json!([]), "{} {}", call.path, call.body);
    assert_eq!(allowed["roles"], json!([]), "{} {}", call.path, call.body);
}

#[tokio::test]
async fn user_text_pings_nobody_and_a_notification_pings_its_team_role() {
    let config = TestConfig::minimal().team("platform", json!({ "role_id": TEAM_ROLE }));
    let app = spawn_app(config).discord().patience(WAIT).start().await;

    let mark = app.fake().mark();
    let (_, declared) = app
        .slash(
            &alice(),
            "incident",
            "declare",
            json!([text("title", LOUD)]),
        )
        .await;
    assert!(
        content(&declared.body).contains("@everyone"),
        "{}",
        declared.body
    );
    assert_inert(&declared);
    app.slash(&alice(), "incident", "note", json!([text("text", LOUD)]))
        .await;

    let (token, notified) = app
        .slash(
            &alice(),
            "notify",
            "team",
            json!([text("team", "platform"), text("text", LOUD)]),
        )
        .await;
    assert_eq!(notified.body["type"], 5, "{}", notified.body);
    let post = app
        .fake()
        .wait_call(
            mark,
            "the team notification",
            |c| c.method == "POST" && content(&c.body).starts_with(&format!("<@&{TEAM_ROLE}>")),
            WAIT,
        )
        .await;
    let pinged = allowed(&post.body);
    assert_eq!(pinged["parse"], json!([]), "{}", post.body);
    assert_eq!(pinged["users"], json!([]), "{}", post.body);
    assert_eq!(pinged["roles"], json!([TEAM_ROLE]), "{}", post.body);
    app.fake()
        .edited_original(mark, &token, "the notification's answer")
        .await;

    // Every other message the bot sent (answers, follow-ups, edits, posts) pings nobody,
    // the declaration that repeats the loud title among them.
    let messages: Vec<Call> = app
        .fake()
        .calls()
        .into_iter()
        .skip(mark)
        .filter(|c| {
            c.body
                .get("content")
                .or_else(|| c.body["data"].get("content"))
                .is_some()
        })
        .filter(|c| c.path != post.path || c.body != post.body)
        .collect();
    assert!(
        messages.iter().any(|c| content(&c.body).contains(LOUD)),
        "{messages:?}"
    );
    for call in &messages {
        assert_inert(call);
    }
    app.stop().await;
}
