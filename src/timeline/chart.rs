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
use crate::duration::HumanDuration;

/// One lane of the chart: its name (the workstream, else the runbook) and its runs.
type Lane<'a> = (String, Vec<&'a RunSummary>);

/// The SVG chart: one lane per workstream, steps as bars, markers and the RTO budget.
pub(super) fn chart(summary: &Summary, events: &[Event], objectives: &Objectives) -> String {
    let Some(origin) = summary.origin(events.first().map(|e| e.at)) else {
        return String::new();
    };
    let last = events.iter().map(|e| e.at).max().unwrap_or(origin);
    let lanes = lanes(summary);
    let budget_end = |ws: Option<Workstream>| rto_budget_end(objectives, origin, ws);
    let any_beyond = lanes
        .iter()
        .filter_map(|(_, runs)| budget_end(runs.first().and_then(|r| r.workstream)))
        .any(|(_, end)| end > last);
    let frame = Frame::new(origin, last, lanes.len(), any_beyond);
    let Frame {
        total_w, height, ..
    } = frame;
    let mut svg = format!(
        "<svg class=\"chart\" width=\"{total_w}\" height=\"{height}\" viewBox=\"0 0 {total_w} {height}\" role=\"img\" aria-label=\"Recovery chart\">\n"
    );
    frame.lane_backgrounds(&mut svg, &lanes);
    frame.markers(&mut svg, summary);
    if any_beyond {
        frame.axis_break(&mut svg);
    }
    for (i, (_, runs)) in lanes.iter().enumerate() {
        let y = frame.top + i as f64 * frame.lane_h;
        let ws = runs.first().and_then(|r| r.workstream);
        if let Some((budget, end)) = budget_end(ws) {
            frame.budget_line(&mut svg, y, budget, end);
        }
        for run in runs {
            frame.run(&mut svg, y, run);
        }
    }
    frame.axis_labels(&mut svg);
    svg.push_str("</svg>\n");
    svg
}

/// One lane per workstream (else per runbook) in the order of their first run; one lane named
/// `incident` when nothing was run.
fn lanes(summary: &Summary) -> Vec<Lane<'_>> {
    let mut lanes: Vec<Lane<'_>> = Vec::new();
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
    lanes
}

/// The workstream's RTO budget and when it ends, counted from `origin`.
fn rto_budget_end(
    objectives: &Objectives,
    origin: DateTime<Utc>,
    ws: Option<Workstream>,
) -> Option<(HumanDuration, DateTime<Utc>)> {
    let budget = ws.and_then(|w| objectives.rto_for(w))?;
    let end = chrono::Duration::from_std(budget.get())
        .ok()
        .and_then(|d| origin.checked_add_signed(d))?;
    Some((budget, end))
}

/// The chart's geometry: where time runs (from `origin` at `left` to `last` at `left + width`),
/// the lanes' band (`top` to `bottom`) and, past a break in the axis, `beyond` for an RTO
/// budget that ends after the chart.
#[derive(Clone, Copy)]
struct Frame {
    origin: DateTime<Utc>,
    last: DateTime<Utc>,
    total_ms: f64,
    left: f64,
    width: f64,
    lane_h: f64,
    top: f64,
    bottom: f64,
    beyond: f64,
    height: f64,
    total_w: f64,
}

impl Frame {
    fn new(origin: DateTime<Utc>, last: DateTime<Utc>, lanes: usize, any_beyond: bool) -> Frame {
        let total_ms = (last - origin).num_milliseconds().max(1) as f64;
        let (left, width, lane_h, top) = (170.0, 700.0, 44.0, 50.0);
        Frame {
            origin,
            last,
            total_ms,
            left,
            width,
            lane_h,
            top,
            bottom: top + lanes as f64 * lane_h,
            beyond: left + width + 60.0,
            height: top + lanes as f64 * lane_h + 40.0,
            total_w: left + width + if any_beyond { 190.0 } else { 30.0 },
        }
    }

    /// The x of `at`, clamped to the chart.
    fn x(&self, at: DateTime<Utc>) -> f64 {
        let ms = (at - self.origin).num_milliseconds() as f64;
        self.left + (ms / self.total_ms).clamp(0.0, 1.0) * self.width
    }

