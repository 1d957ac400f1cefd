//! The rule-off matrix: every rule of the catalogue switched off in turn, run in the scenarios
//! that must catch it, under loom (the scenario's default bound) and shuttle PCT. A failure
//! counts only when its message names one of the rule's expected invariants. Used by
//! `thpcheck defects` and by the catalogue test.

use anyhow::{Context, Result};
use serde::Serialize;
use thp_model::rules::{CatchingEngine, Rule, RuleSet};

use crate::engine::EngineSpec;
use crate::scenarios::{config, default_loom, find, run_scenario};

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
}

impl DefectRow {
    /// Caught, or not required to be.
    pub fn ok(&self) -> bool {
        self.caught || !self.must_catch
    }
}

/// Run the whole matrix.
pub fn matrix() -> Result<Vec<DefectRow>> {
    let mut rows = Vec::new();
    for r in Rule::ALL {
        let info = r.info();
        for name in info.scenarios {
            let s = find(name)
                .with_context(|| format!("rule {} names unknown scenario {name}", info.id))?;
            for e in [default_loom(s), crate::docs::DOC_PCT] {
                let res = run_scenario(s, &config(e.clone(), RuleSet::without(*r)), None);
                let message = res
                    .run
                    .message()
                    .unwrap_or("")
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string();
                let caught = info.invariants.iter().any(|i| i.matches(&message));
                let must_catch =
                    matches!(e, EngineSpec::Loom { .. }) || info.engine == CatchingEngine::Any;
                rows.push(DefectRow {
                    rule: info.id,
                    scenario: name,
                    engine: e.name(),
                    bound: e.bound(),
                    must_catch,
                    caught,
                    executions: res.run.executions,
                    secs: res.run.wall.as_secs_f64(),
                    message,
                });
            }
        }
    }
    Ok(rows)
}
