//! MADV_FREE, modelled on mm/madvise.c `madvise_free_pte_range` (the page-walk callback for
//! one PMD) and the folio split it shares with mm/huge_memory.c `madvise_free_huge_pmd`.
//! Paraphrased from Linux 6.18.2; no kernel code is reproduced.
//!
//! MADV_FREE runs under the VMA read lock (or `mmap_lock` read) and never unmaps: it marks
//! the range's anonymous folios lazily freeable, after clearing their dirty state in the
//! folio and the page tables. A large folio it covers only in part is split first
//! (`split_folio`, a full `__folio_split`), so only the covered pages are marked
//! (docs/protocol.md#madv_free).
//!
//! `folio_mark_lazyfree` moves the folio on the LRU under the lruvec lock with a temporary
//! reference, as the kernel does for a large folio (its per-CPU batch drains at once). Not
//! modelled: a small folio's reference lingering in the per-CPU batch until the next
//! `lru_add_drain` (the model drains at once, a narrower window for a concurrent split or
//! migration freeze to fail); PG_swapbacked (no reclaim that would discard a lazyfree folio);
//! swap-cache folios and swap entries (the model has no swap); the lazy-MMU and
//! `flush_tlb_batched_pending` steps (no reclaim-side batched flush).

use crate::kernel::rule_on;
use crate::mm::filemap::{folio_trylock, folio_unlock};
use crate::mm::huge_memory::{madvise_free_huge_pmd, split_huge_page, SplitError};
use crate::mm::page::{PG_DIRTY, PG_HEAD};
use crate::mm::page_ref::{folio_get, folio_put_small_or_large};
use crate::mm::pgtable::{Pmd, Pte, F_DIRTY, F_YOUNG};
use crate::mm::pgtable_generic::pmdp_get_lockless;
use crate::mm::pgtable_generic::pte_offset_map_lock;
use crate::mm::rmap::{folio_mapcount, folio_maybe_mapped_shared};
use crate::mm::zap::ZapRange;
use crate::mm::Machine;
use crate::rules::Rule;
use crate::trace;

/// The split step of MADV_FREE (mm/huge_memory.c `madvise_free_huge_pmd` and mm/madvise.c
/// `madvise_free_pte_range`), entered with a page-table lock held (`unlock_ptl` drops it) and
/// `folio` trylocked under it: take a reference while the mapping still pins the folio, drop
/// the lock, `split_folio`, unlock and put (rule `madvise-free-get-before-unlock`). On success
/// the lock and the reference belong to the order-0 folio at the old head.
pub fn madvise_free_split_folio(
    m: &Machine,
    folio: usize,
    unlock_ptl: impl FnOnce(),
) -> Result<(), SplitError> {
    if rule_on(Rule::MadviseFreeGetBeforeUnlock) {
        folio_get(&m.memmap, folio);
        unlock_ptl();
    } else {
        // Defect: the lock is dropped first. The folio lock does not keep the folio alive,
        // so a zap may drop its last mapping and reference in between.
        unlock_ptl();
        folio_get(&m.memmap, folio);
    }
    trace!("split_folio", "MADV_FREE: split folio {folio}");
    let r = split_huge_page(m, folio);
    folio_unlock(&m.memmap, folio);
    folio_put_small_or_large(m, folio);
    r
}

/// `folio_mark_lazyfree` (mm/swap.c), called with the page-table lock held, for a folio on
/// the LRU: `folio_get`, then the batch move (`folio_batch_move_lru` with `lru_lazyfree`, at
/// once for a large folio): `folio_test_clear_lru` *before* the lruvec lock (a folio whose
/// PG_lru somebody else cleared, an isolation, is skipped), the move under the lock,
/// `folio_set_lru`, the unlock, then `folios_put`. PG_swapbacked, which the move clears, is
/// not modelled.
pub fn folio_mark_lazyfree(m: &Machine, folio: usize) {
    use crate::mm::page::PG_LRU;
    let flags = &m.memmap.page(folio).flags;
    if !flags.test_bit(PG_LRU) {
        return;
    }
    folio_get(&m.memmap, folio);
    if flags.test_and_clear_bit(PG_LRU) {
        let lru = m.lru_lock.lock(); // folio_lruvec_relock_irqsave
                                     // lru_lazyfree: off the anon LRU, PG_swapbacked cleared, onto the file LRU
        flags.clear_bit(crate::mm::page::PG_SWAPBACKED);
        trace!(
            "lru_lazyfree",
            "folio {folio} moved to the lazyfree LRU, !swapbacked"
        );
        flags.set_bit(PG_LRU);
        drop(lru);
    }
    folio_put_small_or_large(m, folio); // folios_put
}

