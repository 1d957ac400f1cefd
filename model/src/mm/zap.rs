//! Zapping (MADV_DONTNEED / munmap), modelled on mm/memory.c `zap_pmd_range`,
//! `zap_pte_range`, `zap_present_folio_ptes`, `zap_nonpresent_ptes` and mm/huge_memory.c
//! `zap_huge_pmd`, `zap_deposited_table`. The folio references of zapped mappings are dropped
//! only after the TLB flush (mmu_gather). Paraphrased.
//!
//! PT_RECLAIM (mm/pt_reclaim.c, default y on x86-64) after a full-range zap: the direct path
//! `try_get_and_clear_pmd` (PMD lock trylock under the PTE lock, rule `pt-reclaim-pmd-trylock`)
//! and, when the trylock fails, the fallback `try_to_free_pte` (PMD lock, PTE lock nested,
//! every PTE re-checked none); either way the table is queued (`free_pte`) and freed by
//! `tlb_finish_mmu` after the TLB flush and a grace period (`tlb_remove_table`).

use crate::mm::huge_memory::{__pmd_trans_huge_lock, __split_huge_pmd, pte_free};
use crate::mm::migrate::pfn_swap_entry_folio;
use crate::mm::page::PG_HEAD;
use crate::mm::page_ref::folio_put;
use crate::mm::pgtable::{Pmd, Pte};
use crate::mm::pgtable_generic::pmdp_get_lockless;
use crate::mm::pgtable_generic::{pgtable_trans_huge_withdraw, pte_offset_map_lock};
use crate::mm::rmap::{folio_remove_rmap_pmd, folio_remove_rmap_pte};
use crate::mm::Machine;
use crate::trace;

/// The range of one PMD to zap: all of it, or one sub-page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZapRange {
    Full,
    Page(usize),
}

/// What a zap did (for scenario outcomes).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Zapped {
    pub huge_pmd: bool,
    pub present_ptes: usize,
    pub migration_entries: usize,
    pub skipped_none: bool,
    /// A PMD migration entry was zapped (no rmap, no reference: only the deposited table).
    pub migration_pmd: bool,
    /// Zero-page PTEs cleared (no struct page: nothing else to undo).
    pub zero_ptes: usize,
    /// Swap PTEs cleared (their slots' counts dropped: `free_swap_and_cache_nr`).
    pub swap_entries: usize,
}

/// `zap_deposited_table` (mm/huge_memory.c): withdraw the deposited PTE table and free it at
/// once (`pte_free`, no RCU deferral: nothing can reach a deposited table locklessly except a
/// walker that read it before it was deposited, which collapse's `tlb_remove_table_sync_one`
/// excludes). PMD lock held. Returns the table freed.
pub(crate) fn zap_deposited_table(mm: &crate::mm::Mm, ptl: &crate::kernel::SpinGuard<'_>) -> usize {
    let t = pgtable_trans_huge_withdraw(mm, ptl);
    pte_free(mm, t);
    mm.nr_ptes.dec();
    t
}

/// `zap_huge_pmd`: under `__pmd_trans_huge_lock`, clear the PMD, drop the PMD mapping, free the
/// deposited table; the folio reference is dropped after the TLB flush. Returns false if the
/// PMD is no longer huge (the caller zaps at PTE level).
pub fn zap_huge_pmd(m: &Machine, mm_id: usize, z: &mut Zapped) -> bool {
    let mm = &m.mms[mm_id];
    let Some(ptl) = __pmd_trans_huge_lock(mm) else {
        return false;
    };
    let orig = Pmd::decode(crate::mm::pgtable::pmdp_huge_get_and_clear(mm)); // _full
    let folio = match orig {
        Pmd::Huge { pfn, .. } | Pmd::HugeInvalid { pfn, .. } => pfn,
        Pmd::Migration { pfn, .. }
            if crate::kernel::rule_on(crate::rules::Rule::ZapHugePmdNonPresent) =>
        {
            // A migration entry holds no mapcount and no reference: only the deposited table
            // goes. The gather records the PMD all the same (`tlb_remove_pmd_tlb_entry` comes
            // before the test), so `tlb_finish_mmu` flushes.
            let folio = pfn_swap_entry_folio(m, pfn);
            let t = zap_deposited_table(mm, &ptl);
            trace!(
                "zap_huge_pmd",
                "migration entry for folio {folio} -> none; deposited table {t} freed"
            );
            drop(ptl);
            crate::mm::tlb::flush_tlb_mm(m, mm); // tlb_finish_mmu
            z.migration_pmd = true;
            return true;
        }
        Pmd::Migration { pfn, .. } => {
            // Rule off (Z07): the entry goes down the present-PMD path, as a zap that assumes a
            // present huge PMD would: the mapping it never had is removed and a reference it
            // never held is put. The damage is left to the refcount and mapcount checks
            // (folio_put's underflow, the quiescent oracle). The historical failure itself
            // (before bbcbf045d6c7) was the present assertion inside powerpc's get-and-clear
            // helper, which the model does not have.
            trace!(
                "zap_huge_pmd",
                "non-present {orig:?} handled as a present huge PMD"
            );
            z.migration_pmd = true;
            pfn
        }
        o => crate::model_bug!("zap_huge_pmd of {o:?}"),
    };
    folio_remove_rmap_pmd(&m.memmap, folio, mm.mm_id);
    let t = zap_deposited_table(mm, &ptl);
    trace!(
        "zap_huge_pmd",
        "pmd {orig:?} -> none; deposited table {t} freed"
    );
    drop(ptl);
    if crate::kernel::rule_on(crate::rules::Rule::ZapFlushBeforeFree) {
        crate::mm::tlb::flush_tlb_mm(m, mm); // tlb_finish_mmu (tlb_remove_pmd_tlb_entry)
        folio_put(&m.memmap, folio, m.nr); // tlb_remove_page_size: after the flush
    } else {
        folio_put(&m.memmap, folio, m.nr); // rule off: freed before the flush
        crate::mm::tlb::flush_tlb_mm(m, mm);
    }
    z.huge_pmd = true;
    true
}

