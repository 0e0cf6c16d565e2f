//! The checks that need the whole config: unique names, references between sections, URLs,
//! ids and bounds. Each problem is reported at its key, and all of them are reported.

use std::collections::{BTreeMap, BTreeSet};

use super::Config;
use crate::key_path;
use crate::toml_source::{Diagnostic, Seg, TomlSource};

impl Config {
    /// Checks that need the whole config: unique names, references between sections, URLs.
    pub(super) fn validate(&self, source: &TomlSource) -> Vec<Diagnostic> {
        let mut errors = Vec::new();
        self.validate_names_and_feeds(source, &mut errors);
        self.validate_store_and_watch(source, &mut errors);
        self.validate_discord(source, &mut errors);
        self.validate_aws(source, &mut errors);
        self.validate_endpoints(source, &mut errors);
        self.validate_comms(source, &mut errors);
        if let Some(data) = &self.data {
            data.validate(source, &mut errors);
        }
        if let Some(ha) = &self.ha {
            ha.validate(source, &mut errors);
        }
        if self
            .schedule
            .db_backup_every
            .is_some_and(|d| d.get().is_zero())
        {
            errors.push(source.error_at(
                &key_path!["schedule", "db_backup_every"],
                "db_backup_every must be longer than 0s",
            ));
        }
        crate::parity::config::validate(self, source, &mut errors);
        errors
    }

    /// Unique names in `[[providers]]`, `[[feeds]]`, `[[teams]]`; each feed names a known
    /// provider, a URL and a positive interval.
    fn validate_names_and_feeds(&self, source: &TomlSource, errors: &mut Vec<Diagnostic>) {
        unique_names(
            source,
            "providers",
            self.providers.iter().map(|p| &p.name),
            errors,
        );
        unique_names(source, "feeds", self.feeds.iter().map(|f| &f.name), errors);
        unique_names(source, "teams", self.teams.iter().map(|t| &t.name), errors);
        let providers: BTreeSet<&str> = self.providers.iter().map(|p| p.name.as_str()).collect();
        for (i, feed) in self.feeds.iter().enumerate() {
            if !providers.contains(feed.provider.as_str()) {
                errors.push(source.error_at(
                    &key_path!["feeds", i, "provider"],
                    format!(
                        "feed `{}` names provider `{}`, which is not in [[providers]] (known: {})",
                        feed.name,
                        feed.provider,
                        join_or_none(providers.iter().copied())
                    ),
                ));
            }
            check_url(source, &key_path!["feeds", i, "url"], &feed.url, errors);
            if feed.interval.get().is_zero() {
                errors.push(source.error_at(
                    &key_path!["feeds", i, "interval"],
                    "interval must be longer than 0s",
                ));
            }
        }
    }

    /// `[store]` backups and `[watch]` bounds.
    fn validate_store_and_watch(&self, source: &TomlSource, errors: &mut Vec<Diagnostic>) {
        if self.store.backup_every.get().is_zero() {
            errors.push(source.error_at(
                &key_path!["store", "backup_every"],
                "backup_every must be longer than 0s",
            ));
        }
        if self.store.backup_keep == 0 {
            errors.push(source.error_at(
                &key_path!["store", "backup_keep"],
                "backup_keep must be at least 1 (the newest backup is always kept)",
            ));
        }
        let w = &self.watch;
        if w.debounce == 0 {
            errors.push(source.error_at(
                &key_path!["watch", "debounce"],
                "debounce must be at least 1",
            ));
        }
        if w.flap_changes < 2 {
            errors.push(source.error_at(
                &key_path!["watch", "flap_changes"],
                "flap_changes must be at least 2",
            ));
        }
        if !(0.0..=0.5).contains(&w.jitter) {
            errors.push(source.error_at(
                &key_path!["watch", "jitter"],
                "jitter must be between 0.0 and 0.5",
            ));
        }
        if w.max_body == 0 {
            errors.push(
                source.error_at(&key_path!["watch", "max_body"], "max_body must be positive"),
            );
        }
    }

    /// `[discord]`: its API base is a URL and its ids are Discord ids.
    fn validate_discord(&self, source: &TomlSource, errors: &mut Vec<Diagnostic>) {
        if let Some(discord) = &self.discord {
            if let Some(base) = &discord.api_base {
                check_url(source, &key_path!["discord", "api_base"], base, errors);
            }
            for (key, value) in [
                ("guild_id", &discord.guild_id),
                ("incident_channel_id", &discord.incident_channel_id),
            ] {
                if let Some(id) = value
                    && !is_snowflake(id)
                {
                    errors.push(source.error_at(
                        &key_path!["discord", key],
                        format!("`{id}` is not a Discord id (digits only)"),
                    ));
                }
            }
        }
    }

