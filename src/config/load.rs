//! Loading: read the file, parse each section on its own so one mistake does not hide the
//! others, then run the checks that need the whole config.

use std::collections::BTreeMap;
use std::path::Path;

use super::*;
use crate::key_path;
use crate::toml_source::{Diagnostic, TomlSource};

/// A loaded, validated config and the source it came from (kept for locating later errors).
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: Config,
    pub source: TomlSource,
}

const SECTIONS: [&str; 21] = [
    "store",
    "server",
    "paths",
    "objectives",
    "discord",
    "access",
    "providers",
    "feeds",
    "watch",
    "aws",
    "llm",
    "teams",
    "comms",
    "schedule",
    "drill",
    "data",
    "vars",
    "heroku",
    "app",
    "parity",
    "ha",
];

impl Config {
    /// Reads and validates the config at `path`, reporting every problem found.
    pub fn load(path: &Path) -> Result<LoadedConfig, Vec<Diagnostic>> {
        let source = TomlSource::read(path).map_err(|d| vec![d])?;
        Self::from_source(source)
    }

    pub fn from_source(source: TomlSource) -> Result<LoadedConfig, Vec<Diagnostic>> {
        let mut errors = Vec::new();
        // A syntax error stops everything: nothing below can be located reliably.
        if let Err(err) = source.parse_at::<toml::Value>(&[]) {
            return Err(vec![err]);
        }
        for key in source.keys_at(&[]) {
            if !SECTIONS.contains(&key.as_str()) {
                errors.push(source.error_at(
                    &key_path![key.as_str()],
                    format!(
                        "unknown section `{key}`, expected one of {}",
                        SECTIONS.join(", ")
                    ),
                ));
            }
        }
        // Each section is checked on its own so that one mistake does not hide the others.
        macro_rules! section {
            ($name:literal) => {
                match source.parse_at(&key_path![$name]) {
                    Ok(value) => value,
                    Err(err) => {
                        errors.push(err);
                        None
                    }
                }
            };
        }
        let objectives_missing = source.keys_at(&[]).iter().all(|k| k != "objectives");
        let store: Option<StoreConfig> = section!("store");
        let paths: Option<PathsConfig> = section!("paths");
        let objectives: Option<Objectives> = section!("objectives");
        let discord: Option<DiscordConfig> = section!("discord");
        let access: Option<AccessConfig> = section!("access");
        let providers: Option<Vec<ProviderConfig>> = section!("providers");
        let feeds: Option<Vec<FeedConfig>> = section!("feeds");
        let watch: Option<WatchConfig> = section!("watch");
        let aws: Option<AwsConfig> = section!("aws");
        let llm: Option<LlmConfig> = section!("llm");
        let teams: Option<Vec<TeamConfig>> = section!("teams");
        let comms: Option<CommsConfig> = section!("comms");
        let schedule: Option<ScheduleConfig> = section!("schedule");
        let drill: Option<DrillConfig> = section!("drill");
        let server: Option<ServerConfig> = section!("server");
        let data: Option<DataConfig> = section!("data");
        let vars: Option<BTreeMap<String, String>> = section!("vars");
        let heroku: Option<HerokuConfig> = section!("heroku");
        let app: Option<AppConfig> = section!("app");
        let parity: Option<ParityConfig> = section!("parity");
        let ha: Option<HaConfig> = section!("ha");
        if objectives_missing {
            errors.push(source.error_at(
                &[],
                "missing section [objectives]: hosting_rto, llm_rto and rpo are required",
            ));
        }
        let (Some(objectives), true) = (objectives, errors.is_empty()) else {
            return Err(errors);
        };
        let config = Config {
            store: store.unwrap_or_default(),
            paths: paths.unwrap_or_default(),
            objectives,
            discord,
            access: access.unwrap_or_default(),
            providers: providers.unwrap_or_default(),
            feeds: feeds.unwrap_or_default(),
            watch: watch.unwrap_or_default(),
            aws: aws.unwrap_or_default(),
            llm: llm.unwrap_or_default(),
            teams: teams.unwrap_or_default(),
            comms: comms.unwrap_or_default(),
            schedule: schedule.unwrap_or_default(),
            drill: drill.unwrap_or_default(),
            server: server.unwrap_or_default(),
            data,
            vars: vars.unwrap_or_default(),
            heroku,
            app: app.unwrap_or_default(),
            parity: parity.unwrap_or_default(),
            ha,
        };
        let semantic = config.validate(&source);
        if semantic.is_empty() {
            Ok(LoadedConfig { config, source })
        } else {
            Err(semantic)
        }
    }
}
