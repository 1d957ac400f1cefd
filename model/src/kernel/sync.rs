//! Engine-dispatched mutex and condition variable: the building blocks of
//! the kernel locks in this layer. Nothing outside `kernel/` uses them.

use std::ops::{Deref, DerefMut};

use crate::kernel::engine::{current_engine, Engine};
use crate::kernel::oplog::{note, Obj, Op};

pub(crate) enum EMutex<T> {
    Loom(loom::sync::Mutex<T>),
    Shuttle(shuttle::sync::Mutex<T>),
    Std(std::sync::Mutex<T>),
}

pub(crate) enum GuardImpl<'a, T> {
    Loom(loom::sync::MutexGuard<'a, T>),
    Shuttle(shuttle::sync::MutexGuard<'a, T>),
    Std(std::sync::MutexGuard<'a, T>),
}

/// A held [`EMutex`]; dropping it unlocks (and logs the unlock, kernel/oplog.rs).
pub(crate) struct EGuard<'a, T> {
    g: Option<GuardImpl<'a, T>>,
    obj: Obj,
}

impl<T> EMutex<T> {
    pub(crate) fn new(v: T) -> Self {
        match current_engine() {
            Engine::Loom => EMutex::Loom(loom::sync::Mutex::new(v)),
            Engine::Shuttle => EMutex::Shuttle(shuttle::sync::Mutex::new(v)),
            Engine::Std => EMutex::Std(std::sync::Mutex::new(v)),
        }
    }
    fn obj(&self) -> Obj {
        self as *const Self as usize
    }
    pub(crate) fn lock(&self) -> EGuard<'_, T> {
        note(Op::Lock(self.obj()));
        let g = match self {
            EMutex::Loom(m) => GuardImpl::Loom(m.lock().unwrap_or_else(|e| e.into_inner())),
            EMutex::Shuttle(m) => GuardImpl::Shuttle(m.lock().unwrap_or_else(|e| e.into_inner())),
            EMutex::Std(m) => GuardImpl::Std(m.lock().unwrap_or_else(|e| e.into_inner())),
        };
        EGuard {
            g: Some(g),
            obj: self.obj(),
        }
    }
    pub(crate) fn try_lock(&self) -> Option<EGuard<'_, T>> {
        let g = match self {
            EMutex::Loom(m) => m.try_lock().ok().map(GuardImpl::Loom),
            EMutex::Shuttle(m) => m.try_lock().ok().map(GuardImpl::Shuttle),
            EMutex::Std(m) => m.try_lock().ok().map(GuardImpl::Std),
        };
        note(Op::TryLock(self.obj(), g.is_some()));
        g.map(|g| EGuard {
            g: Some(g),
            obj: self.obj(),
        })
    }
}

impl<T> EGuard<'_, T> {
    /// Is this a shuttle mutex's guard? (A lock dropped while unwinding is kept under shuttle:
    /// kernel/spinlock.rs.)
    pub(crate) fn is_shuttle(&self) -> bool {
        matches!(self.g, Some(GuardImpl::Shuttle(_)))
    }
    fn inner(&self) -> &GuardImpl<'_, T> {
        match &self.g {
            Some(g) => g,
            None => unreachable!("an EGuard is emptied only by a condvar wait, which consumes it"),
        }
    }
}

impl<T> Drop for EGuard<'_, T> {
    fn drop(&mut self) {
        if self.g.is_some() {
            note(Op::Unlock(self.obj));
        }
    }
}

impl<T> Deref for EGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        match self.inner() {
            GuardImpl::Loom(g) => g,
            GuardImpl::Shuttle(g) => g,
            GuardImpl::Std(g) => g,
        }
    }
}
impl<T> DerefMut for EGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        match &mut self.g {
            Some(GuardImpl::Loom(g)) => &mut *g,
            Some(GuardImpl::Shuttle(g)) => &mut *g,
            Some(GuardImpl::Std(g)) => &mut *g,
            None => unreachable!("an EGuard is emptied only by a condvar wait, which consumes it"),
        }
    }
}

pub(crate) enum ECondvar {
    Loom(loom::sync::Condvar),
    Shuttle(shuttle::sync::Condvar),
    Std(std::sync::Condvar),
}

impl ECondvar {
    pub(crate) fn new() -> Self {
        match current_engine() {
            Engine::Loom => ECondvar::Loom(loom::sync::Condvar::new()),
            Engine::Shuttle => ECondvar::Shuttle(shuttle::sync::Condvar::new()),
            Engine::Std => ECondvar::Std(std::sync::Condvar::new()),
        }
    }
    pub(crate) fn wait<'a, T>(&self, mut g: EGuard<'a, T>) -> EGuard<'a, T> {
        let obj = g.obj;
        note(Op::Wait(obj));
        let inner = g.g.take();
        let back = match (self, inner) {
            (ECondvar::Loom(c), Some(GuardImpl::Loom(g))) => {
                GuardImpl::Loom(c.wait(g).unwrap_or_else(|e| e.into_inner()))
            }
            (ECondvar::Shuttle(c), Some(GuardImpl::Shuttle(g))) => {
                GuardImpl::Shuttle(c.wait(g).unwrap_or_else(|e| e.into_inner()))
            }
            (ECondvar::Std(c), Some(GuardImpl::Std(g))) => {
                GuardImpl::Std(c.wait(g).unwrap_or_else(|e| e.into_inner()))
            }
            _ => panic!("[model bug] condvar and mutex built under different engines"),
        };
        EGuard { g: Some(back), obj }
    }
    pub(crate) fn notify_all(&self) {
        note(Op::Notify);
        match self {
            ECondvar::Loom(c) => c.notify_all(),
            ECondvar::Shuttle(c) => c.notify_all(),
            ECondvar::Std(c) => c.notify_all(),
        }
    }
}

/// The atomicity of one CPU instruction against an interrupt (no kernel object): a TLB
/// shootdown IPI is taken between two instructions of the target CPU, never inside one, so an
/// access that looked up, walked, filled its TLB and stored is seen by the flush either whole
/// or not at all (mm/tlb.rs). An engine mutex, so the engines see the wait; no lockdep class,
/// because it is hardware, not a lock the kernel takes.
pub struct InstructionBoundary(EMutex<()>);

/// Inside one instruction of a CPU, or inside the IPI handler that runs between two of them.
pub struct InstructionGuard<'a>(#[allow(dead_code)] EGuard<'a, ()>);

impl InstructionBoundary {
    pub fn new() -> Self {
        InstructionBoundary(EMutex::new(()))
    }
    /// Enter the instruction (or the IPI handler).
    pub fn enter(&self) -> InstructionGuard<'_> {
        InstructionGuard(self.0.lock())
    }
}

impl Default for InstructionBoundary {
    fn default() -> Self {
        Self::new()
    }
}
