//! Models mm/gup.c (Linux 6.18.2): the slow-path page-table walk (`follow_pmd_mask`,
//! `follow_huge_pmd`, `follow_page_pte`) and `try_grab_folio`. Paraphrased.

use crate::invariants::Inv;
use crate::kernel::rule_on;
use crate::kernel::SpinGuard;
use crate::mm::page_ref::folio_ref_add;
use crate::mm::pgtable::{Pmd, Pte};
use crate::mm::pgtable_generic::pmdp_get_lockless;
use crate::mm::pgtable_generic::pte_offset_map_lock;
use crate::mm::{Machine, Mm};
use crate::rules::Rule;
use crate::{trace, vm_bug_on, vm_warn_on};

/// What a walk found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Follow {
    /// The lockless PMD read found no PMD mapping (none or not present): GUP would fault.
    NoPmd,
    /// No page (migration entry, no table right now, none PTE): GUP would fault and retry.
    NoPage,
    /// A page with a reference taken, found through a huge PMD.
    HugePage(usize),
    /// A page with a reference taken, found through a PTE.
    PtePage(usize),
    /// The shared zero page, found through a special PTE (a read-only GUP gets it; the zero
    /// page's own refcount is not modelled: it is never freed).
    ZeroPage,
}

/// `try_grab_folio(folio, refs, FOLL_GET)`: the caller holds the ptl of a present mapping, so
/// the count is > 0 and a plain add is allowed (I2).
pub fn try_grab_folio(m: &Machine, folio: usize, refs: i32) {
    try_grab_folio_flags(m, folio, refs, Foll::Get)
}

/// I3 at a grab under the ptl of a present mapping: every present entry is paired with one
/// reference, so the count covers the mapcount (the folio cannot be frozen while mapped).
/// (Reads the mapcount first, then the refcount: mappings are added after their references
/// and removed before them, so this order never sees a false shortfall from a concurrent
/// mapper in the same order. Valid for one mm; a fork scenario must revisit it.)
fn check_refs_cover_mappings(m: &Machine, folio: usize) {
    let mc = if folio_test_large(m, folio) {
        crate::mm::rmap::folio_mapcount(&m.memmap, folio)
    } else {
        m.memmap.page(folio)._mapcount.read() + 1
    };
    let rc = m.memmap.page(folio)._refcount.read();
    vm_bug_on!(
        rc < mc,
        Inv::I3RefsCoverMappings,
        "folio {folio} has refcount {rc} but is mapped {mc} times"
    );
}

/// `follow_pmd_mask` (FOLL_GET) for sub-page `idx` of the PMD range: lockless PMD read;
/// huge leaf → PMD lock and re-test (rule `pmd-trans-huge-lock-recheck`) → `follow_huge_pmd`;
/// table → `follow_page_pte`. Called with `mmap_lock` held for read.
pub fn follow_pmd_mask(m: &Machine, mm_id: usize, idx: usize) -> Follow {
    let mm = &m.mms[mm_id];
    mm.mmap_lock.assert_held("follow_pmd_mask");
    let pmdval = Pmd::decode(pmdp_get_lockless(mm, "follow_pmd_mask"));
    if pmdval.none() || !pmdval.present() {
        return Follow::NoPmd;
    }
    if !pmdval.leaf() {
        return follow_page_pte(m, mm, idx);
    }
    let ptl = mm.pmd_lock.lock();
    if rule_on(Rule::PmdTransHugeLockRecheck) {
        let v = Pmd::decode(mm.pmd.read());
        if !v.present() {
            return Follow::NoPage;
        }
        if !v.leaf() {
            trace!("follow_pmd_mask", "pmd {v:?} split under us: PTE path");
            drop(ptl);
            return follow_page_pte(m, mm, idx);
        }
    }
    follow_huge_pmd(m, mm, &ptl, idx)
}

/// `follow_huge_pmd`: PMD lock held; the PMD is a huge leaf (I5).
pub fn follow_huge_pmd(m: &Machine, mm: &Mm, _ptl: &SpinGuard<'_>, idx: usize) -> Follow {
    mm.pmd_lock.assert_held("follow_huge_pmd");
    let v = Pmd::decode(mm.pmd.read());
    let head = v.huge_pfn();
    vm_bug_on!(
        head.is_none(),
        Inv::I5HugePmdStability,
        "follow_huge_pmd decodes {v:?} as a huge page under the PMD lock (pmd_page of a non-huge PMD)"
    );
    let head = head.unwrap_or_default();
    try_grab_folio(m, head, 1);
    trace!("follow_huge_pmd", "page {} of folio {head}", head + idx);
    Follow::HugePage(head + idx)
}

