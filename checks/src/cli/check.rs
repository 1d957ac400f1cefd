//! `thpcheck check`: run scenarios under engines and make the verdict table; `check_one` is
//! shared with `replay`.

use anyhow::{bail, Context, Result};

use crate::engine::{EngineSpec, RunConfig, Verdict, LOOM_MAX_BRANCHES};
use crate::litmus::{self, LITMUS};
use crate::parallel::{run_ordered_by_cost, Shard};
use crate::scenarios;
use crate::status::Status;
use thp_model::kernel::{Arch, KernelConfig};
use thp_model::rules::{Rule, RuleSet};

use super::*;
use crate::bounds;

pub(super) fn run(a: CheckArgs) -> Result<Status> {
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
        fixes: a
            .fix
            .iter()
            .map(|r| resolve_fix(r))
            .collect::<Result<_>>()?,
        subpages: a.subpages,
        arch: a.arch,
        config: KernelConfig::default(),
    };
    // --config: as given; else the default configuration, and with --all both (a litmus test
    // has no kernel configuration: --all runs it once; naming it with another is an error).
    // A rule whose broken form needs per-page mapcounts (`--break cow-reuse-by-refcount`)
    // runs --all in the configuration that has them; named with --config it is an error.
    let configs: Vec<KernelConfig> = if !a.config.is_empty() {
        KernelConfig::ALL
            .into_iter()
            .filter(|c| a.config.contains(c))
            .collect()
    } else if a.all && !extra.rules.iter().any(|r| r.needs_page_mapcount()) {
        KernelConfig::ALL.to_vec()
    } else {
        vec![KernelConfig::default()]
    };
    let all_names = names.len();
    let names = Shard::select(a.shard, &names);
    let runs: Vec<(&str, EngineArg, KernelConfig)> = names
        .iter()
        .flat_map(|n| {
            let configs = if scenarios::find(n).is_some() || !a.all {
                configs.clone()
            } else {
                vec![KernelConfig::default()]
            };
            engines.iter().flat_map(move |e| {
                configs
                    .clone()
                    .into_iter()
                    .map(move |c| (n.as_str(), *e, c))
            })
        })
        .collect();
    let mut rows = Vec::new();
    let mut status = Status::Holds;
    let line = crate::progress::Line::start(runs.len());
    // Longest first: unbounded loom runs of model scenarios explore up to millions of
    // executions; bounded loom runs next; shuttle and litmus runs are short.
    let cost = |&(n, e, _): &(&str, EngineArg, KernelConfig)| -> u64 {
        match (e, scenarios::find(n)) {
            (EngineArg::Loom, Some(_)) => match engine_spec(e, &a, n) {
                EngineSpec::Loom {
                    preemption_bound: None,
                    ..
                } => 3,
                _ => 2,
            },
            (_, Some(_)) => 1,
            _ => 0,
        }
    };
    run_ordered_by_cost(
        &runs,
        a.jobs,
        cost,
        |&(n, e, config)| {
            let spec = engine_spec(e, &a, n);
            let _running = crate::progress::running(format!("{n} {}", spec.name()));
            let extra = Extra {
                config,
                ..extra.clone()
            };
            let mut r = check_one(n, spec.clone(), &extra);
            if a.minimize {
                if let Ok(row) = &r {
                    if let Some(m) = crate::minimize::minimize(n, &spec, &extra, row) {
                        // The table keeps the run's own bound and counts; the story shown is
                        // the smallest found, with its message, trace and replay token.
                        r = Ok(Row {
                            message: m.row.message,
                            trace: m.row.trace,
                            steps: m.row.steps,
                            replay: m.row.replay,
                            minimized: Some(m.info),
                            ..row.clone()
                        });
                    }
                }
            }
            line.inc();
            r
        },
        |res| {
            let row = res?;
            status = status.max(row.verdict);
            if !a.json {
                line.eprintln(format!(
                    "{} {} {} -> {}",
                    row.scenario, row.engine, row.bound, row.verdict
                ));
            }
            rows.push(row);
            anyhow::Ok(())
        },
    )?;
    drop(line);
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "results": rows, "shard": a.shard, "exit_code": status.exit_code()
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
    if let Some(p) = &a.html {
        write_html(p, &rows.iter().collect::<Vec<_>>())?;
    }
    Ok(status)
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
            iterations: a.iterations.unwrap_or(bounds::RANDOM_ITERATIONS),
        },
        EngineArg::ShuttlePct => EngineSpec::ShuttlePct {
            seed: a.seed,
            depth: a.depth,
            iterations: a.iterations.unwrap_or(bounds::PCT_ITERATIONS),
        },
        EngineArg::ShuttleDfs => EngineSpec::ShuttleDfs {
            max_iterations: a.iterations,
        },
        EngineArg::Stress => EngineSpec::Stress {
            iterations: a.iterations.unwrap_or(bounds::STRESS_ITERATIONS),
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

pub(crate) fn resolve(name: &str) -> Result<()> {
    if litmus::find(name).is_some() || scenarios::find(name).is_some() {
        return Ok(());
    }
    bail!(
        "unknown scenario '{name}' (available: {})",
        scenario_names().join(", ")
    )
}

pub(crate) fn resolve_rule(id: &str) -> Result<Rule> {
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

/// The candidate fix called `id` (`--fix`; docs/findings.md).
pub(crate) fn resolve_fix(id: &str) -> Result<Rule> {
    match Rule::from_id(id) {
        Some(r) if r.is_candidate_fix() => Ok(r),
        Some(_) => bail!(
            "'{id}' is a rule of the kernel, on unless switched off with --break; --fix applies a candidate fix (available: {})",
            fix_ids()
        ),
        None => bail!("unknown candidate fix '{id}' (available: {})", fix_ids()),
    }
}

fn fix_ids() -> String {
    Rule::FIXES
        .iter()
        .map(|r| r.id())
        .collect::<Vec<_>>()
        .join(", ")
}

/// What to run besides the engine.
#[derive(Clone, Debug, Default)]
pub struct Extra {
    pub budget: Option<Duration>,
    /// Rules switched off (empty: the real protocol).
    pub rules: Vec<Rule>,
    /// Candidate fixes applied besides the scenario's own (`--fix`).
    pub fixes: Vec<Rule>,
    pub subpages: Option<usize>,
    /// The architecture to run a model scenario on instead of its own.
    pub arch: Option<Arch>,
    /// The kernel configuration (`--config`).
    pub config: KernelConfig,
}

/// Run one scenario under one engine and make a row.
pub fn check_one(name: &str, spec: EngineSpec, extra: &Extra) -> Result<Row> {
    resolve(name)?;
    let mut cfg = RunConfig::new(spec);
    cfg.time_budget = extra.budget;
    if !extra.rules.is_empty() || !extra.fixes.is_empty() {
        cfg.rules = RuleSet::without_all(&extra.rules).with_fixes(&extra.fixes);
    }
    cfg.config = extra.config;
    if let Some(s) = scenarios::find(name) {
        if !extra.config.page_mapcount() {
            if let Some(r) = extra.rules.iter().find(|r| r.needs_page_mapcount()) {
                bail!(
                    "--break {}: its broken form reads per-page mapcounts, which --config {} does not have",
                    r.id(),
                    extra.config.name()
                );
            }
        }
        if let Some(n) = extra.subpages {
            if n < s.min_subpages {
                bail!(
                    "scenario '{name}' needs at least {} sub-pages, got --subpages {n}",
                    s.min_subpages
                );
            }
        }
        // --arch: the same scenario on other hardware (a copy); the replay token says which.
        let arch = match extra.arch {
            Some(a) if a != s.arch => Some(a),
            _ => None,
        };
        let s = scenarios::Scenario {
            arch: arch.unwrap_or(s.arch),
            ..*s
        };
        let r = scenarios::run_scenario(&s, &cfg, extra.subpages);
        let (verdict, message) = match (&r.run.verdict, &r.vacuous) {
            (Verdict::Incomplete { reason }, _) => (Status::Incomplete, Some(reason.clone())),
            (Verdict::Counterexample { message, .. }, _) => {
                (Status::Counterexample, Some(message.clone()))
            }
            (Verdict::Holds, Some(v)) => (Status::Vacuous, Some(v.clone())),
            (Verdict::ModelBug { message, .. }, _) => (Status::ModelBug, Some(message.clone())),
            (Verdict::Holds, None) => (Status::Holds, None),
        };
        let mut bound = format!("{} nr={}", r.run.engine.bound(), r.nr);
        if arch.is_some() {
            bound.push_str(&format!(" arch={}", s.arch.name()));
        }
        if extra.config != KernelConfig::default() {
            bound.push_str(&format!(" config={}", extra.config.name()));
        }
        let row = Row::new(
            name,
            &r.run,
            bound,
            (verdict, message),
            Token {
                scenario: name.to_string(),
                arch,
                config: extra.config,
                rules: extra
                    .rules
                    .iter()
                    .map(|r| r.id().to_string())
                    .chain(extra.fixes.iter().map(|r| format!("+{}", r.id())))
                    .collect(),
                subpages: Some(r.nr),
                schedule: String::new(),
            },
            r.reached.iter().map(|s| s.to_string()).collect(),
        );
        return Ok(row);
    }
    let l = litmus::find(name).context("resolved above")?;
    if !extra.rules.is_empty() || !extra.fixes.is_empty() {
        bail!("--break and --fix apply to model scenarios, not to litmus test '{name}'");
    }
    if extra.arch.is_some() {
        bail!("--arch applies to model scenarios, not to litmus test '{name}' (litmus tests run with the LKMM's ordering)");
    }
    if extra.config != KernelConfig::default() {
        bail!("--config applies to model scenarios, not to litmus test '{name}'");
    }
    let r = litmus::run_litmus(l, &cfg);
    let (verdict, message) = match (&r.run.verdict, &r.agrees) {
        (Verdict::Incomplete { reason }, _) => (Status::Incomplete, Some(reason.clone())),
        (_, Ok(())) => (Status::Holds, None),
        (Verdict::Counterexample { message, .. }, _) => {
            (Status::Counterexample, Some(message.clone()))
        }
        (Verdict::Holds, Err(m)) => (Status::Disagrees, Some(m.clone())),
        (Verdict::ModelBug { message, .. }, _) => (Status::ModelBug, Some(message.clone())),
    };
    let row = Row::new(
        name,
        &r.run,
        r.run.engine.bound(),
        (verdict, message),
        Token {
            scenario: name.to_string(),
            arch: None,
            config: KernelConfig::default(),
            rules: Vec::new(),
            subpages: None,
            schedule: String::new(),
        },
        r.observed.iter().cloned().collect(),
    );
    Ok(row)
}
