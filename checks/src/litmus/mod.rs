//! Litmus tests that show the primitive layer (`thp_model::kernel`) is faithful to the Linux
//! kernel memory model (LKMM, tools/memory-model), and where the engines fall short of it.
//!
//! Each test names one "target" outcome, its LKMM verdict (allowed / forbidden), and what each
//! engine is expected to do with it:
//! * a forbidden outcome must never be observed (observing it is invariant L1);
//! * an allowed outcome must be observed by loom (the run fails if loom cannot find it), so
//!   the engine is shown to explore weak behaviours — except where loom is known not to
//!   (load buffering: loom never explores it), where the expectation pins loom's actual
//!   behaviour and docs/memory-model.md states the limit;
//! * shuttle runs every atomic sequentially consistently, so it reaches no weak outcome;
//!   std threads on x86 may or may not, so nothing is asserted about reachability there.

mod bodies;
mod catalogue;

pub use bodies::add_unless_vs_unfreeze_with;
pub use catalogue::LITMUS;

use std::collections::BTreeSet;
use std::sync::Arc;
#[allow(clippy::disallowed_types)] // harness state outside the engines (clippy.toml)
use std::sync::Mutex;

use crate::engine::{run, EngineSpec, RunConfig, RunResult, Verdict};

/// The LKMM verdict for the target outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lkmm {
    Allowed,
    Forbidden,
}

/// One litmus test.
#[derive(Clone, Copy, Debug)]
pub struct Litmus {
    pub name: &'static str,
    pub description: &'static str,
    /// The outcome the test is about, as printed by `body`.
    pub target: &'static str,
    pub lkmm: Lkmm,
    /// Does loom reach the target? (Equal to `lkmm == Allowed` except for documented limits.)
    pub loom_reaches: bool,
    /// Is the target reachable under sequential consistency (by shuttle's exhaustive DFS)?
    /// False for the weak-memory outcomes.
    pub sc: bool,
    /// Why loom differs from the LKMM here, when it does.
    pub loom_limit: Option<&'static str>,
    /// One execution: returns the observed outcome.
    pub body: fn() -> String,
}

/// Look a litmus test up by name.
pub fn find(name: &str) -> Option<&'static Litmus> {
    LITMUS.iter().find(|l| l.name == name)
}

/// The result of running one litmus test under one engine.
#[derive(Debug, Clone)]
pub struct LitmusResult {
    pub run: RunResult,
    pub observed: BTreeSet<String>,
    /// Did the engine agree with its expectation for the target outcome?
    pub agrees: Result<(), String>,
}

/// Is the target expected to be reached under this engine?
pub fn expected_reach(l: &Litmus, engine: &EngineSpec) -> Option<bool> {
    match engine {
        EngineSpec::Loom { .. } => Some(l.loom_reaches),
        // Sequentially consistent: no weak outcome; an SC-reachable target is reached by the
        // exhaustive DFS.
        EngineSpec::ShuttleDfs {
            max_iterations: None,
        } => Some(l.sc),
        EngineSpec::ShuttleRandom { .. }
        | EngineSpec::ShuttlePct { .. }
        | EngineSpec::ShuttleDfs { .. }
        | EngineSpec::ShuttleReplay { .. }
        | EngineSpec::ShuttleGuided { .. } => {
            if l.sc {
                None // reachable, but a random run need not hit it
            } else {
                Some(false)
            }
        }
        EngineSpec::Stress { .. } => None,
    }
}

/// Run one litmus test: the body under the engine, a forbidden target as invariant L1, then
/// compare what was observed with the expectation.
#[allow(clippy::disallowed_types)] // harness state outside the engines (clippy.toml)
pub fn run_litmus(l: &'static Litmus, cfg: &RunConfig) -> LitmusResult {
    let observed = Arc::new(Mutex::new(BTreeSet::new()));
    let obs = observed.clone();
    let body = Arc::new(move || {
        let o = (l.body)();
        // A forbidden target the model reaches by a documented limit (`loom_limit`) is pinned
        // by the expectation below, not reported as a violation.
        if l.lkmm == Lkmm::Forbidden && !l.loom_reaches && o == l.target {
            panic!(
                "[{}] {}: observed {o}, which the Linux kernel memory model forbids",
                thp_model::invariants::Inv::L1LitmusForbidden.tag(),
                l.name
            );
        }
        obs.lock().unwrap_or_else(|e| e.into_inner()).insert(o);
    });
    // The LKMM is no architecture: run with the weakest hardware the model has (arm64, whose
    // spin_lock is an ACQUIRE only, not x86's full-barrier LOCK cmpxchg).
    let mut cfg = cfg.clone();
    cfg.hardware = thp_model::kernel::Arch::Arm64.hardware();
    let cfg = &cfg;
    let run = run(cfg, body);
    let observed = observed.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let reached = observed.contains(l.target);
    let agrees = match (&run.verdict, expected_reach(l, &cfg.engine)) {
        (Verdict::Counterexample { message, .. }, _) | (Verdict::ModelBug { message, .. }, _) => {
            Err(message.clone())
        }
        (Verdict::Incomplete { reason }, _) => Err(format!("incomplete: {reason}")),
        (Verdict::Holds, Some(true)) if !reached => Err(format!(
            "{}: the {:?} outcome {} was never reached by {}",
            l.name,
            l.lkmm,
            l.target,
            cfg.engine.name()
        )),
        (Verdict::Holds, Some(false)) if reached => Err(format!(
            "{}: {} reached {} although it is expected not to (update the expectation and docs/memory-model.md)",
            l.name,
            cfg.engine.name(),
            l.target
        )),
        _ => Ok(()),
    };
    LitmusResult {
        run,
        observed,
        agrees,
    }
}

/// The outcomes litmus test `l` reaches under loom with `preemption_bound` (None: unbounded),
/// with or without partial-order reduction (None unless the run held to its end), and the
/// executions explored (`thpcheck audit`: unbounded, the two sets must be equal).
pub fn outcomes_under_loom(
    l: &'static Litmus,
    dpor: bool,
    preemption_bound: Option<usize>,
) -> (Option<BTreeSet<String>>, u64) {
    let mut cfg = RunConfig::new(EngineSpec::Loom {
        preemption_bound,
        max_branches: crate::engine::LOOM_MAX_BRANCHES,
    });
    cfg.loom_dpor = dpor;
    let r = run_litmus(l, &cfg);
    let held = matches!(r.run.verdict, Verdict::Holds);
    (held.then_some(r.observed), r.run.executions)
}
