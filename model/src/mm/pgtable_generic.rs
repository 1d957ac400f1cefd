//! Models mm/pgtable-generic.c (Linux 6.18.2): mapping and locking a PTE table
//! (`___pte_offset_map`, `__pte_offset_map_lock`), depositing and withdrawing the PTE table of
//! a huge PMD (`pgtable_trans_huge_deposit` / `_withdraw`), and `pmdp_invalidate`.
//! Paraphrased; no kernel code is reproduced.

use crate::invariants::Inv;
use crate::kernel::{rcu_read_lock, RcuReadGuard, SpinGuard};
use crate::mm::pgtable::Pmd;
use crate::mm::{Machine, Mm};
use crate::{trace, vm_bug_on};

/// A mapped and locked PTE table (`pte_offset_map_lock` result); dropping it is
/// `pte_unmap_unlock`.
pub struct PteMapLock<'a> {
    pub table: usize,
    pub ptl: SpinGuard<'a>,
    _rcu: RcuReadGuard<'a>,
}

/// A mapped PTE table without its lock (`pte_offset_map` result): RCU keeps the table from
/// being freed while it is held; dropping it is `pte_unmap`.
pub struct PteMap<'a> {
    pub table: usize,
    _rcu: RcuReadGuard<'a>,
}

/// `pmdp_get_lockless(pmdp)` for the reader `func`: one read of the PMD with no lock held (an
/// address-dependent read, hence `read_dep`; kernel/atomic.rs). A trace event with the value
/// read: what a lockless walker decides from is what a counterexample must show.
pub fn pmdp_get_lockless(mm: &Mm, func: &'static str) -> i64 {
    let v = mm.pmd.read_dep();
    crate::kernel::trace::load(mm.pmd.loc(), v);
    trace!(func, "pmdp_get_lockless() = {:?}", Pmd::decode(v));
    v
}

/// `pte_offset_map` (`___pte_offset_map`): map the table the PMD points to, lockless, under
/// RCU. None when the PMD is none, huge or a migration entry. The caller sees the entries as
/// they are, with no lock against writers: used only by broken protocols (the off form of
/// rule `remove-migration-pte-ptl`).
pub fn pte_offset_map<'a>(m: &'a Machine, mm: &'a Mm) -> Option<PteMap<'a>> {
    let rcu = rcu_read_lock(&m.rcu);
    let pmd = Pmd::decode(pmdp_get_lockless(mm, "pte_offset_map"));
    let Pmd::Table(t) = pmd else {
        trace!("pte_offset_map", "pmd {pmd:?}: no table");
        return None;
    };
    let _ = m.table(mm, t, "pte_offset_map");
    trace!("pte_offset_map", "table {t} mapped, not locked");
    Some(PteMap {
        table: t,
        _rcu: rcu,
    })
}

/// `__pte_offset_map_lock`: map the table the PMD points to and lock its PTE lock, then
/// revalidate that the PMD still points to it (`pmd_same`), retrying otherwise. None when the
/// PMD is none, huge or a migration entry ("no table here right now").
pub fn pte_offset_map_lock<'a>(m: &'a Machine, mm: &'a Mm) -> Option<PteMapLock<'a>> {
    loop {
        // ___pte_offset_map: RCU keeps a concurrently unlinked table valid-but-detached.
        let rcu = rcu_read_lock(&m.rcu);
        let v = pmdp_get_lockless(mm, "pte_offset_map_lock");
        let pmd = Pmd::decode(v);
        let Pmd::Table(t) = pmd else {
            if !crate::kernel::rule_on(crate::rules::Rule::PteOffsetMapSkipsHuge)
                && (pmd.trans_huge() || pmd.migration())
            {
                // Defect (before 1a5a9906d4e8, historical race Z20, 2012): only none is
                // "no table"; anything else that is not a table is pmd_bad, and
                // pmd_clear_bad wipes it — without the PMD lock — although it is a live
                // huge mapping (or a migration entry) that somebody installed meanwhile.
                mm.pmd.set(0);
                trace!("pmd_clear_bad", "pmd {pmd:?} taken for a bad PMD: cleared");
                return None;
            }
            // ___pte_offset_map: none, a migration entry or a huge PMD is "no table here right
            // now" (rule pte-offset-map-skips-huge); a really bad PMD cannot occur in the model.
            trace!("pte_offset_map_lock", "pmd {pmd:?}: no table");
            return None;
        };
        let table = m.table(mm, t, "pte_offset_map_lock");
        let ptl = table.ptl.lock();
        if !crate::kernel::rule_on(crate::rules::Rule::PteOffsetMapLockPmdSame)
            || mm.pmd.read() == v
        {
            trace!("pte_offset_map_lock", "table {t} locked, pmd_same");
            return Some(PteMapLock {
                table: t,
                ptl,
                _rcu: rcu,
            });
        }
        trace!("pte_offset_map_lock", "pmd changed under us, retry");
        drop(ptl);
        drop(rcu);
        // No cpu_relax: the retry reads a later PMD value than this one (coherence), so the
        // loop ends by itself, and the immediate retry is an interleaving to explore.
    }
}

