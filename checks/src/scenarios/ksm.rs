//! KSM: the merge step (`try_to_merge_one_page` → `write_protect_page` → `replace_page`)
//! against GUP-fast, the one reader that takes references on the page without any lock. The
//! read-only pin is the path that only KSM exercises: `write_protect_page` clears
//! AnonExclusive and then writes back the very read-only entry GUP-fast read, so GUP-fast's
//! re-check of the entry cannot see it; only the AnonExclusive handshake
//! (`__folio_try_share_anon_rmap` ∥ `gup_must_unshare`) keeps the pin off the merged page.
//! A merge target inside a THP is split first, inside the merge.

use std::sync::Arc;

use thp_model::kernel::{spawn, Arch};
use thp_model::mm::gup::{gup_fast, gup_put_folio, Foll};
use thp_model::mm::ksm::{try_to_merge_one_page, KsmFail};
use thp_model::mm::memory::{do_anonymous_page, PteFault};
use thp_model::mm::page::{PG_ANON_EXCLUSIVE, PG_DIRTY};
use thp_model::mm::page_ref::{folio_get, folio_put};
use thp_model::mm::pgtable::{Pmd, Pte, F_YOUNG};
use thp_model::mm::MappingSnapshot;
use thp_model::mm::{check_carried_over, check_quiescent, Carry, Machine};

use super::setup::*;
use super::{Outcomes, Scenario, DEFAULT};

/// This family's scenarios, in catalogue order.
pub const SCENARIOS: &[Scenario] = &[
    KSM_MERGE_VS_GUP_FAST_RO_PIN,
    KSM_MERGE_VS_GUP_FAST_RO_PIN_PORTABLE,
    KSM_MERGE_VS_GUP_FAST_WRITE,
    KSM_MERGE_VS_GUP_FAST_WRITE_PORTABLE,
    KSM_MERGE_THP_VS_GUP_FAST_WRITE,
];

pub const KSM_MERGED: &str = "ksm-merged";
pub const KSM_REFUSED_REFCOUNT: &str = "ksm-refused-refcount";
pub const KSM_REFUSED_PINNED: &str = "ksm-refused-pinned";
pub const KSM_NOT_MAPPED: &str = "ksm-not-mapped";
pub const KSM_CHANGED: &str = "ksm-changed";
pub const KSM_SPLIT_FAILED: &str = "ksm-split-failed";
pub const GUP_GOT: &str = "gup-got";

/// The PTE index (and pfn) of the page KSM merges.
const IDX: usize = 0;

/// An anonymous small page at pfn 0, mapped by mm0's PTE 0 (`do_anonymous_page`), and a KSM
/// page at the second folio slot (`kpage`, the head of slot 1) with the same content, mapped
/// nowhere else, PG_dirty (as `try_to_merge_one_page` left it when it became a KSM page), not
/// AnonExclusive. The scan holds a reference on each (`folio_walk` on the page, the stable
/// tree lookup on the KSM page). With `read_only`, the entry is read-only and clean and the
/// page still AnonExclusive: what `do_swap_page` maps on a read fault of an exclusive page in
/// a VMA without write permission, written here directly (no race in setup).
fn setup_ksm(nr: usize, read_only: bool) -> (Arc<Machine>, usize) {
    let m = Arc::new(Machine::new(nr, 2, 1, 1));
    {
        let _r = m.mms[0].mmap_lock.down_read();
        assert_eq!(
            do_anonymous_page(&m, 0, IDX, IDX),
            PteFault::Mapped,
            "[model bug] initial fault failed"
        );
    }
    if read_only {
        let t = match Pmd::decode(m.mms[0].pmd.read()) {
            Pmd::Table(t) => t,
            v => panic!("[model bug] no PTE table after the fault: {v:?}"),
        };
        m.mms[0].tables[t].ptes[IDX].set(
            Pte::Present {
                pfn: IDX,
                flags: F_YOUNG,
            }
            .encode(),
        );
    }
    let kpage = alloc_kpage(&m, IDX);
    folio_get(&m.memmap, IDX); // the scan's reference on the page
    (m, kpage)
}

