//! Scenarios of THP migration (mm/migrate.c `migrate_pages_batch`, `remove_migration_pmd`)
//! against zaps, faults, walkers, splits, fork and GUP-fast pins.

use std::sync::Arc;

use thp_model::invariants::Inv;
use thp_model::kernel::{spawn, JoinHandle};
use thp_model::mm::gup::{gup_fast, gup_put_folio, Foll};
use thp_model::mm::huge_memory::{__split_huge_pmd, do_huge_pmd_anonymous_page, FaultResult};
use thp_model::mm::migrate::migrate_pages_batch;
use thp_model::mm::migrate::{huge_pmd_access, migrate_huge_page, MigrateError};
use thp_model::mm::mmap::dup_mmap;
use thp_model::mm::page_ref::folio_put;
use thp_model::mm::page_ref::{folio_get, pfn_walker_get_put};
use thp_model::mm::zap::{zap_pmd_range, ZapRange};
use thp_model::mm::{check_carried_over, check_quiescent, Carry, Machine, MappingSnapshot};
use thp_model::mm::{Pmd, Pte};

use super::setup::*;
use super::{Outcomes, Scenario, DEFAULT};

/// This family's scenarios, in catalogue order.
pub const SCENARIOS: &[Scenario] = &[
    THP_MIGRATION_VS_ZAP,
    THP_MIGRATION_RETRY_VS_SCANNER,
    THP_MIGRATION_VS_FAULT,
    FOLIO_SPLIT_VS_THP_MIGRATION_OTHER_MM,
    THP_MIGRATION_VS_SPLIT_PMD,
    FORK_VS_THP_MIGRATION,
    THP_MIGRATION_VS_GUP_FAST,
    THP_MIGRATION_PTE_VS_GUP_FAST,
];

pub const FAULT_FOUND_NOTHING: &str = "fault-found-nothing";
pub const FAULT_SAW_NEW_FOLIO: &str = "fault-saw-new-folio";
pub const FAULT_SAW_OLD_FOLIO: &str = "fault-saw-old-folio";
pub const FORK_COPIED_HUGE_PMD: &str = "fork-copied-huge-pmd";
pub const FORK_COPIED_MIGRATION_ENTRY: &str = "fork-copied-migration-entry";
pub const MIGRATED: &str = "migrated";
pub const MIGRATED_AFTER_RETRY: &str = "migrated-after-retry";
pub const MIGRATED_FIRST_PASS: &str = "migrated-first-pass";
pub const MIGRATION_EAGAIN: &str = "migration-eagain";
pub const MIGRATION_UNMAPPED_PMD: &str = "migration-unmapped-pmd";
pub const MIGRATION_UNMAPPED_PTES: &str = "migration-unmapped-ptes";
pub const RMAP_WALK_MET_MIGRATION_PMD: &str = "rmap-walk-met-migration-pmd";
pub const SPLIT_NEW_FOLIO_PMD: &str = "split-new-folio-pmd";
pub const WALKER_FOUND_ZERO: &str = "walker-found-zero";
pub const WALKER_GOT_A_REFERENCE: &str = "walker-got-a-reference";

pub const THP_MIGRATION_VS_ZAP: Scenario = Scenario {
    name: "thp-migration-vs-zap",
    description: "THP migration of a PMD-mapped THP (set_pmd_migration_entry, freeze, remove_migration_pmd to a new folio) vs MADV_DONTNEED of the whole PMD (historical race Z07)",
    threads: &["cpu1: folio_trylock; try_to_migrate; __folio_migrate_mapping; remove_migration_pmd; unlock; put", "cpu2: mmap_read_lock; zap_pmd_range(full)"],
    must_reach: &[MIGRATED, MIGRATION_EAGAIN, ZAPPED_HUGE_PMD, ZAPPED_MIGRATION_PMD],
    body: thp_migration_vs_zap,
    ..DEFAULT
};
/// THP migration of a PMD-mapped THP (PMD migration entry, copy, `remove_migration_pmd` to the
/// new folio) ∥ MADV_DONTNEED of the whole PMD (historical race Z07).
/// A PMD-mapped THP at slot 0 (slot 1 free for the destination) with the migration caller's
/// reference (`isolate_lru_folio`'s), the mapping before, and CPU 1 migrating it to slot 1.
fn start_thp_migration(
    nr: usize,
) -> (
    Arc<Machine>,
    MappingSnapshot,
    JoinHandle<Result<usize, MigrateError>>,
) {
    let m = setup_huge_pmd_slots(nr, 2);
    folio_get(&m.memmap, 0);
    let before = MappingSnapshot::take(&m);
    let m1 = m.clone();
    let migrator = spawn(move || migrate_huge_page(&m1, 0, 1));
    (m, before, migrator)
}

