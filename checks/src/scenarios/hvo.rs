//! Scenarios of HugeTLB vmemmap optimization (mm/hugetlb_vmemmap.c
//! `hugetlb_vmemmap_optimize_folio`, `hugetlb_vmemmap_restore_folio`) against a speculative
//! `get_page_unless_zero`.

use std::sync::Arc;

use thp_model::invariants::Inv;
use thp_model::kernel::spawn;
use thp_model::mm::hugetlb_vmemmap::{
    check_folio_view, check_mapping, get_page_unless_zero, hugetlb_vmemmap_optimize_folio,
    hugetlb_vmemmap_restore_folio, vmemmap_remap_split, AllocFail, Hvo, NotWritable, PmdSplit,
    SpecGet, SpecGetResult, STRUCT_PAGES_PER_VMEMMAP_PAGE,
};

use super::setup::*;
use super::{Outcomes, Scenario, DEFAULT};

/// This family's scenarios, in catalogue order.
pub const SCENARIOS: &[Scenario] = &[
    HVO_OPTIMIZE_VS_PFN_WALKER,
    HVO_OPTIMIZE_VS_NEIGHBOUR_SPLIT,
    HVO_OPTIMIZE_PRESPLIT_VS_PFN_WALKER,
    HVO_OPTIMIZE_NOCOPY_VS_PFN_WALKER,
    HVO_OPTIMIZE_ENOMEM_SPLIT_VS_PFN_WALKER,
    HVO_OPTIMIZE_ENOMEM_VS_PFN_WALKER,
    HVO_RESTORE_VS_PFN_WALKER,
    HVO_RESTORE_ENOMEM_VS_PFN_WALKER,
];

pub const NEIGHBOUR_FOUND_IT_SPLIT: &str = "neighbour-found-it-split";
pub const NEIGHBOUR_LOST_THE_RACE: &str = "neighbour-lost-the-race";
pub const NEIGHBOUR_SPLIT_THE_PMD: &str = "neighbour-split-the-pmd";
pub const OPTIMIZE_ENOMEM: &str = "optimize-enomem";
pub const RESTORE_ENOMEM: &str = "restore-enomem";
pub const WALKER_COUNT_ZERO: &str = "walker-count-zero";
pub const WALKER_FAKE_HEAD: &str = "walker-fake-head";
pub const WALKER_GOT_REF: &str = "walker-got-ref";
pub const WALKER_KEY_OFF: &str = "walker-key-off";
pub const WALKER_READ_ORIGINAL_PAGE: &str = "walker-read-original-page";
pub const WALKER_READ_RESTORED_PAGE: &str = "walker-read-restored-page";
pub const WALKER_READ_REUSE_PAGE: &str = "walker-read-reuse-page";

pub const HVO_OPTIMIZE_VS_PFN_WALKER: Scenario = Scenario {
    name: "hvo-optimize-vs-pfn-walker",
    description: "hugetlb_vmemmap_optimize_folio (split the vmemmap PMD, remap tails read-only) then folio_ref_unfreeze vs a speculative get_page_unless_zero on the future fake head (Z09); nr = struct pages",
    threads: &["cpu1: hugetlb_vmemmap_optimize_folio; folio_ref_unfreeze(1)", "cpu2: get_page_unless_zero(pfn 2): rcu_read_lock; page_count_writable; atomic_add_unless"],
    loom_nr: 4,
    min_subpages: 4,
    must_reach: &[WALKER_KEY_OFF, WALKER_COUNT_ZERO, WALKER_FAKE_HEAD, WALKER_READ_ORIGINAL_PAGE, WALKER_READ_REUSE_PAGE],
    body: hvo_optimize_vs_pfn_walker,
    ..DEFAULT
};
/// `hugetlb_vmemmap_optimize_folio` of a frozen HugeTLB folio, then `folio_ref_unfreeze(1)`
/// (it leaves the pool) ∥ a speculative `get_page_unless_zero` on pfn 2 (historical race Z09).
/// `nr` struct pages: 4 = two vmemmap pages under one vmemmap PMD, a leaf until HVO splits it.
fn hvo_optimize_vs_pfn_walker(nr: usize, outcomes: &Outcomes) {
    hvo_optimize_vs_walker(nr, outcomes, false)
}

