//! The slash commands Lifeboat defines, and their registration with the guild.

use serenity::all::CommandOptionType::{Boolean, String as Text, SubCommand};
use serenity::all::{CreateCommand, CreateCommandOption, GuildId, Http};

/// The slash commands, as registered with the guild: one function per command, each read
/// beside its parser in `slash`.
pub fn commands() -> Vec<CreateCommand> {
    vec![
        incident(),
        runbook(),
        dr(),
        timeline(),
        drill(),
        notify(),
        comms(),
    ]
}

/// A subcommand of a command.
fn sub(name: &str, description: &str) -> CreateCommandOption {
    CreateCommandOption::new(SubCommand, name, description)
}

/// `/incident declare|review|status|note|resolve`.
fn incident() -> CreateCommand {
    CreateCommand::new("incident")
        .description("Declare and follow an incident")
        .add_option(
            sub("declare", "Declare an incident")
                .add_sub_option(CreateCommandOption::new(Text, "title", "What is happening"))
                .add_sub_option(
                    CreateCommandOption::new(Text, "severity", "How bad (default sev2)")
                        .add_string_choice("sev1: down for everyone", "sev1")
                        .add_string_choice("sev2: major part down", "sev2")
                        .add_string_choice("sev3: degraded", "sev3"),
                )
                .add_sub_option(CreateCommandOption::new(
                    Text,
                    "commander",
                    "Who leads the response (default: you)",
                )),
        )
        .add_option(sub(
            "review",
            "Record the review of the last resolved incident",
        ))
        .add_option(sub("status", "The open incident"))
        .add_option(
            sub("note", "Add a note to the open incident")
                .add_sub_option(CreateCommandOption::new(Text, "text", "The note").required(true))
                .add_sub_option(CreateCommandOption::new(
                    Boolean,
                    "lesson",
                    "A lesson learned, for the post-mortem",
                )),
        )
        .add_option(sub("resolve", "Resolve the open incident"))
}

/// `/runbook list|plan|run|status|resume|cancel|break-glass|acknowledge`.
fn runbook() -> CreateCommand {
    let runbook_name = || {
        CreateCommandOption::new(Text, "name", "The runbook")
            .required(true)
            .set_autocomplete(true)
    };
    let params = || CreateCommandOption::new(Text, "params", "Parameters, as k=v k=v");
    let run_id = || CreateCommandOption::new(Text, "run", "The run id").required(true);
    CreateCommand::new("runbook")
        .description("Plan and run disaster-recovery runbooks")
        .add_option(sub("list", "The runbooks"))
        .add_option(
            sub("plan", "Dry-run a runbook")
                .add_sub_option(runbook_name())
                .add_sub_option(params()),
        )
        .add_option(
            sub("run", "Request a run (a second person approves)")
                .add_sub_option(runbook_name())
                .add_sub_option(params()),
        )
        .add_option(sub("status", "Active runs and pending requests"))
        .add_option(
            sub("resume", "Resume a paused run")
                .add_sub_option(run_id())
                .add_sub_option(
                    CreateCommandOption::new(Text, "decision", "What to do with the step")
                        .add_string_choice("retry", "retry")
                        .add_string_choice("skip", "skip")
                        .add_string_choice("abort", "abort"),
                ),
        )
        .add_option(sub("cancel", "Stop a run after its current step").add_sub_option(run_id()))
        .add_option(
            sub(
                "break-glass",
                "Sev1: start your own request alone after the runbook's break_glass_after",
            )
            .add_sub_option(
                CreateCommandOption::new(Text, "request", "The request id").required(true),
            )
            .add_sub_option(
                CreateCommandOption::new(Text, "reason", "Why it cannot wait").required(true),
            ),
        )
        .add_option(
            sub("acknowledge", "Acknowledge a break-glass run (approvers)")
                .add_sub_option(run_id()),
        )
}

/// `/dr status|readiness|training|reviewed`.
fn dr() -> CreateCommand {
    CreateCommand::new("dr")
        .description("Disaster-recovery status")
        .add_option(sub("status", "Providers, incidents, runs, clocks"))
        .add_option(sub(
            "readiness",
            "Is the standby ready? ECS, DNS TTL, Anthropic key, backup age, drills",
        ))
        .add_option(sub(
            "training",
            "Who holds a DR role, and their last game day",
        ))
        .add_option(
            sub("reviewed", "Record a review of the DR plan").add_sub_option(
                CreateCommandOption::new(Text, "note", "What changed, if anything"),
            ),
        )
}

