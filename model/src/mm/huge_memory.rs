//! Models mm/huge_memory.c (Linux 6.18.2): the anonymous huge fault, the huge-PMD-aware lock
//! helper, and `split_huge_pmd`. Paraphrased; no kernel code is reproduced.

use crate::invariants::Inv;
use crate::kernel::rule_on;
use crate::kernel::{smp_mb, smp_wmb, SpinGuard};
use crate::mm::page::{
    deferred_is_private, deferred_private_of, deferred_private_owner, DEFERRED_NONE,
    DEFERRED_PRIVATE, DEFERRED_QUEUED, PG_ANON_EXCLUSIVE,
};
use crate::mm::page_ref::{folio_put, folio_ref_add};
use crate::mm::pgtable::{Pmd, Pte, F_DIRTY, F_WRITE, F_YOUNG};
use crate::mm::pgtable_generic::pmdp_get_lockless;
use crate::mm::pgtable_generic::{
    pgtable_trans_huge_deposit, pgtable_trans_huge_withdraw, pmdp_invalidate,
};
use crate::mm::rmap::folio_try_share_anon_rmap;
use crate::mm::rmap::{
    folio_add_anon_rmap_ptes, folio_add_new_anon_rmap_pmd, folio_remove_rmap_pmd,
};
use crate::mm::{Machine, Mm};
use crate::rules::Rule;
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

/// `pte_alloc_one`: take a free PTE table page of `mm` off the free list (its allocated flag,
/// false → true with acquire: the previous owner's `pte_free`, and every store it made to the
/// table before it, happen before this allocation, as the allocator's locks order them); then
/// zero it (plain stores, like the kernel's `__GFP_ZERO` clearing in `post_alloc_hook`: only
/// `pmd_install`'s `smp_wmb` orders them before the PMD).
pub fn pte_alloc_one(mm: &Mm) -> Option<usize> {
    let t = mm
        .tables
        .iter()
        .position(|t| t.allocated.test_and_set_acquire())?;
    for p in &mm.tables[t].ptes {
        p.set(0);
    }
    Some(t)
}

/// `pte_free`: put the table back on the free list (its allocated flag, → false with release).
pub fn pte_free(mm: &Mm, t: usize) {
    let was = mm.tables[t].allocated.test_and_clear_release();
    vm_bug_on!(!was, Inv::I17TableLifetime, "pte_free of table {t} twice");
}

