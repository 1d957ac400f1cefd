//! Scenarios of fork (kernel/fork.c `dup_mmap`, mm/huge_memory.c `copy_huge_pmd`,
//! mm/memory.c `copy_pte_range`) and COW of a fork-shared THP, PMD-mapped
//! (`do_huge_pmd_wp_page`) or PTE-mapped (`do_wp_page`, `__wp_can_reuse_large_anon_folio`).

use std::sync::Arc;

use thp_model::invariants::Inv;
use thp_model::kernel::{spawn, Arch, JoinHandle};
use thp_model::mm::gup::{gup_fast, gup_put_folio, Foll};
use thp_model::mm::huge_memory::__split_huge_pmd;
use thp_model::mm::huge_memory::{do_huge_pmd_wp_page, WpResult};
use thp_model::mm::memory::{do_wp_page, PteWp};
use thp_model::mm::mmap::{dup_mmap, dup_mmap_prealloc};
use thp_model::mm::zap::{zap_pmd_range, ZapRange};
use thp_model::mm::Pmd;
use thp_model::mm::{check_carried_over, check_quiescent, Carry, Machine, MappingSnapshot};

use super::setup::*;
use super::{Outcomes, Scenario, DEFAULT};

/// This family's scenarios, in catalogue order.
pub const SCENARIOS: &[Scenario] = &[
    COW_REUSE_VS_SPLIT_PMD_OTHER_MM,
    COW_REUSE_PTE_VS_ZAP_OTHER_MM,
    COW_REUSE_PTE_VS_GUP_REF_OTHER_MM,
    COW_REUSE_PTE_VS_PARTIAL_ZAP_OTHER_MM,
    COW_PTE_VS_FOLIO_SPLIT,
    COW_REUSE_PTE_VS_GUP_FAST_OTHER_MM,
    COW_REUSE_PTE_VS_FORK,
    FORK_VS_GUP_FAST_PIN,
    FORK_VS_GUP_FAST_PIN_PORTABLE,
    FORK_VS_GUP_FAST_RO_PIN_PTE,
];

pub const COW_PTE_COPIED: &str = "cow-pte-copied";
pub const COW_PTE_RETRY: &str = "cow-pte-retry";
pub const COW_PTE_REUSED: &str = "cow-pte-reused";
pub const FORK_COPIED_PINNED_PAGE: &str = "fork-copied-pinned-page";
pub const FORK_PREALLOC_UNUSED: &str = "fork-prealloc-unused";
pub const FORK_REFUSED_PINNED: &str = "fork-refused-pinned";
pub const FORK_SHARED: &str = "fork-shared";
pub const GUP_FAST_FAILED: &str = "gup-fast-failed";
pub const GUP_FAST_FORK_IN_PROGRESS: &str = "gup-fast-fork-in-progress";
pub const GUP_FAST_MUST_UNSHARE: &str = "gup-fast-must-unshare";
pub const GUP_FAST_RACED_FORK: &str = "gup-fast-raced-fork";
pub const PINNED: &str = "pinned";
pub const WP_FALLBACK: &str = "wp-fallback";
pub const WP_RETRY: &str = "wp-retry";
pub const WP_REUSED: &str = "wp-reused";

pub const COW_REUSE_VS_SPLIT_PMD_OTHER_MM: Scenario = Scenario {
    name: "cow-reuse-vs-split-pmd-other-mm",
    description: "write fault (do_huge_pmd_wp_page: reuse or split) on a fork-shared THP in mm0 vs split_huge_pmd of the same folio in mm1 (historical race Z14, CVE-2020-29368)",
    threads: &["cpu1: mmap_read_lock(mm0); do_huge_pmd_wp_page", "cpu2: mmap_read_lock(mm1); __split_huge_pmd(mm1)"],
    loom_bound: Some(5), // 5: 22,482 executions, 3.2 s; none: > 440k executions in 2 min
    must_reach: &[WP_FALLBACK],
    body: cow_reuse_vs_split_pmd_other_mm,
    ..DEFAULT
};
/// A write fault on mm0's read-only huge PMD (COW: reuse or split and copy) ∥ split_huge_pmd
/// of the same folio's PMD in the forked mm1 (historical race Z14, CVE-2020-29368).
fn cow_reuse_vs_split_pmd_other_mm(nr: usize, outcomes: &Outcomes) {
    let m = setup_forked_huge_pmd(nr);
    let before = MappingSnapshot::take(&m);
    let m1 = m.clone();
    let writer = spawn(move || {
        let _r = m1.mms[0].mmap_lock.down_read();
        do_huge_pmd_wp_page(&m1, 0)
    });
    let m2 = m.clone();
    let splitter = spawn(move || {
        let _r = m2.mms[1].mmap_lock.down_read();
        __split_huge_pmd(&m2, 1, false)
    });
    let w = writer.join();
    splitter.join();
    record(
        outcomes,
        match w {
            WpResult::Reused => WP_REUSED,
            WpResult::Fallback => WP_FALLBACK,
            WpResult::Retry => WP_RETRY,
        },
    );
    // mm1 still maps every page: a reuse would leave an AnonExclusive page mapped twice (I21).
    check_quiescent(&m, &[]);
    check_carried_over(&m, &before, Carry::ALL);
}