/// `follow_page_pte`: under `pte_offset_map_lock`, read the PTE and grab its folio.
pub fn follow_page_pte(m: &Machine, mm: &Mm, idx: usize) -> Follow {
    let Some(map) = pte_offset_map_lock(m, mm) else {
        return Follow::NoPage;
    };
    let table = m.table(mm, map.table, "follow_page_pte");
    let pte = Pte::decode(table.ptes[idx].read());
    trace!("follow_page_pte", "pte[{idx}] = {pte:?}");
    if let Pte::Zero { .. } = pte {
        // vm_normal_page is NULL; is_zero_pfn: the zero page itself is returned
        return Follow::ZeroPage;
    }
    let Pte::Present { pfn, .. } = pte else {
        return Follow::NoPage;
    };
    let folio = m.memmap.page_folio(pfn);
    try_grab_folio(m, folio, 1);
    drop(map);
    Follow::PtePage(pfn)
}

/// FOLL_GET or FOLL_PIN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Foll {
    Get,
    Pin,
}

/// `GUP_PIN_COUNTING_BIAS` (include/linux/mm.h): a pin on a small folio adds this many refs.
pub const GUP_PIN_COUNTING_BIAS: i32 = 1024;

/// Is `folio` large (compound head)? (`folio_test_large`; `folio_has_pincount` on 64-bit.)
pub fn folio_test_large(m: &Machine, folio: usize) -> bool {
    m.memmap
        .page(folio)
        .flags
        .test_bit(crate::mm::page::PG_HEAD)
}

/// `try_grab_folio(folio, refs, flags)` (mm/gup.c): the caller holds the ptl of a present
/// mapping, so the count is > 0 and a plain add is allowed (I2). FOLL_PIN on a large folio
/// adds to `_refcount` and `_pincount`; on a small folio, `refs * GUP_PIN_COUNTING_BIAS`.
pub fn try_grab_folio_flags(m: &Machine, folio: usize, refs: i32, foll: Foll) {
    let c = m.memmap.page(folio)._refcount.read();
    vm_warn_on!(
        c <= 0,
        Inv::I2IncOfZero,
        "try_grab_folio on folio {folio} with refcount {c}"
    );
    check_refs_cover_mappings(m, folio);
    match foll {
        Foll::Get => folio_ref_add(&m.memmap, folio, refs),
        Foll::Pin if folio_test_large(m, folio) => {
            folio_ref_add(&m.memmap, folio, refs);
            m.memmap.meta[folio]._pincount.add(refs);
        }
        Foll::Pin => folio_ref_add(&m.memmap, folio, refs * GUP_PIN_COUNTING_BIAS),
    }
}

/// `folio_maybe_dma_pinned` (include/linux/mm.h): exact `_pincount` for large folios, the
/// bias heuristic for small ones.
pub fn folio_maybe_dma_pinned(m: &Machine, folio: usize) -> bool {
    // The read a pinner races with: traced with the value it returned. (The trace arguments
    // must not read model state: that would add a scheduling point to a traced run only.)
    let (word, name, count, pinned) = if folio_test_large(m, folio) {
        let w = &m.memmap.meta[folio]._pincount;
        let v = w.read();
        (w.loc(), "_pincount", v, v > 0)
    } else {
        let w = &m.memmap.page(folio)._refcount;
        let v = w.read();
        (w.loc(), "_refcount", v, v >= GUP_PIN_COUNTING_BIAS)
    };
    crate::kernel::trace::load(word, count as i64);
    trace!(
        "folio_maybe_dma_pinned",
        "folio {folio}: {name} = {count}: {pinned}"
    );
    pinned
}

/// `gup_put_folio` / `unpin_user_page`: drop what `try_grab_folio*` added.
pub fn gup_put_folio(m: &Machine, folio: usize, refs: i32, foll: Foll) {
    let mm = &m.memmap;
    let n = match foll {
        Foll::Get => refs,
        Foll::Pin if folio_test_large(m, folio) => {
            mm.meta[folio]._pincount.sub(refs);
            refs
        }
        Foll::Pin => refs * GUP_PIN_COUNTING_BIAS,
    };
    let nr = crate::mm::page_ref::folio_nr_pages(m, folio);
    crate::mm::page_ref::folio_put_refs(mm, folio, n, nr);
}

