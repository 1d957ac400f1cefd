//! The `thpcheck` command line: argument parsing, the verdict table, JSON output, replay.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use serde::Serialize;

use crate::engine::{decode_schedule, EngineSpec, RunConfig, Verdict, LOOM_MAX_BRANCHES};
use crate::litmus::{self, LITMUS};

/// Exhaustive and randomized checks of the Linux THP locking protocol model.
#[derive(Parser, Debug)]
#[command(name = "thpcheck", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List the scenarios (and what each expects) and the locking rules.
    List {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Run scenarios under one or more engines and print the verdict table.
    Check(CheckArgs),
    /// Re-run one recorded shuttle schedule (a token printed with a counterexample).
    Replay {
        /// The token, `thp1:<scenario>:<schedule>`.
        token: String,
    },
}

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// Scenario names (see `thpcheck list`).
    pub names: Vec<String>,
    /// Run every scenario.
    #[arg(long)]
    pub all: bool,
    /// Engine(s); repeat for several. Default: loom and shuttle-pct.
    #[arg(long, value_enum)]
    pub engine: Vec<EngineArg>,
    /// loom preemption bound: a number, or `none` for unbounded (default: none).
    #[arg(long, value_parser = parse_bound)]
    pub preemption_bound: Option<Bound>,
    /// Iterations for shuttle-random / shuttle-pct / stress, or the cap for shuttle-dfs.
    #[arg(long, value_parser = parse_positive)]
    pub iterations: Option<usize>,
    /// Seed for shuttle-random / shuttle-pct.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// PCT depth.
    #[arg(long, default_value_t = 3, value_parser = parse_positive)]
    pub depth: usize,
    /// Stop a run after this many seconds (it is then reported incomplete).
    #[arg(long, value_parser = parse_positive)]
    pub time_budget: Option<usize>,
    /// Machine-readable output (one JSON document).
    #[arg(long)]
    pub json: bool,
}

/// The engines, as on the command line.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineArg {
    Loom,
    ShuttleRandom,
    ShuttlePct,
    ShuttleDfs,
    Stress,
}

/// A loom preemption bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    Unbounded,
    At(usize),
}

fn parse_bound(s: &str) -> Result<Bound, String> {
    if s == "none" {
        return Ok(Bound::Unbounded);
    }
    match s.parse::<usize>() {
        Ok(n) if n <= 10 => Ok(Bound::At(n)),
        Ok(n) => Err(format!(
            "preemption bound {n} is impossible to explore (at most 10, or none)"
        )),
        Err(_) => Err(format!("'{s}' is not a number or 'none'")),
    }
}

fn parse_positive(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{s}' is not a positive number")),
    }
}

/// Squash a multi-line error (clap's usage block, anyhow's chain) into one line.
pub fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with("Usage:") && !l.starts_with("For more information")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// One row of the verdict table.
#[derive(Serialize, Debug, Clone)]
pub struct Row {
    pub scenario: String,
    pub engine: String,
    pub bound: String,
    pub executions: u64,
    pub secs: f64,
    pub verdict: String,
    pub message: Option<String>,
    pub trace: Vec<String>,
    pub replay: Option<String>,
    pub observed: Vec<String>,
}

fn engine_spec(e: EngineArg, a: &CheckArgs) -> EngineSpec {
    match e {
        EngineArg::Loom => EngineSpec::Loom {
            preemption_bound: match a.preemption_bound {
                Some(Bound::At(n)) => Some(n),
                _ => None,
            },
            max_branches: LOOM_MAX_BRANCHES,
        },
        EngineArg::ShuttleRandom => EngineSpec::ShuttleRandom {
            seed: a.seed,
            iterations: a.iterations.unwrap_or(1000),
        },
        EngineArg::ShuttlePct => EngineSpec::ShuttlePct {
            seed: a.seed,
            depth: a.depth,
            iterations: a.iterations.unwrap_or(1000),
        },
        EngineArg::ShuttleDfs => EngineSpec::ShuttleDfs {
            max_iterations: a.iterations,
        },
        EngineArg::Stress => EngineSpec::Stress {
            iterations: a.iterations.unwrap_or(1000),
        },
    }
}

/// Every scenario name, in catalogue order.
pub fn scenario_names() -> Vec<&'static str> {
    LITMUS.iter().map(|l| l.name).collect()
}

fn resolve(name: &str) -> Result<&'static litmus::Litmus> {
    match litmus::find(name) {
        Some(l) => Ok(l),
        None => bail!(
            "unknown scenario '{name}' (available: {})",
            scenario_names().join(", ")
        ),
    }
}