fn thp_migration_vs_zap(nr: usize, outcomes: &Outcomes) {
    let (m, before, migrator) = start_thp_migration(nr);
    let m2 = m.clone();
    let zapper = spawn(move || {
        let _r = m2.mms[0].mmap_lock.down_read();
        zap_pmd_range(&m2, 0, ZapRange::Full)
    });
    let r = migrator.join();
    let z = zapper.join();
    record(
        outcomes,
        if r.is_ok() {
            MIGRATED
        } else {
            MIGRATION_EAGAIN
        },
    );
    record_zap(outcomes, &z);
    check_dontneed_unmapped(&m);
    if r.is_err() {
        folio_put(&m.memmap, 0, nr); // putback_movable_pages
    }
    // Nothing maps either folio and nobody holds a reference: both were freed.
    for pfn in 0..2 * nr {
        assert!(
            !m.memmap.is_allocated(pfn),
            "[{}] pfn {pfn} is unmapped and unreferenced but was never freed",
            Inv::I8UseAfterFree.tag()
        );
    }
    check_quiescent(&m, &[]);
    check_carried_over(&m, &before, Carry::MOVE.and(Carry::UNMAP));
}

pub const THP_MIGRATION_RETRY_VS_SCANNER: Scenario = Scenario {
    name: "thp-migration-retry-vs-scanner",
    description: "THP migration with two passes (migrate_pages_batch: a failed freeze keeps the folio unmapped behind its PMD migration entry for the next pass) vs a speculative pfn walker's get_page_unless_zero / put_page on the head",
    threads: &["cpu1: migrate_pages_batch(nr_pass = 2)", "cpu2: get_page_unless_zero(head); put_page"],
    must_reach: &[MIGRATED_FIRST_PASS, MIGRATED_AFTER_RETRY, MIGRATION_EAGAIN, WALKER_GOT_A_REFERENCE, WALKER_FOUND_ZERO],
    shuttle_may_miss: &[MIGRATED_AFTER_RETRY, MIGRATION_EAGAIN, WALKER_FOUND_ZERO],
    body: thp_migration_retry_vs_scanner,
    ..DEFAULT
};
/// THP migration with two passes (`migrate_pages_batch`) ∥ a speculative pfn walker that takes
/// and drops a reference on the head (`get_page_unless_zero`, then `put_page`). A walker
/// reference held across the freeze fails the move; the folio then stays unmapped behind its
/// PMD migration entry, both folios locked, until the next pass; after the last pass the
/// source is remapped. Either way nothing is left behind.
fn thp_migration_retry_vs_scanner(nr: usize, outcomes: &Outcomes) {
    let m = setup_huge_pmd_slots(nr, 2);
    folio_get(&m.memmap, 0); // the migration caller's isolation reference
    let before = MappingSnapshot::take(&m);
    let m1 = m.clone();
    let migrator = spawn(move || migrate_pages_batch(&m1, 0, 1, 2));
    let m2 = m.clone();
    let walker = spawn(move || pfn_walker_get_put(&m2, 0));
    let r = migrator.join();
    let got = walker.join();
    record(
        outcomes,
        match r {
            Ok(_) if m.observed("migrate-move-retried") => MIGRATED_AFTER_RETRY,
            Ok(_) => MIGRATED_FIRST_PASS,
            Err(_) => MIGRATION_EAGAIN,
        },
    );
    record(
        outcomes,
        if got {
            WALKER_GOT_A_REFERENCE
        } else {
            WALKER_FOUND_ZERO
        },
    );
    match r {
        Ok(dst) => assert!(
            !m.memmap.is_allocated(0)
                && matches!(Pmd::decode(m.mms[0].pmd.read()), Pmd::Huge { pfn, .. } if pfn == dst),
            "[{}] migrated, but the old folio is not freed or the PMD does not map the new one",
            Inv::I11SplitEndsClean.tag()
        ),
        Err(_) => {
            assert!(
                matches!(Pmd::decode(m.mms[0].pmd.read()), Pmd::Huge { pfn: 0, .. }),
                "[{}] failed migration did not restore the PMD",
                Inv::I11SplitEndsClean.tag()
            );
            folio_put(&m.memmap, 0, nr);
        }
    }
    check_quiescent(&m, &[]);
    check_carried_over(&m, &before, Carry::MOVE);
}