/// `zap_pmd_range` for the one PMD of `mm_id` (MADV_DONTNEED under the VMA / mmap read lock).
pub fn zap_pmd_range(m: &Machine, mm_id: usize, range: ZapRange) -> Zapped {
    let mm = &m.mms[mm_id];
    crate::mm::mmap_lock::assert_mmap_or_vma_locked(mm, "zap_pmd_range");
    let mut z = Zapped::default();
    loop {
        let pmd = Pmd::decode(pmdp_get_lockless(mm, "zap_pmd_range"));
        if pmd.migration() || pmd.trans_huge() {
            match range {
                ZapRange::Page(_) => __split_huge_pmd(m, mm_id, false),
                ZapRange::Full => {
                    if zap_huge_pmd(m, mm_id, &mut z) {
                        return z;
                    }
                }
            }
            // fall through to the PTE level
        }
        let pmd = Pmd::decode(pmdp_get_lockless(mm, "zap_pmd_range"));
        if pmd.none() {
            z.skipped_none = true;
            return z;
        }
        if zap_pte_range(m, mm_id, range, &mut z) {
            return z;
        }
        // pte_offset_map_lock failed: re-process this PMD. No cpu_relax: the PMD read again
        // is a later value (coherence), so the retry needs no other CPU's step.
    }
}

