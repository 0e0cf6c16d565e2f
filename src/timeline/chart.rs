//! The HTML export's SVG chart: one lane per workstream, steps as bars, the signal, alert,
//! confirmation and declaration as markers, approvals, recoveries and the RTO budget.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::html::esc;
use super::text::{ms_text, utc_ms};
use super::{RunSummary, Summary, t_offset};
use crate::config::Objectives;
use crate::domain::Workstream;
use crate::domain::event::Event;

/// The SVG chart: one lane per workstream, steps as bars, markers and the RTO budget.
pub(super) fn chart(summary: &Summary, events: &[Event], objectives: &Objectives) -> String {
    let Some(origin) = summary.origin(events.first().map(|e| e.at)) else {
        return String::new();
    };
    let last = events.iter().map(|e| e.at).max().unwrap_or(origin);
    let total_ms = (last - origin).num_milliseconds().max(1) as f64;
    let (left, width, lane_h, top) = (170.0, 700.0, 44.0, 50.0);
    let x = |at: DateTime<Utc>| {
        let ms = (at - origin).num_milliseconds() as f64;
        left + (ms / total_ms).clamp(0.0, 1.0) * width
    };
    let mut lanes: Vec<(String, Vec<&RunSummary>)> = Vec::new();
    for run in &summary.runs {
        let name = run
            .workstream
            .map_or_else(|| run.runbook.clone(), |w| w.to_string());
        match lanes.iter_mut().find(|(n, _)| *n == name) {
            Some((_, runs)) => runs.push(run),
            None => lanes.push((name, vec![run])),
        }
    }
    if lanes.is_empty() {
        lanes.push(("incident".to_owned(), Vec::new()));
    }
    // An RTO budget that ends after the chart is drawn past a break in the axis, at `beyond`.
    let budget_end = |ws: Option<Workstream>| {
        let budget = ws.and_then(|w| objectives.rto_for(w))?;
        let end = chrono::Duration::from_std(budget.get())
            .ok()
            .and_then(|d| origin.checked_add_signed(d))?;
        Some((budget, end))
    };
    let any_beyond = lanes
        .iter()
        .filter_map(|(_, runs)| budget_end(runs.first().and_then(|r| r.workstream)))
        .any(|(_, end)| end > last);
    let beyond = left + width + 60.0;
    let height = top + lanes.len() as f64 * lane_h + 40.0;
    let total_w = left + width + if any_beyond { 190.0 } else { 30.0 };
    let mut svg = format!(
        "<svg class=\"chart\" width=\"{total_w}\" height=\"{height}\" viewBox=\"0 0 {total_w} {height}\" role=\"img\" aria-label=\"Recovery chart\">\n"
    );
    let bottom = top + lanes.len() as f64 * lane_h;
    let marker = |svg: &mut String, at: DateTime<Utc>, label: &str, color: &str, row: f64| {
        let px = x(at);
        let _ = writeln!(
            svg,
            "<line x1=\"{px:.1}\" y1=\"{top}\" x2=\"{px:.1}\" y2=\"{bottom}\" stroke=\"{color}\" stroke-dasharray=\"4 3\"><title>{} {}</title></line>\n<text x=\"{px:.1}\" y=\"{:.1}\" font-size=\"10\" fill=\"{color}\">{}</text>",
            esc(label),
            esc(&utc_ms(at)),
            10.0 + row * 10.0,
            esc(label)
        );
    };
    // Lane backgrounds first, so the markers' lines stay visible on top of them.
    for (i, (name, _)) in lanes.iter().enumerate() {
        let y = top + i as f64 * lane_h;
        let _ = writeln!(
            svg,
            "<rect x=\"0\" y=\"{y}\" width=\"{total_w}\" height=\"{lane_h}\" fill=\"{}\"/>\n<text x=\"5\" y=\"{:.1}\" font-size=\"12\">{}</text>",
            if i % 2 == 0 { "#fafafa" } else { "#f0f0f0" },
            y + lane_h / 2.0 + 4.0,
            esc(name)
        );
    }
    if let Some(sig) = &summary.first_signal {
        marker(&mut svg, sig.at, "first signal", "#c00", 0.0);
    }
    if let Some(at) = summary.alert_at {
        marker(&mut svg, at, "alert", "#a0a", 1.0);
    }
    if let Some(at) = summary.confirmed_at {
        marker(&mut svg, at, "confirmed", "#609", 2.0);
    }
    if let Some(at) = summary.declared_at {
        marker(&mut svg, at, "declared", "#d60", 3.0);
    }
    if any_beyond {
        // The axis break: the time between the chart's end and the budget is not to scale.
        let bx = left + width + 20.0;
        let _ = writeln!(
            svg,
            "<line x1=\"{left}\" y1=\"{bottom}\" x2=\"{beyond}\" y2=\"{bottom}\" stroke=\"#666\"/>\n<text x=\"{bx:.1}\" y=\"{:.1}\" font-size=\"14\" fill=\"#666\" text-anchor=\"middle\">≈<title>axis break: not to scale beyond {}</title></text>",
            bottom + 5.0,
            esc(&t_offset(last, origin))
        );
    }
    for (i, (_, runs)) in lanes.iter().enumerate() {
        let y = top + i as f64 * lane_h;
        let ws = runs.first().and_then(|r| r.workstream);
        if let Some((budget, end)) = budget_end(ws) {
            let (px, note) = if end <= last {
                (x(end), String::new())
            } else {
                (beyond, format!(" at {}", t_offset(end, origin)))
            };
            let _ = writeln!(
                svg,
                "<line x1=\"{px:.1}\" y1=\"{y}\" x2=\"{px:.1}\" y2=\"{:.1}\" stroke=\"#900\" stroke-width=\"2\"><title>RTO budget {budget} ends {}</title></line>\n<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" fill=\"#900\">RTO {budget}{}</text>",
                y + lane_h,
                esc(&t_offset(end, origin)),
                px + 3.0,
                y + 11.0,
                esc(&note)
            );
        }
        for run in runs {
            for a in &run.approvals {
                let px = x(a.at);
                let _ = writeln!(
                    svg,
                    "<circle cx=\"{px:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"#36c\"><title>approved by {} at {}</title></circle>",
                    y + 10.0,
                    esc(&a.by),
                    esc(&utc_ms(a.at))
                );
            }
            for st in &run.steps {
                let Some(start) = st.started_at else { continue };
                let end = st.ended_at.unwrap_or(last);
                let (x1, x2) = (x(start), x(end));
                let color = match st.outcome.as_str() {
                    "succeeded" => "#4a4",
                    "failed" | "interrupted" => "#c33",
                    "skipped" => "#aaa",
                    _ => "#fc3",
                };
                let _ = writeln!(
                    svg,
                    "<rect x=\"{x1:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"14\" fill=\"{color}\" stroke=\"#333\" stroke-width=\"0.5\"><title>{} {} ({})</title></rect>",
                    y + 18.0,
                    (x2 - x1).max(2.0),
                    esc(&st.id),
                    esc(&st.outcome),
                    esc(&ms_text(st.duration_ms))
                );
            }
            if run.status == "succeeded"
                && let Some(end) = run.ended_at
            {
                let px = x(end);
                let _ = writeln!(
                    svg,
                    "<polygon points=\"{px:.1},{:.1} {:.1},{:.1} {:.1},{:.1}\" fill=\"#080\"><title>recovered at {}</title></polygon>",
                    y + 36.0,
                    px - 5.0,
                    y + 44.0,
                    px + 5.0,
                    y + 44.0,
                    esc(&utc_ms(end))
                );
            }
        }
    }
    let _ = writeln!(
        svg,
        "<text x=\"{left}\" y=\"{:.1}\" font-size=\"10\">{}</text>\n<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\">{}</text>",
        bottom + 14.0,
        esc(&t_offset(origin, origin)),
        left + width,
        bottom + 14.0,
        esc(&t_offset(last, origin))
    );
    svg.push_str("</svg>\n");
    svg
}
