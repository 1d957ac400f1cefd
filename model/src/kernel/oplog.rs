//! The synchronisation operations of one execution, CPU by CPU, as the engine sees them
//! (atomic accesses with their orderings, fences, the engine mutexes and condition variables
//! the kernel locks are built of, park/unpark/yield, spawn and join). `thpcheck bench` records
//! one execution of a scenario and runs the same operations as a bare loom / shuttle program,
//! with no model around them, to measure what the model itself costs per execution.
//!
//! Off, an operation pays one relaxed load of a process-wide flag; on, only the execution
//! that asked ([`crate::kernel::ExecutionOptions::record_ops`]) logs.
// Write-only instrumentation, outside the engines: std types allowed here (clippy.toml).
#![allow(clippy::disallowed_types)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::kernel::engine::current;

/// An object the operations act on: the address of the atomic, mutex or condition variable
/// (stable for one execution; the bare program numbers them in order of first use).
pub type Obj = usize;

/// One synchronisation operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Load(Obj, Ordering),
    Store(Obj, Ordering),
    /// A read-modify-write that stored (a successful compare-and-swap included).
    Rmw(Obj, Ordering),
    /// A compare-and-swap that failed (a load, to the engine).
    CasFailed(Obj, Ordering),
    Fence(Ordering),
    Lock(Obj),
    /// `try_lock`, and whether it took the lock.
    TryLock(Obj, bool),
    Unlock(Obj),
    /// A condition-variable wait on the mutex `Obj` (released, then taken again).
    Wait(Obj),
    Notify,
    Park,
    Unpark,
    Yield,
    /// The CPU started CPU `n`.
    Spawn(usize),
    /// The CPU joined CPU `n`.
    Join(usize),
}

static RECORDING: AtomicBool = AtomicBool::new(false);
static LOG: Mutex<Vec<(usize, Op)>> = Mutex::new(Vec::new());

/// Log `op` for the current CPU if the current execution records.
#[inline]
pub(crate) fn note(op: Op) {
    if RECORDING.load(Ordering::Relaxed) {
        note_slow(op);
    }
}

#[cold]
fn note_slow(op: Op) {
    let exec = current();
    if exec.options.record_ops {
        let cpu = exec.cpu();
        LOG.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((cpu, op));
    }
}

/// Run `f` (which runs executions with `record_ops` set) and return what it returned with the
/// operations they logged, in the order they happened. One recording at a time per process.
pub fn record<T>(f: impl FnOnce() -> T) -> (T, Vec<(usize, Op)>) {
    static ONE: Mutex<()> = Mutex::new(());
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    LOG.lock().unwrap_or_else(|e| e.into_inner()).clear();
    RECORDING.store(true, Ordering::Relaxed);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    RECORDING.store(false, Ordering::Relaxed);
    let ops = std::mem::take(&mut *LOG.lock().unwrap_or_else(|e| e.into_inner()));
    match r {
        Ok(v) => (v, ops),
        Err(p) => std::panic::resume_unwind(p),
    }
}
