//! Models mm/huge_memory.c (Linux 6.18.2): the anonymous huge fault, the huge-PMD-aware lock
//! helper, and `split_huge_pmd`. Paraphrased; no kernel code is reproduced.

use crate::invariants::Inv;
use crate::kernel::{flush_tlb_ipi, smp_mb, smp_wmb, SpinGuard};
use crate::mm::page::PG_ANON_EXCLUSIVE;
use crate::mm::page_ref::{folio_put, folio_ref_add};
use crate::mm::pgtable::{Pmd, Pte, F_DIRTY, F_WRITE, F_YOUNG};
use crate::mm::rmap::{
    folio_add_anon_rmap_ptes, folio_add_new_anon_rmap_pmd, folio_remove_rmap_pmd,
};
use crate::mm::{Machine, Mm};
use crate::rules::{rule_on, Rule};
use crate::{trace, vm_bug_on, vm_warn_on};

/// Result of a fault handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultResult {
    /// The mapping is installed.
    Done,
    /// Someone else populated the PMD first: return 0, the access refaults.
    Refault,
    /// No free page-table page or folio slot: `VM_FAULT_OOM` / `VM_FAULT_FALLBACK`.
    Fallback,
}

/// `pte_alloc_one`: take a free PTE table page of `mm` (zeroed).
pub fn pte_alloc_one(mm: &Mm) -> Option<usize> {
    use std::sync::atomic::Ordering;
    for (i, t) in mm.tables.iter().enumerate() {
        if t.allocated
            .compare_exchange(false, true, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            for p in &t.ptes {
                p.set(0);
            }
            return Some(i);
        }
    }
    None
}

/// `pte_free`.
pub fn pte_free(mm: &Mm, t: usize) {
    use std::sync::atomic::Ordering;
    let was = mm.tables[t].allocated.swap(false, Ordering::Relaxed);
    vm_bug_on!(!was, Inv::I17TableLifetime, "pte_free of table {t} twice");
}

/// `pgtable_trans_huge_deposit` (mm/pgtable-generic.c): PMD lock held.
pub fn pgtable_trans_huge_deposit(mm: &Mm, ptl: &SpinGuard<'_>, t: usize) {
    debug_assert!(std::ptr::eq(ptl.lock_ref(), &mm.pmd_lock));
    mm.pmd_lock.assert_held("pgtable_trans_huge_deposit");
    vm_bug_on!(
        mm.pmd_huge_pte.read() != 0,
        Inv::I13DepositBalance,
        "second deposit under one huge PMD"
    );
    mm.pmd_huge_pte.set(t as i32 + 1);
    trace!("pgtable_trans_huge_deposit", "table {t}");
}

/// `pgtable_trans_huge_withdraw`: PMD lock held.
pub fn pgtable_trans_huge_withdraw(mm: &Mm, _ptl: &SpinGuard<'_>) -> usize {
    mm.pmd_lock.assert_held("pgtable_trans_huge_withdraw");
    let v = mm.pmd_huge_pte.read();
    vm_bug_on!(
        v == 0,
        Inv::I13DepositBalance,
        "withdraw with no deposited table"
    );
    mm.pmd_huge_pte.set(0);
    trace!("pgtable_trans_huge_withdraw", "table {}", v - 1);
    (v - 1) as usize
}

/// `do_huge_pmd_anonymous_page` / `__do_huge_pmd_anonymous_page` (write fault, anonymous VMA,
/// no userfaultfd): allocate the folio at memmap slot `slot` and a table to deposit, then
/// install the huge PMD under the PMD lock if the PMD is still none.
pub fn do_huge_pmd_anonymous_page(m: &Machine, mm_id: usize, slot: usize) -> FaultResult {
    let mm = &m.mms[mm_id];
    mm.mmap_lock.assert_held("do_huge_pmd_anonymous_page");
    let folio = m.memmap.alloc_large_folio(slot);
    trace!("vma_alloc_anon_folio_pmd", "folio {folio} refcount 1");
    smp_wmb(); // __folio_mark_uptodate: zeroing visible before the PMD is
    let Some(t) = pte_alloc_one(mm) else {
        folio_put(&m.memmap, folio, m.nr);
        return FaultResult::Fallback;
    };
    let ptl = mm.pmd_lock.lock();
    let cur = Pmd::decode(mm.pmd.read());
    if !cur.none() {
        // Someone (pmd_install, another huge fault) won: back off without side effects.
        trace!(
            "__do_huge_pmd_anonymous_page",
            "pmd {cur:?} not none under the lock: refault"
        );
        drop(ptl);
        pte_free(mm, t);
        folio_put(&m.memmap, folio, m.nr);
        return FaultResult::Refault;
    }
    pgtable_trans_huge_deposit(mm, &ptl, t);
    folio_add_new_anon_rmap_pmd(&m.memmap, folio);
    // folio_add_lru_vma: a large folio drains the LRU batch at once; the fully ordered
    // folio_ref_sub_and_test in that drain is what orders the rmap stores before set_pmd_at
    // on weakly ordered CPUs (kernel-protocol.md §1 "Where the ordering really comes from").
    smp_mb();
    let v = Pmd::Huge {
        pfn: folio,
        flags: F_WRITE | F_YOUNG | F_DIRTY,
    };
    mm.pmd.set(v.encode()); // set_pmd_at: a plain WRITE_ONCE on x86-64
    mm.nr_ptes.inc();
    trace!("set_pmd_at", "pmd = {v:?}");
    drop(ptl);
    FaultResult::Done
}

