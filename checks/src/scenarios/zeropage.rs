//! The zero-page remap of a successful split (mm/huge_memory.c `__folio_split` →
//! `remap_page(RMP_USE_SHARED_ZEROPAGE)` → mm/migrate.c `try_to_map_unused_to_zeropage`): a
//! zero-filled sub-page's migration entry becomes the shared zero page, the new small folio
//! stays unmapped, and the split's final put frees it at once. Raced against a physical
//! scanner's speculative get, GUP-fast, and MADV_DONTNEED.

use thp_model::invariants::Inv;
use thp_model::kernel::spawn;
use thp_model::mm::gup::{gup_fast, gup_put_folio, Foll};
use thp_model::mm::memory_failure::__get_hwpoison_page;
use thp_model::mm::page_ref::folio_get;
use thp_model::mm::pgtable::F_SOFT_DIRTY;
use thp_model::mm::util::{clear_page_for_setup, mark_hwpoisoned_for_setup};
use thp_model::mm::{check_carried_over, check_quiescent, Carry, Machine, MappingSnapshot};
use thp_model::mm::{Pmd, Pte};

use super::folio_split::{scanner_got, SCANNER_REF_ON_LARGE_FOLIO};
use super::setup::*;
use super::{Outcomes, Scenario, DEFAULT};

/// This family's scenarios, in catalogue order.
pub const SCENARIOS: &[Scenario] = &[
    SPLIT_ZEROPAGE_VS_SCANNER,
    SPLIT_ZEROPAGE_VS_GUP_FAST,
    SPLIT_ZEROPAGE_VS_ZAP,
];

pub const GUP_GOT_LARGE_FOLIO: &str = "gup-got-large-folio";
pub const GUP_GOT_NOTHING: &str = "gup-got-nothing";
pub const GUP_MET_MIGRATION_ENTRY: &str = "gup-fast-met-migration-pte";
pub const GUP_MET_ZERO_PAGE: &str = "gup-fast-met-zero-page";
pub const SCANNER_MISSED: &str = "scanner-missed";
pub const SCANNER_REF_ON_ZERO_MAPPED_PAGE: &str = "scanner-ref-on-zero-mapped-page";
pub const ZAPPED_ZERO_PAGE: &str = "zapped-zero-page";
pub const ZERO_PAGE_MAPPED: &str = "split-mapped-zero-page";

/// A PMD-mapped THP in mm0 whose PMD is soft-dirty, with the pages of `zero` left zero-filled
/// and those of `poisoned` marked by an earlier memory_failure; the splitter's caller
/// reference taken.
fn setup_zero_filled(nr: usize, zero: &[usize], poisoned: &[usize]) -> std::sync::Arc<Machine> {
    let m = setup_huge_pmd(nr);
    let mm = &m.mms[0];
    let Pmd::Huge { pfn, flags } = Pmd::decode(mm.pmd.read()) else {
        panic!("[model bug] no huge PMD after the fault");
    };
    mm.pmd.set(
        Pmd::Huge {
            pfn,
            flags: flags | F_SOFT_DIRTY,
        }
        .encode(),
    );
    for &p in zero {
        clear_page_for_setup(&m, p);
    }
    for &p in poisoned {
        mark_hwpoisoned_for_setup(&m, p);
    }
    folio_get(&m.memmap, 0); // the splitter's caller reference
    m
}

/// What sub-page `idx` of mm0 maps now (None without a table).
fn pte_now(m: &Machine, idx: usize) -> Option<Pte> {
    match Pmd::decode(m.mms[0].pmd.read()) {
        Pmd::Table(t) => Some(Pte::decode(m.mms[0].tables[t].ptes[idx].read())),
        _ => None,
    }
}

/// After a successful split, zero-filled sub-page `idx` (not poisoned, not zapped) maps the
/// zero page, and its folio, which nothing maps, is freed once nobody holds a reference. (Not
/// mapping the zero page would lose no data, but it would mean the remap is not modelled: the
/// check is a model-bug report, not an invariant.)
fn check_zero_mapped_and_freed(m: &Machine, outcomes: &Outcomes, idx: usize) {
    let v = pte_now(m, idx);
    if !matches!(v, Some(Pte::Zero { .. })) {
        thp_model::model_bug!(
            "split succeeded, but zero-filled sub-page {idx} maps {v:?}, not the zero page"
        );
    }
    record(outcomes, ZERO_PAGE_MAPPED);
    check_freed(
        m,
        idx..=idx,
        Inv::I3RefsCoverMappings,
        "(zero-filled, split off and mapped nowhere) was never freed: a reference leaked",
    );
}

