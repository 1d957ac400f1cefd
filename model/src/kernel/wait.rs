//! Wait queues and the sleeping bit lock with waiters that `PG_locked` is
//! (mm/filemap.c: `folio_lock`, `__folio_lock`, `folio_wait_bit_common`, `folio_unlock`,
//! `folio_wake_bit`, `migration_entry_wait_on_locked`).
//!
//! The lock bit and the waiters bit live in an `atomic_long_t` flags word owned by the model
//! (struct page `flags`), so a plain store to that word by other code (the split copying flags
//! into a tail, historical race Z15) can erase `PG_waiters` exactly as in the kernel, and the
//! sleeper is then never woken: invariant I20.

use crate::kernel::atomic::atomic_long_t;
use crate::kernel::engine::current;
use crate::kernel::lockdep;
use crate::kernel::sync::{ECondvar, EGuard, EMutex};
use crate::kernel::thread::{about_to_sleep, woken};

struct Waiter {
    key: usize,
    cpu: usize,
    woken: bool,
}

#[derive(Default)]
struct WqState {
    waiters: Vec<Waiter>,
}

/// A hashed wait queue (`wait_queue_head_t`; mm/filemap.c `folio_waitqueue`). One may serve
/// several keys (pages), as the kernel's hashed queues do.
pub struct wait_queue_head {
    state: EMutex<WqState>,
    cv: ECondvar,
}

impl std::fmt::Debug for wait_queue_head {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "wait_queue_head")
    }
}

impl Default for wait_queue_head {
    fn default() -> Self {
        Self::new()
    }
}

impl wait_queue_head {
    pub fn new() -> Self {
        wait_queue_head {
            state: EMutex::new(WqState::default()),
            cv: ECondvar::new(),
        }
    }

    /// Sleep until this CPU's entry for `key` is woken. Called with the queue lock held and
    /// the entry queued; returns with the lock held.
    fn sleep<'a>(
        &'a self,
        mut g: EGuard<'a, WqState>,
        key: usize,
        what: &str,
    ) -> EGuard<'a, WqState> {
        let exec = current();
        let cpu = exec.cpu();
        about_to_sleep(&exec, cpu, what.to_string(), None);
        loop {
            g = self.cv.wait(g);
            if !g
                .waiters
                .iter()
                .any(|w| w.key == key && w.cpu == cpu && !w.woken)
            {
                g.waiters.retain(|w| !(w.key == key && w.cpu == cpu));
                return g;
            }
        }
    }

    /// `folio_wake_bit`: wake every waiter on `key`; clear the waiters bit when none is left.
    pub fn wake_up_bit(&self, word: &atomic_long_t, waiters_bit: u32, key: usize) {
        let mut g = self.state.lock();
        let mut cpus = Vec::new();
        for w in g.waiters.iter_mut().filter(|w| w.key == key && !w.woken) {
            w.woken = true;
            cpus.push(w.cpu);
        }
        if !cpus.is_empty() {
            woken(&current(), &cpus);
            self.cv.notify_all();
        }
        if !g.waiters.iter().any(|w| w.key == key && !w.woken) {
            word.clear_bit(waiters_bit);
        }
    }
}

/// `folio_trylock`-style: take bit `nr` of `word` with acquire semantics; true on success.
pub fn bit_trylock(word: &atomic_long_t, nr: u32) -> bool {
    !word.test_and_set_bit_lock(nr)
}

/// `folio_lock` / `__folio_lock`: take bit `nr` of `word`, sleeping on `wq` (setting
/// `waiters_bit`) while another CPU holds it. A sleeping lock: `might_sleep` applies.
pub fn bit_lock(
    word: &atomic_long_t,
    nr: u32,
    waiters_bit: u32,
    wq: &wait_queue_head,
    key: usize,
    what: &str,
) {
    lockdep::might_sleep(what);
    if bit_trylock(word, nr) {
        return;
    }
    let cpu = current().cpu();
    let mut g = wq.state.lock();
    loop {
        g.waiters.push(Waiter {
            key,
            cpu,
            woken: false,
        });
        word.set_bit(waiters_bit);
        // The test-and-set is an RMW on the same word as the unlocker's release RMW, so
        // coherence orders them: either we get the lock or the unlocker sees PG_waiters.
        if bit_trylock(word, nr) {
            g.waiters.retain(|w| !(w.key == key && w.cpu == cpu));
            return;
        }
        g = wq.sleep(g, key, what);
    }
}

/// `folio_unlock`: release bit `nr` and wake the waiters if `waiters_bit` was set.
pub fn bit_unlock(
    word: &atomic_long_t,
    nr: u32,
    waiters_bit: u32,
    wq: &wait_queue_head,
    key: usize,
) {
    if word.clear_bit_unlock_test(nr, waiters_bit) {
        wq.wake_up_bit(word, waiters_bit, key);
    }
}

/// `migration_entry_wait_on_locked`: queue on bit `nr` of `word`, set `waiters_bit`, call
/// `before_sleep` (which drops the page-table lock), then sleep until woken — or return at once
/// if the bit is already clear. Returns true if it slept.
pub fn bit_wait_unlocked(
    word: &atomic_long_t,
    nr: u32,
    waiters_bit: u32,
    wq: &wait_queue_head,
    key: usize,
    what: &str,
    before_sleep: impl FnOnce(),
) -> bool {
    let cpu = current().cpu();
    let mut g = wq.state.lock();
    g.waiters.push(Waiter {
        key,
        cpu,
        woken: false,
    });
    word.set_bit(waiters_bit);
    let locked = {
        // fully ordered test after setting the waiters bit (folio_wait_bit_common)
        crate::kernel::atomic::smp_mb();
        word.test_bit(nr)
    };
    if !locked {
        g.waiters.retain(|w| !(w.key == key && w.cpu == cpu));
        drop(g);
        before_sleep();
        return false;
    }
    drop(g);
    before_sleep();
    lockdep::might_sleep(what);
    let g = wq.state.lock();
    // Woken between the drop and here? Then do not sleep.
    if !g
        .waiters
        .iter()
        .any(|w| w.key == key && w.cpu == cpu && !w.woken)
    {
        let mut g = g;
        g.waiters.retain(|w| !(w.key == key && w.cpu == cpu));
        return true;
    }
    let _g = wq.sleep(g, key, what);
    true
}
