//! Scenarios of MADV_DONTNEED and MADV_FREE (mm/memory.c `zap_pmd_range`, PT_RECLAIM's
//! `try_to_free_pte`; mm/madvise.c `madvise_free_pte_range`) against faults, GUP-fast, PMD
//! modifiers and splits.
//!
//! PT_RECLAIM exists only on x86-64 in 6.18 (only arch/x86 selects ARCH_SUPPORTS_PT_RECLAIM),
//! so its three scenarios run on `x86-64-kvm`: x86 page tables and locks, with the KVM guest's
//! paravirtual TLB flush, which does not wait for a preempted vCPU's IRQs-off section. On bare
//! x86-64 the flush IPI alone would hold off the table free (a test pins both). The PMD maps a
//! PTE table because the VMA is not THP-eligible, or its huge fault fell back.

use std::sync::Arc;

use thp_model::invariants::Inv;
use thp_model::kernel::spawn;
use thp_model::kernel::Arch;
use thp_model::mm::gup::{gup_fast, gup_put_folio, Foll};
use thp_model::mm::huge_memory::__split_huge_pmd;
use thp_model::mm::huge_memory::change_huge_pmd;
use thp_model::mm::madvise::madvise_free_pte_range;
use thp_model::mm::memory::{do_anonymous_page, PteFault};
use thp_model::mm::zap::{zap_pmd_range, ZapRange, Zapped};
use thp_model::mm::Pmd;
use thp_model::mm::{check_carried_over, check_quiescent, Carry, Machine, MappingSnapshot};

use super::setup::*;
use super::{Outcomes, Scenario, DEFAULT};

/// This family's scenarios, in catalogue order.
pub const SCENARIOS: &[Scenario] = &[
    PTE_FAULT_VS_DONTNEED_RECLAIM,
    PMD_INSTALL_VS_DONTNEED_RECLAIM,
    GUP_FAST_VS_DONTNEED_RECLAIM,
    SPLIT_PMD_VS_DONTNEED,
    DONTNEED_VS_CHANGE_HUGE_PMD,
    MADVISE_FREE_VS_DONTNEED,
    MADVISE_FREE_SPLIT_VS_ZAP,
];

pub const CHANGED_BEFORE_ZAP: &str = "changed-before-zap";
pub const CHANGED_NOTHING: &str = "changed-nothing";
pub const FAULT_MAPPED_IN_LIVE_TABLE: &str = "fault-mapped-in-live-table";
pub const FAULT_MAPPED_THEN_RECLAIMED: &str = "fault-mapped-then-reclaimed";
pub const FAULT_REFAULTED: &str = "fault-refaulted";
pub const FELL_BACK_TABLE_KEPT: &str = "fell-back-table-kept";
pub const FELL_BACK_THEN_RECLAIMED: &str = "fell-back-then-reclaimed";
pub const GUP_GOT: &str = "gup-got";
pub const LAZYFREE_BEFORE_ZAP: &str = "lazyfree-before-zap";
pub const LAZYFREE_NOTHING: &str = "lazyfree-nothing";
pub const MADV_FREE_LAZYFREE_PTE: &str = "madv-free-lazyfree-pte";
pub const MADV_FREE_NOTHING: &str = "madv-free-nothing";
pub const FAULT_OTHER: &str = "other";
pub const PMD_LOCK_BUSY_FELL_BACK: &str = "pmd-lock-busy-fell-back";
pub const TABLE_RECLAIMED: &str = "table-reclaimed";
pub const ZAP_SAW_NONE_PMD: &str = "zap-saw-none-pmd";