/// `try_get_folio` (mm/gup.c): speculative reference on the folio containing `page`, then the
/// recheck that the page still belongs to it (rule `gup-fast-recheck-folio`, historical race
/// Z13), retrying if not.
fn try_get_folio(m: &Machine, page: usize, refs: i32) -> Option<usize> {
    loop {
        let folio = m.memmap.page_folio(page);
        if !m.memmap.page(folio)._refcount.add_unless(refs, 0) {
            trace!(
                "try_get_folio",
                "folio {folio} of page {page}: refcount 0, fail"
            );
            return None;
        }
        if rule_on(Rule::GupFastRecheckFolio) && m.memmap.page_folio(page) != folio {
            trace!(
                "try_get_folio",
                "page {page} left folio {folio}: put and retry"
            );
            gup_put_folio(m, folio, refs, Foll::Get);
            // No cpu_relax: the page's folio read again is a later value (coherence).
            continue;
        }
        trace!("try_get_folio", "folio {folio} of page {page} +{refs}");
        return Some(folio);
    }
}

/// `try_grab_folio_fast` (mm/gup.c): IRQs off; FOLL_PIN adds the pin and then
/// `smp_mb__after_atomic` before the caller re-checks the page table (rule `gup-fast-pin-mb`,
/// pairing with `folio_try_share_anon_rmap_*`).
fn try_grab_folio_fast(m: &Machine, page: usize, refs: i32, foll: Foll) -> Option<usize> {
    let folio = try_get_folio(m, page, refs)?;
    if foll == Foll::Pin {
        if folio_test_large(m, folio) {
            m.memmap.meta[folio]._pincount.add(refs);
        } else {
            m.memmap
                .page(folio)
                ._refcount
                .add(refs * (GUP_PIN_COUNTING_BIAS - 1));
        }
        if rule_on(Rule::GupFastPinMb) {
            crate::kernel::smp_mb__after_atomic(); // pairs with folio_try_share_anon_rmap_*
        }
        trace!("try_grab_folio_fast", "folio {folio} pinned");
    }
    Some(folio)
}

/// What GUP-fast returned: the page and the folio it holds a reference (and pin) on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FastPage {
    pub page: usize,
    pub folio: usize,
    /// Found through a huge PMD leaf (`gup_fast_pmd_leaf`), not a PTE.
    pub via_pmd: bool,
}

/// `gup_fast` (mm/gup.c) for one page (`idx`) of the PMD range: with FOLL_PIN, read
/// `write_protect_seq` first (`raw_seqcount_try_begin`, an acquire load; odd: a fork is
/// copying, fail); walk with IRQs off (`gup_fast_pgd_range`); with FOLL_PIN, `smp_rmb` and
/// re-read the seqcount (`read_seqcount_retry`): if it moved, unpin and fail (rule
/// `gup-fast-write-protect-seq`); only then `sanity_check_pinned_pages`. A failure means the
/// caller falls back to slow GUP.
pub fn gup_fast(
    m: &Machine,
    mm_id: usize,
    idx: usize,
    foll: Foll,
    write: bool,
) -> Option<FastPage> {
    let mm = &m.mms[mm_id];
    let seqcheck = foll == Foll::Pin && rule_on(Rule::GupFastWriteProtectSeq);
    let seq = if seqcheck {
        let seq = crate::kernel::smp_load_acquire(&mm.write_protect_seq);
        trace!("raw_seqcount_try_begin", "write_protect_seq {seq}");
        if seq & 1 != 0 {
            trace!(
                "gup_fast",
                "write_protect_seq {seq} odd: fork in progress, fall back"
            );
            m.observe("gup-fast-fork-in-progress");
            return None;
        }
        seq
    } else {
        0
    };
    let got = gup_fast_pgd_range(m, mm_id, idx, foll, write)?;
    if seqcheck {
        crate::kernel::smp_rmb();
        let now = mm.write_protect_seq.read();
        trace!("read_seqcount_retry", "write_protect_seq {now}");
        if now != seq {
            trace!(
                "gup_fast",
                "write_protect_seq {seq} -> {now}: a fork ran, unpin and fall back"
            );
            m.observe("gup-fast-raced-fork");
            gup_put_folio(m, got.folio, 1, foll);
            return None;
        }
    }
    if foll == Foll::Pin {
        sanity_check_pinned_pages(m, got.folio, got.page);
    }
    Some(got)
}

