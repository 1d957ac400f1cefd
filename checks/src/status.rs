//! The one verdict every command reports: a run's, a row's, a whole command's. Ordered by
//! severity, so the worst of several is their `max`; one exit code each (`main.rs`).

use std::fmt;

use serde::Serialize;

use crate::engine::Verdict;

/// A check's verdict, least severe first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Every explored execution kept every invariant (and reached every declared outcome).
    Holds,
    /// A run stopped before its bound was explored: never reported as holding.
    Incomplete,
    /// A scenario held but never reached one of its declared outcomes: the race did not
    /// happen.
    Vacuous,
    /// An engine disagrees with a litmus test's expectation.
    Disagrees,
    /// A check that is not one run failed: a rule not caught (`defects`), a budget missed
    /// (`bench`), an engine miss (`audit`), a stale generated document (`docs`).
    Failed,
    /// An execution broke an invariant.
    Counterexample,
    /// The model or the harness is inconsistent: a panic whose message starts with
    /// `[model bug]`. Never a counterexample.
    ModelBug,
}

impl Status {
    /// The process exit code (README, `main.rs`): 0 holds; 1 a counterexample or another
    /// failed check; 3 incomplete; 4 a model bug. (2, a usage error, is not a verdict.)
    pub fn exit_code(self) -> u8 {
        match self {
            Status::Holds => 0,
            Status::Vacuous | Status::Disagrees | Status::Failed | Status::Counterexample => 1,
            Status::Incomplete => 3,
            Status::ModelBug => 4,
        }
    }

    /// As printed in the verdict table and the JSON output.
    pub fn label(self) -> &'static str {
        match self {
            Status::Holds => "holds",
            Status::Incomplete => "incomplete",
            Status::Vacuous => "vacuous",
            Status::Disagrees => "disagrees",
            Status::Failed => "failed",
            Status::Counterexample => "counterexample",
            Status::ModelBug => "model-bug",
        }
    }

    /// The status of an engine's verdict.
    pub fn of(v: &Verdict) -> Status {
        match v {
            Verdict::Holds => Status::Holds,
            Verdict::Incomplete { .. } => Status::Incomplete,
            Verdict::Counterexample { .. } => Status::Counterexample,
            Verdict::ModelBug { .. } => Status::ModelBug,
        }
    }

    /// `Holds` if `ok`, else `Failed`.
    pub fn failed_unless(ok: bool) -> Status {
        if ok {
            Status::Holds
        } else {
            Status::Failed
        }
    }

    /// The worst of `statuses` (`Holds` for none).
    pub fn worst(statuses: impl IntoIterator<Item = Status>) -> Status {
        statuses.into_iter().max().unwrap_or(Status::Holds)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}