pub const HVO_OPTIMIZE_VS_NEIGHBOUR_SPLIT: Scenario = Scenario {
    name: "hvo-optimize-vs-neighbour-split",
    description: "hugetlb_vmemmap_optimize_folio then folio_ref_unfreeze vs a neighbouring folio's batch pre-split (vmemmap_remap_split) of the shared, still-leaf vmemmap PMD",
    threads: &["cpu1: hugetlb_vmemmap_optimize_folio; folio_ref_unfreeze(1)", "cpu2: vmemmap_remap_split (neighbour folio, same vmemmap PMD)"],
    loom_nr: 4,
    min_subpages: 4,
    must_reach: &[NEIGHBOUR_SPLIT_THE_PMD, NEIGHBOUR_LOST_THE_RACE, NEIGHBOUR_FOUND_IT_SPLIT],
    body: hvo_optimize_vs_neighbour_split,
    ..DEFAULT
};
/// `hugetlb_vmemmap_optimize_folio` then `folio_ref_unfreeze(1)` ∥ the batch pre-split
/// (`vmemmap_remap_split`) of a neighbouring folio whose vmemmap shares the (leaf) vmemmap PMD.
/// Exactly one table may end up populated, holding this folio's remaps.
fn hvo_optimize_vs_neighbour_split(nr: usize, outcomes: &Outcomes) {
    let hv = Arc::new(Hvo::new(nr, nr, AllocFail::None, false));
    let h1 = hv.clone();
    let optimizer = spawn(move || {
        let r = hugetlb_vmemmap_optimize_folio(&h1);
        h1.folio_ref_unfreeze(1);
        r
    });
    let h2 = hv.clone();
    let neighbour = spawn(move || vmemmap_remap_split(&h2));
    let r = optimizer.join();
    let n = neighbour.join();
    assert!(
        r.is_ok(),
        "[model bug] optimize without injected failure: {r:?}"
    );
    let n = n.unwrap_or_else(|e| thp_model::model_bug!("neighbour split failed: {e:?}"));
    for split in n {
        record(
            outcomes,
            match split {
                PmdSplit::Populated => NEIGHBOUR_SPLIT_THE_PMD,
                PmdSplit::LostRace => NEIGHBOUR_LOST_THE_RACE,
                PmdSplit::AlreadySplit => NEIGHBOUR_FOUND_IT_SPLIT,
            },
        );
    }
    check_folio_view(&hv, 1);
    check_mapping(&hv);
    let tables = hv.tables.iter().filter(|t| t.allocated.read()).count();
    assert!(
        tables == hv.pmds.len(),
        "[{}] {tables} vmemmap PTE tables allocated for {} split PMDs: a table leaked",
        Inv::I17TableLifetime.tag(),
        hv.pmds.len()
    );
}

pub const HVO_OPTIMIZE_PRESPLIT_VS_PFN_WALKER: Scenario = Scenario {
    name: "hvo-optimize-presplit-vs-pfn-walker",
    description: "hvo-optimize-vs-pfn-walker with the vmemmap PMD already split into PTEs (batch form / neighbour's HVO): only vmemmap_remap_pte's smp_wmb publishes the head copy",
    threads: &["cpu1: hugetlb_vmemmap_optimize_folio; folio_ref_unfreeze(1)", "cpu2: get_page_unless_zero(pfn 2)"],
    loom_nr: 4,
    min_subpages: 4,
    must_reach: &[WALKER_KEY_OFF, WALKER_COUNT_ZERO, WALKER_FAKE_HEAD, WALKER_READ_ORIGINAL_PAGE, WALKER_READ_REUSE_PAGE],
    body: hvo_optimize_presplit_vs_pfn_walker,
    ..DEFAULT
};
/// As `hvo_optimize_vs_pfn_walker`, with the vmemmap PMD already split (the batch form splits
/// every PMD first; or a neighbour's HVO did): no split barrier publishes the head copy.
fn hvo_optimize_presplit_vs_pfn_walker(nr: usize, outcomes: &Outcomes) {
    hvo_optimize_vs_walker(nr, outcomes, true)
}

