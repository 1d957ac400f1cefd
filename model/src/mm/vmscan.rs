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

use crate::kernel::rule_on;
use crate::mm::filemap::{folio_trylock, folio_unlock};
use crate::mm::page::{PG_LRU, PG_SWAPBACKED};
use crate::mm::page_ref::{
    folio_get, folio_nr_pages, folio_put_small_or_large, folio_ref_count, folio_ref_freeze,
    folio_ref_unfreeze,
};
use crate::mm::Machine;
use crate::rules::Rule;
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
    /// Unmapped and freed (PGLAZYFREED, or swapped out: PGSTEAL).
    Freed,
    /// `folio_trylock` failed: back on the LRU (`keep`).
    Busy,
    /// Still mapped after `try_to_unmap` (the discard refused: redirtied or referenced; the
    /// swap-out met a pin), pinned, or dirty after the unmap: `activate_locked`.
    Activated,
    /// A reference beyond the expected ones (`pageout`'s `is_page_cache_freeable`, or the
    /// freeze in `__remove_mapping`), redirtied after the write, or relocked by someone else:
    /// `keep` / `keep_locked`. A swapped-out folio stays in the swap cache.
    Kept,
}

/// `shrink_folio_list` for one isolated anonymous folio (the caller took it off the LRU with
/// [`folio_isolate_lru`]; its reference is the isolation's): lock it, unmap it, write a
/// swap-backed one to swap, and free it if nothing else holds it; otherwise put it back.
pub fn shrink_folio_list(m: &Machine, folio: usize) -> Reclaim {
    let mm = &m.memmap;
    if !folio_trylock(mm, folio) {
        folio_putback_lru(m, folio); // keep
        return Reclaim::Busy;
    }
    let swapbacked = mm.page(folio).flags.test_bit(PG_SWAPBACKED);
    if swapbacked {
        return shrink_swapbacked(m, folio);
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

/// `try_to_unmap_flush` / `try_to_unmap_flush_dirty`: pay the deferred flush of the batch
/// (every CPU's TLB, `arch_tlbbatch_flush`), if one is owed; the dirty form only if a dirty
/// PTE was among the cleared ones.
fn try_to_unmap_flush(m: &Machine, ubc: &mut crate::mm::rmap::TlbUbc, dirty_only: bool) {
    if !ubc.flush_required || (dirty_only && !ubc.writable) {
        return;
    }
    crate::mm::tlb::arch_tlbbatch_flush(m);
    *ubc = crate::mm::rmap::TlbUbc::default();
}

/// The swap-backed half of `shrink_folio_list` (the folio locked, isolated): add it to the
/// swap cache (`folio_alloc_swap`; refused for a pinned folio or one with a reference beyond
/// its mappings and the isolation's: `can_split_folio`), mark it dirty, unmap it
/// (`try_to_unmap`: swap entries in the PTEs), `try_to_unmap_flush_dirty`, `pageout` (the
/// synchronous write drops the folio lock), relock, and `__remove_mapping`: freeze the
/// refcount at the isolation's and the swap cache's references and free the folio. Every
/// failure puts the folio back on the LRU, in the swap cache if it got there (its swap PTEs
/// stay; a fault finds it in the cache).
fn shrink_swapbacked(m: &Machine, folio: usize) -> Reclaim {
    use crate::mm::page::{PG_DIRTY, PG_PARTIALLY_MAPPED, PG_SWAPCACHE, PG_WRITEBACK};
    let mm = &m.memmap;
    let nr = folio_nr_pages(m, folio);
    // keep / keep_locked / activate_locked: unlock; at the end of the list the batch's
    // deferred flush (try_to_unmap_flush); then the caller puts the folio back on the LRU
    // (move_folios_to_lru), dropping the isolation's reference.
    let back = |r: Reclaim, locked: bool, ubc: &mut crate::mm::rmap::TlbUbc| {
        if locked {
            folio_unlock(mm, folio);
        }
        try_to_unmap_flush(m, ubc, false);
        folio_putback_lru(m, folio);
        trace!("shrink_folio_list", "folio {folio}: {r:?}");
        r
    };
    let mut ubc = crate::mm::rmap::TlbUbc::default();
    if !mm.page(folio).flags.test_bit(PG_SWAPCACHE) {
        if crate::mm::gup::folio_maybe_dma_pinned(m, folio) {
            return back(Reclaim::Kept, true, &mut ubc); // keep_locked
        }
        if nr > 1 && !crate::mm::huge_memory::can_split_folio(m, folio) {
            return back(Reclaim::Activated, true, &mut ubc); // activate_locked
        }
        if nr > 1 && mm.page(folio).flags.test_bit(PG_PARTIALLY_MAPPED) {
            crate::model_bug!(
                "shrink_folio_list: the split of a partially mapped THP before swap-out is not modelled"
            );
        }
        if !crate::mm::swapfile::folio_alloc_swap(m, folio) {
            crate::model_bug!(
                "shrink_folio_list: the split after a failed swap allocation is not modelled"
            );
        }
        mm.page(folio).flags.set_bit(PG_DIRTY); // folio_mark_dirty
    }
    if crate::mm::rmap::folio_mapcount(mm, folio) > 0 {
        ubc = crate::mm::rmap::try_to_unmap(m, folio);
        if crate::mm::rmap::folio_mapcount(mm, folio) > 0 {
            // activate_locked: the swap cache is kept (no memcg swap pressure modelled)
            return back(Reclaim::Activated, true, &mut ubc);
        }
    }
    if crate::mm::gup::folio_maybe_dma_pinned(m, folio) {
        return back(Reclaim::Activated, true, &mut ubc);
    }
    if mm.page(folio).flags.test_bit(PG_DIRTY) {
        // Rule try-to-unmap-flush-dirty: no CPU may still write through a cleared dirty PTE
        // while the folio is written out.
        if rule_on(Rule::TryToUnmapFlushDirty) {
            try_to_unmap_flush(m, &mut ubc, true);
        }
        // pageout: is_page_cache_freeable, then folio_clear_dirty_for_io (PAGE_CLEAN if it
        // was clean after all: on to __remove_mapping)
        if folio_ref_count(mm, folio) != 1 + nr as i32 {
            return back(Reclaim::Kept, true, &mut ubc); // PAGE_KEEP: keep_locked
        }
        if mm.page(folio).flags.test_and_clear_bit(PG_DIRTY) {
            // writeout → swap_writeout
            if crate::mm::swapfile::folio_free_swap(m, folio) {
                folio_unlock(mm, folio);
            } else {
                swap_writepage_bdev_sync(m, folio, nr);
            }
            // PAGE_SUCCESS: a synchronous write; try to reclaim the folio now.
            if mm.page(folio).flags.read() & ((1 << PG_WRITEBACK) | (1 << PG_DIRTY)) != 0 {
                return back(Reclaim::Kept, false, &mut ubc); // keep
            }
            if !folio_trylock(mm, folio) {
                return back(Reclaim::Kept, false, &mut ubc); // keep
            }
            if mm.page(folio).flags.read() & ((1 << PG_WRITEBACK) | (1 << PG_DIRTY)) != 0 {
                return back(Reclaim::Kept, true, &mut ubc); // keep_locked
            }
        }
    }
    // folio_mapping: none once the folio left the swap cache
    if !mm.page(folio).flags.test_bit(PG_SWAPCACHE) || !__remove_mapping(m, folio, nr) {
        return back(Reclaim::Kept, true, &mut ubc); // keep_locked
    }
    folio_unlock(mm, folio);
    // free_it: off the deferred list; the batch's deferred flush before the pages are freed.
    crate::mm::huge_memory::folio_unqueue_deferred_split(mm, folio);
    try_to_unmap_flush(m, &mut ubc, false);
    trace!("shrink_folio_list", "folio {folio} swapped out and freed");
    mm.free_folio(folio, nr);
    m.observe("reclaim-swapped-out");
    Reclaim::Freed
}

/// `swap_writepage_bdev_sync` (mm/page_io.c) for the locked folio: `folio_start_writeback`,
/// `folio_unlock`, the write of every page to its slot, then `folio_end_writeback` (which
/// holds a reference of its own across clearing PG_writeback).
fn swap_writepage_bdev_sync(m: &Machine, folio: usize, nr: usize) {
    use crate::mm::page::PG_WRITEBACK;
    let mm = &m.memmap;
    mm.page(folio).flags.set_bit(PG_WRITEBACK); // folio_start_writeback
    let offset = mm.swap[folio].read() as usize - 1;
    folio_unlock(mm, folio);
    for i in 0..nr {
        // submit_bio_wait: the device reads the page
        let c = mm.page(folio + i).content.read() & !crate::mm::page::CONTENT_ORACLE_BITS;
        m.swap.data[offset + i].set(c);
    }
    trace!(
        "swap_writepage_bdev_sync",
        "folio {folio} written to slots {offset}..{}",
        offset + nr
    );
    folio_get(mm, folio); // folio_end_writeback
    mm.page(folio).flags.clear_bit(PG_WRITEBACK);
    folio_put_small_or_large(m, folio);
}

/// `__remove_mapping(swap_space, folio, reclaimed)` for a swap-cache folio, locked: under
/// `ci->lock`, freeze the refcount at the isolation's reference and the swap cache's `nr`
/// (rule `remove-mapping-ref-freeze`: anyone else's reference, a speculative one included,
/// makes it fail), then test PG_dirty (a store that redirtied the folio keeps it), delete it
/// from the swap cache (the cache's references were consumed by the freeze), and release the
/// slots' cache bits (`put_swap_folio`). True: the folio is frozen at 0, ready to free.
fn __remove_mapping(m: &Machine, folio: usize, nr: usize) -> bool {
    use crate::mm::page::PG_DIRTY;
    let mm = &m.memmap;
    let expected = 1 + nr as i32;
    let offset = {
        let _ci = m.swap.ci_lock.lock();
        if rule_on(Rule::RemoveMappingRefFreeze) {
            if !folio_ref_freeze(mm, folio, expected) {
                trace!(
                    "__remove_mapping",
                    "folio {folio}: folio_ref_freeze({expected}) failed"
                );
                return false;
            }
        } else {
            // The broken protocol: a plain check of the count, then a store of 0; a lookup
            // that gets a reference between the two is not seen.
            if folio_ref_count(mm, folio) != expected {
                return false;
            }
            mm.page(folio)._refcount.set(0);
        }
        if mm.page(folio).flags.test_bit(PG_DIRTY) {
            folio_ref_unfreeze(mm, folio, expected);
            return false;
        }
        crate::mm::swap_state::__swap_cache_del_folio(m, folio)
    };
    crate::mm::swapfile::put_swap_folio(m, offset, nr);
    true
}