pub const SPLIT_ZEROPAGE_VS_SCANNER: Scenario = Scenario {
    name: "split-zeropage-vs-scanner",
    description: "split_huge_page of a PMD-mapped soft-dirty THP whose last sub-page is zero-filled (remapped to the shared zero page and freed at once) vs a physical scanner (__get_hwpoison_page) on that pfn",
    threads: &[
        "cpu1: folio_lock; split_huge_page; folio_unlock; folio_put",
        "cpu2: __get_hwpoison_page(last pfn); (main) folio_put",
    ],
    loom_bound: Some(4),
    must_reach: &[
        SPLIT_OK,
        SPLIT_EAGAIN,
        ZERO_PAGE_MAPPED,
        SCANNER_REF_ON_ZERO_MAPPED_PAGE,
        SCANNER_REF_ON_LARGE_FOLIO,
        SCANNER_MISSED,
    ],
    body: split_zeropage_vs_scanner,
    ..DEFAULT
};
/// `split_huge_page` ∥ a physical scanner's speculative get on the zero-filled last sub-page.
/// The scanner may get the new small folio between its unfreeze and the split's final put:
/// its put then frees it. The zero-page PTE must keep the soft-dirty bit (I27) and the page
/// must read zeroes (I29).
fn split_zeropage_vs_scanner(nr: usize, outcomes: &Outcomes) {
    let pfn = nr - 1;
    let m = setup_zero_filled(nr, &[pfn], &[]);
    let before = MappingSnapshot::take(&m);
    let m1 = m.clone();
    let splitter = spawn(move || split_caller(&m1));
    let m2 = m.clone();
    let scanner = spawn(move || __get_hwpoison_page(&m2, pfn));
    let split = splitter.join();
    let got = scanner.join();
    record_split(outcomes, &split);
    scanner_got(
        &m,
        outcomes,
        pfn,
        got,
        &split,
        SCANNER_REF_ON_ZERO_MAPPED_PAGE,
        SCANNER_MISSED,
    );
    if split.is_ok() {
        check_zero_mapped_and_freed(&m, outcomes, pfn);
    }
    check_quiescent(&m, &[]);
    check_carried_over(&m, &before, Carry::ALL);
}

pub const SPLIT_ZEROPAGE_VS_GUP_FAST: Scenario = Scenario {
    name: "split-zeropage-vs-gup-fast",
    description: "split_huge_page of a PMD-mapped THP whose sub-page 1 is zero-filled vs GUP-fast (FOLL_GET, read) on sub-page 1: it gets the THP (the split fails), or meets a migration entry or the special zero-page PTE and falls back",
    threads: &[
        "cpu1: folio_lock; split_huge_page; folio_unlock; folio_put",
        "cpu2: gup_fast(FOLL_GET); (main) put_page",
    ],
    loom_bound: Some(4),
    must_reach: &[
        SPLIT_OK,
        SPLIT_EAGAIN,
        ZERO_PAGE_MAPPED,
        GUP_GOT_LARGE_FOLIO,
        GUP_GOT_NOTHING,
        GUP_MET_ZERO_PAGE,
    ],
    shuttle_may_miss: &[GUP_MET_ZERO_PAGE],
    body: split_zeropage_vs_gup_fast,
    ..DEFAULT
};
/// `split_huge_page` ∥ GUP-fast FOLL_GET (read) on the zero-filled sub-page 1. A reference
/// GUP-fast takes is on the page it found mapped; it can never be on the small folio the
/// split frees, because GUP-fast leaves a migration entry and the special zero-page PTE to
/// the slow path.
fn split_zeropage_vs_gup_fast(nr: usize, outcomes: &Outcomes) {
    let m = setup_zero_filled(nr, &[1], &[]);
    let before = MappingSnapshot::take(&m);
    let m1 = m.clone();
    let splitter = spawn(move || split_caller(&m1));
    let m2 = m.clone();
    let gup = spawn(move || gup_fast(&m2, 0, 1, Foll::Get, false));
    let split = splitter.join();
    let got = gup.join();
    record_split(outcomes, &split);
    record_observed(outcomes, &m, &[GUP_MET_ZERO_PAGE, GUP_MET_MIGRATION_ENTRY]);
    match got {
        Some(fp) => {
            let now = m.memmap.page_folio_quiet(fp.page);
            assert!(
                fp.page == 1 && now == fp.folio && m.memmap.is_allocated(fp.page),
                "[{}] GUP-fast holds folio {} for page {} of sub-page 1, which is in folio {now} (allocated: {})",
                Inv::I15GupFast.tag(),
                fp.folio,
                fp.page,
                m.memmap.is_allocated(fp.page)
            );
            if fp.folio != fp.page {
                record(outcomes, GUP_GOT_LARGE_FOLIO);
            }
            gup_put_folio(&m, fp.folio, 1, Foll::Get);
        }
        None => record(outcomes, GUP_GOT_NOTHING),
    }
    if split.is_ok() {
        check_zero_mapped_and_freed(&m, outcomes, 1);
    }
    check_quiescent(&m, &[]);
    check_carried_over(&m, &before, Carry::ALL);
}

pub const SPLIT_ZEROPAGE_VS_ZAP: Scenario = Scenario {
    name: "split-zeropage-vs-zap",
    test_loom_bound: Some(3), // the suite's search (docs/performance.md)
    description: "split_huge_page of a PMD-mapped THP whose sub-pages 0 and 1 are zero-filled, sub-page 0 marked PG_hwpoison by an earlier memory_failure (never read: it stays mapped), vs MADV_DONTNEED of sub-page 1 (a present PTE, a migration entry or the zero-page PTE)",
    threads: &[
        "cpu1: folio_lock; split_huge_page; folio_unlock; folio_put",
        "cpu2: mmap_read_lock; zap_pmd_range(sub-page 1)",
    ],
    loom_bound: Some(4),
    must_reach: &[
        SPLIT_OK,
        SPLIT_EAGAIN,
        ZAPPED_PRESENT_PTES,
        ZAPPED_MIGRATION_ENTRY,
        ZAPPED_ZERO_PAGE,
    ],
    body: split_zeropage_vs_zap,
    ..DEFAULT
};
/// `split_huge_page` ∥ MADV_DONTNEED of the zero-filled sub-page 1. Sub-page 0, zero-filled
/// too, carries a memory error memory_failure reported before (its own split failed then):
/// the remap must not read it (I30), so it is restored as a normal mapping.
fn split_zeropage_vs_zap(nr: usize, outcomes: &Outcomes) {
    let m = setup_zero_filled(nr, &[0, 1], &[0]);
    if split_vs_zap_page_1(&m, outcomes).zero_ptes > 0 {
        record(outcomes, ZAPPED_ZERO_PAGE);
    }
}
