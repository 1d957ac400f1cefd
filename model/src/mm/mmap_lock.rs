//! Models the per-VMA locks of mm/mmap_lock.c and include/linux/mmap_lock.h (Linux 6.18.2):
//! `lock_vma_under_rcu` / `vma_start_read`, `vma_start_write`, and the "mmap_lock or VMA lock"
//! assertion of the fault paths. Paraphrased.
//!
//! The kernel's VMA lock is a reference count plus a sequence number: a reader's
//! `vma_start_read` fails (the fault falls back to `mmap_lock`) as soon as a writer has marked
//! the VMA (`vm_lock_seq == mm_lock_seq`), and `vma_start_write` (called with `mmap_lock` held
//! for write) marks it, then waits for the readers already inside to leave. The mark stays
//! until `mmap_write_unlock` (`vma_end_write_all`). The model is a reader-writer lock whose
//! readers only trylock (a trylock fails while a writer holds it or waits for it) and whose
//! write guard the caller keeps until it drops `mmap_lock`.

use crate::kernel::{RwsemReadGuard, RwsemWriteGuard};
use crate::mm::Mm;
use crate::trace;

/// `lock_vma_under_rcu` (mm/mmap_lock.c): find the VMA without `mmap_lock` and read-lock it
/// (`vma_start_read`); None when a writer has it marked (the caller takes `mmap_lock` read
/// instead: `lock_mm_and_find_vma`).
pub fn lock_vma_under_rcu(mm: &Mm) -> Option<RwsemReadGuard<'_>> {
    let g = mm.vma_lock.down_read_trylock();
    trace!(
        "lock_vma_under_rcu",
        "{}",
        if g.is_some() {
            "VMA read-locked"
        } else {
            "VMA write-locked: fall back to mmap_lock"
        }
    );
    g
}

/// `vma_start_write` (include/linux/mmap_lock.h): with `mmap_lock` held for write, mark the
/// VMA and wait for its readers to leave. The guard stands for the mark: keep it until
/// `mmap_write_unlock`.
pub fn vma_start_write(mm: &Mm) -> RwsemWriteGuard<'_> {
    mm.mmap_lock.assert_held("vma_start_write");
    let g = mm.vma_lock.down_write();
    trace!("vma_start_write", "VMA write-locked");
    g
}

/// `mmap_assert_locked` or `vma_assert_locked`: a fault path runs under either.
pub fn assert_mmap_or_vma_locked(mm: &Mm, caller: &str) {
    if !mm.vma_lock.is_held_by_me() {
        mm.mmap_lock.assert_held(caller);
    }
}
