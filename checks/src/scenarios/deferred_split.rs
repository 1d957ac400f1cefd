//! Scenarios of the deferred split shrinker (mm/huge_memory.c `deferred_split_scan`) against
//! zaps, another splitter and MADV_FREE.

use std::sync::Arc;

use thp_model::invariants::Inv;
use thp_model::kernel::spawn;
use thp_model::mm::huge_memory::SplitError;
use thp_model::mm::huge_memory::{deferred_split_scan, DeferredScan};
use thp_model::mm::madvise::madvise_free_pte_range;
use thp_model::mm::memory::{do_anonymous_page, PteFault};
use thp_model::mm::page::{DEFERRED_NONE, DEFERRED_QUEUED, PG_PARTIALLY_MAPPED};
use thp_model::mm::page_ref::folio_get;
use thp_model::mm::zap::{zap_pmd_range, ZapRange};
use thp_model::mm::{check_carried_over, check_quiescent, Carry, Machine, MappingSnapshot};

use super::setup::*;
use super::{Outcomes, Scenario, DEFAULT};

/// This family's scenarios, in catalogue order.
pub const SCENARIOS: &[Scenario] = &[
    MADVISE_FREE_SPLIT_VS_DEFERRED_SPLIT_SCAN,
    DEFERRED_SPLIT_SCAN_VS_ZAP,
    DEFERRED_SPLIT_SCAN_VS_ZAP_BATCH,
    DEFERRED_SPLIT_SCAN_VS_FOLIO_SPLIT,
    PARTIAL_UNMAP_IN_BOTH_MMS,
    DEFERRED_SPLIT_SCAN_VS_THP_MIGRATION,
];

pub const MADV_FREE_SKIPPED: &str = "madv-free-skipped";
pub const MIGRATION_SPLIT_QUEUED_FOLIO: &str = "migration-split-queued-folio";
pub const PARTIAL_MAPPING_QUEUED: &str = "partial-mapping-queued";
pub const PARTIAL_MAPPING_UNDETECTED: &str = "partial-mapping-undetected";
pub const SCAN_FOUND_NOTHING: &str = "scan-found-nothing";
pub const SCAN_LOST_RACE: &str = "scan-lost-race";
pub const SCAN_REMOVED: &str = "scan-removed";
pub const SCAN_REQUEUED: &str = "scan-requeued";
pub const SCAN_SPLIT: &str = "scan-split";
pub const SPLIT_OTHER: &str = "split-other";
pub const THP_LEFT_WHOLE: &str = "thp-left-whole";
pub const THP_SPLIT: &str = "thp-split";
pub const UNQUEUE_UNDER_LRU_LOCK: &str = "unqueue-under-lru-lock";

pub const MADVISE_FREE_SPLIT_VS_DEFERRED_SPLIT_SCAN: Scenario = Scenario {
    name: "madvise-free-split-vs-deferred-split-scan",
    description: "MADV_FREE of the whole range of a partially mapped, queued THP (madvise_free_pte_range splits it: folio_trylock and folio_get under the PTE lock, then split_folio) vs deferred_split_scan of the same folio",
    threads: &["cpu1: mmap_read_lock; madvise_free_pte_range(full): split_folio", "cpu2: deferred_split_scan"],
    loom_bound: Some(4), // 5: 80,092 executions, 14 s
    must_reach: &[MADV_FREE_SPLIT_OK, MADV_FREE_SPLIT_FAILED, MADV_FREE_SKIPPED, SCAN_SPLIT, SCAN_REQUEUED, THP_SPLIT],
    body: madvise_free_split_vs_deferred_split_scan,
    ..DEFAULT
};
/// MADV_FREE of the whole range of a partially mapped, queued THP (`madvise_free_pte_range`: no
/// PTE batch covers the folio, so it is split — trylock and reference under the PTE lock, then
/// `split_folio` without it) ∥ the deferred split shrinker on the same folio: two split entry
/// points, the folio lock and the references decide which one splits.
fn madvise_free_split_vs_deferred_split_scan(nr: usize, outcomes: &Outcomes) {
    let m = setup_partially_mapped(nr);
    let (marked, s) = vs_deferred_split_scan(
        &m,
        true,
        |m| madvise_free_pte_range(m, 0, ZapRange::Full),
        Carry::LAZYFREE,
    );
    record_scan(outcomes, &s);
    record_observed(
        outcomes,
        &m,
        &[
            MADV_FREE_SPLIT_OK,
            MADV_FREE_SPLIT_FAILED,
            MADV_FREE_SKIPPED,
        ],
    );
    // Whoever split it, every mapped page ends an order-0 folio marked by MADV_FREE, unless
    // MADV_FREE met the THP whole and left it (a busy lock, a failed split).
    if m.memmap
        .page(0)
        .flags
        .test_bit(thp_model::mm::page::PG_HEAD)
    {
        record(outcomes, THP_LEFT_WHOLE);
    } else {
        record(outcomes, THP_SPLIT);
        assert!(
            !m.memmap.is_allocated(1),
            "[{}] the unmapped sub-page 1 survived the split",
            Inv::I11SplitEndsClean.tag()
        );
    }
    assert!(marked < nr, "[model bug] marked {marked} folios");
    check_quiescent(&m, &[]);
}

