//! The engine layer: run one scenario body under loom (exhaustive, with or without a
//! preemption bound), shuttle (random, PCT, DFS, replay) or std threads, and report engine,
//! bound, executions explored, wall time and the verdict.
//!
//! * Every bound is set explicitly here; loom's environment variables (`LOOM_MAX_PREEMPTIONS`,
//!   ...) are overridden, so a developer's shell cannot turn an exhaustive claim into a
//!   truncated one (docs/design.md#bounds).
//! * A run that stopped early (time budget, loom's duration limit) is `Incomplete`, never
//!   `Holds`.
//! * The process-wide panic hook is owned here: one hook, installed once, that records the
//!   first panic message of the current check on this OS thread and stays quiet while a check
//!   runs. shuttle installs its own hook on its first run and never again; it is removed right
//!   after each shuttle run, so later loom runs in the same process are not slowed by it.
//!   Everything else a run keeps is per run or per OS thread, so runs may go on several threads
//!   at once (`thpcheck --jobs`; see `crate::parallel`).
//! * shuttle schedules are recorded by a wrapping scheduler and become replay tokens.
#![allow(clippy::disallowed_types)] // the engine layer itself: std state outside the engines (the panic capture, counters) (clippy.toml)

use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use shuttle::scheduler::{Schedule, Scheduler, Task, TaskId};
use thp_model::kernel::trace::{last_trace, Event};
use thp_model::kernel::{
    with_execution, Engine, ExecutionOptions, Hardware, KernelConfig, LockGraph,
};
use thp_model::rules::RuleSet;

/// Which engine, with its bound.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EngineSpec {
    /// loom, exhaustive under its C11 model; `preemption_bound: None` = unbounded.
    Loom {
        preemption_bound: Option<usize>,
        max_branches: usize,
    },
    /// shuttle's random scheduler.
    ShuttleRandom { seed: u64, iterations: usize },
    /// shuttle's PCT scheduler.
    ShuttlePct {
        seed: u64,
        depth: usize,
        iterations: usize,
    },
    /// shuttle's DFS scheduler; `max_iterations: None` = until every schedule is explored.
    ShuttleDfs { max_iterations: Option<usize> },
    /// Replay one recorded shuttle schedule.
    ShuttleReplay { schedule: String },
    /// Follow a shuttle schedule leniently (the schedule delta-debugger's candidates, see
    /// [`Guided`]): never rejected, the schedule actually run is recorded.
    ShuttleGuided { schedule: String },
    /// Plain std threads, `iterations` executions.
    Stress { iterations: usize },
}

/// loom's default branch cap is 1,000 per execution; model executions are longer.
pub const LOOM_MAX_BRANCHES: usize = 100_000;

impl EngineSpec {
    /// Short engine name as on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            EngineSpec::Loom { .. } => "loom",
            EngineSpec::ShuttleRandom { .. } => "shuttle-random",
            EngineSpec::ShuttlePct { .. } => "shuttle-pct",
            EngineSpec::ShuttleDfs { .. } => "shuttle-dfs",
            EngineSpec::ShuttleReplay { .. } => "shuttle-replay",
            EngineSpec::ShuttleGuided { .. } => "shuttle-guided",
            EngineSpec::Stress { .. } => "stress",
        }
    }

    /// The bound, as stated in every result.
    pub fn bound(&self) -> String {
        match self {
            EngineSpec::Loom {
                preemption_bound: Some(p),
                ..
            } => format!("preemption_bound={p}"),
            EngineSpec::Loom {
                preemption_bound: None,
                ..
            } => "preemption_bound=none".into(),
            EngineSpec::ShuttleRandom { seed, iterations } => {
                format!("seed={seed} iterations={iterations}")
            }
            EngineSpec::ShuttlePct {
                seed,
                depth,
                iterations,
            } => {
                format!("seed={seed} depth={depth} iterations={iterations}")
            }
            EngineSpec::ShuttleDfs {
                max_iterations: Some(m),
            } => format!("max_iterations={m}"),
            EngineSpec::ShuttleDfs {
                max_iterations: None,
            } => "max_iterations=none".into(),
            EngineSpec::ShuttleReplay { .. } => "replay".into(),
            EngineSpec::ShuttleGuided { .. } => "guided".into(),
            EngineSpec::Stress { iterations } => format!("iterations={iterations}"),
        }
    }

    /// Is a pass under this engine a proof within its bound (every interleaving explored)?
    pub fn exhaustive(&self) -> bool {
        matches!(
            self,
            EngineSpec::Loom { .. }
                | EngineSpec::ShuttleDfs {
                    max_iterations: None
                }
        )
    }

    fn model_engine(&self) -> Engine {
        match self {
            EngineSpec::Loom { .. } => Engine::Loom,
            EngineSpec::Stress { .. } => Engine::Std,
            _ => Engine::Shuttle,
        }
    }
}

