//! `LockedBy<T>`: data protected by a `spinlock_t` that lives elsewhere (as Rust-for-Linux's
//! `kernel::sync::LockedBy`), for model state the kernel keeps under a lock but that needs a
//! container Rust cannot share without one (a list, a counter with its fault-injection setting).
//!
//! The engines see the protecting [`spinlock_t`]: its acquisitions are what loom and shuttle
//! order, and its release/acquire is what orders one CPU's update before the next CPU's read.
//! The data itself sits in a std mutex that never contends (a second CPU can reach it only
//! with the protecting lock held, i.e. after the first CPU has left), so it adds no
//! interleavings and no ordering of its own: it is there only because safe Rust needs interior
//! mutability for shared data.
//!
//! Access goes through [`LockedBy::access`] with the guard of the protecting lock (a guard of
//! any other lock is a model bug), or, at a quiescent point after every CPU but the calling
//! one has finished, through [`LockedBy::quiescent`].

use std::ops::{Deref, DerefMut};
use std::sync::{Mutex, MutexGuard, TryLockError};

use crate::kernel::spinlock::{spinlock_t, SpinGuard};

/// Data of type `T` protected by the `spinlock_t` it was built with.
pub struct LockedBy<T> {
    /// [`spinlock_t`] instance id (lockdep's) of the protecting lock.
    lock_id: usize,
    /// What the protecting lock is called, for the model-bug message.
    lock_name: &'static str,
    data: Mutex<T>,
}

impl<T: std::fmt::Debug> std::fmt::Debug for LockedBy<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LockedBy({})", self.lock_name)
    }
}

/// Access to the data of a [`LockedBy`] while its lock is held (or at a quiescent point).
pub struct LockedRef<'a, T>(MutexGuard<'a, T>);

impl<T> Deref for LockedRef<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}
impl<T> DerefMut for LockedRef<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T> LockedBy<T> {
    /// `data`, protected by `lock`.
    pub fn new(lock: &spinlock_t, data: T) -> Self {
        LockedBy {
            lock_id: lock.id(),
            lock_name: lock.class().name,
            data: Mutex::new(data),
        }
    }

    /// The data, with the protecting lock held: `guard` must be that lock's guard ("[model
    /// bug]" otherwise). The returned reference cannot outlive the borrow of the guard, so it
    /// is gone before `spin_unlock`.
    pub fn access<'a>(&'a self, guard: &'a SpinGuard<'_>) -> LockedRef<'a, T> {
        if guard.lock_ref().id() != self.lock_id {
            crate::model_bug!(
                "data protected by {} accessed with {} held instead",
                self.lock_name,
                guard.lock_ref().class()
            );
        }
        self.take("access")
    }

    /// The data at a quiescent point: every other CPU of the execution has finished (and been
    /// joined), or waits in `join` for one that has, so nobody can hold the protecting lock,
    /// and the join ordered their last updates before this read. For whole-state checks after
    /// a run ([`crate::mm::check_quiescent`]) and sequential tests; "[model bug]" if another
    /// CPU is still running.
    pub fn quiescent(&self) -> LockedRef<'_, T> {
        let running = {
            let exec = crate::kernel::engine::current();
            let t = exec.lock_threads();
            t.alive - t.joining.len()
        };
        if running > 1 {
            crate::model_bug!(
                "data protected by {} read as quiescent while {running} CPUs run",
                self.lock_name
            );
        }
        self.take("quiescent")
    }

    /// The data of an object no other CPU can reach yet: a folio being prepared
    /// (`prep_compound_head`, `folio_set_large_mapcount`) before a page-table store publishes
    /// it. The kernel writes such fields with plain stores and no lock; "[model bug]" if
    /// another CPU is in fact accessing the data.
    pub fn unpublished(&self) -> LockedRef<'_, T> {
        self.take("unpublished")
    }

    fn take(&self, how: &str) -> LockedRef<'_, T> {
        match self.data.try_lock() {
            Ok(g) => LockedRef(g),
            Err(TryLockError::Poisoned(e)) => LockedRef(e.into_inner()),
            Err(TryLockError::WouldBlock) => crate::model_bug!(
                "data protected by {} is already being accessed ({how}): two accesses at once",
                self.lock_name
            ),
        }
    }
}