pub const PTE_FAULT_VS_DONTNEED_RECLAIM: Scenario = Scenario {
    name: "pte-fault-vs-dontneed-reclaim",
    description: "MADV_DONTNEED of the whole PMD with PT_RECLAIM (table -> none, RCU-deferred free) vs do_anonymous_page on another sub-page",
    threads: &["cpu1: mmap_read_lock; zap_pmd_range(full); try_to_free_pte", "cpu2: mmap_read_lock; do_anonymous_page (sub-page 1)"],
    must_reach: &[FAULT_MAPPED_IN_LIVE_TABLE, FAULT_REFAULTED, TABLE_RECLAIMED],
    body: pte_fault_vs_dontneed_reclaim,
    arch: Arch::X86Kvm,
    ..DEFAULT
};
/// MADV_DONTNEED of the whole PMD, which empties the PTE table and reclaims it (PT_RECLAIM:
/// `try_get_and_clear_pmd`, or `try_to_free_pte` if the PMD lock is busy; table → none,
/// RCU-deferred free) ∥ a small-page fault on another sub-page that mapped the table before it
/// went away.
fn pte_fault_vs_dontneed_reclaim(nr: usize, outcomes: &Outcomes) {
    let m = setup_one_small_pte(nr, 3);
    dontneed_reclaim_vs_pte_fault(&m, 2 * nr, outcomes);
}

pub const PMD_INSTALL_VS_DONTNEED_RECLAIM: Scenario = Scenario {
    name: "pmd-install-vs-dontneed-reclaim",
    description: "MADV_DONTNEED of the whole PMD with PT_RECLAIM vs do_anonymous_page installing the PTE table on an empty PMD (pmd_install, under the PMD lock): try_get_and_clear_pmd's trylock can fail and fall back to try_to_free_pte",
    threads: &["cpu1: mmap_read_lock; zap_pmd_range(full); try_get_and_clear_pmd or try_to_free_pte", "cpu2: mmap_read_lock; do_anonymous_page (sub-page 1): __pte_alloc, pmd_install"],
    must_reach: &[ZAP_SAW_NONE_PMD, FAULT_MAPPED_IN_LIVE_TABLE, FAULT_REFAULTED, FAULT_MAPPED_THEN_RECLAIMED, TABLE_RECLAIMED, PMD_LOCK_BUSY_FELL_BACK, FELL_BACK_THEN_RECLAIMED, FELL_BACK_TABLE_KEPT],
    shuttle_may_miss: &[FELL_BACK_TABLE_KEPT],
    body: pmd_install_vs_dontneed_reclaim,
    arch: Arch::X86Kvm,
    ..DEFAULT
};
/// [`pte_fault_vs_dontneed_reclaim`] from an empty PMD (one free PTE table): the fault goes
/// `__pte_alloc` → `pmd_install`, which populates the PMD under the PMD lock. A zap whose
/// lockless read already sees the new table, while the faulter still holds the PMD lock, finds
/// `try_get_and_clear_pmd`'s `spin_trylock` busy and falls back to `try_to_free_pte` (PMD lock,
/// PTE lock nested, every PTE re-checked none), which frees the table unless the fault mapped
/// its PTE first.
fn pmd_install_vs_dontneed_reclaim(nr: usize, outcomes: &Outcomes) {
    let m = Arc::new(Machine::new(nr, 1, 1, 1));
    let z = dontneed_reclaim_vs_pte_fault(&m, 0, outcomes);
    if z.skipped_none {
        record(outcomes, ZAP_SAW_NONE_PMD);
    }
    if m.observed(PMD_LOCK_BUSY_FELL_BACK) {
        record(outcomes, PMD_LOCK_BUSY_FELL_BACK);
        record(
            outcomes,
            if Pmd::decode(m.mms[0].pmd.read()).none() {
                FELL_BACK_THEN_RECLAIMED
            } else {
                FELL_BACK_TABLE_KEPT
            },
        );
    }
}

