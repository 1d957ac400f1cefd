//! Scenarios of `split_huge_page` (mm/huge_memory.c `__folio_split`) against physical
//! scanners, GUP-fast, migration-entry waiters and zaps.

use std::sync::Arc;

use thp_model::invariants::Inv;
use thp_model::kernel::{cpu_relax, spawn, Arch};
use thp_model::mm::gup::{gup_fast, gup_put_folio, Foll, GUP_PIN_COUNTING_BIAS};
use thp_model::mm::huge_memory::__split_huge_pmd;
use thp_model::mm::huge_memory::SplitError;
use thp_model::mm::memory_failure::__get_hwpoison_page;
use thp_model::mm::migrate::{migration_entry_wait, EntryWait};
use thp_model::mm::page_ref::{folio_get, folio_put_small_or_large, pfn_walker_get_put};
use thp_model::mm::Pmd;
use thp_model::mm::{check_carried_over, check_quiescent, Carry, Machine, MappingSnapshot};
use thp_model::rules::Rule;

use super::setup::*;
use super::{Outcomes, Scenario, DEFAULT};

/// This family's scenarios, in catalogue order.
pub const SCENARIOS: &[Scenario] = &[
    FOLIO_SPLIT_VS_SCANNER,
    FOLIO_SPLIT_VS_COMPACTION,
    FOLIO_SPLIT_VS_PAGE_IDLE,
    FOLIO_SPLIT_VS_PFN_WALKER,
    FOLIO_SPLIT_VS_GUP_FAST,
    FOLIO_SPLIT_VS_GUP_FAST_PMD,
    FOLIO_SPLIT_VS_GUP_FAST_PMD_PORTABLE,
    FOLIO_SPLIT_VS_GUP_FAST_X86,
    FOLIO_SPLIT_VS_MIGRATION_WAIT,
    FOLIO_SPLIT_VS_SCANNER_NR4,
    FOLIO_SPLIT_VS_PFN_WALKER_NR4,
    FOLIO_SPLIT_VS_GUP_FAST_NR4,
    FOLIO_SPLIT_VS_MIGRATION_WAIT_NR4,
    FOLIO_SPLIT_VS_ZAP,
    FOLIO_SPLIT_VS_GUP_FAST_VS_SCANNER,
    FOLIO_SPLIT_VS_GUP_FAST_RO_PTE,
];

pub const BOTH_HELD_SPLIT_EAGAIN: &str = "both-held-split-eagain";
pub const COMPACTION_ISOLATED_SPLIT_PAGE: &str = "compaction-isolated-split-page";
pub const COMPACTION_MISSED_SPLIT_PAGE: &str = "compaction-missed-split-page";
pub const COMPACTION_SKIPPED_COMPOUND: &str = "compaction-skipped-compound";
pub const FAULT_SAW_HUGE: &str = "fault-saw-huge";
pub const FAULT_SAW_PTE: &str = "fault-saw-pte";
pub const GUP_PINNED: &str = "gup-pinned";
pub const GUP_PINNED_LARGE_FOLIO: &str = "gup-pinned-large-folio";
pub const GUP_PINNED_SPLIT_PAGE: &str = "gup-pinned-split-page";
pub const GUP_PINNED_THROUGH_HUGE_PMD: &str = "gup-pinned-through-huge-pmd";
pub const GUP_PINNED_THROUGH_PTE: &str = "gup-pinned-through-pte";
pub const PAGE_IDLE_GOT_SPLIT_PAGE: &str = "page-idle-got-split-page";
pub const PAGE_IDLE_SKIPPED: &str = "page-idle-skipped";
pub const SCANNER_FAILED: &str = "scanner-failed";
pub const SCANNER_GOT_REF: &str = "scanner-got-ref";
pub const SCANNER_REF_ON_LARGE_FOLIO: &str = "scanner-ref-on-large-folio";
pub const SCANNER_REF_ON_SPLIT_PAGE: &str = "scanner-ref-on-split-page";
pub const WALKER_GET_FAILED: &str = "walker-get-failed";
pub const WALKER_GOT_SPLIT_PAGE: &str = "walker-got-split-page";

