//! The Heroku adapter: the `Platform` port (`crate::ports::heroku`) over reqwest, speaking
//! the Platform API (version 3, bearer token) at the base URL from `[heroku] api_base`, so
//! tests point it at a loopback server. Config var values are hashed in [`wire`] as they are
//! read and are never logged; answers to a `PATCH` are read for their status only.

pub mod wire;

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use tracing::{debug, instrument};

use crate::ports::heroku::{ConfigVars, Platform, PlatformError, PlatformTarget, Process, Release};
use crate::ports::http::{describe, read_capped};

/// Largest answer read: a config-vars object or a page of releases is a few KiB.
const BODY_LIMIT: usize = 1024 * 1024;
/// Release pages followed (`Next-Range`) before giving up on finding the current one.
const MAX_RELEASE_PAGES: usize = 10;

/// The Platform API over one shared HTTP client.
#[derive(Debug, Clone)]
pub struct HerokuApi {
    http: reqwest::Client,
}

impl HerokuApi {
    pub fn new(http: reqwest::Client) -> Self {
        Self { http }
    }
}

/// One answer: status, body, and the paging and rate-limit headers.
struct HerokuResponse {
    status: u16,
    body: Vec<u8>,
    next_range: Option<String>,
    retry_after: Option<Duration>,
}

impl HerokuApi {
    /// `{api_base}/apps/{app}/{rest...}`, each segment escaped.
    fn url(target: &PlatformTarget<'_>, rest: &[&str]) -> Result<url::Url, PlatformError> {
        let mut url = url::Url::parse(target.api_base).map_err(|e| {
            PlatformError::Unreachable(format!("[heroku] api_base {}: {e}", target.api_base))
        })?;
        url.path_segments_mut()
            .map_err(|()| {
                PlatformError::Unreachable(format!(
                    "[heroku] api_base {} cannot have a path",
                    target.api_base
                ))
            })?
            .pop_if_empty()
            .push("apps")
            .push(target.app)
            .extend(rest);
        Ok(url)
    }

    async fn exchange(
        &self,
        target: &PlatformTarget<'_>,
        method: Method,
        rest: &[&str],
        range: Option<&str>,
        body: Option<&serde_json::Value>,
    ) -> Result<HerokuResponse, PlatformError> {
        let url = Self::url(target, rest)?;
        let mut token = HeaderValue::from_str(&format!("Bearer {}", target.token.expose()))
            .map_err(|_| PlatformError::UnusableToken)?;
        token.set_sensitive(true);
        let mut request = self
            .http
            .request(method.clone(), url.clone())
            .header(ACCEPT, wire::ACCEPT)
            .header(AUTHORIZATION, token);
        if let Some(range) = range {
            request = request.header("Range", range);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        debug!(%method, %url, "calling the Platform API");
        let exchange = async {
            let mut response = request.send().await?;
            let status = response.status().as_u16();
            let header = |name| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v: &HeaderValue| v.to_str().ok())
                    .map(str::to_owned)
            };
            let next_range = header("Next-Range");
            let retry_after = wire::retry_after(header(RETRY_AFTER.as_str()).as_deref());
            let (body, _) = read_capped(&mut response, BODY_LIMIT).await?;
            Ok::<_, reqwest::Error>(HerokuResponse {
                status,
                body,
                next_range,
                retry_after,
            })
        };
        match tokio::time::timeout(target.timeout, exchange).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(err)) if err.is_timeout() => Err(PlatformError::Timeout(target.timeout)),
            Ok(Err(err)) => Err(PlatformError::Unreachable(describe(&err))),
            Err(_) => Err(PlatformError::Timeout(target.timeout)),
        }
    }

    /// The answer's body when it is a success, else the classified error.
    fn success(answer: HerokuResponse, what: &str) -> Result<HerokuResponse, PlatformError> {
        if StatusCode::from_u16(answer.status).is_ok_and(|s| s.is_success()) {
            Ok(answer)
        } else {
            Err(wire::error(
                answer.status,
                &answer.body,
                what,
                answer.retry_after,
            ))
        }
    }
}

