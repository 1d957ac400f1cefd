//! The event log of an execution, printed with a counterexample: one line a step, naming the
//! CPU, the kernel function, and the object and values read or written.
//!
//! Stored in std types inside the current execution (invisible to the engines). The log of the
//! last execution started on this OS thread stays readable after the execution panicked, which
//! is how the check runner prints the failing interleaving.

use std::cell::RefCell;
use std::sync::Arc;

use crate::kernel::engine::{current, Execution};

/// One step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub cpu: usize,
    pub func: &'static str,
    pub what: String,
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cpu{}  {:<32} {}", self.cpu, self.func, self.what)
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
    let ev = Event {
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
            .map(|e| e.trace.lock().unwrap_or_else(|e| e.into_inner()).clone())
            .unwrap_or_default()
    })
}

/// `trace!("func", "fmt", args..)`: record one step.
#[macro_export]
macro_rules! trace {
    ($func:expr, $($arg:tt)*) => {
        $crate::trace::event($func, || format!($($arg)*))
    };
}