pub const THP_MIGRATION_VS_FAULT: Scenario = Scenario {
    name: "thp-migration-vs-fault",
    description: "THP migration of a PMD-mapped THP vs a read fault through the PMD that may wait on the PMD migration entry (pmd_migration_entry_wait)",
    threads: &["cpu1: folio_trylock; try_to_migrate; __folio_migrate_mapping; remove_migration_pmd; unlock; put", "cpu2: mmap_read_lock; huge_pmd_access (pmd_migration_entry_wait, refault)"],
    must_reach: &[MIGRATED, FAULT_WAITED_ON_MIGRATION_ENTRY, FAULT_SAW_OLD_FOLIO, FAULT_SAW_NEW_FOLIO],
    body: thp_migration_vs_fault,
    ..DEFAULT
};
/// THP migration of a PMD-mapped THP ∥ a read access through the PMD that may find the PMD
/// migration entry and sleep on the folio lock (`pmd_migration_entry_wait`).
fn thp_migration_vs_fault(nr: usize, outcomes: &Outcomes) {
    let (m, before, migrator) = start_thp_migration(nr);
    let m2 = m.clone();
    let faulter = spawn(move || {
        let _r = m2.mms[0].mmap_lock.down_read();
        huge_pmd_access(&m2, 0)
    });
    let r = migrator.join();
    let a = faulter.join();
    record(
        outcomes,
        if r.is_ok() {
            MIGRATED
        } else {
            MIGRATION_EAGAIN
        },
    );
    if a.waits > 0 {
        record(outcomes, FAULT_WAITED_ON_MIGRATION_ENTRY);
    }
    record(
        outcomes,
        match a.folio {
            Some(0) => FAULT_SAW_OLD_FOLIO,
            Some(_) => FAULT_SAW_NEW_FOLIO,
            None => FAULT_FOUND_NOTHING,
        },
    );
    if r.is_err() {
        folio_put(&m.memmap, 0, nr);
    }
    check_quiescent(&m, &[]);
    check_carried_over(&m, &before, Carry::MOVE);
}

