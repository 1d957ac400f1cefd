//! Swap-out and swap-in of an anonymous THP: reclaim's `shrink_folio_list` adding the folio to
//! the swap cache, splitting its PMD (TTU_SPLIT_HUGE_PMD), writing swap entries into the PTEs
//! under the PTE lock with the TLB flush deferred, writing the folio out synchronously and
//! freeing it through `__remove_mapping`'s refcount freeze; against GUP-fast pins, a user store
//! on a CPU that still caches the translation, MADV_DONTNEED (which drops swap entries and may
//! take the folio out of the swap cache), and `do_swap_page` (from the swap cache, or read
//! back from the device). Oracles: I32 (every slot's count is the swap PTEs naming it, the swap
//! cache and PG_swapcache agree, the cache's references), I3/I4 at quiescence, I29 (what the
//! user stored, or the page held, is what it reads at the end, through a swap entry too), I8.

use std::sync::Arc;

use thp_model::invariants::Inv;
use thp_model::kernel::{spawn, Arch};
use thp_model::mm::filemap::{folio_trylock, folio_unlock};
use thp_model::mm::gup::{gup_fast, gup_put_folio, Foll};
use thp_model::mm::huge_memory::{__split_huge_pmd, do_huge_pmd_anonymous_page, FaultResult};
use thp_model::mm::memory::{handle_swap_fault, user_store, Swapin};
use thp_model::mm::page::PG_DIRTY;
use thp_model::mm::rmap::try_to_unmap;
use thp_model::mm::swapfile::folio_alloc_swap;
use thp_model::mm::tlb::arch_tlbbatch_flush;
use thp_model::mm::tlb::tlb_fill_for_setup;
use thp_model::mm::vmscan::{folio_isolate_lru, folio_putback_lru, shrink_folio_list, Reclaim};
use thp_model::mm::zap::{zap_pmd_range, ZapRange};
use thp_model::mm::{check_carried_over, check_quiescent, check_store_visible, Carry};
use thp_model::mm::{Machine, MappingSnapshot, Pmd, Pte};
use thp_model::vm_bug_on;

use super::setup::*;
use super::{Outcomes, Scenario, DEFAULT};

/// This family's scenarios, in catalogue order.
pub const SCENARIOS: &[Scenario] = &[
    SWAPOUT_VS_GUP_FAST,
    SWAPOUT_VS_STORE,
    SWAPOUT_VS_DONTNEED,
    SWAPOUT_VS_FORK,
    SWAPIN_VS_DONTNEED,
    SWAPIN_CACHED_VS_DONTNEED,
];

pub const SWAPPED_OUT: &str = "reclaim-swapped-out";
pub const SWAPOUT_KEPT: &str = "reclaim-kept";
pub const SWAPOUT_ACTIVATED: &str = "reclaim-activated";
pub const SWAPOUT_REFUSED_PINNED: &str = "swapout-refused-pinned";
pub const GUP_PINNED: &str = "gup-pinned";
pub const GUP_FELL_BACK: &str = "gup-fell-back";
pub const GUP_MET_SWAP_PTE: &str = "gup-fast-met-swap-pte";
pub const STORE_CACHED: &str = "store-through-cached-translation";
pub const STORE_SWAPPED_IN: &str = "store-swapped-in";
pub const SWAPIN_FROM_CACHE: &str = "swapin-mapped-whole-folio";
pub const SWAPIN_PAGE_FROM_CACHE: &str = "swapin-mapped-page";
pub const SWAPIN_FROM_DEVICE: &str = "swapin-read-from-device";
pub const SWAPIN_RETRIED: &str = "swapin-retried";
pub const SWAPIN_PTE_CHANGED: &str = "swapin-pte-changed";
pub const SWAPIN_FOUND_NO_ENTRY: &str = "swapin-found-no-swap-entry";
pub const ZAP_RECLAIMED_SWAP_CACHE: &str = "swap-cache-reclaimed-by-zap";