/// `pgtable_trans_huge_deposit`: PMD lock held.
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

/// `pmdp_invalidate`: atomically replace the huge PMD by its invalid
/// form (present bit clear, PSE kept; `pmdp_establish` is an xchg on x86 SMP), then flush.
///
/// Its precondition, a present PMD, is checked as 6.18 does (`VM_WARN_ON_ONCE(!pmd_present)`,
/// CONFIG_DEBUG_VM): only the broken protocol of rule `split-pmd-invalidate-present-only`
/// (historical race Z12) invalidates a migration entry. Past the warning `pmd_mkinvalid` of a
/// migration entry depends on the architecture: arm64 sets PMD_PRESENT_INVALID (kind 5, which
/// reads as present and is caught by the PMD classifiers, I26), x86 leaves it non-present.
pub fn pmdp_invalidate(m: &Machine, mm: &Mm) -> Pmd {
    let cur = Pmd::decode(mm.pmd.read());
    crate::vm_warn_on!(
        !cur.present(),
        crate::invariants::Inv::I26NonPresentAsPresent,
        "pmdp_invalidate of the non-present PMD {cur:?}: pmd_mkinvalid is defined for present PMDs only"
    );
    let new = match cur {
        Pmd::Huge { pfn, flags } | Pmd::HugeInvalid { pfn, flags } => {
            Pmd::HugeInvalid { pfn, flags }
        }
        Pmd::Migration { pfn, flags } => {
            if crate::kernel::engine::current()
                .options
                .hardware
                .pmd_mkinvalid_sets_present
            {
                Pmd::MigrationInvalid { pfn, flags }
            } else {
                cur
            }
        }
        other => crate::model_bug!("pmdp_invalidate of {other:?}"),
    };
    let old = Pmd::decode(crate::mm::pgtable::pmdp_establish(mm, new.encode()));
    trace!("pmdp_invalidate", "pmd {old:?} -> {new:?}");
    flush_pmd_tlb_range(m, mm); // A/D bits in old are final after this
    old
}

/// `flush_pmd_tlb_range` / `flush_tlb_range` right after a page-table entry was cleared or
/// invalidated: on IPI hardware it waits for IRQs-off sections ([`flush_tlb_ipi`]), and where
/// the architecture's flush is a full barrier ([`crate::kernel::Hardware::tlb_flush_is_full_barrier`]:
/// x86's serializing INVLPG or IPI handshake, arm64's closing `dsb(ish)`) it orders the clear
/// before everything after it. The model gives the barrier only to these immediate flushes;
/// the batched ones (`tlb_finish_mmu`, `try_to_unmap_flush`, arm64's `dsb(ishst)` in
/// `arch_tlbbatch_add_pending`) are modelled without it, which can only add interleavings.
pub fn flush_pmd_tlb_range(m: &Machine, mm: &Mm) {
    crate::mm::tlb::flush_tlb_mm(m, mm);
    flush_barrier()
}

/// `flush_tlb_page`, the flush of `ptep_clear_flush` (one PTE): the same immediate flush as
/// [`flush_pmd_tlb_range`], of virtual page `idx`'s translations ([`crate::mm::tlb::flush_tlb_one`]).
pub fn flush_tlb_page(m: &Machine, mm: &Mm, idx: usize) {
    crate::mm::tlb::flush_tlb_one(m, mm, idx);
    flush_barrier()
}

fn flush_barrier() {
    if crate::kernel::engine::current()
        .options
        .hardware
        .tlb_flush_is_full_barrier
    {
        crate::kernel::smp_mb();
    }
}