pub const GUP_FAST_VS_DONTNEED_RECLAIM: Scenario = Scenario {
    name: "gup-fast-vs-dontneed-reclaim",
    description: "MADV_DONTNEED of the whole PMD reclaiming the PTE table (try_to_free_pte) vs GUP-fast walking that table with IRQs off",
    threads: &["cpu1: mmap_read_lock; zap_pmd_range(full); try_to_free_pte", "cpu2: gup_fast(FOLL_GET, sub-page 0); put"],
    must_reach: &[GUP_GOT, GUP_FELL_BACK, TABLE_RECLAIMED],
    body: gup_fast_vs_dontneed_reclaim,
    arch: Arch::X86Kvm,
    ..DEFAULT
};
/// MADV_DONTNEED of the whole PMD that reclaims the emptied PTE table (`try_to_free_pte`) ∥
/// GUP-fast on sub-page 0, which walks that table with IRQs off and no lock.
fn gup_fast_vs_dontneed_reclaim(nr: usize, outcomes: &Outcomes) {
    let m = Arc::new(Machine::new(nr, 2, 1, 1));
    {
        let _r = m.mms[0].mmap_lock.down_read();
        assert!(
            do_anonymous_page(&m, 0, 0, nr) == PteFault::Mapped,
            "[model bug] setup fault"
        );
    }
    let before = MappingSnapshot::take(&m);
    let m1 = m.clone();
    let zapper = spawn(move || {
        let _r = m1.mms[0].mmap_lock.down_read();
        zap_pmd_range(&m1, 0, ZapRange::Full)
    });
    let m2 = m.clone();
    let gup = spawn(move || {
        let r = gup_fast(&m2, 0, 0, Foll::Get, false);
        if let Some(fp) = r {
            gup_put_folio(&m2, fp.folio, 1, Foll::Get);
        }
        r.is_some()
    });
    zapper.join();
    record(outcomes, if gup.join() { GUP_GOT } else { GUP_FELL_BACK });
    if Pmd::decode(m.mms[0].pmd.read()).none() {
        record(outcomes, TABLE_RECLAIMED);
    }
    check_quiescent(&m, &[]);
    check_carried_over(&m, &before, Carry::UNMAP);
}

pub const SPLIT_PMD_VS_DONTNEED: Scenario = Scenario {
    name: "split-pmd-vs-dontneed",
    description: "an rmap-driven split_huge_pmd (no mmap_lock) vs MADV_DONTNEED of the whole PMD (zap_pmd_range, mmap_lock read)",
    threads: &["cpu1: __split_huge_pmd (rmap walk: no mmap_lock)", "cpu2: mmap_read_lock; zap_pmd_range(full); check unmapped"],
    must_reach: &[ZAPPED_HUGE_PMD, ZAPPED_PRESENT_PTES],
    body: split_pmd_vs_dontneed,
    ..DEFAULT
};
/// An rmap-driven `split_huge_pmd` (no mmap lock) ∥ MADV_DONTNEED of the whole PMD
/// (`zap_pmd_range`, mmap_lock read).
fn split_pmd_vs_dontneed(nr: usize, outcomes: &Outcomes) {
    let m = setup_huge_pmd(nr);
    let before = MappingSnapshot::take(&m);
    let m1 = m.clone();
    let splitter = spawn(move || __split_huge_pmd(&m1, 0, false));
    let zapper = spawn_dontneed(&m);
    splitter.join();
    let z = zapper.join();
    record_zap(outcomes, &z);
    check_dontneed_unmapped(&m); // nobody may re-map the range after the zap returned
    check_quiescent(&m, &[]);
    check_carried_over(&m, &before, Carry::UNMAP);
}

pub const DONTNEED_VS_CHANGE_HUGE_PMD: Scenario = Scenario {
    name: "dontneed-vs-change-huge-pmd",
    description: "change_huge_pmd (NUMA hinting, mmap_lock read) vs MADV_DONTNEED of the whole PMD (historical race Z02)",
    threads: &["cpu1: mmap_read_lock; change_huge_pmd", "cpu2: mmap_read_lock; zap_pmd_range(full); check unmapped"],
    must_reach: &[ZAPPED_HUGE_PMD, CHANGED_BEFORE_ZAP, CHANGED_NOTHING],
    body: dontneed_vs_change_huge_pmd,
    ..DEFAULT
};
/// `change_huge_pmd` (NUMA hinting, mmap_lock read) ∥ MADV_DONTNEED of the whole PMD.
fn dontneed_vs_change_huge_pmd(nr: usize, outcomes: &Outcomes) {
    modifier_vs_dontneed(
        nr,
        outcomes,
        |m| change_huge_pmd(m, 0),
        CHANGED_BEFORE_ZAP,
        CHANGED_NOTHING,
    );
}

