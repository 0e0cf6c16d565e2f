//! `lifeboat parity` and `lifeboat llm-parity`: load, look (through the same `StepEnv` the
//! runbooks use), print for people or as JSON, and exit with what was found.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use super::app::{FAILURE, UNAVAILABLE, load_all};
use super::env::reading_step_env;
use crate::parity::{gather, llm, render, suite};
use crate::ports::clock::TokioClock;

fn print_json(command: &str, value: &serde_json::Value) -> Result<(), ExitCode> {
    match serde_json::to_string_pretty(value) {
        Ok(text) => {
            println!("{text}");
            Ok(())
        }
        Err(err) => {
            eprintln!("lifeboat {command}: cannot encode the result: {err}");
            Err(ExitCode::from(FAILURE))
        }
    }
}

/// `lifeboat parity`: exit 0 when the standby mirrors production, 1 on drift, 2 when there was
/// no drift but something could not be read.
pub async fn parity(config_path: &Path, json: bool) -> ExitCode {
    let Some(checked) = load_all(config_path, "parity") else {
        return ExitCode::from(FAILURE);
    };
    let config = Arc::new(checked.config.config.clone());
    if config.heroku.is_none() {
        eprintln!(
            "lifeboat parity: the config has no [heroku] (the production app): there is nothing to compare the standby with"
        );
        return ExitCode::from(FAILURE);
    }
    let env = reading_step_env(config, Arc::new(TokioClock::new()), "parity").await;
    let Some(report) = gather::check(&env, &checked.runbooks.runbooks).await else {
        return ExitCode::from(FAILURE);
    };
    if json {
        if let Err(code) = print_json("parity", &render::json(&report)) {
            return code;
        }
    } else {
        print!("{}", render::table(&report));
    }
    if !report.drifted().is_empty() {
        ExitCode::from(FAILURE)
    } else if !report.unknown().is_empty() {
        ExitCode::from(UNAVAILABLE)
    } else {
        ExitCode::SUCCESS
    }
}

/// `lifeboat llm-parity`: the suite against OpenAI and Anthropic side by side; exit 0 when
/// each passes at least `[parity] llm_min_pass`, else 1.
pub async fn llm_parity(config_path: &Path, suite_path: Option<PathBuf>, json: bool) -> ExitCode {
    let Some(checked) = load_all(config_path, "llm-parity") else {
        return ExitCode::from(FAILURE);
    };
    let config = Arc::new(checked.config.config.clone());
    let path = suite_path.unwrap_or_else(|| config.parity.llm_suite_path(&config.paths));
    let suite = match suite::load(&path) {
        Ok(suite) => suite,
        Err(errors) => {
            for error in &errors {
                eprintln!("{error}");
            }
            eprintln!(
                "lifeboat llm-parity: the suite {} is invalid",
                path.display()
            );
            return ExitCode::from(FAILURE);
        }
    };
    let min = config.parity.llm_min_pass;
    let env = reading_step_env(config.clone(), Arc::new(TokioClock::new()), "llm-parity").await;
    // The run's own bound: each prompt is bounded by its provider's `timeout` as well.
    let limit = std::time::Duration::from_secs(10 * 60);
    let (openai, anthropic) = tokio::join!(
        gather::run_suite(
            env.llm.as_ref(),
            &config,
            env.secrets.as_ref(),
            "openai",
            &suite,
            limit
        ),
        gather::run_suite(
            env.llm.as_ref(),
            &config,
            env.secrets.as_ref(),
            "anthropic",
            &suite,
            limit
        )
    );
    let runs = [openai, anthropic];
    if json {
        let value = serde_json::json!({
            "suite": suite.path.display().to_string(),
            "prompts": suite.prompts.len(),
            "min_pass": min,
            "providers": runs.iter().map(|r| r.json(min)).collect::<Vec<_>>(),
        });
        if let Err(code) = print_json("llm-parity", &value) {
            return code;
        }
    } else {
        print!("{}", llm::table(&suite, &runs, min));
    }
    if runs.iter().all(|r| r.meets(min)) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(FAILURE)
    }
}