/// `zap_pte_range`: under the PTE lock clear each PTE in range; present → rmap removed now,
/// reference batched until after the flush; migration entry → `pfn_swap_entry_folio` (must be
/// locked) and cleared, with no rmap and no reference (`zap_nonpresent_ptes`). Returns false
/// if there was no table (caller retries). Finer than the kernel for a large folio: 6.18
/// clears a batch of its PTEs (`zap_present_folio_ptes`) and then removes their rmap at once
/// (`folio_remove_rmap_ptes(nr)`: one `_mm_ids` lock section), where the model removes each
/// PTE's rmap after clearing it. The model shows lockless readers intermediate mapcounts the
/// kernel never publishes (more behaviours, not fewer), never the reverse.
fn zap_pte_range(m: &Machine, mm_id: usize, range: ZapRange, z: &mut Zapped) -> bool {
    let mm = &m.mms[mm_id];
    let Some(map) = pte_offset_map_lock(m, mm) else {
        return false;
    };
    let cleared_before = z.present_ptes + z.zero_ptes;
    let table = m.table(mm, map.table, "zap_pte_range");
    // Rule flush-tlb-batched-pending: a reclaim or migration batch may have cleared PTEs
    // of this mm and not flushed yet; under the PTE lock, so that its clear is seen.
    crate::mm::tlb::flush_tlb_batched_pending(m, mm);
    let mut batch = Vec::new();
    let mut i = 0;
    while i < table.ptes.len() {
        let slot = &table.ptes[i];
        if let ZapRange::Page(p) = range {
            if p != i {
                i += 1;
                continue;
            }
        }
        match Pte::decode(slot.read()) {
            Pte::Swap { offset, flags } => {
                // zap_nonpresent_ptes: swap_pte_batch (the following entries name the next
                // slots with the same bits, within the range), free_swap_and_cache_nr, then
                // clear_not_present_full_ptes; no flush is recorded for them.
                let last = match range {
                    ZapRange::Page(p) => p + 1,
                    ZapRange::Full => table.ptes.len(),
                };
                let n = crate::mm::swapfile::swap_pte_batch(&table.ptes, i, last, offset, flags);
                crate::mm::swapfile::zap_swap_ptes(m, &table.ptes, i, n, offset);
                z.swap_entries += n;
                trace!(
                    "zap_nonpresent_ptes",
                    "pte[{i}..{}] swap entries for slots {offset}..{} cleared",
                    i + n,
                    offset + n
                );
                i += n;
                continue;
            }
            Pte::None => {}
            Pte::Present { pfn, .. } => {
                crate::mm::pgtable::ptep_get_and_clear(slot); // _full
                let folio = m.memmap.page_folio(pfn);
                let large = m.memmap.page(folio).flags.test_bit(PG_HEAD);
                folio_remove_rmap_pte(&m.memmap, folio, pfn, large, m.mms[mm_id].mm_id);
                batch.push((folio, large));
                z.present_ptes += 1;
                trace!("zap_pte_range", "pte[{i}] present pfn {pfn} cleared");
            }
            Pte::Zero { .. } => {
                // zap_present_ptes: vm_normal_page is NULL for the special zero-page entry:
                // clear it (the accessed and dirty bits are not needed); no rmap, no reference.
                crate::mm::pgtable::ptep_get_and_clear(slot); // _full
                z.zero_ptes += 1;
                trace!("zap_present_ptes", "pte[{i}] zero page cleared");
            }
            Pte::Migration { pfn, .. } => {
                let folio = pfn_swap_entry_folio(m, pfn);
                slot.set(0); // pte_clear_not_present_full
                z.migration_entries += 1;
                trace!(
                    "zap_nonpresent_ptes",
                    "pte[{i}] migration entry for pfn {pfn} (folio {folio}) cleared"
                );
            }
        }
        i += 1;
    }
    let t = map.table;
    // can_reclaim_pt: a full-range zap that skipped nothing leaves every entry none. (A
    // cleared migration entry does not count as skipped in an anonymous VMA:
    // `zap_install_uffd_wp_if_needed` only reports a skip for a file-backed uffd-wp marker.)
    let can_reclaim_pt = range == ZapRange::Full && table.ptes.iter().all(|p| p.read() == 0);
    let direct_reclaim = can_reclaim_pt && try_get_and_clear_pmd(m, mm, t);
    drop(map);
    // Still inside zap_pte_range, before tlb_finish_mmu: the PMD is cleared (directly above, or
    // by the fallback) and the table handed to the mmu_gather (`free_pte`).
    let table_freed = can_reclaim_pt && (direct_reclaim || try_to_free_pte(m, mm_id, t));
    if table_freed {
        free_pte(mm, t);
    }
    // tlb_finish_mmu → tlb_flush_mmu: the TLB flush, then the table batch
    // (`tlb_table_flush`, an RCU callback) and the page batch (`tlb_batch_pages_flush`). The
    // flush happens only if the gather recorded something (`tlb_flush_mmu_tlbonly`: a present
    // or zero-page PTE cleared, `tlb_remove_tlb_entry`, or a table freed); a cleared migration
    // entry records nothing.
    let flush = || {
        if z.present_ptes + z.zero_ptes > cleared_before || table_freed {
            // over the gathered range: the whole PMD, or the one page
            match range {
                ZapRange::Full => crate::mm::tlb::flush_tlb_mm(m, mm),
                ZapRange::Page(p) => crate::mm::tlb::flush_tlb_one(m, mm, p),
            }
        }
    };
    let batch: Vec<(usize, usize)> = batch
        .into_iter()
        .map(|(folio, large)| (folio, if large { m.nr } else { 1 }))
        .collect();
    // Rule zap-flush-before-free: the flush, then the page batch (off: the other way round).
    let flush_first = crate::kernel::rule_on(crate::rules::Rule::ZapFlushBeforeFree);
    if flush_first {
        flush();
    }
    crate::mm::swap_state::free_pages_and_swap_cache(m, &batch);
    if !flush_first {
        flush();
    }
    if table_freed {
        // The RCU callback runs after a grace period, while the pages go back at once: the
        // model runs the callback last, so the folio puts above are not held back by readers.
        tlb_remove_table(m, mm, t);
    }
    true
}