pub const FOLIO_SPLIT_VS_SCANNER: Scenario = Scenario {
    name: "folio-split-vs-scanner",
    test_loom_bound: Some(5), // the suite's search (docs/performance.md)
    description: "split_huge_page of a PMD-mapped THP (caller holds ref + lock) vs a physical scanner (__get_hwpoison_page) on the last tail pfn",
    threads: &["cpu1: folio_lock; split_huge_page; folio_unlock; folio_put", "cpu2: __get_hwpoison_page(tail pfn); (main) folio_put"],
    must_reach: &[SPLIT_OK, SPLIT_EAGAIN, SCANNER_REF_ON_SPLIT_PAGE, SCANNER_REF_ON_LARGE_FOLIO],
    body: folio_split_vs_scanner,
    ..DEFAULT
};
/// `split_huge_page` ∥ a physical scanner (`__get_hwpoison_page`) on the last tail pfn.
fn folio_split_vs_scanner(nr: usize, outcomes: &Outcomes) {
    let (m, pfn, split, got) = split_vs_tail_scanner(nr, outcomes, __get_hwpoison_page);
    scanner_got(
        &m,
        outcomes,
        pfn,
        got,
        &split,
        SCANNER_REF_ON_SPLIT_PAGE,
        SCANNER_FAILED,
    );
    check_quiescent(&m, &[]);
}

/// The end of a split-vs-`__get_hwpoison_page` race on `pfn`: the folio the scanner holds
/// must be the one `pfn` is in (I7); record whether it got the split-off page (`on_page`),
/// the large folio, or nothing (`missed`), and drop its reference.
pub(super) fn scanner_got(
    m: &Machine,
    outcomes: &Outcomes,
    pfn: usize,
    got: Option<usize>,
    split: &Result<(), SplitError>,
    on_page: &'static str,
    missed: &'static str,
) {
    match got {
        Some(f) => {
            check_getter_covers_page(
                m,
                "__get_hwpoison_page",
                pfn,
                f,
                split,
                Inv::I7RecheckAfterGet,
            );
            record(
                outcomes,
                if f == pfn {
                    on_page
                } else {
                    SCANNER_REF_ON_LARGE_FOLIO
                },
            );
            folio_put_small_or_large(m, f);
        }
        None => record(outcomes, missed),
    }
}

pub const FOLIO_SPLIT_VS_COMPACTION: Scenario = Scenario {
    name: "folio-split-vs-compaction",
    test_loom_bound: Some(4), // the suite's search (docs/performance.md)
    description: "split_huge_page of a PMD-mapped THP vs compaction's isolate_migratepages_block on the last tail pfn (skip compound, folio_get_nontail_page, isolate, put back)",
    threads: &["cpu1: folio_lock; split_huge_page; folio_unlock; folio_put", "cpu2: isolate_migratepages_block(tail pfn); putback"],
    must_reach: &[SPLIT_OK, COMPACTION_SKIPPED_COMPOUND, COMPACTION_ISOLATED_SPLIT_PAGE],
    body: folio_split_vs_compaction,
    ..DEFAULT
};
/// `split_huge_page` ∥ compaction's `isolate_migratepages_block` on the last tail pfn: it skips
/// a compound page, or (once the tail is its own folio, unfrozen and back on the LRU) takes a
/// reference with `folio_get_nontail_page`, isolates and puts it back.
fn folio_split_vs_compaction(nr: usize, outcomes: &Outcomes) {
    use thp_model::mm::compaction::{isolate_migratepages_block, Isolate};
    let (m, _pfn, _split, r) = split_vs_tail_scanner(nr, outcomes, isolate_migratepages_block);
    record(
        outcomes,
        match r {
            Isolate::SkippedCompound => COMPACTION_SKIPPED_COMPOUND,
            Isolate::Isolated => COMPACTION_ISOLATED_SPLIT_PAGE,
            Isolate::SkippedNotLru | Isolate::GetFailed | Isolate::Raced => {
                COMPACTION_MISSED_SPLIT_PAGE
            }
        },
    );
    check_quiescent(&m, &[]);
}

