//! `thpcheck audit`: the engines check each other.
//!
//! A verdict is only as sound as the engine that produced it, and loom's DPOR has skipped
//! interleavings before (third_party/loom/PATCHES.md). So three cross-checks, each of which can
//! fail:
//!
//! 1. **Final states.** Every execution of a scenario ends in a final state: a fingerprint of
//!    the whole model state after every CPU was joined, plus the outcomes the execution
//!    recorded. A sequentially consistent engine (shuttle random, PCT, and DFS where it runs to
//!    the end) explores a subset of the interleavings loom must explore when it has no
//!    preemption bound, at the same size, so every final state shuttle reaches must be one loom
//!    reaches. A state shuttle reached and loom did not is an *engine miss*.
//! 2. **Rules off.** With one rule switched off, a counterexample shuttle finds must be found by
//!    unbounded loom too (in the same scenario); otherwise it is an engine miss.
//! 3. **Reduction.** Every litmus test is run under loom twice, with and without partial-order
//!    reduction (`loom::model::Builder::dpor`); the two outcome sets must be equal.
//!
//! Scenarios whose default loom run is bounded are not compared (a bounded search may rightly
//! miss what shuttle reaches); the report lists them as such.

use std::collections::BTreeSet;

use serde::Serialize;
use thp_model::rules::{Rule, RuleSet};

use crate::engine::{EngineSpec, Verdict, LOOM_MAX_BRANCHES};
use crate::litmus::{self, Litmus};
use crate::parallel::{run_ordered, Shard};
use crate::scenarios::{
    self, config, run_scenario_states, FinalState, Scenario, ScenarioResult, SCENARIOS,
};

/// How hard the sequentially consistent engines try.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct AuditBudget {
    /// shuttle random and shuttle PCT iterations per scenario (each).
    pub iterations: usize,
    /// shuttle DFS: stop after this many schedules (a DFS that finishes under it is complete).
    pub dfs_cap: usize,
    /// The test suite's audit: skip the scenarios whose default loom search the suite does not
    /// run (`Scenario::test_loom_bound`); `thpcheck audit` audits them.
    pub tests_only: bool,
}

/// What `thpcheck audit` runs by default.
pub const DEFAULT_BUDGET: AuditBudget = AuditBudget {
    iterations: 5_000,
    dfs_cap: 50_000,
    tests_only: false,
};

/// What the test suite runs (CI).
pub const CI_BUDGET: AuditBudget = AuditBudget {
    iterations: 1_000,
    dfs_cap: 5_000,
    tests_only: true,
};

/// The seeds of the audit's shuttle runs (fixed: an audit is reproducible).
pub const RANDOM_SEED: u64 = 11;
pub const PCT_SEED: u64 = 13;
pub const PCT_DEPTH: usize = 3;

/// One engine's share of a scenario's audit.
#[derive(Serialize, Debug, Clone)]
pub struct EngineStates {
    pub engine: &'static str,
    pub bound: String,
    pub executions: u64,
    /// Distinct final states reached.
    pub states: usize,
    pub verdict: &'static str,
}

/// The audit of one scenario with every rule on.
#[derive(Serialize, Debug, Clone)]
pub struct StateAudit {
    pub scenario: &'static str,
    pub nr: usize,
    /// None: compared. Some(reason): not compared.
    pub skipped: Option<String>,
    pub engines: Vec<EngineStates>,
    /// Final states some shuttle engine reached and loom did not.
    pub missed: usize,
    /// Every engine reached one and the same final state: the comparison holds trivially and
    /// shows nothing about the engines (reported, not a miss).
    pub single_state: bool,
    /// The first of them, described.
    pub example: Option<String>,
}

impl StateAudit {
    pub fn ok(&self) -> bool {
        self.missed == 0
            && self
                .engines
                .iter()
                .all(|e| e.verdict == "holds" || e.verdict == DFS_UNFAIR)
    }
}