pub const COW_REUSE_PTE_VS_ZAP_OTHER_MM: Scenario = Scenario {
    name: "cow-reuse-pte-vs-zap-other-mm",
    description: "write fault (do_wp_page: __wp_can_reuse_large_anon_folio reuses, or wp_page_copy copies) on sub-page 0 of a fork-shared PTE-mapped THP in mm0 vs MADV_DONTNEED of the whole range in mm1 (its rmap removal clears \"maybe mapped shared\", its references go after the TLB flush)",
    threads: &["cpu1: mmap_read_lock(mm0); do_wp_page(sub-page 0)", "cpu2: mmap_read_lock(mm1); zap_pmd_range(whole PMD)"],
    loom_bound: Some(3),
    must_reach: &[COW_PTE_REUSED, COW_PTE_COPIED],
    body: cow_reuse_pte_vs_zap_other_mm,
    ..DEFAULT
};
/// A write fault on sub-page 0 of a fork-shared PTE-mapped THP in mm0 ∥ MADV_DONTNEED of the
/// whole range in mm1. mm0 may reuse the page only once mm1 no longer maps the folio and has
/// dropped its references; before that it copies.
fn cow_reuse_pte_vs_zap_other_mm(nr: usize, outcomes: &Outcomes) {
    cow_reuse_pte_vs_zap(nr, outcomes, GupRef::None, ZapRange::Full);
}

pub const COW_REUSE_PTE_VS_PARTIAL_ZAP_OTHER_MM: Scenario = Scenario {
    name: "cow-reuse-pte-vs-partial-zap-other-mm",
    description: "cow-reuse-pte-vs-zap-other-mm where mm1 zaps only sub-page 1: mm1 keeps mapping sub-page 0 (and the folio), so every mapcount and reference mm0 sees is matched by a mapping, yet mm0 must copy",
    threads: &["cpu1: mmap_read_lock(mm0); do_wp_page(sub-page 0)", "cpu2: mmap_read_lock(mm1); zap_pmd_range(sub-page 1)"],
    must_reach: &[COW_PTE_COPIED],
    body: cow_reuse_pte_vs_partial_zap_other_mm,
    ..DEFAULT
};
/// cow-reuse-pte-vs-zap-other-mm with mm1 unmapping sub-page 1 only.
fn cow_reuse_pte_vs_partial_zap_other_mm(nr: usize, outcomes: &Outcomes) {
    cow_reuse_pte_vs_zap(nr, outcomes, GupRef::None, ZapRange::Page(1));
}

pub const COW_REUSE_PTE_VS_GUP_REF_OTHER_MM: Scenario = Scenario {
    name: "cow-reuse-pte-vs-gup-ref-other-mm",
    description: "cow-reuse-pte-vs-zap-other-mm where mm1 first took a GUP reference (FOLL_GET, read-only: vmsplice, O_DIRECT) on sub-page 0 while it shared it, held to the end: mm0 must copy, or its writes would reach mm1's reference (CVE-2020-29374 for a PTE-mapped THP)",
    threads: &["cpu1: mmap_read_lock(mm0); do_wp_page(sub-page 0)", "cpu2: mmap_read_lock(mm1); zap_pmd_range(whole PMD)"],
    loom_bound: Some(3),
    must_reach: &[COW_PTE_COPIED],
    body: cow_reuse_pte_vs_gup_ref_other_mm,
    ..DEFAULT
};
/// cow-reuse-pte-vs-zap-other-mm with mm1's GUP reference on sub-page 0 held throughout.
fn cow_reuse_pte_vs_gup_ref_other_mm(nr: usize, outcomes: &Outcomes) {
    cow_reuse_pte_vs_zap(nr, outcomes, GupRef::Setup, ZapRange::Full);
}

