//! The tables' statistics (one `psql` query for every count and newest row) and the row
//! counter of a dump's `COPY` blocks.

use crate::config::TableConfig;
use crate::ports::data::{DataError, TableStats};

/// `"schema"."table"` for SQL; names were checked by the config.
fn quoted(table: &TableConfig) -> String {
    let (schema, name) = table.parts();
    format!("\"{schema}\".\"{name}\"")
}

pub(super) fn table_name(table: &TableConfig) -> String {
    let (schema, name) = table.parts();
    format!("{schema}.{name}")
}

/// One query for every table's count and newest row, as a JSON array on one line (`jsonb`
/// prints without the line breaks `json_agg` puts between elements).
pub fn stats_query(tables: &[TableConfig]) -> String {
    let parts: Vec<String> = tables
        .iter()
        .map(|t| {
            format!(
                "SELECT '{}' AS \"table\", count(*) AS rows, max(\"{}\")::timestamptz AS newest FROM {}",
                table_name(t),
                t.freshness,
                quoted(t)
            )
        })
        .collect();
    format!(
        "SELECT coalesce(jsonb_agg(t), '[]') FROM ({}) t",
        parts.join(" UNION ALL ")
    )
}

pub(super) fn parse_stats(text: &str) -> Result<Vec<TableStats>, DataError> {
    serde_json::from_str(text.trim())
        .map_err(|e| DataError::Tool(format!("psql answered something unexpected: {e}")))
}

/// Counts the rows of each `COPY … FROM stdin;` block in `pg_restore --data-only -f -` output.
#[derive(Debug, Default)]
pub struct CopyCounter {
    current: Option<String>,
    partial: Vec<u8>,
    pub counts: Vec<(String, u64)>,
}

impl CopyCounter {
    pub fn push(&mut self, bytes: &[u8]) {
        self.partial.extend_from_slice(bytes);
        let mut start = 0;
        while let Some(end) = self.partial[start..].iter().position(|b| *b == b'\n') {
            let line = self.partial[start..start + end].to_vec();
            self.line(&line);
            start += end + 1;
        }
        self.partial.drain(..start);
    }

    fn line(&mut self, line: &[u8]) {
        match &self.current {
            Some(_) if line == b"\\." => self.current = None,
            Some(_) => {
                if let Some(last) = self.counts.last_mut() {
                    last.1 += 1;
                }
            }
            None => {
                let text = String::from_utf8_lossy(line);
                if let Some(rest) = text.strip_prefix("COPY ")
                    && text.ends_with("FROM stdin;")
                {
                    let name = rest.split(" (").next().unwrap_or(rest).replace('"', "");
                    self.counts.push((name.clone(), 0));
                    self.current = Some(name);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_blocks_are_counted_per_table() {
        let mut counter = CopyCounter::default();
        let text = "--\n-- Data\nCOPY public.orders (id, body) FROM stdin;\n1\ta\n2\tb\\nc\n\\.\n\nCOPY public.\"Users\" (id) FROM stdin;\n7\n\\.\n";
        // Fed in awkward chunks, as a pipe delivers it.
        for chunk in text.as_bytes().chunks(5) {
            counter.push(chunk);
        }
        assert_eq!(
            counter.counts,
            [
                ("public.orders".to_owned(), 2),
                ("public.Users".to_owned(), 1)
            ]
        );
    }

    #[test]
    fn the_stats_query_quotes_every_name() {
        let tables = vec![TableConfig {
            name: "billing.invoices".into(),
            freshness: "changed_at".into(),
        }];
        assert_eq!(
            stats_query(&tables),
            "SELECT coalesce(jsonb_agg(t), '[]') FROM (SELECT 'billing.invoices' AS \"table\", count(*) AS rows, max(\"changed_at\")::timestamptz AS newest FROM \"billing\".\"invoices\") t"
        );
        let parsed = parse_stats(
            r#"[{"table":"billing.invoices","rows":3,"newest":"2026-11-25T09:48:00.5+00:00"},{"table":"public.e","rows":0,"newest":null}]"#,
        )
        .unwrap();
        assert_eq!(parsed[0].rows, 3);
        assert_eq!(parsed[1].newest, None);
    }
}