pub const DEFERRED_SPLIT_SCAN_VS_ZAP: Scenario = Scenario {
    name: "deferred-split-scan-vs-zap",
    description: "deferred_split_scan (the shrinker) vs MADV_DONTNEED of the rest of a partially mapped, queued THP (the final put frees and unqueues it)",
    threads: &["cpu1: mmap_read_lock; zap_pmd_range(full)", "cpu2: deferred_split_scan"],
    loom_bound: Some(4), // none: > 860k executions in 2 min; 5: ~30 s
    must_reach: &[SCAN_SPLIT, SCAN_LOST_RACE, SCAN_FOUND_NOTHING, ZAPPED_PRESENT_PTES],
    body: deferred_split_scan_vs_zap,
    ..DEFAULT
};
/// The deferred split shrinker ∥ MADV_DONTNEED of the rest of the partially mapped THP (the
/// final zap: its last `folio_put` frees the folio and unqueues it).
fn deferred_split_scan_vs_zap(nr: usize, outcomes: &Outcomes) {
    let m = setup_partially_mapped(nr);
    let (z, s) = vs_deferred_split_scan(
        &m,
        true,
        |m| zap_pmd_range(m, 0, ZapRange::Full),
        Carry::UNMAP,
    );
    record_zap(outcomes, &z);
    record_scan(outcomes, &s);
    check_dontneed_unmapped(&m);
    // Nothing is mapped and nobody holds a reference: every page went back to the allocator.
    check_freed(&m, 0..=nr - 1, Inv::I8UseAfterFree, UNREFERENCED_NOT_FREED);
    check_quiescent(&m, &[]);
}