/// `do_huge_pmd_anonymous_page` / `__do_huge_pmd_anonymous_page` (write fault, anonymous VMA,
/// no userfaultfd): allocate the folio at memmap slot `slot` and a table to deposit, then
/// install the huge PMD under the PMD lock if the PMD is still none.
pub fn do_huge_pmd_anonymous_page(m: &Machine, mm_id: usize, slot: usize) -> FaultResult {
    let mm = &m.mms[mm_id];
    crate::mm::mmap_lock::assert_mmap_or_vma_locked(mm, "do_huge_pmd_anonymous_page");
    let folio = m.memmap.alloc_large_folio(slot);
    trace!("vma_alloc_anon_folio_pmd", "folio {folio} refcount 1");
    smp_wmb(); // __folio_mark_uptodate: zeroing visible before the PMD is
    let Some(t) = pte_alloc_one(mm) else {
        folio_put(&m.memmap, folio, m.nr);
        return FaultResult::Fallback;
    };
    let ptl = mm.pmd_lock.lock();
    let cur = Pmd::decode(mm.pmd.read());
    if rule_on(Rule::HugeFaultPmdNoneRecheck) && !cur.none() {
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
    folio_add_new_anon_rmap_pmd(&m.memmap, folio, mm.mm_id);
    m.memmap.page(folio).flags.set_bit(crate::mm::page::PG_LRU); // folio_add_lru_vma
                                                                 // folio_add_lru_vma: a large folio drains the LRU batch at once; the fully ordered
                                                                 // folio_ref_sub_and_test in that drain is what orders the rmap stores before set_pmd_at
                                                                 // on weakly ordered CPUs (docs/protocol.md#fault-ordering).
    smp_mb();
    let v = Pmd::Huge {
        pfn: folio,
        flags: F_WRITE | F_YOUNG | F_DIRTY,
    };
    mm.pmd.set(v.encode()); // set_pmd_at: a plain WRITE_ONCE on x86-64
    mm.nr_ptes.inc();
    trace!("set_pmd_at", "pmd = {v:?}");
    deferred_split_folio(&m.memmap, folio, false); // queued for the underused-THP shrinker
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

/// `pgtable_trans_huge_withdraw`, then fill every entry of the withdrawn table (each must be
/// none, `VM_WARN_ON`) with `entry(i)`: steps 5-6 of docs/protocol.md#split-pmd, shared by
/// the present and the migration-entry paths. Returns the table.
fn fill_withdrawn_table(
    m: &Machine,
    mm: &Mm,
    ptl: &SpinGuard<'_>,
    entry: impl Fn(usize) -> Pte,
) -> usize {
    let t = pgtable_trans_huge_withdraw(mm, ptl);
    let table = m.table(mm, t, "__split_huge_pmd_locked");
    for (i, pte) in table.ptes.iter().enumerate() {
        vm_warn_on!(
            pte.read() != 0,
            Inv::I13DepositBalance,
            "deposited table {t} PTE {i} not none"
        );
        pte.set(entry(i).encode());
    }
    t
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

/// `__split_huge_pmd_locked` for an anonymous present huge PMD: invalidate (never clear);
/// with `freeze`, try to share the AnonExclusive head (a pin downgrades to a normal split);
/// without it, raise the refcount by N-1 and add N PTE mappings before the table can be seen
/// (rule `split-pmd-ref-before-table-visible`); withdraw the deposited table; fill it with
/// present PTEs or migration entries; drop the PMD mapping (and, frozen, its reference); then
/// `smp_wmb` and `pmd_populate`.
pub fn __split_huge_pmd_locked(m: &Machine, mm: &Mm, ptl: &SpinGuard<'_>, freeze: bool) {
    mm.pmd_lock.assert_held("__split_huge_pmd_locked");
    let mut cur = Pmd::decode(mm.pmd.read());
    if !rule_on(Rule::SplitPmdInvalidatePresentOnly) && cur.migration() {
        // Defect (84c3fc4e9c56 .. 3a5a8d343e1c, historical race Z12): pmdp_invalidate is
        // applied to whatever the PMD holds and the old value decides the path afterwards.
        cur = pmdp_invalidate(m, mm);
    }
    if let Pmd::Migration { pfn, flags } = cur {
        // pfn_swap_entry_to_page: the folio of a migration entry must be locked (I10).
        let folio = crate::mm::migrate::pfn_swap_entry_folio(m, pfn);
        m.observe("split-pmd-migration-entry");
        // PMD migration entry (docs/protocol.md#split-pmd): no invalidate (the entry is not
        // present), no rmap or refcount change (migration entries hold neither); every PTE
        // becomes a migration entry for its page, carrying the entry's bits.
        let t = fill_withdrawn_table(m, mm, ptl, |i| Pte::Migration {
            pfn: folio + i,
            flags,
        });
        if rule_on(Rule::SplitPmdPopulateWmb) {
            smp_wmb(); // make the PTEs visible before the PMD (the only ordering on this path)
        }
        mm.pmd.set(Pmd::Table(t).encode()); // pmd_populate
        trace!(
            "__split_huge_pmd_locked",
            "PMD migration entry for folio {folio} -> {} PTE migration entries in table {t}",
            m.nr
        );
        return;
    }
    let old = if rule_on(Rule::SplitPmdInvalidateNotClear) {
        pmdp_invalidate(m, mm)
    } else {
        // Defect: pmdp_huge_clear_flush, the PMD is none until pmd_populate.
        let o = Pmd::decode(crate::mm::pgtable::pmdp_huge_get_and_clear(mm));
        trace!("pmdp_huge_clear_flush", "pmd {o:?} -> none");
        crate::mm::pgtable_generic::flush_pmd_tlb_range(m, mm);
        o
    };
    let (folio, flags) = match old {
        Pmd::Huge { pfn, flags } | Pmd::HugeInvalid { pfn, flags } => (pfn, flags),
        o => crate::model_bug!("invalidated {o:?}"),
    };
    let nr = m.nr;
    if flags & F_DIRTY != 0 {
        m.memmap
            .page(folio)
            .flags
            .set_bit(crate::mm::page::PG_DIRTY); // folio_set_dirty
    }
    let anon_exclusive = m.memmap.page(folio).flags.test_bit(PG_ANON_EXCLUSIVE);
    let mut freeze = freeze;
    if freeze && anon_exclusive && !folio_try_share_anon_rmap(m, folio, folio) {
        trace!(
            "__split_huge_pmd_locked",
            "folio {folio} pinned: freeze downgraded to a normal split"
        );
        freeze = false;
    }
    let ref_first = rule_on(Rule::SplitPmdRefBeforeTableVisible);
    if !freeze {
        // Every PTE mapping holds one folio reference; the PMD held 1 (docs/protocol.md#split-pmd step 4).
        if ref_first {
            folio_ref_add(&m.memmap, folio, nr as i32 - 1);
        }
        folio_add_anon_rmap_ptes(&m.memmap, folio, folio, nr, anon_exclusive, mm.mm_id);
    }
    // Withdraw only after the PMD is invalid (Power needs it; harmless on x86).
    let mflags = crate::mm::pgtable::migration_entry_flags(flags, anon_exclusive);
    let t = fill_withdrawn_table(m, mm, ptl, |i| {
        if freeze {
            Pte::Migration {
                pfn: folio + i,
                flags: mflags,
            }
        } else {
            Pte::Present {
                pfn: folio + i,
                flags,
            }
        }
    });
    trace!(
        "set_ptes",
        "table {t}: {nr} {} -> pfn {folio}..",
        if freeze { "migration entries" } else { "PTEs" }
    );
    folio_remove_rmap_pmd(&m.memmap, folio, mm.mm_id);
    if freeze {
        folio_put(&m.memmap, folio, nr); // the PMD mapping's reference; the splitter holds one
    }
    if rule_on(Rule::SplitPmdPopulateWmb) {
        smp_wmb(); // make the PTEs visible before the PMD
    }
    mm.pmd.set(Pmd::Table(t).encode()); // pmd_populate
    trace!("pmd_populate", "pmd = table({t}, PRESENT)");
    if !freeze && !ref_first {
        // Defect: the references for the PTE mappings arrive after the table is visible.
        folio_ref_add(&m.memmap, folio, nr as i32 - 1);
    }
}

/// Why a folio split failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SplitError {
    /// `-EINVAL`: not a large folio.
    Inval,
    /// `-EBUSY`: no anon_vma (fully unmapped).
    Busy,
    /// `-EAGAIN`: extra references (a pin, a speculative reference) or a surviving mapping.
    Again,
}

/// `can_split_folio(folio, caller_pins = 1)`: racy pre-check, anonymous folio not in the swap
/// cache (`extra_pins` = 0): mapcount == refcount - 1.
pub fn can_split_folio(m: &Machine, folio: usize) -> bool {
    crate::mm::rmap::folio_mapcount(&m.memmap, folio)
        == crate::mm::page_ref::folio_ref_count(&m.memmap, folio) - 1
}

/// `unmap_folio`: `try_to_migrate` with TTU_SPLIT_HUGE_PMD | TTU_SYNC | TTU_BATCH_FLUSH, then
/// `try_to_unmap_flush` (every deferred TLB invalidation done before the split continues).
fn unmap_folio(m: &Machine, folio: usize) {
    // try_to_unmap_flush pays only what this task deferred (tlb_ubc->flush_required): a PMD
    // split frozen through pmdp_invalidate flushed at once and defers nothing.
    if crate::mm::rmap::try_to_migrate(m, folio, crate::mm::rmap::Ttu::SplitHugePmd) {
        crate::mm::tlb::arch_tlbbatch_flush(m);
    }
    trace!("unmap_folio", "folio {folio}: try_to_unmap_flush");
}

/// `remap_page(folio, nr, flags)`: `remove_migration_ptes` for each folio the range now
/// consists of (one large folio on the failure path, `nr` small ones after a split). A
/// successful split of an anonymous folio (every folio of the model) passes
/// RMP_USE_SHARED_ZEROPAGE: zero-filled sub-pages are mapped to the shared zero page.
fn remap_page(m: &Machine, folio: usize, nr: usize, split: bool) {
    if split {
        for i in 0..nr {
            crate::mm::migrate::remove_migration_ptes(m, folio + i, folio + i, 1, true);
        }
    } else {
        crate::mm::migrate::remove_migration_ptes(m, folio, folio, nr, false);
    }
}

/// `__split_folio_to_order(folio, old_order, 0)`: for each former tail, in pfn order: assert
/// unmapped; copy the head's flags (PG_locked included: every new folio is born locked) with a
/// plain read-modify-write; mapping; `smp_wmb` (rule `split-flags-wmb`); `clear_compound_head`.
/// The new folios' refcounts stay 0. Then `ClearPageCompound(head)`.
fn __split_folio_to_order(m: &Machine, folio: usize) {
    use crate::mm::page::{PG_DIRTY, PG_LOCKED, PG_SWAPBACKED};
    let mm = &m.memmap;
    let head_flags = mm.page(folio).flags.read();
    let copied = head_flags & ((1 << PG_LOCKED) | (1 << PG_DIRTY) | (1 << PG_SWAPBACKED));
    for i in 1..m.nr {
        let p = mm.page(folio + i);
        vm_bug_on!(
            p._mapcount.read() != -1,
            Inv::I11SplitEndsClean,
            "splitting a tail pfn {} that is still mapped",
            folio + i
        );
        if !rule_on(Rule::SplitUnfreezeAfterMetadata) {
            // Defect (before 4.17, historical race Z15): the tail's count is published
            // first, while its flags and compound link are still the tail's.
            crate::mm::page_ref::folio_ref_unfreeze(mm, folio + i, 1);
        }
        // new_folio->flags &= ~PAGE_FLAGS_CHECK_AT_PREP; new_folio->flags |= head bits:
        // plain (non-atomic) updates, on the premise that nobody else writes a frozen tail.
        // `&= ~PAGE_FLAGS_CHECK_AT_PREP` reads the word and clears every flag of the tail
        // (PG_waiters, PG_anon_exclusive, PG_lru included) but PG_hwpoison, then `|=` stores
        // the head's bits. memory_failure sets PG_hwpoison on a raw page without a reference
        // (finding F5): between the read and the store its atomic set is lost.
        let keep = 1 << crate::mm::page::PG_HWPOISON;
        if rule_on(Rule::SplitTailFlagsSetMaskBits) {
            // Candidate fix: set_mask_bits (include/linux/bitops.h), a try_cmpxchg loop.
            let mut old = p.flags.read();
            loop {
                let new = (old & keep) | copied;
                if p.flags.try_cmpxchg(&mut old, new) {
                    break;
                }
            }
        } else {
            let old = p.flags.read();
            crate::kernel::trace::load(p.flags.loc(), old);
            trace!(
                "__split_folio_to_order",
                "pfn {}: flags read {old:#x} (plain)",
                folio + i
            );
            p.flags.set((old & keep) | copied);
        }
        mm.mapping[folio + i].set(mm.mapping[folio].read());
        if rule_on(Rule::SplitFlagsWmb) {
            smp_wmb(); // page flags visible before the page is made non-compound
        }
        p.compound_head.set(0); // clear_compound_head (WRITE_ONCE)
        trace!(
            "__split_folio_to_order",
            "pfn {}: flags {copied:#x} copied, compound link cleared",
            folio + i
        );
    }
    mm.page(folio).flags.clear_bit(crate::mm::page::PG_HEAD); // ClearPageCompound
    let meta = &mm.meta[folio];
    meta._large_mapcount.set(-1);
    meta._entire_mapcount.set(-1);
    meta._nr_pages_mapped.set(0);
}

/// `split_huge_page(page)` → `__folio_split(folio, 0, &folio->page, page, NULL, true)` for
/// an anonymous folio (mm/huge_memory.c, 6.18 order). The caller holds a reference and the
/// lock of the folio containing `page`; on success both belong to the order-0 folio at `page`
/// (the split unlocks and puts every other new folio, the old head included).
pub fn split_huge_page(m: &Machine, page: usize) -> Result<(), SplitError> {
    __folio_split(m, m.memmap.page_folio(page), page)
}

/// `__folio_split` to order 0 (a uniform split, `split_at` = the head), anonymous, leaving the
/// new folio containing `lock_at` locked (docs/protocol.md#folio-split). The kernel's -EINVAL
/// for a `lock_at` outside the folio is left out: every caller passes a page of `folio`.
pub fn __folio_split(m: &Machine, folio: usize, lock_at: usize) -> Result<(), SplitError> {
    __folio_split_to_list(m, folio, lock_at, false)
}

/// `split_folio_to_list(folio, list)` with a list (mm/huge_memory.c): the split of a folio its
/// caller isolated from the LRU (migration's `try_split_folio`). The head keeps the caller's
/// lock and reference; every other new folio goes on the caller's list with a reference of
/// its own (`lru_add_split_folio`: `folio_get`, no PG_lru).
pub fn split_folio_to_list(m: &Machine, folio: usize) -> Result<(), SplitError> {
    __folio_split_to_list(m, folio, folio, true)
}

/// [`__folio_split`]; `list`: the caller passed a list (the folio is isolated, its new folios
/// go on the list rather than the LRU).
fn __folio_split_to_list(
    m: &Machine,
    folio: usize,
    lock_at: usize,
    list: bool,
) -> Result<(), SplitError> {
    use crate::kernel::local_irq_save;
    use crate::mm::filemap::{folio_test_locked, folio_unlock};
    use crate::mm::page::PG_LRU;
    use crate::mm::page_ref::{folio_ref_freeze, folio_ref_unfreeze};
    use crate::mm::rmap::{folio_get_anon_vma, put_anon_vma};
    let mm = &m.memmap;
    let nr = m.nr;
    vm_bug_on!(
        !folio_test_locked(mm, folio),
        Inv::I11SplitEndsClean,
        "__folio_split of unlocked folio {folio}"
    );
    // 1. argument checks
    if !mm.page(folio).flags.test_bit(crate::mm::page::PG_HEAD) {
        return Err(SplitError::Inval);
    }
    if mm.page(folio).flags.test_bit(crate::mm::page::PG_SWAPCACHE) {
        // 6.18 splits a swap-cache folio to order 0 with its swap table slots rewritten under
        // the swap cluster lock and one cache reference per new folio.
        crate::model_bug!("__folio_split of folio {folio} in the swap cache is not modelled");
    }
    // 2. anon_vma: reference, then the write lock
    if !folio_get_anon_vma(m, folio) {
        trace!(
            "__folio_split",
            "folio {folio}: no anon_vma (unmapped): -EBUSY"
        );
        return Err(SplitError::Busy);
    }
    let anon_vma_lock = m.anon_vma.rwsem.down_write();
    trace!("__folio_split", "folio {folio}: anon_vma write-locked");
    // 3. racy pre-check
    if !can_split_folio(m, folio) {
        trace!(
            "__folio_split",
            "folio {folio}: can_split_folio false: -EAGAIN"
        );
        drop(anon_vma_lock);
        put_anon_vma(m);
        return Err(SplitError::Again);
    }
    // 4. unmap to migration entries
    unmap_folio(m, folio);
    // 5.-7. IRQs off, split_queue_lock ("prevent deferred_split_scan() touching ->_refcount"),
    // freeze: the authoritative "no extra references" check.
    let irq = local_irq_save(&m.rcu);
    let sq = mm.split_queue_lock.lock();
    if !folio_ref_freeze(mm, folio, 1) {
        drop(sq);
        drop(irq);
        trace!(
            "__folio_split",
            "folio {folio}: freeze failed: remap, -EAGAIN"
        );
        remap_page(m, folio, nr, false);
        drop(anon_vma_lock);
        put_anon_vma(m);
        return Err(SplitError::Again);
    }
    // 8. unlink from the deferred split queue (or the shrinker's private list) in the same
    // split_queue_lock section as the freeze: from here on deferred_split_scan cannot find
    // the folio (rule split-unqueue-with-freeze).
    let unqueue_with_freeze = rule_on(Rule::SplitUnqueueWithFreeze);
    if unqueue_with_freeze && mm.deferred[folio].read() != DEFERRED_NONE {
        unqueue_locked(mm, &sq, folio);
    }
    // 9.-10. split_queue_lock dropped, then the lru lock ("lock lru list/PageCompound, ref
    // frozen by page_ref_freeze"): never nested this way round, because the batched free
    // (folios_put_refs) takes split_queue_lock with the lru lock held (rule
    // split-queue-unlock-before-lru-lock).
    let lru = if rule_on(Rule::SplitQueueUnlockBeforeLruLock) {
        drop(sq);
        m.lru_lock.lock()
    } else {
        let lru = m.lru_lock.lock(); // defect: lru lock nested inside split_queue_lock
        drop(sq);
        lru
    };
    // 11. metadata of every piece
    __split_folio_to_order(m, folio);
    // 12. unfreeze the new folios except the origin, ascending; lru_add_split_folio
    for i in 1..nr {
        if rule_on(Rule::SplitUnfreezeAfterMetadata) {
            folio_ref_unfreeze(mm, folio + i, 1);
        }
        // lru_add_split_folio: folio_set_lru, an atomic set_bit — the new folio is already
        // published (link cleared, and now unfrozen), so a CPU waiting for its lock may be
        // setting PG_waiters in the same word (rule split-lru-flag-atomic, Z15).
        let flags = &mm.page(folio + i).flags;
        if list {
            // "page reclaim is reclaiming a huge page": the caller's list, with a reference
            vm_warn_on!(
                mm.page(folio).flags.test_bit(PG_LRU),
                Inv::I11SplitEndsClean,
                "split of folio {folio} to a list, but the folio is on the LRU"
            );
            crate::mm::page_ref::folio_get(mm, folio + i);
        } else if rule_on(Rule::SplitLruFlagAtomic) {
            flags.set_bit(PG_LRU);
        } else {
            // Defect (the 2018 hang's shape: a __-prefixed, non-atomic flag op after the
            // unfreeze): read the word, store it back with PG_lru.
            let old = flags.read();
            flags.set(old | (1 << PG_LRU));
        }
    }
    // 13. the origin last
    folio_ref_unfreeze(mm, folio, 1);
    drop(lru);
    drop(irq);
    let remap_first = rule_on(Rule::RemapBeforeUnlock);
    // 15. remap (rule remap-before-unlock), 16. unlock + free_folio_and_swap_cache
    if remap_first {
        remap_page(m, folio, nr, true);
    }
    // Every new folio but the one containing lock_at is unlocked and put; the caller's
    // reference, counted in the freeze, thereby moves from the old head to lock_at's folio.
    for i in 0..nr {
        if folio + i == lock_at {
            continue;
        }
        folio_unlock(mm, folio + i);
        folio_put(mm, folio + i, 1);
    }
    if !remap_first {
        remap_page(m, folio, nr, true);
    }
    // 17.
    drop(anon_vma_lock);
    put_anon_vma(m);
    if !unqueue_with_freeze {
        // The broken protocol: the old head is unlinked only now, in a section of its own,
        // after the new folios were unfrozen and published.
        let sq = mm.split_queue_lock.lock();
        if mm.deferred[folio].read() != DEFERRED_NONE {
            unqueue_locked(mm, &sq, folio);
        }
    }
    trace!(
        "__folio_split",
        "folio {folio}: split into {nr} order-0 folios"
    );
    Ok(())
}

/// `change_huge_pmd` with `MM_CP_PROT_NUMA` (NUMA hinting; mm/huge_memory.c), under the mmap /
/// VMA read lock: under `__pmd_trans_huge_lock`, replace the huge PMD by a modified one
/// (here: write-protected, old). The PMD is changed by `pmdp_invalidate_ad` then
/// `set_pmd_at`, never cleared in between (rule `change-huge-pmd-invalidate-not-clear`,
/// historical race Z02: a lockless MADV_DONTNEED would skip a transiently none PMD).
pub fn change_huge_pmd(m: &Machine, mm_id: usize) -> bool {
    let mm = &m.mms[mm_id];
    crate::mm::mmap_lock::assert_mmap_or_vma_locked(mm, "change_huge_pmd");
    if !Pmd::decode(pmdp_get_lockless(mm, "change_pmd_range")).trans_huge() {
        return false;
    }
    let Some(ptl) = __pmd_trans_huge_lock(mm) else {
        return false;
    };
    let cur = Pmd::decode(mm.pmd.read());
    let Pmd::Huge { pfn, flags } = cur else {
        drop(ptl);
        return false;
    };
    let old = if rule_on(Rule::ChangeHugePmdInvalidateNotClear) {
        // pmdp_invalidate_ad (x86's own: pmdp_establish, no flush; the generic one also
        // flushes, whose barrier the model leaves out: see docs/memory-model.md)
        Pmd::decode(crate::mm::pgtable::pmdp_establish(
            mm,
            Pmd::HugeInvalid { pfn, flags }.encode(),
        ))
    } else {
        // defect: pmdp_huge_get_and_clear, as before ced108037c2a
        Pmd::decode(crate::mm::pgtable::pmdp_huge_get_and_clear(mm))
    };
    let new = Pmd::Huge {
        pfn,
        flags: flags & !(F_WRITE | F_YOUNG),
    };
    mm.pmd.set(new.encode()); // set_pmd_at
    trace!("change_huge_pmd", "pmd {old:?} -> {new:?}");
    drop(ptl);
    crate::mm::tlb::flush_tlb_mm(m, mm); // the mmu_gather flush, after the PMD lock is dropped
    true
}

/// `madvise_free_huge_pmd` (mm/huge_memory.c): MADV_FREE of the huge PMD of `mm_id` over
/// `range`, under the VMA or mmap read lock. Under `__pmd_trans_huge_lock`: skip a non-present
/// PMD and a folio that may be mapped by another mm; `folio_trylock` (skip if busy). A range
/// that covers only part of the PMD splits the folio (`madvise_free_split_folio`, which drops
/// the PMD lock) and returns false, so the caller goes on at PTE level over the table the
/// split left. A whole-PMD range clears the folio's dirty flag, unlocks it and, if the PMD is
/// young or dirty, marks it old and clean by `pmdp_invalidate` then `set_pmd_at` (rule
/// `madvise-free-invalidate-not-clear`, Z02), then `folio_mark_lazyfree`; returns true.
pub fn madvise_free_huge_pmd(m: &Machine, mm_id: usize, range: crate::mm::zap::ZapRange) -> bool {
    use crate::mm::filemap::{folio_trylock, folio_unlock};
    use crate::mm::page::PG_DIRTY;
    let mm = &m.mms[mm_id];
    crate::mm::mmap_lock::assert_mmap_or_vma_locked(mm, "madvise_free_huge_pmd");
    let Some(ptl) = __pmd_trans_huge_lock(mm) else {
        return false;
    };
    let orig = Pmd::decode(mm.pmd.read());
    let (pfn, flags) = match orig {
        Pmd::Huge { pfn, flags } => (pfn, flags),
        Pmd::Migration { .. } => {
            trace!("madvise_free_huge_pmd", "pmd {orig:?} not present: skip");
            m.observe("madv-free-skipped");
            return false;
        }
        v => {
            // Only the broken protocol of rule pmd-trans-huge-lock-recheck gets here.
            vm_bug_on!(
                true,
                Inv::I5HugePmdStability,
                "madvise_free_huge_pmd: the PMD is {v:?} under the PMD lock"
            );
            return false;
        }
    };
    let folio = pfn;
    if crate::mm::rmap::folio_maybe_mapped_shared(m, folio) {
        trace!("madvise_free_huge_pmd", "folio {folio} may be shared: skip");
        m.observe("madv-free-skipped");
        return false;
    }
    if !folio_trylock(&m.memmap, folio) {
        m.observe("madv-free-skipped");
        return false;
    }
    if range != crate::mm::zap::ZapRange::Full {
        // "split it so MADV_FREE will deactivate only them"
        let r = crate::mm::madvise::madvise_free_split_folio(m, folio, move || drop(ptl));
        m.observe(if r.is_ok() {
            "madv-free-split-ok"
        } else {
            "madv-free-split-failed"
        });
        return false;
    }
    m.memmap.page(folio).flags.clear_bit(PG_DIRTY); // folio_clear_dirty
    folio_unlock(&m.memmap, folio);
    if flags & (F_YOUNG | F_DIRTY) != 0 {
        let new = Pmd::Huge {
            pfn,
            flags: flags & !(F_YOUNG | F_DIRTY),
        };
        if rule_on(Rule::MadviseFreeInvalidateNotClear) {
            pmdp_invalidate(m, mm);
        } else {
            // Defect (before 58ceeb6bec86): pmdp_huge_get_and_clear_full, so the PMD is none
            // until the set below.
            crate::mm::pgtable::pmdp_huge_get_and_clear(mm);
            trace!("pmdp_huge_get_and_clear_full", "pmd {orig:?} -> none");
        }
        mm.pmd.set(new.encode()); // set_pmd_at
        trace!("madvise_free_huge_pmd", "pmd {orig:?} -> {new:?}");
    }
    crate::mm::madvise::folio_mark_lazyfree(m, folio);
    m.observe("madv-free-lazyfree-pmd");
    drop(ptl);
    true
}

/// `set_pmd_migration_entry` (mm/huge_memory.c, THP migration), called from
/// `try_to_migrate_one` with the PMD lock held (`page_vma_mapped_walk` found the huge PMD of
/// `folio`) and the folio locked and referenced: invalidate, try to share the AnonExclusive
/// head (a pin refuses: restore the PMD, return false — -EBUSY), then install the PMD migration
/// entry, drop the PMD mapping and its reference.
pub fn set_pmd_migration_entry(m: &Machine, mm: &Mm, ptl: &SpinGuard<'_>, folio: usize) -> bool {
    mm.pmd_lock.assert_held("set_pmd_migration_entry");
    let _ = ptl;
    match Pmd::decode(mm.pmd.read()) {
        Pmd::Huge { pfn, .. } if pfn == folio => {}
        o => crate::model_bug!("set_pmd_migration_entry on {o:?} for folio {folio}"),
    }
    vm_bug_on!(
        !crate::mm::filemap::folio_test_locked(&m.memmap, folio),
        Inv::I10MigrationEntryLocked,
        "set_pmd_migration_entry on unlocked folio {folio}"
    );
    // pmdval = pmdp_invalidate(): the entry's bits come from the value the exchange returned,
    // which includes a dirty or young bit the hardware set after the read above.
    let old = pmdp_invalidate(m, mm);
    let Pmd::Huge { flags, .. } = old else {
        crate::model_bug!("the PMD changed under the PMD lock: {old:?}")
    };
    let anon_exclusive = m.memmap.page(folio).flags.test_bit(PG_ANON_EXCLUSIVE);
    if anon_exclusive && !folio_try_share_anon_rmap(m, folio, folio) {
        mm.pmd.set(old.encode()); // set_pmd_at(pmdval): restore
        trace!(
            "set_pmd_migration_entry",
            "folio {folio} may be pinned: PMD restored, -EBUSY"
        );
        return false;
    }
    if flags & F_DIRTY != 0 {
        m.memmap
            .page(folio)
            .flags
            .set_bit(crate::mm::page::PG_DIRTY);
    }
    let f = crate::mm::pgtable::migration_entry_flags(flags, anon_exclusive);
    mm.pmd.set(
        Pmd::Migration {
            pfn: folio,
            flags: f,
        }
        .encode(),
    ); // set_pmd_at
    folio_remove_rmap_pmd(&m.memmap, folio, mm.mm_id);
    folio_put(&m.memmap, folio, m.nr);
    trace!(
        "set_pmd_migration_entry",
        "pmd {old:?} -> migration entry for folio {folio}"
    );
    true
}

/// `list_del_init(&folio->_deferred_list)` with `split_queue_lock` held, from whichever list
/// the folio is on (the split queue, or the shrinker's private list), and clear
/// PG_partially_mapped.
fn unqueue_locked(mm: &crate::mm::Memmap, sq: &SpinGuard<'_>, folio: usize) {
    mm.split_queue_lock.assert_held("unqueue from split_queue");
    list_del_init_deferred(mm, sq, folio);
    mm.page(folio)
        .flags
        .clear_bit(crate::mm::page::PG_PARTIALLY_MAPPED);
}

/// `list_del_init(&folio->_deferred_list)` with `split_queue_lock` held (`sq`), from whichever
/// list the folio is on: the split queue, or the shrinker's private list. Deleting an empty
/// (self-linked) entry is a no-op, as in the kernel.
///
/// The private list is the private (`deferred_is_private`) entries of [`crate::mm::Memmap::deferred`] in
/// the order the running `deferred_split_scan` moved them (it keeps that order itself): the
/// shrinker unlinks from it without the lock ([`list_del_init_private`]), so it is not a
/// [`crate::kernel::LockedBy`] list.
fn list_del_init_deferred(mm: &crate::mm::Memmap, sq: &SpinGuard<'_>, folio: usize) {
    let on = mm.deferred[folio].read();
    match on {
        DEFERRED_NONE => {}
        DEFERRED_QUEUED => {
            let mut q = mm.split_queue.access(sq);
            match q.iter().position(|f| *f == folio) {
                Some(i) => {
                    q.remove(i);
                }
                None => crate::model_bug!("folio {folio} marked on split_queue but not there"),
            }
            mm.deferred[folio].set(DEFERRED_NONE);
            trace!(
                "list_del_init",
                "folio {folio} _deferred_list unlinked from split_queue (now {} entries)",
                q.len()
            );
        }
        v if deferred_is_private(v) => {
            // Only the scan that owns the list may touch an entry it holds the reference of
            // (its own split_folio unlinks it, frozen): anyone else rewrites the link pointers
            // of a list the scan walks without the lock ("a non-empty _deferred_list might be
            // in use on deferred_split_scan()'s unlocked on-stack list").
            let owner = deferred_private_owner(v);
            let cpu = crate::kernel::current_cpu();
            vm_bug_on!(
                owner.is_some_and(|o| o != cpu),
                Inv::I14DeferredList,
                "cpu{cpu} unlinks folio {folio} from cpu{}'s deferred_split_scan private list while that scan holds its reference and walks the list unlocked: list corruption",
                owner.unwrap_or(0)
            );
            mm.deferred[folio].set(DEFERRED_NONE);
            trace!(
                "list_del_init",
                "folio {folio} _deferred_list unlinked from the shrinker's private list"
            );
        }
        _ => crate::model_bug!("folio {folio} has _deferred_list state {on}"),
    }
}

/// The shrinker's unlocked `list_del_init(&folio->_deferred_list)` of a folio on its own
/// private list, while it holds a reference. A folio someone else unlinked meanwhile (under
/// `split_queue_lock`) is left alone; one that is back on the shared queue would be unlinked
/// from it without the lock: a corrupted list (I14).
fn list_del_init_private(mm: &crate::mm::Memmap, folio: usize) {
    let on = mm.deferred[folio].read();
    vm_bug_on!(
        on == DEFERRED_QUEUED,
        Inv::I14DeferredList,
        "deferred_split_scan unlinks folio {folio} from split_queue without split_queue_lock (it was requeued while on the private list)"
    );
    if deferred_is_private(on) {
        mm.deferred[folio].set(DEFERRED_NONE);
        trace!(
            "list_del_init",
            "folio {folio} _deferred_list unlinked from the shrinker's private list"
        );
    }
}

/// `/sys/kernel/mm/transparent_hugepage/shrink_underused` (mm/huge_memory.c
/// `split_underused_thp`), on by default: every new anonymous THP is queued for the shrinker.
pub const SPLIT_UNDERUSED_THP: bool = true;

/// `deferred_split_folio(folio, partially_mapped)` (mm/huge_memory.c): queue an anonymous THP
/// for the deferred split shrinker, under `split_queue_lock` (taken inside the ptl). A partial
/// unmap queues it partially mapped (PG_partially_mapped); the huge fault and collapse queue
/// every new THP (`partially_mapped` false, for the "underused THP" shrinker, on by default).
pub fn deferred_split_folio(mm: &crate::mm::Memmap, folio: usize, partially_mapped: bool) {
    use crate::mm::page::PG_PARTIALLY_MAPPED;
    if !partially_mapped && !SPLIT_UNDERUSED_THP {
        return;
    }
    // Swapcache is excluded: reclaim already handles the folio (a lockless flag test).
    if mm.page(folio).flags.test_bit(crate::mm::page::PG_SWAPCACHE) {
        return;
    }
    let sq = mm.split_queue_lock.lock();
    if partially_mapped {
        mm.page(folio).flags.set_bit(PG_PARTIALLY_MAPPED);
    } else {
        vm_warn_on!(
            mm.page(folio).flags.test_bit(PG_PARTIALLY_MAPPED),
            Inv::I14DeferredList,
            "folio {folio}: partially mapped folios cannot become non-partially mapped"
        );
    }
    if mm.deferred[folio].read() == DEFERRED_NONE {
        let mut q = mm.split_queue.access(&sq);
        q.push(folio);
        mm.deferred[folio].set(DEFERRED_QUEUED);
        trace!(
            "deferred_split_folio",
            "folio {folio} queued (partially mapped {partially_mapped}, split_queue_len {})",
            q.len()
        );
    }
}

/// `folio_unqueue_deferred_split` (mm/internal.h → `__folio_unqueue_deferred_split`), from the
/// final put: a lockless emptiness test, then under `split_queue_lock` unlink; it warns unless
/// the refcount is 0 (I14: a non-empty `_deferred_list` may be in use on the scanner's list).
pub fn folio_unqueue_deferred_split(mm: &crate::mm::Memmap, folio: usize) {
    if mm.deferred[folio].read() == DEFERRED_NONE {
        return;
    }
    let rc = mm.page(folio)._refcount.read();
    vm_warn_on!(
        rc != 0,
        Inv::I14DeferredList,
        "folio_unqueue_deferred_split of folio {folio} with refcount {rc}"
    );
    let sq = mm.split_queue_lock.lock();
    unqueue_locked(mm, &sq, folio);
}

/// `__folio_unqueue_deferred_split`'s unlink (under `split_queue_lock`: off the list, PG_partially_mapped
/// cleared) without its caller's refcount-0 requirement: only the broken protocol of rule
/// `migrate-split-tests-deferred-list` calls it.
pub fn unqueue_deferred_split_locked(mm: &crate::mm::Memmap, folio: usize) {
    let sq = mm.split_queue_lock.lock();
    unqueue_locked(mm, &sq, folio);
}

/// What one `deferred_split_scan` pass did (the shrinker's return value, broken down).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeferredScan {
    /// Folios split (`split`).
    pub split: usize,
    /// Queued folios whose `folio_try_get` failed: racing with their final put, unlinked here.
    pub lost_race: usize,
    /// Folios no longer partially mapped, dropped from the queue (`removed`).
    pub removed: usize,
    /// Partially mapped folios whose trylock or split failed, spliced back onto the queue.
    pub requeued: usize,
}

/// `deferred_split_scan` (mm/huge_memory.c), the deferred split shrinker, for the one queue:
/// 1. under `split_queue_lock` (IRQs off), for up to `nr_to_scan` queued folios:
///    `folio_try_get` and move to the on-stack list, or, if the count is already 0 (racing
///    with the final `folio_put`), clear PG_partially_mapped and unlink;
/// 2. without the lock, for each folio on the private list: partially mapped → `folio_trylock`,
///    `split_folio` (the scan's reference is the caller's), `folio_unlock`;
/// 3. not split and no longer partially mapped → unlocked `list_del_init` (safe: the
///    reference is held); not split but partially mapped → kept, and the scan keeps the
///    reference of the last such folio (`prev`) until the list is spliced back; put the rest;
/// 4. relock, splice the private list back onto the queue, unlock, put `prev`.
///
/// The "underused THP" path (`thp_underused` on a fully mapped folio) is not modelled: a
/// folio that is not partially mapped is treated as not underused.
pub fn deferred_split_scan(m: &Machine, nr_to_scan: usize) -> DeferredScan {
    use crate::mm::filemap::{folio_trylock, folio_unlock};
    use crate::mm::page::PG_PARTIALLY_MAPPED;
    let mm = &m.memmap;
    let mut res = DeferredScan::default();
    let mut list = Vec::new();
    {
        let irq = crate::kernel::local_irq_save(&m.rcu);
        let sq = mm.split_queue_lock.lock();
        let queued: Vec<usize> = mm
            .split_queue
            .access(&sq)
            .iter()
            .copied()
            .take(nr_to_scan)
            .collect();
        for folio in queued {
            // "Take pin on all head pages to avoid freeing them under us" (rule
            // deferred-split-scan-try-get; the broken protocol takes a plain reference).
            let got = if rule_on(Rule::DeferredSplitScanTryGet) {
                crate::mm::page_ref::folio_try_get(mm, folio)
            } else {
                crate::mm::page_ref::folio_get(mm, folio);
                true
            };
            if got {
                // The entry lives in the folio's second/third struct page: an entry on the
                // shared queue of a folio that is no longer large is a corrupted list.
                vm_bug_on!(
                    !mm.page(folio).flags.test_bit(crate::mm::page::PG_HEAD),
                    Inv::I14DeferredList,
                    "deferred_split_scan found order-0 folio {folio} on the split queue"
                );
                list_del_init_deferred(mm, &sq, folio); // list_move to the private list
                mm.deferred[folio].set(deferred_private_of(crate::kernel::current_cpu()));
                trace!(
                    "deferred_split_scan",
                    "folio {folio} referenced, moved to the private list"
                );
                list.push(folio);
            } else {
                // "We lost race with folio_put()"
                mm.page(folio).flags.clear_bit(PG_PARTIALLY_MAPPED);
                list_del_init_deferred(mm, &sq, folio);
                trace!(
                    "deferred_split_scan",
                    "folio {folio} at refcount 0: unlinked"
                );
                res.lost_race += 1;
            }
        }
        drop(sq);
        drop(irq);
    }
    let mut prev = None;
    for &folio in &list {
        let mut did_split = false;
        // Not partially mapped: only an underused THP (thp_underused: more zero-filled pages
        // than khugepaged_max_ptes_none) would be split; page contents are not modelled and
        // every page counts as used, so such a folio goes to `next` and leaves the queue.
        if mm.page(folio).flags.test_bit(PG_PARTIALLY_MAPPED) && folio_trylock(mm, folio) {
            match split_huge_page(m, folio) {
                Ok(()) => {
                    did_split = true;
                    res.split += 1;
                }
                Err(e) => trace!("deferred_split_scan", "folio {folio}: split_folio {e:?}"),
            }
            folio_unlock(mm, folio);
        }
        let put = if did_split {
            Some(folio) // split_folio unlinked it (step 8); the reference is on the old head
        } else if !mm.page(folio).flags.test_bit(PG_PARTIALLY_MAPPED) {
            list_del_init_private(mm, folio);
            res.removed += 1;
            Some(folio)
        } else {
            res.requeued += 1;
            // swap(folio, prev): the former anchor is put but stays on the list, where others
            // may now unlink it (a model-only retag, no kernel store: no scenario scans more
            // than one folio, so it never runs in them).
            prev.replace(folio)
                .inspect(|&old| mm.deferred[old].set(DEFERRED_PRIVATE))
        };
        if let Some(f) = put {
            crate::mm::page_ref::folio_put_small_or_large(m, f);
        }
    }
    {
        let irq = crate::kernel::local_irq_save(&m.rcu);
        let sq = mm.split_queue_lock.lock();
        // list_splice_tail(&list, &split_queue): what is still on the private list, in order.
        let mut q = mm.split_queue.access(&sq);
        for &f in &list {
            if deferred_is_private(mm.deferred[f].read()) {
                mm.deferred[f].set(DEFERRED_QUEUED);
                q.push(f);
            }
        }
        trace!(
            "deferred_split_scan",
            "private list spliced back (split_queue_len {})",
            q.len()
        );
        drop(q);
        drop(sq);
        drop(irq);
    }
    if let Some(f) = prev {
        crate::mm::page_ref::folio_put_small_or_large(m, f);
    }
    res
}

/// `copy_huge_pmd` (mm/huge_memory.c) at fork, `src`'s and `dst`'s mmap_lock held for write:
/// allocate the child's deposit table; under the child's PMD lock and the parent's (nested):
/// take a reference, `folio_try_dup_anon_rmap_pmd` (a maybe-pinned folio is not shared: put,
/// split the parent's PMD, -EAGAIN), deposit, write-protect the parent's PMD and install the
/// same, write-protected and old, in the child. A PMD migration entry is copied as such (no
/// reference or mapcount: migration entries hold neither), both made readable so that the
/// migration's `remove_migration_pmd` maps the new folio shared and read-only in both.
/// -EAGAIN when the PMD under the lock is no longer huge (a split got there first) or the folio
/// may be pinned; the caller then copies the parent's PTE table (`copy_pmd_range`'s fall
/// through).
pub fn copy_huge_pmd(m: &Machine, src: usize, dst: usize) -> CopyHuge {
    let (smm, dmm) = (&m.mms[src], &m.mms[dst]);
    smm.mmap_lock.assert_held("copy_huge_pmd (src)");
    dmm.mmap_lock.assert_held("copy_huge_pmd (dst)");
    let Some(t) = pte_alloc_one(dmm) else {
        return CopyHuge::NoMem;
    };
    let dst_ptl = dmm.pmd_lock.lock();
    let src_ptl = smm.pmd_lock.lock_nested(1);
    let pmd = Pmd::decode(smm.pmd.read());
    if let Pmd::Migration { pfn, flags } = pmd {
        // is_swap_pmd: a writable or readable-exclusive entry becomes a readable one in the
        // parent (make_readable_migration_entry keeps young / dirty / soft-dirty), and the
        // child gets the same entry and a deposited table.
        let readable = Pmd::Migration {
            pfn,
            flags: flags & !(F_WRITE | crate::mm::pgtable::F_EXCLUSIVE),
        };
        if readable != pmd {
            smm.pmd.set(readable.encode()); // set_pmd_at(src)
        }
        dmm.nr_ptes.inc();
        pgtable_trans_huge_deposit(dmm, &dst_ptl, t);
        dmm.pmd.set(readable.encode()); // set_pmd_at(dst)
        m.observe("fork-copied-migration-entry");
        trace!(
            "copy_huge_pmd",
            "migration entry for folio {pfn} copied readable: mm{src} and mm{dst}"
        );
        drop(src_ptl);
        drop(dst_ptl);
        return CopyHuge::Copied;
    }
    let Pmd::Huge { pfn: folio, flags } = pmd else {
        drop(src_ptl);
        drop(dst_ptl);
        pte_free(dmm, t);
        trace!(
            "copy_huge_pmd",
            "mm{src}'s PMD is {pmd:?} under its lock: -EAGAIN"
        );
        return CopyHuge::Again;
    };
    crate::mm::page_ref::folio_get(&m.memmap, folio);
    if !crate::mm::rmap::folio_try_dup_anon_rmap_pmd(m, folio, dmm.mm_id) {
        folio_put(&m.memmap, folio, m.nr);
        pte_free(dmm, t);
        drop(src_ptl);
        drop(dst_ptl);
        __split_huge_pmd(m, src, false);
        trace!(
            "copy_huge_pmd",
            "folio {folio} maybe pinned: PMD split, -EAGAIN"
        );
        return CopyHuge::Again;
    }
    dmm.nr_ptes.inc();
    pgtable_trans_huge_deposit(dmm, &dst_ptl, t);
    // pmdp_set_wrprotect on the parent (an atomic clear of the write bit)
    let wp = flags & !F_WRITE;
    smm.pmd.set(
        Pmd::Huge {
            pfn: folio,
            flags: wp,
        }
        .encode(),
    );
    let child = Pmd::Huge {
        pfn: folio,
        flags: wp & !F_YOUNG,
    };
    dmm.pmd.set(child.encode()); // set_pmd_at
    m.observe("fork-copied-huge-pmd");
    trace!(
        "copy_huge_pmd",
        "folio {folio} shared: mm{src} and mm{dst} map it read-only"
    );
    drop(src_ptl);
    drop(dst_ptl);
    CopyHuge::Copied
}

/// What [`copy_huge_pmd`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopyHuge {
    /// 0: the huge PMD (or the PMD migration entry) was copied.
    Copied,
    /// -EAGAIN: the PMD is a table now (split by someone else, or by `copy_huge_pmd` itself for a
    /// maybe-pinned folio): copy it at PTE level.
    Again,
    /// -ENOMEM: no table for the child's deposit.
    NoMem,
}