pub const HVO_OPTIMIZE_NOCOPY_VS_PFN_WALKER: Scenario = Scenario {
    name: "hvo-optimize-nocopy-vs-pfn-walker",
    description: "hvo-optimize-vs-pfn-walker with the new head vmemmap page's allocation failing (allocation #0): the head vmemmap page is reused in place",
    threads: &["cpu1: hugetlb_vmemmap_optimize_folio (allocation #0 fails); folio_ref_unfreeze(1)", "cpu2: get_page_unless_zero(pfn 2)"],
    loom_nr: 4,
    min_subpages: 4,
    must_reach: &[WALKER_KEY_OFF, WALKER_COUNT_ZERO, WALKER_FAKE_HEAD, WALKER_READ_ORIGINAL_PAGE, WALKER_READ_REUSE_PAGE],
    body: hvo_optimize_nocopy_vs_pfn_walker,
    ..DEFAULT
};
/// The new head vmemmap page cannot be allocated: the head vmemmap page is reused in place, so
/// the fake heads alias the very page the unfreeze writes.
fn hvo_optimize_nocopy_vs_pfn_walker(nr: usize, outcomes: &Outcomes) {
    hvo_optimize_fail_vs_walker(nr, outcomes, 0)
}

pub const HVO_OPTIMIZE_ENOMEM_SPLIT_VS_PFN_WALKER: Scenario = Scenario {
    name: "hvo-optimize-enomem-split-vs-pfn-walker",
    description: "hugetlb_vmemmap_optimize_folio with -ENOMEM splitting the (only) vmemmap PMD (allocation #1): nothing remapped, the optimize fails cleanly, then folio_ref_unfreeze vs get_page_unless_zero(pfn 2)",
    threads: &["cpu1: hugetlb_vmemmap_optimize_folio (-ENOMEM at allocation #1); folio_ref_unfreeze(1)", "cpu2: get_page_unless_zero(pfn 2)"],
    loom_nr: 4,
    min_subpages: 4,
    must_reach: &[OPTIMIZE_ENOMEM, WALKER_KEY_OFF, WALKER_COUNT_ZERO, WALKER_READ_ORIGINAL_PAGE],
    body: hvo_optimize_enomem_split_vs_pfn_walker,
    ..DEFAULT
};
/// `-ENOMEM` splitting the first vmemmap PMD: nothing was remapped, nothing to roll back.
fn hvo_optimize_enomem_split_vs_pfn_walker(nr: usize, outcomes: &Outcomes) {
    hvo_optimize_fail_vs_walker(nr, outcomes, 1)
}

pub const HVO_OPTIMIZE_ENOMEM_VS_PFN_WALKER: Scenario = Scenario {
    name: "hvo-optimize-enomem-vs-pfn-walker",
    description: "hugetlb_vmemmap_optimize_folio of a folio spanning two vmemmap PMDs, -ENOMEM injected splitting the second (rollback of the remapped PTEs), then folio_ref_unfreeze vs get_page_unless_zero(pfn 2)",
    threads: &["cpu1: hugetlb_vmemmap_optimize_folio (-ENOMEM at allocation #2); folio_ref_unfreeze(1)", "cpu2: get_page_unless_zero(pfn 2)"],
    loom_nr: 8,
    shuttle_nr: 8,
    min_subpages: 8,
    must_reach: &[OPTIMIZE_ENOMEM, WALKER_KEY_OFF, WALKER_COUNT_ZERO, WALKER_READ_REUSE_PAGE],
    body: hvo_optimize_enomem_vs_pfn_walker,
    ..DEFAULT
};
/// A gigantic folio whose vmemmap spans two vmemmap PMDs, `-ENOMEM` splitting the second,
/// after the first PMD's PTEs were remapped: the rollback case.
fn hvo_optimize_enomem_vs_pfn_walker(nr: usize, outcomes: &Outcomes) {
    hvo_optimize_fail_vs_walker(nr, outcomes, 2)
}

