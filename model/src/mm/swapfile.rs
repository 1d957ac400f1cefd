//! Models the swap device of mm/swapfile.c (Linux 6.18.2): one swap cluster of `nr` slots,
//! its `swap_map` counts with the `SWAP_HAS_CACHE` bit, and the operations on them that the
//! anonymous-THP swap-out and swap-in paths use (`folio_alloc_swap`, `swap_duplicate`,
//! `swap_free_nr`, `put_swap_folio`, `free_swap_and_cache_nr`, `__try_to_reclaim_swap`,
//! `folio_free_swap`). Paraphrased; no kernel code is reproduced.
//!
//! # Slot state (`si->swap_map[offset]`, under `ci->lock`)
//!
//! | value | meaning |
//! |---|---|
//! | 0 | free |
//! | `SWAP_HAS_CACHE` | the swap cache holds the slot (a folio in the swap table), no swap PTE names it |
//! | `SWAP_HAS_CACHE + n` | cached and named by `n` swap PTEs |
//! | `n` (no cache bit) | named by `n` swap PTEs; the data is only on the device ([`SwapInfo::data`]) |
//!
//! Not modelled: more than one cluster, allocation failure other than a busy cluster, swap
//! count continuations, the per-CPU cluster cache, memcg swap charging, zswap, the zero map,
//! readahead, swapoff.

use crate::kernel::{atomic_long_t, atomic_t, spinlock_t, LockClass};
use crate::mm::page::{PG_DIRTY, PG_LOCKED, PG_SWAPCACHE, PG_WRITEBACK};
use crate::mm::Machine;
use crate::trace;

/// `SWAP_HAS_CACHE` (include/linux/swap.h): the slot is in the swap cache.
pub const SWAP_HAS_CACHE: i32 = 0x40;

/// `swap_cluster_info->lock`: protects `swap_map` and writes to the swap table.
pub const SWAP_CLUSTER_LOCK: LockClass = LockClass::new("swap_cluster_info->lock");

/// The one swap device (`struct swap_info_struct`) with one cluster of `nr` slots: a
/// synchronous device (SWP_SYNCHRONOUS_IO) without stable writes (no SWP_STABLE_WRITES, e.g.
/// brd or pmem; zram has them, and `do_swap_page` then maps a page under writeback read-only),
/// so a write completes before `swap_writeout` returns.
pub struct SwapInfo {
    /// `ci->lock`.
    pub ci_lock: spinlock_t,
    /// `si->swap_map`: per slot, the swap count plus [`SWAP_HAS_CACHE`].
    pub swap_map: Vec<atomic_t>,
    /// The cluster's swap table (`ci->table`, mm/swap_table.h): per slot, the folio head + 1
    /// that the swap cache holds there, or 0 (a shadow or NULL). Written under `ci->lock`,
    /// read locklessly by `swap_cache_get_folio`.
    pub table: Vec<atomic_long_t>,
    /// The device's blocks: what `swap_writeout` wrote for each slot (a page's
    /// [`crate::mm::page::Page::content`]), read back by the swap-in. Data, not kernel state.
    pub data: Vec<atomic_t>,
}

impl SwapInfo {
    pub fn new(nr: usize) -> SwapInfo {
        SwapInfo {
            ci_lock: spinlock_t::new(SWAP_CLUSTER_LOCK),
            swap_map: (0..nr).map(|_| atomic_t::new(0)).collect(),
            table: (0..nr).map(|_| atomic_long_t::new(0)).collect(),
            data: (0..nr).map(|_| atomic_t::new(-1)).collect(),
        }
    }
}

/// `swap_count`: the count without the cache bit.
pub fn swap_count(v: i32) -> i32 {
    v & !SWAP_HAS_CACHE
}

/// `folio_alloc_swap(folio)` (mm/swapfile.c): allocate `nr` consecutive slots for the whole
/// folio (`cluster_alloc_range`: each slot `SWAP_HAS_CACHE`, under `ci->lock`), then add the
/// folio to the swap cache ([`crate::mm::swap_state::swap_cache_add_folio`]). False when the
/// cluster is not free (the model's only allocation failure). The folio is locked.
pub fn folio_alloc_swap(m: &Machine, folio: usize) -> bool {
    let si = &m.swap;
    {
        let _ci = si.ci_lock.lock();
        if si.swap_map.iter().any(|s| s.read() != 0) {
            trace!("folio_alloc_swap", "no free cluster: -ENOMEM");
            return false;
        }
        for s in &si.swap_map {
            s.set(SWAP_HAS_CACHE);
        }
    }
    crate::mm::swap_state::swap_cache_add_folio(m, folio, 0);
    true
}

