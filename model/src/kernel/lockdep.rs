//! Lock classes and a lockdep-style lock-order graph (kernel/locking/lockdep.c, in spirit).
//!
//! Every acquisition that can block records an edge from every class the CPU holds to the new
//! class. The graph lives across all executions of one check, so an AB/BA inversion seen in two
//! different executions — neither of which deadlocked — is still reported. A cycle is reported
//! the moment the closing edge is added, with both paths, as invariant I19.
//!
//! Trylocks do not add edges (they cannot block), but the lock is then held and later
//! acquisitions add edges from it — as in lockdep.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Mutex;

use crate::kernel::engine::current;

/// A lock class: the kernel's lock name plus a nesting subclass (`spin_lock_nested`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LockClass {
    pub name: &'static str,
    pub subclass: u8,
}

impl LockClass {
    pub const fn new(name: &'static str) -> Self {
        LockClass { name, subclass: 0 }
    }
    pub const fn nested(name: &'static str, subclass: u8) -> Self {
        LockClass { name, subclass }
    }
}

impl std::fmt::Display for LockClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.subclass == 0 {
            write!(f, "{}", self.name)
        } else {
            write!(f, "{}/{}", self.name, self.subclass)
        }
    }
}

/// Which lock instance a trace line means: the kernel's name for it and the object it guards
/// (`pmd_lock(mm0)`, `ptl(mm0 table 1)`, `folio_lock(2)`). Lockdep itself works on classes;
/// the label only serves the "locks held" column of a counterexample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockLabel {
    pub name: &'static str,
    /// The mm the lock belongs to, if any.
    pub mm: Option<usize>,
    /// The object within it: (what, index), e.g. ("table ", 1) or ("", folio).
    pub idx: Option<(&'static str, usize)>,
}

impl LockLabel {
    /// A lock with no object to name (the class name alone).
    pub const fn of_class(class: LockClass) -> Self {
        LockLabel {
            name: class.name,
            mm: None,
            idx: None,
        }
    }
}

impl std::fmt::Display for LockLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.name)?;
        match (self.mm, self.idx) {
            (None, None) => Ok(()),
            (Some(mm), None) => write!(f, "(mm{mm})"),
            (None, Some((what, i))) => write!(f, "({what}{i})"),
            (Some(mm), Some((what, i))) => write!(f, "(mm{mm} {what}{i})"),
        }
    }
}

/// A lock held by a CPU: its class and the identity of the instance.
#[derive(Clone, Debug)]
pub struct HeldLock {
    pub class: LockClass,
    pub instance: usize,
    pub how: &'static str,
    pub label: LockLabel,
}

impl HeldLock {
    /// `label` plus `:R` / `:W` for a reader-writer lock, as a trace's lock column shows it.
    pub fn describe(&self) -> String {
        if self.how.contains("read") {
            format!("{}:R", self.label)
        } else if self.how.contains("write") {
            format!("{}:W", self.label)
        } else {
            self.label.to_string()
        }
    }
}

/// How the edge was first seen: "cpuN: held A (how) then took B (how)".
#[derive(Clone, Debug)]
struct Witness(String);

/// The lock-order graph of one check (std types: invisible to the engines).
#[derive(Debug, Default)]
pub struct LockGraph {
    edges: Mutex<BTreeMap<LockClass, BTreeMap<LockClass, Witness>>>,
}

impl LockGraph {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every edge as "A -> B".
    pub fn edges(&self) -> Vec<(LockClass, LockClass)> {
        let g = self.edges.lock().unwrap_or_else(|e| e.into_inner());
        g.iter()
            .flat_map(|(a, m)| m.keys().map(move |b| (*a, *b)))
            .collect()
    }

    /// Add `from -> to`; on a cycle, return the message describing both paths.
    fn add_edge(&self, from: LockClass, to: LockClass, witness: String) -> Result<(), String> {
        let mut g = self.edges.lock().unwrap_or_else(|e| e.into_inner());
        if g.get(&from).is_some_and(|m| m.contains_key(&to)) {
            return Ok(());
        }
        // Is there already a path to -> ... -> from?
        if let Some(path) = find_path(&g, to, from) {
            let mut back = String::new();
            for w in path.iter() {
                back.push_str(&format!("\n    {w}"));
            }
            return Err(format!(
                "[I19 lock-order] possible circular locking dependency {from} -> {to}:\n  new edge: {witness}\n  existing path {to} -> {from}:{back}"
            ));
        }
        g.entry(from).or_default().insert(to, Witness(witness));
        Ok(())
    }
}

fn find_path(
    g: &BTreeMap<LockClass, BTreeMap<LockClass, Witness>>,
    src: LockClass,
    dst: LockClass,
) -> Option<Vec<String>> {
    let mut prev: BTreeMap<LockClass, (LockClass, String)> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    let mut q = VecDeque::new();
    q.push_back(src);
    seen.insert(src);
    while let Some(n) = q.pop_front() {
        if n == dst {
            let mut out = Vec::new();
            let mut cur = dst;
            while cur != src {
                let (p, w) = prev[&cur].clone();
                out.push(format!("{p} -> {cur}: {w}"));
                cur = p;
            }
            out.reverse();
            return Some(out);
        }
        if let Some(m) = g.get(&n) {
            for (next, w) in m {
                if seen.insert(*next) {
                    prev.insert(*next, (n, w.0.clone()));
                    q.push_back(*next);
                }
            }
        }
    }
    None
}

