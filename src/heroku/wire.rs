//! The Platform API's wire format, as pure functions tested against the shapes Heroku
//! documents: the config-vars object (values hashed on the spot), the formation array, the
//! releases list and its `Range` paging, slugs, and error bodies (`{"id", "message"}`).

use std::time::Duration;

use serde_json::Value;

use crate::ports::digest::ValueDigest;
use crate::ports::heroku::{ConfigVars, PlatformError, Process};

/// The media type that selects version 3 of the API (required on every request).
pub const ACCEPT: &str = "application/vnd.heroku+json; version=3";
/// Releases asked per page, newest first.
pub const RELEASES_PER_PAGE: u32 = 10;

/// The first page of releases, newest first (`Range` header value).
pub fn releases_range() -> String {
    format!("version ..; order=desc, max={RELEASES_PER_PAGE}")
}

/// `GET /apps/{app}/config-vars`: a flat object of strings (or null). Each value is hashed at
/// once; the parsed body is dropped when this returns.
pub fn config_vars(body: &[u8]) -> Result<ConfigVars, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("config vars are not JSON ({e})"))?;
    let Value::Object(map) = value else {
        return Err("config vars are not a JSON object".to_owned());
    };
    Ok(ConfigVars(
        map.into_iter()
            .map(|(name, value)| {
                let digest = match value {
                    Value::Null => None,
                    Value::String(text) => Some(ValueDigest::of(&text)),
                    other => Some(ValueDigest::of(&other.to_string())),
                };
                (name, digest)
            })
            .collect(),
    ))
}

/// `GET /apps/{app}/formation`: `[{type, quantity, size, dyno_size: {name}}, ...]`.
pub fn formation(body: &[u8]) -> Result<Vec<Process>, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("the formation is not JSON ({e})"))?;
    let items = value
        .as_array()
        .ok_or("the formation is not a JSON array")?;
    items
        .iter()
        .map(|item| {
            let kind = item["type"]
                .as_str()
                .ok_or("a formation entry has no type")?
                .to_owned();
            let quantity = item["quantity"]
                .as_u64()
                .and_then(|q| u32::try_from(q).ok())
                .ok_or_else(|| format!("process type {kind} has no quantity"))?;
            // `size` is deprecated in favour of `dyno_size.name`; older answers have only it.
            let size = item["dyno_size"]["name"]
                .as_str()
                .or_else(|| item["size"].as_str())
                .unwrap_or("?")
                .to_owned();
            Ok(Process {
                kind,
                quantity,
                size,
            })
        })
        .collect()
}

/// One release as the list gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseEntry {
    pub version: u64,
    pub current: bool,
    pub status: String,
    pub slug: Option<String>,
    pub description: String,
}

/// `GET /apps/{app}/releases`: one page of releases.
pub fn releases(body: &[u8]) -> Result<Vec<ReleaseEntry>, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("releases are not JSON ({e})"))?;
    let items = value.as_array().ok_or("releases are not a JSON array")?;
    items
        .iter()
        .map(|item| {
            Ok(ReleaseEntry {
                version: item["version"].as_u64().ok_or("a release has no version")?,
                current: item["current"] == true,
                status: item["status"].as_str().unwrap_or("succeeded").to_owned(),
                slug: item["slug"]["id"].as_str().map(str::to_owned),
                description: item["description"].as_str().unwrap_or_default().to_owned(),
            })
        })
        .collect()
}

/// The release the app runs: the one marked `current`, else (older API answers) the newest
/// that succeeded.
pub fn current(entries: &[ReleaseEntry]) -> Option<&ReleaseEntry> {
    entries.iter().find(|r| r.current)
}

/// The newest succeeded release, when none is marked current.
pub fn newest_succeeded(entries: &[ReleaseEntry]) -> Option<&ReleaseEntry> {
    entries
        .iter()
        .filter(|r| r.status == "succeeded")
        .max_by_key(|r| r.version)
}

/// `GET /apps/{app}/slugs/{id}`: the slug's git commit, when it has one.
pub fn slug_commit(body: &[u8]) -> Result<Option<String>, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("the slug is not JSON ({e})"))?;
    Ok(value["commit"]
        .as_str()
        .filter(|c| !c.is_empty())
        .map(str::to_owned))
}