pub const FOLIO_SPLIT_VS_PAGE_IDLE: Scenario = Scenario {
    name: "folio-split-vs-page-idle",
    description: "split_huge_page of a PMD-mapped THP vs page_idle_get_folio on the last tail pfn (tail rejected, or folio_try_get and re-check), then put",
    threads: &["cpu1: folio_lock; split_huge_page; folio_unlock; folio_put", "cpu2: page_idle_get_folio(tail pfn); folio_put"],
    must_reach: &[SPLIT_OK, PAGE_IDLE_GOT_SPLIT_PAGE, PAGE_IDLE_SKIPPED],
    body: folio_split_vs_page_idle,
    ..DEFAULT
};
/// `split_huge_page` ∥ page_idle's `page_idle_get_folio` on the last tail pfn (reject a tail,
/// `folio_try_get`, re-check the folio and PG_lru), then put.
fn folio_split_vs_page_idle(nr: usize, outcomes: &Outcomes) {
    use thp_model::mm::page_idle::page_idle_get_folio;
    let (m, pfn, split, got) = split_vs_tail_scanner(nr, outcomes, page_idle_get_folio);
    match got {
        Some(f) => {
            check_getter_covers_page(
                &m,
                "page_idle_get_folio",
                pfn,
                f,
                &split,
                Inv::I7RecheckAfterGet,
            );
            record(outcomes, PAGE_IDLE_GOT_SPLIT_PAGE);
            folio_put_small_or_large(&m, f);
        }
        None => record(outcomes, PAGE_IDLE_SKIPPED),
    }
    check_quiescent(&m, &[]);
}

pub const FOLIO_SPLIT_VS_PFN_WALKER: Scenario = Scenario {
    name: "folio-split-vs-pfn-walker",
    description: "split_huge_page of a PMD-mapped THP vs a PFN walker doing get_page_unless_zero(tail) ... put_page(tail)",
    threads: &["cpu1: folio_lock; split_huge_page; folio_unlock; folio_put", "cpu2: get_page_unless_zero(tail pfn); put_page"],
    must_reach: &[SPLIT_OK, WALKER_GOT_SPLIT_PAGE, WALKER_GET_FAILED],
    body: folio_split_vs_pfn_walker,
    ..DEFAULT
};
/// `split_huge_page` ∥ a speculative PFN walker doing `get_page_unless_zero(tail)` …
/// `put_page(tail)` on the last tail.
fn folio_split_vs_pfn_walker(nr: usize, outcomes: &Outcomes) {
    let m = setup_huge_pmd(nr);
    folio_get(&m.memmap, 0);
    let before = MappingSnapshot::take(&m);
    let m1 = m.clone();
    let splitter = spawn(move || split_caller(&m1));
    let m2 = m.clone();
    let walker = spawn(move || pfn_walker_get_put(&m2, nr - 1));
    let split = splitter.join();
    let got = walker.join();
    record_split(outcomes, &split);
    record(
        outcomes,
        if got {
            WALKER_GOT_SPLIT_PAGE
        } else {
            WALKER_GET_FAILED
        },
    );
    check_quiescent(&m, &[]);
    check_carried_over(&m, &before, Carry::ALL);
}

pub const FOLIO_SPLIT_VS_GUP_FAST: Scenario = Scenario {
    name: "folio-split-vs-gup-fast",
    description:
        "split_huge_page of a PTE-mapped THP vs GUP-fast (FOLL_PIN|FOLL_WRITE) on sub-page 1",
    threads: &[
        "cpu1: folio_lock; split_huge_page; folio_unlock; folio_put",
        "cpu2: gup_fast(FOLL_PIN); (main) unpin_user_page",
    ],
    loom_bound: Some(4), // unbounded does not finish in 6 min (non-IPI flush); 4: 53,732 executions, 6.3 s
    fixes: &[Rule::AnonExclusivePublishWmb],
    must_reach: &[
        SPLIT_OK,
        SPLIT_EAGAIN,
        GUP_PINNED_SPLIT_PAGE,
        GUP_PINNED_LARGE_FOLIO,
    ],
    body: folio_split_vs_gup_fast,
    ..DEFAULT
};

