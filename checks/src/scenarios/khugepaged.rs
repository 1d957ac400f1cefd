//! Scenarios of khugepaged's collapse (mm/khugepaged.c `collapse_huge_page`) against GUP-fast
//! and faults.

use std::sync::Arc;

use thp_model::invariants::Inv;
use thp_model::kernel::{cpu_relax, spawn};
use thp_model::mm::gup::{gup_fast, gup_put_folio, Foll};
use thp_model::mm::khugepaged::{collapse_huge_page, ScanResult};
use thp_model::mm::memory::{do_anonymous_page, PteFault};
use thp_model::mm::zap::{zap_pmd_range, ZapRange};
use thp_model::mm::{check_carried_over, check_quiescent, Carry, Machine, MappingSnapshot};
use thp_model::mm::{Pmd, Pte};

use super::setup::*;
use super::{Outcomes, Scenario, DEFAULT};

/// This family's scenarios, in catalogue order.
pub const SCENARIOS: &[Scenario] = &[
    COLLAPSE_VS_GUP_FAST,
    COLLAPSE_THEN_ZAP_VS_GUP_FAST,
    COLLAPSE_VS_PTE_FAULT,
];

pub const COLLAPSE_OK: &str = "collapse-ok";
pub const COLLAPSE_OTHER_FAILURE: &str = "collapse-other-failure";
pub const COLLAPSE_PAGE_COUNT: &str = "collapse-page-count";
pub const FAULT_FELL_BACK_TO_MMAP_LOCK: &str = "fault-fell-back-to-mmap-lock";
pub const FAULT_FOUND_HUGE_PMD: &str = "fault-found-huge-pmd";
pub const FAULT_MAPPED_PTE: &str = "fault-mapped-pte";

pub const COLLAPSE_VS_GUP_FAST: Scenario = Scenario {
    name: "collapse-vs-gup-fast",
    description: "khugepaged collapse_huge_page of a table of small folios vs GUP-fast (FOLL_PIN|FOLL_WRITE) on sub-page 1 (historical race Z01)",
    threads: &["cpu1: collapse_huge_page (mmap_lock write, anon_vma write, pmdp_collapse_flush, sync, isolate, copy, set_pmd_at)", "cpu2: gup_fast(FOLL_PIN); (main) unpin_user_page"],
    must_reach: &[COLLAPSE_OK, COLLAPSE_PAGE_COUNT, GUP_PINNED_SMALL_PAGE, GUP_PINNED_HUGE_PMD, GUP_FELL_BACK],
    body: collapse_vs_gup_fast,
    ..DEFAULT
};
/// khugepaged `collapse_huge_page` of a PTE table of small folios ∥ GUP-fast (FOLL_PIN |
/// FOLL_WRITE) on sub-page 1 (historical race Z01).
fn collapse_vs_gup_fast(nr: usize, outcomes: &Outcomes) {
    let m = setup_small_ptes(nr);
    let before = MappingSnapshot::take(&m);
    let m1 = m.clone();
    let collapser = spawn(move || collapse_huge_page(&m1, 0, 0));
    let m2 = m.clone();
    let gup = spawn(move || gup_fast(&m2, 0, 1, Foll::Pin, true));
    let r = collapser.join();
    let got = gup.join();
    record_collapse(outcomes, r);
    record_pin(outcomes, &got);
    if let Some(fp) = got {
        check_pin_still_mapped(&m, &fp, 1);
        check_quiescent(&m, &[(fp.folio, pin_held(&m, fp.folio))]);
        gup_put_folio(&m, fp.folio, 1, Foll::Pin);
    }
    check_quiescent(&m, &[]);
    check_carried_over(&m, &before, Carry::MOVE);
}

pub const COLLAPSE_THEN_ZAP_VS_GUP_FAST: Scenario = Scenario {
    name: "collapse-then-zap-vs-gup-fast",
    description: "collapse_huge_page then MADV_DONTNEED of the new huge PMD (zap_huge_pmd frees the deposited old table at once) vs GUP-fast on sub-page 1 (Z01 follow-up)",
    threads: &["cpu1: collapse_huge_page; mmap_read_lock; zap_pmd_range(full)", "cpu2: gup_fast(FOLL_PIN); (main) unpin_user_page"],
    shuttle_nr: 2, // N = 4 is caught at PCT iteration 1402 of 2000 (seed 0) with the rule off; 2 at 234
    must_reach: &[COLLAPSE_OK, COLLAPSE_PAGE_COUNT, GUP_PINNED_SMALL_PAGE, GUP_FELL_BACK],
    body: collapse_then_zap_vs_gup_fast,
    ..DEFAULT
};
/// khugepaged `collapse_huge_page` followed by MADV_DONTNEED of the new huge PMD (whose
/// `zap_huge_pmd` frees the deposited table, the old PTE table, at once) ∥ GUP-fast on
/// sub-page 1, which may still be walking the old table (Z01 follow-up).
fn collapse_then_zap_vs_gup_fast(nr: usize, outcomes: &Outcomes) {
    let m = setup_small_ptes(nr);
    let before = MappingSnapshot::take(&m);
    let m1 = m.clone();
    let collapser = spawn(move || {
        let r = collapse_huge_page(&m1, 0, 0);
        let _r = m1.mms[0].mmap_lock.down_read();
        zap_pmd_range(&m1, 0, ZapRange::Full);
        r
    });
    let m2 = m.clone();
    let gup = spawn(move || gup_fast(&m2, 0, 1, Foll::Pin, true));
    let r = collapser.join();
    let got = gup.join();
    record_collapse(outcomes, r);
    record_pin(outcomes, &got);
    check_dontneed_unmapped(&m);
    if let Some(fp) = got {
        gup_put_folio(&m, fp.folio, 1, Foll::Pin);
    }
    check_quiescent(&m, &[]);
    check_carried_over(&m, &before, Carry::MOVE.and(Carry::UNMAP));
}

