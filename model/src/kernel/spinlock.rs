//! `spinlock_t` (include/linux/spinlock.h): lock, trylock, unlock, assert-held, with lockdep.
//!
//! A spinlock is an engine mutex: the engines see the blocking (no spinning branches for
//! loom) and give it acquire/release ordering, as the kernel's spinlocks have. Holding one is
//! an atomic section: sleeping inside it is invariant I19.

use crate::kernel::lockdep::{self, LockClass, LockLabel};
use crate::kernel::sync::{EGuard, EMutex};

/// The ordering a successful acquisition gives beyond ACQUIRE on the scenario's hardware: on
/// x86 the lock is taken by a LOCK-prefixed cmpxchg, a full barrier.
fn after_acquire() {
    if crate::kernel::engine::current()
        .options
        .hardware
        .spin_lock_is_full_barrier
    {
        crate::kernel::smp_mb();
    }
}

/// The kernel's `spinlock_t`.
pub struct spinlock_t {
    class: LockClass,
    id: usize,
    label: LockLabel,
    inner: EMutex<()>,
}

impl std::fmt::Debug for spinlock_t {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "spinlock_t({})", self.class)
    }
}

/// A held spinlock; dropping it is `spin_unlock`.
#[must_use = "dropping the guard unlocks the spinlock"]
pub struct SpinGuard<'a> {
    lock: &'a spinlock_t,
    inner: Option<EGuard<'a, ()>>,
}

impl spinlock_t {
    /// `spin_lock_init` with a lockdep class.
    pub fn new(class: LockClass) -> Self {
        spinlock_t {
            class,
            id: lockdep::new_instance_id(),
            label: LockLabel::of_class(class),
            inner: EMutex::new(()),
        }
    }

    /// Name the instance for traces (see [`LockLabel`]).
    pub fn labelled(mut self, label: LockLabel) -> Self {
        self.label = label;
        self
    }

    pub fn class(&self) -> LockClass {
        self.class
    }

    /// The instance id (lockdep's), which [`crate::kernel::LockedBy`] records.
    pub(crate) fn id(&self) -> usize {
        self.id
    }

    /// `spin_lock`.
    pub fn lock(&self) -> SpinGuard<'_> {
        lockdep::lock_acquire_as(self.class, self.id, "spin_lock", true, self.label);
        let g = self.inner.lock();
        after_acquire();
        lockdep::atomic_enter(self.class.name);
        SpinGuard {
            lock: self,
            inner: Some(g),
        }
    }

    /// `spin_lock_nested(lock, subclass)`: a second lock of the same class, nested in a fixed
    /// order (e.g. a PTE lock under the PMD lock when they share a class).
    pub fn lock_nested(&self, subclass: u8) -> SpinGuard<'_> {
        let class = LockClass::nested(self.class.name, subclass);
        lockdep::lock_acquire_as(class, self.id, "spin_lock_nested", true, self.label);
        let g = self.inner.lock();
        after_acquire();
        lockdep::atomic_enter(self.class.name);
        SpinGuard {
            lock: self,
            inner: Some(g),
        }
    }

    /// `spin_trylock`.
    pub fn trylock(&self) -> Option<SpinGuard<'_>> {
        let g = self.inner.try_lock()?;
        after_acquire();
        lockdep::lock_acquire_as(self.class, self.id, "spin_trylock", false, self.label);
        lockdep::atomic_enter(self.class.name);
        Some(SpinGuard {
            lock: self,
            inner: Some(g),
        })
    }

    /// `lockdep_assert_held`: panics with I19 unless the current CPU holds this lock.
    pub fn assert_held(&self, caller: &str) {
        if !lockdep::is_held(self.id) {
            panic!("[I19 lock-not-held] {caller} requires {} held", self.class);
        }
    }

    /// Is it held by the current CPU?
    pub fn is_held_by_me(&self) -> bool {
        lockdep::is_held(self.id)
    }
}

impl SpinGuard<'_> {
    /// The lock this guard holds.
    pub fn lock_ref(&self) -> &spinlock_t {
        self.lock
    }
}

impl Drop for SpinGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Unwinding a counterexample: leave lockdep alone, and under shuttle keep the lock
            // (the execution is over): releasing it is a scheduling point, and switching away
            // from a CPU that is still unwinding would run the others with
            // `std::thread::panicking()` set, where a second violation aborts the process.
            if let Some(g) = self.inner.take() {
                if g.is_shuttle() {
                    std::mem::forget(g);
                }
            }
            return;
        }
        lockdep::atomic_exit(self.lock.class.name);
        lockdep::lock_release(self.lock.id);
    }
}

/// `spin_unlock(guard)`.
pub fn spin_unlock(g: SpinGuard<'_>) {
    drop(g)
}
