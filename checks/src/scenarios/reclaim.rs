//! Reclaim: `shrink_folio_list` discarding a lazyfree (MADV_FREE'd, clean) PMD-mapped THP
//! (`__discard_anon_folio_pmd_locked`) against the paths that read the PMD without its lock
//! (GUP-fast, the MMU's own store that sets the dirty bit, MADV_DONTNEED's `zap_pmd_range`)
//! and against a reference holder that dirties the folio and drops its reference.

use thp_model::invariants::Inv;
use thp_model::kernel::{spawn, Arch};
use thp_model::mm::gup::{gup_fast, gup_put_folio, Foll};
use thp_model::mm::madvise::madvise_free_pte_range;
use thp_model::mm::memory::hw_write_huge_pmd;
use thp_model::mm::page_ref::{folio_get, folio_put_small_or_large};
use thp_model::mm::vmscan::{folio_isolate_lru, shrink_folio_list, Reclaim};
use thp_model::mm::zap::{zap_pmd_range, ZapRange};
use thp_model::mm::MappingSnapshot;
use thp_model::mm::Pmd;
use thp_model::mm::{check_carried_over, check_quiescent, check_store_kept, Carry, Machine};
use thp_model::rules::Rule;
use thp_model::vm_bug_on;

use super::setup::*;
use super::{Outcomes, Scenario, DEFAULT};

/// This family's scenarios, in catalogue order.
pub const SCENARIOS: &[Scenario] = &[
    LAZYFREE_DISCARD_VS_GUP_FAST,
    LAZYFREE_DISCARD_VS_GUP_FAST_PORTABLE,
    LAZYFREE_DISCARD_VS_WRITE,
    LAZYFREE_DISCARD_VS_PUT_DIRTY,
    LAZYFREE_DISCARD_VS_DONTNEED,
];

pub const RECLAIM_FREED: &str = "reclaim-freed";
pub const RECLAIM_KEPT: &str = "reclaim-kept";
pub const RECLAIM_ACTIVATED: &str = "reclaim-activated";
pub const GUP_PINNED: &str = "gup-pinned";
pub const GUP_FELL_BACK: &str = "gup-fell-back";
pub const STORE_LANDED: &str = "store-landed";
pub const STORE_FAULTED: &str = "store-faulted";

pub const DISCARD_SAW_DIRTY: &str = "lazyfree-pmd-dirty";
pub const DISCARD_SAW_REDIRTY: &str = "lazyfree-pmd-redirtied";
pub const DISCARD_SAW_REFERENCE: &str = "lazyfree-pmd-referenced";

/// A PMD-mapped THP that MADV_FREE made lazyfree (old, clean, not swap-backed), isolated from
/// the LRU by reclaim (the isolation's reference is reclaim's).
fn setup_lazyfree_isolated(nr: usize) -> std::sync::Arc<Machine> {
    setup_lazyfree_isolated_held(nr, false)
}

