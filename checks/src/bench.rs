//! `thpcheck bench`: the speed budgets of the catalogue, measured (not asserted by timed
//! tests, which would flake on a slow machine). Each scenario runs at its default bounds under
//! loom and shuttle PCT; each rule of the matrix is timed to its first counterexample under
//! the fastest engine that caught it. A budget missed is reported and makes the exit code 1.

use anyhow::Result;
use serde::Serialize;
use std::time::Instant;
use thp_model::rules::RuleSet;

use crate::bounds::PCT as DOC_PCT;
use crate::scenarios::{config, default_loom, run_scenario, SCENARIOS};

/// Budgets (issue "Prove it"): a rule-off counterexample within this many seconds by its
/// fastest engine, and every default scenario run within this many seconds.
pub const RULE_BUDGET_SECS: f64 = 10.0;
pub const SCENARIO_BUDGET_SECS: f64 = 60.0;

#[derive(Serialize, Debug, Clone)]
pub struct ScenarioBench {
    pub scenario: &'static str,
    pub engine: &'static str,
    pub bound: String,
    pub executions: u64,
    pub secs: f64,
    pub executions_per_sec: f64,
    pub within_budget: bool,
}

#[derive(Serialize, Debug, Clone)]
pub struct RuleBench {
    pub rule: &'static str,
    pub fastest_engine: String,
    pub scenario: &'static str,
    pub secs: f64,
    pub within_budget: bool,
}

/// What recording the trace costs: one scenario's default loom run with the trace recorded
/// (as every check does) and without.
#[derive(Serialize, Debug, Clone)]
pub struct TraceOverhead {
    pub scenario: &'static str,
    pub executions: u64,
    pub secs_with_trace: f64,
    pub secs_without_trace: f64,
    /// `secs_with_trace / secs_without_trace`.
    pub ratio: f64,
}

/// The scenarios whose trace overhead `bench` measures: long loom runs whose executions go
/// through the traced lockless reads (compound_head, PMD) of scanners and walkers.
pub const TRACE_OVERHEAD_SCENARIOS: [&str; 3] = [
    "folio-split-vs-migration-wait",
    "folio-split-vs-pfn-walker",
    "split-pmd-vs-gup-fast",
];

#[derive(Serialize, Debug, Clone)]
pub struct Bench {
    pub scenarios: Vec<ScenarioBench>,
    pub rules: Vec<RuleBench>,
    pub trace_overhead: Vec<TraceOverhead>,
    pub bare_overhead: Vec<crate::bare::BareOverhead>,
    pub jobs_speedup: JobsSpeedup,
    pub total_secs: f64,
}

/// The scenarios whose model overhead `bench` measures against a bare program
/// ([`crate::bare`]): the trace-overhead ones.
pub const BARE_OVERHEAD_SCENARIOS: [&str; 3] = TRACE_OVERHEAD_SCENARIOS;

/// Measure [`crate::bare::BareOverhead`] for `names`, under each one's default loom bound and
/// shuttle PCT.
pub fn bare_overhead(names: &[&str]) -> Vec<crate::bare::BareOverhead> {
    let mut out = Vec::new();
    for n in names {
        let Some(s) = crate::scenarios::find(n) else {
            continue;
        };
        for e in [default_loom(s), DOC_PCT] {
            out.extend(crate::bare::overhead(s, e));
        }
    }
    out
}

/// What `--jobs 2` gains over `--jobs 1` on a set of loom runs, run as `check` runs them
/// (longest first, output in order).
#[derive(Serialize, Debug, Clone)]
pub struct JobsSpeedup {
    pub scenarios: Vec<&'static str>,
    pub secs_jobs_1: f64,
    pub secs_jobs_2: f64,
    /// `secs_jobs_1 / secs_jobs_2`.
    pub speedup: f64,
    /// Both runs printed the same verdicts and execution counts, in the same order.
    pub same_output: bool,
}

/// The loom runs [`jobs_speedup`] times: four default-bound scenarios of 80,000 to 140,000
/// executions each (the longest, a million or more, would make `bench` as long as
/// `check --all`, whose speed-up docs/performance.md reports).
pub const JOBS_SPEEDUP_SCENARIOS: [&str; 4] = [
    "folio-split-vs-migration-wait",
    "pmd-install-vs-dontneed-reclaim",
    "hvo-optimize-vs-neighbour-split",
    "thp-migration-retry-vs-scanner",
];

