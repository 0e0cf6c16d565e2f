//! The Markdown export: a post-mortem ready to edit.

use std::fmt::Write as _;

use super::Summary;
use super::document::{Block, document};
use super::text::one_line;
use crate::config::Objectives;
use crate::domain::event::Event;

fn md_cell(text: &str) -> String {
    one_line(text).replace('|', "\\|")
}

/// A post-mortem ready to edit.
pub fn markdown(summary: &Summary, events: &[Event], objectives: &Objectives) -> String {
    let mut out = String::new();
    for block in document(summary, events, objectives) {
        match block {
            Block::Title(t) => {
                let _ = writeln!(out, "# {}\n", one_line(&t));
            }
            Block::Heading(h) => {
                let _ = writeln!(out, "## {h}\n");
            }
            Block::Sub(h) => {
                let _ = writeln!(out, "### {h}\n");
            }
            Block::Para(p) => {
                let _ = writeln!(out, "{p}\n");
            }
            Block::Table { head, rows } => {
                let _ = writeln!(out, "| {} |", head.join(" | "));
                let _ = writeln!(out, "|{}", head.iter().map(|_| "---|").collect::<String>());
                for row in rows {
                    let cells: Vec<String> = row.iter().map(|c| md_cell(c)).collect();
                    let _ = writeln!(out, "| {} |", cells.join(" | "));
                }
                out.push('\n');
            }
            Block::List(items) => {
                for item in items {
                    let _ = writeln!(out, "- {}", one_line(&item));
                }
                out.push('\n');
            }
            Block::Checklist(items) => {
                for item in items {
                    let _ = writeln!(out, "- [ ] {}", one_line(&item));
                }
                out.push('\n');
            }
            Block::Pre { caption, text } => {
                // A fence longer than any backtick run inside keeps the text exact.
                let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
                let fence = "`".repeat(longest.max(2) + 1);
                let _ = writeln!(out, "{caption}\n\n{fence}text\n{text}\n{fence}\n");
            }
            Block::Chart => {}
        }
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}
