//! The event log of an execution, printed with a counterexample: one line a step, naming the
//! CPU, the kernel function, and the object and values read or written.
//!
//! Stored in std types inside the current execution (invisible to the engines). The log of the
//! last execution started on this OS thread stays readable after the execution panicked, which
//! is how the check runner prints the failing interleaving.
// Write-only instrumentation: std types allowed here (clippy.toml).
#![allow(clippy::disallowed_types)]

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use crate::kernel::engine::{current, Execution};

/// One step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub cpu: usize,
    pub func: &'static str,
    pub what: String,
    /// The locks the CPU held when it took the step, outermost first (`pmd_lock(mm0)`,
    /// `mmap_lock(mm0):R`, `folio_lock(0)`); empty for a lockless step.
    pub held: Vec<String>,
}

impl Event {
    /// The lock column: `{a, b}` or `-`.
    pub fn held_text(&self) -> String {
        if self.held.is_empty() {
            "-".to_string()
        } else {
            format!("{{{}}}", self.held.join(", "))
        }
    }
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cpu{}  {:<32} {}", self.cpu, self.func, self.what)?;
        if !self.held.is_empty() {
            write!(f, "   [holds {}]", self.held.join(", "))?;
        }
        Ok(())
    }
}

/// The log as recorded. Steps keep their text; which locks a step's CPU held is not copied
/// into every step (that cost every execution a copy of the held stack per step) but
/// reconstructed from the lock acquisitions and releases, which are logged as they happen and
/// replayed only when the failing execution's log is turned into [`Event`]s.
#[derive(Debug)]
pub(crate) enum RawEvent {
    Step {
        cpu: usize,
        func: &'static str,
        what: String,
    },
    Acquire {
        cpu: usize,
        lock: crate::kernel::lockdep::HeldLock,
    },
    Release {
        cpu: usize,
        instance: usize,
    },
}

/// Turn a recorded log into steps, each with the locks its CPU held then.
fn cook(raw: &[RawEvent]) -> Vec<Event> {
    let mut held: std::collections::HashMap<usize, Vec<&crate::kernel::lockdep::HeldLock>> =
        std::collections::HashMap::new();
    let mut out = Vec::new();
    for r in raw {
        match r {
            RawEvent::Step { cpu, func, what } => out.push(Event {
                cpu: *cpu,
                func,
                what: what.clone(),
                held: held
                    .get(cpu)
                    .map(|v| v.iter().map(|h| h.describe()).collect())
                    .unwrap_or_default(),
            }),
            RawEvent::Acquire { cpu, lock } => held.entry(*cpu).or_default().push(lock),
            RawEvent::Release { cpu, instance } => {
                let v = held.entry(*cpu).or_default();
                if let Some(i) = v.iter().rposition(|h| h.instance == *instance) {
                    v.remove(i);
                }
            }
        }
    }
    out
}

/// Log a lock acquisition (lockdep's view: a blocking acquisition counts from the attempt).
pub(crate) fn lock_event(exec: &Execution, cpu: usize, lock: &crate::kernel::lockdep::HeldLock) {
    if exec.options.trace {
        exec.trace
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(RawEvent::Acquire {
                cpu,
                lock: lock.clone(),
            });
    }
}

/// Log a lock release.
pub(crate) fn unlock_event(exec: &Execution, cpu: usize, instance: usize) {
    if exec.options.trace {
        exec.trace
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(RawEvent::Release { cpu, instance });
    }
}

thread_local! {
    static LAST: RefCell<Option<Arc<Execution>>> = const { RefCell::new(None) };
}

pub(crate) fn clear_last() {
    let e = current();
    LAST.with(|l| *l.borrow_mut() = Some(e));
}

/// Record a step of kernel function `func` on the current CPU.
pub fn event(func: &'static str, what: impl FnOnce() -> String) {
    let exec = current();
    if !exec.options.trace {
        return;
    }
    let cpu = exec.cpu();
    let ev = RawEvent::Step {
        cpu,
        func,
        what: what(),
    };
    exec.trace
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(ev);
}

/// The log of the last execution started on this OS thread.
pub fn last_trace() -> Vec<Event> {
    LAST.with(|l| {
        l.borrow()
            .as_ref()
            .map(|e| cook(&e.trace.lock().unwrap_or_else(|e| e.into_inner())))
            .unwrap_or_default()
    })
}

/// `trace!("func", "fmt", args..)`: record one step.
#[macro_export]
macro_rules! trace {
    ($func:expr, $($arg:tt)*) => {
        $crate::kernel::trace::event($func, || format!($($arg)*))
    };
}

/// Named events a scenario must see happen (a branch taken), recorded by model code with
/// [`Observed::record`] and read by the scenario with [`Observed::contains`] only after every
/// CPU has been joined. Write-only during the run — no model code reads it back, so it steers
/// nothing — hence a std type, invisible to the engines (kernel/mod.rs, "What may be a std
/// type").
#[derive(Debug, Default)]
pub struct Observed(Mutex<BTreeSet<&'static str>>);

impl Observed {
    pub fn new() -> Self {
        Self::default()
    }

    /// Record that `event` happened in this execution.
    pub fn record(&self, event: &'static str) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(event);
    }

    /// Every event recorded (after the run; the audit's final-state fingerprint).
    pub fn events(&self) -> BTreeSet<&'static str> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Did `event` happen? (after the run)
    pub fn contains(&self, event: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(event)
    }
}
