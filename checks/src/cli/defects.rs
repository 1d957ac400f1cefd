//! `thpcheck defects`: the rule-off matrix.

use anyhow::Result;

use crate::parallel::Shard;
use crate::status::Status;

pub(super) fn run(json: bool, jobs: usize, shard: Option<Shard>) -> Result<Status> {
    let rows = crate::defects::matrix_with(jobs, shard)?;
    let status = Status::failed_unless(rows.iter().all(|r| r.ok()));
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"defects": rows, "shard": shard, "exit_code": status.exit_code()})
            )?
        );
    } else {
        if let Some(s) = shard {
            let cells = crate::defects::cells()?;
            println!(
                "shard {s}: {} of {} (rule, scenario) cells (round-robin in catalogue order)",
                Shard::select(Some(s), &cells).len(),
                cells.len()
            );
        }
        println!(
            "{:<38} {:<30} {:<12} {:>10} {:>8}  result",
            "rule", "scenario", "engine", "executions", "secs"
        );
        for r in &rows {
            let result = match (r.caught, r.must_catch) {
                (true, _) => format!(
                    "caught: {}",
                    r.message
                        .split(']')
                        .next()
                        .unwrap_or("")
                        .trim_start_matches('[')
                ),
                (false, true) => format!("NOT CAUGHT: {}", r.message),
                (false, false) => "not caught (expected: barrier rule, shuttle is SC)".to_string(),
            };
            println!(
                "{:<38} {:<30} {:<12} {:>10} {:>8.3}  {result}",
                r.rule, r.scenario, r.engine, r.executions, r.secs
            );
        }
    }
    Ok(status)
}