pub const MADVISE_FREE_VS_DONTNEED: Scenario = Scenario {
    name: "madvise-free-vs-dontneed",
    description: "MADV_FREE of a whole huge PMD (madvise_free_huge_pmd marks it old and clean) vs MADV_DONTNEED of the whole PMD (historical race Z02, MADV_FREE form)",
    threads: &["cpu1: mmap_read_lock; madvise_free_pte_range(full)", "cpu2: mmap_read_lock; zap_pmd_range(full); check unmapped"],
    must_reach: &[ZAPPED_HUGE_PMD, LAZYFREE_BEFORE_ZAP, LAZYFREE_NOTHING],
    body: madvise_free_vs_dontneed,
    ..DEFAULT
};
/// MADV_FREE of the whole huge PMD (`madvise_free_huge_pmd`: mark it old and clean) ∥
/// MADV_DONTNEED of the whole PMD, both under mmap_lock read (historical race Z02, the MADV_FREE
/// form, 58ceeb6bec86).
fn madvise_free_vs_dontneed(nr: usize, outcomes: &Outcomes) {
    modifier_vs_dontneed(
        nr,
        outcomes,
        |m| madvise_free_pte_range(m, 0, ZapRange::Full) > 0,
        LAZYFREE_BEFORE_ZAP,
        LAZYFREE_NOTHING,
    );
}

pub const MADVISE_FREE_SPLIT_VS_ZAP: Scenario = Scenario {
    name: "madvise-free-split-vs-zap",
    test_loom_bound: Some(3), // the suite's search (docs/performance.md)
    description: "MADV_FREE of sub-page 1 of a PMD-mapped THP (madvise_free_huge_pmd: folio_trylock and folio_get under the PMD lock, then split_folio) vs MADV_DONTNEED of the whole PMD",
    threads: &["cpu1: mmap_read_lock; madvise_free_pte_range(sub-page 1): split_folio", "cpu2: mmap_read_lock; zap_pmd_range(full); check unmapped"],
    loom_bound: Some(4), // 3: 28,934 executions, 4 s; none: > 900,000 in 120 s
    must_reach: &[MADV_FREE_SPLIT_OK, MADV_FREE_SPLIT_FAILED, MADV_FREE_NOTHING, ZAPPED_HUGE_PMD, ZAPPED_PRESENT_PTES],
    body: madvise_free_split_vs_zap,
    ..DEFAULT
};
/// MADV_FREE of sub-page 1 of a PMD-mapped THP (`madvise_free_huge_pmd` splits the folio:
/// trylock and reference under the PMD lock, then `split_folio` without it) ∥ MADV_DONTNEED of
/// the whole PMD. Every page must end freed: nothing maps the range, nobody keeps a reference.
fn madvise_free_split_vs_zap(nr: usize, outcomes: &Outcomes) {
    let m = setup_huge_pmd(nr);
    let before = MappingSnapshot::take(&m);
    let m1 = m.clone();
    let freer = spawn(move || {
        let _r = m1.mms[0].mmap_lock.down_read();
        madvise_free_pte_range(&m1, 0, ZapRange::Page(1))
    });
    let zapper = spawn_dontneed(&m);
    freer.join();
    let z = zapper.join();
    record_zap(outcomes, &z);
    record_observed(
        outcomes,
        &m,
        &[
            MADV_FREE_SPLIT_OK,
            MADV_FREE_SPLIT_FAILED,
            MADV_FREE_LAZYFREE_PTE,
        ],
    );
    if !m.observed(MADV_FREE_SPLIT_OK) && !m.observed(MADV_FREE_SPLIT_FAILED) {
        record(outcomes, MADV_FREE_NOTHING);
    }
    check_dontneed_unmapped(&m);
    check_freed(
        &m,
        0..=nr - 1,
        Inv::I11SplitEndsClean,
        "still allocated after MADV_FREE and MADV_DONTNEED of the whole range finished",
    );
    check_quiescent(&m, &[]);
    check_carried_over(&m, &before, Carry::LAZYFREE.and(Carry::UNMAP));
}

