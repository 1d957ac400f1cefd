//! The `thpcheck` command line: argument parsing, the verdict table, JSON output, replay.
//! One file per subcommand (`list`, `check`, `replay`, `defects`, `audit`, `bench`, `docs`);
//! [`token`] is the replay token.

use std::time::Duration;

use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};
use serde::Serialize;

use crate::engine::Verdict;
use crate::parallel::{parse_shard, Shard};
use crate::status::Status;
use thp_model::kernel::{Arch, KernelConfig};

mod audit;
mod bench;
mod check;
mod defects;
mod docs;
mod list;
mod replay;
pub mod token;

pub use check::{check_one, scenario_names, Extra};
pub(crate) use check::{resolve, resolve_rule};
pub use token::{parse_token, Token};

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
        /// Draw every counterexample of the matrix as a web page: an index at FILE linking
        /// one page each (see `check --html`).
        #[arg(long, value_name = "FILE")]
        html: Option<std::path::PathBuf>,
        /// Search for a smaller counterexample after each catch (see `check --minimize`) and
        /// report how much smaller they got on average.
        #[arg(long)]
        minimize: bool,
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
        /// Only measure what recording the trace costs (a few loom runs with and without it;
        /// no budgets checked).
        #[arg(long)]
        trace_overhead: bool,
        /// Only measure the overheads: the trace's, the model's against a bare loom / shuttle
        /// program with the same synchronisation operations, and the `--jobs 2` speed-up on a
        /// few loom runs (no budgets checked).
        #[arg(long, conflicts_with = "trace_overhead")]
        overhead: bool,
    },
    /// Regenerate docs/locking-rules.md and docs/bounds.md from the catalogue (runs the checks).
    Docs {
        /// Write the files (default: report whether they are up to date, exit 1 if stale).
        #[arg(long)]
        write: bool,
        /// Run the scenarios' loom searches and the audit on this many worker threads first;
        /// same files.
        #[arg(long, default_value_t = 1, value_parser = parse_positive)]
        jobs: usize,
        /// Keep the loom rows of docs/bounds.md that the test suite does not re-run (its
        /// largest searches) as committed instead of running them, as the suite's freshness
        /// check does. Only for a change that cannot alter those scenarios' searches; the
        /// default regenerates everything.
        #[arg(long)]
        reuse_untested: bool,
    },
    /// Re-run one recorded shuttle schedule (a token printed with a counterexample).
    Replay {
        /// The token, `thp1:<scenario>[@<arch>][/<config>]:<rules>:<sub-pages>:<schedule>`.
        token: String,
        /// Draw the counterexample as a web page at FILE (see `check --html`).
        #[arg(long, value_name = "FILE")]
        html: Option<std::path::PathBuf>,
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
    /// Iterations for shuttle-random / shuttle-pct / stress (default: 1000 / 2000 / 1000,
    /// `bounds`), or the cap for shuttle-dfs (default: none).
    #[arg(long, value_parser = parse_positive)]
    pub iterations: Option<usize>,
    /// Seed for shuttle-random / shuttle-pct.
    #[arg(long, default_value_t = crate::bounds::PCT_SEED)]
    pub seed: u64,
    /// PCT depth.
    #[arg(long, default_value_t = crate::bounds::PCT_DEPTH, value_parser = parse_positive)]
    pub depth: usize,
    /// Stop a run after this many seconds (it is then reported incomplete).
    #[arg(long, value_parser = parse_positive)]
    pub time_budget: Option<usize>,
    /// Switch a locking rule off (see `thpcheck list`); repeat to switch several off (e.g. both
    /// fixes of a historical race); model scenarios only.
    #[arg(long = "break", value_name = "RULE")]
    pub break_rule: Vec<String>,
    /// Apply a candidate fix of a finding (docs/findings.md; off in Linux 6.18.2), besides the
    /// fixes a scenario declares; repeat for several; model scenarios only.
    #[arg(long = "fix", value_name = "FIX")]
    pub fix: Vec<String>,
    /// Sub-pages per THP for model scenarios (a power of two >= 2; default per scenario).
    #[arg(long, value_parser = parse_subpages)]
    pub subpages: Option<usize>,
    /// Run model scenarios on this architecture instead of their own (`x86-64`, `arm64`,
    /// `x86-64-kvm`, or `portable`: only the ordering generic code may assume; see `thpcheck
    /// list`): its TLB flush, `pmd_mkinvalid`, page-table exchange and spin_lock ordering.
    #[arg(long, value_parser = parse_arch)]
    pub arch: Option<Arch>,
    /// The kernel configuration to run model scenarios with: `page-mapcount`
    /// (CONFIG_PAGE_MAPCOUNT, per-page mapcounts) or `no-page-mapcount`
    /// (CONFIG_NO_PAGE_MAPCOUNT); repeat for both. Default: page-mapcount, and with --all both.
    #[arg(long = "config", value_name = "CONFIG", value_parser = parse_config)]
    pub config: Vec<KernelConfig>,
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
    /// After a counterexample, search for a smaller one (loom: lower preemption bounds;
    /// shuttle-pct: further seeds; every shuttle engine: delta-debugging of the schedule,
    /// replayed under shuttle's strict replay) and show the smallest found.
    #[arg(long)]
    pub minimize: bool,
    /// Draw each counterexample as a self-contained web page (a column per CPU, a row per
    /// step): one counterexample is written to FILE; several, an index at FILE linking
    /// FILE-STEM-1.html, ... next to it.
    #[arg(long, value_name = "FILE")]
    pub html: Option<std::path::PathBuf>,
}