/// `gup_fast_pgd_range` down to one page (`idx`) of the PMD range (mm/gup.c
/// `gup_fast_pmd_range`, `gup_fast_pmd_leaf`, `gup_fast_pte_range`): IRQs off, lockless reads,
/// grab, re-check that the PMD (and PTE) did not change, else put and fail.
///
/// (The recheck reads are relaxed, one each; traced with the value read.)
fn gup_fast_pgd_range(
    m: &Machine,
    mm_id: usize,
    idx: usize,
    foll: Foll,
    write: bool,
) -> Option<FastPage> {
    let mm = &m.mms[mm_id];
    let _irq = crate::kernel::local_irq_save(&m.rcu);
    let pmdv = pmdp_get_lockless(mm, "gup_fast_pmd_range");
    let pmd = Pmd::decode(pmdv);
    if !pmd.present() {
        if pmd.migration() {
            m.observe("gup-fast-met-migration-pmd");
        }
        return None;
    }
    if pmd.leaf() {
        // gup_fast_pmd_leaf: an invalidated PMD fails pmd_access_permitted.
        if !pmd.access_permitted(write) {
            return None;
        }
        let page = pmd.huge_pfn().unwrap_or_default() + idx;
        let folio = try_grab_folio_fast(m, page, 1, foll)?;
        if rule_on(Rule::GupFastPmdPteRecheck) && pmd_changed(mm, pmdv) {
            trace!("gup_fast", "pmd changed: put and fall back");
            gup_put_folio(m, folio, 1, foll);
            return None;
        }
        let Pmd::Huge { flags, .. } = pmd else {
            crate::model_bug!("leaf {pmd:?}")
        };
        if !gup_fast_anon_ok(m, folio, flags, foll) {
            gup_put_folio(m, folio, 1, foll);
            return None;
        }
        return Some(FastPage {
            page,
            folio,
            via_pmd: true,
        });
    }
    let Pmd::Table(t) = pmd else { return None };
    // gup_fast_pte_range: pte_offset_map on the value already read; the table cannot be freed
    // while IRQs are off (IPI / RCU-deferred freeing).
    let table = m.table(mm, t, "gup_fast_pte_range");
    let ptev = table.ptes[idx].read_dep(); // ptep_get_lockless
    crate::kernel::trace::load(table.ptes[idx].loc(), ptev);
    // The read itself must not touch freed memory: check the table's lifetime again after it
    // (a free between the PMD read and the PTE read is the use-after-free).
    m.table(mm, t, "gup_fast_pte_range");
    let pte = Pte::decode(ptev);
    trace!(
        "gup_fast_pte_range",
        "ptep_get_lockless(table {t} pte[{idx}]) = {pte:?}"
    );
    let Pte::Present { pfn, flags } = pte else {
        match pte {
            Pte::Migration { .. } => m.observe("gup-fast-met-migration-pte"),
            // pte_special: GUP-fast leaves the zero page to the slow path
            Pte::Zero { .. } => m.observe("gup-fast-met-zero-page"),
            // not present: pte_access_permitted fails, GUP-fast stops
            Pte::Swap { .. } => m.observe("gup-fast-met-swap-pte"),
            _ => {}
        }
        return None;
    };
    if write && flags & crate::mm::pgtable::F_WRITE == 0 {
        return None;
    }
    let folio = try_grab_folio_fast(m, pfn, 1, foll)?;
    if rule_on(Rule::GupFastPmdPteRecheck)
        && (pmd_changed(mm, pmdv) || {
            // The PTE re-read only when the PMD is unchanged (short-circuit, as the kernel's
            // `||`), relaxed as before.
            let now = table.ptes[idx].read();
            crate::kernel::trace::load(table.ptes[idx].loc(), now);
            trace!(
                "gup_fast_pte_range",
                "recheck: READ_ONCE(table {t} pte[{idx}]) = {:?}",
                Pte::decode(now)
            );
            now != ptev
        })
    {
        trace!("gup_fast", "pmd or pte changed: put and fall back");
        gup_put_folio(m, folio, 1, foll);
        return None;
    }
    if !gup_fast_anon_ok(m, pfn, flags, foll) {
        m.observe("gup-fast-must-unshare");
        gup_put_folio(m, folio, 1, foll);
        return None;
    }
    Some(FastPage {
        page: pfn,
        folio,
        via_pmd: false,
    })
}