/// Where mm1's GUP reference on sub-page 0 comes from, in the COW-vs-other-mm bodies.
#[derive(Clone, Copy, PartialEq, Eq)]
enum GupRef {
    None,
    /// Taken before the CPUs start.
    Setup,
    /// Taken by mm1's CPU with GUP-fast, before its unmap.
    GupFast,
}

/// The body of the COW-vs-other-mm scenarios: fork-shared PTE-mapped THP, mm0 write-faults
/// sub-page 0 (the copy goes to the head of folio slot 1), mm1 zaps `range`; with `gup_ref`,
/// mm1 holds a FOLL_GET reference on sub-page 0 to the end.
fn cow_reuse_pte_vs_zap(nr: usize, outcomes: &Outcomes, gup_ref: GupRef, range: ZapRange) {
    let m = setup_forked_pte_mapped(nr);
    let setup_ref = if gup_ref == GupRef::Setup {
        let got = gup_fast(&m, 1, 0, Foll::Get, false);
        assert!(got.is_some(), "[model bug] mm1's GUP of sub-page 0 failed");
        got
    } else {
        None
    };
    let before = MappingSnapshot::take(&m);
    let writer = spawn_write_fault(&m, nr);
    let m2 = m.clone();
    let other = spawn(move || {
        let got = if gup_ref == GupRef::GupFast {
            gup_fast(&m2, 1, 0, Foll::Get, false)
        } else {
            None
        };
        let _r = m2.mms[1].mmap_lock.down_read();
        zap_pmd_range(&m2, 1, range);
        got
    });
    let w = writer.join();
    let held = other.join().or(setup_ref);
    record_wp(outcomes, w);
    if let Some(fp) = held {
        check_gup_ref_isolated(&m, fp.page, 1);
        gup_put_folio(&m, fp.folio, 1, Foll::Get);
    }
    check_quiescent(&m, &[]);
    check_carried_over(&m, &before, Carry::UNMAP.and(Carry::MOVE));
}

/// Record what a PTE write fault did.
fn record_wp(outcomes: &Outcomes, w: PteWp) {
    record(
        outcomes,
        match w {
            PteWp::Reused => COW_PTE_REUSED,
            PteWp::Copied => COW_PTE_COPIED,
            PteWp::Retry => COW_PTE_RETRY,
        },
    );
}

pub const COW_REUSE_PTE_VS_GUP_FAST_OTHER_MM: Scenario = Scenario {
    name: "cow-reuse-pte-vs-gup-fast-other-mm",
    description: "write fault (do_wp_page) on sub-page 0 of a fork-shared PTE-mapped THP in mm0 vs mm1 taking a GUP-fast reference (FOLL_GET, read-only) on sub-page 0 and then unmapping the whole range (vmsplice, then munmap): while the reference is held mm0 must copy",
    threads: &["cpu1: mmap_read_lock(mm0); do_wp_page(sub-page 0)", "cpu2: gup_fast(mm1, sub-page 0, FOLL_GET); mmap_read_lock(mm1); zap_pmd_range(whole PMD)"],
    loom_bound: Some(3),
    must_reach: &[COW_PTE_COPIED],
    body: cow_reuse_pte_vs_gup_fast_other_mm,
    ..DEFAULT
};
/// A write fault on sub-page 0 of a fork-shared PTE-mapped THP in mm0 ∥ mm1's GUP-fast
/// reference on sub-page 0 followed by mm1's unmap of everything. The reference is held to
/// the end: mm0 may not make the page writable in place while it is.
fn cow_reuse_pte_vs_gup_fast_other_mm(nr: usize, outcomes: &Outcomes) {
    cow_reuse_pte_vs_zap(nr, outcomes, GupRef::GupFast, ZapRange::Full);
}