/// The KSM page, at the head of folio slot 1: a small anonymous folio with the content of the
/// page at `target` (the stable tree matched them), mapped nowhere, PG_dirty (as
/// `try_to_merge_one_page` left it when it became a KSM page), not AnonExclusive; the scan's
/// reference from the stable-tree lookup.
fn alloc_kpage(m: &Machine, target: usize) -> usize {
    let kpage = m.nr;
    m.memmap.alloc_small_folio(kpage);
    let data = m.memmap.page(target).content.read();
    m.memmap.page(kpage).content.set(data);
    m.memmap.mapping[kpage].set(thp_model::mm::ANON_VMA_ID);
    m.memmap.page(kpage).flags.set_bit(PG_DIRTY);
    kpage
}

/// KSM's side: `try_to_merge_one_page` under `mmap_lock` read, then the scan drops its
/// references on the page and on the KSM page.
fn ksm_merge(m: &Machine, kpage: usize) -> Result<(), KsmFail> {
    let r = {
        let _r = m.mms[0].mmap_lock.down_read();
        try_to_merge_one_page(m, 0, IDX, IDX, kpage)
    };
    folio_put(&m.memmap, IDX, 1);
    folio_put(&m.memmap, kpage, 1);
    r
}

fn record_ksm(outcomes: &Outcomes, r: Result<(), KsmFail>) {
    record(
        outcomes,
        match r {
            Ok(()) => KSM_MERGED,
            Err(KsmFail::RefCount) => KSM_REFUSED_REFCOUNT,
            Err(KsmFail::Pinned) => KSM_REFUSED_PINNED,
            Err(KsmFail::Changed) => KSM_CHANGED,
            Err(KsmFail::SplitFailed) => KSM_SPLIT_FAILED,
            Err(_) => KSM_NOT_MAPPED,
        },
    );
}

/// GUP-fast's side after both CPUs joined: a page it returned must still be the one sub-page
/// `idx` maps (I15), then the reference or pin is dropped.
fn check_and_put_gup(
    m: &Machine,
    outcomes: &Outcomes,
    got: Option<thp_model::mm::gup::FastPage>,
    idx: usize,
    foll: Foll,
) {
    match got {
        Some(fp) => {
            record(outcomes, GUP_GOT);
            check_pin_still_mapped(m, &fp, idx);
            gup_put_folio(m, fp.folio, 1, foll);
        }
        None => record(outcomes, GUP_FELL_BACK),
    }
}

/// KSM merging the page ∥ GUP-fast taking it (`foll`, for writing or not). A reference
/// GUP-fast returns must still be on the page the process maps while it is held (I15): the
/// merge must have seen it and refused, or GUP-fast must have seen the merge coming and
/// fallen back. At the end, with the reference dropped: the whole state (a merged page freed,
/// the KSM page mapped once) and what the merge carries over (I27).
fn ksm_merge_vs_gup_fast(nr: usize, outcomes: &Outcomes, read_only: bool, foll: Foll) {
    let (m, kpage) = setup_ksm(nr, read_only);
    let before = MappingSnapshot::take(&m);
    let m1 = m.clone();
    let ksm = spawn(move || ksm_merge(&m1, kpage));
    let m2 = m.clone();
    let gup = spawn(move || gup_fast(&m2, 0, IDX, foll, !read_only));
    let r = ksm.join();
    let got = gup.join();
    record_ksm(outcomes, r);
    check_and_put_gup(&m, outcomes, got, IDX, foll);
    if r.is_ok() {
        assert!(
            !m.memmap.page(kpage).flags.test_bit(PG_ANON_EXCLUSIVE),
            "[model bug] the KSM page became AnonExclusive"
        );
    }
    check_quiescent(&m, &[]);
    check_carried_over(&m, &before, Carry::KSM);
}

