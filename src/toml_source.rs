//! TOML files that remember where things are: typed parsing with `path:line:col` diagnostics,
//! for syntax and shape errors (from the parser) and for later semantic checks (by key path).

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use toml::de::{DeTable, DeValue};

/// What to add to "cannot find PATH" when `path` is relative: relative paths in the config and
/// on the command line are taken from the directory Lifeboat was started in (not the config
/// file's), so the usual cause is starting it elsewhere. Empty for an absolute path.
pub fn relative_path_hint(path: &Path) -> String {
    if path.is_absolute() {
        return String::new();
    }
    let from = std::env::current_dir()
        .map(|dir| dir.display().to_string())
        .unwrap_or_else(|_| "the current directory (unreadable)".to_owned());
    format!(
        " (a relative path, resolved from {from}, the directory Lifeboat was started in: \
         run it from the project root, or make the path absolute)"
    )
}

/// One problem in one file, printed as `path:line:col: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.col,
            self.message
        )
    }
}

/// One step of a key path: a table key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

impl From<&str> for Seg {
    fn from(key: &str) -> Self {
        Seg::Key(key.to_owned())
    }
}

impl From<usize> for Seg {
    fn from(index: usize) -> Self {
        Seg::Index(index)
    }
}

/// Builds a key path (an array of segments): `key_path!["steps", 2, "with", "url"]`.
#[macro_export]
macro_rules! key_path {
    ($($seg:expr),* $(,)?) => {
        [$($crate::toml_source::Seg::from($seg)),*]
    };
}

/// The text of one TOML file, with its name for diagnostics.
#[derive(Debug, Clone)]
pub struct TomlSource {
    path: PathBuf,
    text: String,
}

impl TomlSource {
    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            text: text.into(),
        }
    }

    /// Reads a file; the error names the path that was tried.
    pub fn read(path: &Path) -> Result<Self, Diagnostic> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(Self::new(path, text)),
            Err(err) => {
                let hint = if err.kind() == std::io::ErrorKind::NotFound {
                    relative_path_hint(path)
                } else {
                    String::new()
                };
                Err(Diagnostic {
                    file: path.to_owned(),
                    line: 1,
                    col: 1,
                    message: format!("cannot read {}: {err}{hint}", path.display()),
                })
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// Deserializes the whole document.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, Diagnostic> {
        toml::from_str(&self.text).map_err(|err| self.diagnostic_from(&err))
    }

    /// Deserializes the value at `path`, keeping positions so errors point into the file.
    /// `Ok(None)` when nothing is at `path`.
    pub fn parse_at<T: DeserializeOwned>(&self, path: &[Seg]) -> Result<Option<T>, Diagnostic> {
        let root = DeTable::parse(&self.text).map_err(|err| self.diagnostic_from(&err))?;
        let root_value = toml::Spanned::new(root.span(), DeValue::Table(root.into_inner()));
        let Some(value) = descend(&root_value, path) else {
            return Ok(None);
        };
        let deserializer = toml::de::ValueDeserializer::from(value.clone());
        T::deserialize(deserializer)
            .map(Some)
            .map_err(|err| self.diagnostic_from(&err))
    }

    /// The keys of the table at `path`, in file order (empty when it is not a table).
    pub fn keys_at(&self, path: &[Seg]) -> Vec<String> {
        let Ok(root) = DeTable::parse(&self.text) else {
            return Vec::new();
        };
        let root_value = toml::Spanned::new(root.span(), DeValue::Table(root.into_inner()));
        match descend(&root_value, path).map(|v| v.get_ref()) {
            Some(DeValue::Table(table)) => {
                let mut keys: Vec<_> = table.keys().collect();
                keys.sort_by_key(|k| k.span().start);
                keys.into_iter().map(|k| k.get_ref().to_string()).collect()
            }
            _ => Vec::new(),
        }
    }

    /// The length of the array at `path` (0 when absent or not an array).
    pub fn len_at(&self, path: &[Seg]) -> usize {
        let Ok(root) = DeTable::parse(&self.text) else {
            return 0;
        };
        let root_value = toml::Spanned::new(root.span(), DeValue::Table(root.into_inner()));
        match descend(&root_value, path).map(|v| v.get_ref()) {
            Some(DeValue::Array(items)) => items.len(),
            _ => 0,
        }
    }

    /// A diagnostic at the key named by `path` (or the closest enclosing thing that exists).
    pub fn error_at(&self, path: &[Seg], message: impl Into<String>) -> Diagnostic {
        let offset = self.locate(path);
        self.diagnostic(offset, message.into())
    }

    /// The byte offset of the key at `path`; for an array element, of the element. Falls back
    /// to the deepest part of the path that exists, then to the start of the file.
    pub fn locate(&self, path: &[Seg]) -> usize {
        let Ok(root) = DeTable::parse(&self.text) else {
            return 0;
        };
        let mut best = 0;
        let root_value = DeValue::Table(root.into_inner());
        let mut current = &root_value;
        for seg in path {
            let next = match (seg, current) {
                (Seg::Key(key), DeValue::Table(table)) => table
                    .get_key_value(key.as_str())
                    .map(|(k, v)| (k.span().start, v)),
                (Seg::Index(i), DeValue::Array(items)) => {
                    items.get(*i).map(|v| (v.span().start, v))
                }
                _ => None,
            };
            let Some((start, value)) = next else { break };
            best = start;
            current = value.get_ref();
        }
        best
    }

    fn diagnostic_from(&self, err: &toml::de::Error) -> Diagnostic {
        let offset = err.span().map_or(0, |span: Range<usize>| span.start);
        self.diagnostic(offset, err.message().trim().replace('\n', " "))
    }

    fn diagnostic(&self, offset: usize, message: String) -> Diagnostic {
        let (line, col) = line_col(&self.text, offset);
        Diagnostic {
            file: self.path.clone(),
            line,
            col,
            message,
        }
    }
}