/// mm0's write fault on sub-page 0 (`do_wp_page` under mmap_lock read, a copy going to pfn
/// `nr`) on a CPU of its own.
fn spawn_write_fault(m: &Arc<Machine>, nr: usize) -> JoinHandle<PteWp> {
    let m1 = m.clone();
    spawn(move || {
        let _r = m1.mms[0].mmap_lock.down_read();
        do_wp_page(&m1, 0, 0, nr)
    })
}

pub const COW_REUSE_PTE_VS_FORK: Scenario = Scenario {
    name: "cow-reuse-pte-vs-fork",
    description: "write fault (do_wp_page: __wp_can_reuse_large_anon_folio) on sub-page 0 of a PTE-mapped THP that mm0 alone maps again (its fork child mm1 unmapped everything: no page AnonExclusive, \"maybe mapped shared\" clear) vs a new fork of mm0 into mm1 (dup_mmap: copy_pte_range, folio_ref_add then folio_try_dup_anon_rmap_ptes): mmap_lock orders them; reused before the fork, the fork must share the reused page write-protected; after it, the fault must copy",
    threads: &["cpu1: mmap_read_lock(mm0); do_wp_page(sub-page 0)", "cpu2: dup_mmap(mm0 -> mm1)"],
    must_reach: &[COW_PTE_REUSED, COW_PTE_COPIED],
    body: cow_reuse_pte_vs_fork,
    ..DEFAULT
};
/// A write fault on sub-page 0 of a THP that mm0 maps alone after its first child exited ∥
/// mm0 forking again into the (empty) mm1. The fault reuses only if it runs first; a fork
/// after the reuse write-protects the page again and shares it (AnonExclusive cleared); a fork
/// first leaves every page mapped twice, so the fault copies.
fn cow_reuse_pte_vs_fork(nr: usize, outcomes: &Outcomes) {
    let m = setup_forked_pte_mapped(nr);
    {
        // mm1 exits: every mapping and reference of mm1 goes, the table with them.
        let _r = m.mms[1].mmap_lock.down_read();
        zap_pmd_range(&m, 1, ZapRange::Full);
    }
    assert!(
        !thp_model::mm::rmap::folio_maybe_mapped_shared(&m, 0),
        "[model bug] mm1 unmapped everything but the folio is still \"maybe mapped shared\""
    );
    let before = MappingSnapshot::take(&m);
    let writer = spawn_write_fault(&m, nr);
    let m2 = m.clone();
    let fork = spawn(move || dup_mmap(&m2, 0, 1));
    let w = writer.join();
    assert!(fork.join(), "[model bug] the fork's copy failed");
    record_wp(outcomes, w);
    check_quiescent(&m, &[]);
    check_carried_over(&m, &before, Carry::MOVE);
}

pub const COW_PTE_VS_FOLIO_SPLIT: Scenario = Scenario {
    name: "cow-pte-vs-folio-split",
    description: "write fault (do_wp_page) on sub-page 0 of a fork-shared PTE-mapped THP in mm0 vs split_huge_page of the folio (the caller's reference and folio lock): the split's unmap turns both mms' PTEs into migration entries under the fault's feet, the fault's reference makes the split's freeze fail",
    threads: &["cpu1: mmap_read_lock(mm0); do_wp_page(sub-page 0)", "cpu2: folio_lock; split_huge_page; folio_unlock; folio_put"],
    loom_bound: Some(3),
    must_reach: &[SPLIT_OK, SPLIT_EAGAIN, COW_PTE_COPIED, COW_PTE_RETRY],
    body: cow_pte_vs_folio_split,
    ..DEFAULT
};
/// A write fault on sub-page 0 of a fork-shared PTE-mapped THP in mm0 ∥ `split_huge_page` of
/// the folio. The fault must copy (the page stays shared with mm1 whatever the split does) or
/// find the PTE changed; the split succeeds or fails with -EAGAIN (the fault's reference).
fn cow_pte_vs_folio_split(nr: usize, outcomes: &Outcomes) {
    let m = setup_forked_pte_mapped(nr);
    thp_model::mm::page_ref::folio_get(&m.memmap, 0); // the split caller's reference
    let before = MappingSnapshot::take(&m);
    let writer = spawn_write_fault(&m, nr);
    let m2 = m.clone();
    let splitter = spawn(move || split_caller(&m2));
    let w = writer.join();
    let split = splitter.join();
    record_split(outcomes, &split);
    record_wp(outcomes, w);
    check_quiescent(&m, &[]);
    check_carried_over(&m, &before, Carry::MOVE);
}

