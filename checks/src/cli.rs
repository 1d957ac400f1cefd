//! The `thpcheck` command line: argument parsing, the verdict table, JSON output, replay.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use serde::Serialize;

use crate::engine::{decode_schedule, EngineSpec, RunConfig, Verdict, LOOM_MAX_BRANCHES};
use crate::litmus::{self, LITMUS};
use crate::parallel::{parse_shard, run_ordered, Shard};
use crate::scenarios;
use crate::scenarios::catching::catching_names;
use thp_model::kernel::Arch;
use thp_model::rules::{Rule, RuleSet};

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
    /// The rule-off matrix: each rule switched off in turn, run in the scenarios that must catch
    /// it, under loom (default bound) and shuttle PCT; exit 1 if any rule is not caught with
    /// one of its expected invariants.
    Defects {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// Run this many (rule, scenario, engine) runs at once, each on its own worker thread;
        /// the output is the same, in the same order.
        #[arg(long, default_value_t = 1, value_parser = parse_positive)]
        jobs: usize,
        /// Run only shard I of N (1-based): every N-th (rule, scenario) cell of the matrix in
        /// catalogue order, starting with the I-th, under both engines; to split the matrix
        /// across CI machines.
        #[arg(long, value_name = "I/N", value_parser = parse_shard)]
        shard: Option<Shard>,
    },
    /// The engines check each other: every final state shuttle (random, PCT, DFS) reaches must
    /// be one unbounded loom reaches at the same size; every rule-off counterexample shuttle
    /// finds, unbounded loom must find; every litmus test reaches the same outcomes under loom
    /// with and without partial-order reduction. Exit 1 on any engine miss.
    Audit {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// shuttle random and PCT iterations per scenario (each).
        #[arg(long, value_parser = parse_positive)]
        iterations: Option<usize>,
        /// shuttle DFS: stop after this many schedules.
        #[arg(long, value_parser = parse_positive)]
        dfs_cap: Option<usize>,
        /// Run this many audits at once on worker threads; same output, same order.
        #[arg(long, default_value_t = 1, value_parser = parse_positive)]
        jobs: usize,
        /// Run only shard I of N (1-based) of the scenarios, rule cells and litmus tests.
        #[arg(long, value_name = "I/N", value_parser = parse_shard)]
        shard: Option<Shard>,
    },
    /// Measure the speed budgets: every scenario at its default bounds (loom and shuttle PCT:
    /// executions, seconds, executions/s) and every rule's time to its first counterexample
    /// under its fastest engine; exit 1 if a budget is missed (a rule over 10 s, a scenario run
    /// over 60 s, or a rule not caught at all). Runs one check at a time (no --jobs): runs
    /// sharing the machine would distort the timings it measures.
    Bench {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Regenerate docs/locking-rules.md and docs/bounds.md from the catalogue (runs the checks).
    Docs {
        /// Write the files (default: report whether they are up to date, exit 1 if stale).
        #[arg(long)]
        write: bool,
    },
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
    /// loom preemption bound: a number, or `none` for unbounded (default: the scenario's own,
    /// see `thpcheck list`; unbounded for litmus tests).
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
    /// Switch a locking rule off (see `thpcheck list`); repeat to switch several off (e.g. both
    /// fixes of a historical race); model scenarios only.
    #[arg(long = "break", value_name = "RULE")]
    pub break_rule: Vec<String>,
    /// Sub-pages per THP for model scenarios (a power of two >= 2; default per scenario).
    #[arg(long, value_parser = parse_subpages)]
    pub subpages: Option<usize>,
    /// Run model scenarios on this architecture instead of their own (`x86-64` or `arm64`; see
    /// `thpcheck list`): its TLB flush, `pmd_mkinvalid` and spin_lock ordering.
    #[arg(long, value_parser = parse_arch)]
    pub arch: Option<Arch>,
    /// Machine-readable output (one JSON document).
    #[arg(long)]
    pub json: bool,
    /// Run this many (scenario, engine) runs at once, each on its own worker thread; the output
    /// is the same, in the same order (a --time-budget is wall time: a run sharing the cores
    /// explores less of it).
    #[arg(long, default_value_t = 1, value_parser = parse_positive)]
    pub jobs: usize,
    /// Run only shard I of N (1-based): every N-th scenario of the list (with --all: of the
    /// catalogue), starting with the I-th, under every engine given; to split `check --all`
    /// across CI machines.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub shard: Option<Shard>,
}

