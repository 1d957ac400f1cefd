//! `thpcheck bench`: the speed budgets.

use anyhow::Result;

use crate::status::Status;

pub(super) fn run(json: bool, trace_only: bool) -> Result<Status> {
    if trace_only {
        let t = crate::bench::trace_overhead(&crate::bench::TRACE_OVERHEAD_SCENARIOS);
        if json {
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({"trace_overhead": t}))?
            );
        } else {
            print_trace_overhead(&t);
        }
        return Ok(Status::Holds);
    }
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
        println!();
        print_trace_overhead(&b.trace_overhead);
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

fn print_trace_overhead(t: &[crate::bench::TraceOverhead]) {
    println!(
        "{:<42} {:>10} {:>12} {:>15} {:>7}",
        "trace overhead (loom, default bound)",
        "executions",
        "secs traced",
        "secs untraced",
        "ratio"
    );
    for t in t {
        println!(
            "{:<42} {:>10} {:>12.3} {:>15.3} {:>7.3}",
            t.scenario, t.executions, t.secs_with_trace, t.secs_without_trace, t.ratio
        );
    }
}
