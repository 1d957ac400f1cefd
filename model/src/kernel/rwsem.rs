//! `rw_semaphore` (kernel/locking/rwsem.c) with the kernel's writer preference: once a
//! writer waits, new readers queue behind it (what makes a recursive `down_read` a deadlock).
//! loom's and shuttle's RwLock have no such preference, so it is built here from an engine
//! mutex and condition variable. Sleeping primitives: `might_sleep` applies.

use crate::kernel::engine::current;
use crate::kernel::lockdep::{self, LockClass, LockLabel};
use crate::kernel::sync::{ECondvar, EMutex};
use crate::kernel::thread::{about_to_sleep, woken};

#[derive(Default)]
struct State {
    readers: usize,
    writer: bool,
    waiting_writers: usize,
    sleepers: Vec<usize>,
}

/// The kernel's `struct rw_semaphore`.
pub struct rw_semaphore {
    class: LockClass,
    id: usize,
    label: LockLabel,
    state: EMutex<State>,
    cv: ECondvar,
}

impl std::fmt::Debug for rw_semaphore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "rw_semaphore({})", self.class)
    }
}

/// A read hold; dropping it is `up_read`.
#[must_use = "dropping the guard is up_read"]
pub struct RwsemReadGuard<'a>(&'a rw_semaphore);
/// A write hold; dropping it is `up_write`.
#[must_use = "dropping the guard is up_write"]
pub struct RwsemWriteGuard<'a>(&'a rw_semaphore);

impl rw_semaphore {
    /// `init_rwsem` with a lockdep class.
    pub fn new(class: LockClass) -> Self {
        rw_semaphore {
            class,
            id: lockdep::new_instance_id(),
            label: LockLabel::of_class(class),
            state: EMutex::new(State::default()),
            cv: ECondvar::new(),
        }
    }

    /// Name the instance for traces (see [`LockLabel`]).
    pub fn labelled(mut self, label: LockLabel) -> Self {
        self.label = label;
        self
    }

    fn sleep<'a>(
        &'a self,
        mut g: crate::kernel::sync::EGuard<'a, State>,
        what: &str,
    ) -> crate::kernel::sync::EGuard<'a, State> {
        let exec = current();
        let cpu = exec.cpu();
        g.sleepers.push(cpu);
        about_to_sleep(&exec, cpu, format!("{what}({})", self.class), None);
        self.cv.wait(g)
    }

    fn wake_all(&self, g: &mut State) {
        if !g.sleepers.is_empty() {
            let cpus = std::mem::take(&mut g.sleepers);
            woken(&current(), &cpus);
            self.cv.notify_all();
        }
    }

    /// `down_read`.
    pub fn down_read(&self) -> RwsemReadGuard<'_> {
        lockdep::might_sleep("down_read");
        lockdep::lock_acquire_as(self.class, self.id, "down_read", true, self.label);
        let mut g = self.state.lock();
        while g.writer || g.waiting_writers > 0 {
            g = self.sleep(g, "down_read");
        }
        g.readers += 1;
        RwsemReadGuard(self)
    }

    /// `down_read_trylock`: fails if a writer holds it or waits for it.
    pub fn down_read_trylock(&self) -> Option<RwsemReadGuard<'_>> {
        let mut g = self.state.lock();
        if g.writer || g.waiting_writers > 0 {
            return None;
        }
        g.readers += 1;
        drop(g);
        lockdep::lock_acquire_as(self.class, self.id, "down_read_trylock", false, self.label);
        Some(RwsemReadGuard(self))
    }

    /// `down_write`.
    pub fn down_write(&self) -> RwsemWriteGuard<'_> {
        self.down_write_class(self.class, "down_write")
    }

    /// `down_write_nested(sem, subclass)` (as `mmap_write_lock_nested` for fork's child mm):
    /// the same lock class at another nesting level, so lockdep does not call it recursion.
    pub fn down_write_nested(&self, subclass: u8) -> RwsemWriteGuard<'_> {
        self.down_write_class(
            LockClass::nested(self.class.name, subclass),
            "down_write_nested",
        )
    }

    fn down_write_class(&self, class: LockClass, how: &'static str) -> RwsemWriteGuard<'_> {
        lockdep::might_sleep(how);
        lockdep::lock_acquire_as(class, self.id, how, true, self.label);
        let mut g = self.state.lock();
        g.waiting_writers += 1;
        while g.writer || g.readers > 0 {
            g = self.sleep(g, how);
        }
        g.waiting_writers -= 1;
        g.writer = true;
        RwsemWriteGuard(self)
    }

    /// `down_write_trylock`.
    pub fn down_write_trylock(&self) -> Option<RwsemWriteGuard<'_>> {
        let mut g = self.state.lock();
        if g.writer || g.readers > 0 {
            return None;
        }
        g.writer = true;
        drop(g);
        lockdep::lock_acquire_as(self.class, self.id, "down_write_trylock", false, self.label);
        Some(RwsemWriteGuard(self))
    }

    /// `rwsem_is_locked`-style assertion that the current CPU holds it (read or write).
    pub fn assert_held(&self, caller: &str) {
        if !lockdep::is_held(self.id) {
            panic!("[I19 lock-not-held] {caller} requires {} held", self.class);
        }
    }

    /// Does the current CPU hold it (read or write)?
    pub fn is_held_by_me(&self) -> bool {
        lockdep::is_held(self.id)
    }

    /// Is it write-held by someone? (for assertions)
    pub fn is_write_locked(&self) -> bool {
        self.state.lock().writer
    }
}

impl Drop for RwsemReadGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let s = self.0;
        lockdep::lock_release(s.id);
        let mut g = s.state.lock();
        g.readers -= 1;
        if g.readers == 0 {
            s.wake_all(&mut g);
        }
    }
}

impl Drop for RwsemWriteGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let s = self.0;
        lockdep::lock_release(s.id);
        let mut g = s.state.lock();
        g.writer = false;
        s.wake_all(&mut g);
    }
}

/// `up_read(guard)`.
pub fn up_read(g: RwsemReadGuard<'_>) {
    drop(g)
}
/// `up_write(guard)`.
pub fn up_write(g: RwsemWriteGuard<'_>) {
    drop(g)
}