fn parse_subpages(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 2 && n.is_power_of_two() && n <= 64 => Ok(n),
        Ok(n) => Err(format!(
            "{n} sub-pages is impossible: a power of two from 2 to 64"
        )),
        Err(_) => Err(format!("'{s}' is not a number")),
    }
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

fn parse_arch(s: &str) -> Result<Arch, String> {
    Arch::from_name(s)
        .ok_or_else(|| format!("unknown architecture '{s}' (available: x86-64, arm64)"))
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

/// The engine spec for scenario `name`: flags given on the command line win; otherwise a
/// model scenario's own default loom bound applies (unbounded for litmus tests).
fn engine_spec(e: EngineArg, a: &CheckArgs, name: &str) -> EngineSpec {
    let default_bound = scenarios::find(name).and_then(|s| s.loom_bound);
    match e {
        EngineArg::Loom => EngineSpec::Loom {
            preemption_bound: match a.preemption_bound {
                Some(Bound::At(n)) => Some(n),
                Some(Bound::Unbounded) => None,
                None => default_bound,
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
    scenarios::SCENARIOS
        .iter()
        .map(|s| s.name)
        .chain(LITMUS.iter().map(|l| l.name))
        .collect()
}

fn resolve(name: &str) -> Result<()> {
    if litmus::find(name).is_some() || scenarios::find(name).is_some() {
        return Ok(());
    }
    bail!(
        "unknown scenario '{name}' (available: {})",
        scenario_names().join(", ")
    )
}

fn resolve_rule(id: &str) -> Result<Rule> {
    match Rule::from_id(id) {
        Some(r) => Ok(r),
        None => bail!(
            "unknown rule '{id}' (available: {})",
            Rule::ALL
                .iter()
                .map(|r| r.id())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// What to run besides the engine.
#[derive(Clone, Debug, Default)]
pub struct Extra {
    pub budget: Option<Duration>,
    /// Rules switched off (empty: the real protocol).
    pub rules: Vec<Rule>,
    pub subpages: Option<usize>,
    /// The architecture to run a model scenario on instead of its own.
    pub arch: Option<Arch>,
}

/// Run one scenario under one engine and make a row.
pub fn check_one(name: &str, spec: EngineSpec, extra: &Extra) -> Result<(Row, u8)> {
    resolve(name)?;
    let mut cfg = RunConfig::new(spec);
    cfg.time_budget = extra.budget;
    if !extra.rules.is_empty() {
        cfg.rules = RuleSet::without_all(&extra.rules);
    }
    if let Some(s) = scenarios::find(name) {
        if let Some(n) = extra.subpages {
            if n < s.min_subpages {
                bail!(
                    "scenario '{name}' needs at least {} sub-pages, got --subpages {n}",
                    s.min_subpages
                );
            }
        }
        // --arch: the same scenario on other hardware; the replay token says which.
        let (s, at) = match extra.arch {
            Some(a) if a != s.arch => {
                let moved: &'static scenarios::Scenario =
                    Box::leak(Box::new(scenarios::Scenario { arch: a, ..*s }));
                (moved, format!("@{}", a.name()))
            }
            _ => (s, String::new()),
        };
        let r = scenarios::run_scenario(s, &cfg, extra.subpages);
        let (verdict, code, message) = match (&r.run.verdict, &r.vacuous) {
            (Verdict::Incomplete { reason }, _) => {
                ("incomplete".to_string(), 3, Some(reason.clone()))
            }
            (Verdict::Counterexample { message, .. }, _) => {
                ("counterexample".to_string(), 1, Some(message.clone()))
            }
            (Verdict::Holds, Some(v)) => ("vacuous".to_string(), 1, Some(v.clone())),
            (Verdict::ModelBug { message, .. }, _) => {
                ("model-bug".to_string(), 4, Some(message.clone()))
            }
            (Verdict::Holds, None) => ("holds".to_string(), 0, None),
        };
        let brk = extra
            .rules
            .iter()
            .map(|r| r.id())
            .collect::<Vec<_>>()
            .join(",");
        let row = Row::new(
            name,
            &r.run,
            if at.is_empty() {
                format!("{} nr={}", r.run.engine.bound(), r.nr)
            } else {
                format!(
                    "{} nr={} arch={}",
                    r.run.engine.bound(),
                    r.nr,
                    s.arch.name()
                )
            },
            (verdict, message),
            &format!("thp1:{name}{at}:{brk}:{}", r.nr),
            r.reached.iter().map(|s| s.to_string()).collect(),
        );
        return Ok((row, code));
    }
    let l = litmus::find(name).context("resolved above")?;
    if !extra.rules.is_empty() {
        bail!("--break applies to model scenarios, not to litmus test '{name}'");
    }
    if extra.arch.is_some() {
        bail!("--arch applies to model scenarios, not to litmus test '{name}' (litmus tests run with the LKMM's ordering)");
    }
    let r = litmus::run_litmus(l, &cfg);
    let (verdict, code, message) = match (&r.run.verdict, &r.agrees) {
        (Verdict::Incomplete { reason }, _) => ("incomplete".to_string(), 3, Some(reason.clone())),
        (_, Ok(())) => ("holds".to_string(), 0, None),
        (Verdict::Counterexample { message, .. }, _) => {
            ("counterexample".to_string(), 1, Some(message.clone()))
        }
        (Verdict::Holds, Err(m)) => ("disagrees".to_string(), 1, Some(m.clone())),
        (Verdict::ModelBug { message, .. }, _) => {
            ("model-bug".to_string(), 4, Some(message.clone()))
        }
    };
    let row = Row::new(
        name,
        &r.run,
        r.run.engine.bound(),
        (verdict, message),
        &format!("thp1:{name}::"),
        r.observed.iter().cloned().collect(),
    );
    Ok((row, code))
}

impl Row {
    /// A row for `run`: its verdict label and message, the failing trace, and the replay token
    /// `<token_prefix>:<schedule>` when the engine recorded a schedule.
    fn new(
        name: &str,
        run: &crate::engine::RunResult,
        bound: String,
        (verdict, message): (String, Option<String>),
        token_prefix: &str,
        observed: Vec<String>,
    ) -> Row {
        let (trace, replay) = trace_and_token(&run.verdict, token_prefix);
        Row {
            scenario: name.to_string(),
            engine: run.engine.name().to_string(),
            bound,
            executions: run.executions,
            secs: run.wall.as_secs_f64(),
            verdict,
            message,
            trace,
            replay,
            observed,
        }
    }
}

/// The printable trace of a failing run, and its replay token `<prefix>:<schedule>` when the
/// engine recorded a schedule (shuttle).
fn trace_and_token(v: &Verdict, prefix: &str) -> (Vec<String>, Option<String>) {
    match v {
        Verdict::Counterexample {
            trace, schedule, ..
        } => (
            trace.iter().map(|e| e.to_string()).collect(),
            schedule.as_ref().map(|s| format!("{prefix}:{s}")),
        ),
        Verdict::ModelBug { trace, .. } => (trace.iter().map(|e| e.to_string()).collect(), None),
        _ => (Vec::new(), None),
    }
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
                let mut v = v;
                for s in scenarios::SCENARIOS {
                    v.push(serde_json::json!({
                        "name": s.name, "kind": "model", "description": s.description,
                        "threads": s.threads, "must_reach": s.must_reach,
                        "shuttle_may_miss": s.shuttle_may_miss,
                        "loom_nr": s.loom_nr, "shuttle_nr": s.shuttle_nr,
                        "loom_bound": s.loom_bound, "arch": s.arch.name(),
                    }));
                }
                let rules: Vec<_> = Rule::ALL
                    .iter()
                    .map(|r| {
                        let i = r.info();
                        serde_json::json!({
                            "id": i.id, "statement": i.statement, "source": i.source,
                            "model_fn": i.model_fn,
                            "engine": format!("{:?}", i.engine).to_lowercase(),
                            "invariants": i.invariants.iter().map(|v| v.tag()).collect::<Vec<_>>(),
                            "scenarios": catching_names(*r),
                        })
                    })
                    .collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({"scenarios": v, "rules": rules})
                    )?
                );
            } else {
                println!("scenarios:");
                for s in scenarios::SCENARIOS {
                    let loom_only = if s.shuttle_may_miss.is_empty() {
                        String::new()
                    } else {
                        format!("; loom only: {}", s.shuttle_may_miss.join(", "))
                    };
                    println!(
                        "  {:<36} {} [must reach: {}{loom_only}]",
                        s.name,
                        s.description,
                        s.must_reach.join(", ")
                    );
                }
                for l in LITMUS {
                    println!(
                        "  {:<36} {} [target {}: LKMM {:?}]",
                        l.name, l.description, l.target, l.lkmm
                    );
                }
                println!("rules (switch one off with --break RULE):");
                for r in Rule::ALL {
                    let i = r.info();
                    println!(
                        "  {:<36} {} [{}; caught by {:?} in {}]",
                        i.id,
                        i.statement,
                        i.source,
                        i.engine,
                        catching_names(*r).join(", ")
                    );
                }
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
            let extra = Extra {
                budget: a.time_budget.map(|s| Duration::from_secs(s as u64)),
                rules: a
                    .break_rule
                    .iter()
                    .map(|r| resolve_rule(r))
                    .collect::<Result<_>>()?,
                subpages: a.subpages,
                arch: a.arch,
            };
            let all_names = names.len();
            let names = Shard::select(a.shard, &names);
            let runs: Vec<(&str, EngineArg)> = names
                .iter()
                .flat_map(|n| engines.iter().map(move |e| (n.as_str(), *e)))
                .collect();
            let mut rows = Vec::new();
            let mut code = 0u8;
            run_ordered(
                &runs,
                a.jobs,
                |&(n, e)| check_one(n, engine_spec(e, &a, n), &extra),
                |res| {
                    let (row, c) = res?;
                    code = worst(code, c);
                    if !a.json {
                        eprintln!(
                            "{} {} {} -> {}",
                            row.scenario, row.engine, row.bound, row.verdict
                        );
                    }
                    rows.push(row);
                    anyhow::Ok(())
                },
            )?;
            if a.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "results": rows, "shard": a.shard, "exit_code": code
                    }))?
                );
            } else {
                if let Some(s) = a.shard {
                    println!(
                        "shard {s}: {} of {all_names} scenarios (round-robin in {} order)",
                        names.len(),
                        if a.all { "catalogue" } else { "the given" }
                    );
                }
                print_table(&rows);
            }
            Ok(code)
        }
        Command::Bench { json } => {
            let b = crate::bench::bench()?;
            let code = if b.ok() { 0 } else { 1 };
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({"bench": b, "exit_code": code})
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
                    if code == 0 { "met" } else { "MISSED" }
                );
            }
            Ok(code)
        }
        Command::Audit {
            json,
            iterations,
            dfs_cap,
            jobs,
            shard,
        } => {
            let budget = crate::audit::budget(iterations, dfs_cap);
            let report = crate::audit::audit(budget, jobs, shard)?;
            let misses = report.misses();
            let code = if misses == 0 { 0 } else { 1 };
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "budget": budget, "audit": report, "misses": misses,
                        "shard": shard, "exit_code": code
                    }))?
                );
            } else {
                print_audit(&report, budget);
            }
            Ok(code)
        }
        Command::Defects { json, jobs, shard } => {
            let rows = crate::defects::matrix_with(jobs, shard)?;
            let code = if rows.iter().all(|r| r.ok()) { 0 } else { 1 };
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({"defects": rows, "shard": shard, "exit_code": code})
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
                        (false, false) => {
                            "not caught (expected: barrier rule, shuttle is SC)".to_string()
                        }
                    };
                    println!(
                        "{:<38} {:<30} {:<12} {:>10} {:>8.3}  {result}",
                        r.rule, r.scenario, r.engine, r.executions, r.secs
                    );
                }
            }
            Ok(code)
        }
        Command::Docs { write } => {
            let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
            let mut stale = false;
            for (path, gen) in crate::docs::GENERATED {
                let p = root.join(path);
                let want = gen();
                if *path == "docs/bounds.md" {
                    let bad = crate::docs::failing_rows(&want);
                    if !bad.is_empty() {
                        for l in &bad {
                            eprintln!("not holding: {l}");
                        }
                        anyhow::bail!(
                            "{} scenario run(s) do not hold with every rule on; {path} not written",
                            bad.len()
                        );
                    }
                }
                let have = std::fs::read_to_string(&p).unwrap_or_default();
                if have != want {
                    if write {
                        std::fs::write(&p, want)
                            .with_context(|| format!("cannot write {}", p.display()))?;
                        println!("wrote {path}");
                    } else {
                        println!("{path} is stale (run `cargo run --release -- docs --write`)");
                        stale = true;
                    }
                } else {
                    println!("{path} is up to date");
                }
            }
            Ok(if stale { 1 } else { 0 })
        }
        Command::Replay { token } => {
            let t = parse_token(&token)?;
            resolve(t.scenario)?;
            let extra = Extra {
                arch: t.arch,
                budget: None,
                rules: if t.rule.is_empty() {
                    Vec::new()
                } else {
                    t.rule.split(',').map(resolve_rule).collect::<Result<_>>()?
                },
                subpages: t.subpages,
            };
            let spec = EngineSpec::ShuttleReplay {
                schedule: t.schedule.to_string(),
            };
            let (row, code) = check_one(t.scenario, spec, &extra)?;
            print_table(std::slice::from_ref(&row));
            Ok(code)
        }
    }
}