/// A CPU that MADV_DONTNEEDs the whole PMD of mm0 under mmap_lock read and then checks,
/// still under the lock (so nothing can fault it back), that the range is unmapped.
fn spawn_dontneed(m: &Arc<Machine>) -> thp_model::kernel::JoinHandle<Zapped> {
    let m2 = m.clone();
    spawn(move || {
        let _r = m2.mms[0].mmap_lock.down_read();
        let z = zap_pmd_range(&m2, 0, ZapRange::Full);
        check_dontneed_unmapped(&m2);
        z
    })
}

/// A PMD modifier `modify` running under mmap_lock read ∥ MADV_DONTNEED of the whole PMD
/// (historical race Z02): the zap must not miss the PMD. Records `did` or `did_nothing` after
/// what `modify` returned.
fn modifier_vs_dontneed(
    nr: usize,
    outcomes: &Outcomes,
    modify: fn(&Machine) -> bool,
    did: &'static str,
    did_nothing: &'static str,
) {
    let m = setup_huge_pmd(nr);
    let before = MappingSnapshot::take(&m);
    let m1 = m.clone();
    let modifier = spawn(move || {
        let _r = m1.mms[0].mmap_lock.down_read();
        modify(&m1)
    });
    let zapper = spawn_dontneed(&m);
    let changed = modifier.join();
    let z = zapper.join();
    record_zap(outcomes, &z);
    check_dontneed_unmapped(&m); // nobody may re-map the range after the zap returned
    record(outcomes, if changed { did } else { did_nothing });
    check_quiescent(&m, &[]);
    check_carried_over(&m, &before, Carry::UNMAP);
}

/// MADV_DONTNEED of the whole PMD with PT_RECLAIM (`zap_pmd_range`) ∥ `do_anonymous_page` of
/// sub-page 1 with the free page `pfn`, both under mmap_lock read, on `m`. Records how the fault
/// ended against the final PMD, checks the whole state, and returns what the zap did.
fn dontneed_reclaim_vs_pte_fault(m: &Arc<Machine>, pfn: usize, outcomes: &Outcomes) -> Zapped {
    let before = MappingSnapshot::take(m);
    let m1 = m.clone();
    let zapper = spawn(move || {
        let _r = m1.mms[0].mmap_lock.down_read();
        zap_pmd_range(&m1, 0, ZapRange::Full)
    });
    let m2 = m.clone();
    let faulter = spawn(move || {
        let _r = m2.mms[0].mmap_lock.down_read();
        do_anonymous_page(&m2, 0, 1, pfn)
    });
    let z = zapper.join();
    let f = faulter.join();
    let pmd = Pmd::decode(m.mms[0].pmd.read());
    record(
        outcomes,
        match (f, pmd) {
            (PteFault::Mapped, Pmd::Table(_)) => FAULT_MAPPED_IN_LIVE_TABLE,
            (PteFault::Refault, _) => FAULT_REFAULTED,
            (PteFault::Mapped, Pmd::None) => FAULT_MAPPED_THEN_RECLAIMED,
            _ => FAULT_OTHER,
        },
    );
    if pmd.none() {
        record(outcomes, TABLE_RECLAIMED);
    }
    let held: Vec<(usize, i32)> = Vec::new();
    check_quiescent(m, &held);
    check_carried_over(m, &before, Carry::UNMAP);
    z
}