/// `!pte_write && gup_must_unshare` (include/linux/mm.h): a pin through a read-only entry of
/// an anonymous page that is not AnonExclusive must go the slow way (unshare fault). `page`
/// is what the kernel passes: the head for a PMD leaf, the subpage for a PTE. The `smp_rmb`
/// pairs with the `smp_mb__after_atomic` in `folio_try_share_anon_rmap_*`.
fn gup_fast_anon_ok(m: &Machine, page: usize, entry_flags: i64, foll: Foll) -> bool {
    if foll != Foll::Pin || entry_flags & crate::mm::pgtable::F_WRITE != 0 {
        return true;
    }
    if rule_on(Rule::GupMustUnshareRmb) {
        crate::kernel::smp_rmb();
    }
    m.memmap
        .page(page)
        .flags
        .test_bit(crate::mm::page::PG_ANON_EXCLUSIVE)
}

/// `sanity_check_pinned_pages` (mm/gup.c, CONFIG_DEBUG_VM `VM_WARN_ON_ONCE`), called by
/// `gup_fast` for every page it pinned: an anonymous page (`folio_test_anon`, skipped
/// otherwise) is AnonExclusive at the head or at the page; otherwise a later COW or fork could
/// replace it under the pin (I16). The reads are relaxed, after the pin's fully ordered RMW.
/// Under the LKMM this can fire on a page whose mapping was just published (finding F1,
/// docs/findings.md; candidate fix `anon-exclusive-publish-wmb`).
fn sanity_check_pinned_pages(m: &Machine, folio: usize, page: usize) {
    let mm = &m.memmap;
    if mm.mapping[folio].read() != crate::mm::ANON_VMA_ID {
        return; // !folio_test_anon
    }
    let ae = |p: usize| {
        mm.page(p)
            .flags
            .test_bit(crate::mm::page::PG_ANON_EXCLUSIVE)
    };
    vm_bug_on!(
        !ae(folio) && !ae(page),
        Inv::I16PinnedNotExclusive,
        "GUP-fast pinned page {page} of folio {folio}, but neither the head nor the page is AnonExclusive"
    );
}

/// `follow_pmd_mask` with FOLL_SPLIT_PMD (and FOLL_GET or FOLL_PIN): a huge leaf is split
/// (`split_huge_pmd`, with the PMD lock dropped first) and the walk continues at PTE level.
/// Called with `mmap_lock` held for read.
pub fn follow_pmd_mask_split(m: &Machine, mm_id: usize, idx: usize, foll: Foll) -> Follow {
    let mm = &m.mms[mm_id];
    mm.mmap_lock.assert_held("follow_pmd_mask");
    let pmdval = Pmd::decode(pmdp_get_lockless(mm, "follow_pmd_mask"));
    if pmdval.none() || !pmdval.present() {
        return Follow::NoPage;
    }
    if pmdval.leaf() {
        // FOLL_SPLIT_PMD: spin_unlock(ptl); split_huge_pmd(vma, pmd, address)
        crate::mm::huge_memory::__split_huge_pmd(m, mm_id, false);
    }
    let Some(map) = pte_offset_map_lock(m, mm) else {
        return Follow::NoPage;
    };
    let table = m.table(mm, map.table, "follow_page_pte");
    let pte = Pte::decode(table.ptes[idx].read());
    if let Pte::Zero { .. } = pte {
        return Follow::ZeroPage;
    }
    let Pte::Present { pfn, .. } = pte else {
        return Follow::NoPage;
    };
    let folio = m.memmap.page_folio(pfn);
    try_grab_folio_flags(m, folio, 1, foll);
    trace!(
        "follow_page_pte",
        "pte[{idx}] pfn {pfn}, folio {folio} grabbed ({foll:?})"
    );
    Follow::PtePage(pfn)
}

/// GUP-fast's recheck of the PMD after the grab: one relaxed read, traced with its value.
fn pmd_changed(mm: &crate::mm::Mm, pmdv: i64) -> bool {
    let now = mm.pmd.read();
    crate::kernel::trace::load(mm.pmd.loc(), now);
    trace!(
        "gup_fast_pmd_range",
        "recheck: READ_ONCE(pmd) = {:?}",
        Pmd::decode(now)
    );
    now != pmdv
}