fn descend<'a, 'i>(
    root: &'a toml::Spanned<DeValue<'i>>,
    path: &[Seg],
) -> Option<&'a toml::Spanned<DeValue<'i>>> {
    let mut current = root;
    for seg in path {
        current = match (seg, current.get_ref()) {
            (Seg::Key(key), DeValue::Table(table)) => table.get(key.as_str())?,
            (Seg::Index(i), DeValue::Array(items)) => items.get(*i)?,
            _ => return None,
        };
    }
    Some(current)
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "fields exist to be deserialized")]
    struct Item {
        name: String,
        count: u32,
    }

    #[test]
    fn line_col_counts_from_one() {
        let text = "a = 1\nbb = 2\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        assert_eq!(line_col(text, 9), (2, 4));
    }

    #[test]
    fn serde_errors_point_at_the_offending_key() {
        let src = TomlSource::new(
            "f.toml",
            "[[items]]\nname = \"a\"\ncount = 1\n\n[[items]]\nname = \"b\"\ncuont = 2\n",
        );
        let err = src.parse_at::<Item>(&key_path!["items", 1]).unwrap_err();
        assert_eq!((err.line, err.col), (7, 1), "{err}");
        assert!(err.message.contains("unknown field `cuont`"), "{err}");
        assert!(err.to_string().starts_with("f.toml:7:1: "));
    }

    #[test]
    fn wrong_types_point_at_the_value() {
        let src = TomlSource::new("f.toml", "name = \"a\"\ncount = \"three\"\n");
        let err = src.parse::<Item>().unwrap_err();
        assert_eq!(err.line, 2, "{err}");
        assert!(err.message.contains("invalid type"), "{err}");
    }

    #[test]
    fn semantic_errors_are_located_by_path() {
        let src = TomlSource::new("f.toml", "[a]\nx = 1\n\n[[b]]\ny = 2\n[[b]]\n  z = 3\n");
        assert_eq!(src.error_at(&key_path!["a", "x"], "m").line, 2);
        let d = src.error_at(&key_path!["b", 1, "z"], "m");
        assert_eq!((d.line, d.col), (7, 3));
        // A path that goes nowhere falls back to what exists.
        assert_eq!(src.error_at(&key_path!["a", "nope"], "m").line, 1);
        assert_eq!(src.keys_at(&key_path!["a"]), vec!["x".to_string()]);
        assert_eq!(src.len_at(&key_path!["b"]), 2);
    }
}
