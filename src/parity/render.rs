//! A parity report for people and scripts: the terminal table, the `--json` document, the
//! short summary posted in chat, and the lines it adds to `lifeboat readiness`.

use std::fmt::Write as _;

use chrono::SecondsFormat;
use serde_json::{Value, json};

use super::drift::{Area, Finding, ParityReport, Status, Unreadable};
use crate::domain::check::Check;

fn status_text(status: Status) -> &'static str {
    match status {
        Status::Ok => "ok",
        Status::Drift => "DRIFT",
        Status::Unknown => "??",
    }
}

fn area_text(area: Area) -> &'static str {
    match area {
        Area::ConfigVar => "config var",
        Area::Process => "process",
        Area::Code => "code",
        Area::Health => "health",
    }
}

/// `DRIFT: 3 of 9 checks differ`, `NO DRIFT: ...` or `UNKNOWN: ...`.
pub fn verdict(report: &ParityReport) -> String {
    let n = report.findings.len();
    let drift = report.drifted().len();
    let unknown = report.unknown().len();
    let unread = if unknown == 0 {
        String::new()
    } else {
        format!(" ({unknown} could not be read)")
    };
    if drift > 0 {
        format!("DRIFT: {drift} of {n} checks differ{unread}")
    } else if unknown > 0 {
        format!("UNKNOWN: no drift found, but {unknown} of {n} checks could not be read")
    } else {
        format!("NO DRIFT: all {n} checks match")
    }
}

/// The terminal table: one row per finding, a heading and a verdict.
pub fn table(report: &ParityReport) -> String {
    let mut out = format!(
        "Parity of Heroku app {} with the standby{} at {}\n",
        report.app,
        report
            .cluster
            .as_deref()
            .map(|c| format!(" (ECS cluster {c})"))
            .unwrap_or_default(),
        report.at.to_rfc3339_opts(SecondsFormat::Secs, true)
    );
    let header = ["STATUS", "CHECK", "HEROKU", "STANDBY", "WHY"].map(str::to_owned);
    let rows: Vec<[String; 5]> = report
        .findings
        .iter()
        .map(|f| {
            [
                status_text(f.status).to_owned(),
                format!("{} {}", area_text(f.area), f.subject),
                f.heroku.clone(),
                f.standby.clone(),
                f.detail.clone(),
            ]
        })
        .collect();
    let mut widths = [0usize; 4];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (w, cell) in widths.iter().zip(row) {
            let _ = write!(line, "{cell:<w$}  ");
        }
        line.push_str(&row[4]);
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.push_str(&verdict(report));
    out.push('\n');
    out
}

/// The `--json` document.
pub fn json(report: &ParityReport) -> Value {
    json!({
        "at": report.at.to_rfc3339_opts(SecondsFormat::Secs, true),
        "app": report.app,
        "cluster": report.cluster,
        "drift": !report.drifted().is_empty(),
        "verdict": verdict(report),
        "unreadable": report.unreadable,
        "findings": report.findings,
    })
}

fn one(f: &Finding) -> String {
    format!("{} {}: {}", area_text(f.area), f.subject, f.detail)
}

/// The chat alert of the scheduled check: the new drift first, then what still drifts.
pub fn alert(report: &ParityReport, new: &[String]) -> String {
    let drifted = report.drifted();
    let (fresh, old): (Vec<&Finding>, Vec<&Finding>) =
        drifted.iter().partition(|f| new.contains(&f.key()));
    let mut out = format!(
        "⚠️ The standby has drifted from production (Heroku app {}): {} new since the last check.\n",
        report.app,
        fresh.len()
    );
    for f in fresh {
        let _ = writeln!(out, "• NEW {}", one(f));
    }
    for f in old {
        let _ = writeln!(out, "• still {}", one(f));
    }
    out.push_str("A failover now would meet these. Run `lifeboat parity` for the full table.");
    out
}

/// The post of the scheduled check when a side becomes unreadable: from then on drift goes
/// unnoticed, which people must know.
pub fn unreadable_alert(unread: &Unreadable) -> String {
    format!(
        "⚠️ The scheduled parity check cannot read {} (side: {}): {}. Until it can, drift between the standby and production goes unnoticed; this is posted once, not on every check.",
        unread.side.name(),
        unread.side.as_str(),
        unread.reason
    )
}

/// The lines `lifeboat readiness` and `/dr readiness` show: one per area, and one per health
/// endpoint.
pub fn readiness_checks(report: &ParityReport) -> Vec<Check> {
    let mut checks = Vec::new();
    for (area, name) in [
        (Area::ConfigVar, "parity config vars"),
        (Area::Process, "parity processes"),
        (Area::Code, "parity code"),
    ] {
        let found: Vec<&Finding> = report.findings.iter().filter(|f| f.area == area).collect();
        if found.is_empty() {
            continue;
        }
        let bad: Vec<String> = found
            .iter()
            .filter(|f| f.status != Status::Ok)
            .map(|f| format!("{}: {}", f.subject, f.detail))
            .collect();
        checks.push(if bad.is_empty() {
            let good: Vec<String> = found
                .iter()
                .map(|f| format!("{} ({})", f.subject, f.standby))
                .collect();
            Check {
                name: name.to_owned(),
                ok: true,
                reason: format!("matches Heroku app {}: {}", report.app, good.join("; ")),
            }
        } else {
            Check {
                name: name.to_owned(),
                ok: false,
                reason: bad.join("; "),
            }
        });
    }
    for f in report.findings.iter().filter(|f| f.area == Area::Health) {
        checks.push(Check {
            name: format!("app endpoint {}", f.subject),
            ok: f.status == Status::Ok,
            reason: if f.status == Status::Ok {
                format!("{}: {}", f.standby, f.detail)
            } else {
                f.detail.clone()
            },
        });
    }
    checks
}
