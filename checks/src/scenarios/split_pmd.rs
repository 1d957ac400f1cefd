//! Scenarios of `split_huge_pmd` (mm/huge_memory.c `__split_huge_pmd`,
//! `__split_huge_pmd_locked`) against walkers and GUP-fast.

use thp_model::invariants::Inv;
use thp_model::kernel::spawn;
use thp_model::mm::gup::{follow_pmd_mask, Follow};
use thp_model::mm::gup::{gup_fast, gup_put_folio, Foll};
use thp_model::mm::huge_memory::__split_huge_pmd;
use thp_model::mm::page_ref::folio_get;
use thp_model::mm::page_ref::folio_put;
use thp_model::mm::Pmd;
use thp_model::mm::{check_carried_over, check_quiescent, Carry, MappingSnapshot};

use super::setup::*;
use super::{Outcomes, Scenario, DEFAULT};

/// This family's scenarios, in catalogue order.
pub const SCENARIOS: &[Scenario] = &[
    SPLIT_PMD_VS_AWARE_WALKER,
    SPLIT_PMD_VS_GUP_FAST,
    SPLIT_PMD_MIGRATION_ENTRY_VS_GUP_FAST,
];

pub const GUP_FAST_MET_MIGRATION_PMD: &str = "gup-fast-met-migration-pmd";
pub const GUP_FAST_MET_MIGRATION_PTE: &str = "gup-fast-met-migration-pte";
pub const MIGRATED_TO_PTE_MAPPED_FOLIO: &str = "migrated-to-pte-mapped-folio";
pub const WALKER_USED_HUGE_PMD: &str = "walker-used-huge-pmd";
pub const WALKER_USED_PTE: &str = "walker-used-pte";

pub const SPLIT_PMD_VS_AWARE_WALKER: Scenario = Scenario {
    name: "split-pmd-vs-aware-walker",
    description: "split_huge_pmd (mmap_lock read) vs a huge-PMD-aware walker (follow_pmd_mask, FOLL_GET) on sub-page 1",
    threads: &["cpu1: mmap_read_lock; __split_huge_pmd", "cpu2: mmap_read_lock; follow_pmd_mask(FOLL_GET); (main) put_page"],
    must_reach: &[WALKER_USED_HUGE_PMD, WALKER_USED_PTE],
    body: split_pmd_vs_aware_walker,
    ..DEFAULT
};
/// `split_huge_pmd` (an unaware walker, mmap_lock read) ∥ a huge-PMD-aware walker
/// (`follow_pmd_mask`, FOLL_GET, mmap_lock read) on sub-page 1.
fn split_pmd_vs_aware_walker(nr: usize, outcomes: &Outcomes) {
    let m = setup_huge_pmd(nr);
    let before = MappingSnapshot::take(&m);
    let m1 = m.clone();
    let splitter = spawn(move || {
        let _r = m1.mms[0].mmap_lock.down_read();
        __split_huge_pmd(&m1, 0, false);
    });
    let m2 = m.clone();
    let walker = spawn(move || {
        let _r = m2.mms[0].mmap_lock.down_read();
        follow_pmd_mask(&m2, 0, 1)
    });
    splitter.join();
    let found = walker.join();
    let pfn = match found {
        Follow::HugePage(p) => {
            outcomes.lock().unwrap().insert(WALKER_USED_HUGE_PMD);
            p
        }
        Follow::PtePage(p) => {
            outcomes.lock().unwrap().insert(WALKER_USED_PTE);
            p
        }
        Follow::NoPage | Follow::NoPmd | Follow::ZeroPage => panic!(
            "[{}] follow_pmd_mask found no page at a mapped address ({found:?}): the PMD was transiently none",
            Inv::I12PmdTransientlyNone.tag()
        ),
    };
    assert!(
        pfn == 1,
        "[I5 huge-pmd-stability] walker returned pfn {pfn} for sub-page 1"
    );
    check_quiescent(&m, &[(0, 1)]);
    folio_put(&m.memmap, 0, nr);
    check_quiescent(&m, &[]);
    check_carried_over(&m, &before, Carry::ALL);
}

