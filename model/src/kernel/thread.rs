//! CPUs: model threads started with [`spawn`], joined with [`JoinHandle::join`], and the sleep
//! accounting that turns a lost wake-up into a reported violation instead of an engine abort.
//!
//! loom aborts the whole process when every thread is blocked (a second panic inside its
//! runtime), which `catch_unwind` cannot observe. So every sleeping primitive of this layer
//! (rw_semaphore, wait queues, join) tells the thread table before it sleeps; if the sleeper
//! would be the last CPU still running, that is a deadlock or a lost wake-up, and it panics
//! with invariant I20 as an ordinary, catchable failure.

use std::sync::Arc;

use crate::kernel::engine::{self, current, engine_thread_key, Engine};

/// A started CPU.
pub struct JoinHandle<T> {
    cpu: usize,
    inner: JoinImpl<T>,
}

enum JoinImpl<T> {
    Loom(loom::thread::JoinHandle<T>),
    Shuttle(shuttle::thread::JoinHandle<T>),
    Std(std::thread::JoinHandle<T>),
}

/// Start a new CPU running `f` (kernel: another task on another CPU).
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let exec = current();
    let cpu = {
        let mut t = exec.lock_threads();
        let c = t.next_cpu;
        t.next_cpu += 1;
        t.alive += 1;
        c
    };
    let child_exec = exec.clone();
    let body = move || {
        engine::set_current(child_exec.clone());
        let key = engine_thread_key(child_exec.options.engine);
        {
            let mut t = child_exec.lock_threads();
            t.cpus.insert(key, cpu);
            t.handles
                .insert(cpu, EngineThread::current(child_exec.options.engine));
        }
        let r = f();
        thread_exit(&child_exec, cpu);
        r
    };
    crate::kernel::oplog::note(crate::kernel::oplog::Op::Spawn(cpu));
    let inner = match exec.options.engine {
        Engine::Loom => JoinImpl::Loom(loom::thread::spawn(body)),
        Engine::Shuttle => JoinImpl::Shuttle(shuttle::thread::spawn(body)),
        Engine::Std => JoinImpl::Std(std::thread::spawn(body)),
    };
    JoinHandle { cpu, inner }
}

fn thread_exit(exec: &Arc<engine::Execution>, cpu: usize) {
    let mut t = exec.lock_threads();
    t.alive -= 1;
    t.exited.insert(cpu);
    if let Some(joiner) = t.joining.remove(&cpu) {
        t.asleep -= 1;
        t.sleeping_on.remove(&joiner);
    }
    // The last running CPU leaves while others sleep: nobody can wake them.
    if t.alive > 0 && t.asleep == t.alive {
        let mut others: Vec<String> = t
            .sleeping_on
            .iter()
            .map(|(c, w)| format!("cpu{c} in {w}"))
            .collect();
        others.sort();
        drop(t);
        panic!(
            "[I20 lost-wakeup] cpu{cpu} finished and every other CPU sleeps with nobody left to wake it: {}",
            others.join(", ")
        );
    }
}

impl<T> JoinHandle<T> {
    /// The CPU number of this thread.
    pub fn cpu(&self) -> usize {
        self.cpu
    }

    /// Wait for the CPU to finish; a panic in it is propagated.
    pub fn join(self) -> T {
        let exec = current();
        let me = exec.cpu();
        // The exit check and the sleep record happen under one lock, so a child that exits
        // in between (std threads) cannot leave this CPU counted as asleep.
        about_to_sleep_if(
            &exec,
            me,
            format!("join(cpu{})", self.cpu),
            Some(self.cpu),
            |t| !t.exited.contains(&self.cpu),
        );
        crate::kernel::oplog::note(crate::kernel::oplog::Op::Join(self.cpu));
        let r = match self.inner {
            JoinImpl::Loom(h) => h.join(),
            JoinImpl::Shuttle(h) => h.join(),
            JoinImpl::Std(h) => h.join(),
        };
        match r {
            Ok(v) => v,
            Err(p) => std::panic::resume_unwind(p),
        }
    }
}

