//! Scenarios of the page faults (mm/memory.c `do_anonymous_page`, `pmd_install`;
//! mm/huge_memory.c `do_huge_pmd_anonymous_page`) against each other and a walker.

use std::sync::Arc;

use thp_model::invariants::Inv;
use thp_model::kernel::spawn;
use thp_model::mm::gup::{follow_pmd_mask, Follow};
use thp_model::mm::huge_memory::{do_huge_pmd_anonymous_page, FaultResult};
use thp_model::mm::memory::{do_anonymous_page, PteFault};
use thp_model::mm::Pte;
use thp_model::mm::{check_carried_over, check_quiescent, Carry, Machine, MappingSnapshot};

use super::setup::*;
use super::{Outcomes, Scenario, DEFAULT};

/// This family's scenarios, in catalogue order.
pub const SCENARIOS: &[Scenario] = &[HUGE_FAULT_VS_PTE_FAULT, PTE_FAULT_VS_WALKER];

pub const HUGE_WON: &str = "huge-won";
pub const PTE_WON: &str = "pte-won";
pub const WALKER_SAW_EMPTY_PTE: &str = "walker-saw-empty-pte";
pub const WALKER_SAW_NONE_PMD: &str = "walker-saw-none-pmd";

pub const HUGE_FAULT_VS_PTE_FAULT: Scenario = Scenario {
    name: "huge-fault-vs-pte-fault",
    description: "do_huge_pmd_anonymous_page vs do_anonymous_page (pte_alloc/pmd_install) on the same empty PMD, both under mmap_lock read",
    threads: &["cpu1: mmap_read_lock; do_huge_pmd_anonymous_page", "cpu2: mmap_read_lock; do_anonymous_page (sub-page 1)"],
    must_reach: &[HUGE_WON, PTE_WON],
    body: huge_fault_vs_pte_fault,
    ..DEFAULT
};
/// A write fault taking the huge path (`do_huge_pmd_anonymous_page`) ∥ a fault on the same
/// PMD taking the small-page path (`do_anonymous_page`, e.g. after the THP allocation failed),
/// both under `mmap_lock` read.
fn huge_fault_vs_pte_fault(nr: usize, outcomes: &Outcomes) {
    let m = Arc::new(Machine::new(nr, 2, 1, 2));
    let before = MappingSnapshot::take(&m);
    let m1 = m.clone();
    let huge = spawn(move || {
        let _r = m1.mms[0].mmap_lock.down_read();
        do_huge_pmd_anonymous_page(&m1, 0, 0)
    });
    let m2 = m.clone();
    let small = spawn(move || {
        let _r = m2.mms[0].mmap_lock.down_read();
        do_anonymous_page(&m2, 0, 1, nr)
    });
    let h = huge.join();
    let p = small.join();
    match (h, p) {
        (FaultResult::Done, PteFault::Refault) => record(outcomes, HUGE_WON),
        (FaultResult::Refault, PteFault::Mapped) => record(outcomes, PTE_WON),
        (h, p) => panic!(
            "[{}] huge fault {h:?} and PTE fault {p:?} on one empty PMD: exactly one must install",
            Inv::I4MapcountMismatch.tag()
        ),
    }
    check_quiescent(&m, &[]);
    check_carried_over(&m, &before, Carry::ALL);
}

pub const PTE_FAULT_VS_WALKER: Scenario = Scenario {
    name: "pte-fault-vs-walker",
    description: "do_anonymous_page installing a recycled PTE table (pmd_install) vs follow_pmd_mask on another sub-page",
    threads: &["cpu1: mmap_read_lock; do_anonymous_page (sub-page 0)", "cpu2: mmap_read_lock; follow_pmd_mask(FOLL_GET, sub-page 1)"],
    must_reach: &[WALKER_SAW_NONE_PMD, WALKER_SAW_EMPTY_PTE],
    body: pte_fault_vs_walker,
    ..DEFAULT
};
/// A small-page fault that installs a fresh PTE table (`pte_alloc` → `pmd_install`) ∥ a
/// lockless-then-locked walker (`follow_pmd_mask` → `follow_page_pte`) on another sub-page.
/// The table page is recycled: it still holds a stale PTE from its previous life until
/// `pte_alloc_one` zeroes it.
fn pte_fault_vs_walker(nr: usize, outcomes: &Outcomes) {
    let m = Arc::new(Machine::new(nr, 2, 1, 1));
    // The recycled table's previous contents: a PTE for a page that is now free.
    m.mms[0].tables[0].ptes[1].set(
        Pte::Present {
            pfn: nr + 1,
            flags: 0,
        }
        .encode(),
    );
    let before = MappingSnapshot::take(&m);
    let m1 = m.clone();
    let faulter = spawn(move || {
        let _r = m1.mms[0].mmap_lock.down_read();
        do_anonymous_page(&m1, 0, 0, nr)
    });
    let m2 = m.clone();
    let walker = spawn(move || {
        let _r = m2.mms[0].mmap_lock.down_read();
        follow_pmd_mask(&m2, 0, 1)
    });
    let f = faulter.join();
    let w = walker.join();
    assert!(
        f == PteFault::Mapped,
        "[model bug] the only fault failed: {f:?}"
    );
    match w {
        Follow::NoPmd => record(outcomes, WALKER_SAW_NONE_PMD),
        Follow::NoPage => record(outcomes, WALKER_SAW_EMPTY_PTE),
        other => thp_model::model_bug!("walker found {other:?} at an unmapped address"),
    }
    check_quiescent(&m, &[]);
    check_carried_over(&m, &before, Carry::ALL);
}
