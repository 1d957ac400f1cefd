//! Models the part of mm/vmscan.c (Linux 6.18.2) that reclaims a lazyfree (MADV_FREE'd,
//! clean) anonymous THP without splitting it: `folio_isolate_lru`, `folio_putback_lru`, and
//! `shrink_folio_list`'s path for an anonymous folio that is not swap-backed (the PMD discard
//! of mm/huge_memory.c `__discard_anon_folio_pmd_locked`, reached through mm/rmap.c
//! `try_to_unmap_one`). Paraphrased; no kernel code is reproduced.
//!
//! Not modelled: `folio_check_references` (the rmap walk that may activate a referenced folio
//! instead; the model reclaims whatever it isolated), the swap-out path of a swap-backed folio
//! (kept on the list here), the PTE-level discard of a PTE-mapped lazyfree folio (the walk
//! gives up, as for any mapping it cannot unmap), `mmu_notifier` ranges.

use crate::mm::filemap::{folio_trylock, folio_unlock};
use crate::mm::page::{PG_LRU, PG_SWAPBACKED};
use crate::mm::page_ref::{folio_get, folio_nr_pages, folio_put_small_or_large, folio_ref_freeze};
use crate::mm::Machine;
use crate::trace;

/// `folio_isolate_lru`: take the folio off the LRU and hold a reference for the isolation
/// (under the lruvec lock). False if it was not on the LRU (someone else isolated it).
pub fn folio_isolate_lru(m: &Machine, folio: usize) -> bool {
    if !m.memmap.page(folio).flags.test_and_clear_bit(PG_LRU) {
        return false;
    }
    folio_get(&m.memmap, folio);
    let _lru = m.lru_lock.lock();
    true
}

/// `folio_putback_lru`: back on the LRU, the isolation reference dropped.
pub fn folio_putback_lru(m: &Machine, folio: usize) {
    {
        let _lru = m.lru_lock.lock();
        m.memmap.page(folio).flags.set_bit(PG_LRU);
    }
    folio_put_small_or_large(m, folio);
}

/// What `shrink_folio_list` did with the folio.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reclaim {
    /// Unmapped and freed (PGLAZYFREED).
    Freed,
    /// `folio_trylock` failed: back on the LRU (`keep`).
    Busy,
    /// Still mapped after `try_to_unmap` (the discard refused: redirtied or referenced),
    /// pinned, or dirty after the unmap: `activate_locked`.
    Activated,
    /// Swap-backed (the swap-out path is not modelled), or the freeze at 1 failed (a
    /// speculative reference): `keep_locked`.
    Kept,
}

/// `shrink_folio_list` for one isolated anonymous folio (the caller took it off the LRU with
/// [`folio_isolate_lru`]; its reference is the isolation's): lock it, unmap it, and free it
/// if nothing else holds it; otherwise put it back.
pub fn shrink_folio_list(m: &Machine, folio: usize) -> Reclaim {
    let mm = &m.memmap;
    if !folio_trylock(mm, folio) {
        folio_putback_lru(m, folio); // keep
        return Reclaim::Busy;
    }
    let swapbacked = mm.page(folio).flags.test_bit(PG_SWAPBACKED);
    if swapbacked {
        // add_to_swap and the swap-out of a swap-backed folio: not modelled.
        folio_unlock(mm, folio);
        folio_putback_lru(m, folio);
        return Reclaim::Kept;
    }
    if crate::mm::rmap::folio_mapcount(mm, folio) > 0 {
        // TTU_BATCH_FLUSH | TTU_SPLIT_HUGE_PMD | TTU_SYNC for a large folio
        crate::mm::rmap::try_to_unmap(m, folio);
        if crate::mm::rmap::folio_mapcount(mm, folio) > 0 {
            trace!("shrink_folio_list", "folio {folio} still mapped: activate");
            folio_unlock(mm, folio);
            folio_putback_lru(m, folio); // activate_locked
            return Reclaim::Activated;
        }
    }
    // "Folio is unmapped now so it cannot be newly pinned anymore."
    if crate::mm::gup::folio_maybe_dma_pinned(m, folio) {
        folio_unlock(mm, folio);
        folio_putback_lru(m, folio);
        return Reclaim::Activated;
    }
    // The dirty test after the unmap: a lazyfree folio is on the file LRU
    // (`folio_is_file_lru`: not swap-backed), and a dirty one is marked for reclaim and
    // activated rather than written (direct reclaim; kswapd on a node flagged dirty would go on
    // to `pageout`, which keeps a folio without a mapping). Someone who held a reference across
    // the unmap and dirtied the folio keeps it from being freed here.
    if mm.page(folio).flags.test_bit(crate::mm::page::PG_DIRTY) {
        trace!(
            "shrink_folio_list",
            "folio {folio} dirty after the unmap: activate"
        );
        folio_unlock(mm, folio);
        folio_putback_lru(m, folio); // activate_locked
        return Reclaim::Activated;
    }
    // anon && !swapbacked: "follow __remove_mapping for reference"
    if !folio_ref_freeze(mm, folio, 1) {
        trace!(
            "shrink_folio_list",
            "folio {folio}: folio_ref_freeze(1) failed: keep"
        );
        folio_unlock(mm, folio);
        folio_putback_lru(m, folio); // keep_locked
        return Reclaim::Kept;
    }
    folio_unlock(mm, folio);
    // free_it: off the deferred list, the deferred TLB flush, then the allocator.
    crate::mm::huge_memory::folio_unqueue_deferred_split(mm, folio);
    // try_to_unmap_flush: nothing owed (the PMD discard flushed at once, pmdp_huge_clear_flush;
    // tlb_ubc->flush_required is clear), so no flush.
    trace!("shrink_folio_list", "folio {folio} lazyfreed");
    mm.free_folio(folio, folio_nr_pages(m, folio));
    m.observe("reclaim-lazyfreed");
    Reclaim::Freed
}
