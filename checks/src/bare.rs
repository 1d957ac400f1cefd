//! The model's overhead against a bare program (`thpcheck bench`): one execution of a scenario
//! is recorded as the synchronisation operations each CPU made (thp_model's kernel/oplog.rs),
//! and the same operations run as a loom / shuttle program of their own, on plain engine
//! atomics and mutexes, with no model state, traces, lockdep or oracles around them. Both run
//! under the same engine and bound; the overhead is the model's time per execution over the
//! bare program's.
//!
//! The bare program replays each CPU's operations in order, as recorded: it does not branch on
//! the values it reads, so it explores other interleavings (usually fewer) than the model.
//! What is compared is therefore the cost of one execution, not of the whole search. A
//! condition-variable wait becomes release, yield, take again (nothing in the bare program
//! would wake a sleeper); park becomes a yield; notify and unpark do nothing; a `try_lock` that
//! succeeded in the recording is tried, and its release skipped if it fails here.
// The bare program is made of the engines' own types, on purpose: it is the reference the
// model's kernel layer is measured against (clippy.toml).
#![allow(clippy::disallowed_types)]

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use thp_model::kernel::oplog::{self, Op};
use thp_model::rules::RuleSet;

use crate::engine::{EngineSpec, Tracing};
use crate::scenarios::{config, run_scenario, Scenario};

/// One operation of the bare program (objects numbered from 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BareOp {
    Load(usize, Ordering),
    Store(usize, Ordering),
    Rmw(usize, Ordering),
    Fence(Ordering),
    Lock(usize),
    TryLock(usize),
    Unlock(usize),
    Wait(usize),
    Yield,
    Spawn(usize),
    Join(usize),
}

/// The bare program: the operations of each CPU (CPU 0 starts the others).
#[derive(Clone, Debug, Default)]
pub struct Bare {
    pub cpus: Vec<Vec<BareOp>>,
    pub atomics: usize,
    pub mutexes: usize,
}

impl Bare {
    /// Number the objects of a recorded log and split it by CPU.
    pub fn from_log(log: &[(usize, Op)]) -> Bare {
        let mut atomics: HashMap<usize, usize> = HashMap::new();
        let mut mutexes: HashMap<usize, usize> = HashMap::new();
        let mut b = Bare::default();
        let id = |m: &mut HashMap<usize, usize>, o: usize| {
            let n = m.len();
            *m.entry(o).or_insert(n)
        };
        for (cpu, op) in log {
            let op = match *op {
                Op::Load(o, ord) => BareOp::Load(id(&mut atomics, o), ord),
                Op::CasFailed(o, _) => BareOp::Load(id(&mut atomics, o), Ordering::Relaxed),
                Op::Store(o, ord) => BareOp::Store(id(&mut atomics, o), ord),
                Op::Rmw(o, ord) => BareOp::Rmw(id(&mut atomics, o), ord),
                Op::Fence(ord) => BareOp::Fence(ord),
                Op::Lock(o) => BareOp::Lock(id(&mut mutexes, o)),
                Op::TryLock(o, true) => BareOp::TryLock(id(&mut mutexes, o)),
                Op::TryLock(o, false) => {
                    id(&mut mutexes, o);
                    continue;
                }
                Op::Unlock(o) => BareOp::Unlock(id(&mut mutexes, o)),
                Op::Wait(o) => BareOp::Wait(id(&mut mutexes, o)),
                Op::Park | Op::Yield => BareOp::Yield,
                Op::Notify | Op::Unpark => continue,
                Op::Spawn(c) => BareOp::Spawn(c),
                Op::Join(c) => BareOp::Join(c),
            };
            if b.cpus.len() <= *cpu {
                b.cpus.resize(cpu + 1, Vec::new());
            }
            b.cpus[*cpu].push(op);
        }
        b.atomics = atomics.len();
        b.mutexes = mutexes.len();
        b
    }

    /// Operations in all.
    pub fn ops(&self) -> usize {
        self.cpus.iter().map(Vec::len).sum()
    }
}

