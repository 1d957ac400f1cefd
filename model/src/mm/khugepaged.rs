//! Models mm/khugepaged.c (Linux 6.18.2): `collapse_huge_page` for anonymous memory, with
//! `__collapse_huge_page_isolate` and `__collapse_huge_page_copy_succeeded`. Paraphrased; no
//! kernel code is reproduced. Protocol: docs/protocol.md#collapse; historical race Z01.

use crate::invariants::Inv;
use crate::kernel::rule_on;
use crate::kernel::{smp_mb, smp_wmb, tlb_remove_table_sync_one};
use crate::mm::filemap::{folio_trylock, folio_unlock};
use crate::mm::page::{PG_HEAD, PG_LRU};
use crate::mm::page_ref::{folio_put, folio_put_refs, folio_ref_count};
use crate::mm::pgtable::{Pmd, Pte, F_DIRTY, F_WRITE, F_YOUNG};
use crate::mm::pgtable_generic::pgtable_trans_huge_deposit;
use crate::mm::rmap::{folio_add_new_anon_rmap_pmd, folio_remove_rmap_pte};
use crate::mm::vmscan::{folio_isolate_lru, folio_putback_lru};
use crate::mm::Machine;
use crate::rules::Rule;
use crate::{trace, vm_bug_on};

/// `enum scan_result` (mm/khugepaged.c), the values this model can return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanResult {
    Succeed,
    /// `SCAN_PMD_NULL`: no PMD / no table at revalidation.
    PmdNull,
    /// `SCAN_PMD_MAPPED`: the PMD is already huge.
    PmdMapped,
    /// `SCAN_PTE_NON_PRESENT`: a migration (or swap) entry in the range.
    PteNonPresent,
    /// `SCAN_PAGE_LOCK`: `folio_trylock` failed.
    PageLock,
    /// `SCAN_PAGE_COUNT`: a folio has references beyond its mappings (a GUP pin, a
    /// speculative reference).
    PageCount,
    /// `SCAN_DEL_PAGE_LRU`: `folio_isolate_lru` failed.
    DelPageLru,
}

/// `folio_expected_ref_count` (include/linux/mm.h) for an anonymous folio outside the swap
/// cache: one reference per mapping.
fn folio_expected_ref_count(m: &Machine, folio: usize) -> i32 {
    let mm = &m.memmap;
    if mm.page(folio).flags.test_bit(PG_HEAD) {
        mm.meta[folio]._large_mapcount.read() + 1
    } else {
        mm.page(folio)._mapcount.read() + 1
    }
}

/// `release_pte_folio` (mm/khugepaged.c): unlock, and `folio_putback_lru` (back on the LRU,
/// the isolation reference dropped).
fn release_pte_folio(m: &Machine, folio: usize) {
    folio_unlock(&m.memmap, folio);
    folio_putback_lru(m, folio);
}

/// `__collapse_huge_page_isolate` (mm/khugepaged.c), PTE lock held by the caller: for each
/// present PTE, lock the folio (trylock: "PG_lock is needed to serialize against
/// split_huge_page"), require that it has no reference beyond its mappings (rule
/// `collapse-isolate-ref-check`: the table is unlinked, so only GUP-fast or a speculative
/// getter could still raise it), and isolate it from the LRU. None PTEs are allowed
/// (`khugepaged_max_ptes_none` defaults to all but one). On failure the folios isolated so far
/// are released (`release_pte_pages`).
fn __collapse_huge_page_isolate(m: &Machine, table: &crate::mm::PteTable) -> ScanResult {
    let mm = &m.memmap;
    let mut isolated: Vec<usize> = Vec::new();
    let mut none = 0;
    let mut result = ScanResult::Succeed;
    for (idx, pte) in table.ptes.iter().enumerate() {
        let v = Pte::decode(pte.read());
        let pfn = match v {
            // pte_none_or_zero: the shared zero page counts as none
            Pte::None | Pte::Zero { .. } => {
                none += 1;
                if none < m.nr {
                    continue;
                }
                // SCAN_EXCEED_NONE_PTE: an empty range is not collapsed (reported as PMD_NULL)
                result = ScanResult::PmdNull;
                break;
            }
            // A swap entry (reclaim may write one after collapse's swap-in step): not
            // present, the collapse fails.
            Pte::Migration { .. } | Pte::Swap { .. } => {
                result = ScanResult::PteNonPresent;
                break;
            }
            Pte::Present { pfn, .. } => pfn,
        };
        let folio = mm.page_folio(pfn);
        if isolated.contains(&folio) {
            continue; // a large folio already on compound_pagelist
        }
        if !folio_trylock(mm, folio) {
            result = ScanResult::PageLock;
            break;
        }
        let expected = folio_expected_ref_count(m, folio);
        let rc = folio_ref_count(mm, folio);
        trace!(
            "__collapse_huge_page_isolate",
            "pte[{idx}] folio {folio}: refcount {rc}, expected {expected}"
        );
        if rule_on(Rule::CollapseIsolateRefCheck) && rc != expected {
            folio_unlock(mm, folio);
            result = ScanResult::PageCount;
            break;
        }
        if !folio_isolate_lru(m, folio) {
            folio_unlock(mm, folio);
            result = ScanResult::DelPageLru;
            break;
        }
        isolated.push(folio);
    }
    if result != ScanResult::Succeed {
        for f in isolated {
            release_pte_folio(m, f);
        }
    }
    result
}