pub const FOLIO_SPLIT_VS_GUP_FAST_X86: Scenario = Scenario {
    name: "folio-split-vs-gup-fast-x86",
    description: "folio-split-vs-gup-fast on x86 hardware: the TLB flush IPI waits for GUP-fast's IRQs-off section",
    threads: &["cpu1: folio_lock; split_huge_page; folio_unlock; folio_put", "cpu2: gup_fast(FOLL_PIN); (main) unpin_user_page"],
    loom_bound: Some(4),
    arch: Arch::X86,
    must_reach: &[SPLIT_OK, SPLIT_EAGAIN, GUP_PINNED_SPLIT_PAGE, GUP_PINNED_LARGE_FOLIO],
    body: folio_split_vs_gup_fast,
    ..DEFAULT
};
/// `split_huge_page` ∥ GUP-fast (FOLL_PIN | FOLL_WRITE) on sub-page 1 of a PTE-mapped THP.
fn folio_split_vs_gup_fast(nr: usize, outcomes: &Outcomes) {
    let m = setup_huge_pmd(nr);
    {
        let _r = m.mms[0].mmap_lock.down_read();
        __split_huge_pmd(&m, 0, false); // PTE-map it first: GUP-fast takes the PTE path
    }
    folio_get(&m.memmap, 0);
    let before = MappingSnapshot::take(&m);
    let m1 = m.clone();
    let splitter = spawn(move || split_caller(&m1));
    let m2 = m.clone();
    let gup = spawn(move || gup_fast(&m2, 0, 1, Foll::Pin, true));
    let split = splitter.join();
    let got = gup.join();
    record_split(outcomes, &split);
    match got {
        Some(fp) => {
            check_getter_covers_page(&m, "gup_fast", fp.page, fp.folio, &split, Inv::I15GupFast);
            assert!(
                !fp.via_pmd,
                "[model bug] a PTE-mapped folio was pinned through a PMD leaf"
            );
            record(
                outcomes,
                if fp.folio == fp.page {
                    GUP_PINNED_SPLIT_PAGE
                } else {
                    GUP_PINNED_LARGE_FOLIO
                },
            );
            let held = if !m
                .memmap
                .page(fp.folio)
                .flags
                .test_bit(thp_model::mm::page::PG_HEAD)
            {
                GUP_PIN_COUNTING_BIAS // a pin on a small folio
            } else {
                1 // a pin on a large folio: one reference plus _pincount
            };
            check_quiescent(&m, &[(fp.folio, held)]);
            gup_put_folio(&m, fp.folio, 1, Foll::Pin);
        }
        None => record(outcomes, GUP_FELL_BACK),
    }
    check_quiescent(&m, &[]);
    check_carried_over(&m, &before, Carry::ALL);
}