pub const FORK_VS_GUP_FAST_PIN: Scenario = Scenario {
    name: "fork-vs-gup-fast-pin",
    // Unbounded it was 2,026,506 executions while fork stopped at copy_huge_pmd's refusal; with
    // the PTE-level copy that follows it (copy_pte_range, two preallocation rounds) the unbounded
    // search did not end in 25 minutes. 4: 66,526; 5: see docs/bounds.md.
    loom_bound: Some(5),
    description: "on x86-64: fork (dup_mmap: write_protect_seq odd, copy_huge_pmd shares the folio, or refuses a maybe-pinned one: splits the parent's PMD, then copy_pte_range copies the pinned pages for the child) vs GUP-fast FOLL_PIN|FOLL_WRITE on sub-page 1 of the parent's PMD-mapped THP (57efa1fe5957)",
    threads: &["cpu1: dup_mmap (copy_page_range: write_protect_seq, copy_huge_pmd, copy_pte_range after -EAGAIN)", "cpu2: gup_fast(FOLL_PIN|FOLL_WRITE); (main) unpin_user_page"],
    arch: Arch::X86,
    must_reach: &[FORK_SHARED, FORK_REFUSED_PINNED, FORK_COPIED_PINNED_PAGE, PINNED, GUP_FAST_FAILED, GUP_FAST_FORK_IN_PROGRESS, GUP_FAST_RACED_FORK],
    body: fork_vs_gup_fast_pin,
    ..DEFAULT
};
/// fork-vs-gup-fast-pin with only the ordering generic code may assume (the LKMM: `spin_lock`
/// an ACQUIRE only, and an UNLOCK followed by a LOCK no full barrier), with the candidate fix of
/// finding F2 (docs/findings.md).
pub const FORK_VS_GUP_FAST_PIN_PORTABLE: Scenario = Scenario {
    name: "fork-vs-gup-fast-pin-portable",
    description: "fork-vs-gup-fast-pin with only the ordering generic code may assume (spin_lock an ACQUIRE only), with the candidate fix of finding F2 (smp_mb after fork's write_protect_seq increment); without it the LKMM lets fork and GUP-fast each miss the other (store buffering)",
    threads: &["cpu1: dup_mmap (copy_page_range: write_protect_seq, copy_huge_pmd, copy_pte_range after -EAGAIN)", "cpu2: gup_fast(FOLL_PIN|FOLL_WRITE); (main) unpin_user_page"],
    arch: Arch::Portable,
    // Unbounded: 754,572 executions before the PTE-level copy after copy_huge_pmd's refusal was
    // modelled; with it 4: 139,155 (19 s), 5: 634,917 (92 s). Without F2's fix the
    // counterexample is found at 2 (679 executions).
    loom_bound: Some(4),
    fixes: &[thp_model::rules::Rule::ForkWriteProtectSeqMb],
    must_reach: &[FORK_SHARED, FORK_REFUSED_PINNED, FORK_COPIED_PINNED_PAGE, PINNED, GUP_FAST_FAILED, GUP_FAST_FORK_IN_PROGRESS, GUP_FAST_RACED_FORK],
    body: fork_vs_gup_fast_pin,
    ..DEFAULT
};

