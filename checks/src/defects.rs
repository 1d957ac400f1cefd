//! The rule-off matrix: every rule of the catalogue switched off in turn, run in the scenarios
//! that must catch it, under loom (the scenario's default bound) and shuttle PCT. A failure
//! counts only when its message names one of the rule's expected invariants and it was not
//! raised behind the rule's own switch ([`crate::own_switch`]). Used by
//! `thpcheck defects` (optionally on several threads, or one shard of the cells) and by the
//! catalogue test.

use anyhow::Result;
use serde::Serialize;
use thp_model::rules::{CatchingEngine, Rule, RuleSet};

use crate::bounds::PCT as DOC_PCT;
use crate::engine::EngineSpec;
use crate::parallel::{run_ordered, Shard};
use crate::scenarios::catching::catching;
use crate::scenarios::{config, default_loom, run_scenario, Scenario};

/// One (rule, scenario, engine) cell.
#[derive(Serialize, Debug, Clone)]
pub struct DefectRow {
    pub rule: &'static str,
    pub scenario: &'static str,
    pub engine: &'static str,
    pub bound: String,
    /// Must this engine catch it? (loom always; shuttle only for schedule-level rules.)
    pub must_catch: bool,
    pub caught: bool,
    pub executions: u64,
    pub secs: f64,
    pub message: String,
    /// Where the catching violation was raised (`file:line`); empty if not caught.
    pub site: String,
    /// The catch is only an assertion behind this rule's own switch (see
    /// [`crate::own_switch`]): it does not count.
    pub own_switch: bool,
}

impl DefectRow {
    /// Caught, or not required to be.
    pub fn ok(&self) -> bool {
        self.caught || !self.must_catch
    }
}

/// Run the whole matrix, serially.
pub fn matrix() -> Result<Vec<DefectRow>> {
    matrix_with(1, None)
}

/// The (rule, scenario) cells of the matrix in catalogue order: rules in `Rule::ALL` order,
/// each with the scenarios that must catch it (`scenarios::catching`). Each cell runs under two engines; `--shard` slices cells.
pub fn cells() -> Result<Vec<(Rule, &'static Scenario)>> {
    let mut cells = Vec::new();
    for r in Rule::ALL {
        for s in catching(*r) {
            cells.push((*r, s));
        }
    }
    Ok(cells)
}

/// The matrix, or only the cells of `shard`, with its (rule, scenario, engine) runs on `jobs`
/// worker threads; the rows come in catalogue order whatever `jobs` is.
pub fn matrix_with(jobs: usize, shard: Option<Shard>) -> Result<Vec<DefectRow>> {
    let runs: Vec<(Rule, &'static Scenario, EngineSpec)> = Shard::select(shard, &cells()?)
        .into_iter()
        .flat_map(|(r, s)| [default_loom(s), DOC_PCT].map(|e| (r, s, e)))
        .collect();
    let mut rows = Vec::with_capacity(runs.len());
    run_ordered::<_, _, std::convert::Infallible>(
        &runs,
        jobs,
        |(r, s, e)| run_cell(*r, s, e),
        |row| {
            rows.push(row);
            Ok(())
        },
    )
    .unwrap_or_else(|never| match never {});
    Ok(rows)
}

/// Run scenario `s` with rule `r` off under engine `e`.
fn run_cell(r: Rule, s: &'static Scenario, e: &EngineSpec) -> DefectRow {
    let info = r.info();
    let res = run_scenario(s, &config(e.clone(), RuleSet::without(r)), None);
    let message = res
        .run
        .message()
        .unwrap_or("")
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    let site = res.run.site().unwrap_or("").to_string();
    let own_switch = crate::own_switch::catch_is_behind_own_switch(&site, r).unwrap_or(false);
    let caught = info.invariants.iter().any(|i| i.matches(&message)) && !own_switch;
    let must_catch = matches!(e, EngineSpec::Loom { .. }) || info.engine == CatchingEngine::Any;
    DefectRow {
        rule: info.id,
        scenario: s.name,
        engine: e.name(),
        bound: e.bound(),
        must_catch,
        caught,
        executions: res.run.executions,
        secs: res.run.wall.as_secs_f64(),
        message,
        site,
        own_switch,
    }
}
