//! The outcome of one check: pass with what was observed, fail with the cause, or skip with why.

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The platform does what the check expects; `detail` says what was observed.
    Pass {
        /// What was observed.
        detail: String,
    },
    /// The platform does not; `reason` names the cause (object, condition, event, numbers).
    Fail {
        /// Why, in words a platform engineer can act on.
        reason: String,
    },
    /// The check cannot give a verdict on this target (e.g. NetworkPolicy not enforced at all).
    Skip {
        /// Why not.
        reason: String,
    },
}

impl Verdict {
    /// Whether the verdict counts as success.
    pub fn passed(&self) -> bool {
        matches!(self, Verdict::Pass { .. })
    }
}

impl Verdict {
    /// A pass with what was observed.
    pub fn pass(detail: impl Into<String>) -> Verdict {
        Verdict::Pass {
            detail: detail.into(),
        }
    }

    /// A failure naming the cause.
    pub fn fail(reason: impl Into<String>) -> Verdict {
        Verdict::Fail {
            reason: reason.into(),
        }
    }

    /// No verdict possible on this target, and why.
    pub fn skip(reason: impl Into<String>) -> Verdict {
        Verdict::Skip {
            reason: reason.into(),
        }
    }

    /// The text of the verdict (detail, reason).
    pub fn message(&self) -> &str {
        match self {
            Verdict::Pass { detail } => detail,
            Verdict::Fail { reason } | Verdict::Skip { reason } => reason,
        }
    }
}
