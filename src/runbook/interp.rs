//! `${namespace.name}` references inside runbook strings: `params` (given when a run is
//! requested), `vars` (company values from config) and `env` (secrets, resolved only when a
//! step executes and never written to the log).

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Namespace {
    Params,
    Vars,
    Env,
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Namespace::Params => "params",
            Namespace::Vars => "vars",
            Namespace::Env => "env",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub namespace: Namespace,
    pub name: String,
}

/// Every reference in `text`, or a message saying what is malformed.
pub fn references(text: &str) -> Result<Vec<Reference>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unterminated `${{` in `{text}`"))?;
        let inner = &after[..end];
        let (ns, name) = inner.split_once('.').ok_or_else(|| {
            format!(
                "`${{{inner}}}` must be `${{params.NAME}}`, `${{vars.NAME}}` or `${{env.NAME}}`"
            )
        })?;
        let namespace = match ns {
            "params" => Namespace::Params,
            "vars" => Namespace::Vars,
            "env" => Namespace::Env,
            other => {
                return Err(format!(
                    "unknown namespace `{other}` in `${{{inner}}}`: use params, vars or env"
                ));
            }
        };
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid {
            return Err(format!("`{name}` in `${{{inner}}}` is not a valid name"));
        }
        out.push(Reference {
            namespace,
            name: name.to_owned(),
        });
        rest = &after[end + 1..];
    }
    Ok(out)
}

/// Replaces every reference with `lookup`'s answer; the first unresolved one is an error.
pub fn expand(
    text: &str,
    mut lookup: impl FnMut(&Reference) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unterminated `${{` in `{text}`"))?;
        let inner = &after[..end];
        let reference = references(&format!("${{{inner}}}"))?
            .pop()
            .ok_or_else(|| format!("empty reference in `{text}`"))?;
        let value = lookup(&reference).ok_or_else(|| format!("`${{{inner}}}` has no value"))?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_references() {
        let refs = references("${vars.app_url}/health?x=${params.region}").unwrap();
        assert_eq!(refs.len(), 2);
        assert_eq!(refs[0].namespace, Namespace::Vars);
        assert_eq!(refs[1].name, "region");
        assert!(references("no refs, $HOME is fine").unwrap().is_empty());
    }

    #[test]
    fn malformed_references_are_explained() {
        assert!(references("${vars.x").unwrap_err().contains("unterminated"));
        assert!(references("${x}").unwrap_err().contains("must be"));
        assert!(
            references("${config.x}")
                .unwrap_err()
                .contains("unknown namespace `config`")
        );
        assert!(
            references("${vars.}")
                .unwrap_err()
                .contains("not a valid name")
        );
    }

    #[test]
    fn expands_and_reports_missing_values() {
        let out = expand("${vars.a}-${params.b}!", |r| Some(r.name.to_uppercase())).unwrap();
        assert_eq!(out, "A-B!");
        let err = expand("${vars.a}", |_| None).unwrap_err();
        assert!(err.contains("has no value"));
    }
}
