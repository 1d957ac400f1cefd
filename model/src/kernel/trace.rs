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

/// A shared word whose stores traces log, so that a lockless read of it can name the store it
/// saw: a PMD, a PTE, a page's `compound_head`, `_refcount` or `flags` (see
/// `atomic_long_t::watched`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Loc {
    /// The PMD of mm `mm`.
    Pmd { mm: usize },
    /// Entry `idx` of PTE table `table` of mm `mm`.
    Pte { mm: usize, table: usize, idx: usize },
    /// `page[pfn].compound_head`.
    CompoundHead { pfn: usize },
    /// `page[pfn]._refcount`.
    Refcount { pfn: usize },
    /// `page[pfn].flags`.
    Flags { pfn: usize },
    /// `folio->_pincount` of the large folio whose head is `pfn`.
    Pincount { pfn: usize },
}

impl std::fmt::Display for Loc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Loc::Pmd { mm } => write!(f, "pmd(mm{mm})"),
            Loc::Pte { mm, table, idx } => write!(f, "pte(mm{mm} table {table})[{idx}]"),
            Loc::CompoundHead { pfn } => write!(f, "page[{pfn}].compound_head"),
            Loc::Refcount { pfn } => write!(f, "page[{pfn}]._refcount"),
            Loc::Flags { pfn } => write!(f, "page[{pfn}].flags"),
            Loc::Pincount { pfn } => write!(f, "folio[{pfn}]._pincount"),
        }
    }
}

/// The store a lockless read returned, found by value: the latest store to the word logged
/// before the read that wrote the value the read returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadFrom {
    pub loc: Loc,
    /// Index (in the trace) of the step whose store the read returned; None: no store to the
    /// word was logged before the read with that value, so it is the word's initial value (or
    /// a store made before tracing began, at set-up).
    pub store: Option<usize>,
    /// The read returned an older store than the latest one logged before it (loom's weak
    /// memory: a relaxed or acquire load may): the step of that latest store.
    pub newer: Option<usize>,
}

/// One step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub cpu: usize,
    pub func: &'static str,
    pub what: String,
    /// The locks the CPU held when it took the step, outermost first (`pmd_lock(mm0)`,
    /// `mmap_lock(mm0):R`, `folio_lock(0)`); empty for a lockless step.
    pub held: Vec<String>,
    /// A lockless read: the word and the store it returned.
    pub read: Option<ReadFrom>,
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
        if let Some(r) = &self.read {
            match r.store {
                Some(i) => write!(f, "   (saw the store of step {})", i + 1)?,
                None => write!(f, "   (saw the initial value)")?,
            }
            if let Some(n) = r.newer {
                write!(f, " (older than step {}'s)", n + 1)?;
            }
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
    /// A store to a watched word; it belongs to the next step its CPU logs.
    Store {
        cpu: usize,
        loc: Loc,
        value: i64,
    },
    /// A lockless read of a watched word; it belongs to the next step its CPU logs.
    Load {
        cpu: usize,
        loc: Loc,
        value: i64,
    },
}

/// Turn a recorded log into steps, each with the locks its CPU held then and, for a lockless
/// read of a watched word, the store it returned.
fn cook(raw: &[RawEvent]) -> Vec<Event> {
    use std::collections::HashMap;
    let mut held: HashMap<usize, Vec<&crate::kernel::lockdep::HeldLock>> = HashMap::new();
    // Stores logged so far: (word, value, index into `store_step`).
    let mut stores: Vec<(Loc, i64)> = Vec::new();
    // The step each store belongs to (its CPU's next step), once logged.
    let mut store_step: Vec<Option<usize>> = Vec::new();
    let mut pending_stores: HashMap<usize, Vec<usize>> = HashMap::new();
    // A read: (word, index of the store it returned, index of a newer store), store indices
    // still to map to steps.
    type Read = (Loc, Option<usize>, Option<usize>);
    // Per CPU, the read waiting for its step.
    let mut pending_load: HashMap<usize, Read> = HashMap::new();
    // Per step, the read it made.
    let mut reads: Vec<Option<Read>> = Vec::new();
    let mut out = Vec::new();
    for r in raw {
        match r {
            RawEvent::Step { cpu, func, what } => {
                for s in pending_stores.remove(cpu).unwrap_or_default() {
                    store_step[s] = Some(out.len());
                }
                reads.push(pending_load.remove(cpu));
                out.push(Event {
                    cpu: *cpu,
                    func,
                    what: what.clone(),
                    held: held
                        .get(cpu)
                        .map(|v| v.iter().map(|h| h.describe()).collect())
                        .unwrap_or_default(),
                    read: None,
                })
            }
            RawEvent::Store { cpu, loc, value } => {
                stores.push((*loc, *value));
                store_step.push(None);
                pending_stores
                    .entry(*cpu)
                    .or_default()
                    .push(stores.len() - 1);
            }
            RawEvent::Load { cpu, loc, value } => {
                let latest = stores.iter().rposition(|(l, _)| l == loc);
                let saw = stores.iter().rposition(|(l, v)| l == loc && v == value);
                let newer = match (latest, saw) {
                    (Some(l), Some(s)) if l != s => Some(l),
                    (Some(l), None) => Some(l),
                    _ => None,
                };
                pending_load.insert(*cpu, (*loc, saw, newer));
            }
            RawEvent::Acquire { cpu, lock } => held.entry(*cpu).or_default().push(lock),
            RawEvent::Release { cpu, instance } => {
                let v = held.entry(*cpu).or_default();
                if let Some(i) = v.iter().rposition(|h| h.instance == *instance) {
                    v.remove(i);
                }
            }
        }
    }
    for (e, r) in out.iter_mut().zip(reads) {
        e.read = r.map(|(loc, saw, newer)| ReadFrom {
            loc,
            store: saw.and_then(|s| store_step[s]),
            newer: newer.and_then(|s| store_step[s]),
        });
    }
    out
}

/// If the current execution traces, log the event `make` builds for the current CPU.
fn log_current(make: impl FnOnce(usize) -> RawEvent) {
    let exec = current();
    if exec.options.trace {
        let ev = make(exec.cpu());
        exec.trace
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(ev);
    }
}

/// Log a store of `value` to watched word `loc` (from the atomic layer).
pub(crate) fn store(loc: Loc, value: i64) {
    log_current(|cpu| RawEvent::Store { cpu, loc, value });
}

/// Log that the current CPU's next step is a lockless read of `loc` (if watched) that returned
/// `value`: the trace then names the store it saw.
pub fn load(loc: Option<Loc>, value: i64) {
    if let Some(loc) = loc {
        log_current(|cpu| RawEvent::Load { cpu, loc, value });
    }
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
    log_current(|cpu| RawEvent::Step {
        cpu,
        func,
        what: what(),
    });
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
