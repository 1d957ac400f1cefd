//! `thpcheck bench`: the speed budgets.

use anyhow::Result;

use crate::status::Status;

pub(super) fn run(json: bool) -> Result<Status> {
    let b = crate::bench::bench()?;
    let status = Status::failed_unless(b.ok());
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"bench": b, "exit_code": status.exit_code()})
            )?
        );
    } else {
        println!(
            "{:<42} {:<12} {:<38} {:>10} {:>8} {:>12}",
            "scenario", "engine", "bound", "executions", "secs", "exec/s"
        );
        for s in &b.scenarios {
            println!(
                "{:<42} {:<12} {:<38} {:>10} {:>8.3} {:>12.0}{}",
                s.scenario,
                s.engine,
                s.bound,
                s.executions,
                s.secs,
                s.executions_per_sec,
                if s.within_budget { "" } else { "  OVER BUDGET" }
            );
        }
        println!();
        println!(
            "{:<38} {:<12} {:<40} {:>8}  (budget {} s)",
            "rule",
            "fastest",
            "scenario",
            "secs",
            crate::bench::RULE_BUDGET_SECS
        );
        for r in &b.rules {
            println!(
                "{:<38} {:<12} {:<40} {:>8.3}{}",
                r.rule,
                r.fastest_engine,
                r.scenario,
                r.secs,
                if r.within_budget { "" } else { "  OVER BUDGET" }
            );
        }
        println!(
            "\ntotal {:.1} s; budgets {}",
            b.total_secs,
            if status == Status::Holds {
                "met"
            } else {
                "MISSED"
            }
        );
    }
    Ok(status)
}