    /// Lane backgrounds first, so the markers' lines stay visible on top of them.
    fn lane_backgrounds(&self, svg: &mut String, lanes: &[Lane<'_>]) {
        let Frame {
            top,
            lane_h,
            total_w,
            ..
        } = *self;
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
    }

    /// The first signal, the alert, the confirmation and the declaration.
    fn markers(&self, svg: &mut String, summary: &Summary) {
        if let Some(sig) = &summary.first_signal {
            self.marker(svg, sig.at, "first signal", "#c00", 0.0);
        }
        if let Some(at) = summary.alert_at {
            self.marker(svg, at, "alert", "#a0a", 1.0);
        }
        if let Some(at) = summary.confirmed_at {
            self.marker(svg, at, "confirmed", "#609", 2.0);
        }
        if let Some(at) = summary.declared_at {
            self.marker(svg, at, "declared", "#d60", 3.0);
        }
    }

    fn marker(&self, svg: &mut String, at: DateTime<Utc>, label: &str, color: &str, row: f64) {
        let Frame { top, bottom, .. } = *self;
        let px = self.x(at);
        let _ = writeln!(
            svg,
            "<line x1=\"{px:.1}\" y1=\"{top}\" x2=\"{px:.1}\" y2=\"{bottom}\" stroke=\"{color}\" stroke-dasharray=\"4 3\"><title>{} {}</title></line>\n<text x=\"{px:.1}\" y=\"{:.1}\" font-size=\"10\" fill=\"{color}\">{}</text>",
            esc(label),
            esc(&utc_ms(at)),
            10.0 + row * 10.0,
            esc(label)
        );
    }

    /// The axis break: the time between the chart's end and the budget is not to scale.
    fn axis_break(&self, svg: &mut String) {
        let Frame {
            left,
            width,
            bottom,
            beyond,
            ..
        } = *self;
        let bx = left + width + 20.0;
        let _ = writeln!(
            svg,
            "<line x1=\"{left}\" y1=\"{bottom}\" x2=\"{beyond}\" y2=\"{bottom}\" stroke=\"#666\"/>\n<text x=\"{bx:.1}\" y=\"{:.1}\" font-size=\"14\" fill=\"#666\" text-anchor=\"middle\">≈<title>axis break: not to scale beyond {}</title></text>",
            bottom + 5.0,
            esc(&t_offset(self.last, self.origin))
        );
    }

    /// The lane's RTO budget: a line at its end, or past the axis break when it ends later.
    fn budget_line(&self, svg: &mut String, y: f64, budget: HumanDuration, end: DateTime<Utc>) {
        let (px, note) = if end <= self.last {
            (self.x(end), String::new())
        } else {
            (self.beyond, format!(" at {}", t_offset(end, self.origin)))
        };
        let _ = writeln!(
            svg,
            "<line x1=\"{px:.1}\" y1=\"{y}\" x2=\"{px:.1}\" y2=\"{:.1}\" stroke=\"#900\" stroke-width=\"2\"><title>RTO budget {budget} ends {}</title></line>\n<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" fill=\"#900\">RTO {budget}{}</text>",
            y + self.lane_h,
            esc(&t_offset(end, self.origin)),
            px + 3.0,
            y + 11.0,
            esc(&note)
        );
    }

    /// A run in its lane at `y`: its approvals, its steps as bars, its recovery.
    fn run(&self, svg: &mut String, y: f64, run: &RunSummary) {
        for a in &run.approvals {
            let px = self.x(a.at);
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
            let end = st.ended_at.unwrap_or(self.last);
            let (x1, x2) = (self.x(start), self.x(end));
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
            let px = self.x(end);
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

    /// T+0 under the axis's start and the last event's offset under its end.
    fn axis_labels(&self, svg: &mut String) {
        let Frame {
            left,
            width,
            bottom,
            ..
        } = *self;
        let _ = writeln!(
            svg,
            "<text x=\"{left}\" y=\"{:.1}\" font-size=\"10\">{}</text>\n<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\">{}</text>",
            bottom + 14.0,
            esc(&t_offset(self.origin, self.origin)),
            left + width,
            bottom + 14.0,
            esc(&t_offset(self.last, self.origin))
        );
    }
}