/// shuttle DFS has no fairness: where a CPU waits in a `cpu_relax` loop (a grace period
/// waiting for a reader, a lock spin) it may schedule the waiter forever and stop at shuttle's
/// step limit. That is no counterexample and no engine miss: the schedules it finished still
/// count, the rest is reported as this.
pub const DFS_UNFAIR: &str = "dfs-stopped-at-unfair-spin";

/// The audit of one (rule off, scenario) cell.
#[derive(Serialize, Debug, Clone)]
pub struct RuleAudit {
    pub rule: &'static str,
    pub scenario: &'static str,
    pub loom_caught: bool,
    /// loom's verdict label ("holds" when it did not catch it and ran to its end).
    pub loom_verdict: &'static str,
    pub shuttle_caught: Vec<&'static str>,
    /// Every catch (loom's, then the shuttle engines') was one of the rule's expected
    /// invariants: a catch by another invariant (an unrelated failure) is not the rule's.
    pub expected_catches: bool,
    /// shuttle caught it and unbounded loom did not.
    pub miss: bool,
}

/// The audit of one litmus test: loom with and without reduction.
#[derive(Serialize, Debug, Clone)]
pub struct LitmusAudit {
    pub test: &'static str,
    pub dpor_outcomes: usize,
    pub full_outcomes: usize,
    pub dpor_executions: u64,
    pub full_executions: u64,
    /// Outcomes the full search reached and DPOR did not.
    pub missed: Vec<String>,
}

/// Everything `thpcheck audit` found.
#[derive(Serialize, Debug, Clone, Default)]
pub struct AuditReport {
    pub states: Vec<StateAudit>,
    pub rules: Vec<RuleAudit>,
    pub litmus: Vec<LitmusAudit>,
}

impl AuditReport {
    /// The number of engine misses of every kind.
    pub fn misses(&self) -> usize {
        self.states.iter().filter(|s| !s.ok()).count()
            + self.rules.iter().filter(|r| r.miss).count()
            + self.litmus.iter().filter(|l| !l.missed.is_empty()).count()
    }
}

fn loom_unbounded() -> EngineSpec {
    EngineSpec::Loom {
        preemption_bound: None,
        max_branches: LOOM_MAX_BRANCHES,
    }
}

/// The sequentially consistent engines an audit runs against loom.
pub fn shuttle_engines(b: AuditBudget) -> Vec<EngineSpec> {
    vec![
        EngineSpec::ShuttleRandom {
            seed: RANDOM_SEED,
            iterations: b.iterations,
        },
        EngineSpec::ShuttlePct {
            seed: PCT_SEED,
            depth: PCT_DEPTH,
            iterations: b.iterations,
        },
        EngineSpec::ShuttleDfs {
            max_iterations: Some(b.dfs_cap),
        },
    ]
}

fn describe(s: &FinalState) -> String {
    format!(
        "state {:016x} with outcomes [{}]",
        s.fingerprint,
        s.outcomes.join(", ")
    )
}

/// Audit scenario `s` at loom's size (its `loom_nr`) with every rule on.
pub fn audit_scenario(s: &'static Scenario, b: AuditBudget) -> StateAudit {
    let nr = s.loom_nr;
    if let Some(tb) = s
        .test_loom_bound
        .filter(|_| b.tests_only && s.loom_bound.is_none())
    {
        return StateAudit {
            scenario: s.name,
            nr,
            skipped: Some(format!(
                "the test suite runs its loom search at preemption bound {tb} only (the \
                 unbounded one is too long for the suite); `thpcheck audit` compares it"
            )),
            engines: Vec::new(),
            missed: 0,
            single_state: false,
            example: None,
        };
    }
    if s.loom_bound.is_some() {
        return StateAudit {
            scenario: s.name,
            nr,
            skipped: Some(format!(
                "loom runs it with preemption bound {} (unbounded is too slow), so a state only \
                 shuttle reaches is no engine miss",
                s.loom_bound.unwrap_or_default()
            )),
            engines: Vec::new(),
            missed: 0,
            single_state: false,
            example: None,
        };
    }
    // The default loom run is the unbounded one here: shared with the tests and the docs.
    let (loom_res, loom_states) = crate::scenarios::default_loom_run(s);
    compare_with(s, loom_res, loom_states, b)
}

