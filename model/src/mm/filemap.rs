//! The folio lock (mm/filemap.c `folio_lock`, `folio_trylock`, `folio_unlock`,
//! `migration_entry_wait_on_locked`) over the kernel's sleeping bit lock on `PG_locked`.
//!
//! The kernel's lockdep does not track PG_locked; the model records folio-lock acquisitions in
//! the lock-order graph anyway (class `folio_lock`), because "the folio lock is never acquired
//! while holding a ptl" (docs/protocol.md#lock-order, rule 2) is part of the protocol.

use crate::kernel::lockdep::{self, LockClass, LockLabel};
use crate::kernel::wait::{bit_lock, bit_trylock, bit_unlock, bit_wait_unlocked};
use crate::mm::page::{Memmap, PG_LOCKED, PG_WAITERS};
use crate::trace;

pub const FOLIO_LOCK: LockClass = LockClass::new("folio_lock");

/// The trace label of `folio`'s lock.
fn folio_lock_label(folio: usize) -> LockLabel {
    LockLabel {
        name: "folio_lock",
        mm: None,
        idx: Some(("", folio)),
    }
}

/// `folio_lock`: sleep until PG_locked is ours.
pub fn folio_lock(mm: &Memmap, folio: usize) {
    lockdep::lock_acquire_as(
        FOLIO_LOCK,
        mm.lock_ids[folio],
        "folio_lock",
        true,
        folio_lock_label(folio),
    );
    bit_lock(
        &mm.page(folio).flags,
        PG_LOCKED,
        PG_WAITERS,
        &mm.waitqueue,
        folio,
        "folio_lock",
    );
    trace!("folio_lock", "folio {folio} locked");
}

/// `folio_trylock`.
pub fn folio_trylock(mm: &Memmap, folio: usize) -> bool {
    let ok = bit_trylock(&mm.page(folio).flags, PG_LOCKED);
    if ok {
        lockdep::lock_acquire_as(
            FOLIO_LOCK,
            mm.lock_ids[folio],
            "folio_trylock",
            false,
            folio_lock_label(folio),
        );
    }
    trace!("folio_trylock", "folio {folio} -> {ok}");
    ok
}

/// `folio_unlock`: release PG_locked and wake the waiters if PG_waiters was set.
pub fn folio_unlock(mm: &Memmap, folio: usize) {
    lockdep::lock_release_if_held(mm.lock_ids[folio]);
    trace!("folio_unlock", "folio {folio}");
    bit_unlock(
        &mm.page(folio).flags,
        PG_LOCKED,
        PG_WAITERS,
        &mm.waitqueue,
        folio,
    );
}

/// `folio_test_locked`.
pub fn folio_test_locked(mm: &Memmap, folio: usize) -> bool {
    mm.page(folio).flags.test_bit(PG_LOCKED)
}

/// `migration_entry_wait_on_locked`: queue on the folio's PG_locked, drop the page-table lock
/// (`drop_ptl`), sleep until the folio is unlocked. No reference is taken: the remover holds
/// one and needs this ptl to remove the entry.
pub fn migration_entry_wait_on_locked(mm: &Memmap, folio: usize, drop_ptl: impl FnOnce()) -> bool {
    let slept = bit_wait_unlocked(
        &mm.page(folio).flags,
        PG_LOCKED,
        PG_WAITERS,
        &mm.waitqueue,
        folio,
        "migration_entry_wait_on_locked",
        drop_ptl,
    );
    trace!(
        "migration_entry_wait_on_locked",
        "folio {folio}: slept {slept}"
    );
    slept
}