/// `__collapse_huge_page_copy` then `__collapse_huge_page_copy_succeeded` (mm/khugepaged.c),
/// one pass over the PTEs where the kernel makes two (nothing can change the entries or the
/// sources in between: the table is unlinked and every source folio is locked and isolated,
/// and nobody can see the new folio yet). Sub-page `idx` of `folio` gets the contents of the
/// page the PTE maps (`copy_mc_user_highpage`), or zeroes for a none or zero-page PTE
/// (`clear_user_highpage`). Then per present PTE: release a small source folio from
/// isolation, then under the PTE lock clear the PTE and remove its rmap, and drop the
/// mapping's reference (the last one frees the source); a zero-page PTE is only cleared.
/// Large sources are released after the loop.
fn __collapse_huge_page_copy_succeeded(
    m: &Machine,
    mm_id: u32,
    table: &crate::mm::PteTable,
    folio: usize,
) {
    let mm = &m.memmap;
    let mut large: Vec<usize> = Vec::new();
    for (idx, pte) in table.ptes.iter().enumerate() {
        let v = Pte::decode(pte.read());
        let Pte::Present { pfn, .. } = v else {
            mm.page(folio + idx)
                .content
                .set(crate::mm::page::ZERO_FILLED); // clear_user_highpage
            if let Pte::Zero { .. } = v {
                let _ptl = table.ptl.lock();
                pte.set(0); // ptep_clear
                trace!(
                    "__collapse_huge_page_copy_succeeded",
                    "pte[{idx}] (zero page) cleared"
                );
            }
            continue;
        };
        crate::mm::util::copy_mc_highpage(m, folio + idx, pfn);
        let src = mm.page_folio(pfn);
        let is_large = mm.page(src).flags.test_bit(PG_HEAD);
        if is_large {
            if !large.contains(&src) {
                large.push(src);
            }
        } else {
            release_pte_folio(m, src);
        }
        {
            let _ptl = table.ptl.lock();
            pte.set(0); // clear_ptes
            folio_remove_rmap_pte(mm, src, pfn, is_large, mm_id);
            trace!(
                "__collapse_huge_page_copy_succeeded",
                "pte[{idx}] (pfn {pfn}) cleared"
            );
        }
        folio_put_refs(mm, src, 1, crate::mm::page_ref::folio_nr_pages(m, src));
    }
    for src in large {
        release_pte_folio(m, src);
    }
}