/// The user's CPU in the store scenario (the second one spawned).
const USER_CPU: usize = 2;

/// What the user stores (a data tag no frame holds before: frames start with pfn + 1).
const STORE_TAG: i32 = 0x5a5a;

fn record_reclaim(outcomes: &Outcomes, r: Reclaim) {
    record(
        outcomes,
        match r {
            Reclaim::Freed => SWAPPED_OUT,
            Reclaim::Activated => SWAPOUT_ACTIVATED,
            Reclaim::Busy | Reclaim::Kept => SWAPOUT_KEPT,
        },
    );
}

fn record_swapin(outcomes: &Outcomes, m: &Machine, r: Option<Swapin>) {
    match r {
        Some(Swapin::Mapped { .. }) => {
            record_observed(
                outcomes,
                m,
                &[
                    SWAPIN_FROM_CACHE,
                    SWAPIN_PAGE_FROM_CACHE,
                    SWAPIN_FROM_DEVICE,
                ],
            );
        }
        Some(Swapin::Retry) => {
            record(outcomes, SWAPIN_RETRIED);
            record_observed(outcomes, m, &[SWAPIN_PTE_CHANGED]);
        }
        None => record(outcomes, SWAPIN_FOUND_NO_ENTRY),
    }
}

/// A PMD-mapped THP in mm0 at memmap slot 0 (swap-backed: a new anonymous folio), isolated
/// from the LRU by reclaim; `folios` folio slots in all (slot 1 for a swap-in's new page).
fn setup_isolated(nr: usize, folios: usize) -> Arc<Machine> {
    let m = setup_huge_pmd_slots(nr, folios);
    assert!(
        folio_isolate_lru(&m, 0),
        "[model bug] the new THP is not on the LRU"
    );
    m
}

/// MADV_DONTNEED of `range` of mm0 (under the mmap read lock).
fn dontneed(m: &Machine, range: ZapRange) {
    let _r = m.mms[0].mmap_lock.down_read();
    zap_pmd_range(m, 0, range);
}

/// I15 for a pin taken while reclaim ran: the pinned page is still what mm0 maps at `idx`
/// (reclaim refused to unmap it), else the device's writes go to a page the process no
/// longer reads.
fn check_pin_still_mapped(m: &Machine, idx: usize, page: usize) {
    let mapped = match Pmd::decode(m.mms[0].pmd.read()) {
        Pmd::Huge { pfn, .. } => Some(pfn + idx),
        Pmd::Table(t) => match Pte::decode(m.mms[0].tables[t].ptes[idx].read()) {
            Pte::Present { pfn, .. } => Some(pfn),
            _ => None,
        },
        _ => None,
    };
    vm_bug_on!(
        mapped != Some(page),
        Inv::I15GupFast,
        "GUP-fast pinned page {page} for mm0 page {idx}, but at the end mm0 maps {mapped:?} there: reclaim unmapped a pinned page"
    );
}