pub const DEFERRED_SPLIT_SCAN_VS_ZAP_BATCH: Scenario = Scenario {
    name: "deferred-split-scan-vs-zap-batch",
    description: "deferred_split_scan vs MADV_DONTNEED of a PTE table holding a small folio and the rest of a partially mapped, queued THP: the batched free (folios_put_refs) unqueues the THP with the lruvec lock held",
    threads: &["cpu1: mmap_read_lock; zap_pmd_range(full); folios_put_refs", "cpu2: deferred_split_scan"],
    loom_bound: Some(4),
    must_reach: &[SCAN_SPLIT, SCAN_FOUND_NOTHING, UNQUEUE_UNDER_LRU_LOCK],
    body: deferred_split_scan_vs_zap_batch,
    ..DEFAULT
};
/// deferred-split-scan-vs-zap with a small folio mapped where the THP was partially unmapped
/// (sub-page 0), so the zap's batch (`folios_put_refs`) frees the small folio first and holds
/// the lruvec lock when the THP's last reference goes and it is unqueued (split_queue_lock
/// inside the lruvec lock), while the shrinker may be splitting it (split_queue_lock, then the
/// lruvec lock, never nested).
fn deferred_split_scan_vs_zap_batch(nr: usize, outcomes: &Outcomes) {
    let m = setup_huge_pmd_slots(nr, 2);
    {
        let _r = m.mms[0].mmap_lock.down_read();
        zap_pmd_range(&m, 0, ZapRange::Page(0));
        assert!(
            m.memmap.deferred[0].read() == DEFERRED_QUEUED,
            "[model bug] partial unmap did not queue the folio for deferred split"
        );
        assert!(
            do_anonymous_page(&m, 0, 0, nr) == PteFault::Mapped,
            "[model bug] setup fault"
        );
    }
    let (z, s) = vs_deferred_split_scan(
        &m,
        true,
        |m| zap_pmd_range(m, 0, ZapRange::Full),
        Carry::UNMAP,
    );
    record_zap(outcomes, &z);
    record_scan(outcomes, &s);
    record_observed(outcomes, &m, &[UNQUEUE_UNDER_LRU_LOCK]);
    check_dontneed_unmapped(&m);
    check_freed(&m, 0..=nr, Inv::I8UseAfterFree, UNREFERENCED_NOT_FREED);
    check_quiescent(&m, &[]);
}

pub const DEFERRED_SPLIT_SCAN_VS_FOLIO_SPLIT: Scenario = Scenario {
    name: "deferred-split-scan-vs-folio-split",
    description: "deferred_split_scan vs split_huge_page (caller's reference + folio lock) of the same partially mapped, queued THP",
    threads: &["cpu1: folio_lock; split_huge_page; folio_unlock; folio_put", "cpu2: deferred_split_scan"],
    loom_bound: Some(4), // none: > 860k executions in 2 min; 5: ~30 s
    must_reach: &[SPLIT_OK, SPLIT_EAGAIN, SCAN_REQUEUED, SCAN_FOUND_NOTHING],
    body: deferred_split_scan_vs_folio_split,
    ..DEFAULT
};
/// The deferred split shrinker ∥ another splitter of the same queued folio (memory-failure's
/// `split_huge_page` with its own reference and the folio lock).
fn deferred_split_scan_vs_folio_split(nr: usize, outcomes: &Outcomes) {
    let m = setup_partially_mapped(nr);
    folio_get(&m.memmap, 0);
    let (split, s) = vs_deferred_split_scan(&m, false, split_caller, Carry::ALL);
    record(
        outcomes,
        match split {
            Ok(()) => SPLIT_OK,
            Err(SplitError::Again) => SPLIT_EAGAIN,
            Err(_) => SPLIT_OTHER,
        },
    );
    record_scan(outcomes, &s);
    check_quiescent(&m, &[]);
}