/// `collapse_huge_page` (mm/khugepaged.c) for the PMD of `mm_id`, collapsing into a new folio
/// at memmap slot `slot` (which must be free). Entered without `mmap_lock` (the scan that
/// chose this PMD dropped it to allocate):
/// 1. allocate the huge folio;
/// 2. `mmap_read_lock`, revalidate (the PMD must point to a PTE table), `mmap_read_unlock`;
/// 3. `mmap_write_lock`, revalidate, `vma_start_write` (rule `collapse-vma-start-write`: a
///    fault may run under the VMA lock alone), revalidate again, `anon_vma_lock_write`;
/// 4. under the PMD lock `pmdp_collapse_flush` (PMD → none, TLB flush);
/// 5. `tlb_remove_table_sync_one` (rule `collapse-table-sync-one`): wait for every IRQs-off
///    GUP-fast walker that may still use the old table, before the table is reused;
/// 6. under the PTE lock `__collapse_huge_page_isolate`; on failure restore the old PMD
///    (`pmd_populate`) and give up;
/// 7. `anon_vma_unlock_write`, copy, clear the old PTEs and free the sources;
/// 8. `__folio_mark_uptodate` (`smp_wmb`), then under the PMD lock: rmap, LRU, deposit the old
///    table, `set_pmd_at`.
pub fn collapse_huge_page(m: &Machine, mm_id: usize, slot: usize) -> ScanResult {
    let mm = &m.mms[mm_id];
    let folio = m.memmap.alloc_large_folio(slot); // alloc_charge_folio
    trace!("collapse_huge_page", "new folio {folio} allocated");
    let fail = |r: ScanResult| {
        folio_put(&m.memmap, folio, m.nr);
        trace!("collapse_huge_page", "failed: {r:?}");
        r
    };
    let table_or = |pmd: Pmd| match pmd {
        Pmd::Table(t) => Ok(t),
        Pmd::None => Err(ScanResult::PmdNull),
        _ => Err(ScanResult::PmdMapped),
    };
    {
        let _r = mm.mmap_lock.down_read();
        // hugepage_vma_revalidate + find_pmd_or_thp_or_none
        if let Err(r) = table_or(Pmd::decode(mm.pmd.read())) {
            drop(_r);
            return fail(r);
        }
    }
    let w = mm.mmap_lock.down_write();
    // hugepage_vma_revalidate; vma_start_write (rule collapse-vma-start-write: faults under
    // the per-VMA lock alone must be shut out too); check_pmd_still_valid
    let vw =
        rule_on(Rule::CollapseVmaStartWrite).then(|| crate::mm::mmap_lock::vma_start_write(mm));
    let w = (vw, w); // mmap_write_unlock releases the VMA write lock with mmap_lock
    let t = match table_or(Pmd::decode(mm.pmd.read())) {
        Ok(t) => t,
        Err(r) => {
            drop(w);
            return fail(r);
        }
    };
    let av = m.anon_vma.rwsem.down_write();
    // pmdp_collapse_flush, under the PMD lock: get-and-clear, then flush the range (the flush
    // is inside the lock, as in the kernel). "Parallel GUP-fast is fine since GUP-fast will
    // back off when it detects PMD is changed."
    let orig = {
        let ptl = mm.pmd_lock.lock();
        let orig = crate::mm::pgtable::pmdp_huge_get_and_clear(mm);
        trace!("pmdp_collapse_flush", "pmd {:?} -> none", Pmd::decode(orig));
        crate::mm::pgtable_generic::flush_pmd_tlb_range(m, mm); // flush_tlb_range
        drop(ptl);
        orig
    };
    vm_bug_on!(
        Pmd::decode(orig) != Pmd::Table(t),
        Inv::I5HugePmdStability,
        "collapse: the PMD changed from Table({t}) to {:?} under mmap_lock write",
        Pmd::decode(orig)
    );
    if rule_on(Rule::CollapseTableSyncOne) {
        tlb_remove_table_sync_one(&m.rcu);
    }
    let table = m.table(mm, t, "collapse_huge_page");
    // pte_offset_map_lock on the stack copy of the PMD
    let result = {
        let _pl = table.ptl.lock();
        __collapse_huge_page_isolate(m, table)
    };
    if result != ScanResult::Succeed {
        let ptl = mm.pmd_lock.lock();
        vm_bug_on!(
            !Pmd::decode(mm.pmd.read()).none(),
            Inv::I5HugePmdStability,
            "collapse failure path: the PMD was repopulated while unlinked"
        );
        mm.pmd.set(orig); // pmd_populate(old table)
        trace!(
            "pmd_populate",
            "collapse failed: pmd = table({t}, PRESENT) restored"
        );
        drop(ptl);
        drop(av);
        drop(w);
        return fail(result);
    }
    // "All pages are isolated and locked so anon_vma rmap can't run anymore."
    drop(av);
    __collapse_huge_page_copy_succeeded(m, m.mms[mm_id].mm_id, table, folio);
    smp_wmb(); // __folio_mark_uptodate: the copy visible before set_pmd_at
    let ptl = mm.pmd_lock.lock();
    vm_bug_on!(
        !Pmd::decode(mm.pmd.read()).none(),
        Inv::I5HugePmdStability,
        "collapse: the PMD was repopulated while unlinked"
    );
    folio_add_new_anon_rmap_pmd(&m.memmap, folio, m.mms[mm_id].mm_id);
    m.memmap.page(folio).flags.set_bit(PG_LRU); // folio_add_lru_vma
    smp_mb(); // the LRU drain's fully ordered put (as in the huge fault)
    pgtable_trans_huge_deposit(mm, &ptl, t);
    let v = Pmd::Huge {
        pfn: folio,
        flags: F_WRITE | F_YOUNG | F_DIRTY,
    };
    mm.pmd.set(v.encode()); // set_pmd_at
    trace!("set_pmd_at", "collapse: pmd = {v:?}");
    crate::mm::huge_memory::deferred_split_folio(&m.memmap, folio, false);
    drop(ptl);
    drop(w);
    ScanResult::Succeed
}