pub const FOLIO_SPLIT_VS_GUP_FAST_RO_PTE: Scenario = Scenario {
    name: "folio-split-vs-gup-fast-ro-pte",
    description: "split_huge_page of a PTE-mapped THP whose PTEs are read-only and AnonExclusive (try_to_migrate: folio_try_share_anon_rmap_pte) vs a read-only GUP-fast FOLL_PIN on sub-page 1 (gup_must_unshare)",
    threads: &[
        "cpu1: folio_lock; split_huge_page; folio_unlock; folio_put",
        "cpu2: gup_fast(FOLL_PIN) on a read-only PTE; (main) unpin_user_page",
    ],
    // 2: 7,828 executions; 3: 73,705 (both measured as 6.18.2 is; with finding F1's fix on,
    // 6,896 and 64,958, and 4: 594,150 / 143 s). The same counts with --arch portable (nothing
    // here depends on what portable weakens). No fix needed: a read-only entry sends GUP-fast
    // through gup_must_unshare, which falls back on a stale AnonExclusive before
    // sanity_check_pinned_pages could see it (F1 does not arise).
    loom_bound: Some(2),
    must_reach: &[SPLIT_OK, SPLIT_EAGAIN, GUP_PINNED_LARGE_FOLIO, GUP_PINNED_SPLIT_PAGE, GUP_FELL_BACK],
    body: folio_split_vs_gup_fast_ro_pte,
    ..DEFAULT
};
/// split_huge_page of a PTE-mapped THP whose PTEs are read-only but AnonExclusive ∥ a
/// read-only GUP-fast FOLL_PIN of sub-page 1. The split's unmap must either see the pin (and
/// restore the PTE, -EAGAIN) or clear AnonExclusive first, so that GUP-fast, rechecking the PTE
/// and then AnonExclusive (`gup_must_unshare`), backs off: a pin on a page that is not
/// AnonExclusive is I16, a pin that does not cover the page I15.
fn folio_split_vs_gup_fast_ro_pte(nr: usize, outcomes: &Outcomes) {
    let m = setup_ro_exclusive_pte_mapped(nr, 1, 1);
    folio_get(&m.memmap, 0);
    let before = MappingSnapshot::take(&m);
    let m1 = m.clone();
    let splitter = spawn(move || split_caller(&m1));
    let m2 = m.clone();
    let gup = spawn(move || gup_fast(&m2, 0, 1, Foll::Pin, false));
    let split = splitter.join();
    let got = gup.join();
    record_split(outcomes, &split);
    match got {
        Some(fp) => {
            check_getter_covers_page(&m, "gup_fast", fp.page, fp.folio, &split, Inv::I15GupFast);
            let exclusive = m
                .memmap
                .page(fp.page)
                .flags
                .test_bit(thp_model::mm::page::PG_ANON_EXCLUSIVE);
            assert!(
                exclusive,
                "[{}] GUP-fast pinned page {} through a read-only PTE, but after the split it is not AnonExclusive",
                Inv::I16PinnedNotExclusive.tag(),
                fp.page
            );
            let small = !m
                .memmap
                .page(fp.folio)
                .flags
                .test_bit(thp_model::mm::page::PG_HEAD);
            record(
                outcomes,
                if small {
                    GUP_PINNED_SPLIT_PAGE
                } else {
                    GUP_PINNED_LARGE_FOLIO
                },
            );
            let held = if small { GUP_PIN_COUNTING_BIAS } else { 1 };
            check_quiescent(&m, &[(fp.folio, held)]);
            gup_put_folio(&m, fp.folio, 1, Foll::Pin);
        }
        None => record(outcomes, GUP_FELL_BACK),
    }
    check_quiescent(&m, &[]);
    check_carried_over(&m, &before, Carry::ALL);
}