// One CPU of the bare program, for one engine's types.
macro_rules! bare_cpu {
    ($name:ident, $eng:ident) => {
        fn $name(
            cpu: usize,
            prog: Arc<Bare>,
            atomics: Arc<Vec<$eng::sync::atomic::AtomicI64>>,
            mutexes: Arc<Vec<$eng::sync::Mutex<()>>>,
        ) {
            use $eng::thread;
            let mut held: HashMap<usize, $eng::sync::MutexGuard<'_, ()>> = HashMap::new();
            let mut children = HashMap::new();
            for op in prog.cpus.get(cpu).map(Vec::as_slice).unwrap_or(&[]) {
                match *op {
                    BareOp::Load(a, o) => {
                        atomics[a].load(o);
                    }
                    BareOp::Store(a, o) => atomics[a].store(1, o),
                    BareOp::Rmw(a, o) => {
                        atomics[a].fetch_add(1, o);
                    }
                    BareOp::Fence(o) => $eng::sync::atomic::fence(o),
                    BareOp::Lock(m) => {
                        held.insert(m, mutexes[m].lock().unwrap());
                    }
                    BareOp::TryLock(m) => {
                        if let Ok(g) = mutexes[m].try_lock() {
                            held.insert(m, g);
                        }
                    }
                    BareOp::Unlock(m) => {
                        held.remove(&m);
                    }
                    BareOp::Wait(m) => {
                        held.remove(&m);
                        thread::yield_now();
                        held.insert(m, mutexes[m].lock().unwrap());
                    }
                    BareOp::Yield => thread::yield_now(),
                    BareOp::Spawn(c) => {
                        let (p, a, m) = (prog.clone(), atomics.clone(), mutexes.clone());
                        children.insert(c, thread::spawn(move || $name(c, p, a, m)));
                    }
                    BareOp::Join(c) => {
                        if let Some(h) = children.remove(&c) {
                            h.join().unwrap();
                        }
                    }
                }
            }
            drop(held);
            for (_, h) in children {
                h.join().unwrap();
            }
        }
    };
}
bare_cpu!(loom_cpu, loom);
bare_cpu!(shuttle_cpu, shuttle);

/// Run the bare program under `engine` (loom or shuttle PCT / random); executions and time,
/// or None if the engine is neither or loom ran out of `budget`.
pub fn run_bare(prog: &Bare, engine: &EngineSpec, budget: Duration) -> Option<(u64, f64)> {
    let n = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let prog = Arc::new(prog.clone());
    let start = Instant::now();
    match engine {
        EngineSpec::Loom {
            preemption_bound,
            max_branches,
        } => {
            let mut b = loom::model::Builder::new();
            b.preemption_bound = *preemption_bound;
            b.max_branches = *max_branches;
            b.max_duration = Some(budget);
            b.checkpoint_file = None;
            let (p, c) = (prog.clone(), n.clone());
            crate::engine::quietly(|| {
                b.check(move || {
                    c.fetch_add(1, Ordering::Relaxed);
                    let atomics = Arc::new(
                        (0..p.atomics)
                            .map(|_| loom::sync::atomic::AtomicI64::new(0))
                            .collect(),
                    );
                    let mutexes =
                        Arc::new((0..p.mutexes).map(|_| loom::sync::Mutex::new(())).collect());
                    loom_cpu(0, p.clone(), atomics, mutexes);
                })
            });
            if start.elapsed() >= budget {
                return None;
            }
        }
        EngineSpec::ShuttlePct {
            seed,
            depth,
            iterations,
        } => {
            let (p, c) = (prog.clone(), n.clone());
            let s = shuttle::scheduler::PctScheduler::new_from_seed(*seed, *depth, *iterations);
            let mut config = shuttle::Config::new();
            config.silence_warnings = true;
            config.failure_persistence = shuttle::FailurePersistence::None;
            let runner = shuttle::Runner::new(s, config);
            crate::engine::quietly(|| {
                runner.run(move || {
                    c.fetch_add(1, Ordering::Relaxed);
                    let atomics = Arc::new(
                        (0..p.atomics)
                            .map(|_| shuttle::sync::atomic::AtomicI64::new(0))
                            .collect(),
                    );
                    let mutexes = Arc::new(
                        (0..p.mutexes)
                            .map(|_| shuttle::sync::Mutex::new(()))
                            .collect(),
                    );
                    shuttle_cpu(0, p.clone(), atomics, mutexes);
                })
            });
        }
        _ => return None,
    }
    Some((n.load(Ordering::Relaxed), start.elapsed().as_secs_f64()))
}