pub const KSM_MERGE_VS_GUP_FAST_RO_PIN: Scenario = Scenario {
    name: "ksm-merge-vs-gup-fast-ro-pin",
    description: "on x86-64: KSM merging a read-only, clean, AnonExclusive page (write_protect_page: clear and flush, refcount check, share AnonExclusive, write back the same read-only entry; replace_page) vs GUP-fast FOLL_PIN without FOLL_WRITE on it (gup_must_unshare): the pin must not survive the merge",
    threads: &["cpu1: mmap_read_lock; try_to_merge_one_page(page, kpage); put page, kpage", "cpu2: gup_fast(FOLL_PIN, read-only); (main) unpin_user_page"],
    arch: Arch::X86,
    must_reach: &[KSM_MERGED, KSM_REFUSED_REFCOUNT, GUP_GOT, GUP_FELL_BACK],
    body: ksm_merge_vs_gup_fast_ro_pin,
    ..DEFAULT
};
/// ksm-merge-vs-gup-fast-ro-pin with only the ordering generic code may assume: the PTE clear
/// a relaxed exchange, the flush no barrier, `clear_bit` unordered. What is left to order the
/// handshake is the barriers of `__folio_try_share_anon_rmap`, GUP-fast's pin and
/// `gup_must_unshare`.
pub const KSM_MERGE_VS_GUP_FAST_RO_PIN_PORTABLE: Scenario = Scenario {
    name: "ksm-merge-vs-gup-fast-ro-pin-portable",
    description: "ksm-merge-vs-gup-fast-ro-pin with only the ordering generic code may assume (relaxed page-table exchange, a TLB flush that is no barrier, unordered clear_bit)",
    arch: Arch::Portable,
    loom_bound: Some(4), // none: holds, 5,468,697 executions, 447 s
    // Here the count check can miss the pin (nothing orders the clear before it), and then
    // folio_try_share_anon_rmap_pte's smp_mb must see it: its refusal is required.
    must_reach: &[
        KSM_MERGED,
        KSM_REFUSED_REFCOUNT,
        KSM_REFUSED_PINNED,
        GUP_GOT,
        GUP_FELL_BACK,
    ],
    shuttle_may_miss: &[KSM_REFUSED_PINNED],
    ..KSM_MERGE_VS_GUP_FAST_RO_PIN
};
fn ksm_merge_vs_gup_fast_ro_pin(nr: usize, outcomes: &Outcomes) {
    ksm_merge_vs_gup_fast(nr, outcomes, true, Foll::Pin)
}

pub const KSM_MERGE_VS_GUP_FAST_WRITE: Scenario = Scenario {
    name: "ksm-merge-vs-gup-fast-write",
    description: "on x86-64: KSM merging a writable, dirty, AnonExclusive page vs GUP-fast FOLL_GET|FOLL_WRITE on it (O_DIRECT into the page, a reference but no pin): a write through the reference after the merge would be lost",
    threads: &["cpu1: mmap_read_lock; try_to_merge_one_page(page, kpage); put page, kpage", "cpu2: gup_fast(FOLL_GET|FOLL_WRITE); (main) put_page"],
    arch: Arch::X86,
    must_reach: &[KSM_MERGED, KSM_REFUSED_REFCOUNT, GUP_GOT, GUP_FELL_BACK],
    body: ksm_merge_vs_gup_fast_write,
    ..DEFAULT
};
fn ksm_merge_vs_gup_fast_write(nr: usize, outcomes: &Outcomes) {
    ksm_merge_vs_gup_fast(nr, outcomes, false, Foll::Get)
}