/// `Retry-After` in delta-seconds (what Heroku's rate limiter and proxies send).
pub fn retry_after(value: Option<&str>) -> Option<Duration> {
    value?.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// An error answer classified: 401/403 refused, 404 not found, 429 throttled, 5xx
/// unavailable, any other status rejected. `what` names the resource for a 404.
pub fn error(status: u16, body: &[u8], what: &str, retry_after: Option<Duration>) -> PlatformError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let id = parsed
        .as_ref()
        .and_then(|v| v["id"].as_str())
        .unwrap_or("no id")
        .to_owned();
    let message = parsed
        .as_ref()
        .and_then(|v| v["message"].as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| {
            crate::ports::http::truncate_chars(String::from_utf8_lossy(body).trim(), 200)
        });
    match status {
        401 | 403 => PlatformError::Refused {
            status,
            id,
            message,
        },
        404 => PlatformError::NotFound {
            what: what.to_owned(),
            message,
        },
        429 => PlatformError::Throttled {
            message,
            retry_after,
        },
        500..=599 => PlatformError::Unavailable { status, message },
        _ => PlatformError::Rejected {
            status,
            id,
            message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_var_values_become_digests() {
        let vars = config_vars(
            br#"{"DATABASE_URL":"postgres://u:hunter2@h/db","LLM_PROVIDER":"openai","EMPTY":null}"#,
        )
        .unwrap();
        assert_eq!(
            vars.0.keys().collect::<Vec<_>>(),
            ["DATABASE_URL", "EMPTY", "LLM_PROVIDER"]
        );
        assert_eq!(vars.0["LLM_PROVIDER"], Some(ValueDigest::of("openai")));
        assert_eq!(vars.0["EMPTY"], None);
        assert!(!format!("{vars:?}").contains("hunter2"));
        assert!(config_vars(b"[]").is_err());
    }

    #[test]
    fn the_formation_reads_type_quantity_and_dyno_size() {
        // Shape from the Platform API reference (Formation List).
        let body = br#"[{"app":{"name":"example","id":"01234567-89ab-cdef-0123-456789abcdef"},
            "command":"bundle exec rails server -p $PORT","created_at":"2012-01-01T12:00:00Z",
            "dyno_size":{"id":"01234567-89ab-cdef-0123-456789abcdef","name":"Standard-2X"},
            "id":"01234567-89ab-cdef-0123-456789abcdef","quantity":2,"size":"standard-2X",
            "type":"web","updated_at":"2012-01-01T12:00:00Z"},
            {"type":"worker","quantity":1,"size":"standard-1X"}]"#;
        assert_eq!(
            formation(body).unwrap(),
            [
                Process {
                    kind: "web".into(),
                    quantity: 2,
                    size: "Standard-2X".into()
                },
                Process {
                    kind: "worker".into(),
                    quantity: 1,
                    size: "standard-1X".into()
                }
            ]
        );
        assert!(formation(br#"[{"type":"web"}]"#).is_err());
    }

    #[test]
    fn the_current_release_and_its_slug_are_found() {
        let body = br#"[{"version":12,"current":false,"status":"failed","slug":null,"description":"Deploy 1a2b"},
            {"version":11,"current":true,"status":"succeeded","slug":{"id":"slug-11"},"description":"Deploy abc1234"}]"#;
        let page = releases(body).unwrap();
        let now = current(&page).unwrap();
        assert_eq!((now.version, now.slug.as_deref()), (11, Some("slug-11")));
        assert_eq!(newest_succeeded(&page).unwrap().version, 11);
        assert_eq!(
            slug_commit(br#"{"commit":"abc1234def","process_types":{"web":"x"}}"#).unwrap(),
            Some("abc1234def".into())
        );
        assert_eq!(slug_commit(br#"{"commit":null}"#).unwrap(), None);
        assert_eq!(releases_range(), "version ..; order=desc, max=10");
    }

    #[test]
    fn errors_are_classified_by_status() {
        let body = br#"{"id":"unauthorized","message":"Invalid credentials provided."}"#;
        assert!(matches!(
            error(401, body, "app x", None),
            PlatformError::Refused { status: 401, .. }
        ));
        assert!(matches!(
            error(403, body, "app x", None),
            PlatformError::Refused { .. }
        ));
        let err = error(
            404,
            br#"{"id":"not_found","message":"Couldn't find that app."}"#,
            "app x",
            None,
        );
        assert_eq!(
            err.to_string(),
            "app x not found on Heroku: Couldn't find that app."
        );
        let err = error(
            429,
            br#"{"id":"rate_limit","message":"Your account reached the API rate limit"}"#,
            "app x",
            retry_after(Some("3")),
        );
        assert!(err.is_retryable());
        assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));
        assert!(error(503, b"<html>", "app x", None).is_retryable());
        let rejected = error(
            422,
            br#"{"id":"invalid_params","message":"bad"}"#,
            "app x",
            None,
        );
        assert!(!rejected.is_retryable());
        assert_eq!(retry_after(Some("soon")), None);
    }
}