/// `/timeline export`.
fn timeline() -> CreateCommand {
    CreateCommand::new("timeline")
        .description("The incident's post-mortem")
        .add_option(
            sub("export", "Attach the post-mortem to the incident thread")
                .add_sub_option(
                    CreateCommandOption::new(Text, "format", "File format")
                        .required(true)
                        .add_string_choice("Markdown", "md")
                        .add_string_choice("JSON", "json")
                        .add_string_choice("CSV", "csv")
                        .add_string_choice("HTML", "html"),
                )
                .add_sub_option(
                    CreateCommandOption::new(
                        Text,
                        "incident",
                        "Another incident than the open one",
                    )
                    .set_autocomplete(true),
                ),
        )
}

/// `/drill start` (automatic, or a game day played by people) and `/drill stop`.
fn drill() -> CreateCommand {
    CreateCommand::new("drill")
        .description("Rehearse an outage on a separate, simulated event log")
        .add_option(
            sub("start", "Run a drill in the background")
                .add_sub_option(
                    CreateCommandOption::new(Text, "scenario", "Which outage")
                        .required(true)
                        .add_string_choice("heroku-outage", "heroku-outage")
                        .add_string_choice("openai-outage", "openai-outage")
                        .add_string_choice("both", "both"),
                )
                .add_sub_option(
                    CreateCommandOption::new(
                        Text,
                        "mode",
                        "automatic (default) or a game day played by people",
                    )
                    .add_string_choice("automatic", "automatic")
                    .add_string_choice("gameday", "gameday"),
                ),
        )
        .add_option(sub(
            "stop",
            "End the running game day early, with its debrief",
        ))
}

/// `/notify team`.
fn notify() -> CreateCommand {
    CreateCommand::new("notify")
        .description("Reach a team")
        .add_option(
            sub("team", "Notify a team on every route it has")
                .add_sub_option(
                    CreateCommandOption::new(Text, "team", "The team")
                        .required(true)
                        .set_autocomplete(true),
                )
                .add_sub_option(CreateCommandOption::new(Text, "text", "What to tell them")),
        )
}

/// `/comms draft|show|approve|resend`.
fn comms() -> CreateCommand {
    CreateCommand::new("comms")
        .description("Client and internal communications")
        .add_option(
            sub("draft", "Draft a communication from the templates")
                .add_sub_option(
                    CreateCommandOption::new(Text, "audience", "Who reads it")
                        .required(true)
                        .add_string_choice("clients", "clients")
                        .add_string_choice("internal", "internal"),
                )
                .add_sub_option(
                    CreateCommandOption::new(Text, "kind", "Which message")
                        .required(true)
                        .add_string_choice("initial", "initial")
                        .add_string_choice("update", "update")
                        .add_string_choice("resolved", "resolved"),
                ),
        )
        .add_option(
            sub("show", "Show a draft, or every open draft")
                .add_sub_option(CreateCommandOption::new(Text, "draft", "The draft id")),
        )
        .add_option(
            sub("approve", "Approve and send a draft")
                .add_sub_option(
                    CreateCommandOption::new(Text, "draft", "The draft id").required(true),
                )
                .add_sub_option(CreateCommandOption::new(
                    Text,
                    "version",
                    "The version you read (v1 as drafted, one more per edit)",
                )),
        )
        .add_option(
            sub(
                "resend",
                "Send an approved draft to the outputs it has not reached",
            )
            .add_sub_option(CreateCommandOption::new(Text, "draft", "The draft id").required(true)),
        )
}

/// Registers the slash commands with the guild (PUT replaces the whole list). Returns how
/// many Discord now has.
pub async fn register(http: &Http, guild_id: u64) -> serenity::Result<usize> {
    if http.application_id().is_none() {
        let app = http.get_current_application_info().await?;
        http.set_application_id(app.id);
    }
    let registered = GuildId::new(guild_id)
        .set_commands(http, commands())
        .await?;
    Ok(registered.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::discord::snowflake;

    /// The registered JSON, pinned: a change to a command's options, names, descriptions or
    /// choices shows here (Discord keeps what was registered until the next `register`).
    #[test]
    fn the_registered_json_is_pinned() {
        let pinned: serde_json::Value = serde_json::from_str(include_str!(
            "../../../tests/fixtures/discord/commands.json"
        ))
        .unwrap();
        let defs = serde_json::to_value(commands()).unwrap();
        assert!(
            defs == pinned,
            "the slash-command registry changed:\n{}",
            serde_json::to_string_pretty(&defs).unwrap()
        );
    }

    #[test]
    fn command_definitions_cover_the_parser() {
        let defs = serde_json::to_value(commands()).unwrap();
        let names: Vec<&str> = defs
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["name"].as_str())
            .collect();
        assert_eq!(
            names,
            [
                "incident", "runbook", "dr", "timeline", "drill", "notify", "comms"
            ]
        );
        let runbook = &defs[1]["options"];
        let run = runbook
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == "run")
            .unwrap();
        assert_eq!(run["options"][0]["autocomplete"], true);
        assert!(snowflake("0").is_err());
        assert_eq!(
            snowflake("100000000000000001").unwrap(),
            100_000_000_000_000_001
        );
    }
}