/// Called by a sleeping primitive just before `cpu` sleeps. `join_target` is set for join.
pub(crate) fn about_to_sleep(
    exec: &Arc<engine::Execution>,
    cpu: usize,
    what: String,
    join_target: Option<usize>,
) {
    about_to_sleep_if(exec, cpu, what, join_target, |_| true)
}

pub(crate) fn about_to_sleep_if(
    exec: &Arc<engine::Execution>,
    cpu: usize,
    what: String,
    join_target: Option<usize>,
    needed: impl FnOnce(&engine::Threads) -> bool,
) {
    let mut t = exec.lock_threads();
    if !needed(&t) {
        return;
    }
    if t.asleep + 1 >= t.alive {
        let mut others: Vec<String> = t
            .sleeping_on
            .iter()
            .map(|(c, w)| format!("cpu{c} in {w}"))
            .collect();
        others.sort();
        drop(t);
        panic!(
            "[I20 lost-wakeup] cpu{cpu} sleeps in {what} and no CPU is left to wake it (asleep: {})",
            if others.is_empty() { "none".to_string() } else { others.join(", ") }
        );
    }
    t.asleep += 1;
    t.sleeping_on.insert(cpu, what);
    if let Some(c) = join_target {
        t.joining.insert(c, cpu);
    }
}

/// Called by a waker for every CPU it wakes.
pub(crate) fn woken(exec: &Arc<engine::Execution>, cpus: &[usize]) {
    let mut t = exec.lock_threads();
    for c in cpus {
        if t.sleeping_on.remove(c).is_some() {
            t.asleep -= 1;
        }
    }
}

/// A CPU's engine thread, to park and unpark it.
#[derive(Clone, Debug)]
pub(crate) enum EngineThread {
    Loom(loom::thread::Thread),
    Shuttle(shuttle::thread::Thread),
    Std(std::thread::Thread),
}

impl EngineThread {
    pub(crate) fn current(engine: Engine) -> Self {
        match engine {
            Engine::Loom => EngineThread::Loom(loom::thread::current()),
            Engine::Shuttle => EngineThread::Shuttle(shuttle::thread::current()),
            Engine::Std => EngineThread::Std(std::thread::current()),
        }
    }
    pub(crate) fn unpark(&self) {
        crate::kernel::oplog::note(crate::kernel::oplog::Op::Unpark);
        match self {
            EngineThread::Loom(t) => t.unpark(),
            EngineThread::Shuttle(t) => t.unpark(),
            EngineThread::Std(t) => t.unpark(),
        }
    }
}

/// Park the calling CPU until it is unparked (it may return early: callers loop).
pub(crate) fn park() {
    crate::kernel::oplog::note(crate::kernel::oplog::Op::Park);
    match engine::current_engine() {
        Engine::Loom => loom::thread::park(),
        Engine::Shuttle => shuttle::thread::park(),
        Engine::Std => std::thread::park(),
    }
}

/// The current CPU number.
pub fn current_cpu() -> usize {
    current().cpu()
}

/// `cpu_relax()`: a spin loop that waits for another CPU's progress calls it; it yields under
/// loom and shuttle, which explore an unfair scheduler and need the hint (loom `src/lib.rs`,
/// "Yielding"). Under loom a yield also means "not again before another CPU has run a step",
/// so a retry that can succeed at once (it reads a later value, by coherence) must not call
/// it: the immediate retry would never be explored.
pub fn cpu_relax() {
    crate::kernel::oplog::note(crate::kernel::oplog::Op::Yield);
    match engine::current_engine() {
        Engine::Loom => loom::thread::yield_now(),
        Engine::Shuttle => shuttle::thread::yield_now(),
        Engine::Std => std::hint::spin_loop(),
    }
}