/// Record one execution of scenario `s` (real protocol, shuttle, seed 0) as a bare program.
pub fn record(s: &Scenario) -> Bare {
    let mut cfg = config(
        EngineSpec::ShuttleRandom {
            seed: 0,
            iterations: 1,
        },
        RuleSet::all_on(),
    );
    cfg.record_ops = true;
    let (_, log) = oplog::record(|| run_scenario(s, &cfg, None));
    Bare::from_log(&log)
}

/// The model against its bare program, for one scenario under one engine.
#[derive(Serialize, Debug, Clone)]
pub struct BareOverhead {
    pub scenario: &'static str,
    pub engine: &'static str,
    pub bound: String,
    /// CPUs, and synchronisation operations in the recorded execution.
    pub cpus: usize,
    pub ops: usize,
    pub model_executions: u64,
    pub model_secs: f64,
    pub bare_executions: u64,
    pub bare_secs: f64,
    /// Microseconds per execution, model and bare.
    pub model_us_per_execution: f64,
    pub bare_us_per_execution: f64,
    /// `model_us_per_execution / bare_us_per_execution`.
    pub ratio: f64,
}

/// Measure [`BareOverhead`] for scenario `s` under `engine` (loom or shuttle PCT); None if the
/// bare program ran out of time.
pub fn overhead(s: &'static Scenario, engine: EngineSpec) -> Option<BareOverhead> {
    let prog = record(s);
    let mut cfg = config(engine.clone(), RuleSet::all_on());
    cfg.trace = Tracing::OnFailure;
    let m = run_scenario(s, &cfg, None).run;
    let (be, bs) = run_bare(&prog, &engine, Duration::from_secs(120))?;
    let mus = m.wall.as_secs_f64() * 1e6 / m.executions.max(1) as f64;
    let bus = bs * 1e6 / be.max(1) as f64;
    Some(BareOverhead {
        scenario: s.name,
        engine: engine.name(),
        bound: engine.bound(),
        cpus: prog.cpus.len(),
        ops: prog.ops(),
        model_executions: m.executions,
        model_secs: m.wall.as_secs_f64(),
        bare_executions: be,
        bare_secs: bs,
        model_us_per_execution: mus,
        bare_us_per_execution: bus,
        ratio: mus / bus.max(1e-9),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The recording sees the scenario's CPUs and its lock and atomic traffic, and the bare
    /// program built from it runs to the end under loom and shuttle.
    #[test]
    fn a_recorded_scenario_replays_as_a_bare_program() {
        let s = crate::scenarios::find("folio-split-vs-pfn-walker").unwrap();
        let b = record(s);
        assert!(b.cpus.len() >= 3, "{:?}", b.cpus.len());
        assert!(b.cpus[0].iter().any(|o| matches!(o, BareOp::Spawn(_))));
        assert!(b
            .cpus
            .iter()
            .flatten()
            .any(|o| matches!(o, BareOp::Lock(_))));
        assert!(b
            .cpus
            .iter()
            .flatten()
            .any(|o| matches!(o, BareOp::Rmw(..))));
        assert!(b.atomics > 0 && b.mutexes > 0);
        let (n, _) = run_bare(
            &b,
            &EngineSpec::Loom {
                preemption_bound: Some(1),
                max_branches: crate::engine::LOOM_MAX_BRANCHES,
            },
            Duration::from_secs(60),
        )
        .unwrap();
        assert!(n > 1);
        let (n, _) = run_bare(
            &b,
            &EngineSpec::ShuttlePct {
                seed: 0,
                depth: 3,
                iterations: 10,
            },
            Duration::from_secs(60),
        )
        .unwrap();
        assert_eq!(n, 10);
    }
}
