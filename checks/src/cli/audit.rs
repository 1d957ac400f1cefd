//! `thpcheck audit`: the engines check each other.

use anyhow::Result;

use crate::parallel::Shard;
use crate::status::Status;

pub(super) fn run(
    json: bool,
    iterations: Option<usize>,
    dfs_cap: Option<usize>,
    jobs: usize,
    shard: Option<Shard>,
) -> Result<Status> {
    let budget = crate::audit::budget(iterations, dfs_cap);
    let report = crate::audit::audit(budget, jobs, shard)?;
    let misses = report.misses();
    let status = Status::failed_unless(misses == 0);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "budget": budget, "audit": report, "misses": misses,
                "shard": shard, "exit_code": status.exit_code()
            }))?
        );
    } else {
        print_audit(&report, budget);
    }
    Ok(status)
}

fn print_audit(r: &crate::audit::AuditReport, b: crate::audit::AuditBudget) {
    println!(
        "final states (every rule on; loom unbounded vs shuttle random/PCT {} iterations, DFS cap {})",
        b.iterations, b.dfs_cap
    );
    println!(
        "{:<44} {:>3} {:>26} {:>26} {:>26} {:>26}  result",
        "scenario", "nr", "loom", "shuttle-random", "shuttle-pct", "shuttle-dfs"
    );
    for s in &r.states {
        if let Some(why) = &s.skipped {
            println!("{:<44} {:>3}  not compared: {why}", s.scenario, s.nr);
            continue;
        }
        let cols: Vec<String> = s
            .engines
            .iter()
            .map(|e| {
                let stop = if e.verdict == crate::audit::DFS_UNFAIR {
                    " (unfair)"
                } else {
                    ""
                };
                format!("{} st / {} ex{stop}", e.states, e.executions)
            })
            .collect();
        let result = if s.ok() {
            "agree".to_string()
        } else if s.missed > 0 {
            format!(
                "ENGINE MISS: {} state(s) loom never reached, e.g. {}",
                s.missed,
                s.example.as_deref().unwrap_or("")
            )
        } else {
            let bad: Vec<String> = s
                .engines
                .iter()
                .filter(|e| e.verdict != "holds")
                .map(|e| format!("{} {}", e.engine, e.verdict))
                .collect();
            format!("NOT HOLDING: {}", bad.join(", "))
        };
        println!(
            "{:<44} {:>3} {:>26} {:>26} {:>26} {:>26}  {result}",
            s.scenario,
            s.nr,
            cols.first().map(String::as_str).unwrap_or(""),
            cols.get(1).map(String::as_str).unwrap_or(""),
            cols.get(2).map(String::as_str).unwrap_or(""),
            cols.get(3).map(String::as_str).unwrap_or("")
        );
    }
    println!(
        "
rules off (scenarios loom runs unbounded)"
    );
    println!(
        "{:<38} {:<44} {:>6} {:<28} result",
        "rule", "scenario", "loom", "shuttle"
    );
    for c in &r.rules {
        println!(
            "{:<38} {:<44} {:>6} {:<28} {}",
            c.rule,
            c.scenario,
            if c.loom_caught { "caught" } else { "-" },
            c.shuttle_caught.join(","),
            if c.miss { "ENGINE MISS" } else { "agree" }
        );
    }
    println!(
        "
litmus tests (loom with and without partial-order reduction)"
    );
    println!(
        "{:<32} {:>22} {:>22}  result",
        "test", "dpor", "no reduction"
    );
    for l in &r.litmus {
        println!(
            "{:<32} {:>22} {:>22}  {}",
            l.test,
            format!("{} out / {} ex", l.dpor_outcomes, l.dpor_executions),
            format!("{} out / {} ex", l.full_outcomes, l.full_executions),
            if l.missed.is_empty() {
                "agree".to_string()
            } else {
                format!("ENGINE MISS: {:?}", l.missed)
            }
        );
    }
    println!(
        "
{} engine miss(es)",
        r.misses()
    );
}