pub const FOLIO_SPLIT_VS_THP_MIGRATION_OTHER_MM: Scenario = Scenario {
    name: "folio-split-vs-thp-migration-other-mm",
    description: "split_huge_page of folio F (PTE-mapped in mm0; the anon_vma rmap walk visits mm1 too) vs THP migration of folio G, PMD-mapped in mm1 (historical race Z19)",
    threads: &["cpu1: folio_lock(F); split_huge_page(F); folio_unlock; folio_put", "cpu2: migrate_huge_page(G) in mm1"],
    must_reach: &[SPLIT_OK, MIGRATED, RMAP_WALK_MET_MIGRATION_PMD],
    body: folio_split_vs_thp_migration_other_mm,
    ..DEFAULT
};
/// Folio F (pfn 0) PTE-mapped in mm0 is split (its rmap walk visits every mm of the shared
/// anon_vma) ∥ THP migration of another folio G (pfn nr) PMD-mapped in mm1, whose PMD holds a
/// migration entry for G while the walk passes (historical race Z19, CVE-2025-37958).
fn folio_split_vs_thp_migration_other_mm(nr: usize, outcomes: &Outcomes) {
    let m = Arc::new(Machine::new(nr, 3, 2, 1));
    {
        let _r0 = m.mms[0].mmap_lock.down_read();
        assert_eq!(do_huge_pmd_anonymous_page(&m, 0, 0), FaultResult::Done);
        __split_huge_pmd(&m, 0, false);
        drop(_r0);
        let _r1 = m.mms[1].mmap_lock.down_read();
        assert_eq!(do_huge_pmd_anonymous_page(&m, 1, 1), FaultResult::Done);
    }
    folio_get(&m.memmap, 0); // the splitter's reference
    folio_get(&m.memmap, nr); // the migration caller's isolation reference
    let before = MappingSnapshot::take(&m);
    let m1 = m.clone();
    let splitter = spawn(move || split_caller(&m1));
    let m2 = m.clone();
    let migrator = spawn(move || migrate_huge_page(&m2, nr, 2));
    let split = splitter.join();
    let r = migrator.join();
    record_split(outcomes, &split);
    record(
        outcomes,
        if r.is_ok() {
            MIGRATED
        } else {
            MIGRATION_EAGAIN
        },
    );
    record_observed(outcomes, &m, &[RMAP_WALK_MET_MIGRATION_PMD]);
    if r.is_err() {
        folio_put(&m.memmap, nr, nr);
    }
    check_quiescent(&m, &[]);
    check_carried_over(&m, &before, Carry::MOVE);
}

pub const THP_MIGRATION_VS_SPLIT_PMD: Scenario = Scenario {
    name: "thp-migration-vs-split-pmd",
    test_loom_bound: Some(4), // the suite's search (docs/performance.md)
    description: "THP migration of a PMD-mapped THP vs split_huge_pmd (mmap_lock read) of the same PMD: the split meets the present PMD (the migration then unmaps PTEs), the PMD migration entry (the migration finishes at PTE level), or the new folio's PMD",
    threads: &["cpu1: folio_trylock; try_to_migrate; __folio_migrate_mapping; remove_migration_ptes; unlock; put", "cpu2: mmap_read_lock; __split_huge_pmd"],
    must_reach: &[MIGRATED, MIGRATION_UNMAPPED_PMD, MIGRATION_UNMAPPED_PTES, SPLIT_PMD_MIGRATION_ENTRY, SPLIT_NEW_FOLIO_PMD],
    body: thp_migration_vs_split_pmd,
    ..DEFAULT
};
/// THP migration of a PMD-mapped THP ∥ `split_huge_pmd` of its PMD under mmap_lock read. The
/// split may meet the source's huge PMD (the migration then unmaps a PTE-mapped THP), the PMD
/// migration entry (the migration's `remove_migration_ptes` then finds PTE migration entries:
/// "THP pmd was split under us"), or the destination's huge PMD.
fn thp_migration_vs_split_pmd(nr: usize, outcomes: &Outcomes) {
    let (m, before, migrator) = start_thp_migration(nr);
    let m2 = m.clone();
    let splitter = spawn(move || {
        let _r = m2.mms[0].mmap_lock.down_read();
        __split_huge_pmd(&m2, 0, false);
    });
    let r = migrator.join();
    splitter.join();
    assert_eq!(
        r,
        Ok(nr),
        "[{}] migration of an unpinned THP failed",
        Inv::I9SplitRefs.tag()
    );
    record(outcomes, MIGRATED);
    record_observed(
        outcomes,
        &m,
        &[
            MIGRATION_UNMAPPED_PMD,
            MIGRATION_UNMAPPED_PTES,
            SPLIT_PMD_MIGRATION_ENTRY,
        ],
    );
    if m.observed(MIGRATION_UNMAPPED_PMD) && !m.observed(SPLIT_PMD_MIGRATION_ENTRY) {
        record(outcomes, SPLIT_NEW_FOLIO_PMD);
    }
    check_quiescent(&m, &[]);
    check_carried_over(&m, &before, Carry::MOVE);
    // Whatever the order, the PMD was split: the new folio is mapped by N PTEs.
    let Pmd::Table(t) = Pmd::decode(m.mms[0].pmd.read()) else {
        panic!(
            "[{}] PMD is {:?} after split_huge_pmd",
            Inv::I4MapcountMismatch.tag(),
            Pmd::decode(m.mms[0].pmd.read())
        )
    };
    for i in 0..nr {
        let pte = Pte::decode(m.mms[0].tables[t].ptes[i].read());
        assert!(
            matches!(pte, Pte::Present { pfn, .. } if pfn == nr + i),
            "[{}] pte[{i}] is {pte:?} after the migration to folio {nr}",
            Inv::I4MapcountMismatch.tag()
        );
    }
}