/// What one run concluded.
#[derive(Clone, Debug)]
pub enum Verdict {
    /// Every explored execution kept every invariant.
    Holds,
    /// An execution broke an invariant.
    Counterexample {
        message: String,
        /// Where the violation was raised (`file:line` of the panic, for an invariant the
        /// `vm_bug_on!` that fired); None if the panic hook did not see it.
        site: Option<String>,
        trace: Vec<Event>,
        /// shuttle schedule (`seedhex:steps`) that replays it.
        schedule: Option<String>,
    },
    /// The run stopped before exploring what its bound promises.
    Incomplete { reason: String },
    /// The model or the harness is inconsistent (`[model bug]`): never a counterexample.
    ModelBug { message: String, trace: Vec<Event> },
}

impl Verdict {
    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::Counterexample { .. } => "counterexample",
            Verdict::Incomplete { .. } => "incomplete",
            Verdict::ModelBug { .. } => "model-bug",
        }
    }
}

/// How a panic message of an inconsistent model or harness starts (`thp_model::model_bug!`).
pub const MODEL_BUG: &str = "[model bug]";

/// The result of one run.
#[derive(Clone, Debug)]
pub struct RunResult {
    pub engine: EngineSpec,
    pub executions: u64,
    pub wall: Duration,
    pub verdict: Verdict,
}

/// Everything a run needs besides the body.
#[derive(Clone, Debug)]
pub struct RunConfig {
    pub engine: EngineSpec,
    pub rules: RuleSet,
    pub hardware: Hardware,
    /// The kernel configuration (CONFIG_PAGE_MAPCOUNT by default).
    pub config: KernelConfig,
    /// Stop (and report Incomplete) after this long; None = no limit.
    pub time_budget: Option<Duration>,
    /// The lock-order graph; shared by every execution of this run (and by the caller, if it
    /// wants the graph to span several runs).
    pub lockdep: Arc<LockGraph>,
    /// loom only: partial-order reduction on (the default) or off (every runnable CPU explored
    /// at every scheduling point: the reference `thpcheck audit` checks DPOR against). The
    /// engine layer sets loom's `Builder::dpor` from this field, so the patched loom's
    /// `LOOM_DPOR` environment variable has no effect on thpcheck runs (on purpose: a run's
    /// search is chosen by its configuration, and recorded with it).
    pub loom_dpor: bool,
    /// Fingerprint every execution's final state (`thpcheck audit`).
    pub audit: bool,
    /// When executions record their trace (see [`Tracing`]).
    pub trace: Tracing,
    /// Log every synchronisation operation (`thpcheck bench`'s bare program; thp_model's
    /// kernel/oplog.rs).
    pub record_ops: bool,
}

/// When the executions of a run record the trace a counterexample prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tracing {
    /// Executions run untraced; when one fails, it alone is run again traced: shuttle replays
    /// its recorded schedule, loom explores again in the same (deterministic) order up to it.
    /// A run that holds pays nothing for traces. The default (the std stress engine, which
    /// cannot repeat an execution, traces every one).
    OnFailure,
    /// Every execution records its trace (`thpcheck bench` measures what that costs).
    Every,
    /// No execution does: a counterexample has no trace.
    Off,
}