pub(crate) fn parse_subpages(s: &str) -> Result<usize, String> {
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

pub(crate) fn parse_arch(s: &str) -> Result<Arch, String> {
    Arch::from_name(s).ok_or_else(|| {
        let names: Vec<&str> = Arch::ALL.iter().map(|a| a.name()).collect();
        format!(
            "unknown architecture '{s}' (available: {})",
            names.join(", ")
        )
    })
}

pub(crate) fn parse_config(s: &str) -> Result<KernelConfig, String> {
    KernelConfig::from_name(s).ok_or_else(|| {
        let names: Vec<&str> = KernelConfig::ALL.iter().map(|c| c.name()).collect();
        format!(
            "unknown kernel configuration '{s}' (available: {})",
            names.join(", ")
        )
    })
}

pub(crate) fn parse_bound(s: &str) -> Result<Bound, String> {
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

pub(crate) fn parse_positive(s: &str) -> Result<usize, String> {
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

/// One step of a counterexample's trace, structured (the `steps` of `--json`, the rows of
/// `--html`).
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The CPU that took the step.
    pub cpu: usize,
    /// The kernel function.
    pub func: String,
    /// What it read or wrote, with the values.
    pub what: String,
    /// The locks the CPU held, outermost first (`:R` / `:W` for a reader-writer lock).
    pub held: Vec<String>,
    /// A lockless read of a page-table entry or compound link: which store it returned.
    pub read: Option<StepRead>,
}

/// The store a lockless read returned (steps numbered from 1, as printed).
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct StepRead {
    /// The word read (`pmd(mm0)`, `pte(mm0 table 0)[1]`, `page[3].compound_head`).
    pub loc: String,
    /// The step whose store it returned; None: the word's initial value.
    pub saw_step: Option<usize>,
    /// loom's weak memory: the read returned an older store than this step's, the latest
    /// one before it.
    pub newer_step: Option<usize>,
}

impl From<&thp_model::kernel::trace::Event> for Step {
    fn from(e: &thp_model::kernel::trace::Event) -> Step {
        Step {
            cpu: e.cpu,
            func: e.func.to_string(),
            what: e.what.clone(),
            held: e.held.clone(),
            read: e.read.as_ref().map(|r| StepRead {
                loc: r.loc.to_string(),
                saw_step: r.store.map(|i| i + 1),
                newer_step: r.newer.map(|i| i + 1),
            }),
        }
    }
}

/// One row of the verdict table.
#[derive(Serialize, Debug, Clone)]
pub struct Row {
    pub scenario: String,
    pub engine: String,
    pub bound: String,
    pub executions: u64,
    pub secs: f64,
    pub verdict: Status,
    pub message: Option<String>,
    pub trace: Vec<String>,
    /// The same trace, structured.
    pub steps: Vec<Step>,
    /// The rules switched off for this run (ids).
    pub rules_off: Vec<String>,
    pub replay: Option<String>,
    pub observed: Vec<String>,
    /// `--minimize`: the counterexample shown is the smallest found, and how it was found.
    pub minimized: Option<crate::minimize::MinInfo>,
}

impl Row {
    /// A row for `run`: its verdict and message, the failing trace, and the replay token
    /// (`token` with the schedule) when the engine recorded a schedule.
    pub(crate) fn new(
        name: &str,
        run: &crate::engine::RunResult,
        bound: String,
        (verdict, message): (Status, Option<String>),
        token: Token,
        observed: Vec<String>,
    ) -> Row {
        let rules_off = token.rules.clone();
        let (trace, steps, replay) = trace_and_token(&run.verdict, token);
        Row {
            scenario: name.to_string(),
            engine: run.engine.name().to_string(),
            bound,
            executions: run.executions,
            secs: run.wall.as_secs_f64(),
            verdict,
            message,
            trace,
            steps,
            rules_off,
            replay,
            observed,
            minimized: None,
        }
    }
}

/// The printable trace of a failing run, the same as steps, and its replay token (`token`
/// with the recorded schedule) when the engine recorded one (shuttle).
fn trace_and_token(v: &Verdict, token: Token) -> (Vec<String>, Vec<Step>, Option<String>) {
    let lines = |t: &[thp_model::kernel::trace::Event]| -> (Vec<String>, Vec<Step>) {
        (
            t.iter().map(|e| e.to_string()).collect(),
            t.iter().map(Step::from).collect(),
        )
    };
    match v {
        Verdict::Counterexample {
            trace, schedule, ..
        } => {
            let (t, s) = lines(trace);
            (
                t,
                s,
                schedule.as_ref().map(|s| {
                    Token {
                        schedule: s.clone(),
                        ..token
                    }
                    .to_string()
                }),
            )
        }
        Verdict::ModelBug { trace, .. } => {
            let (t, s) = lines(trace);
            (t, s, None)
        }
        _ => (Vec::new(), Vec::new(), None),
    }
}

/// `--html FILE`: draw the counterexamples among `rows`, and say where (on stderr, so that
/// `--json` stays one document).
fn write_html(path: &std::path::Path, rows: &[&Row]) -> Result<()> {
    match crate::html::write_pages(path, rows)? {
        0 => eprintln!(
            "--html: no counterexample to draw; {} not written",
            path.display()
        ),
        1 => eprintln!("counterexample drawn in {}", path.display()),
        n => eprintln!("{n} counterexamples drawn, index in {}", path.display()),
    }
    Ok(())
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
        if let Some(mi) = &r.minimized {
            let least = if mi.least_preemptions {
                "; no counterexample needs fewer preemptions (every lower loom bound held)"
            } else {
                ""
            };
            if !mi.searched {
                println!(
                    "--minimize: no search for {} (this one has {})",
                    r.engine, mi.smallest
                );
            } else if mi.smallest < mi.first {
                println!(
                    "smallest counterexample found: {} (by {}){least}; the first found had {}; the trace below is the smallest",
                    mi.smallest, mi.found_by, mi.first
                );
            } else {
                println!(
                    "no smaller counterexample found ({}){least}; this one has {}",
                    mi.found_by, mi.smallest
                );
            }
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
    let status = match cli.command {
        Command::List { json } => list::run(json)?,
        Command::Check(a) => check::run(a)?,
        Command::Bench {
            json,
            trace_overhead,
            overhead,
        } => bench::run(json, trace_overhead, overhead)?,
        Command::Audit {
            json,
            iterations,
            dfs_cap,
            jobs,
            shard,
        } => audit::run(json, iterations, dfs_cap, jobs, shard)?,
        Command::Defects {
            json,
            jobs,
            shard,
            html,
            minimize,
        } => defects::run(json, jobs, shard, html, minimize)?,
        Command::Docs {
            write,
            jobs,
            reuse_untested,
        } => docs::run(write, jobs, reuse_untested)?,
        Command::Replay { token, html } => replay::run(token, html)?,
    };
    Ok(status.exit_code())
}