pub const SWAPOUT_VS_GUP_FAST: Scenario = Scenario {
    name: "swapout-vs-gup-fast",
    description: "reclaim swapping out a PMD-mapped THP (folio_alloc_swap, split_huge_pmd_locked, swap entries with folio_try_share_anon_rmap_pte, pageout, __remove_mapping) vs GUP-fast (FOLL_PIN | FOLL_WRITE) of sub-page 1",
    threads: &["cpu1: shrink_folio_list(isolated THP)", "cpu2: gup_fast(FOLL_PIN | FOLL_WRITE) of page 1; (main) unpin_user_page"],
    loom_bound: Some(3),
    must_reach: &[SWAPPED_OUT, SWAPOUT_ACTIVATED, SWAPOUT_REFUSED_PINNED, GUP_PINNED, GUP_FELL_BACK],
    body: swapout_vs_gup_fast,
    ..DEFAULT
};
/// Reclaim swapping out the THP ∥ GUP-fast pinning page 1 for writing. A pin taken before
/// reclaim cleared the page's PTE makes `folio_try_share_anon_rmap_pte` refuse (the PTE is
/// restored, the folio activated); a pin that saw the cleared PTE or the swap entry is not
/// taken. A pinned page that reclaim unmapped anyway is I15; the swap accounting is I32.
fn swapout_vs_gup_fast(nr: usize, outcomes: &Outcomes) {
    let m = setup_isolated(nr, 1);
    let before = MappingSnapshot::take(&m);
    let m1 = m.clone();
    let reclaim = spawn(move || shrink_folio_list(&m1, 0));
    let m2 = m.clone();
    let gup = spawn(move || gup_fast(&m2, 0, 1, Foll::Pin, true));
    let r = reclaim.join();
    let got = gup.join();
    record_reclaim(outcomes, r);
    record_observed(outcomes, &m, &[SWAPOUT_REFUSED_PINNED]);
    match got {
        Some(fp) => {
            record(outcomes, GUP_PINNED);
            vm_bug_on!(
                !m.memmap.is_allocated(fp.folio),
                Inv::I15GupFast,
                "GUP-fast returned page {} of folio {}, which reclaim freed under the pin",
                fp.page,
                fp.folio
            );
            check_pin_still_mapped(&m, 1, fp.page);
            check_quiescent(&m, &[(fp.folio, 1)]);
            gup_put_folio(&m, fp.folio, 1, Foll::Pin);
        }
        None => record(outcomes, GUP_FELL_BACK),
    }
    check_quiescent(&m, &[]);
    check_carried_over(&m, &before, Carry::SWAP);
}

pub const SWAPOUT_VS_STORE: Scenario = Scenario {
    name: "swapout-vs-store",
    description: "reclaim swapping out a PTE-mapped THP with its TLB flushes deferred (TTU_BATCH_FLUSH; try_to_unmap_flush_dirty before pageout) vs a user store to page 1 on a CPU that still caches the writable translation (faulting through do_swap_page once the flush lands)",
    threads: &["cpu1: shrink_folio_list(isolated PTE-mapped THP)", "cpu2: store to page 1 (cached translation, else walk and fault: do_swap_page)"],
    arch: Arch::X86,
    loom_bound: Some(3),
    must_reach: &[SWAPPED_OUT, SWAPOUT_KEPT, STORE_CACHED, STORE_SWAPPED_IN, SWAPIN_FROM_CACHE, SWAPIN_FROM_DEVICE],
    body: swapout_vs_store,
    ..DEFAULT
};
/// Reclaim of a PTE-mapped THP ∥ a store to page 1 by a CPU that wrote it before and still
/// caches the writable, dirty translation. Until reclaim's batched flush reaches that CPU the
/// store goes through the old translation into the folio: the flush must come before the
/// folio is written out (rule `try-to-unmap-flush-dirty`), or the store lands after the copy
/// and is lost with the folio. After the flush the store faults and swaps the page back in
/// (from the swap cache, or from the device once the folio is gone). I29 at the end: page 1
/// reads what the user stored, through a swap entry too.
fn swapout_vs_store(nr: usize, outcomes: &Outcomes) {
    let m = Arc::new(Machine::new(nr, 2, 1, 1).with_tlb(&[USER_CPU]));
    {
        let _r = m.mms[0].mmap_lock.down_read();
        assert_eq!(
            do_huge_pmd_anonymous_page(&m, 0, 0),
            FaultResult::Done,
            "[model bug] initial huge fault failed"
        );
        __split_huge_pmd(&m, 0, false);
    }
    tlb_fill_for_setup(&m, 0, USER_CPU, 1);
    assert!(
        folio_isolate_lru(&m, 0),
        "[model bug] the new THP is not on the LRU"
    );
    let mut before = MappingSnapshot::take(&m);
    before.views[0][1] = None; // the stored page: its data is the store oracle's
    let m1 = m.clone();
    let reclaim = spawn(move || shrink_folio_list(&m1, 0));
    let m2 = m.clone();
    let new_pfn = nr; // slot 1: the page a swap-in from the device reads into
    let store = spawn(move || user_store(&m2, 0, 1, STORE_TAG, new_pfn));
    let r = reclaim.join();
    let s = store.join();
    record_reclaim(outcomes, r);
    if s.cached {
        record(outcomes, STORE_CACHED);
    }
    if s.swapin_faults > 0 {
        record(outcomes, STORE_SWAPPED_IN);
    }
    record_observed(
        outcomes,
        &m,
        &[
            SWAPIN_FROM_CACHE,
            SWAPIN_PAGE_FROM_CACHE,
            SWAPIN_FROM_DEVICE,
        ],
    );
    check_store_visible(&m, 0, 1, STORE_TAG);
    check_quiescent(&m, &[]);
    check_carried_over(&m, &before, Carry::SWAP);
}