pub const HVO_RESTORE_VS_PFN_WALKER: Scenario = Scenario {
    name: "hvo-restore-vs-pfn-walker",
    description:
        "hugetlb_vmemmap_restore_folio of an optimized frozen folio vs get_page_unless_zero(pfn 2)",
    threads: &[
        "cpu1: hugetlb_vmemmap_restore_folio",
        "cpu2: get_page_unless_zero(pfn 2)",
    ],
    loom_nr: 4,
    min_subpages: 4,
    must_reach: &[
        WALKER_KEY_OFF,
        WALKER_COUNT_ZERO,
        WALKER_READ_REUSE_PAGE,
        WALKER_READ_RESTORED_PAGE,
    ],
    body: hvo_restore_vs_pfn_walker,
    ..DEFAULT
};
/// `hugetlb_vmemmap_restore_folio` of an optimized, frozen folio (it goes back to buddy) ∥
/// `get_page_unless_zero(pfn 2)`.
fn hvo_restore_vs_pfn_walker(nr: usize, outcomes: &Outcomes) {
    let hv = Arc::new(Hvo::new(nr, 2 * nr, AllocFail::None, false));
    assert!(
        hugetlb_vmemmap_optimize_folio(&hv).is_ok(),
        "[model bug] setup optimize failed"
    );
    let h1 = hv.clone();
    let restorer = spawn(move || hugetlb_vmemmap_restore_folio(&h1));
    let h2 = hv.clone();
    let walker = spawn(move || get_page_unless_zero(&h2, HVO_WALKER_PFN));
    let r = restorer.join();
    let w = walker.join();
    assert!(
        r.is_ok(),
        "[model bug] restore without injected failure: {r:?}"
    );
    record_spec_get(outcomes, &hv, w);
    check_folio_view(&hv, 0);
    check_mapping(&hv);
}

pub const HVO_RESTORE_ENOMEM_VS_PFN_WALKER: Scenario = Scenario {
    name: "hvo-restore-enomem-vs-pfn-walker",
    description: "hugetlb_vmemmap_restore_folio with -ENOMEM at its first page allocation (the folio stays optimized) vs get_page_unless_zero(pfn 2)",
    threads: &["cpu1: hugetlb_vmemmap_restore_folio (-ENOMEM in alloc_vmemmap_page_list)", "cpu2: get_page_unless_zero(pfn 2)"],
    loom_nr: 4,
    min_subpages: 4,
    must_reach: &[RESTORE_ENOMEM, WALKER_COUNT_ZERO, WALKER_READ_REUSE_PAGE],
    body: hvo_restore_enomem_vs_pfn_walker,
    ..DEFAULT
};
/// `hugetlb_vmemmap_restore_folio` with `-ENOMEM` at its first page allocation
/// (`alloc_vmemmap_page_list`): the folio stays optimized, exactly as before ∥
/// `get_page_unless_zero(pfn 2)`.
fn hvo_restore_enomem_vs_pfn_walker(nr: usize, outcomes: &Outcomes) {
    // the setup optimize allocates the head copy and one table per vmemmap PMD
    let first_restore_alloc = 1 + nr / STRUCT_PAGES_PER_VMEMMAP_PAGE / 2;
    let hv = Arc::new(Hvo::new(
        nr,
        2 * nr,
        AllocFail::Nth(first_restore_alloc),
        false,
    ));
    assert!(
        hugetlb_vmemmap_optimize_folio(&hv).is_ok(),
        "[model bug] setup optimize failed"
    );
    let h1 = hv.clone();
    let restorer = spawn(move || hugetlb_vmemmap_restore_folio(&h1));
    let h2 = hv.clone();
    let walker = spawn(move || get_page_unless_zero(&h2, HVO_WALKER_PFN));
    let r = restorer.join();
    let w = walker.join();
    assert!(
        r.is_err(),
        "[model bug] the injected -ENOMEM did not fail the restore"
    );
    record(outcomes, RESTORE_ENOMEM);
    record_spec_get(outcomes, &hv, w);
    check_folio_view(&hv, 0);
    check_mapping(&hv);
}