/// `folio_pte_batch` as `madvise_folio_pte_batch` uses it (FPB_MERGE_YOUNG_DIRTY): how many
/// PTEs from `i` (below `end`) map consecutive pages of `folio` starting at `pfn`, and the
/// young and dirty bits of all of them ORed together.
fn madvise_folio_pte_batch(
    m: &Machine,
    table: &crate::mm::PteTable,
    i: usize,
    end: usize,
    folio: usize,
    pfn: usize,
    flags: i64,
) -> (usize, i64) {
    let mut nr = 1;
    let mut merged = flags;
    while i + nr < end && pfn + nr < folio + m.nr {
        match Pte::decode(table.ptes[i + nr].read()) {
            Pte::Present { pfn: p, flags: f } if p == pfn + nr => {
                merged |= f & (F_YOUNG | F_DIRTY);
                nr += 1;
            }
            _ => break,
        }
    }
    (nr, merged)
}

/// `madvise_free_pte_range` (mm/madvise.c) for the one PMD of `mm_id`, under the VMA or
/// `mmap_lock` read lock: a huge PMD goes to `madvise_free_huge_pmd` (done if that handled
/// it); otherwise under the PTE lock, for each present PTE in `range`: a large folio that the
/// range covers only in part is split (trylock, `madvise_free_split_folio`, then the PTE lock
/// is retaken and the same PTE processed again); a dirty folio fully mapped by this mm is
/// cleaned under its trylock; young or dirty PTEs are made old and clean; the folio is marked
/// lazyfree. Returns the number of folios marked.
pub fn madvise_free_pte_range(m: &Machine, mm_id: usize, range: ZapRange) -> usize {
    crate::mm::mmap_lock::assert_mmap_or_vma_locked(&m.mms[mm_id], "madvise_free_pte_range");
    let mut recorded = false;
    let marked = madvise_free_pmd_entry(m, mm_id, range, &mut recorded);
    // tlb_finish_mmu: a flush only if the walk recorded an entry it changed
    // (`tlb_flush_mmu_tlbonly`).
    if recorded {
        let mm = &m.mms[mm_id];
        match range {
            ZapRange::Full => crate::mm::tlb::flush_tlb_mm(m, mm),
            ZapRange::Page(p) => crate::mm::tlb::flush_tlb_one(m, mm, p),
        }
    }
    marked
}