/// `swap_duplicate(entry)` → `__swap_duplicate(entry, 1, 1)`: one more swap PTE names the
/// slot, under `ci->lock`.
pub fn swap_duplicate(m: &Machine, offset: usize) {
    let si = &m.swap;
    let _ci = si.ci_lock.lock();
    let v = si.swap_map[offset].read();
    crate::vm_bug_on!(
        v == 0,
        crate::invariants::Inv::I32SwapAccounting,
        "swap_duplicate of free slot {offset}"
    );
    si.swap_map[offset].set(v + 1);
    trace!("swap_duplicate", "slot {offset}: {v:#x} -> {:#x}", v + 1);
}

/// `swap_entry_put_locked`: one swap PTE less names the slot; a slot with neither a count nor
/// the cache bit is freed (`swap_entries_free`). `ci->lock` held. Returns the new value.
fn swap_entry_put_locked(m: &Machine, offset: usize) -> i32 {
    let s = &m.swap.swap_map[offset];
    let v = s.read();
    crate::vm_bug_on!(
        swap_count(v) == 0,
        crate::invariants::Inv::I32SwapAccounting,
        "slot {offset}: swap count underflow (map {v:#x}): a swap PTE was dropped twice"
    );
    s.set(v - 1);
    if v - 1 == 0 {
        m.swap.data[offset].set(-1); // swap_entries_free: the block holds nothing any more
    }
    trace!(
        "swap_entry_put_locked",
        "slot {offset}: {v:#x} -> {:#x}",
        v - 1
    );
    v - 1
}

/// `swap_free_nr(entry, nr)`: `nr` swap PTEs from `offset` are gone (one `ci->lock` section:
/// one cluster).
pub fn swap_free_nr(m: &Machine, offset: usize, nr: usize) {
    let _ci = m.swap.ci_lock.lock();
    for o in offset..offset + nr {
        swap_entry_put_locked(m, o);
    }
}

/// `put_swap_folio(folio, entry)` (`swap_entries_put_cache`): the swap cache lets go of the
/// folio's `nr` slots, under `ci->lock`: each slot loses `SWAP_HAS_CACHE`, and a slot that no
/// swap PTE names is freed.
pub fn put_swap_folio(m: &Machine, offset: usize, nr: usize) {
    let si = &m.swap;
    let _ci = si.ci_lock.lock();
    for o in offset..offset + nr {
        let v = si.swap_map[o].read();
        crate::vm_bug_on!(
            v & SWAP_HAS_CACHE == 0,
            crate::invariants::Inv::I32SwapAccounting,
            "put_swap_folio: slot {o} is not cached (map {v:#x})"
        );
        si.swap_map[o].set(v & !SWAP_HAS_CACHE);
        if v == SWAP_HAS_CACHE {
            si.data[o].set(-1); // swap_entries_free
        }
    }
    trace!(
        "put_swap_folio",
        "slots {offset}..{}: SWAP_HAS_CACHE dropped",
        offset + nr
    );
}

/// `folio_swapped`: does a swap PTE still name one of the folio's slots? (`ci->lock`)
fn folio_swapped(m: &Machine, offset: usize, nr: usize) -> bool {
    let si = &m.swap;
    let _ci = si.ci_lock.lock();
    (offset..offset + nr).any(|o| swap_count(si.swap_map[o].read()) > 0)
}

/// `folio_free_swap(folio)`: if no swap PTE names any of the locked folio's slots and it is not
/// under writeback, take it out of the swap cache (dropping the cache's references) and mark
/// it dirty (its only copy is the folio now). The check and the delete are two `ci->lock`
/// sections; the folio lock keeps the folio in the cache between them.
pub fn folio_free_swap(m: &Machine, folio: usize) -> bool {
    let mm = &m.memmap;
    crate::vm_bug_on!(
        !mm.page(folio).flags.test_bit(PG_LOCKED),
        crate::invariants::Inv::I32SwapAccounting,
        "folio_free_swap of unlocked folio {folio}"
    );
    let flags = mm.page(folio).flags.read();
    if flags & (1 << PG_SWAPCACHE) == 0 || flags & (1 << PG_WRITEBACK) != 0 {
        return false;
    }
    let offset = mm.swap[folio].read() as usize - 1;
    let nr = crate::mm::page_ref::folio_nr_pages(m, folio);
    if folio_swapped(m, offset, nr) {
        return false;
    }
    crate::mm::swap_state::swap_cache_del_folio(m, folio);
    mm.page(folio).flags.set_bit(PG_DIRTY); // folio_set_dirty
    trace!("folio_free_swap", "folio {folio} left the swap cache");
    true
}

