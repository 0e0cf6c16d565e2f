//! A run's parameters: the given ones checked against the runbook, its defaults filled in.

use std::collections::BTreeMap;

use super::EngineError;
use crate::runbook::Runbook;

/// Checks the given parameters against the runbook and fills in defaults.
pub(super) fn resolve_params(
    runbook: &Runbook,
    mut given: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, EngineError> {
    if let Some(name) = given
        .keys()
        .find(|k| !runbook.params.iter().any(|p| &p.name == *k))
    {
        return Err(EngineError::UnknownParam {
            runbook: runbook.name.clone(),
            name: name.clone(),
        });
    }
    for param in &runbook.params {
        if !given.contains_key(&param.name) {
            match &param.default {
                Some(default) => {
                    given.insert(param.name.clone(), default.clone());
                }
                None => {
                    return Err(EngineError::MissingParam {
                        runbook: runbook.name.clone(),
                        name: param.name.clone(),
                    });
                }
            }
        }
    }
    Ok(given)
}