/// fork (`dup_mmap` → `copy_page_range` → `copy_pmd_range`) ∥ GUP-fast FOLL_PIN|FOLL_WRITE
/// on sub-page 1 of the parent's PMD-mapped THP, on x86-64. A pin that GUP-fast returns must be
/// on a page the parent maps exclusively (AnonExclusive) and the child does not share: either
/// the fork saw the pin and did not share the folio (`copy_huge_pmd` splits the parent's PMD and
/// says -EAGAIN; `copy_pte_range` then gives the child a copy of every page that may still be
/// pinned, `copy_present_page`, and shares the others), or GUP-fast saw the fork
/// (`write_protect_seq`) and backed off. The child reads what the parent had (I29).
fn fork_vs_gup_fast_pin(nr: usize, outcomes: &Outcomes) {
    use thp_model::mm::page::PG_ANON_EXCLUSIVE;
    use thp_model::mm::pgtable::Pte;
    let m = setup_huge_pmd_mms(nr, 2, 2);
    let before = MappingSnapshot::take(&m);
    let m1 = m.clone();
    // Folio slot 1 is free: the PTE-level copy's preallocations come from it.
    let forker = spawn(move || {
        let pool: Vec<usize> = (nr..2 * nr).collect();
        dup_mmap_prealloc(&m1, 0, 1, &pool)
    });
    let m2 = m.clone();
    let pinner = spawn(move || gup_fast(&m2, 0, 1, Foll::Pin, true));
    let forked = forker.join();
    let pin = pinner.join();
    assert!(forked, "[model bug] fork failed");
    let child_pmd = Pmd::decode(m.mms[1].pmd.read());
    record(
        outcomes,
        if matches!(child_pmd, Pmd::Huge { .. }) {
            FORK_SHARED
        } else {
            FORK_REFUSED_PINNED
        },
    );
    record_observed(
        outcomes,
        &m,
        &[
            FORK_COPIED_PINNED_PAGE,
            GUP_FAST_FORK_IN_PROGRESS,
            GUP_FAST_RACED_FORK,
        ],
    );
    let child_maps = |page: usize| {
        match child_pmd {
        Pmd::Huge { pfn, .. } => (pfn..pfn + nr).contains(&page),
        Pmd::Table(t) => (0..nr).any(|k| {
            matches!(Pte::decode(m.mms[1].tables[t].ptes[k].read()), Pte::Present { pfn, .. } if pfn == page)
        }),
        _ => false,
    }
    };
    let parent_maps = |page: usize| {
        match Pmd::decode(m.mms[0].pmd.read()) {
        Pmd::Huge { pfn, .. } => (pfn..pfn + nr).contains(&page),
        Pmd::Table(t) => (0..nr).any(|k| {
            matches!(Pte::decode(m.mms[0].tables[t].ptes[k].read()), Pte::Present { pfn, .. } if pfn == page)
        }),
        _ => false,
    }
    };
    match pin {
        Some(p) => {
            record(outcomes, PINNED);
            assert!(
                parent_maps(p.page),
                "[{}] GUP-fast pinned page {} for the parent, which no longer maps it after the fork",
                Inv::I15GupFast.tag(),
                p.page
            );
            let shared = child_maps(p.page);
            let exclusive = match Pmd::decode(m.mms[0].pmd.read()) {
                Pmd::Huge { .. } => m.memmap.page(p.folio).flags.test_bit(PG_ANON_EXCLUSIVE),
                _ => m.memmap.page(p.page).flags.test_bit(PG_ANON_EXCLUSIVE),
            };
            assert!(
                exclusive && !shared,
                "[{}] GUP-fast pinned page {} for the parent, but it is {} after the fork",
                Inv::I16PinnedNotExclusive.tag(),
                p.page,
                if shared {
                    "shared with the child"
                } else {
                    "not AnonExclusive"
                }
            );
            gup_put_folio(&m, p.folio, 1, Foll::Pin);
        }
        None => record(outcomes, GUP_FAST_FAILED),
    }
    // The child reads what the parent had, shared or copied (this fails when the child lacks a
    // page or maps another: a copy itself cannot change the data).
    let after = MappingSnapshot::take(&m);
    for k in 0..nr {
        let parent = before.views[0][k].as_ref().map(|v| v.content);
        let child = after.views[1][k].as_ref().map(|v| v.content);
        assert!(
            child.is_some() && child == parent,
            "[{}] the fork child's page {k} reads {child:?}, the parent's read {parent:?}",
            Inv::I29DataLost.tag()
        );
    }
    check_quiescent(&m, &[]);
    check_carried_over(&m, &before, Carry::FORK);
}

