//! The post-mortem as one description (titled sections of paragraphs, tables, lists and
//! captioned texts), written once here, one function per section, and rendered by
//! `markdown.rs` and `html.rs`.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::text::{dur_opt, ms_text, one_line, span, utc_ms, utc_ms_or_dash};
use super::{ObjectiveOutcome, ObjectiveRow, Summary, describe, objective_rows, t_offset};
use crate::config::Objectives;
use crate::domain::Workstream;
use crate::domain::event::Event;
use crate::duration::{HumanDuration, format_elapsed};
use crate::incident::who;

/// One piece of the post-mortem, as both Markdown and HTML write it.
pub(super) enum Block {
    Title(String),
    Heading(String),
    Sub(String),
    Para(String),
    Table {
        head: Vec<&'static str>,
        rows: Vec<Vec<String>>,
    },
    List(Vec<String>),
    Checklist(Vec<String>),
    Pre {
        caption: String,
        text: String,
    },
    Chart,
}

/// The post-mortem's sections in order, from the summary and the incident's events.
pub(super) fn document(summary: &Summary, events: &[Event], objectives: &Objectives) -> Vec<Block> {
    let mut doc = vec![Block::Title(title(summary))];
    let origin = summary.origin(events.first().map(|e| e.at));
    let rows = objective_rows(summary, objectives);
    summary_section(&mut doc, summary);
    impact_section(&mut doc, summary, origin);
    objectives_section(&mut doc, &rows);
    detection_section(&mut doc, summary, origin);
    timeline_section(&mut doc, events, origin);
    approvals_section(&mut doc, summary);
    steps_section(&mut doc, summary);
    communications_section(&mut doc, summary);
    lessons_section(&mut doc, summary);
    follow_ups_section(&mut doc, summary, &rows);
    doc
}

/// `Post-mortem: INC — title`, with `[DRILL]` for a drill whose title does not say so.
fn title(summary: &Summary) -> String {
    let drill = if summary.drill { " [DRILL]" } else { "" };
    if summary.drill && !crate::incident::title_is_drill(&summary.title) {
        format!(
            "Post-mortem{drill}: {} — {}",
            summary.incident, summary.title
        )
    } else {
        format!("Post-mortem: {} — {}", summary.incident, summary.title)
    }
}

/// Summary: who declared and resolved it, severity, commander, how each run ended.
fn summary_section(doc: &mut Vec<Block>, summary: &Summary) {
    doc.push(Block::Heading("Summary".into()));
    let mut text = String::new();
    if summary.drill {
        text.push_str("This incident was a drill: the outage was simulated. ");
    }
    let _ = write!(
        text,
        "Incident {} ({}) was declared at {}{} and {}.",
        summary.incident,
        summary.title,
        utc_ms_or_dash(summary.declared_at),
        summary
            .declared_by
            .as_ref()
            .map(|b| format!(" by {b}"))
            .unwrap_or_default(),
        match summary.resolved_at {
            Some(at) => format!(
                "resolved at {}{}",
                utc_ms(at),
                summary
                    .resolved_by
                    .as_ref()
                    .map(|b| format!(" by {b}"))
                    .unwrap_or_default()
            ),
            None => "is still open".to_owned(),
        }
    );
    let _ = write!(
        text,
        " Severity {}; commander {}.",
        summary.severity,
        summary.commander.as_deref().unwrap_or("none named")
    );
    for run in &summary.runs {
        let _ = write!(
            text,
            " Runbook {} ({}) {}{}.",
            run.runbook,
            run.workstream.map_or("no workstream", Workstream::as_str),
            run.status,
            run.ended_at
                .map(|at| format!(" at {}", utc_ms(at)))
                .unwrap_or_default()
        );
    }
    doc.push(Block::Para(text));
}

