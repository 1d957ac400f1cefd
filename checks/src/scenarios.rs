//! Model scenarios: an initial state, CPUs running kernel operations, a final oracle, the
//! outcomes each run must reach (so no scenario passes vacuously), and default bounds.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use thp_model::kernel::spawn;
use thp_model::mm::gup::{follow_pmd_mask, Follow};
use thp_model::mm::huge_memory::{__split_huge_pmd, do_huge_pmd_anonymous_page, FaultResult};
use thp_model::mm::page_ref::folio_put;
use thp_model::mm::{check_quiescent, Machine};
use thp_model::rules::RuleSet;

use crate::engine::{run, EngineSpec, RunConfig, RunResult, Verdict, LOOM_MAX_BRANCHES};

/// Outcomes observed across the executions of one run (std: invisible to the engines).
pub type Outcomes = Arc<Mutex<BTreeSet<&'static str>>>;

/// A scenario of the catalogue.
#[derive(Clone, Copy, Debug)]
pub struct Scenario {
    pub name: &'static str,
    pub description: &'static str,
    /// The CPUs and what each runs.
    pub threads: &'static [&'static str],
    /// Default sub-pages per THP under loom and under shuttle.
    pub loom_nr: usize,
    pub shuttle_nr: usize,
    /// Default loom preemption bound (None = unbounded) and measured cost.
    pub loom_bound: Option<usize>,
    /// Outcomes every holding run must have reached.
    pub must_reach: &'static [&'static str],
    /// One execution.
    pub body: fn(nr: usize, outcomes: &Outcomes),
}

fn setup_huge_pmd(nr: usize) -> Arc<Machine> {
    let m = Arc::new(Machine::new(nr, 1, 1, 1));
    {
        let _r = m.mms[0].mmap_lock.down_read();
        let r = do_huge_pmd_anonymous_page(&m, 0, 0);
        assert_eq!(
            r,
            FaultResult::Done,
            "[model bug] initial huge fault failed"
        );
    }
    m
}

/// `split_huge_pmd` (an unaware walker, mmap_lock read) ∥ a huge-PMD-aware walker
/// (`follow_pmd_mask`, FOLL_GET, mmap_lock read) on sub-page 1.
fn split_pmd_vs_aware_walker(nr: usize, outcomes: &Outcomes) {
    let m = setup_huge_pmd(nr);
    let m1 = m.clone();
    let splitter = spawn(move || {
        let _r = m1.mms[0].mmap_lock.down_read();
        __split_huge_pmd(&m1, 0, false);
    });
    let m2 = m.clone();
    let walker = spawn(move || {
        let _r = m2.mms[0].mmap_lock.down_read();
        follow_pmd_mask(&m2, 0, 1)
    });
    splitter.join();
    let found = walker.join();
    let pfn = match found {
        Follow::HugePage(p) => {
            outcomes.lock().unwrap().insert("walker-used-huge-pmd");
            p
        }
        Follow::PtePage(p) => {
            outcomes.lock().unwrap().insert("walker-used-pte");
            p
        }
        Follow::NoPage => thp_model::model_bug!("walker found no page in a mapped range"),
    };
    assert!(
        pfn == 1,
        "[I5 huge-pmd-stability] walker returned pfn {pfn} for sub-page 1"
    );
    check_quiescent(&m, &[(0, 1)]);
    folio_put(&m.memmap, 0, nr);
    check_quiescent(&m, &[]);
}

/// The catalogue of model scenarios.
pub const SCENARIOS: &[Scenario] = &[Scenario {
    name: "split-pmd-vs-aware-walker",
    description: "split_huge_pmd (mmap_lock read) vs a huge-PMD-aware walker (follow_pmd_mask, FOLL_GET) on sub-page 1",
    threads: &["cpu1: mmap_read_lock; __split_huge_pmd", "cpu2: mmap_read_lock; follow_pmd_mask(FOLL_GET); (main) put_page"],
    loom_nr: 2,
    shuttle_nr: 4,
    loom_bound: None,
    must_reach: &["walker-used-huge-pmd", "walker-used-pte"],
    body: split_pmd_vs_aware_walker,
}];

/// Look a scenario up by name.
pub fn find(name: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().find(|s| s.name == name)
}

/// The result of one scenario run.
#[derive(Clone, Debug)]
pub struct ScenarioResult {
    pub run: RunResult,
    pub nr: usize,
    pub reached: BTreeSet<&'static str>,
    /// A holding run that missed a declared outcome is vacuous: reported here.
    pub vacuous: Option<String>,
}

/// The default engine specs of a scenario (what `check --all` and the tests use).
pub fn default_loom(s: &Scenario) -> EngineSpec {
    EngineSpec::Loom {
        preemption_bound: s.loom_bound,
        max_branches: LOOM_MAX_BRANCHES,
    }
}

/// Run a scenario with `rules` under `engine` with `nr` sub-pages (None = its default).
pub fn run_scenario(s: &'static Scenario, cfg: &RunConfig, nr: Option<usize>) -> ScenarioResult {
    let nr = nr.unwrap_or(match cfg.engine {
        EngineSpec::Loom { .. } => s.loom_nr,
        _ => s.shuttle_nr,
    });
    let outcomes: Outcomes = Arc::new(Mutex::new(BTreeSet::new()));
    let o = outcomes.clone();
    let body = Arc::new(move || (s.body)(nr, &o));
    let run = run(cfg, body);
    let reached = outcomes.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let missing: Vec<_> = s
        .must_reach
        .iter()
        .filter(|o| !reached.contains(*o))
        .collect();
    let vacuous = match (&run.verdict, missing.is_empty()) {
        (Verdict::Holds, false) => Some(format!(
            "{}: holds but never reached {:?} under {} ({}) — the race did not happen",
            s.name,
            missing,
            cfg.engine.name(),
            cfg.engine.bound()
        )),
        _ => None,
    };
    ScenarioResult {
        run,
        nr,
        reached,
        vacuous,
    }
}

/// A config for `rules` under `engine`.
pub fn config(engine: EngineSpec, rules: RuleSet) -> RunConfig {
    let mut c = RunConfig::new(engine);
    c.rules = rules;
    c
}
