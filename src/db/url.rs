//! A database URL (`postgres://user:password@host:5432/db?sslmode=require`) turned into the
//! libpq environment variables the tools read (`PGHOST`, `PGPASSWORD`, ...), so no secret is
//! ever in a child's argv (visible to anyone on the host through `ps`); and redaction of the
//! URL and its password from any text a tool prints.

use std::collections::BTreeMap;

use percent_encoding::percent_decode_str;

use crate::config::Secret;

/// libpq settings from one URL.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnInfo {
    /// `PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`, `PGSSLMODE`, ...
    vars: BTreeMap<&'static str, String>,
    /// Everything that must never be shown: the URL itself, the password, the user info.
    secrets: Vec<String>,
}

impl std::fmt::Debug for ConnInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// Query parameters libpq understands in a URL, and the variable each becomes.
const PARAMS: [(&str, &str); 9] = [
    ("sslmode", "PGSSLMODE"),
    ("sslrootcert", "PGSSLROOTCERT"),
    ("sslcert", "PGSSLCERT"),
    ("sslkey", "PGSSLKEY"),
    ("connect_timeout", "PGCONNECT_TIMEOUT"),
    ("application_name", "PGAPPNAME"),
    ("options", "PGOPTIONS"),
    ("target_session_attrs", "PGTARGETSESSIONATTRS"),
    ("host", "PGHOST"),
];

fn decode(text: &str) -> String {
    percent_decode_str(text).decode_utf8_lossy().into_owned()
}

impl ConnInfo {
    /// Parses a `postgres://` or `postgresql://` URL. The error never repeats the URL.
    pub fn parse(url: &Secret) -> Result<Self, String> {
        let text = url.expose().trim();
        let parsed = url::Url::parse(text).map_err(|err| {
            format!("not a URL like postgres://user:password@host:5432/database ({err})")
        })?;
        if !matches!(parsed.scheme(), "postgres" | "postgresql") {
            return Err(format!(
                "the URL's scheme is `{}`, expected postgres:// or postgresql://",
                parsed.scheme()
            ));
        }
        let mut vars = BTreeMap::new();
        if let Some(host) = parsed.host_str().filter(|h| !h.is_empty()) {
            // IPv6 hosts come bracketed; libpq wants them bare.
            vars.insert(
                "PGHOST",
                host.trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned(),
            );
        }
        if let Some(port) = parsed.port() {
            vars.insert("PGPORT", port.to_string());
        }
        if !parsed.username().is_empty() {
            vars.insert("PGUSER", decode(parsed.username()));
        }
        let mut secrets = vec![text.to_owned()];
        if let Some(password) = parsed.password() {
            let password = decode(password);
            secrets.push(password.clone());
            secrets.push(password.replace('%', "%25"));
            vars.insert("PGPASSWORD", password);
        }
        let database = decode(parsed.path().trim_start_matches('/'));
        if !database.is_empty() {
            vars.insert("PGDATABASE", database);
        }
        for (key, value) in parsed.query_pairs() {
            let Some((_, var)) = PARAMS.iter().find(|(name, _)| *name == key) else {
                return Err(format!(
                    "the URL has a parameter `{key}` Lifeboat does not pass on (known: {})",
                    PARAMS.map(|(n, _)| n).join(", ")
                ));
            };
            vars.insert(var, value.into_owned());
        }
        // The password may also appear percent-encoded in the URL text: both forms go.
        if let Some(raw) = text
            .split_once("://")
            .and_then(|(_, rest)| rest.split_once('@'))
            .map(|(userinfo, _)| userinfo.to_owned())
        {
            secrets.push(raw.clone());
            if let Some((_, pass)) = raw.split_once(':') {
                secrets.push(pass.to_owned());
            }
        }
        secrets.retain(|s| s.len() >= 3);
        // Longest first, so the URL goes before the password inside it.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Ok(Self { vars, secrets })
    }

    /// The variables for a child process.
    pub fn env(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.vars.iter().map(|(k, v)| (*k, v.as_str()))
    }

    /// With `value` for `var` (e.g. `PGCONNECT_TIMEOUT`) unless the URL set it.
    pub fn with_default(mut self, var: &'static str, value: String) -> Self {
        self.vars.entry(var).or_insert(value);
        self
    }

    /// `user@host:port/db` for people: never the password.
    pub fn describe(&self) -> String {
        let get = |k: &str| self.vars.get(k).map(String::as_str).unwrap_or("");
        let user = get("PGUSER");
        let at = if user.is_empty() { "" } else { "@" };
        let port = get("PGPORT");
        let colon = if port.is_empty() { "" } else { ":" };
        format!(
            "{user}{at}{}{colon}{port}/{}",
            get("PGHOST"),
            get("PGDATABASE")
        )
    }

    /// `text` with the URL, the password and the user info replaced by `[redacted]`.
    pub fn redact(&self, text: &str) -> String {
        redact(text, &self.secrets)
    }

    pub fn secrets(&self) -> &[String] {
        &self.secrets
    }
}

/// The one redactor (`crate::redact`): the URLs, passwords and user info of both sides.
pub use crate::redact::{Redactor, redact};

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> ConnInfo {
        ConnInfo::parse(&Secret::new(url)).unwrap()
    }

    #[test]
    fn a_heroku_url_becomes_libpq_variables() {
        let info = parse(
            "postgres://u5ab:p%40ss-w0rd@ec2-1-2-3-4.compute-1.amazonaws.com:5432/d8f?sslmode=require",
        );
        let env: Vec<(&str, &str)> = info.env().collect();
        assert_eq!(
            env,
            [
                ("PGDATABASE", "d8f"),
                ("PGHOST", "ec2-1-2-3-4.compute-1.amazonaws.com"),
                ("PGPASSWORD", "p@ss-w0rd"),
                ("PGPORT", "5432"),
                ("PGSSLMODE", "require"),
                ("PGUSER", "u5ab"),
            ]
        );
        assert_eq!(
            info.describe(),
            "u5ab@ec2-1-2-3-4.compute-1.amazonaws.com:5432/d8f"
        );
        assert_eq!(format!("{info:?}"), info.describe());
    }

    #[test]
    fn unknown_parameters_and_schemes_are_refused_without_the_url() {
        let err =
            ConnInfo::parse(&Secret::new("postgres://u:secretpw@h/d?sslmod=require")).unwrap_err();
        assert!(
            err.contains("`sslmod`") && !err.contains("secretpw"),
            "{err}"
        );
        let err = ConnInfo::parse(&Secret::new("mysql://u:secretpw@h/d")).unwrap_err();
        assert!(
            err.contains("`mysql`") && !err.contains("secretpw"),
            "{err}"
        );
        let err = ConnInfo::parse(&Secret::new("not a url secretpw")).unwrap_err();
        assert!(!err.contains("secretpw"), "{err}");
    }

    #[test]
    fn tool_output_loses_the_url_and_the_password() {
        let url = "postgresql://app:s3cr%2Ft@db.internal:5432/app";
        let info = parse(url);
        let said = format!(
            "pg_restore: error: connection to {url} failed: password s3cr/t rejected; also s3cr%2Ft"
        );
        let clean = info.redact(&said);
        assert!(!clean.contains("s3cr"), "{clean}");
        assert!(clean.contains("connection to [redacted] failed"), "{clean}");
        // A URL the tool found elsewhere loses its user info too.
        assert_eq!(
            redact("see postgres://x:y@other:1/db now", &[]),
            "see postgres://[redacted]@other:1/db now"
        );
        assert_eq!(
            redact("http://example.com/a@b", &[]),
            "http://example.com/a@b"
        );
    }
}