pub const FOLIO_SPLIT_VS_GUP_FAST_PMD: Scenario = Scenario {
    name: "folio-split-vs-gup-fast-pmd",
    description: "split_huge_page of a PMD-mapped THP vs GUP-fast (FOLL_PIN, read-only) on sub-page 1 through the huge PMD",
    threads: &["cpu1: folio_lock; split_huge_page; folio_unlock; folio_put", "cpu2: gup_fast(FOLL_PIN) via the PMD leaf; (main) unpin_user_page"],
    loom_bound: Some(4),
    fixes: &[Rule::AnonExclusivePublishWmb],
    must_reach: &[SPLIT_OK, SPLIT_EAGAIN, GUP_PINNED_THROUGH_HUGE_PMD, GUP_FELL_BACK],
    body: folio_split_vs_gup_fast_pmd,
    ..DEFAULT
};
/// The same race with only the ordering generic code may assume (`--arch portable`): the
/// unmapper's `pmdp_invalidate` is a relaxed exchange and its TLB flush orders nothing, so
/// the `smp_mb` of `__folio_try_share_anon_rmap` is all that orders the invalidation before
/// the pin-count read (rule `try-share-anon-rmap-mb`). On x86 the exchange, and on arm64 the
/// flush's `dsb(ish)`, already do.
pub const FOLIO_SPLIT_VS_GUP_FAST_PMD_PORTABLE: Scenario = Scenario {
    name: "folio-split-vs-gup-fast-pmd-portable",
    description: "folio-split-vs-gup-fast-pmd with only the ordering generic code may assume: relaxed page-table exchange, a TLB flush that is no barrier",
    arch: Arch::Portable,
    ..FOLIO_SPLIT_VS_GUP_FAST_PMD
};
/// `split_huge_page` of a PMD-mapped THP ∥ GUP-fast (FOLL_PIN, read-only) on sub-page 1
/// through the huge PMD: the pin and the unmapper's AnonExclusive sharing must see each other.
fn folio_split_vs_gup_fast_pmd(nr: usize, outcomes: &Outcomes) {
    let m = setup_huge_pmd(nr);
    folio_get(&m.memmap, 0);
    let before = MappingSnapshot::take(&m);
    let m1 = m.clone();
    let splitter = spawn(move || split_caller(&m1));
    let m2 = m.clone();
    let gup = spawn(move || gup_fast(&m2, 0, 1, Foll::Pin, false));
    let split = splitter.join();
    let got = gup.join();
    record_split(outcomes, &split);
    match got {
        Some(fp) => {
            check_getter_covers_page(&m, "gup_fast", fp.page, fp.folio, &split, Inv::I15GupFast);
            record(
                outcomes,
                if fp.via_pmd {
                    GUP_PINNED_THROUGH_HUGE_PMD
                } else {
                    GUP_PINNED_THROUGH_PTE
                },
            );
            let held = if m
                .memmap
                .page(fp.folio)
                .flags
                .test_bit(thp_model::mm::page::PG_HEAD)
            {
                1
            } else {
                GUP_PIN_COUNTING_BIAS
            };
            check_quiescent(&m, &[(fp.folio, held)]);
            gup_put_folio(&m, fp.folio, 1, Foll::Pin);
        }
        None => record(outcomes, GUP_FELL_BACK),
    }
    check_quiescent(&m, &[]);
    check_carried_over(&m, &before, Carry::ALL);
}

pub const FOLIO_SPLIT_VS_MIGRATION_WAIT: Scenario = Scenario {
    name: "folio-split-vs-migration-wait",
    description: "split_huge_page of a PMD-mapped THP vs a fault on sub-page 1 that waits on a migration entry and refaults",
    threads: &["cpu1: folio_lock; split_huge_page; folio_unlock; folio_put", "cpu2: mmap_read_lock; fault: migration_entry_wait until the PTE is present"],
    must_reach: &[SPLIT_OK, FAULT_SAW_HUGE, FAULT_SAW_PTE, FAULT_WAITED_ON_MIGRATION_ENTRY],
    body: folio_split_vs_migration_wait,
    ..DEFAULT
};