/// The speculative walker of the HVO scenarios targets pfn 2: the first struct page of the
/// first tail vmemmap page, a fake head once HVO has aliased that page to the head's.
const HVO_WALKER_PFN: usize = 2;

fn record_spec_get(outcomes: &Outcomes, hv: &Hvo, r: SpecGetResult) {
    record(
        outcomes,
        match r.what {
            SpecGet::KeyOffReadZero => WALKER_KEY_OFF,
            SpecGet::NotWritable(NotWritable::Count) => WALKER_COUNT_ZERO,
            SpecGet::NotWritable(NotWritable::FakeHead) => WALKER_FAKE_HEAD,
            SpecGet::Got => WALKER_GOT_REF,
        },
    );
    // Which physical vmemmap page the walker's first refcount read went to: the folio's
    // original one, the reuse page (the head copy, or the head page reused in place, that
    // every tail vmemmap page aliases after HVO), or a page a restore filled.
    if let Some(p) = r.count_phys {
        let reuse = hv.translate(0).0;
        record(
            outcomes,
            if p == HVO_WALKER_PFN / STRUCT_PAGES_PER_VMEMMAP_PAGE {
                WALKER_READ_ORIGINAL_PAGE
            } else if p == reuse {
                WALKER_READ_REUSE_PAGE
            } else {
                WALKER_READ_RESTORED_PAGE
            },
        );
    }
}

fn hvo_optimize_vs_walker(nr: usize, outcomes: &Outcomes, presplit: bool) {
    let hv = Arc::new(Hvo::new(nr, nr, AllocFail::None, presplit));
    let h1 = hv.clone();
    let optimizer = spawn(move || {
        let r = hugetlb_vmemmap_optimize_folio(&h1);
        h1.folio_ref_unfreeze(1);
        r
    });
    let h2 = hv.clone();
    let walker = spawn(move || get_page_unless_zero(&h2, HVO_WALKER_PFN));
    let r = optimizer.join();
    let w = walker.join();
    assert!(
        r.is_ok(),
        "[model bug] optimize without injected failure: {r:?}"
    );
    record_spec_get(outcomes, &hv, w);
    check_folio_view(&hv, 1);
    check_mapping(&hv);
}

/// `hugetlb_vmemmap_optimize_folio` with the allocation `fail` injected (`-ENOMEM`), then
/// `folio_ref_unfreeze(1)` ∥ `get_page_unless_zero(pfn 2)`. Allocations: #0 the new head
/// vmemmap page (failure: reuse the head vmemmap page in place, not an error), #1 + k the PTE
/// table splitting vmemmap PMD k.
fn hvo_optimize_fail_vs_walker(nr: usize, outcomes: &Outcomes, fail: usize) {
    let hv = Arc::new(Hvo::new(nr, nr, AllocFail::Nth(fail), false));
    let h1 = hv.clone();
    let optimizer = spawn(move || {
        let r = hugetlb_vmemmap_optimize_folio(&h1);
        h1.folio_ref_unfreeze(1);
        r
    });
    let h2 = hv.clone();
    let walker = spawn(move || get_page_unless_zero(&h2, HVO_WALKER_PFN));
    let r = optimizer.join();
    let w = walker.join();
    assert!(
        r.is_err() == (fail > 0),
        "[model bug] -ENOMEM at allocation #{fail}: optimize returned {r:?}"
    );
    if r.is_err() {
        record(outcomes, OPTIMIZE_ENOMEM);
    }
    record_spec_get(outcomes, &hv, w);
    check_folio_view(&hv, 1);
    check_mapping(&hv);
}