pub const FORK_VS_THP_MIGRATION: Scenario = Scenario {
    name: "fork-vs-thp-migration",
    test_loom_bound: Some(4), // the suite's search (docs/performance.md)
    description: "THP migration of a PMD-mapped THP in mm0 vs fork of mm0 into mm1 (copy_huge_pmd copies the huge PMD, or the PMD migration entry, made readable): the migration's rmap walk must map the new folio in both",
    threads: &["cpu1: folio_trylock; try_to_migrate; __folio_migrate_mapping; remove_migration_ptes; unlock; put", "cpu2: dup_mmap: mmap_write_lock(mm0, mm1); vma_start_write; copy_huge_pmd(mm0 -> mm1)"],
    must_reach: &[MIGRATED, FORK_COPIED_HUGE_PMD, FORK_COPIED_MIGRATION_ENTRY],
    body: fork_vs_thp_migration,
    ..DEFAULT
};
/// THP migration of a PMD-mapped THP in mm0 ∥ fork of mm0 into mm1. Fork copies either the
/// present huge PMD (reference, shared mapcount: the migration then unmaps both mms) or the
/// PMD migration entry (no reference; the migration's `remove_migration_ptes` must find the
/// copy: the rmap walk visits the child after the parent). Either way both mms end up mapping
/// the new folio, read-only and shared.
fn fork_vs_thp_migration(nr: usize, outcomes: &Outcomes) {
    let m = setup_huge_pmd_mms(nr, 2, 2);
    folio_get(&m.memmap, 0); // the migration caller's isolation reference
    let before = MappingSnapshot::take(&m);
    let m1 = m.clone();
    let migrator = spawn(move || migrate_huge_page(&m1, 0, 1));
    let m2 = m.clone();
    let fork = spawn(move || dup_mmap(&m2, 0, 1));
    let r = migrator.join();
    let copied = fork.join();
    assert!(copied, "[model bug] fork of an unpinned THP failed");
    record_observed(
        outcomes,
        &m,
        &[FORK_COPIED_HUGE_PMD, FORK_COPIED_MIGRATION_ENTRY],
    );
    // -EAGAIN (the child mapped the old folio behind the unmap walk) is a legal outcome of a
    // migration; the real protocol's walk order never produces it here.
    let folio = match r {
        Ok(dst) => {
            record(outcomes, MIGRATED);
            dst
        }
        Err(_) => {
            record(outcomes, MIGRATION_EAGAIN);
            folio_put(&m.memmap, 0, nr); // the isolation reference comes back to the caller
            0
        }
    };
    check_quiescent(&m, &[]);
    check_carried_over(&m, &before, Carry::FORK.and(Carry::MOVE));
    for mm in 0..2 {
        let v = Pmd::decode(m.mms[mm].pmd.read());
        assert!(
            matches!(v, Pmd::Huge { pfn, .. } if pfn == folio),
            "[{}] mm{mm}'s PMD is {v:?}, not folio {folio}",
            Inv::I4MapcountMismatch.tag()
        );
    }
}