// The split scenarios under loom with 4 sub-pages. With 2, the folio has one tail, so loom
// never sees one new folio unfrozen and published while another is still frozen; with 4 the
// reader's page (the last tail, or sub-page 1) is split off while others are not yet. The
// bounds are the highest that keep each run within about 16 s on the reference machine
// (docs/performance.md); measured in docs/bounds.md.
pub const FOLIO_SPLIT_VS_SCANNER_NR4: Scenario = Scenario {
    name: "folio-split-vs-scanner-nr4",
    description: "folio-split-vs-scanner with 4 sub-pages under loom: the scanned last tail while other new folios are unfrozen or still frozen",
    loom_nr: 4,
    min_subpages: 4,
    loom_bound: Some(6),
    test_loom_bound: None,
    ..FOLIO_SPLIT_VS_SCANNER
};
pub const FOLIO_SPLIT_VS_PFN_WALKER_NR4: Scenario = Scenario {
    name: "folio-split-vs-pfn-walker-nr4",
    description: "folio-split-vs-pfn-walker with 4 sub-pages under loom",
    loom_nr: 4,
    min_subpages: 4,
    ..FOLIO_SPLIT_VS_PFN_WALKER
};
pub const FOLIO_SPLIT_VS_GUP_FAST_NR4: Scenario = Scenario {
    name: "folio-split-vs-gup-fast-nr4",
    description: "folio-split-vs-gup-fast with 4 sub-pages under loom",
    loom_nr: 4,
    min_subpages: 4,
    loom_bound: Some(3),
    ..FOLIO_SPLIT_VS_GUP_FAST
};
pub const FOLIO_SPLIT_VS_MIGRATION_WAIT_NR4: Scenario = Scenario {
    name: "folio-split-vs-migration-wait-nr4",
    description: "folio-split-vs-migration-wait with 4 sub-pages under loom",
    loom_nr: 4,
    min_subpages: 4,
    loom_bound: Some(6),
    ..FOLIO_SPLIT_VS_MIGRATION_WAIT
};
/// `split_huge_page` ∥ a fault on sub-page 1 that finds a migration entry and waits
/// (`migration_entry_wait`), then refaults.
fn folio_split_vs_migration_wait(nr: usize, outcomes: &Outcomes) {
    let m = setup_huge_pmd(nr);
    folio_get(&m.memmap, 0);
    let before = MappingSnapshot::take(&m);
    let m1 = m.clone();
    let splitter = spawn(move || split_caller(&m1));
    let m2 = m.clone();
    let faulter = spawn(move || {
        let _r = m2.mms[0].mmap_lock.down_read();
        let mut seen = Vec::new();
        for attempt in 0..16 {
            // The first retry is immediate (it may read a later value by coherence; under loom
            // a yield would forbid exploring it before another CPU steps); later ones relax.
            let relax = || {
                if attempt > 0 {
                    cpu_relax()
                }
            };
            let pmd = Pmd::decode(m2.mms[0].pmd.read_dep());
            if pmd.trans_huge() {
                // huge_pmd_set_accessed & co: PMD lock, pmd_same; an invalidated PMD refaults
                let ptl = m2.mms[0].pmd_lock.lock();
                let v = Pmd::decode(m2.mms[0].pmd.read());
                drop(ptl);
                if let Pmd::Huge { .. } = v {
                    seen.push(FAULT_SAW_HUGE);
                    return seen;
                }
                relax();
                continue;
            }
            match migration_entry_wait(&m2, 0, 1) {
                EntryWait::NotMigration => {
                    seen.push(FAULT_SAW_PTE);
                    return seen;
                }
                EntryWait::Waited => seen.push(FAULT_WAITED_ON_MIGRATION_ENTRY),
                EntryWait::Retry => relax(),
            }
        }
        thp_model::model_bug!("the fault never resolved: {seen:?}");
    });
    let split = splitter.join();
    let seen = faulter.join();
    record_split(outcomes, &split);
    for s in seen {
        record(outcomes, s);
    }
    check_quiescent(&m, &[]);
    check_carried_over(&m, &before, Carry::ALL);
}

pub const FOLIO_SPLIT_VS_ZAP: Scenario = Scenario {
    name: "folio-split-vs-zap",
    test_loom_bound: Some(3), // the suite's search (docs/performance.md)
    description: "split_huge_page of a PMD-mapped THP vs MADV_DONTNEED of sub-page 1 (zap of a present PTE or of a migration entry)",
    threads: &["cpu1: folio_lock; split_huge_page; folio_unlock; folio_put", "cpu2: mmap_read_lock; zap_pmd_range(sub-page 1)"],
    loom_bound: Some(4),
    must_reach: &[SPLIT_OK, SPLIT_EAGAIN, ZAPPED_PRESENT_PTES, ZAPPED_MIGRATION_ENTRY],
    body: folio_split_vs_zap,
    ..DEFAULT
};
/// `split_huge_page` ∥ MADV_DONTNEED of sub-page 1 (which may meet a migration entry).
fn folio_split_vs_zap(nr: usize, outcomes: &Outcomes) {
    let m = setup_huge_pmd(nr);
    folio_get(&m.memmap, 0);
    split_vs_zap_page_1(&m, outcomes);
}