/// Compare the final states of scenario `s` under `loom` (at the scenario's loom size) with
/// those of the shuttle engines at the same size. [`audit_scenario`] passes unbounded loom;
/// a test passes a bounded one to show that the comparison finds the states it misses.
pub fn compare_states(s: &'static Scenario, loom: EngineSpec, b: AuditBudget) -> StateAudit {
    let (loom_res, loom_states) =
        run_scenario_states(s, &config(loom, RuleSet::all_on()), Some(s.loom_nr));
    compare_with(s, &loom_res, &loom_states, b)
}

fn compare_with(
    s: &'static Scenario,
    loom_res: &ScenarioResult,
    loom_states: &BTreeSet<FinalState>,
    b: AuditBudget,
) -> StateAudit {
    let nr = loom_res.nr;
    let mut engines = Vec::new();
    engines.push(engine_states(&loom_res.run, loom_states.len()));
    let mut missed: BTreeSet<FinalState> = BTreeSet::new();
    for e in shuttle_engines(b) {
        let dfs = matches!(e, EngineSpec::ShuttleDfs { .. });
        let (res, states) = run_scenario_states(s, &config(e, RuleSet::all_on()), Some(nr));
        let mut row = engine_states(&res.run, states.len());
        if dfs
            && res
                .run
                .message()
                .is_some_and(|m| m.contains("exceeded max_steps"))
        {
            row.verdict = DFS_UNFAIR;
        }
        engines.push(row);
        missed.extend(states.difference(loom_states).cloned());
    }
    let single_state = engines.iter().all(|e| e.states <= 1);
    StateAudit {
        scenario: s.name,
        nr,
        skipped: None,
        engines,
        missed: missed.len(),
        single_state,
        example: missed.iter().next().map(describe),
    }
}

fn engine_states(r: &crate::engine::RunResult, states: usize) -> EngineStates {
    EngineStates {
        engine: r.engine.name(),
        bound: r.engine.bound(),
        executions: r.executions,
        states,
        verdict: r.verdict.label(),
    }
}

/// Audit the rule-off cells whose scenario loom runs unbounded: every counterexample shuttle
/// finds, loom must find. Both run at the scenario's loom size.
pub fn audit_rule(r: Rule, s: &'static Scenario, b: AuditBudget) -> RuleAudit {
    compare_rule(r, s, loom_unbounded(), b)
}

/// The rule-off comparison with `loom` as the engine under audit ([`audit_rule`] passes
/// unbounded loom; a test passes a weakened one to show that the comparison can fail).
pub fn compare_rule(r: Rule, s: &'static Scenario, loom: EngineSpec, b: AuditBudget) -> RuleAudit {
    let rules = RuleSet::without(r);
    let expected = r.info().invariants;
    let mut expected_catches = true;
    // (caught, verdict label); a catch whose message names none of the rule's invariants
    // clears `expected_catches`.
    let mut run = |e: EngineSpec| {
        let res = scenarios::run_scenario(s, &config(e, rules.clone()), Some(s.loom_nr));
        let caught = matches!(res.run.verdict, Verdict::Counterexample { .. });
        if caught {
            let m = res.run.message().unwrap_or_default();
            if !expected
                .iter()
                .any(|i| m.starts_with(&format!("[{}]", i.tag())))
            {
                expected_catches = false;
            }
        }
        (caught, res.run.verdict.label())
    };
    let (loom_caught, loom_verdict) = run(loom);
    let shuttle_caught: Vec<&'static str> = shuttle_engines(b)
        .into_iter()
        .filter(|e| !matches!(e, EngineSpec::ShuttleDfs { .. }))
        .filter_map(|e| {
            let name = e.name();
            run(e).0.then_some(name)
        })
        .collect();
    RuleAudit {
        rule: r.info().id,
        scenario: s.name,
        loom_caught,
        loom_verdict,
        miss: !loom_caught && !shuttle_caught.is_empty(),
        shuttle_caught,
        expected_catches,
    }
}

