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
    /// `--minimize`: the sizes of the first and the smallest counterexample found.
    pub minimized: Option<crate::minimize::MinInfo>,
    /// The counterexample as a verdict-table row (trace, steps, replay token), for `--html`.
    #[serde(skip)]
    pub counterexample: Option<crate::cli::Row>,
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
    matrix_minimized(jobs, shard, false)
}

/// [`matrix_with`]; with `minimize`, every counterexample is followed by a search for a smaller
/// one ([`crate::minimize`]) and the row records the sizes.
pub fn matrix_minimized(
    jobs: usize,
    shard: Option<Shard>,
    minimize: bool,
) -> Result<Vec<DefectRow>> {
    let runs: Vec<(Rule, &'static Scenario, EngineSpec)> = Shard::select(shard, &cells()?)
        .into_iter()
        .flat_map(|(r, s)| [default_loom(s), DOC_PCT].map(|e| (r, s, e)))
        .collect();
    let mut rows = Vec::with_capacity(runs.len());
    let line = crate::progress::Line::start(runs.len());
    run_ordered::<_, _, std::convert::Infallible>(
        &runs,
        jobs,
        |(r, s, e)| {
            let _running =
                crate::progress::running(format!("{} --break {} {}", s.name, r.id(), e.name()));
            let mut row = run_cell(*r, s, e);
            if minimize {
                minimize_cell(&mut row, *r, s, e);
            }
            line.inc();
            row
        },
        |row| {
            rows.push(row);
            Ok(())
        },
    )
    .unwrap_or_else(|never| match never {});
    Ok(rows)
}

/// Search for a smaller counterexample of a caught cell; record the sizes and keep the smaller
/// story for `--html`.
fn minimize_cell(row: &mut DefectRow, r: Rule, s: &'static Scenario, e: &EngineSpec) {
    if !row.caught {
        return;
    }
    let Some(first) = row.counterexample.as_ref() else {
        return;
    };
    let extra = crate::cli::Extra {
        rules: vec![r],
        ..Default::default()
    };
    if let Some(m) = crate::minimize::minimize(s.name, e, &extra, first) {
        row.minimized = Some(m.info);
        row.counterexample = Some(m.row);
    }
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
    let counterexample = (!message.is_empty()).then(|| {
        crate::cli::Row::new(
            s.name,
            &res.run,
            format!("{} nr={}", e.bound(), res.nr),
            (
                crate::status::Status::Counterexample,
                res.run.message().map(str::to_string),
            ),
            crate::cli::Token {
                scenario: s.name.to_string(),
                arch: None,
                config: Default::default(),
                rules: vec![info.id.to_string()],
                subpages: Some(res.nr),
                schedule: String::new(),
            },
            Vec::new(),
        )
    });
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
        minimized: None,
        counterexample,
    }
}