pub const FOLIO_SPLIT_VS_GUP_FAST_VS_SCANNER: Scenario = Scenario {
    name: "folio-split-vs-gup-fast-vs-scanner",
    test_loom_bound: Some(1), // the suite's search (docs/performance.md)
    description: "three CPUs: split_huge_page of a PTE-mapped THP vs GUP-fast (FOLL_PIN|FOLL_WRITE) on sub-page 1 vs a physical scanner (__get_hwpoison_page) on the last tail pfn",
    threads: &["cpu1: folio_lock; split_huge_page; folio_unlock; folio_put", "cpu2: gup_fast(FOLL_PIN); (main) unpin_user_page", "cpu3: __get_hwpoison_page(tail pfn); (main) folio_put"],
    loom_bound: Some(2), // 2: 188,507 executions, 29 s; 3: > 1.2M executions in 200 s
    fixes: &[Rule::AnonExclusivePublishWmb],
    must_reach: &[SPLIT_OK, SPLIT_EAGAIN, GUP_PINNED, SCANNER_GOT_REF, BOTH_HELD_SPLIT_EAGAIN],
    body: folio_split_vs_gup_fast_vs_scanner,
    ..DEFAULT
};
/// Three CPUs: `split_huge_page` of a PTE-mapped THP ∥ GUP-fast (FOLL_PIN | FOLL_WRITE) on
/// sub-page 1 ∥ a physical scanner (`__get_hwpoison_page`) on the last tail pfn. Either
/// speculative reference (a pin or the scanner's) fails the freeze; each getter must end up
/// holding the folio its page belongs to.
fn folio_split_vs_gup_fast_vs_scanner(nr: usize, outcomes: &Outcomes) {
    let m = setup_huge_pmd(nr);
    {
        let _r = m.mms[0].mmap_lock.down_read();
        __split_huge_pmd(&m, 0, false); // PTE-mapped: GUP-fast takes the PTE path
    }
    folio_get(&m.memmap, 0);
    let before = MappingSnapshot::take(&m);
    let m1 = m.clone();
    let splitter = spawn(move || split_caller(&m1));
    let m2 = m.clone();
    let gup = spawn(move || gup_fast(&m2, 0, 1, Foll::Pin, true));
    let m3 = m.clone();
    let pfn = nr - 1;
    let scanner = spawn(move || __get_hwpoison_page(&m3, pfn));
    let split = splitter.join();
    let pinned = gup.join();
    let got = scanner.join();
    record_split(outcomes, &split);
    let mut held = Vec::new();
    if let Some(fp) = pinned {
        check_getter_covers_page(&m, "gup_fast", fp.page, fp.folio, &split, Inv::I15GupFast);
        record(outcomes, GUP_PINNED);
        held.push((fp.folio, pin_held(&m, fp.folio)));
    }
    if let Some(f) = got {
        check_getter_covers_page(
            &m,
            "__get_hwpoison_page",
            pfn,
            f,
            &split,
            Inv::I7RecheckAfterGet,
        );
        record(outcomes, SCANNER_GOT_REF);
        held.push((f, 1));
    }
    if pinned.is_some() && got.is_some() && split.is_err() {
        record(outcomes, BOTH_HELD_SPLIT_EAGAIN);
    }
    check_quiescent(&m, &held);
    if let Some(fp) = pinned {
        gup_put_folio(&m, fp.folio, 1, Foll::Pin);
    }
    if let Some(f) = got {
        folio_put_small_or_large(&m, f);
    }
    check_quiescent(&m, &[]);
    check_carried_over(&m, &before, Carry::ALL);
}

/// `split_huge_page` of a PMD-mapped THP (the caller holds a reference and the lock) ∥
/// `scan(pfn)` on the last tail pfn; records split-ok / split-eagain. Returns the machine, the
/// pfn, the split's result and the scanner's.
fn split_vs_tail_scanner<R: Send + 'static>(
    nr: usize,
    outcomes: &Outcomes,
    scan: fn(&Machine, usize) -> R,
) -> (Arc<Machine>, usize, Result<(), SplitError>, R) {
    let m = setup_huge_pmd(nr);
    folio_get(&m.memmap, 0); // the splitter's caller reference
    let before = MappingSnapshot::take(&m);
    let m1 = m.clone();
    let splitter = spawn(move || split_caller(&m1));
    let m2 = m.clone();
    let pfn = nr - 1;
    let scanner = spawn(move || scan(&m2, pfn));
    let split = splitter.join();
    let got = scanner.join();
    check_carried_over(&m, &before, Carry::ALL);
    record_split(outcomes, &split);
    (m, pfn, split, got)
}
