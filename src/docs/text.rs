//! Small pieces of wording shared by the plan's sections: table cells, URLs shown without
//! their secrets, `${vars.*}` filled in, sides and workstreams named.

use crate::config::Config;
use crate::domain::Workstream;
use crate::runbook::Side;
use crate::runbook::interp::{self, Namespace};

/// Markdown table cells: no pipes or line breaks.
pub(super) fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// `text` with `${vars.*}` filled from the config; `${params.*}` and `${env.*}` stay as they
/// are written (parameters are given per run; secrets are never shown).
pub(super) fn with_vars(config: &Config, text: &str) -> String {
    interp::expand(text, |r| match r.namespace {
        Namespace::Vars => config
            .vars
            .get(&r.name)
            .cloned()
            .or_else(|| Some(format!("${{vars.{}}}", r.name))),
        ns => Some(format!("${{{ns}.{}}}", r.name)),
    })
    .unwrap_or_else(|_| text.to_owned())
}

/// A URL by scheme and host only (webhook paths carry tokens).
pub(super) fn host_only(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!("{}://{}/…", u.scheme(), u.host_str().unwrap_or("?")),
        Err(_) => "(an invalid URL)".to_owned(),
    }
}

/// A URL as the plan shows it: scheme, host and path. Userinfo, query and fragment are
/// dropped (a `?…` marks a dropped query or fragment). Works on text, not a parsed URL, so
/// `${params.*}` placeholders stay readable.
pub(super) fn shown_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(auth_end);
    let authority = match scheme {
        Some(_) => authority
            .rsplit_once('@')
            .map_or(authority, |(_, host)| host),
        None => authority,
    };
    let path_end = tail.find(['?', '#']).unwrap_or(tail.len());
    let dropped = if path_end < tail.len() { "?…" } else { "" };
    let path = &tail[..path_end];
    match scheme {
        Some(scheme) => format!("{scheme}://{authority}{path}{dropped}"),
        None => format!("{authority}{path}{dropped}"),
    }
}

pub(super) fn side(side: Side) -> &'static str {
    match side {
        Side::Standby => "standby (AWS)",
        Side::Primary => "primary (Heroku)",
    }
}

pub(super) fn workstream_title(w: Workstream) -> &'static str {
    match w {
        Workstream::Hosting => "hosting",
        Workstream::Llm => "LLM",
        Workstream::Data => "data",
    }
}