/// `__pmd_trans_huge_lock` (via `pmd_trans_huge_lock`): after a lockless test saw the PMD huge
/// or a migration entry, take the PMD lock and re-test; return the held lock, or None if the
/// PMD changed meanwhile (the caller takes the PTE path).
pub fn __pmd_trans_huge_lock<'a>(mm: &'a Mm) -> Option<SpinGuard<'a>> {
    let ptl = mm.pmd_lock.lock();
    if !rule_on(Rule::PmdTransHugeLockRecheck) {
        return Some(ptl); // defect: trust the lockless test
    }
    let v = Pmd::decode(mm.pmd.read());
    if v.trans_huge() || v.migration() {
        Some(ptl)
    } else {
        trace!(
            "__pmd_trans_huge_lock",
            "pmd {v:?} no longer huge: PTE path"
        );
        None
    }
}

/// `pmdp_invalidate` (mm/pgtable-generic.c): atomically replace the huge PMD by its invalid
/// form (present bit clear, PSE kept; `pmdp_establish` is an xchg on x86 SMP), then flush.
fn pmdp_invalidate(m: &Machine, mm: &Mm) -> Pmd {
    let cur = Pmd::decode(mm.pmd.read());
    let (pfn, flags) = match cur {
        Pmd::Huge { pfn, flags } | Pmd::HugeInvalid { pfn, flags } => (pfn, flags),
        other => crate::model_bug!("pmdp_invalidate of {other:?}"),
    };
    let old = Pmd::decode(mm.pmd.xchg(Pmd::HugeInvalid { pfn, flags }.encode()));
    trace!("pmdp_invalidate", "pmd {old:?} -> HugeInvalid");
    flush_tlb_ipi(&m.rcu); // flush_pmd_tlb_range: A/D bits in old are final after this
    old
}

/// `__split_huge_pmd` (mm/huge_memory.c): take the PMD lock, re-test, split.
pub fn __split_huge_pmd(m: &Machine, mm_id: usize, freeze: bool) {
    let mm = &m.mms[mm_id];
    let ptl = mm.pmd_lock.lock();
    let v = Pmd::decode(mm.pmd.read());
    trace!("__split_huge_pmd", "pmd {v:?} under the PMD lock");
    if v.trans_huge() || v.migration() {
        __split_huge_pmd_locked(m, mm, &ptl, freeze);
    }
    drop(ptl);
}

/// `__split_huge_pmd_locked` for an anonymous present huge PMD, `freeze == false`:
/// invalidate (never clear), raise the refcount by N-1 and add N PTE mappings before the
/// table can be seen, withdraw the deposited table, fill it, drop the PMD mapping, then
/// `smp_wmb` and `pmd_populate`.
pub fn __split_huge_pmd_locked(m: &Machine, mm: &Mm, ptl: &SpinGuard<'_>, freeze: bool) {
    mm.pmd_lock.assert_held("__split_huge_pmd_locked");
    if freeze {
        crate::model_bug!("freeze split (migration entries) is not modelled yet");
    }
    let cur = Pmd::decode(mm.pmd.read());
    if cur.migration() {
        crate::model_bug!("splitting a PMD migration entry is not modelled yet");
    }
    let old = pmdp_invalidate(m, mm);
    let (folio, flags) = match old {
        Pmd::Huge { pfn, flags } | Pmd::HugeInvalid { pfn, flags } => (pfn, flags),
        o => crate::model_bug!("invalidated {o:?}"),
    };
    let nr = m.nr;
    let anon_exclusive = m.memmap.page(folio).flags.test_bit(PG_ANON_EXCLUSIVE);
    // Every PTE mapping holds one folio reference; the PMD held 1 (§4.2 step 4).
    folio_ref_add(&m.memmap, folio, nr as i32 - 1);
    folio_add_anon_rmap_ptes(&m.memmap, folio, folio, nr, anon_exclusive);
    // Withdraw only after the PMD is invalid (Power needs it; harmless on x86).
    let t = pgtable_trans_huge_withdraw(mm, ptl);
    let table = m.table(mm, t, "__split_huge_pmd_locked");
    for (i, pte) in table.ptes.iter().enumerate() {
        vm_warn_on!(
            pte.read() != 0,
            Inv::I13DepositBalance,
            "deposited table {t} PTE {i} not none"
        );
        pte.set(
            Pte::Present {
                pfn: folio + i,
                flags,
            }
            .encode(),
        );
    }
    trace!(
        "set_ptes",
        "table {t}: {nr} PTEs -> pfn {folio}.. flags {flags:#x}"
    );
    folio_remove_rmap_pmd(&m.memmap, folio);
    smp_wmb(); // make the PTEs visible before the PMD
    mm.pmd.set(Pmd::Table(t).encode()); // pmd_populate
    trace!("pmd_populate", "pmd = Table({t})");
}
