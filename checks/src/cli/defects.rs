//! `thpcheck defects`: the rule-off matrix.

use anyhow::Result;

use crate::parallel::Shard;
use crate::status::Status;

pub(super) fn run(
    json: bool,
    jobs: usize,
    shard: Option<Shard>,
    html: Option<std::path::PathBuf>,
    minimize: bool,
) -> Result<Status> {
    let rows = crate::defects::matrix_minimized(jobs, shard, minimize)?;
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
    if minimize && !json {
        let m: Vec<&crate::minimize::MinInfo> = rows
            .iter()
            .filter_map(|r| r.minimized.as_ref())
            .filter(|m| m.searched)
            .collect();
        if !m.is_empty() {
            let avg = |f: &dyn Fn(&crate::minimize::MinInfo) -> usize| {
                m.iter().map(|i| f(i) as f64).sum::<f64>() / m.len() as f64
            };
            let (s0, s1) = (avg(&|i| i.first.steps), avg(&|i| i.smallest.steps));
            let (c0, c1) = (avg(&|i| i.first.switches), avg(&|i| i.smallest.switches));
            let smaller = m.iter().filter(|i| i.smallest < i.first).count();
            println!(
                "\nsearched for smaller counterexamples after {} catches ({smaller} made smaller): steps {s0:.1} -> {s1:.1} on average ({:.1}% shorter), context switches {c0:.1} -> {c1:.1}",
                m.len(),
                100.0 * (s0 - s1) / s0.max(1.0)
            );
        }
    }
    if let Some(p) = &html {
        let pages: Vec<&super::Row> = rows
            .iter()
            .filter_map(|r| r.counterexample.as_ref())
            .collect();
        super::write_html(p, &pages)?;
    }
    Ok(status)
}
