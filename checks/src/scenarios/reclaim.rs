//! Reclaim: `shrink_folio_list` discarding a lazyfree (MADV_FREE'd, clean) PMD-mapped THP
//! (`__discard_anon_folio_pmd_locked`) against the paths that read the PMD without its lock:
//! GUP-fast, and the MMU's own store that sets the dirty bit.

use thp_model::invariants::Inv;
use thp_model::kernel::{spawn, Arch};
use thp_model::mm::gup::{gup_fast, gup_put_folio, Foll};
use thp_model::mm::madvise::madvise_free_pte_range;
use thp_model::mm::memory::hw_write_huge_pmd;
use thp_model::mm::vmscan::{folio_isolate_lru, shrink_folio_list, Reclaim};
use thp_model::mm::zap::ZapRange;
use thp_model::mm::MappingSnapshot;
use thp_model::mm::{check_carried_over, check_quiescent, check_store_kept, Carry, Machine};
use thp_model::vm_bug_on;

use super::setup::*;
use super::{Outcomes, Scenario, DEFAULT};

/// This family's scenarios, in catalogue order.
pub const SCENARIOS: &[Scenario] = &[
    LAZYFREE_DISCARD_VS_GUP_FAST,
    LAZYFREE_DISCARD_VS_GUP_FAST_PORTABLE,
    LAZYFREE_DISCARD_VS_WRITE,
];

pub const RECLAIM_FREED: &str = "reclaim-freed";
pub const RECLAIM_KEPT: &str = "reclaim-kept";
pub const RECLAIM_ACTIVATED: &str = "reclaim-activated";
pub const GUP_PINNED: &str = "gup-pinned";
pub const GUP_FELL_BACK: &str = "gup-fell-back";
pub const STORE_LANDED: &str = "store-landed";
pub const STORE_FAULTED: &str = "store-faulted";

/// A PMD-mapped THP that MADV_FREE made lazyfree (old, clean, not swap-backed), isolated from
/// the LRU by reclaim (the isolation's reference is reclaim's).
fn setup_lazyfree_isolated(nr: usize) -> std::sync::Arc<Machine> {
    let m = setup_huge_pmd(nr);
    {
        let _r = m.mms[0].mmap_lock.down_read();
        assert_eq!(
            madvise_free_pte_range(&m, 0, ZapRange::Full),
            1,
            "[model bug] MADV_FREE did not mark the folio lazyfree"
        );
    }
    assert!(
        folio_isolate_lru(&m, 0),
        "[model bug] the lazyfree folio is not on the LRU"
    );
    m
}

fn record_reclaim(outcomes: &Outcomes, r: Reclaim) {
    record(
        outcomes,
        match r {
            Reclaim::Freed => RECLAIM_FREED,
            Reclaim::Activated => RECLAIM_ACTIVATED,
            Reclaim::Busy | Reclaim::Kept => RECLAIM_KEPT,
        },
    );
}