/// What a huge-PMD write fault did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WpResult {
    /// The folio was reused in place: the PMD is writable now.
    Reused,
    /// The PMD changed under the fault: return, the access refaults.
    Retry,
    /// Shared: the PMD was split (`VM_FAULT_FALLBACK`), the PTE-level COW copies one page.
    Fallback,
}

/// `do_huge_pmd_wp_page` (mm/huge_memory.c), write fault on a read-only anonymous huge PMD of
/// `mm_id` (mmap_lock or VMA lock read held): under the PMD lock re-check the PMD; reuse at
/// once if the head is AnonExclusive; else take the folio lock (trylock, or drop the ptl,
/// sleep, retake and re-check), re-check AnonExclusive, and reuse only if the folio's
/// refcount is exactly 1 (rule `cow-reuse-by-refcount`: no other mapping, pin or reference
/// can exist then); otherwise split the PMD and fall back to a PTE-level copy.
pub fn do_huge_pmd_wp_page(m: &Machine, mm_id: usize) -> WpResult {
    use crate::mm::filemap::{folio_lock, folio_trylock, folio_unlock};
    let mm = &m.mms[mm_id];
    crate::mm::mmap_lock::assert_mmap_or_vma_locked(mm, "do_huge_pmd_wp_page");
    let orig = mm.pmd.read(); // vmf->orig_pmd
    let Pmd::Huge { pfn: folio, flags } = Pmd::decode(orig) else {
        return WpResult::Retry;
    };
    let mut ptl = mm.pmd_lock.lock();
    if mm.pmd.read() != orig {
        return WpResult::Retry;
    }
    let memmap = &m.memmap;
    let exclusive = |f: usize| memmap.page(f).flags.test_bit(PG_ANON_EXCLUSIVE);
    if !exclusive(folio) {
        if !folio_trylock(memmap, folio) {
            crate::mm::page_ref::folio_get(memmap, folio);
            drop(ptl);
            folio_lock(memmap, folio);
            ptl = mm.pmd_lock.lock();
            if mm.pmd.read() != orig {
                drop(ptl);
                folio_unlock(memmap, folio);
                folio_put(memmap, folio, m.nr);
                return WpResult::Retry;
            }
            folio_put(memmap, folio, m.nr);
        }
        let reuse = if exclusive(folio) {
            true
        } else if rule_on(Rule::CowReuseByRefcount) {
            // "we can only reuse the folio exclusively if there are no additional references"
            let rc = crate::mm::page_ref::folio_ref_count(memmap, folio);
            trace!("do_huge_pmd_wp_page", "folio {folio}: refcount {rc}");
            rc == 1
        } else {
            // The pre-2022 decision (page_trans_huge_mapcount, historical race Z14): the
            // per-page mapcounts, then the entire mapcount, each read once; a PMD split in
            // another mm moves its mapping between them meanwhile.
            let subs: i32 = (0..m.nr)
                .map(|i| memmap.page(folio + i)._mapcount.read() + 1)
                .sum();
            let entire = memmap.meta[folio]._entire_mapcount.read() + 1;
            trace!(
                "do_huge_pmd_wp_page",
                "folio {folio}: mapcount {subs} (pages) + {entire} (entire)"
            );
            subs + entire == 1
        };
        if !reuse {
            folio_unlock(memmap, folio);
            drop(ptl);
            trace!(
                "do_huge_pmd_wp_page",
                "folio {folio} shared: split, fallback"
            );
            __split_huge_pmd(m, mm_id, false);
            return WpResult::Fallback;
        }
        // folio_move_anon_rmap (one anon_vma in this model); SetPageAnonExclusive
        memmap.page(folio).flags.set_bit(PG_ANON_EXCLUSIVE);
        crate::mm::rmap::anon_exclusive_publish_wmb();
        folio_unlock(memmap, folio);
    }
    // reuse: pmdp_set_access_flags with the PMD made young, dirty and writable
    let v = Pmd::Huge {
        pfn: folio,
        flags: flags | F_WRITE | F_YOUNG | F_DIRTY,
    };
    mm.pmd.set(v.encode());
    trace!("do_huge_pmd_wp_page", "folio {folio} reused: pmd = {v:?}");
    drop(ptl);
    WpResult::Reused
}