/// [`setup_lazyfree_isolated`]; with `held`, someone took a reference before the MADV_FREE
/// and still holds it (a GUP FOLL_GET user such as KVM's `hva_to_pfn`, which neither pins nor
/// locks the folio).
fn setup_lazyfree_isolated_held(nr: usize, held: bool) -> std::sync::Arc<Machine> {
    let m = setup_huge_pmd(nr);
    if held {
        folio_get(&m.memmap, 0);
    }
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

pub const LAZYFREE_DISCARD_VS_PUT_DIRTY: Scenario = Scenario {
    name: "lazyfree-discard-vs-put-dirty",
    description: "reclaim of a lazyfree PMD-mapped THP vs the holder of a reference taken before MADV_FREE (KVM's) that wrote the folio and releases it dirty without the folio lock (kvm_release_page_dirty: SetPageDirty, then put_page)",
    threads: &["cpu1: shrink_folio_list(isolated lazyfree THP)", "cpu2: SetPageDirty; put_page (kvm_release_page_dirty)"],
    must_reach: &[RECLAIM_ACTIVATED, DISCARD_SAW_DIRTY, DISCARD_SAW_REDIRTY, DISCARD_SAW_REFERENCE],
    body: lazyfree_discard_vs_put_dirty,
    ..DEFAULT
};
/// `shrink_folio_list` of an isolated lazyfree THP ∥ a reference holder that dirties the folio
/// and drops the reference (`kvm_release_page_dirty`). The discard must see the reference
/// (refcount above mapcount + 1) or, once it is gone, the dirty flag (`smp_rmb` between the two
/// reads, rule `discard-pmd-rmb`; the folio-dirty half of `discard-pmd-dirty-recheck`): the
/// folio stays mapped and dirty, else the holder's data is lost (I27).
fn lazyfree_discard_vs_put_dirty(nr: usize, outcomes: &Outcomes) {
    use thp_model::mm::page::PG_DIRTY;
    let m = setup_lazyfree_isolated_held(nr, true);
    let m1 = m.clone();
    let reclaim = spawn(move || shrink_folio_list(&m1, 0));
    let m2 = m.clone();
    let holder = spawn(move || {
        m2.memmap.page(0).flags.set_bit(PG_DIRTY); // kvm_set_page_dirty: SetPageDirty
        folio_put_small_or_large(&m2, 0); // kvm_release_page_clean: put_page
    });
    let r = reclaim.join();
    holder.join();
    record_reclaim(outcomes, r);
    record_observed(
        outcomes,
        &m,
        &[
            DISCARD_SAW_DIRTY,
            DISCARD_SAW_REDIRTY,
            DISCARD_SAW_REFERENCE,
        ],
    );
    let mapped = matches!(Pmd::decode(m.mms[0].pmd.read()), Pmd::Huge { pfn: 0, .. });
    vm_bug_on!(
        !m.memmap.is_allocated(0) || !mapped || !m.memmap.page(0).flags.test_bit(PG_DIRTY),
        Inv::I27CarriedOver,
        "a reference holder wrote folio 0 and marked it dirty, but reclaim discarded it: {} (the data is lost)",
        if m.memmap.is_allocated(0) { "no longer mapped" } else { "freed" }
    );
    check_quiescent(&m, &[]);
}

pub const LAZYFREE_DISCARD_VS_DONTNEED: Scenario = Scenario {
    name: "lazyfree-discard-vs-dontneed",
    description: "reclaim of a lazyfree PMD-mapped THP that someone else holds a reference to (so the discard clears the PMD, sees the reference and restores it) vs MADV_DONTNEED of the whole PMD (zap_pmd_range tests the PMD without its lock): finding F3, run with its candidate fix",
    threads: &["cpu1: shrink_folio_list(isolated lazyfree THP, a reference held)", "cpu2: mmap_read_lock; zap_pmd_range(full); check unmapped"],
    fixes: &[Rule::DiscardPmdInvalidateNotClear],
    must_reach: &[ZAPPED_HUGE_PMD, RECLAIM_ACTIVATED, RECLAIM_KEPT],
    body: lazyfree_discard_vs_dontneed,
    ..DEFAULT
};
/// `shrink_folio_list` of an isolated lazyfree THP with a reference held elsewhere ∥
/// MADV_DONTNEED of the whole PMD under mmap_lock read. When MADV_DONTNEED returns nothing may
/// map the range (I12): the discard must not make the PMD transiently none (historical race Z02,
/// here in reclaim's lazyfree discard: finding F3).
fn lazyfree_discard_vs_dontneed(nr: usize, outcomes: &Outcomes) {
    let m = setup_lazyfree_isolated_held(nr, true);
    let m1 = m.clone();
    let reclaim = spawn(move || shrink_folio_list(&m1, 0));
    let m2 = m.clone();
    let zapper = spawn(move || {
        let _r = m2.mms[0].mmap_lock.down_read();
        zap_pmd_range(&m2, 0, ZapRange::Full)
    });
    let r = reclaim.join();
    let z = zapper.join();
    record_reclaim(outcomes, r);
    record_zap(outcomes, &z);
    check_dontneed_unmapped(&m); // nobody may map the range again after MADV_DONTNEED returned
    folio_put_small_or_large(&m, 0); // the holder's reference
    check_quiescent(&m, &[]);
}