/// ksm-merge-vs-gup-fast-write with only the ordering generic code may assume (finding F4):
/// the clear a relaxed exchange and the flush no barrier, so nothing orders the clear before
/// the refcount read but the candidate fix `ksm-write-protect-mb`, which this scenario runs
/// with. `--break ksm-write-protect-mb` runs 6.18.2 as released.
pub const KSM_MERGE_VS_GUP_FAST_WRITE_PORTABLE: Scenario = Scenario {
    name: "ksm-merge-vs-gup-fast-write-portable",
    description: "ksm-merge-vs-gup-fast-write with only the ordering generic code may assume (relaxed page-table exchange, a TLB flush that is no barrier), with the candidate fix of finding F4 (smp_mb between write_protect_page's clear and its refcount check)",
    arch: Arch::Portable,
    // none: holds, 289,284 executions, 18.7 s (without the fix: counterexample at 95,701)
    loom_bound: Some(4),
    fixes: &[thp_model::rules::Rule::KsmWriteProtectMb],
    ..KSM_MERGE_VS_GUP_FAST_WRITE
};

pub const KSM_MERGE_THP_VS_GUP_FAST_WRITE: Scenario = Scenario {
    name: "ksm-merge-thp-vs-gup-fast-write",
    description: "on x86-64: KSM merging sub-page 1 of a PTE-mapped THP (try_to_merge_one_page splits it first: split_huge_page(page), which leaves the lock and the scan's reference on the page's new folio; then write_protect_page and replace_page) vs GUP-fast FOLL_GET|FOLL_WRITE on that sub-page: a reference GUP-fast returns must stay on the page the process maps",
    threads: &["cpu1: mmap_read_lock; try_to_merge_one_page(sub-page 1, kpage) (split, write-protect, replace); put page, kpage", "cpu2: gup_fast(FOLL_GET|FOLL_WRITE, sub-page 1); (main) put_page"],
    arch: Arch::X86,
    // none: holds, 137,379 executions, 41 s
    loom_bound: Some(5),
    must_reach: &[KSM_MERGED, KSM_SPLIT_FAILED, KSM_REFUSED_REFCOUNT, GUP_GOT, GUP_FELL_BACK],
    body: ksm_merge_thp_vs_gup_fast_write,
    ..DEFAULT
};
/// KSM meets a THP: the merge target is sub-page 1 of a PTE-mapped THP at slot 0, the KSM page
/// is the small folio at slot 1. The scan's reference (`folio_walk`) is on the THP; the split
/// inside `try_to_merge_one_page` moves it (and the folio lock) to sub-page 1's new folio, or
/// fails (GUP-fast's reference) and the merge gives up.
fn ksm_merge_thp_vs_gup_fast_write(nr: usize, outcomes: &Outcomes) {
    use thp_model::mm::huge_memory::__split_huge_pmd;
    use thp_model::mm::page_ref::folio_put_small_or_large;
    const PAGE: usize = 1;
    let m = setup_huge_pmd_slots(nr, 2);
    {
        let _r = m.mms[0].mmap_lock.down_read();
        __split_huge_pmd(&m, 0, false); // PTE-map it: KSM merges at PTE level
    }
    let kpage = alloc_kpage(&m, PAGE);
    folio_get(&m.memmap, 0); // the scan's reference, on the THP
    let before = MappingSnapshot::take(&m);
    let m1 = m.clone();
    let ksm = spawn(move || {
        let r = {
            let _r = m1.mms[0].mmap_lock.down_read();
            try_to_merge_one_page(&m1, 0, PAGE, PAGE, kpage)
        };
        // the scan's put: on the page's folio, which the split may have made order 0
        folio_put_small_or_large(&m1, m1.memmap.page_folio(PAGE));
        folio_put(&m1.memmap, kpage, 1);
        r
    });
    let m2 = m.clone();
    let gup = spawn(move || gup_fast(&m2, 0, PAGE, Foll::Get, true));
    let r = ksm.join();
    let got = gup.join();
    record_ksm(outcomes, r);
    check_and_put_gup(&m, outcomes, got, PAGE, Foll::Get);
    check_quiescent(&m, &[]);
    check_carried_over(&m, &before, Carry::KSM);
}