/// Audit litmus test `t`: loom with and without partial-order reduction must reach the same
/// outcomes.
pub fn audit_litmus(t: &'static Litmus) -> LitmusAudit {
    compare_litmus(t, None)
}

/// The litmus comparison with the reduced search run at `preemption_bound` (the reference is
/// always unbounded and unreduced): [`audit_litmus`] passes None; a test passes a bound to show
/// that the comparison can fail.
pub fn compare_litmus(t: &'static Litmus, preemption_bound: Option<usize>) -> LitmusAudit {
    let (dpor, dpor_execs) = litmus::outcomes_under_loom(t, true, preemption_bound);
    let (full, full_execs) = litmus::outcomes_under_loom(t, false, None);
    // Both searches must have run to the end: partial sets prove nothing.
    let incomplete = |o: &Option<BTreeSet<String>>| o.is_none();
    if incomplete(&dpor) || incomplete(&full) {
        return LitmusAudit {
            test: t.name,
            dpor_outcomes: 0,
            full_outcomes: 0,
            dpor_executions: dpor_execs,
            full_executions: full_execs,
            missed: vec!["a search did not hold to its end".to_string()],
        };
    }
    let (dpor, full) = (dpor.unwrap_or_default(), full.unwrap_or_default());
    LitmusAudit {
        test: t.name,
        dpor_outcomes: dpor.len(),
        full_outcomes: full.len(),
        dpor_executions: dpor_execs,
        full_executions: full_execs,
        missed: full.difference(&dpor).cloned().collect(),
    }
}

/// The rule-off cells an audit compares: those whose scenario loom runs unbounded.
pub fn rule_cells() -> anyhow::Result<Vec<(Rule, &'static Scenario)>> {
    Ok(crate::defects::cells()?
        .into_iter()
        .filter(|(_, s)| s.loom_bound.is_none())
        .collect())
}

/// The whole audit (or one shard of it: scenarios, rule cells and litmus tests each sliced)
/// on `jobs` worker threads.
pub fn audit(b: AuditBudget, jobs: usize, shard: Option<Shard>) -> anyhow::Result<AuditReport> {
    let mut report = AuditReport::default();
    let scenarios: Vec<&'static Scenario> =
        Shard::select(shard, &SCENARIOS.iter().collect::<Vec<_>>());
    collect(
        &scenarios,
        jobs,
        |s| audit_scenario(s, b),
        &mut report.states,
    );
    let cells = Shard::select(shard, &rule_cells()?);
    collect(
        &cells,
        jobs,
        |(r, s)| audit_rule(*r, s, b),
        &mut report.rules,
    );
    let tests: Vec<&'static Litmus> =
        Shard::select(shard, &litmus::LITMUS.iter().collect::<Vec<_>>());
    collect(&tests, jobs, |t| audit_litmus(t), &mut report.litmus);
    Ok(report)
}

fn collect<I: Sync, O: Send>(
    items: &[I],
    jobs: usize,
    f: impl Fn(&I) -> O + Sync,
    out: &mut Vec<O>,
) {
    run_ordered::<_, _, std::convert::Infallible>(items, jobs, f, |o| {
        out.push(o);
        Ok(())
    })
    .unwrap_or_else(|never| match never {});
}

/// A budget from the command line's iteration count.
pub fn budget(iterations: Option<usize>, dfs_cap: Option<usize>) -> AuditBudget {
    AuditBudget {
        iterations: iterations.unwrap_or(DEFAULT_BUDGET.iterations),
        dfs_cap: dfs_cap.unwrap_or(DEFAULT_BUDGET.dfs_cap),
        tests_only: false,
    }
}
