//! Memory failure: `memory_failure` on a raw tail pfn of a THP (mm/memory-failure.c), which
//! marks the page poisoned before it holds any reference and then splits the folio itself,
//! against a split of the same folio by another CPU.

use thp_model::invariants::Inv;
use thp_model::kernel::spawn;
use thp_model::mm::memory_failure::{memory_failure, MemoryFailure};
use thp_model::mm::page::PG_HWPOISON;
use thp_model::mm::page_ref::{folio_get, folio_put_small_or_large};
use thp_model::mm::{check_carried_over, check_quiescent, Carry, MappingSnapshot};
use thp_model::rules::Rule;
use thp_model::vm_bug_on;

use super::setup::*;
use super::{Outcomes, Scenario, DEFAULT};

/// This family's scenarios, in catalogue order.
pub const SCENARIOS: &[Scenario] = &[MEMORY_FAILURE_VS_SPLIT];

pub const MF_ALREADY_POISONED: &str = "mf-already-poisoned";
pub const MF_NO_REFERENCE: &str = "mf-no-reference";
pub const MF_SPLIT_BY_MEMORY_FAILURE: &str = "mf-split-by-memory-failure";
pub const MF_SMALL_PAGE: &str = "mf-small-page";
pub const MF_UNSPLIT_THP: &str = "mf-unsplit-thp";

/// memory_failure on the last tail of a PMD-mapped THP ∥ `split_huge_page` of that THP by a
/// caller holding a reference and the folio lock (any splitter: the deferred split shrinker,
/// a partial munmap's queue, debugfs). memory_failure's `TestSetPageHWPoison` on the tail
/// needs no reference, so it may land while the split rewrites the tail's flags word.
/// Runs with the candidate fix of finding F5; `--break split-tail-flags-set-mask-bits` runs
/// 6.18.2 as released, where the poison bit is lost.
pub const MEMORY_FAILURE_VS_SPLIT: Scenario = Scenario {
    name: "memory-failure-vs-split",
    description: "memory_failure on a tail pfn of a PMD-mapped THP (TestSetPageHWPoison without a reference, get_hwpoison_page, try_to_split_thp_page) vs split_huge_page of the THP by another CPU, with the candidate fix of finding F5 (the split updates a tail's flags atomically): the poison bit must survive",
    threads: &[
        "cpu1: folio_lock; split_huge_page; folio_unlock; folio_put",
        "cpu2: memory_failure(tail pfn); (main) folio_put",
    ],
    // bound 5: holds, 796,672 executions, 86 s; none: more than 5 minutes
    loom_bound: Some(4),
    fixes: &[Rule::SplitTailFlagsSetMaskBits],
    must_reach: &[
        SPLIT_OK,
        SPLIT_EAGAIN,
        MF_SPLIT_BY_MEMORY_FAILURE,
        MF_SMALL_PAGE,
        MF_NO_REFERENCE,
        MF_UNSPLIT_THP,
    ],
    body: memory_failure_vs_split,
    ..DEFAULT
};
fn memory_failure_vs_split(nr: usize, outcomes: &Outcomes) {
    let m = setup_huge_pmd(nr);
    folio_get(&m.memmap, 0); // the splitter's caller reference
    let before = MappingSnapshot::take(&m);
    let pfn = nr - 1;
    let m1 = m.clone();
    let splitter = spawn(move || split_caller(&m1));
    let m2 = m.clone();
    let mf = spawn(move || memory_failure(&m2, pfn));
    let split = splitter.join();
    let r = mf.join();
    record_split(outcomes, &split);
    // memory_failure set the bit (the page was not poisoned before): it must still be set.
    vm_bug_on!(
        r != MemoryFailure::AlreadyPoisoned && !m.memmap.page(pfn).flags.test_bit(PG_HWPOISON),
        Inv::I28HwPoisonLost,
        "memory_failure marked pfn {pfn} poisoned ({r:?}); the mark is gone"
    );
    record(
        outcomes,
        match r {
            MemoryFailure::AlreadyPoisoned => MF_ALREADY_POISONED,
            MemoryFailure::NoReference => MF_NO_REFERENCE,
            MemoryFailure::UnsplitThp => MF_UNSPLIT_THP,
            MemoryFailure::Handled(f) => {
                vm_bug_on!(
                    f != pfn,
                    Inv::I7RecheckAfterGet,
                    "memory_failure holds a reference on folio {f}, which does not contain pfn {pfn}"
                );
                folio_put_small_or_large(&m, f);
                if split.is_ok() {
                    MF_SMALL_PAGE
                } else {
                    MF_SPLIT_BY_MEMORY_FAILURE
                }
            }
        },
    );
    check_quiescent(&m, &[]);
    check_carried_over(&m, &before, Carry::ALL);
}