pub const PARTIAL_UNMAP_IN_BOTH_MMS: Scenario = Scenario {
    name: "partial-unmap-in-both-mms",
    description: "MADV_DONTNEED of sub-page 0 in both mms of a fork-shared PTE-mapped THP at once: sub-page 0 is then mapped nowhere, the folio partially mapped. With CONFIG_PAGE_MAPCOUNT whichever zap drops the page's _mapcount to -1 queues it for the deferred split; with CONFIG_NO_PAGE_MAPCOUNT 2 nr - 2 mappings of nr pages average at least one, so nothing can tell (an expected miss, not a failure) until mm1 unmaps the rest",
    threads: &["cpu1: mmap_read_lock(mm0); zap_pmd_range(mm0, sub-page 0)", "cpu2: mmap_read_lock(mm1); zap_pmd_range(mm1, sub-page 0)"],
    must_reach: &[PARTIAL_MAPPING_QUEUED],
    must_reach_no_page_mapcount: Some(&[PARTIAL_MAPPING_UNDETECTED]),
    body: partial_unmap_in_both_mms,
    ..DEFAULT
};
/// Both mms of a fork-shared PTE-mapped THP unmap sub-page 0 at once (`zap_pte_range` under
/// each mm's own PTE lock; only the folio's counters are shared). Then (main) mm1 unmaps
/// everything, as its exit would: mm0's nr - 1 mappings average below one per page, and both
/// configurations must have queued the folio.
fn partial_unmap_in_both_mms(nr: usize, outcomes: &Outcomes) {
    let m = setup_forked_pte_mapped(nr);
    let before = MappingSnapshot::take(&m);
    let zappers: Vec<_> = (0..2)
        .map(|mm| {
            let m = m.clone();
            spawn(move || {
                let _r = m.mms[mm].mmap_lock.down_read();
                zap_pmd_range(&m, mm, ZapRange::Page(0));
            })
        })
        .collect();
    for z in zappers {
        z.join();
    }
    let queued = |m: &Machine| {
        m.memmap.deferred[0].read() != DEFERRED_NONE
            && m.memmap.page(0).flags.test_bit(PG_PARTIALLY_MAPPED)
    };
    let exact = m.memmap.page_mapcount;
    if queued(&m) {
        record(outcomes, PARTIAL_MAPPING_QUEUED);
    } else {
        record(outcomes, PARTIAL_MAPPING_UNDETECTED);
    }
    // CONFIG_PAGE_MAPCOUNT detects every partial unmap; CONFIG_NO_PAGE_MAPCOUNT queues only a
    // folio with fewer mappings than pages (here 2 nr - 2 >= nr), nothing else.
    assert!(
        queued(&m) == exact,
        "[{}] sub-page 0 is mapped nowhere, the other {} pages by both mms: the folio {} (CONFIG_{}PAGE_MAPCOUNT)",
        Inv::I14DeferredList.tag(),
        nr - 1,
        if exact { "was not queued for the deferred split" } else { "was queued though its average mapcount is at least one" },
        if exact { "" } else { "NO_" }
    );
    {
        let _r = m.mms[1].mmap_lock.down_read();
        zap_pmd_range(&m, 1, ZapRange::Full);
    }
    assert!(
        queued(&m),
        "[{}] mm0 alone maps {} of {nr} pages, but the folio was not queued for the deferred split",
        Inv::I14DeferredList.tag(),
        nr - 1
    );
    check_quiescent(&m, &[]);
    check_carried_over(&m, &before, Carry::UNMAP);
}

pub const DEFERRED_SPLIT_SCAN_VS_THP_MIGRATION: Scenario = Scenario {
    name: "deferred-split-scan-vs-thp-migration",
    description: "deferred_split_scan vs migrate_pages_batch of the same isolated, partially mapped, queued THP: migration tests the deferred list without its lock (the folio may be on the shrinker's private list) and splits the folio instead of migrating it; the split's freeze under split_queue_lock decides against the shrinker's reference",
    threads: &["cpu1: migrate_pages_batch(nr_pass = 1): try_split_folio, else unmap and move", "cpu2: deferred_split_scan"],
    loom_bound: Some(3), // 124,055 executions; none: over 17 CPU-minutes, unfinished
    must_reach: &[MIGRATION_SPLIT_QUEUED_FOLIO, crate::scenarios::migrate::MIGRATED, crate::scenarios::migrate::MIGRATION_EAGAIN, SCAN_REQUEUED, SCAN_FOUND_NOTHING],
    body: deferred_split_scan_vs_thp_migration,
    ..DEFAULT
};
/// The deferred split shrinker ∥ the migration of the same queued folio, which the migration
/// caller isolated from the LRU (`folio_isolate_lru`: its reference). Whoever holds a
/// reference the other's freeze does not expect makes the other fail: the shrinker's split
/// fails on the isolation reference, the migration's split and move on the shrinker's. The
/// migration splits the folio (order-0 folios on its list, put back here: their own order-0
/// migrations are not modelled), migrates it whole (the new folio is partially mapped and
/// not queued, as in 6.18: the old one was unqueued while frozen), or fails and remaps it.
fn deferred_split_scan_vs_thp_migration(nr: usize, outcomes: &Outcomes) {
    use crate::scenarios::migrate::{MIGRATED, MIGRATION_EAGAIN};
    use thp_model::mm::migrate::{migrate_pages_batch, MigrateError};
    use thp_model::mm::vmscan::{folio_isolate_lru, folio_putback_lru};
    let m = setup_partially_mapped_slots(nr, 2);
    assert!(
        folio_isolate_lru(&m, 0),
        "[model bug] the THP is not on the LRU"
    );
    let (r, s) =
        vs_deferred_split_scan(&m, false, |m| migrate_pages_batch(m, 0, 1, 1), Carry::MOVE);
    record_scan(outcomes, &s);
    match r {
        Err(MigrateError::Split) => {
            record(outcomes, MIGRATION_SPLIT_QUEUED_FOLIO);
            assert!(
                (0..nr).all(|p| m.memmap.page_folio(p) == p),
                "[{}] migration split folio 0, but its pages are not order-0 folios",
                Inv::I11SplitEndsClean.tag()
            );
            put_back_split_pieces(&m, nr);
        }
        Ok(dst) => {
            record(outcomes, MIGRATED);
            assert!(
                !m.memmap.is_allocated(0) && m.memmap.deferred[dst].read() == DEFERRED_NONE,
                "[{}] migrated to folio {dst}, but the old folio is not freed or the new one is queued",
                Inv::I14DeferredList.tag()
            );
        }
        Err(MigrateError::Again) => {
            record(outcomes, MIGRATION_EAGAIN);
            folio_putback_lru(&m, 0);
        }
    }
    check_quiescent(&m, &[]);
}