/// `unmap_huge_pmd_locked` → `__discard_anon_folio_pmd_locked`: reclaim's discard of a
/// PMD-mapped lazyfree folio, PMD lock held (by `try_to_unmap_one`), folio locked and
/// isolated. The folio is discarded only if it is still clean and nobody but the mapping and
/// the isolation holds a reference; otherwise the PMD is restored and the walk aborts.
///
/// 1. A dirty PMD marks the folio dirty; a dirty folio is swap-backed again: give up.
/// 2. `pmdp_huge_clear_flush`; `smp_mb` (rule `discard-pmd-mb`): the clear is visible before
///    the refcount read, pairing with GUP-fast's "grab, then re-read the PMD".
/// 3. Read refcount and mapcount; `smp_rmb` (refcount before the dirty flag).
/// 4. The dirty test again, on the value the clear returned (rule `discard-pmd-dirty-recheck`):
///    a write through the PMD between step 1 and the clear set its dirty bit.
/// 5. Any reference beyond the mappings and the isolation's (rule `discard-pmd-ref-check`):
///    restore and give up.
/// 6. Remove the PMD mapping, free the deposited table, put the mapping's reference.
pub fn unmap_huge_pmd_locked(m: &Machine, mm: &Mm, ptl: &SpinGuard<'_>, folio: usize) -> bool {
    use crate::mm::page::{PG_DIRTY, PG_LOCKED, PG_SWAPBACKED};
    let flags = &m.memmap.page(folio).flags;
    vm_bug_on!(
        !flags.test_bit(PG_LOCKED),
        Inv::I19LockOrder,
        "unmap_huge_pmd_locked: folio {folio} is not locked"
    );
    let orig = Pmd::decode(mm.pmd.read()); // orig_pmd = *pmdp
    let Pmd::Huge { flags: pf, .. } = orig else {
        crate::model_bug!("unmap_huge_pmd_locked of {orig:?}")
    };
    if pf & F_DIRTY != 0 {
        flags.set_bit(PG_DIRTY); // folio_set_dirty
    }
    if flags.test_bit(PG_DIRTY) {
        flags.set_bit(PG_SWAPBACKED);
        trace!(
            "__discard_anon_folio_pmd_locked",
            "folio {folio} dirty: swap-backed again, keep"
        );
        m.observe("lazyfree-pmd-dirty");
        return false;
    }
    let invalidate = rule_on(Rule::DiscardPmdInvalidateNotClear);
    let orig = if invalidate {
        // Candidate fix F3: the PMD stays huge (invalid) until the discard is decided.
        pmdp_invalidate(m, mm)
    } else {
        let old = Pmd::decode(crate::mm::pgtable::pmdp_huge_get_and_clear(mm));
        trace!("pmdp_huge_clear_flush", "pmd {old:?} -> none");
        crate::mm::pgtable_generic::flush_pmd_tlb_range(m, mm);
        old
    };
    if rule_on(Rule::DiscardPmdMb) {
        smp_mb(); // clear PMD; barrier; read refcount (GUP-fast: inc refcount; barrier; read PMD)
    }
    let ref_count = crate::mm::page_ref::folio_ref_count(&m.memmap, folio);
    let map_count = crate::mm::rmap::folio_mapcount(&m.memmap, folio);
    if rule_on(Rule::DiscardPmdRmb) {
        crate::kernel::smp_rmb(); // refcount before the dirty flag (__remove_mapping's order)
    }
    trace!(
        "__discard_anon_folio_pmd_locked",
        "folio {folio}: refcount {ref_count}, mapcount {map_count}"
    );
    let Pmd::Huge { flags: cf, .. } = orig else {
        crate::model_bug!("the PMD changed under the PMD lock: {orig:?}")
    };
    if rule_on(Rule::DiscardPmdDirtyRecheck) {
        if cf & F_DIRTY != 0 {
            flags.set_bit(PG_DIRTY);
        }
        if flags.test_bit(PG_DIRTY) {
            flags.set_bit(PG_SWAPBACKED);
            mm.pmd.set(orig.encode()); // set_pmd_at
            trace!(
                "__discard_anon_folio_pmd_locked",
                "folio {folio} redirtied: pmd restored, keep"
            );
            m.observe("lazyfree-pmd-redirtied");
            return false;
        }
    }
    if rule_on(Rule::DiscardPmdRefCheck) && ref_count != map_count + 1 {
        mm.pmd.set(orig.encode()); // set_pmd_at
        trace!(
            "__discard_anon_folio_pmd_locked",
            "folio {folio} has an unexpected reference: pmd restored, keep"
        );
        m.observe("lazyfree-pmd-referenced");
        return false;
    }
    if invalidate {
        mm.pmd.set(0); // pmd_clear: only now does the PMD become none
        trace!("pmd_clear", "pmd -> none");
    }
    folio_remove_rmap_pmd(&m.memmap, folio, mm.mm_id);
    let t = crate::mm::zap::zap_deposited_table(mm, ptl);
    trace!(
        "__discard_anon_folio_pmd_locked",
        "folio {folio} discarded; deposited table {t} freed"
    );
    folio_put(&m.memmap, folio, m.nr);
    m.observe("lazyfree-pmd-discarded");
    true
}