pub const FORK_VS_GUP_FAST_RO_PIN_PTE: Scenario = Scenario {
    name: "fork-vs-gup-fast-ro-pin-pte",
    description: "on x86-64: fork of a PTE-mapped THP whose PTEs are read-only and AnonExclusive (dup_mmap: write_protect_seq odd, copy_pte_range: the batch is shared, or a maybe-pinned page makes it drop its locks, preallocate and give the child a copy with copy_present_page) vs a read-only GUP-fast FOLL_PIN on sub-page 1 (gup_must_unshare, write_protect_seq)",
    threads: &["cpu1: dup_mmap (copy_page_range: write_protect_seq, copy_pte_range, copy_present_ptes / copy_present_page)", "cpu2: gup_fast(FOLL_PIN) on a read-only PTE; (main) unpin_user_page"],
    arch: Arch::X86,
    // 4: 7,662 executions; none: 299,748 (91 s on the slow day of docs/performance.md)
    loom_bound: Some(4),
    must_reach: &[FORK_COPIED_PINNED_PAGE, FORK_PREALLOC_UNUSED, PINNED, GUP_FAST_FAILED, GUP_FAST_FORK_IN_PROGRESS, GUP_FAST_RACED_FORK, GUP_FAST_MUST_UNSHARE],
    body: fork_vs_gup_fast_ro_pin_pte,
    ..DEFAULT
};

/// fork (`dup_mmap` → `copy_page_range` → `copy_pte_range`) ∥ a read-only GUP-fast FOLL_PIN of
/// sub-page 1 of the parent's PTE-mapped THP, whose PTEs are read-only but AnonExclusive (as
/// soft-dirty tracking's clear_refs leaves them). Fork does not touch a read-only parent PTE, so
/// GUP-fast's PTE recheck cannot see it: only `write_protect_seq` and `gup_must_unshare` (the
/// page no longer AnonExclusive) stand between a pin and a page the child shares. A returned
/// pin must be on a page the parent maps AnonExclusive and the child does not map (I16); the
/// child reads what the parent had (a copy or the shared page, I29); nothing leaks.
fn fork_vs_gup_fast_ro_pin_pte(nr: usize, outcomes: &Outcomes) {
    use thp_model::mm::page::PG_ANON_EXCLUSIVE;
    use thp_model::mm::pgtable::Pte;
    let m = setup_ro_exclusive_pte_mapped(nr, 2, 2);
    let before = MappingSnapshot::take(&m);
    let m1 = m.clone();
    // Folio slot 1 is free: fork's preallocations come from it.
    let forker = spawn(move || {
        let pool: Vec<usize> = (nr..2 * nr).collect();
        dup_mmap_prealloc(&m1, 0, 1, &pool)
    });
    let m2 = m.clone();
    let pinner = spawn(move || gup_fast(&m2, 0, 1, Foll::Pin, false));
    let forked = forker.join();
    let pin = pinner.join();
    assert!(forked, "[model bug] fork failed");
    record_observed(
        outcomes,
        &m,
        &[
            FORK_COPIED_PINNED_PAGE,
            FORK_PREALLOC_UNUSED,
            GUP_FAST_FORK_IN_PROGRESS,
            GUP_FAST_RACED_FORK,
            GUP_FAST_MUST_UNSHARE,
        ],
    );
    let Pmd::Table(ct) = Pmd::decode(m.mms[1].pmd.read()) else {
        panic!("[model bug] the child has no PTE table after the fork");
    };
    let child_pfn = |k: usize| match Pte::decode(m.mms[1].tables[ct].ptes[k].read()) {
        Pte::Present { pfn, .. } => Some(pfn),
        _ => None,
    };
    if let Some(p) = pin {
        record(outcomes, PINNED);
        let exclusive = m.memmap.page(p.page).flags.test_bit(PG_ANON_EXCLUSIVE);
        let child_maps = child_pfn(p.page) == Some(p.page);
        assert!(
            exclusive && !child_maps,
            "[{}] GUP-fast pinned page {} for the parent, but it is {} after the fork",
            Inv::I16PinnedNotExclusive.tag(),
            p.page,
            if child_maps {
                "shared with the child"
            } else {
                "not AnonExclusive"
            }
        );
        gup_put_folio(&m, p.folio, 1, Foll::Pin);
    } else {
        record(outcomes, GUP_FAST_FAILED);
    }
    // The child reads what the parent had, shared or copied.
    let after = MappingSnapshot::take(&m);
    for k in 0..nr {
        let parent = before.views[0][k].as_ref().map(|v| v.content);
        let child = after.views[1][k].as_ref().map(|v| v.content);
        assert!(
            child.is_some() && child == parent,
            "[{}] the fork child's page {k} reads {child:?}, the parent's read {parent:?}",
            Inv::I29DataLost.tag()
        );
    }
    check_quiescent(&m, &[]);
    check_carried_over(&m, &before, Carry::FORK);
}
