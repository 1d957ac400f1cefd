//! Smaller counterexamples: after a run finds one, look for a shorter story of the same
//! violation and report the smallest found, saying which search found it.
//!
//! * loom: re-run the scenario with preemption bounds 0, 1, 2, 3 (those below the bound that
//!   found it); the first bound that breaks the same invariant gives a counterexample with at
//!   most that many preemptions. Only when every lower bound was explored to the end and held
//!   is that the fewest preemptions any counterexample needs (`least_preemptions`); a lower
//!   bound that ended in another failure stopped early and proves nothing. Each attempt has a
//!   time budget; the search stops at the first attempt that runs out of it.
//! * shuttle: run PCT from further seeds and keep the trace with the fewest steps (shuttle's
//!   schedules are not delta-debugged here: a schedule cut short does not replay, so a
//!   shorter one has to be found by search). The replay token of the kept one is printed.
//!
//! "Same violation" means the same invariant tag (`[I7 recheck-after-get]`). Sizes compared:
//! steps of the trace and context switches (consecutive trace steps on different CPUs; not
//! loom's preemption count, which also counts switches between untraced operations). Other
//! engines (shuttle-random, shuttle-dfs, replay) are not searched, and say so.

use std::time::Duration;

use serde::Serialize;

use crate::cli::{check_one, Extra, Row};
use crate::engine::EngineSpec;
use crate::status::Status;

/// How long one smaller-bound loom attempt may run.
pub const ATTEMPT_BUDGET: Duration = Duration::from_secs(20);
/// Further PCT seeds tried for a shuttle counterexample.
pub const PCT_SEEDS: u64 = 8;

/// The size of a counterexample.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Size {
    /// Context switches: consecutive steps taken by different CPUs.
    pub switches: usize,
    /// Steps of the trace.
    pub steps: usize,
}

impl Size {
    pub fn of(row: &Row) -> Size {
        Size {
            switches: row
                .steps
                .windows(2)
                .filter(|w| w[0].cpu != w[1].cpu)
                .count(),
            steps: row.steps.len(),
        }
    }
}

impl std::fmt::Display for Size {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} steps, {} context switches",
            self.steps, self.switches
        )
    }
}

/// What the search found (the `minimized` object of `--json`).
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct MinInfo {
    /// Was a search run at all (false: the engine has none, or nothing below its bound)?
    pub searched: bool,
    /// loom: every preemption bound below `found_by`'s was explored to the end and held, so
    /// no counterexample needs fewer preemptions.
    pub least_preemptions: bool,
    /// The search that found the kept counterexample (e.g. `loom preemption_bound=1`).
    pub found_by: String,
    pub first: Size,
    pub smallest: Size,
}

/// The kept counterexample (the first one if nothing smaller was found) and how it was found.
#[derive(Clone, Debug)]
pub struct Minimized {
    pub info: MinInfo,
    pub row: Row,
}

/// The invariant tag of a failure message (`[I7 recheck-after-get]`).
pub fn tag(message: &str) -> Option<&str> {
    let end = message.find(']')?;
    message.starts_with('[').then(|| &message[..=end])
}

/// Search for a smaller counterexample than `first` (a counterexample row of scenario `name`
/// run under `spec` with `extra`). None when `first` is not a counterexample with a trace.
pub fn minimize(name: &str, spec: &EngineSpec, extra: &Extra, first: &Row) -> Option<Minimized> {
    if first.verdict != Status::Counterexample || first.steps.is_empty() {
        return None;
    }
    let want = tag(first.message.as_deref()?)?.to_string();
    let first_size = Size::of(first);
    let mut best = (
        first_size,
        first.clone(),
        format!("{} {}", spec.name(), spec.bound()),
    );
    let same = |r: &Row| {
        r.verdict == Status::Counterexample
            && !r.steps.is_empty()
            && r.message.as_deref().and_then(tag) == Some(want.as_str())
    };
    let mut searched = false;
    let mut least_preemptions = false;
    let budgeted = Extra {
        budget: Some(ATTEMPT_BUDGET),
        ..extra.clone()
    };
    match spec {
        EngineSpec::Loom {
            preemption_bound,
            max_branches,
        } => {
            let top = preemption_bound.unwrap_or(usize::MAX);
            // Every bound below `b` held, explored to the end.
            let mut all_below_held = true;
            for b in 0..top.min(4) {
                searched = true;
                let s = EngineSpec::Loom {
                    preemption_bound: Some(b),
                    max_branches: *max_branches,
                };
                let Ok(r) = check_one(name, s.clone(), &budgeted) else {
                    break;
                };
                if r.verdict == Status::Incomplete {
                    break; // out of time: a larger bound would be too
                }
                if same(&r) {
                    let size = Size::of(&r);
                    least_preemptions = all_below_held;
                    if size < best.0 {
                        best = (size, r, format!("loom {}", s.bound()));
                    } else if all_below_held {
                        // The first one is as small; say the bound that proves the least
                        // preemption count.
                        best.2 = format!("{} (same size at loom {})", best.2, s.bound());
                    }
                    break;
                }
                all_below_held &= r.verdict == Status::Holds;
            }
        }
        EngineSpec::ShuttlePct {
            seed,
            depth,
            iterations,
        } => {
            for k in 1..=PCT_SEEDS {
                searched = true;
                let s = EngineSpec::ShuttlePct {
                    seed: seed.wrapping_add(k),
                    depth: *depth,
                    iterations: *iterations,
                };
                let Ok(r) = check_one(name, s.clone(), &budgeted) else {
                    continue;
                };
                if same(&r) {
                    let size = Size::of(&r);
                    if size < best.0 {
                        best = (size, r, format!("shuttle-pct {}", s.bound()));
                    }
                }
            }
        }
        _ => {}
    }
    let mut row = best.1;
    let info = MinInfo {
        searched,
        least_preemptions,
        found_by: best.2,
        first: first_size,
        smallest: best.0,
    };
    row.minimized = Some(info.clone());
    Some(Minimized { info, row })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_is_the_bracketed_prefix() {
        assert_eq!(
            tag("[I7 recheck-after-get] x ] y"),
            Some("[I7 recheck-after-get]")
        );
        assert_eq!(tag("no tag"), None);
        assert_eq!(tag("x [I7 a]"), None);
    }

    #[test]
    fn sizes_order_by_switches_then_steps() {
        let a = Size {
            switches: 1,
            steps: 40,
        };
        let b = Size {
            switches: 2,
            steps: 10,
        };
        assert!(a < b);
    }
}
