//! Secrets named by environment variable: `Secret` never prints its value, `SecretSource` says
//! where `${env.NAME}` values come from.

use std::collections::BTreeMap;
use std::fmt;

/// A secret loaded from the environment. It prints as `[redacted]` in every format, so it can
/// sit inside structs that are logged or debug-printed without leaking.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// Reads the secret from the environment variable `var`; `None` when unset or empty.
    pub fn from_env(var: &str) -> Option<Self> {
        std::env::var(var).ok().filter(|v| !v.is_empty()).map(Self)
    }

    /// The secret itself, for the one place that must send it (an HTTP header, a login).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Where `${env.NAME}` values come from: the process environment in production.
pub trait SecretSource: Send + Sync {
    fn get(&self, name: &str) -> Option<Secret>;
}

/// The process environment.
pub struct ProcessEnv;

impl SecretSource for ProcessEnv {
    fn get(&self, name: &str) -> Option<Secret> {
        Secret::from_env(name)
    }
}

/// Fixed values, for tests and drills.
impl SecretSource for BTreeMap<String, String> {
    fn get(&self, name: &str) -> Option<Secret> {
        BTreeMap::get(self, name).map(|v| Secret::new(v.clone()))
    }
}