fn malformed(reason: String) -> PlatformError {
    PlatformError::Malformed(reason)
}

#[async_trait]
impl Platform for HerokuApi {
    #[instrument(skip_all, fields(app = target.app))]
    async fn config_vars(&self, target: PlatformTarget<'_>) -> Result<ConfigVars, PlatformError> {
        let answer = self
            .exchange(&target, Method::GET, &["config-vars"], None, None)
            .await?;
        let answer = Self::success(answer, &format!("app {}", target.app))?;
        wire::config_vars(&answer.body).map_err(malformed)
    }

    #[instrument(skip_all, fields(app = target.app))]
    async fn formation(&self, target: PlatformTarget<'_>) -> Result<Vec<Process>, PlatformError> {
        let answer = self
            .exchange(&target, Method::GET, &["formation"], None, None)
            .await?;
        let answer = Self::success(answer, &format!("app {}", target.app))?;
        wire::formation(&answer.body).map_err(malformed)
    }

    #[instrument(skip_all, fields(app = target.app))]
    async fn current_release(&self, target: PlatformTarget<'_>) -> Result<Release, PlatformError> {
        let what = format!("app {}", target.app);
        let mut range = wire::releases_range();
        let mut seen = Vec::new();
        let mut found = None;
        for _ in 0..MAX_RELEASE_PAGES {
            let answer = self
                .exchange(&target, Method::GET, &["releases"], Some(&range), None)
                .await?;
            let answer = Self::success(answer, &what)?;
            let page = wire::releases(&answer.body).map_err(malformed)?;
            if let Some(current) = wire::current(&page) {
                found = Some(current.clone());
                break;
            }
            seen.extend(page);
            // 206 Partial Content with Next-Range: more (older) releases follow.
            match (answer.status, answer.next_range) {
                (206, Some(next)) => range = next,
                _ => break,
            }
        }
        let release = found
            .or_else(|| wire::newest_succeeded(&seen).cloned())
            .ok_or_else(|| PlatformError::NotFound {
                what: format!("a current release of app {}", target.app),
                message: "no release is marked current or succeeded".to_owned(),
            })?;
        let commit = match &release.slug {
            None => None,
            Some(slug) => {
                let answer = self
                    .exchange(&target, Method::GET, &["slugs", slug], None, None)
                    .await?;
                let answer = Self::success(answer, &format!("slug {slug}"))?;
                wire::slug_commit(&answer.body).map_err(malformed)?
            }
        };
        Ok(Release {
            version: release.version,
            commit,
            description: release.description,
        })
    }

    #[instrument(skip_all, fields(app = target.app, vars = ?vars.keys().collect::<Vec<_>>()))]
    async fn set_config_vars(
        &self,
        target: PlatformTarget<'_>,
        vars: &BTreeMap<String, String>,
    ) -> Result<(), PlatformError> {
        let body = serde_json::to_value(vars).map_err(|e| malformed(e.to_string()))?;
        let answer = self
            .exchange(&target, Method::PATCH, &["config-vars"], None, Some(&body))
            .await?;
        // The answer lists every var with its value: only its status is looked at.
        Self::success(answer, &format!("app {}", target.app)).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    #[test]
    fn urls_escape_the_app_and_keep_a_base_path() {
        let token = Secret::new("t");
        let target = |base| PlatformTarget {
            api_base: base,
            app: "my app",
            token: &token,
            timeout: Duration::from_secs(1),
        };
        assert_eq!(
            HerokuApi::url(&target("https://api.heroku.com"), &["config-vars"])
                .unwrap()
                .as_str(),
            "https://api.heroku.com/apps/my%20app/config-vars"
        );
        assert_eq!(
            HerokuApi::url(&target("http://127.0.0.1:9/proxy/"), &["slugs", "s-1"])
                .unwrap()
                .as_str(),
            "http://127.0.0.1:9/proxy/apps/my%20app/slugs/s-1"
        );
    }
}