pub const SWAPOUT_VS_DONTNEED: Scenario = Scenario {
    name: "swapout-vs-dontneed",
    test_loom_bound: Some(2), // the suite's search (docs/performance.md)
    description: "reclaim swapping out a PMD-mapped THP vs MADV_DONTNEED of the whole PMD (zap_pte_range dropping swap entries: free_swap_and_cache_nr, __try_to_reclaim_swap)",
    threads: &["cpu1: shrink_folio_list(isolated THP)", "cpu2: MADV_DONTNEED (zap_pmd_range)"],
    loom_bound: Some(3),
    must_reach: &[SWAPPED_OUT, SWAPOUT_KEPT, ZAP_RECLAIMED_SWAP_CACHE],
    body: swapout_vs_dontneed,
    ..DEFAULT
};
/// Reclaim swapping the THP out ∥ MADV_DONTNEED of its range. The zap may meet the huge PMD,
/// the split table, present PTEs or swap entries; a swap entry it drops lowers its slot's
/// count, and a folio left only in the swap cache is taken out of it if the zap can lock it
/// (`__try_to_reclaim_swap`). Whatever the order: no swap slot leaked or freed while named,
/// the folio freed once, its references and mapcounts exact (I32, I3, I4, I8).
fn swapout_vs_dontneed(nr: usize, outcomes: &Outcomes) {
    let m = setup_isolated(nr, 1);
    let before = MappingSnapshot::take(&m);
    let m1 = m.clone();
    let reclaim = spawn(move || shrink_folio_list(&m1, 0));
    let m2 = m.clone();
    let zap = spawn(move || dontneed(&m2, ZapRange::Full));
    let r = reclaim.join();
    zap.join();
    record_reclaim(outcomes, r);
    record_observed(outcomes, &m, &[ZAP_RECLAIMED_SWAP_CACHE]);
    check_quiescent(&m, &[]);
    check_carried_over(
        &m,
        &before,
        Carry {
            may_unmap: true,
            ..Carry::SWAP
        },
    );
}

pub const FORK_COPIED_HUGE_PMD: &str = "fork-copied-huge-pmd";
pub const FORK_COPIED_PRESENT_PTES: &str = "fork-copied-present-ptes";
pub const FORK_COPIED_SWAP_ENTRY: &str = "fork-copied-swap-entry";