pub const SPLIT_PMD_VS_GUP_FAST: Scenario = Scenario {
    name: "split-pmd-vs-gup-fast",
    description: "split_huge_pmd (mmap_lock read) vs GUP-fast (FOLL_PIN|FOLL_WRITE) on sub-page 1: the invalidated PMD is rejected, the pin lands on the same folio through the PMD or the new PTE",
    threads: &["cpu1: mmap_read_lock; __split_huge_pmd", "cpu2: gup_fast(FOLL_PIN); (main) unpin_user_page"],
    must_reach: &[GUP_PINNED_HUGE_PMD, GUP_PINNED_SMALL_PAGE, GUP_FELL_BACK],
    body: split_pmd_vs_gup_fast,
    ..DEFAULT
};
/// `split_huge_pmd` (mmap_lock read, e.g. an unaware walker) ∥ GUP-fast (FOLL_PIN |
/// FOLL_WRITE) on sub-page 1: the invalidated PMD is rejected (not access-permitted), a pin
/// through the huge PMD or through the new PTE lands on the same folio and stays mapped.
fn split_pmd_vs_gup_fast(nr: usize, outcomes: &Outcomes) {
    let m = setup_huge_pmd(nr);
    let before = MappingSnapshot::take(&m);
    let m1 = m.clone();
    let splitter = spawn(move || {
        let _r = m1.mms[0].mmap_lock.down_read();
        __split_huge_pmd(&m1, 0, false)
    });
    let m2 = m.clone();
    let gup = spawn(move || gup_fast(&m2, 0, 1, Foll::Pin, true));
    splitter.join();
    let got = gup.join();
    record_pin(outcomes, &got);
    if let Some(fp) = got {
        assert!(
            fp.folio == 0 && fp.page == 1,
            "[{}] GUP-fast pinned page {} of folio {} for sub-page 1",
            Inv::I15GupFast.tag(),
            fp.page,
            fp.folio
        );
        check_pin_still_mapped(&m, &fp, 1);
        check_quiescent(&m, &[(fp.folio, pin_held(&m, fp.folio))]);
        gup_put_folio(&m, fp.folio, 1, Foll::Pin);
    }
    check_quiescent(&m, &[]);
    check_carried_over(&m, &before, Carry::ALL);
}

pub const SPLIT_PMD_MIGRATION_ENTRY_VS_GUP_FAST: Scenario = Scenario {
    name: "split-pmd-migration-entry-vs-gup-fast",
    description: "on arm64: split_huge_pmd of a PMD holding a THP migration entry (the migration is between migrate_folio_unmap and migrate_folio_move) vs GUP-fast on sub-page 1, which must never take the entry for a present PMD (historical race Z12)",
    threads: &["(main) migrate_folio_unmap", "cpu1: mmap_read_lock; __split_huge_pmd", "cpu2: gup_fast(FOLL_PIN|FOLL_WRITE)", "(main) migrate_folio_move"],
    must_reach: &[GUP_FAST_MET_MIGRATION_PMD, GUP_FAST_MET_MIGRATION_PTE],
    body: split_pmd_migration_entry_vs_gup_fast,
    ..DEFAULT
};
/// A THP migration stopped between its two halves (`migrate_pages_batch` unmaps a whole batch,
/// then moves it: the window is real) leaves a PMD migration entry; `split_huge_pmd` of that
/// PMD (e.g. mprotect of part of the range) ∥ GUP-fast on sub-page 1. Every value GUP-fast can
/// read is non-present (the migration entry, then a table of PTE migration entries), unless
/// the split invalidates the entry first (historical race Z12: on arm64 it then reads as a
/// present huge PMD). The migration then finishes at PTE level.
fn split_pmd_migration_entry_vs_gup_fast(nr: usize, outcomes: &Outcomes) {
    use thp_model::mm::migrate::{migrate_folio_move, migrate_folio_unmap, try_to_unmap_flush};
    let m = setup_huge_pmd_slots(nr, 2);
    folio_get(&m.memmap, 0); // the migration caller's isolation reference
    let u = migrate_folio_unmap(&m, 0, 1).expect("[model bug] unmap of an unpinned THP");
    let before = MappingSnapshot::take(&m);
    let m1 = m.clone();
    let splitter = spawn(move || {
        let _r = m1.mms[0].mmap_lock.down_read();
        __split_huge_pmd(&m1, 0, false);
    });
    let m2 = m.clone();
    let gup = spawn(move || gup_fast(&m2, 0, 1, Foll::Pin, true));
    splitter.join();
    let got = gup.join();
    assert!(
        got.is_none(),
        "[{}] GUP-fast pinned {got:?} while every mapping was a migration entry",
        Inv::I15GupFast.tag()
    );
    record_observed(
        outcomes,
        &m,
        &[
            SPLIT_PMD_MIGRATION_ENTRY,
            GUP_FAST_MET_MIGRATION_PMD,
            GUP_FAST_MET_MIGRATION_PTE,
        ],
    );
    try_to_unmap_flush(&m, &u);
    assert_eq!(
        migrate_folio_move(&m, u),
        Ok(nr),
        "[model bug] the move of an unreferenced, unmapped THP failed"
    );
    if matches!(Pmd::decode(m.mms[0].pmd.read()), Pmd::Table(_)) {
        record(outcomes, MIGRATED_TO_PTE_MAPPED_FOLIO);
    }
    check_quiescent(&m, &[]);
    check_carried_over(&m, &before, Carry::MOVE);
}
