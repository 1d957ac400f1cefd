//! Models mm/gup.c (Linux 6.18.2): the slow-path page-table walk (`follow_pmd_mask`,
//! `follow_huge_pmd`, `follow_page_pte`) and `try_grab_folio`. Paraphrased.

use crate::invariants::Inv;
use crate::kernel::SpinGuard;
use crate::mm::memory::pte_offset_map_lock;
use crate::mm::page_ref::folio_ref_add;
use crate::mm::pgtable::{Pmd, Pte};
use crate::mm::{Machine, Mm};
use crate::rules::{rule_on, Rule};
use crate::{trace, vm_bug_on, vm_warn_on};

/// What a walk found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Follow {
    /// No page (none, migration entry, no table right now): GUP would fault and retry.
    NoPage,
    /// A page with a reference taken, found through a huge PMD.
    HugePage(usize),
    /// A page with a reference taken, found through a PTE.
    PtePage(usize),
}

/// `try_grab_folio(folio, refs, FOLL_GET)`: the caller holds the ptl of a present mapping, so
/// the count is > 0 and a plain add is allowed (I2).
pub fn try_grab_folio(m: &Machine, folio: usize, refs: i32) {
    let c = m.memmap.page(folio)._refcount.read();
    vm_warn_on!(
        c <= 0,
        Inv::I2IncOfZero,
        "try_grab_folio on folio {folio} with refcount {c}"
    );
    folio_ref_add(&m.memmap, folio, refs);
}

/// `follow_pmd_mask` (FOLL_GET) for sub-page `idx` of the PMD range: lockless PMD read;
/// huge leaf → PMD lock and re-test (rule `pmd-trans-huge-lock-recheck`) → `follow_huge_pmd`;
/// table → `follow_page_pte`. Called with `mmap_lock` held for read.
pub fn follow_pmd_mask(m: &Machine, mm_id: usize, idx: usize) -> Follow {
    let mm = &m.mms[mm_id];
    mm.mmap_lock.assert_held("follow_pmd_mask");
    let pmdval = Pmd::decode(mm.pmd.read_dep()); // pmdp_get_lockless
    trace!("follow_pmd_mask", "lockless pmd {pmdval:?}");
    if pmdval.none() || !pmdval.present() {
        return Follow::NoPage;
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
    let Pte::Present { pfn, .. } = pte else {
        return Follow::NoPage;
    };
    let folio = m.memmap.page_folio(pfn);
    try_grab_folio(m, folio, 1);
    drop(map);
    Follow::PtePage(pfn)
}
