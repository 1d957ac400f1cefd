//! Smaller counterexamples: after a run finds one, look for a shorter story of the same
//! violation and report the smallest found, saying which search found it.
//!
//! * loom: re-run the scenario with preemption bounds 0, 1, 2, 3 (those below the bound that
//!   found it); the first bound that breaks the same invariant gives a counterexample with at
//!   most that many preemptions. Only when every lower bound was explored to the end and held
//!   is that the fewest preemptions any counterexample needs (`least_preemptions`); a lower
//!   bound that ended in another failure stopped early and proves nothing. Each attempt has a
//!   time budget; the search stops at the first attempt that runs out of it.
//! * shuttle PCT: run PCT from further seeds and keep the smallest counterexample.
//! * every shuttle engine (random, PCT, DFS, replay): then delta-debug the kept schedule.
//!   The schedule is cut into runs (one CPU for consecutive scheduling points), and `ddmin`
//!   drops runs while the same invariant still breaks. A candidate is run by a lenient
//!   scheduler ([`crate::engine::Guided`]: a run whose CPU cannot run is skipped; past the
//!   last run nobody is preempted), so every candidate is an execution; the schedule it
//!   actually ran is recorded, and the kept one is replayed once more under shuttle's own
//!   strict replay, whose row (and replay token) is the one shown.
//!
//! "Same violation" means the same invariant tag (`[I7 recheck-after-get]`). Sizes compared:
//! steps of the trace and context switches (consecutive trace steps on different CPUs; not
//! loom's preemption count, which also counts switches between untraced operations). The std
//! stress engine is not searched, and says so.

use std::time::Duration;

use serde::Serialize;

use crate::cli::{check_one, Extra, Row};
use crate::engine::EngineSpec;
use crate::status::Status;

/// How long one smaller-bound loom attempt may run.
pub const ATTEMPT_BUDGET: Duration = Duration::from_secs(20);
/// Further PCT seeds tried for a shuttle counterexample.
pub const PCT_SEEDS: u64 = 8;
/// Most candidate schedules the delta-debugger runs for one counterexample.
pub const DD_TESTS: usize = 400;

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
    if matches!(
        spec,
        EngineSpec::ShuttleRandom { .. }
            | EngineSpec::ShuttlePct { .. }
            | EngineSpec::ShuttleDfs { .. }
            | EngineSpec::ShuttleReplay { .. }
    ) {
        searched = true;
        if let Some((size, r, tests)) = delta_debug(name, extra, &best.1, &same) {
            if size < best.0 {
                best = (
                    size,
                    r,
                    format!(
                        "shuttle schedule delta-debugging of {} ({tests} candidate schedules)",
                        best.2
                    ),
                );
            }
        }
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

/// Delta-debug the schedule of shuttle counterexample `first` (`ddmin` over its runs, see the
/// module comment). Returns the smallest counterexample found, as replayed by shuttle's strict
/// replay, and how many candidates were run; None if `first` has no replay token, or nothing
/// smaller replayed.
fn delta_debug(
    name: &str,
    extra: &Extra,
    first: &Row,
    same: &dyn Fn(&Row) -> bool,
) -> Option<(Size, Row, usize)> {
    use crate::engine::{decode_schedule, encode_schedule, runs_schedule, schedule_runs};
    let token: crate::cli::Token = first.replay.as_deref()?.parse().ok()?;
    let sched = decode_schedule(&token.schedule)?;
    let seed = sched.seed;
    let start = std::time::Instant::now();
    let mut tests = 0usize;
    let run = |runs: &[(shuttle::scheduler::TaskId, usize)]| -> Option<Row> {
        let spec = EngineSpec::ShuttleGuided {
            schedule: encode_schedule(&runs_schedule(seed, runs)),
        };
        let r = check_one(name, spec, extra).ok()?;
        same(&r).then_some(r)
    };
    let mut runs = schedule_runs(&sched);
    let mut best: Option<(Size, Row)> = None;
    let mut n = 2usize;
    'outer: while runs.len() >= 2 {
        let chunk = runs.len().div_ceil(n);
        let mut reduced = false;
        for i in (0..runs.len()).step_by(chunk) {
            if tests >= DD_TESTS || start.elapsed() > ATTEMPT_BUDGET {
                break 'outer;
            }
            let mut cand = runs[..i].to_vec();
            cand.extend_from_slice(&runs[(i + chunk).min(runs.len())..]);
            tests += 1;
            if let Some(r) = run(&cand) {
                let size = Size::of(&r);
                if best.as_ref().is_none_or(|(b, _)| size <= *b) {
                    best = Some((size, r));
                    runs = cand;
                    n = n.saturating_sub(1).max(2);
                    reduced = true;
                    break;
                }
            }
        }
        if !reduced {
            if n >= runs.len() {
                break;
            }
            n = (2 * n).min(runs.len());
        }
    }
    let (_, kept) = best?;
    // Shown: shuttle's strict replay of the schedule the kept candidate actually ran.
    let replayed = check_one(
        name,
        EngineSpec::ShuttleReplay {
            schedule: kept
                .replay
                .as_deref()?
                .parse::<crate::cli::Token>()
                .ok()?
                .schedule,
        },
        extra,
    )
    .ok()?;
    same(&replayed).then(|| (Size::of(&replayed), replayed, tests))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The guided scheduler never rejects a schedule: one naming a CPU that does not exist
    /// still gives one complete execution.
    #[test]
    fn a_guided_schedule_naming_no_runnable_cpu_still_runs() {
        use crate::engine::{encode_schedule, runs_schedule};
        let runs = [(shuttle::scheduler::TaskId::from(9), 5)];
        let r = check_one(
            "folio-split-vs-scanner",
            EngineSpec::ShuttleGuided {
                schedule: encode_schedule(&runs_schedule(0, &runs)),
            },
            &Extra::default(),
        )
        .unwrap();
        // One execution ran to the end (an execution reaches one outcome, so the run as a
        // whole is vacuous).
        assert_eq!((r.verdict, r.executions), (Status::Vacuous, 1), "{r:?}");
        assert!(r.observed.contains(&"split-ok".to_string()), "{r:?}");
    }

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