pub const COLLAPSE_VS_PTE_FAULT: Scenario = Scenario {
    name: "collapse-vs-pte-fault",
    description: "khugepaged collapse_huge_page of a table with sub-page 1 none vs a write fault on sub-page 1 under the per-VMA lock (lock_vma_under_rcu, else mmap_lock read), refaulting until mapped",
    threads: &["cpu1: collapse_huge_page (mmap_write_lock, vma_start_write, anon_vma write)", "cpu2: lock_vma_under_rcu or mmap_read_lock; do_anonymous_page(sub-page 1), refault until mapped"],
    must_reach: &[COLLAPSE_OK, FAULT_FOUND_HUGE_PMD, FAULT_MAPPED_PTE, FAULT_FELL_BACK_TO_MMAP_LOCK],
    body: collapse_vs_pte_fault,
    ..DEFAULT
};
/// khugepaged `collapse_huge_page` of a table whose sub-page 1 is none ∥ a write fault on
/// sub-page 1 under the per-VMA lock (`lock_vma_under_rcu`; falls back to `mmap_lock` read
/// while the collapse has the VMA write-locked), refaulting until the address is mapped.
/// Sub-page 1 ends up mapped either by its own PTE (the fault came first, then the collapse
/// gave up or copied it) or by the new huge PMD.
fn collapse_vs_pte_fault(nr: usize, outcomes: &Outcomes) {
    use thp_model::mm::mmap_lock::lock_vma_under_rcu;
    let m = setup_one_small_pte(nr, 2);
    let before = MappingSnapshot::take(&m);
    let m1 = m.clone();
    let collapser = spawn(move || collapse_huge_page(&m1, 0, 0));
    let m2 = m.clone();
    let faulter = spawn(move || {
        let mm = &m2.mms[0];
        let mut fell_back = false;
        for attempt in 0..4 {
            if matches!(Pmd::decode(mm.pmd.read()), Pmd::Huge { .. }) {
                return (true, fell_back); // the huge PMD maps it: a huge-PMD fault, done
            }
            let r = match lock_vma_under_rcu(mm) {
                Some(_v) => do_anonymous_page(&m2, 0, 1, nr + 1),
                None => {
                    fell_back = true;
                    let _r = mm.mmap_lock.down_read();
                    do_anonymous_page(&m2, 0, 1, nr + 1)
                }
            };
            if r == PteFault::Mapped {
                return (false, fell_back);
            }
            // The first retry is immediate: it may already read a later value (coherence),
            // and under loom a yield would forbid exploring it before another CPU steps.
            if attempt > 0 {
                cpu_relax();
            }
        }
        panic!(
            "[{}] the fault on sub-page 1 refaulted four times",
            Inv::I12PmdTransientlyNone.tag()
        );
    });
    let r = collapser.join();
    let (found_huge, fell_back) = faulter.join();
    record_collapse(outcomes, r);
    record(
        outcomes,
        if found_huge {
            FAULT_FOUND_HUGE_PMD
        } else {
            FAULT_MAPPED_PTE
        },
    );
    if fell_back {
        record(outcomes, FAULT_FELL_BACK_TO_MMAP_LOCK);
    }
    check_quiescent(&m, &[]);
    check_carried_over(&m, &before, Carry::MOVE);
    let mapped = match Pmd::decode(m.mms[0].pmd.read()) {
        Pmd::Huge { .. } => true,
        Pmd::Table(t) => Pte::decode(m.mms[0].tables[t].ptes[1].read()).present(),
        _ => false,
    };
    assert!(
        mapped,
        "[{}] sub-page 1 is not mapped after its fault returned",
        Inv::I4MapcountMismatch.tag()
    );
}

/// `nr` small anonymous folios (pfns nr..2nr) mapped by the PTEs of one table; memmap slot 0
/// is free for khugepaged's new huge folio.
fn setup_small_ptes(nr: usize) -> Arc<Machine> {
    let m = Arc::new(Machine::new(nr, 2, 1, 1));
    {
        let _r = m.mms[0].mmap_lock.down_read();
        for idx in 0..nr {
            assert!(
                do_anonymous_page(&m, 0, idx, nr + idx) == PteFault::Mapped,
                "[model bug] setup fault"
            );
        }
    }
    m
}

fn record_collapse(outcomes: &Outcomes, r: ScanResult) {
    record(
        outcomes,
        match r {
            ScanResult::Succeed => COLLAPSE_OK,
            ScanResult::PageCount => COLLAPSE_PAGE_COUNT,
            _ => COLLAPSE_OTHER_FAILURE,
        },
    );
}