pub const SWAPOUT_VS_FORK: Scenario = Scenario {
    name: "swapout-vs-fork",
    description: "reclaim swapping out a PMD-mapped THP vs fork of its mm (dup_mmap: copy_huge_pmd of the huge PMD, or copy_pte_range of the split table: present PTEs shared, swap entries duplicated with swap_duplicate)",
    threads: &["cpu1: shrink_folio_list(isolated THP)", "cpu2: dup_mmap: mmap_write_lock(mm0, mm1); vma_start_write; copy_huge_pmd / copy_pte_range(mm0 -> mm1)"],
    loom_bound: Some(3),
    must_reach: &[SWAPPED_OUT, FORK_COPIED_HUGE_PMD, FORK_COPIED_PRESENT_PTES, FORK_COPIED_SWAP_ENTRY],
    body: swapout_vs_fork,
    ..DEFAULT
};
/// Reclaim swapping the THP out ∥ fork of mm0 into mm1. Reclaim holds no mmap_lock, so fork
/// may copy the huge PMD (the unmap walk then unmaps both mms), the present PTEs of the table
/// the walk's TTU_SPLIT_HUGE_PMD left for a moment, or the swap entries the walk wrote (each
/// copy one more count on its slot). Whatever the order: both mms read what mm0 held, through
/// the same page or the same swap slot (I29), every slot's count is the swap PTEs naming it, and
/// the folio is freed once (I32, I3, I4, I8).
fn swapout_vs_fork(nr: usize, outcomes: &Outcomes) {
    let m = setup_huge_pmd_mms(nr, 1, 2);
    assert!(
        folio_isolate_lru(&m, 0),
        "[model bug] the new THP is not on the LRU"
    );
    let before = MappingSnapshot::take(&m);
    let m1 = m.clone();
    let reclaim = spawn(move || shrink_folio_list(&m1, 0));
    let m2 = m.clone();
    let fork = spawn(move || thp_model::mm::mmap::dup_mmap(&m2, 0, 1));
    let r = reclaim.join();
    let copied = fork.join();
    assert!(copied, "[model bug] fork of an unpinned THP failed");
    record_reclaim(outcomes, r);
    record_observed(
        outcomes,
        &m,
        &[
            FORK_COPIED_HUGE_PMD,
            FORK_COPIED_PRESENT_PTES,
            FORK_COPIED_SWAP_ENTRY,
        ],
    );
    check_quiescent(&m, &[]);
    check_carried_over(&m, &before, Carry::FORK.and(Carry::SWAP));
    // Both mms read what mm0 held: the same page, or the same data through a swap entry (the
    // swap cache's folio, else the device). A child that maps the folio while the parent has a
    // swap entry for it is legal (reclaim then keeps the folio in the swap cache).
    let after = MappingSnapshot::take(&m);
    for k in 0..nr {
        let was = before.views[0][k].as_ref().map(|v| v.content);
        let view = |mm: usize| after.views[mm][k].as_ref().map(|v| (v.pfn, v.content));
        assert!(
            view(0) == view(1) && view(0).map(|v| v.1) == was,
            "[{}] after fork, virtual page {k} reads {:?} in mm0 and {:?} in mm1 (pfn or swapped out, content); it held {was:?}",
            Inv::I29DataLost.tag(),
            view(0),
            view(1)
        );
    }
}

/// A THP swapped out before the CPUs start: PMD-mapped in mm0 at slot 0, its PTEs now swap
/// entries for slots 0..nr; `folios` folio slots in all. Without `cached`, reclaim ran to the
/// end (the folio freed, the data on the device). With `cached`, reclaim stopped after the
/// unmap, as it does when a speculative reference makes `pageout` or the freeze fail (the
/// folio stays in the swap cache, unmapped, dirty, back on the LRU): the steps of
/// `shrink_folio_list` up to `try_to_unmap` and its flush, then the put-back.
fn setup_swapped_out(nr: usize, folios: usize, cached: bool) -> Arc<Machine> {
    let m = setup_isolated(nr, folios);
    if !cached {
        assert_eq!(
            shrink_folio_list(&m, 0),
            Reclaim::Freed,
            "[model bug] the setup's swap-out"
        );
        return m;
    }
    assert!(
        folio_trylock(&m.memmap, 0),
        "[model bug] setup: folio locked"
    );
    assert!(folio_alloc_swap(&m, 0), "[model bug] setup: no swap");
    m.memmap.page(0).flags.set_bit(PG_DIRTY); // folio_mark_dirty
    let ubc = try_to_unmap(&m, 0);
    assert_eq!(
        thp_model::mm::rmap::folio_mapcount(&m.memmap, 0),
        0,
        "[model bug] setup: the folio is still mapped"
    );
    if ubc.flush_required {
        arch_tlbbatch_flush(&m); // try_to_unmap_flush
    }
    folio_unlock(&m.memmap, 0);
    folio_putback_lru(&m, 0); // keep_locked: back on the LRU, in the swap cache
    m
}