impl RunConfig {
    pub fn new(engine: EngineSpec) -> Self {
        RunConfig {
            engine,
            rules: RuleSet::all_on(),
            hardware: Hardware::default(),
            config: KernelConfig::default(),
            time_budget: None,
            lockdep: Arc::new(LockGraph::new()),
            loom_dpor: true,
            audit: false,
            trace: Tracing::OnFailure,
            record_ops: false,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Panic hook.

thread_local! {
    /// Some(_) while a check runs on this OS thread: holds the first panic.
    static CAPTURE: RefCell<Option<Option<Panicked>>> = const { RefCell::new(None) };
}

/// The first panic of a check: its message and where it was raised (`file:line`, for an
/// invariant the `vm_bug_on!` that fired).
struct Panicked {
    message: String,
    site: Option<String>,
}

fn our_hook() -> Box<dyn Fn(&panic::PanicHookInfo<'_>) + Sync + Send + 'static> {
    Box::new(|info| {
        let quiet = CAPTURE.with(|c| {
            let mut c = c.borrow_mut();
            match c.as_mut() {
                Some(slot) => {
                    if slot.is_none() {
                        *slot = Some(Panicked {
                            message: payload_message(info.payload()),
                            site: info
                                .location()
                                .map(|l| format!("{}:{}", l.file(), l.line())),
                        });
                    }
                    true
                }
                None => false,
            }
        });
        if !quiet || std::env::var_os("THPCHECK_DEBUG_PANICS").is_some() {
            eprintln!("{info}");
        }
    })
}

static HOOK: Once = Once::new();

fn install_hook() {
    HOOK.call_once(|| {
        // shuttle installs its (noisy) hook once per process, at the start of its first
        // execution. Let it do so now, on an empty test, then put ours in its place for good.
        shuttle::check_random(|| {}, 1);
        panic::set_hook(our_hook());
    });
}

/// Run `f` (a program driving loom or shuttle outside [`run`], such as `bench`'s bare program)
/// with panics captured instead of printed: loom ends its idle coroutines with a panic that it
/// catches itself, which our hook would otherwise print.
pub fn quietly<T>(f: impl FnOnce() -> T) -> T {
    install_hook();
    let outer = CAPTURE.with(|c| c.borrow_mut().replace(None));
    let r = panic::catch_unwind(AssertUnwindSafe(f));
    CAPTURE.with(|c| *c.borrow_mut() = outer);
    restore_hook_after_shuttle();
    match r {
        Ok(v) => v,
        Err(p) => panic::resume_unwind(p),
    }
}

/// shuttle leaves its own hook installed after its first run; put ours back. One `set_hook`,
/// no `take_hook` first: checks may run on several threads at once (`--jobs`), and a panic on
/// another thread between a take and a set would meet the default hook (printed to stderr, not
/// captured).
fn restore_hook_after_shuttle() {
    panic::set_hook(our_hook());
}

/// The stack of the OS thread a shuttle run is driven from (the CPUs have their own coroutine
/// stacks; this one holds shuttle's executor and its teardown). The size of a main thread's.
const SHUTTLE_RUN_STACK: usize = 8 << 20;

fn payload_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else {
        "[model bug] panic with a non-string payload".to_string()
    }
}

fn reset_capture() {
    CAPTURE.with(|c| *c.borrow_mut() = Some(None));
}

fn take_capture() -> Option<Panicked> {
    CAPTURE.with(|c| c.borrow_mut().take().flatten())
}

// ---------------------------------------------------------------------------------------------
// shuttle schedule recording.

#[derive(Default)]
struct Recorded {
    schedule: Schedule,
}

struct Recording<S: Scheduler> {
    inner: S,
    rec: Arc<Mutex<Recorded>>,
}

impl<S: Scheduler> Scheduler for Recording<S> {
    fn new_execution(&mut self) -> Option<Schedule> {
        let s = self.inner.new_execution()?;
        let mut r = self.rec.lock().unwrap_or_else(|e| e.into_inner());
        r.schedule = Schedule::new(s.seed);
        Some(s)
    }
    fn next_task(
        &mut self,
        runnable: &[&Task],
        current: Option<TaskId>,
        is_yielding: bool,
    ) -> Option<TaskId> {
        let t = self.inner.next_task(runnable, current, is_yielding)?;
        self.rec
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .schedule
            .push_task(t);
        Some(t)
    }
    fn next_u64(&mut self) -> u64 {
        self.rec
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .schedule
            .push_random();
        self.inner.next_u64()
    }
}

/// A lenient replay: the schedule is read as runs (a task and how many scheduling points it
/// ran for), and each run is followed while its task is runnable; a run whose task is not
/// runnable is skipped. Past the last run no CPU is preempted: the current one goes on until it
/// blocks or yields, then the lowest-numbered other runnable one. Unlike shuttle's replay it
/// never rejects a schedule, so a delta-debugger can drop runs from a failing schedule and
/// still get an execution (recorded as usual, so it replays exactly).
pub struct Guided {
    runs: Vec<(TaskId, usize)>,
    run: usize,
    left: usize,
    started: bool,
    data: shuttle_engine::scheduler::data::random::RandomDataSource,
}

impl Guided {
    pub fn new(s: &Schedule) -> Self {
        use shuttle_engine::scheduler::data::DataSource;
        Guided {
            runs: schedule_runs(s),
            run: 0,
            left: 0,
            started: false,
            data: shuttle_engine::scheduler::data::random::RandomDataSource::initialize(s.seed),
        }
    }
}

/// The task choices of `s` as runs: (task, consecutive scheduling points).
pub fn schedule_runs(s: &Schedule) -> Vec<(TaskId, usize)> {
    let mut runs: Vec<(TaskId, usize)> = Vec::new();
    for step in &s.steps {
        if let shuttle_engine::scheduler::ScheduleStep::Task(t) = step {
            match runs.last_mut() {
                Some((last, n)) if last == t => *n += 1,
                _ => runs.push((*t, 1)),
            }
        }
    }
    runs
}

/// A schedule made of `runs` (no random choices: the guided scheduler draws those from the seed).
pub fn runs_schedule(seed: u64, runs: &[(TaskId, usize)]) -> Schedule {
    let mut s = Schedule::new(seed);
    for (t, n) in runs {
        for _ in 0..*n {
            s.push_task(*t);
        }
    }
    s
}

impl Scheduler for Guided {
    fn new_execution(&mut self) -> Option<Schedule> {
        use shuttle_engine::scheduler::data::DataSource;
        if self.started {
            return None;
        }
        self.started = true;
        Some(Schedule::new(self.data.reinitialize()))
    }
    fn next_task(
        &mut self,
        runnable: &[&Task],
        current: Option<TaskId>,
        is_yielding: bool,
    ) -> Option<TaskId> {
        let can = |t: TaskId| runnable.iter().any(|r| r.id() == t);
        // Go on with the current run while its task can run.
        if self.left > 0 {
            let t = self.runs[self.run - 1].0;
            if can(t) {
                self.left -= 1;
                return Some(t);
            }
        }
        while self.run < self.runs.len() {
            let (t, n) = self.runs[self.run];
            self.run += 1;
            if can(t) {
                self.left = n - 1;
                return Some(t);
            }
        }
        self.left = 0;
        match current {
            Some(c) if can(c) && !is_yielding => Some(c),
            _ => runnable
                .iter()
                .map(|r| r.id())
                .find(|&t| Some(t) != current)
                .or_else(|| runnable.first().map(|r| r.id())),
        }
    }
    fn next_u64(&mut self) -> u64 {
        use shuttle_engine::scheduler::data::DataSource;
        self.data.next_u64()
    }
}

/// Run `one` under shuttle scheduler `s`, recording the schedule into `rec`.
fn run_recorded<S: Scheduler + 'static>(
    s: S,
    rec: &Arc<Mutex<Recorded>>,
    config: shuttle::Config,
    one: impl Fn() + Send + Sync + 'static,
) {
    shuttle::Runner::new(
        Recording {
            inner: s,
            rec: rec.clone(),
        },
        config,
    )
    .run(one);
}

/// A shuttle schedule in shuttle's own serialized form (what `shuttle::replay` accepts).
pub fn encode_schedule(s: &Schedule) -> String {
    let mut t = shuttle_engine::scheduler::serialization::serialize_schedule(s);
    t.retain(|c| !c.is_whitespace()); // shuttle wraps long schedules
    t
}

/// Parse a serialized shuttle schedule; None if malformed.
pub fn decode_schedule(s: &str) -> Option<Schedule> {
    // shuttle's decoder indexes without checking on some corrupt inputs; contain that.
    install_hook();
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    let outer = CAPTURE.with(|c| c.borrow_mut().replace(None));
    let r = panic::catch_unwind(move || {
        shuttle_engine::scheduler::serialization::deserialize_schedule(&s)
    });
    CAPTURE.with(|c| *c.borrow_mut() = outer);
    r.ok().flatten()
}

// ---------------------------------------------------------------------------------------------
// Running.

/// Run `body` under `cfg.engine`. `body` is one execution: it builds the initial state, starts
/// the CPUs, joins them and checks the final state; it reports a violation by panicking with an
/// invariant-tagged message.
pub fn run(cfg: &RunConfig, body: Arc<dyn Fn() + Send + Sync>) -> RunResult {
    let lazily =
        cfg.trace == Tracing::OnFailure && !matches!(cfg.engine, EngineSpec::Stress { .. });
    if !lazily {
        return run_once(cfg, cfg.trace != Tracing::Off, body);
    }
    let first = run_once(cfg, false, body.clone());
    let schedule = match &first.verdict {
        Verdict::Counterexample { schedule, .. } => schedule.clone(),
        Verdict::ModelBug { .. } => None,
        Verdict::Holds | Verdict::Incomplete { .. } => return first,
    };
    // The failing execution again, traced. Replaying a shuttle schedule is one execution; loom
    // repeats its exploration up to the failure, so it gets the time that took (and some).
    let again = RunConfig {
        engine: match (&cfg.engine, schedule) {
            (EngineSpec::Loom { .. }, _) => cfg.engine.clone(),
            (_, Some(schedule)) => EngineSpec::ShuttleReplay { schedule },
            (_, None) => cfg.engine.clone(), // a shuttle model bug: its search again
        },
        time_budget: Some(first.wall * 3 + Duration::from_secs(10)),
        ..cfg.clone()
    };
    let traced = run_once(&again, true, body);
    let same = traced.message() == first.message()
        && std::mem::discriminant(&traced.verdict) == std::mem::discriminant(&first.verdict);
    RunResult {
        engine: first.engine.clone(),
        executions: first.executions,
        wall: first.wall + traced.wall,
        verdict: if same {
            match (traced.verdict, first.verdict) {
                // The schedule token is the first run's (the replay's is the same schedule).
                (
                    Verdict::Counterexample { trace, .. },
                    Verdict::Counterexample {
                        message,
                        site,
                        schedule,
                        ..
                    },
                ) => Verdict::Counterexample {
                    message,
                    site,
                    trace,
                    schedule,
                },
                (v, _) => v,
            }
        } else {
            Verdict::ModelBug {
                message: format!(
                    "{MODEL_BUG} the failing execution did not fail the same way when run again \
                     traced (first: {:?}; again: {:?}): the model is not deterministic",
                    first.message(),
                    traced.message()
                ),
                trace: Vec::new(),
            }
        },
    }
}

/// One run of `body` under `cfg.engine`, every execution traced or none.
fn run_once(cfg: &RunConfig, trace: bool, body: Arc<dyn Fn() + Send + Sync>) -> RunResult {
    install_hook();
    let opts = ExecutionOptions {
        engine: cfg.engine.model_engine(),
        rules: cfg.rules.clone(),
        hardware: cfg.hardware,
        config: cfg.config,
        lockdep: cfg.lockdep.clone(),
        trace,
        audit: cfg.audit,
        record_ops: cfg.record_ops,
    };
    let executions = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = cfg.time_budget.map(|b| start + b);
    let out_of_time = Arc::new(std::sync::atomic::AtomicBool::new(false));

    let execs = executions.clone();
    let oot = out_of_time.clone();
    let one = move || {
        execs.fetch_add(1, Ordering::Relaxed);
        crate::progress::execution();
        CAPTURE.with(|c| *c.borrow_mut() = Some(None));
        with_execution(&opts, || body());
        if let Some(d) = deadline {
            if Instant::now() > d {
                oot.store(true, Ordering::Relaxed);
            }
        }
    };

    reset_capture();
    let mut schedule_rec: Option<Arc<Mutex<Recorded>>> = None;
    // What a shuttle run's own thread captured, and its trace (see below); None for the other
    // engines.
    type Captured = (
        Option<Panicked>,
        Option<Vec<thp_model::kernel::trace::Event>>,
    );
    let mut shuttle_capture: Option<Captured> = None;
    let outcome: Result<(), Box<dyn std::any::Any + Send>> = match &cfg.engine {
        EngineSpec::Loom {
            preemption_bound,
            max_branches,
        } => {
            let mut b = loom::model::Builder::new();
            b.preemption_bound = *preemption_bound;
            b.dpor = cfg.loom_dpor;
            b.max_branches = *max_branches;
            b.max_permutations = None;
            b.max_duration = cfg.time_budget;
            b.checkpoint_file = None;
            b.log = false;
            b.location = false;
            panic::catch_unwind(AssertUnwindSafe(|| b.check(one)))
        }
        EngineSpec::Stress { iterations } => {
            let n = *iterations;
            panic::catch_unwind(AssertUnwindSafe(|| {
                for _ in 0..n {
                    one();
                    if out_of_time.load(Ordering::Relaxed) {
                        break;
                    }
                }
            }))
        }
        shuttle_spec => {
            let rec = Arc::new(Mutex::new(Recorded::default()));
            schedule_rec = Some(rec.clone());
            let mut config = shuttle::Config::new();
            config.failure_persistence = shuttle::FailurePersistence::None;
            config.max_time = cfg.time_budget;
            config.silence_warnings = true;
            // Stop scheduling at the first panic: by default shuttle keeps running the other
            // CPUs while the failing one unwinds (its lock guards' drops are scheduling
            // points), so they run with `std::thread::panicking()` set and a second violation
            // there would abort the process instead of reporting the first.
            config
                .ungraceful_shutdown_config
                .immediately_return_on_panic = true;
            // shuttle runs every CPU as a coroutine on the OS thread that calls it. When a CPU
            // panics and switches out while it unwinds (a lock guard's drop is a scheduling
            // point), shuttle returns at once (`immediately_return_on_panic`) and its teardown
            // leaves that half-unwound stack behind; the OS thread's panic count, which every
            // coroutine shares, stays raised for good. The thread then reports
            // `std::thread::panicking()` to every later run (shuttle's early return fires at the
            // first yield, `set_hook` panics). So each shuttle run gets a fresh OS thread, and
            // the damage dies with it. The panic hook records into the thread it runs on: the
            // run thread hands its captured message back.
            let run_shuttle = || {
                reset_capture();
                let r = panic::catch_unwind(AssertUnwindSafe(|| match shuttle_spec {
                    EngineSpec::ShuttleRandom { seed, iterations } => {
                        // No "failing seed" message: the failure is reported here, with a
                        // replay token (third_party/shuttle-schedulers/PATCHES.md).
                        let s =
                            shuttle::scheduler::RandomScheduler::new_from_seed(*seed, *iterations)
                                .without_failing_seed_report();
                        run_recorded(s, &rec, config, one);
                    }
                    EngineSpec::ShuttlePct {
                        seed,
                        depth,
                        iterations,
                    } => {
                        let s = shuttle::scheduler::PctScheduler::new_from_seed(
                            *seed,
                            *depth,
                            *iterations,
                        );
                        run_recorded(s, &rec, config, one);
                    }
                    EngineSpec::ShuttleDfs { max_iterations } => {
                        let s = shuttle::scheduler::DfsScheduler::new(*max_iterations, false);
                        run_recorded(s, &rec, config, one);
                    }
                    EngineSpec::ShuttleReplay { schedule } => {
                        let sched = decode_schedule(schedule).unwrap_or_else(|| {
                            panic!("[model bug] replay schedule was not validated")
                        });
                        let s = shuttle::scheduler::ReplayScheduler::new_from_schedule(sched);
                        run_recorded(s, &rec, config, one);
                    }
                    EngineSpec::ShuttleGuided { schedule } => {
                        let sched = decode_schedule(schedule).unwrap_or_else(|| {
                            panic!("[model bug] guided schedule was not validated")
                        });
                        run_recorded(Guided::new(&sched), &rec, config, one);
                    }
                    _ => unreachable!(),
                }));
                // The trace of the last execution is kept per OS thread too.
                let trace = r.is_err().then(last_trace);
                (r, (take_capture(), trace))
            };
            let (r, c) = std::thread::scope(|scope| {
                let joined = std::thread::Builder::new()
                    .name("thpcheck-shuttle".into())
                    .stack_size(SHUTTLE_RUN_STACK)
                    .spawn_scoped(scope, run_shuttle)
                    .map(|h| h.join());
                match joined {
                    Ok(Ok(rc)) => rc,
                    Ok(Err(payload)) => (Err(payload), (None, None)),
                    Err(e) => (
                        Err(Box::new(format!(
                            "[model bug] cannot start a shuttle run thread: {e}"
                        )) as Box<dyn std::any::Any + Send>),
                        (None, None),
                    ),
                }
            });
            restore_hook_after_shuttle();
            shuttle_capture = Some(c);
            r
        }
    };
    let wall = start.elapsed();
    let (captured, shuttle_trace) = match shuttle_capture {
        Some((c, t)) => {
            let _ = take_capture();
            (c, t)
        }
        None => (take_capture(), None),
    };
    let last_trace = move || shuttle_trace.clone().unwrap_or_else(last_trace);
    let n = executions.load(Ordering::Relaxed);
    let verdict = match outcome {
        Ok(()) => {
            if out_of_time.load(Ordering::Relaxed) || cfg.time_budget.is_some_and(|b| wall >= b) {
                Verdict::Incomplete {
                    reason: format!(
                        "time budget of {:?} spent after {n} executions",
                        cfg.time_budget.unwrap_or_default()
                    ),
                }
            } else if let EngineSpec::ShuttleDfs {
                max_iterations: Some(m),
            } = &cfg.engine
            {
                // DFS capped: holds for what it explored; exhaustive only if it ran out first.
                let _ = m;
                Verdict::Holds
            } else {
                Verdict::Holds
            }
        }
        Err(payload) => {
            let (message, site) = match captured {
                Some(p) => (p.message, p.site),
                None => (payload_message(&*payload), None),
            };
            if message.starts_with(MODEL_BUG) {
                // The model or the harness is inconsistent: never a counterexample.
                Verdict::ModelBug {
                    message,
                    trace: last_trace(),
                }
            } else {
                let schedule = schedule_rec.map(|r| {
                    encode_schedule(&r.lock().unwrap_or_else(|e| e.into_inner()).schedule)
                });
                Verdict::Counterexample {
                    message,
                    site,
                    trace: last_trace(),
                    schedule,
                }
            }
        }
    };
    RunResult {
        engine: cfg.engine.clone(),
        executions: n,
        wall,
        verdict,
    }
}

impl RunResult {
    /// Where a counterexample's violation was raised (`file:line`), if known.
    pub fn site(&self) -> Option<&str> {
        match &self.verdict {
            Verdict::Counterexample { site, .. } => site.as_deref(),
            _ => None,
        }
    }
    /// One greppable key=value line (docs/contributing.md#results).
    pub fn line(&self, scenario: &str) -> String {
        format!(
            "scenario={scenario} engine={} {} executions={} secs={:.3} verdict={}",
            self.engine.name(),
            self.engine.bound(),
            self.executions,
            self.wall.as_secs_f64(),
            self.verdict.label()
        )
    }

    /// The failure message, if any (a counterexample's or a model bug's).
    pub fn message(&self) -> Option<&str> {
        match &self.verdict {
            Verdict::Counterexample { message, .. } | Verdict::ModelBug { message, .. } => {
                Some(message)
            }
            _ => None,
        }
    }
}