pub const MIGRATION_PINNED_KEPT: &str = "migration-kept-pinned-folio";
pub const GUP_PINNED_OLD_FOLIO: &str = "gup-pinned-old-folio";
pub const GUP_PINNED_NEW_FOLIO: &str = "gup-pinned-new-folio";
pub const GUP_FAST_BACKED_OFF: &str = "gup-fast-backed-off";

pub const THP_MIGRATION_VS_GUP_FAST: Scenario = Scenario {
    name: "thp-migration-vs-gup-fast",
    description: "THP migration of a PMD-mapped THP (set_pmd_migration_entry: pmdp_invalidate, folio_try_share_anon_rmap_pmd, restore on a pin; freeze; remove_migration_pmd) vs GUP-fast FOLL_PIN|FOLL_WRITE on sub-page 1 through the huge PMD",
    threads: &["cpu1: folio_trylock; try_to_migrate; __folio_migrate_mapping; remove_migration_pmd; unlock; put", "cpu2: gup_fast(FOLL_PIN|FOLL_WRITE); (main) unpin_user_page"],
    loom_bound: Some(4),
    fixes: &[thp_model::rules::Rule::AnonExclusivePublishWmb],
    must_reach: &[MIGRATED, MIGRATION_EAGAIN, GUP_PINNED_OLD_FOLIO, GUP_PINNED_NEW_FOLIO, GUP_FAST_BACKED_OFF],
    body: thp_migration_vs_gup_fast,
    ..DEFAULT
};
/// THP migration ∥ GUP-fast FOLL_PIN|FOLL_WRITE through the huge PMD. A pin GUP-fast returns
/// must stay coherent with what the process maps: the pinned folio is the one mm0's PMD maps
/// at the end, and it is AnonExclusive (I16). Either the migration saw the pin (the
/// AnonExclusive share refused, PMD restored; or the freeze failed) and kept the folio, or
/// GUP-fast saw the migration entry (or the invalidated PMD) and backed off, or it pinned the
/// new folio after the migration.
fn thp_migration_vs_gup_fast(nr: usize, outcomes: &Outcomes) {
    use thp_model::mm::page::PG_ANON_EXCLUSIVE;
    let (m, before, migrator) = start_thp_migration(nr);
    let m2 = m.clone();
    let pinner = spawn(move || gup_fast(&m2, 0, 1, Foll::Pin, true));
    let r = migrator.join();
    let got = pinner.join();
    record(
        outcomes,
        if r.is_ok() {
            MIGRATED
        } else {
            MIGRATION_EAGAIN
        },
    );
    if r.is_err() {
        folio_put(&m.memmap, 0, nr); // putback_movable_pages
    }
    match got {
        Some(fp) => {
            record(
                outcomes,
                if fp.folio == 0 {
                    GUP_PINNED_OLD_FOLIO
                } else {
                    GUP_PINNED_NEW_FOLIO
                },
            );
            let mapped = match Pmd::decode(m.mms[0].pmd.read()) {
                Pmd::Huge { pfn, .. } => Some(pfn),
                _ => None,
            };
            assert!(
                mapped == Some(fp.folio)
                    && m.memmap.page(fp.folio).flags.test_bit(PG_ANON_EXCLUSIVE),
                "[{}] GUP-fast pinned page {} of folio {}, but after the migration mm0 maps {mapped:?} (the pin no longer sees the process's page) or the folio is not AnonExclusive",
                Inv::I16PinnedNotExclusive.tag(),
                fp.page,
                fp.folio
            );
            gup_put_folio(&m, fp.folio, 1, Foll::Pin);
        }
        None => record(outcomes, GUP_FAST_BACKED_OFF),
    }
    check_quiescent(&m, &[]);
    check_carried_over(&m, &before, Carry::MOVE);
}