/// Run [`JOBS_SPEEDUP_SCENARIOS`] at their default loom bounds with 1 and 2 jobs.
pub fn jobs_speedup() -> JobsSpeedup {
    let names: Vec<&'static str> = JOBS_SPEEDUP_SCENARIOS
        .iter()
        .copied()
        .filter(|n| crate::scenarios::find(n).is_some())
        .collect();
    let run = |jobs: usize| {
        let t = Instant::now();
        let mut out = Vec::new();
        let _ = crate::parallel::run_ordered(
            &names,
            jobs,
            |n| {
                let s = crate::scenarios::find(n).expect("filtered above");
                let r = run_scenario(s, &config(default_loom(s), RuleSet::all_on()), None);
                (s.name, r.run.executions, r.run.verdict.label())
            },
            |r| {
                out.push(r);
                Ok::<(), ()>(())
            },
        );
        (t.elapsed().as_secs_f64(), out)
    };
    let (a, oa) = run(1);
    let (b, ob) = run(2);
    JobsSpeedup {
        scenarios: names,
        secs_jobs_1: a,
        secs_jobs_2: b,
        speedup: a / b.max(1e-9),
        same_output: oa == ob,
    }
}

/// Measure [`TraceOverhead`] for `names`.
pub fn trace_overhead(names: &[&str]) -> Vec<TraceOverhead> {
    let mut out = Vec::new();
    for n in names {
        let Some(s) = crate::scenarios::find(n) else {
            continue;
        };
        let mut cfg = config(default_loom(s), RuleSet::all_on());
        cfg.trace = crate::engine::Tracing::Every;
        let with = run_scenario(s, &cfg, None);
        cfg.trace = crate::engine::Tracing::Off;
        let without = run_scenario(s, &cfg, None);
        let (a, b) = (with.run.wall.as_secs_f64(), without.run.wall.as_secs_f64());
        out.push(TraceOverhead {
            scenario: s.name,
            executions: with.run.executions,
            secs_with_trace: a,
            secs_without_trace: b,
            ratio: a / b.max(1e-9),
        });
    }
    out
}

/// Run the benchmark.
pub fn bench() -> Result<Bench> {
    let t0 = Instant::now();
    let mut scenarios = Vec::new();
    for s in SCENARIOS {
        for e in [default_loom(s), DOC_PCT] {
            let r = run_scenario(s, &config(e.clone(), RuleSet::all_on()), None);
            let secs = r.run.wall.as_secs_f64();
            scenarios.push(ScenarioBench {
                scenario: s.name,
                engine: e.name(),
                bound: e.bound(),
                executions: r.run.executions,
                secs,
                executions_per_sec: r.run.executions as f64 / secs.max(1e-9),
                within_budget: secs <= SCENARIO_BUDGET_SECS,
            });
        }
    }
    let mut rules: Vec<RuleBench> = Vec::new();
    for row in crate::defects::matrix()? {
        if !row.caught {
            continue;
        }
        match rules.iter_mut().find(|r| r.rule == row.rule) {
            Some(r) if r.secs <= row.secs => {}
            Some(r) => {
                r.fastest_engine = row.engine.to_string();
                r.scenario = row.scenario;
                r.secs = row.secs;
                r.within_budget = row.secs <= RULE_BUDGET_SECS;
            }
            None => rules.push(RuleBench {
                rule: row.rule,
                fastest_engine: row.engine.to_string(),
                scenario: row.scenario,
                secs: row.secs,
                within_budget: row.secs <= RULE_BUDGET_SECS,
            }),
        }
    }
    let trace_overhead = trace_overhead(&TRACE_OVERHEAD_SCENARIOS);
    let bare_overhead = bare_overhead(&BARE_OVERHEAD_SCENARIOS);
    let jobs_speedup = jobs_speedup();
    Ok(Bench {
        scenarios,
        rules,
        trace_overhead,
        bare_overhead,
        jobs_speedup,
        total_secs: t0.elapsed().as_secs_f64(),
    })
}

impl Bench {
    /// Every budget met (and every rule caught at all: a rule missing from `rules` was not).
    pub fn ok(&self) -> bool {
        self.scenarios.iter().all(|s| s.within_budget)
            && self.rules.iter().all(|r| r.within_budget)
            && self.rules.len() == thp_model::rules::Rule::ALL.len()
    }
}