/// `__try_to_reclaim_swap(si, offset, TTRS_UNMAPPED | TTRS_FULL)`: the slot at `offset` has
/// only the cache bit left; if the folio there is unmapped and can be locked without sleeping
/// (the caller holds a PTE lock), and every one of its slots is cache-only, take it out of the
/// swap cache. Returns the number of slots to skip (the folio's).
pub fn __try_to_reclaim_swap(m: &Machine, offset: usize) -> usize {
    use crate::mm::filemap::{folio_trylock, folio_unlock};
    let mm = &m.memmap;
    loop {
        let Some(folio) = crate::mm::swap_state::swap_cache_get_folio(m, offset) else {
            return 1;
        };
        let nr = crate::mm::page_ref::folio_nr_pages(m, folio);
        if !folio_trylock(mm, folio) {
            crate::mm::page_ref::folio_put_small_or_large(m, folio);
            return nr;
        }
        // folio_matches_swap_entry: else the folio left the cache meanwhile: look again
        let first = mm.swap[folio].read() as usize;
        if !mm.page(folio).flags.test_bit(PG_SWAPCACHE)
            || first == 0
            || offset < first - 1
            || offset >= first - 1 + nr
        {
            folio_unlock(mm, folio);
            crate::mm::page_ref::folio_put_small_or_large(m, folio);
            continue;
        }
        let first = first - 1;
        if crate::mm::rmap::folio_mapcount(mm, folio) == 0
            && !mm.page(folio).flags.test_bit(PG_WRITEBACK)
        {
            let only_cache = {
                let _ci = m.swap.ci_lock.lock();
                (first..first + nr).all(|o| m.swap.swap_map[o].read() == SWAP_HAS_CACHE)
            };
            if only_cache {
                crate::mm::swap_state::swap_cache_del_folio(m, folio);
                mm.page(folio).flags.set_bit(PG_DIRTY); // folio_set_dirty
                trace!("__try_to_reclaim_swap", "folio {folio} left the swap cache");
                m.observe("swap-cache-reclaimed-by-zap");
            }
        }
        folio_unlock(mm, folio);
        crate::mm::page_ref::folio_put_small_or_large(m, folio);
        return nr;
    }
}

/// `free_swap_and_cache_nr(entry, nr)`: `nr` swap PTEs from `offset` are zapped (the caller
/// holds their PTE lock). The counts drop in one `ci->lock` section; for each slot left
/// holding only the cache bit (a racy read, as the kernel's), try to take its folio out of
/// the swap cache.
pub fn free_swap_and_cache_nr(m: &Machine, offset: usize, nr: usize) {
    let si = &m.swap;
    let any_only_cache = {
        let _ci = si.ci_lock.lock();
        let mut any = false;
        for o in offset..offset + nr {
            if swap_entry_put_locked(m, o) == SWAP_HAS_CACHE {
                any = true;
            }
        }
        any
    };
    if !any_only_cache {
        return;
    }
    let mut o = offset;
    while o < offset + nr {
        if si.swap_map[o].read() == SWAP_HAS_CACHE {
            let skip = __try_to_reclaim_swap(m, o);
            // skip to the end of the folio's aligned range
            o = (o / skip.max(1) + 1) * skip.max(1);
        } else {
            o += 1;
        }
    }
}

/// `swap_pte_batch(start_ptep, max_nr, pte)` (mm/internal.h): how many entries from `ptes[i]`
/// (a swap entry for `offset` with `flags`), up to `end`, name the following slots with the
/// same bits.
pub fn swap_pte_batch(
    ptes: &[crate::kernel::atomic_long_t],
    i: usize,
    end: usize,
    offset: usize,
    flags: i64,
) -> usize {
    let mut n = 1;
    while i + n < end
        && ptes[i + n].read()
            == (crate::mm::pgtable::Pte::Swap {
                offset: offset + n,
                flags,
            })
            .encode()
    {
        n += 1;
    }
    n
}

/// The zap of `n` swap entries from `ptes[i]` (naming slots from `offset`), PTE lock held:
/// `free_swap_and_cache_nr`, then `clear_not_present_full_ptes`.
pub fn zap_swap_ptes(
    m: &Machine,
    ptes: &[crate::kernel::atomic_long_t],
    i: usize,
    n: usize,
    offset: usize,
) {
    free_swap_and_cache_nr(m, offset, n);
    for p in &ptes[i..i + n] {
        p.set(0);
    }
}