pub const LAZYFREE_DISCARD_VS_GUP_FAST: Scenario = Scenario {
    name: "lazyfree-discard-vs-gup-fast",
    description: "reclaim of a lazyfree PMD-mapped THP (try_to_unmap_one -> __discard_anon_folio_pmd_locked, then folio_ref_freeze(1)) vs GUP-fast (FOLL_PIN | FOLL_WRITE) through the huge PMD",
    threads: &["cpu1: shrink_folio_list(isolated lazyfree THP)", "cpu2: gup_fast(FOLL_PIN | FOLL_WRITE) via the PMD leaf; (main) unpin_user_page"],
    loom_bound: Some(4),
    must_reach: &[RECLAIM_FREED, RECLAIM_ACTIVATED, GUP_PINNED, GUP_FELL_BACK],
    body: lazyfree_discard_vs_gup_fast,
    ..DEFAULT
};
/// The same race with only the ordering generic code may assume (`--arch portable`): the
/// clear is a relaxed exchange and the flush orders nothing, so the discard's `smp_mb` (rule
/// `discard-pmd-mb`) is what orders it before the refcount read.
pub const LAZYFREE_DISCARD_VS_GUP_FAST_PORTABLE: Scenario = Scenario {
    name: "lazyfree-discard-vs-gup-fast-portable",
    description: "lazyfree-discard-vs-gup-fast with only the ordering generic code may assume: relaxed page-table exchange, a TLB flush that is no barrier",
    arch: Arch::Portable,
    ..LAZYFREE_DISCARD_VS_GUP_FAST
};
/// Reclaim of a lazyfree PMD-mapped THP ∥ GUP-fast pinning sub-page 1 for writing. A pin that
/// GUP-fast returns was taken while the PMD mapped the folio: the discard must then have seen
/// it and kept the mapping, or the pinned page is no longer what the process maps (its later
/// reads see a new zero page, not what the device wrote).
fn lazyfree_discard_vs_gup_fast(nr: usize, outcomes: &Outcomes) {
    let m = setup_lazyfree_isolated(nr);
    let before = MappingSnapshot::take(&m);
    let m1 = m.clone();
    let reclaim = spawn(move || shrink_folio_list(&m1, 0));
    let m2 = m.clone();
    let gup = spawn(move || gup_fast(&m2, 0, 1, Foll::Pin, true));
    let r = reclaim.join();
    let got = gup.join();
    record_reclaim(outcomes, r);
    match got {
        Some(fp) => {
            record(outcomes, GUP_PINNED);
            vm_bug_on!(
                !m.memmap.is_allocated(fp.folio) || m.memmap.page_folio_quiet(fp.page) != fp.folio,
                Inv::I15GupFast,
                "GUP-fast returned page {} of folio {}, which reclaim freed under the pin",
                fp.page,
                fp.folio
            );
            vm_bug_on!(
                m.observed("lazyfree-pmd-discarded"),
                Inv::I15GupFast,
                "GUP-fast pinned page {} through the huge PMD, and reclaim discarded that mapping under the pin",
                fp.page
            );
            check_quiescent(&m, &[(fp.folio, 1)]);
            gup_put_folio(&m, fp.folio, 1, Foll::Pin);
        }
        None => record(outcomes, GUP_FELL_BACK),
    }
    check_quiescent(&m, &[]);
    check_carried_over(&m, &before, Carry::UNMAP);
}

pub const LAZYFREE_DISCARD_VS_WRITE: Scenario = Scenario {
    name: "lazyfree-discard-vs-write",
    description: "reclaim of a lazyfree PMD-mapped THP vs a user store through the PMD (the MMU sets the dirty bit): a store that lands must keep the folio",
    threads: &["cpu1: shrink_folio_list(isolated lazyfree THP)", "cpu2: store to sub-page 1 (MMU walk, atomic A/D update)"],
    must_reach: &[RECLAIM_FREED, RECLAIM_ACTIVATED, STORE_LANDED, STORE_FAULTED],
    body: lazyfree_discard_vs_write,
    ..DEFAULT
};
/// Reclaim of a lazyfree PMD-mapped THP ∥ a user store through the PMD: the MMU sets the
/// dirty bit in the PMD with one atomic update. If the store landed, the folio must survive
/// with the data recorded as dirty (the discard sees the dirty bit in the value its clear
/// returned); if the PMD was already cleared, the store faults and nothing is lost.
fn lazyfree_discard_vs_write(nr: usize, outcomes: &Outcomes) {
    let m = setup_lazyfree_isolated(nr);
    let before = MappingSnapshot::take(&m);
    let m1 = m.clone();
    let reclaim = spawn(move || shrink_folio_list(&m1, 0));
    let m2 = m.clone();
    let store = spawn(move || hw_write_huge_pmd(&m2, 0));
    let r = reclaim.join();
    let wrote = store.join();
    record_reclaim(outcomes, r);
    match wrote {
        Some(folio) => {
            record(outcomes, STORE_LANDED);
            check_store_kept(&m, 0, folio);
        }
        None => record(outcomes, STORE_FAULTED),
    }
    check_quiescent(&m, &[]);
    check_carried_over(&m, &before, Carry::UNMAP);
}