pub const THP_MIGRATION_PTE_VS_GUP_FAST: Scenario = Scenario {
    name: "thp-migration-pte-vs-gup-fast",
    description: "THP migration of a PTE-mapped THP (try_to_migrate_one per PTE: ptep_get_and_clear with the TLB flush deferred (TTU_BATCH_FLUSH), folio_try_share_anon_rmap_pte, set_pte_at restore on a pin; freeze; remove_migration_pte to the new folio) vs GUP-fast FOLL_PIN|FOLL_WRITE on sub-page 1 through its PTE",
    threads: &["cpu1: folio_trylock; try_to_migrate; __folio_migrate_mapping; remove_migration_ptes; unlock; put", "cpu2: gup_fast(FOLL_PIN|FOLL_WRITE) on a PTE; (main) unpin_user_page"],
    // Finding F1 (remove_migration_pte sets AnonExclusive, then set_pte_at, nothing between):
    // without its fix loom finds I16 at bound 4 with CONFIG_NO_PAGE_MAPCOUNT (1,924 executions),
    // not with CONFIG_PAGE_MAPCOUNT up to bound 5 (4: 106,679; 5: 468,052), where the extra
    // per-page mapcount atomics push the window past the bound.
    loom_bound: Some(4),
    fixes: &[thp_model::rules::Rule::AnonExclusivePublishWmb],
    must_reach: &[MIGRATED, MIGRATION_EAGAIN, GUP_PINNED_OLD_FOLIO, GUP_PINNED_NEW_FOLIO, GUP_FAST_BACKED_OFF],
    body: thp_migration_pte_vs_gup_fast,
    ..DEFAULT
};
/// THP migration of a PTE-mapped THP ∥ GUP-fast FOLL_PIN|FOLL_WRITE of sub-page 1 through its
/// PTE: the PTE path of `try_to_migrate_one` (clear and flush, share or restore on a pin) and of
/// `remove_migration_pte` (an exclusive migration entry becomes an AnonExclusive page of the
/// new folio). A pin GUP-fast returns must be of the page mm0's pte[1] maps at the end, and
/// that page AnonExclusive (I16); otherwise the pin no longer sees the process's page.
fn thp_migration_pte_vs_gup_fast(nr: usize, outcomes: &Outcomes) {
    use thp_model::mm::page::PG_ANON_EXCLUSIVE;
    let m = setup_huge_pmd_slots(nr, 2);
    {
        let _r = m.mms[0].mmap_lock.down_read();
        __split_huge_pmd(&m, 0, false);
    }
    let Pmd::Table(t) = Pmd::decode(m.mms[0].pmd.read()) else {
        panic!("[model bug] the initial PMD split failed");
    };
    folio_get(&m.memmap, 0); // the migration caller's isolation reference
    let before = MappingSnapshot::take(&m);
    let m1 = m.clone();
    let migrator = spawn(move || migrate_huge_page(&m1, 0, 1));
    let m2 = m.clone();
    let pinner = spawn(move || gup_fast(&m2, 0, 1, Foll::Pin, true));
    let r = migrator.join();
    let got = pinner.join();
    record(
        outcomes,
        if r.is_ok() {
            MIGRATED
        } else {
            MIGRATION_EAGAIN
        },
    );
    if r.is_err() {
        folio_put(&m.memmap, 0, nr); // putback_movable_pages
    }
    match got {
        Some(fp) => {
            record(
                outcomes,
                if fp.folio == 0 {
                    GUP_PINNED_OLD_FOLIO
                } else {
                    GUP_PINNED_NEW_FOLIO
                },
            );
            let pte = Pte::decode(m.mms[0].tables[t].ptes[1].read());
            assert!(
                matches!(pte, Pte::Present { pfn, .. } if pfn == fp.page)
                    && m.memmap.page(fp.page).flags.test_bit(PG_ANON_EXCLUSIVE),
                "[{}] GUP-fast pinned page {} of folio {}, but after the migration mm0's pte[1] is {pte:?} (the pin no longer sees the process's page) or the page is not AnonExclusive",
                Inv::I16PinnedNotExclusive.tag(),
                fp.page,
                fp.folio
            );
            gup_put_folio(&m, fp.folio, 1, Foll::Pin);
        }
        None => record(outcomes, GUP_FAST_BACKED_OFF),
    }
    check_quiescent(&m, &[]);
    check_carried_over(&m, &before, Carry::MOVE);
}