/// The body of [`madvise_free_pte_range`], before the mmu_gather's final flush; sets
/// `recorded` when it changed an entry (`tlb_remove_pmd_tlb_entry` / `tlb_remove_tlb_entries`).
fn madvise_free_pmd_entry(
    m: &Machine,
    mm_id: usize,
    range: ZapRange,
    recorded: &mut bool,
) -> usize {
    let mm = &m.mms[mm_id];
    if Pmd::decode(pmdp_get_lockless(mm, "madvise_free_pte_range")).trans_huge()
        && madvise_free_huge_pmd(m, mm_id, range)
    {
        // (recorded only if the PMD was young or dirty; the model flushes either way, after
        // the immediate flush of pmdp_invalidate: an IPI more, no entry it could leave)
        *recorded = true;
        return 1;
    }
    let (mut i, end) = match range {
        ZapRange::Full => (0, m.nr),
        ZapRange::Page(p) => (p, p + 1),
    };
    let mut map = pte_offset_map_lock(m, mm);
    if map.is_some() {
        crate::mm::tlb::flush_tlb_batched_pending(m, mm);
    }
    let mut marked = 0;
    while let Some(t) = map.as_ref().map(|l| l.table) {
        if i >= end {
            break;
        }
        let table = m.table(mm, t, "madvise_free_pte_range");
        let slot = &table.ptes[i];
        // A swap entry is dropped with its slot's count (swap_pte_batch, free_swap_and_cache_nr,
        // clear_not_present_full_ptes: MADV_FREE frees swapped-out pages at once); a
        // migration entry is left alone.
        if let Pte::Swap { offset, flags } = Pte::decode(slot.read()) {
            let n = crate::mm::swapfile::swap_pte_batch(&table.ptes, i, end, offset, flags);
            crate::mm::swapfile::zap_swap_ptes(m, &table.ptes, i, n, offset);
            i += n;
            continue;
        }
        let Pte::Present { pfn, mut flags } = Pte::decode(slot.read()) else {
            i += 1;
            continue;
        };
        // The mapping pins the folio and, under this PTE lock, keeps it from being split.
        let folio = m.memmap.page_folio(pfn);
        let mut nr = 1;
        if m.memmap.page(folio).flags.test_bit(PG_HEAD) {
            (nr, flags) = madvise_folio_pte_batch(m, table, i, end, folio, pfn, flags);
            if nr < m.nr {
                if folio_maybe_mapped_shared(m, folio) || !folio_trylock(&m.memmap, folio) {
                    m.observe("madv-free-skipped");
                    i += nr;
                    continue;
                }
                let held = map.take();
                let r = madvise_free_split_folio(m, folio, move || drop(held));
                m.observe(if r.is_ok() {
                    "madv-free-split-ok"
                } else {
                    "madv-free-split-failed"
                });
                map = pte_offset_map_lock(m, mm); // None: the table is gone, stop
                if map.is_some() {
                    crate::mm::tlb::flush_tlb_batched_pending(m, mm);
                }
                if r.is_err() {
                    i += nr;
                }
                continue; // on success, this PTE again: it now maps a small folio
            }
        }
        let swapcache = m
            .memmap
            .page(folio)
            .flags
            .test_bit(crate::mm::page::PG_SWAPCACHE);
        if swapcache || m.memmap.page(folio).flags.test_bit(PG_DIRTY) {
            if !folio_trylock(&m.memmap, folio) {
                i += nr;
                continue;
            }
            // A large folio here is fully mapped by this range: mapcount == nr pages means
            // exclusive. (The model's folio_mapcount reads the large-folio counter; a small
            // folio's mapcount is its page's.)
            let (pages, mapcount) = if m.memmap.page(folio).flags.test_bit(PG_HEAD) {
                (m.nr as i32, folio_mapcount(&m.memmap, folio))
            } else {
                (1, m.memmap.page(folio)._mapcount.read() + 1)
            };
            if mapcount != pages {
                folio_unlock(&m.memmap, folio);
                i += nr;
                continue;
            }
            // a folio in the swap cache leaves it first, or is skipped
            if m.memmap
                .page(folio)
                .flags
                .test_bit(crate::mm::page::PG_SWAPCACHE)
                && !crate::mm::swapfile::folio_free_swap(m, folio)
            {
                folio_unlock(&m.memmap, folio);
                i += nr;
                continue;
            }
            m.memmap.page(folio).flags.clear_bit(PG_DIRTY); // folio_clear_dirty
            folio_unlock(&m.memmap, folio);
        }
        if flags & (F_YOUNG | F_DIRTY) != 0 {
            // clear_young_dirty_ptes, under the PTE lock (then tlb_remove_tlb_entries).
            *recorded = true;
            for (k, p) in table.ptes[i..i + nr].iter().enumerate() {
                if let Pte::Present { pfn: q, flags: f } = Pte::decode(p.read()) {
                    let new = Pte::Present {
                        pfn: q,
                        flags: f & !(F_YOUNG | F_DIRTY),
                    };
                    p.set(new.encode());
                    trace!("clear_young_dirty_ptes", "pte[{}] -> {new:?}", i + k);
                }
            }
        }
        folio_mark_lazyfree(m, folio);
        m.observe("madv-free-lazyfree-pte");
        marked += 1;
        i += nr;
    }
    drop(map);
    marked
}