/// Record that the current CPU is about to acquire `class` (blocking acquisition): add the
/// edges, check for a cycle and for recursion. Panics with I19 on a violation.
pub fn lock_acquire(class: LockClass, instance: usize, how: &'static str, blocking: bool) {
    lock_acquire_as(class, instance, how, blocking, LockLabel::of_class(class))
}

/// [`lock_acquire`] for an instance with a [`LockLabel`] (what a trace shows it as).
pub fn lock_acquire_as(
    class: LockClass,
    instance: usize,
    how: &'static str,
    blocking: bool,
    label: LockLabel,
) {
    let exec = current();
    let cpu = exec.cpu();
    let held: Vec<HeldLock> = {
        let t = exec.lock_threads();
        t.held.get(&cpu).cloned().unwrap_or_default()
    };
    if blocking {
        if let Some(h) = held.iter().find(|h| h.instance == instance) {
            panic!(
                "[I19 lock-order] cpu{cpu}: recursive acquisition of {class} ({how}) while holding it ({})",
                h.how
            );
        }
        for h in &held {
            if h.class == class {
                panic!(
                    "[I19 lock-order] cpu{cpu}: acquires a second {class} ({how}) while holding one ({}) without a nesting subclass",
                    h.how
                );
            }
            let witness = format!(
                "cpu{cpu} held {} ({}) then took {class} ({how})",
                h.class, h.how
            );
            if let Err(msg) = exec.options.lockdep.add_edge(h.class, class, witness) {
                panic!("{msg}");
            }
        }
    }
    let h = HeldLock {
        class,
        instance,
        how,
        label,
    };
    crate::kernel::trace::lock_event(&exec, cpu, &h);
    let mut t = exec.lock_threads();
    t.held.entry(cpu).or_default().push(h);
}

/// Record that the current CPU released the lock `instance`.
pub(crate) fn lock_release(instance: usize) {
    let exec = current();
    let cpu = exec.cpu();
    let mut t = exec.lock_threads();
    let held = t.held.entry(cpu).or_default();
    match held.iter().rposition(|h| h.instance == instance) {
        Some(i) => {
            held.remove(i);
        }
        None => panic!("[model bug] cpu{cpu} releases a lock it does not hold"),
    }
    drop(t);
    crate::kernel::trace::unlock_event(&exec, cpu, instance);
}

/// Release `instance` if the current CPU's held stack has it. For locks that another context
/// may release (a folio born locked by split is unlocked by the splitter that never "took" it).
pub fn lock_release_if_held(instance: usize) {
    let exec = current();
    let cpu = exec.cpu();
    let mut t = exec.lock_threads();
    let held = t.held.entry(cpu).or_default();
    if let Some(i) = held.iter().rposition(|h| h.instance == instance) {
        held.remove(i);
        drop(t);
        crate::kernel::trace::unlock_event(&exec, cpu, instance);
    }
}

/// Does the current CPU hold lock `instance`? (`lockdep_assert_held`.)
pub(crate) fn is_held(instance: usize) -> bool {
    let exec = current();
    let cpu = exec.cpu();
    let t = exec.lock_threads();
    t.held
        .get(&cpu)
        .is_some_and(|h| h.iter().any(|h| h.instance == instance))
}

/// Enter an atomic section (spinlock held, RCU read side, IRQs off).
pub(crate) fn atomic_enter(what: &'static str) {
    let exec = current();
    let cpu = exec.cpu();
    exec.lock_threads()
        .atomic_depth
        .entry(cpu)
        .or_default()
        .push(what);
}

pub(crate) fn atomic_exit(what: &'static str) {
    let exec = current();
    let cpu = exec.cpu();
    let mut t = exec.lock_threads();
    let v = t.atomic_depth.entry(cpu).or_default();
    match v.iter().rposition(|w| *w == what) {
        Some(i) => {
            v.remove(i);
        }
        None => panic!("[model bug] cpu{cpu} leaves atomic section {what} it never entered"),
    }
}

/// `might_sleep()`: panic with I19 if the current CPU is in an atomic section.
pub fn might_sleep(what: &str) {
    let exec = current();
    let cpu = exec.cpu();
    let t = exec.lock_threads();
    if let Some(v) = t.atomic_depth.get(&cpu) {
        if let Some(inner) = v.last() {
            panic!("[I19 sleep-in-atomic] cpu{cpu}: {what} may sleep inside {inner}");
        }
    }
}

/// An IPI-sending wait must not run with IRQs off on this CPU (it would wait for itself).
pub fn assert_irqs_enabled(what: &str) {
    let exec = current();
    let cpu = exec.cpu();
    let t = exec.lock_threads();
    if t.atomic_depth
        .get(&cpu)
        .is_some_and(|v| v.contains(&"irqs_disabled"))
    {
        panic!("[I19 ipi-with-irqs-off] cpu{cpu}: {what} waits for IPIs with IRQs disabled");
    }
}

/// A unique id for a lock instance (lockdep identifies instances; loom objects have no
/// stable address we may use, so number them).
pub fn new_instance_id() -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