pub const SWAPIN_VS_DONTNEED: Scenario = Scenario {
    name: "swapin-vs-dontneed",
    description: "a write fault on a swapped-out page (do_swap_page: no folio in the swap cache, synchronous read into a new page with swapcache_prepare) vs MADV_DONTNEED of that page dropping its swap entry",
    threads: &["cpu1: write fault on page 1 (do_swap_page)", "cpu2: MADV_DONTNEED of page 1 (zap_pte_range)"],
    must_reach: &[SWAPIN_FROM_DEVICE, SWAPIN_FOUND_NO_ENTRY, SWAPIN_PTE_CHANGED],
    body: swapin_vs_dontneed,
    ..DEFAULT
};
/// A swap-in of page 1 from the device ∥ MADV_DONTNEED of page 1 (only that page: a zap of the
/// whole table would also free the emptied table, PT_RECLAIM, and the fault would find no
/// table at all). The fault read the swap entry without
/// the PTE lock; if the zap dropped it meanwhile, the fault must see that under the PTE lock
/// (rule `swapin-pte-same`) and map nothing: mapping anyway frees a slot count no PTE holds
/// any more and leaves a page no zap will unmap (I32, I3, I4).
fn swapin_vs_dontneed(nr: usize, outcomes: &Outcomes) {
    swapin_vs_dontneed_page_1(nr, outcomes, false);
}

/// The two CPUs of the swap-in scenarios, on a THP swapped out completely or (`cached`) left in
/// the swap cache: a write fault on page 1 ∥ MADV_DONTNEED of page 1; then I32, I3, I4.
fn swapin_vs_dontneed_page_1(nr: usize, outcomes: &Outcomes, cached: bool) {
    let m = setup_swapped_out(nr, 2, cached);
    let m1 = m.clone();
    let new_pfn = nr;
    let fault = spawn(move || handle_swap_fault(&m1, 0, 1, true, new_pfn));
    let m2 = m.clone();
    let zap = spawn(move || dontneed(&m2, ZapRange::Page(1)));
    let r = fault.join();
    zap.join();
    record_swapin(outcomes, &m, r);
    check_quiescent(&m, &[]);
}

pub const SWAPIN_CACHED_VS_DONTNEED: Scenario = Scenario {
    name: "swapin-cached-vs-dontneed",
    description: "a write fault on a swapped-out page whose folio is still in the swap cache (do_swap_page maps the whole folio, or the one page once the other entry is gone) vs MADV_DONTNEED of that page (free_swap_and_cache_nr on its swap entry, or the zap of the page the fault mapped)",
    threads: &["cpu1: write fault on page 1 (do_swap_page, swap cache hit)", "cpu2: MADV_DONTNEED of page 1 (zap_pte_range)"],
    loom_bound: Some(3),
    must_reach: &[SWAPIN_FROM_CACHE, SWAPIN_FOUND_NO_ENTRY, SWAPIN_PTE_CHANGED],
    body: swapin_cached_vs_dontneed,
    ..DEFAULT
};
/// A swap-in from the swap cache ∥ MADV_DONTNEED of page 1. The zap drops that swap entry (the
/// folio stays cached for page 0's), or unmaps the page the fault mapped; the fault holds its own reference from the lookup, rechecks under
/// the folio lock that the folio is still cached for this entry, and under the PTE lock that
/// the entry is still there (rule `swapin-pte-same`).
fn swapin_cached_vs_dontneed(nr: usize, outcomes: &Outcomes) {
    swapin_vs_dontneed_page_1(nr, outcomes, true);
}
