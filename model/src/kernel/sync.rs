//! Engine-dispatched mutex and condition variable: the building blocks of
//! the kernel locks in this layer. Nothing outside `kernel/` uses them.

use std::ops::{Deref, DerefMut};

use crate::kernel::engine::{current_engine, Engine};

pub(crate) enum EMutex<T> {
    Loom(loom::sync::Mutex<T>),
    Shuttle(shuttle::sync::Mutex<T>),
    Std(std::sync::Mutex<T>),
}

pub(crate) enum EGuard<'a, T> {
    Loom(loom::sync::MutexGuard<'a, T>),
    Shuttle(shuttle::sync::MutexGuard<'a, T>),
    Std(std::sync::MutexGuard<'a, T>),
}

impl<T> EMutex<T> {
    pub(crate) fn new(v: T) -> Self {
        match current_engine() {
            Engine::Loom => EMutex::Loom(loom::sync::Mutex::new(v)),
            Engine::Shuttle => EMutex::Shuttle(shuttle::sync::Mutex::new(v)),
            Engine::Std => EMutex::Std(std::sync::Mutex::new(v)),
        }
    }
    pub(crate) fn lock(&self) -> EGuard<'_, T> {
        match self {
            EMutex::Loom(m) => EGuard::Loom(m.lock().unwrap_or_else(|e| e.into_inner())),
            EMutex::Shuttle(m) => EGuard::Shuttle(m.lock().unwrap_or_else(|e| e.into_inner())),
            EMutex::Std(m) => EGuard::Std(m.lock().unwrap_or_else(|e| e.into_inner())),
        }
    }
    pub(crate) fn try_lock(&self) -> Option<EGuard<'_, T>> {
        match self {
            EMutex::Loom(m) => m.try_lock().ok().map(EGuard::Loom),
            EMutex::Shuttle(m) => m.try_lock().ok().map(EGuard::Shuttle),
            EMutex::Std(m) => m.try_lock().ok().map(EGuard::Std),
        }
    }
}

impl<T> Deref for EGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        match self {
            EGuard::Loom(g) => g,
            EGuard::Shuttle(g) => g,
            EGuard::Std(g) => g,
        }
    }
}
impl<T> DerefMut for EGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        match self {
            EGuard::Loom(g) => &mut *g,
            EGuard::Shuttle(g) => &mut *g,
            EGuard::Std(g) => &mut *g,
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
    pub(crate) fn wait<'a, T>(&self, g: EGuard<'a, T>) -> EGuard<'a, T> {
        match (self, g) {
            (ECondvar::Loom(c), EGuard::Loom(g)) => {
                EGuard::Loom(c.wait(g).unwrap_or_else(|e| e.into_inner()))
            }
            (ECondvar::Shuttle(c), EGuard::Shuttle(g)) => {
                EGuard::Shuttle(c.wait(g).unwrap_or_else(|e| e.into_inner()))
            }
            (ECondvar::Std(c), EGuard::Std(g)) => {
                EGuard::Std(c.wait(g).unwrap_or_else(|e| e.into_inner()))
            }
            _ => panic!("[model bug] condvar and mutex built under different engines"),
        }
    }
    pub(crate) fn notify_all(&self) {
        match self {
            ECondvar::Loom(c) => c.notify_all(),
            ECondvar::Shuttle(c) => c.notify_all(),
            ECondvar::Std(c) => c.notify_all(),
        }
    }
}