fn worst(a: u8, b: u8) -> u8 {
    // counterexample (1) beats incomplete (3) beats holds (0)
    // model bug (4) beats counterexample (1) beats incomplete (3) beats holds (0)
    let rank = |c: u8| match c {
        4 => 4,
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

/// A parsed replay token `thp1:<scenario>[@<arch>]:<broken rules, comma-separated, or
/// empty>:<sub-pages or empty>:<schedule>`.
#[derive(Debug)]
pub struct Token<'a> {
    pub scenario: &'a str,
    /// `--arch` the run had, if it overrode the scenario's own.
    pub arch: Option<Arch>,
    pub rule: &'a str,
    pub subpages: Option<usize>,
    pub schedule: &'a str,
}

/// Split a replay token and validate its parts.
pub fn parse_token(token: &str) -> Result<Token<'_>> {
    let bad = |why: &str| anyhow::anyhow!("malformed replay token '{token}': {why}");
    let rest = token
        .strip_prefix("thp1:")
        .ok_or_else(|| bad("it must start with 'thp1:'"))?;
    let mut it = rest.splitn(4, ':');
    let (Some(scenario), Some(rule), Some(nr), Some(schedule)) =
        (it.next(), it.next(), it.next(), it.next())
    else {
        return Err(bad("expected thp1:<scenario>:<rule>:<subpages>:<schedule>"));
    };
    let (scenario, arch) = match scenario.split_once('@') {
        Some((name, a)) => (
            name,
            Some(Arch::from_name(a).ok_or_else(|| bad(&format!("unknown architecture '{a}'")))?),
        ),
        None => (scenario, None),
    };
    let subpages = if nr.is_empty() {
        None
    } else {
        Some(parse_subpages(nr).map_err(|e| bad(&e))?)
    };
    if decode_schedule(schedule).is_none() {
        return Err(bad("the schedule part does not decode"));
    }
    Ok(Token {
        scenario,
        arch,
        rule,
        subpages,
        schedule,
    })
}
