//! Dry runs: what each step of a runbook would change, read from the current state without
//! writing anything; and the plan hash an approval is bound to.

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::domain::RunId;
use crate::runbook::{OnFailure, Runbook};
use crate::steps::{self, StepEnv, StepInput};

#[derive(Debug, Clone, Serialize)]
pub struct PlannedStep {
    pub id: String,
    pub title: String,
    pub kind: &'static str,
    pub timeout: String,
    pub retries: u32,
    pub idempotent: bool,
    pub on_failure: OnFailure,
    /// What the step would do; an error reading state is shown instead, not hidden.
    pub changes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub runbook: String,
    pub title: String,
    pub workstream: String,
    pub approvals: u32,
    pub params: BTreeMap<String, String>,
    /// SHA-256 over the runbook file and the parameters: an approval counts only while this holds.
    pub plan_hash: String,
    pub steps: Vec<PlannedStep>,
}

/// The hash that binds an approval to one runbook file and one set of parameters.
pub fn plan_hash(runbook: &Runbook, params: &BTreeMap<String, String>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(runbook.file_hash.as_bytes());
    hasher.update(serde_json::to_vec(params).unwrap_or_default());
    hex::encode(hasher.finalize())
}

/// Builds the plan. Parameters not given show as `<name>`.
pub async fn plan(env: &StepEnv, runbook: &Runbook, params: &BTreeMap<String, String>) -> Plan {
    let mut shown = params.clone();
    for p in &runbook.params {
        if !shown.contains_key(&p.name) {
            let value = p.default.clone().unwrap_or_else(|| format!("<{}>", p.name));
            shown.insert(p.name.clone(), value);
        }
    }
    let run = RunId::from("PLAN");
    let earlier = BTreeMap::new();
    let mut steps_out = Vec::new();
    for step in &runbook.steps {
        let input = StepInput {
            run: &run,
            incident: None,
            step,
            workstream: Some(runbook.workstream),
            params: &shown,
            earlier: &earlier,
            attempt: 1,
        };
        let changes = match steps::plan(env, &input).await {
            Ok(lines) => lines,
            Err(err) => vec![format!("cannot read the current state: {err}")],
        };
        steps_out.push(PlannedStep {
            id: step.id.clone(),
            title: step.title.clone(),
            kind: step.action.kind().as_str(),
            timeout: step.timeout.to_string(),
            retries: step.retries,
            idempotent: step.idempotent,
            on_failure: step.on_failure,
            changes,
        });
    }
    Plan {
        runbook: runbook.name.clone(),
        title: runbook.title.clone(),
        workstream: runbook.workstream.to_string(),
        approvals: runbook.approval.approvals,
        plan_hash: plan_hash(runbook, params),
        params: shown,
        steps: steps_out,
    }
}

impl Plan {
    /// The plan for people.
    pub fn human(&self) -> String {
        let mut out = format!(
            "Plan for {}: {} ({} workstream, {} approval{} needed)\n",
            self.runbook,
            self.title,
            self.workstream,
            self.approvals,
            if self.approvals == 1 { "" } else { "s" }
        );
        for (i, step) in self.steps.iter().enumerate() {
            let mut notes = vec![format!("timeout {}", step.timeout)];
            if step.retries > 0 {
                notes.push(format!("{} retries", step.retries));
            }
            if !step.idempotent {
                notes.push("not idempotent".into());
            }
            if step.on_failure != OnFailure::Abort {
                notes.push(format!("on failure: {:?}", step.on_failure).to_lowercase());
            }
            out.push_str(&format!(
                "{:>2}. {} [{}] — {} ({})\n",
                i + 1,
                step.id,
                step.kind,
                step.title,
                notes.join(", ")
            ));
            for change in &step.changes {
                out.push_str(&format!("      {change}\n"));
            }
        }
        out.push_str(&format!("plan hash {}\n", &self.plan_hash[..16]));
        out
    }
}