const UNREFERENCED_NOT_FREED: &str = "is unmapped and unreferenced but was never freed";

/// A PMD-mapped THP of which MADV_DONTNEED unmapped sub-page 1 (PMD split, then the PTE
/// zapped): PTE-mapped, partially mapped, on the deferred split queue.
fn setup_partially_mapped(nr: usize) -> Arc<Machine> {
    setup_partially_mapped_slots(nr, 1)
}

/// [`setup_partially_mapped`] with `folios` folio slots (the others free, e.g. for a
/// migration destination).
fn setup_partially_mapped_slots(nr: usize, folios: usize) -> Arc<Machine> {
    let m = setup_huge_pmd_slots(nr, folios);
    {
        let _r = m.mms[0].mmap_lock.down_read();
        zap_pmd_range(&m, 0, ZapRange::Page(1));
    }
    assert!(
        m.memmap.deferred[0].read() == DEFERRED_QUEUED,
        "[model bug] partial unmap did not queue the folio for deferred split"
    );
    m
}

fn record_scan(outcomes: &Outcomes, s: &DeferredScan) {
    if s.split > 0 {
        record(outcomes, SCAN_SPLIT);
    }
    if s.lost_race > 0 {
        record(outcomes, SCAN_LOST_RACE);
    }
    if s.removed > 0 {
        record(outcomes, SCAN_REMOVED);
    }
    if s.requeued > 0 {
        record(outcomes, SCAN_REQUEUED);
    }
    if *s == DeferredScan::default() {
        record(outcomes, SCAN_FOUND_NOTHING);
    }
}

/// `op` on one CPU (under mmap_lock read when `mmap_read`) ∥ the deferred split shrinker
/// (`deferred_split_scan`, one folio) on another; both results, once both finished.
fn vs_deferred_split_scan<R: Send + 'static>(
    m: &Arc<Machine>,
    mmap_read: bool,
    op: fn(&Machine) -> R,
    carry: Carry,
) -> (R, DeferredScan) {
    let before = MappingSnapshot::take(m);
    let m1 = m.clone();
    let cpu1 = spawn(move || {
        let _r = mmap_read.then(|| m1.mms[0].mmap_lock.down_read());
        op(&m1)
    });
    let m2 = m.clone();
    let scanner = spawn(move || deferred_split_scan(&m2, 1));
    let r = cpu1.join();
    let s = scanner.join();
    check_carried_over(m, &before, carry);
    (r, s)
}
