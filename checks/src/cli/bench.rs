//! `thpcheck bench`: the speed budgets.

use anyhow::Result;

use crate::status::Status;

pub(super) fn run(json: bool, trace_only: bool, overhead_only: bool) -> Result<Status> {
    if overhead_only {
        let t = crate::bench::trace_overhead(&crate::bench::TRACE_OVERHEAD_SCENARIOS);
        let b = crate::bench::bare_overhead(&crate::bench::BARE_OVERHEAD_SCENARIOS);
        let j = crate::bench::jobs_speedup();
        if json {
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "trace_overhead": t, "bare_overhead": b, "jobs_speedup": j
                }))?
            );
        } else {
            print_trace_overhead(&t);
            println!();
            print_bare_overhead(&b);
            println!();
            print_jobs_speedup(&j);
        }
        return Ok(Status::Holds);
    }
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
        println!();
        print_bare_overhead(&b.bare_overhead);
        println!();
        print_jobs_speedup(&b.jobs_speedup);
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

fn print_bare_overhead(b: &[crate::bare::BareOverhead]) {
    println!(
        "{:<36} {:<12} {:>5} {:>6} {:>10} {:>9} {:>10} {:>9} {:>10} {:>10} {:>7}",
        "model vs bare program",
        "engine",
        "cpus",
        "ops",
        "model exec",
        "secs",
        "bare exec",
        "secs",
        "model us/x",
        "bare us/x",
        "ratio"
    );
    for r in b {
        println!(
            "{:<36} {:<12} {:>5} {:>6} {:>10} {:>9.3} {:>10} {:>9.3} {:>10.1} {:>10.1} {:>7.2}",
            r.scenario,
            r.engine,
            r.cpus,
            r.ops,
            r.model_executions,
            r.model_secs,
            r.bare_executions,
            r.bare_secs,
            r.model_us_per_execution,
            r.bare_us_per_execution,
            r.ratio
        );
    }
}

fn print_jobs_speedup(j: &crate::bench::JobsSpeedup) {
    println!(
        "--jobs speed-up on {} (loom, default bounds): {:.2} s with 1 job, {:.2} s with 2: {:.2}x{}",
        j.scenarios.join(", "),
        j.secs_jobs_1,
        j.secs_jobs_2,
        j.speedup,
        if j.same_output {
            ""
        } else {
            " (OUTPUT DIFFERS)"
        }
    );
}
