//! The HTML export: one self-contained page, the Markdown's content escaped, plus the chart.

use std::fmt::Write as _;

use super::Summary;
use super::chart::chart;
use super::document::{Block, document};
use crate::config::Objectives;
use crate::domain::event::Event;

pub(super) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}\
table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}\
th{background:#f3f3f3}pre{background:#f6f6f6;padding:.75em;white-space:pre-wrap}\
.chart{border:1px solid #ddd;margin:1em 0}ul.todo{list-style:none;padding-left:1em}";

/// One self-contained HTML page: the Markdown's content, escaped, plus an inline SVG chart.
pub fn html(summary: &Summary, events: &[Event], objectives: &Objectives) -> String {
    let doc = document(summary, events, objectives);
    let title = doc
        .iter()
        .find_map(|b| match b {
            Block::Title(t) => Some(t.clone()),
            _ => None,
        })
        .unwrap_or_default();
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        esc(&title)
    );
    for block in doc {
        match block {
            Block::Title(t) => {
                let _ = writeln!(out, "<h1>{}</h1>", esc(&t));
            }
            Block::Heading(h) => {
                let _ = writeln!(out, "<h2>{}</h2>", esc(&h));
            }
            Block::Sub(h) => {
                let _ = writeln!(out, "<h3>{}</h3>", esc(&h));
            }
            Block::Para(p) => {
                let _ = writeln!(out, "<p>{}</p>", esc(&p));
            }
            Block::Table { head, rows } => {
                out.push_str("<table>\n<thead><tr>");
                for h in head {
                    let _ = write!(out, "<th>{}</th>", esc(h));
                }
                out.push_str("</tr></thead>\n<tbody>\n");
                for row in rows {
                    out.push_str("<tr>");
                    for cell in row {
                        let _ = write!(out, "<td>{}</td>", esc(&cell));
                    }
                    out.push_str("</tr>\n");
                }
                out.push_str("</tbody>\n</table>\n");
            }
            Block::List(items) => {
                out.push_str("<ul>\n");
                for item in items {
                    let _ = writeln!(out, "<li>{}</li>", esc(&item));
                }
                out.push_str("</ul>\n");
            }
            Block::Checklist(items) => {
                out.push_str("<ul class=\"todo\">\n");
                for item in items {
                    let _ = writeln!(out, "<li>&#9744; {}</li>", esc(&item));
                }
                out.push_str("</ul>\n");
            }
            Block::Pre { caption, text } => {
                let _ = writeln!(out, "<p>{}</p>\n<pre>{}</pre>", esc(&caption), esc(&text));
            }
            Block::Chart => out.push_str(&chart(summary, events, objectives)),
        }
    }
    out.push_str("</body>\n</html>\n");
    out
}