    /// `[aws]`: endpoint URL, account id, unique ECS service and DNS record names.
    fn validate_aws(&self, source: &TomlSource, errors: &mut Vec<Diagnostic>) {
        if let Some(endpoint) = &self.aws.endpoint_url {
            check_url(source, &key_path!["aws", "endpoint_url"], endpoint, errors);
        }
        if let Some(account) = &self.aws.account_id
            && !(account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()))
        {
            errors.push(source.error_at(
                &key_path!["aws", "account_id"],
                format!("`{account}` is not an AWS account id (12 digits)"),
            ));
        }
        if let Some(ecs) = &self.aws.ecs {
            let names = ecs.services.iter().map(|s| &s.name);
            unique_names_at(source, &key_path!["aws", "ecs", "services"], names, errors);
        }
        if let Some(dns) = &self.aws.dns {
            let names = dns.records.iter().map(|r| &r.name);
            unique_names_at(source, &key_path!["aws", "dns", "records"], names, errors);
        }
    }

    /// The LLM providers' and the teams' URLs.
    fn validate_endpoints(&self, source: &TomlSource, errors: &mut Vec<Diagnostic>) {
        for (name, provider) in [
            ("openai", &self.llm.openai),
            ("anthropic", &self.llm.anthropic),
        ] {
            if let Some(p) = provider {
                check_url(
                    source,
                    &key_path!["llm", name, "base_url"],
                    &p.base_url,
                    errors,
                );
            }
        }
        for (i, team) in self.teams.iter().enumerate() {
            if let Some(url) = &team.webhook_url {
                check_url(source, &key_path!["teams", i, "webhook_url"], url, errors);
            }
            check_url(
                source,
                &key_path!["teams", i, "events_url"],
                &team.events_url,
                errors,
            );
        }
    }

    fn validate_comms(&self, source: &TomlSource, errors: &mut Vec<Diagnostic>) {
        let c = &self.comms;
        if c.attempts == 0 {
            errors.push(source.error_at(
                &key_path!["comms", "attempts"],
                "attempts must be at least 1",
            ));
        }
        if let Some(url) = &c.webhook_url {
            check_url(source, &key_path!["comms", "webhook_url"], url, errors);
        }
        if let Some(id) = &c.announcement_channel_id
            && !is_snowflake(id)
        {
            errors.push(source.error_at(
                &key_path!["comms", "announcement_channel_id"],
                format!("`{id}` is not a Discord id (digits only)"),
            ));
        }
        if let Some(email) = &c.email {
            if email.recipients.is_empty() {
                errors.push(source.error_at(
                    &key_path!["comms", "email", "recipients"],
                    "recipients is empty: list the key clients' addresses",
                ));
            }
            let addresses = std::iter::once(("from".to_owned(), &email.from)).chain(
                email
                    .recipients
                    .iter()
                    .enumerate()
                    .map(|(i, r)| (format!("recipients[{i}]"), r)),
            );
            for (key, address) in addresses {
                if let Err(err) = address.parse::<lettre::message::Mailbox>() {
                    let at = if key == "from" {
                        key_path!["comms", "email", "from"]
                    } else {
                        key_path!["comms", "email", "recipients"]
                    };
                    errors.push(source.error_at(
                        &at,
                        format!("{key} `{address}` is not an email address: {err}"),
                    ));
                }
            }
            if let Some(ca) = &email.ca_file
                && !ca.is_file()
            {
                errors.push(source.error_at(
                    &key_path!["comms", "email", "ca_file"],
                    format!(
                        "ca_file `{}` is not a readable file{}",
                        ca.display(),
                        crate::toml_source::relative_path_hint(ca)
                    ),
                ));
            }
            if email.username_env.is_some() != email.password_env.is_some() {
                errors.push(source.error_at(
                    &key_path!["comms", "email"],
                    "set both username_env and password_env, or neither",
                ));
            }
        }
    }
}

fn unique_names<'a>(
    source: &TomlSource,
    section: &str,
    names: impl Iterator<Item = &'a String>,
    errors: &mut Vec<Diagnostic>,
) {
    unique_names_at(source, &key_path![section], names, errors);
}

fn unique_names_at<'a>(
    source: &TomlSource,
    at: &[Seg],
    names: impl Iterator<Item = &'a String>,
    errors: &mut Vec<Diagnostic>,
) {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, name) in names.enumerate() {
        let mut path = at.to_vec();
        path.extend([Seg::Index(i), Seg::from("name")]);
        if let Some(first) = seen.get(name.as_str()) {
            let mut first_path = at.to_vec();
            first_path.extend([Seg::Index(*first), Seg::from("name")]);
            let first_line = source.error_at(&first_path, "").line;
            errors.push(source.error_at(
                &path,
                format!("duplicate name `{name}` (first used at line {first_line})"),
            ));
        } else {
            seen.insert(name, i);
        }
    }
}

fn check_url(source: &TomlSource, at: &[Seg], url: &str, errors: &mut Vec<Diagnostic>) {
    match url::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https" | "ws" | "wss") => {}
        Ok(parsed) => errors.push(source.error_at(
            at,
            format!("`{url}`: scheme `{}` is not http or https", parsed.scheme()),
        )),
        Err(err) => errors.push(source.error_at(at, format!("`{url}` is not a valid URL: {err}"))),
    }
}

fn is_snowflake(id: &str) -> bool {
    !id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit())
}

pub(crate) fn join_or_none<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let joined: Vec<&str> = items.collect();
    if joined.is_empty() {
        "none".to_owned()
    } else {
        joined.join(", ")
    }
}
