//! One line of `lifeboat readiness` (and `/dr readiness`): a check's name, whether it passed,
//! and why. Pure vocabulary shared by readiness and the parity lines it shows.

/// One line of a readiness report: what was checked, whether it passed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub reason: String,
}

impl Check {
    pub fn ok(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ok: true,
            reason: reason.into(),
        }
    }

    pub fn fail(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ok: false,
            reason: reason.into(),
        }
    }

    /// `ok    NAME: REASON` or `FAIL  NAME: REASON`.
    pub fn line(&self) -> String {
        format!(
            "{:<4}  {}: {}",
            if self.ok { "ok" } else { "FAIL" },
            self.name,
            self.reason
        )
    }
}