/// Impact: providers, severity, workstreams affected and recovered, time to recovery.
fn impact_section(doc: &mut Vec<Block>, summary: &Summary, origin: Option<DateTime<Utc>>) {
    doc.push(Block::Heading("Impact".into()));
    let mut impact = Vec::new();
    impact.push(format!(
        "Providers affected: {}",
        if summary.providers.is_empty() {
            "none recorded".to_owned()
        } else {
            summary.providers.join(", ")
        }
    ));
    impact.push(format!("Severity: {}", summary.severity));
    impact.push(format!(
        "Workstreams affected: {}",
        if summary.workstreams.is_empty() {
            "none recorded".to_owned()
        } else {
            summary
                .workstreams
                .iter()
                .map(|w| w.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        }
    ));
    let workstreams: BTreeSet<&str> = summary
        .runs
        .iter()
        .filter_map(|r| r.workstream.map(Workstream::as_str))
        .collect();
    impact.push(format!(
        "Workstreams recovered: {}",
        if workstreams.is_empty() {
            "none".to_owned()
        } else {
            workstreams.into_iter().collect::<Vec<_>>().join(", ")
        }
    ));
    if let Some(origin) = origin {
        let recovered = summary
            .runs
            .iter()
            .filter(|r| r.status == "succeeded")
            .filter_map(|r| r.ended_at)
            .max();
        impact.push(match recovered {
            Some(at) => format!(
                "Time from the first signal to the last recovery: {}",
                span(at - origin)
            ),
            None => "No runbook recovered service.".to_owned(),
        });
        if let Some(at) = summary.providers_recovered_at {
            impact.push(format!(
                "Providers healthy again at {} ({})",
                utc_ms(at),
                t_offset(at, origin)
            ));
        }
    }
    doc.push(Block::List(impact));
}

/// Objectives: the table of [`objective_rows`], how they are measured, and the chart.
fn objectives_section(doc: &mut Vec<Block>, rows: &[ObjectiveRow]) {
    doc.push(Block::Heading("Objectives".into()));
    doc.push(Block::Table {
        head: vec!["Objective", "Target", "Achieved", "Result"],
        rows: rows
            .iter()
            .map(|r| {
                vec![
                    r.name.clone(),
                    r.target
                        .map_or_else(|| "—".to_owned(), |t| HumanDuration(t).to_string()),
                    r.achieved.map_or_else(
                        || r.note.clone().unwrap_or_else(|| "—".to_owned()),
                        format_elapsed,
                    ),
                    r.verdict.as_str().to_owned(),
                ]
            })
            .collect(),
    });
    doc.push(Block::Para(
        "RTO is measured from the first signal (the declaration when none was logged) to the runbook's success; RPO is the data-loss window measured from the restored rows (outage start − newest restored row; zero after a direct copy), else the age of the backup the run checked.".into(),
    ));
    doc.push(Block::Chart);
}

/// Detection: the milestones from a simulated outage or the first signal to the declaration.
fn detection_section(doc: &mut Vec<Block>, summary: &Summary, origin: Option<DateTime<Utc>>) {
    doc.push(Block::Heading("Detection".into()));
    let mut milestones: Vec<(String, DateTime<Utc>)> = Vec::new();
    for outage in &summary.simulated_outages {
        milestones.push((
            format!("Simulated outage of {} (drill)", outage.provider),
            outage.outage_at,
        ));
    }
    if let Some(sig) = &summary.first_signal {
        milestones.push(("First signal".into(), sig.at));
    }
    if let Some(at) = summary.confirmed_at {
        milestones.push(("Confirmation".into(), at));
    }
    if let Some(at) = summary.alert_at {
        milestones.push(("Alert posted".into(), at));
    }
    if let Some(at) = summary.declared_at {
        milestones.push(("Declaration".into(), at));
    }
    milestones.sort_by_key(|(_, at)| *at);
    let mut previous: Option<DateTime<Utc>> = None;
    doc.push(Block::Table {
        head: vec!["Milestone", "Time (UTC)", "T+", "Since previous"],
        rows: milestones
            .iter()
            .map(|(name, at)| {
                let row = vec![
                    name.clone(),
                    utc_ms(*at),
                    origin.map(|o| t_offset(*at, o)).unwrap_or_default(),
                    previous.map_or_else(|| "—".to_owned(), |p| span(*at - p)),
                ];
                previous = Some(*at);
                row
            })
            .collect(),
    });
    if let Some(sig) = &summary.first_signal {
        doc.push(Block::Para(format!(
            "The first signal was {} from {}.",
            sig.kind,
            sig.provider.as_deref().unwrap_or("an unknown provider")
        )));
    }
    if !summary.simulated_outages.is_empty() {
        doc.push(Block::List(
            summary
                .simulated_outages
                .iter()
                .flat_map(|o| {
                    let measured = format!(
                        "Detection time of the drill for {}: {} (simulated outage → confirmed alert)",
                        o.provider,
                        o.detection_ms
                            .map_or_else(|| "never confirmed".to_owned(), |ms| ms_text(Some(ms)))
                    );
                    // Lifeboat's pipeline at the drill's own polls, then what the configured
                    // intervals add to a real outage.
                    let bound = o.detection_bound.as_ref().map(|b| {
                        format!(
                            "Detection bound for {} under the configured intervals (not measured): {b}",
                            o.provider
                        )
                    });
                    std::iter::once(measured).chain(bound)
                })
                .collect(),
        ));
    }
}

/// Timeline: one row per event.
fn timeline_section(doc: &mut Vec<Block>, events: &[Event], origin: Option<DateTime<Utc>>) {
    doc.push(Block::Heading("Timeline".into()));
    doc.push(Block::Table {
        head: vec!["#", "Time (UTC)", "T+", "Actor", "What happened"],
        rows: events
            .iter()
            .map(|e| {
                vec![
                    e.seq.to_string(),
                    utc_ms(e.at),
                    origin.map(|o| t_offset(e.at, o)).unwrap_or_default(),
                    one_line(&who(&e.actor)),
                    describe(e),
                ]
            })
            .collect(),
    });
}

/// Approvals: who approved which request, when, and how long it waited.
fn approvals_section(doc: &mut Vec<Block>, summary: &Summary) {
    doc.push(Block::Heading("Approvals".into()));
    let approvals: Vec<Vec<String>> = summary
        .runs
        .iter()
        .flat_map(|run| {
            run.approvals.iter().map(move |a| {
                vec![
                    run.runbook.clone(),
                    run.request.clone().unwrap_or_default(),
                    run.requested_by.clone().unwrap_or_default(),
                    a.by.clone(),
                    utc_ms(a.at),
                    ms_text(a.wait_ms),
                ]
            })
        })
        .collect();
    if approvals.is_empty() {
        doc.push(Block::Para("No approvals were recorded.".into()));
    } else {
        doc.push(Block::Table {
            head: vec![
                "Runbook",
                "Request",
                "Requested by",
                "Approved by",
                "At (UTC)",
                "Waited",
            ],
            rows: approvals,
        });
    }
}

/// Steps: one table per run.
fn steps_section(doc: &mut Vec<Block>, summary: &Summary) {
    doc.push(Block::Heading("Steps".into()));
    if summary.runs.is_empty() {
        doc.push(Block::Para("No runbook was run.".into()));
    }
    for run in &summary.runs {
        doc.push(Block::Para(format!(
            "Run {} — {} ({}), {}; started {}, ended {}.",
            run.run,
            run.runbook,
            run.workstream.map_or("no workstream", Workstream::as_str),
            run.status,
            utc_ms(run.started_at),
            utc_ms_or_dash(run.ended_at)
        )));
        doc.push(Block::Table {
            head: vec![
                "Step", "Kind", "Started", "Ended", "Duration", "Attempts", "Outcome",
            ],
            rows: run
                .steps
                .iter()
                .map(|st| {
                    vec![
                        st.id.clone(),
                        st.kind.clone().unwrap_or_default(),
                        utc_ms_or_dash(st.started_at),
                        utc_ms_or_dash(st.ended_at),
                        ms_text(st.duration_ms),
                        st.attempts.to_string(),
                        match &st.error {
                            Some(err) => format!("{}: {}", st.outcome, one_line(err)),
                            None => st.outcome.clone(),
                        },
                    ]
                })
                .collect(),
        });
    }
}

/// Communications: the exact texts sent, then the drafts.
fn communications_section(doc: &mut Vec<Block>, summary: &Summary) {
    doc.push(Block::Heading("Communications".into()));
    doc.push(Block::Sub("Sent".into()));
    if summary.sent.is_empty() {
        doc.push(Block::Para("Nothing was sent.".into()));
    }
    for c in &summary.sent {
        doc.push(Block::Pre {
            caption: format!(
                "{} — {}{}{}{}{}",
                utc_ms(c.at),
                if c.kind == "notify" {
                    "team notification"
                } else {
                    "client notice"
                },
                c.draft
                    .as_ref()
                    .map(|d| format!(" {d}"))
                    .unwrap_or_default(),
                c.to.as_ref()
                    .map(|t| format!(" to {t}"))
                    .unwrap_or_default(),
                if c.via.is_empty() {
                    String::new()
                } else {
                    format!(" by {}", c.via.join(", "))
                },
                c.step
                    .as_ref()
                    .map(|s| format!(" (step {s})"))
                    .unwrap_or_default()
            ),
            text: c.text.clone(),
        });
    }
    doc.push(Block::Sub("Drafts".into()));
    if summary.drafts.is_empty() {
        doc.push(Block::Para("No drafts were recorded.".into()));
    }
    for c in &summary.drafts {
        doc.push(Block::Pre {
            caption: format!(
                "{} — {}{} ({}){}",
                utc_ms(c.at),
                c.draft.as_deref().unwrap_or("draft"),
                c.to.as_ref()
                    .map(|t| format!(" for {t}"))
                    .unwrap_or_default(),
                c.kind,
                c.step
                    .as_ref()
                    .map(|s| format!(" (step {s})"))
                    .unwrap_or_default()
            ),
            text: c.text.clone(),
        });
    }
}

/// Lessons learned, then the other notes.
fn lessons_section(doc: &mut Vec<Block>, summary: &Summary) {
    doc.push(Block::Heading("Lessons learned".into()));
    let lessons: Vec<String> = summary
        .notes
        .iter()
        .filter(|n| n.lesson)
        .map(|n| format!("{} ({}, {})", one_line(&n.text), n.by, utc_ms(n.at)))
        .collect();
    if lessons.is_empty() {
        doc.push(Block::Para(
            "None recorded yet (`/incident note lesson:true`).".into(),
        ));
    } else {
        doc.push(Block::List(lessons));
    }
    let notes: Vec<String> = summary
        .notes
        .iter()
        .filter(|n| !n.lesson)
        .map(|n| format!("{} ({}, {})", one_line(&n.text), n.by, utc_ms(n.at)))
        .collect();
    if !notes.is_empty() {
        doc.push(Block::Heading("Notes".into()));
        doc.push(Block::List(notes));
    }
}

/// Open follow-ups: missed objectives, steps that did not succeed, the plan review.
fn follow_ups_section(doc: &mut Vec<Block>, summary: &Summary, rows: &[ObjectiveRow]) {
    doc.push(Block::Heading("Open follow-ups".into()));
    let mut todo = Vec::new();
    for r in rows
        .iter()
        .filter(|r| r.verdict == ObjectiveOutcome::Missed)
    {
        todo.push(format!(
            "{} missed: achieved {} against a target of {}",
            r.name,
            r.achieved.map_or_else(
                || r.note.clone().unwrap_or_else(|| "nothing".into()),
                format_elapsed
            ),
            dur_opt(r.target)
        ));
    }
    for run in &summary.runs {
        for st in run
            .steps
            .iter()
            .filter(|st| matches!(st.outcome.as_str(), "failed" | "skipped" | "interrupted"))
        {
            todo.push(format!(
                "Step {} of {} {}{}",
                st.id,
                run.runbook,
                st.outcome,
                st.error
                    .as_ref()
                    .map(|e| format!(": {}", one_line(e)))
                    .unwrap_or_default()
            ));
        }
    }
    todo.push("Review the plan (DRP) and the runbooks with these lessons".into());
    doc.push(Block::Checklist(todo));
}