/// Run one scenario under one engine and make a row.
pub fn check_one(name: &str, spec: EngineSpec, budget: Option<Duration>) -> Result<(Row, u8)> {
    let l = resolve(name)?;
    let mut cfg = RunConfig::new(spec);
    cfg.time_budget = budget;
    let r = litmus::run_litmus(l, &cfg);
    let (verdict, code, message) = match (&r.run.verdict, &r.agrees) {
        (Verdict::Incomplete { reason }, _) => ("incomplete".to_string(), 3, Some(reason.clone())),
        (_, Ok(())) => ("holds".to_string(), 0, None),
        (Verdict::Counterexample { message, .. }, _) => {
            ("counterexample".to_string(), 1, Some(message.clone()))
        }
        (Verdict::Holds, Err(m)) => ("disagrees".to_string(), 1, Some(m.clone())),
    };
    let (trace, replay) = match &r.run.verdict {
        Verdict::Counterexample {
            trace, schedule, ..
        } => (
            trace.iter().map(|e| e.to_string()).collect(),
            schedule.as_ref().map(|s| format!("thp1:{name}:{s}")),
        ),
        _ => (Vec::new(), None),
    };
    let row = Row {
        scenario: name.to_string(),
        engine: r.run.engine.name().to_string(),
        bound: r.run.engine.bound(),
        executions: r.run.executions,
        secs: r.run.wall.as_secs_f64(),
        verdict,
        message,
        trace,
        replay,
        observed: r.observed.iter().cloned().collect(),
    };
    Ok((row, code))
}

fn print_table(rows: &[Row]) {
    println!(
        "{:<40} {:<15} {:<38} {:>10} {:>9}  verdict",
        "scenario", "engine", "bound", "executions", "secs"
    );
    for r in rows {
        println!(
            "{:<40} {:<15} {:<38} {:>10} {:>9.3}  {}",
            r.scenario, r.engine, r.bound, r.executions, r.secs, r.verdict
        );
    }
    for r in rows.iter().filter(|r| r.message.is_some()) {
        println!();
        println!(
            "== {} under {} ({}): {}",
            r.scenario, r.engine, r.bound, r.verdict
        );
        if let Some(m) = &r.message {
            println!("{m}");
        }
        if !r.trace.is_empty() {
            println!("trace of the failing execution:");
            for t in &r.trace {
                println!("  {t}");
            }
        }
        if let Some(t) = &r.replay {
            println!("replay: thpcheck replay '{t}'");
        }
    }
}

/// Run the parsed command; returns the exit code.
pub fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::List { json } => {
            if json {
                let v: Vec<_> = LITMUS
                    .iter()
                    .map(|l| {
                        serde_json::json!({
                            "name": l.name, "kind": "litmus", "description": l.description,
                            "target": l.target, "lkmm": format!("{:?}", l.lkmm).to_lowercase(),
                            "loom_reaches": l.loom_reaches,
                        })
                    })
                    .collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({"scenarios": v, "rules": []})
                    )?
                );
            } else {
                println!("scenarios:");
                for l in LITMUS {
                    println!(
                        "  {:<36} {} [target {}: LKMM {:?}]",
                        l.name, l.description, l.target, l.lkmm
                    );
                }
                println!("rules: (none yet: the THP model's rules land with the model)");
            }
            Ok(0)
        }
        Command::Check(a) => {
            let names: Vec<String> = if a.all {
                if !a.names.is_empty() {
                    bail!("give scenario names or --all, not both");
                }
                scenario_names().iter().map(|s| s.to_string()).collect()
            } else if a.names.is_empty() {
                bail!("no scenario given (name one, or use --all; see `thpcheck list`)");
            } else {
                a.names.clone()
            };
            for n in &names {
                resolve(n)?;
            }
            let engines = if a.engine.is_empty() {
                vec![EngineArg::Loom, EngineArg::ShuttlePct]
            } else {
                a.engine.clone()
            };
            let budget = a.time_budget.map(|s| Duration::from_secs(s as u64));
            let mut rows = Vec::new();
            let mut code = 0u8;
            for n in &names {
                for e in &engines {
                    let (row, c) = check_one(n, engine_spec(*e, &a), budget)?;
                    code = worst(code, c);
                    if !a.json {
                        eprintln!(
                            "{} {} {} -> {}",
                            row.scenario, row.engine, row.bound, row.verdict
                        );
                    }
                    rows.push(row);
                }
            }
            if a.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({ "results": rows, "exit_code": code })
                    )?
                );
            } else {
                print_table(&rows);
            }
            Ok(code)
        }
        Command::Replay { token } => {
            let (name, schedule) = parse_token(&token)?;
            resolve(name)?;
            let (row, code) = check_one(
                name,
                EngineSpec::ShuttleReplay {
                    schedule: schedule.to_string(),
                },
                None,
            )?;
            print_table(std::slice::from_ref(&row));
            Ok(code)
        }
    }
}

fn worst(a: u8, b: u8) -> u8 {
    // counterexample (1) beats incomplete (3) beats holds (0)
    let rank = |c: u8| match c {
        1 => 3,
        3 => 2,
        0 => 0,
        _ => 1,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

/// Split a replay token `thp1:<scenario>:<schedule>` and validate the schedule.
pub fn parse_token(token: &str) -> Result<(&str, &str)> {
    let rest = token
        .strip_prefix("thp1:")
        .with_context(|| format!("malformed replay token '{token}': it must start with 'thp1:'"))?;
    let (name, schedule) = rest.split_once(':').with_context(|| {
        format!("malformed replay token '{token}': expected thp1:<scenario>:<schedule>")
    })?;
    if decode_schedule(schedule).is_none() {
        bail!("malformed replay token '{token}': the schedule part does not decode");
    }
    Ok((name, schedule))
}