/// `try_get_and_clear_pmd` (mm/pt_reclaim.c), called with the PTE lock of table `t` held and
/// every entry none: the PMD lock is taken with `spin_trylock`, because the usual order is the
/// PMD lock first and the PTE lock nested inside it (`try_to_free_pte`, and the two are one
/// lockdep class); on success clear the PMD. With the PTE lock held nobody can repopulate the
/// table, and the PMD cannot stop pointing to it (rule `pt-reclaim-pmd-trylock`).
fn try_get_and_clear_pmd(m: &Machine, mm: &crate::mm::Mm, t: usize) -> bool {
    let pml = if crate::kernel::rule_on(crate::rules::Rule::PtReclaimPmdTrylock) {
        match mm.pmd_lock.trylock() {
            Some(g) => g,
            None => {
                trace!("try_get_and_clear_pmd", "PMD lock busy: fall back");
                m.observe("pmd-lock-busy-fell-back");
                return false;
            }
        }
    } else {
        // Defect: a blocking spin_lock of the PMD lock inside the PTE lock (the inverse of
        // try_to_free_pte's order): an ABBA deadlock with it, and lockdep's recursive-locking
        // report for the shared ptlock class.
        mm.pmd_lock.lock()
    };
    let v = Pmd::decode(mm.pmd.read());
    crate::vm_bug_on!(
        v != Pmd::Table(t),
        crate::invariants::Inv::I17TableLifetime,
        "try_get_and_clear_pmd: the PMD is {v:?}, not Table({t}), while its PTE lock is held"
    );
    mm.pmd.set(0); // pmd_clear
    trace!("try_get_and_clear_pmd", "pmd table({t}, PRESENT) -> none");
    drop(pml);
    true
}

/// `free_pte` (mm/pt_reclaim.c): `pte_free_tlb` queues the unlinked table on the mmu_gather
/// and `mm_dec_nr_ptes` drops the count; the table itself goes back in [`tlb_remove_table`].
fn free_pte(mm: &crate::mm::Mm, t: usize) {
    mm.nr_ptes.dec();
    trace!(
        "free_pte",
        "table {t} unlinked, queued for tlb_remove_table"
    );
}

/// `tlb_remove_table` (mm/mmu_gather.c, CONFIG_MMU_GATHER_RCU_TABLE_FREE) as `tlb_finish_mmu`
/// runs it: the table is freed only after a grace period that also covers IRQs-off sections,
/// which is what keeps a GUP-fast walk's table alive (rule `table-free-waits-for-gup-fast`).
/// The TLB flush before it does not suffice where it skips CPUs: arm64's broadcast TLBI, and
/// a KVM guest's paravirtual flush, which skips preempted vCPUs (arch/x86/kernel/kvm.c,
/// `kvm_flush_tlb_multi`).
pub fn tlb_remove_table(m: &Machine, mm: &crate::mm::Mm, t: usize) {
    if crate::kernel::rule_on(crate::rules::Rule::TableFreeWaitsForGupFast) {
        crate::kernel::synchronize_rcu(&m.rcu);
    } else {
        crate::kernel::rcu::synchronize_rcu_readers_only(&m.rcu);
    }
    pte_free(mm, t);
    trace!("tlb_remove_table", "table {t} freed after the grace period");
}

/// `try_to_free_pte` (mm/pt_reclaim.c, CONFIG_PT_RECLAIM, default y on x86-64): after a full
/// zap, under the PMD lock and the PTE lock nested inside it, if the PMD still points to the
/// table and every PTE is none, clear the PMD; the table is freed only after an RCU grace
/// period (`pte_free_tlb` → `tlb_remove_table`), so `pte_offset_map` readers inside
/// `rcu_read_lock` never see it freed. This is what makes an anonymous PMD go table → none
/// while others hold `mmap_lock` read (docs/protocol.md#pt-reclaim). Returns whether it
/// cleared the PMD (the caller then hands the table to `free_pte`).
fn try_to_free_pte(m: &Machine, mm_id: usize, t: usize) -> bool {
    let mm = &m.mms[mm_id];
    let pml = mm.pmd_lock.lock();
    if Pmd::decode(mm.pmd.read()) != Pmd::Table(t) {
        return false;
    }
    let table = m.table(mm, t, "try_to_free_pte");
    let ptl = table.ptl.lock_nested(1);
    if table.ptes.iter().any(|p| p.read() != 0) {
        return false;
    }
    mm.pmd.set(0); // pmd_clear
    trace!("try_to_free_pte", "pmd table({t}, PRESENT) -> none");
    drop(ptl);
    drop(pml);
    true
}
