//! Per-CPU TLBs, the flushes that empty them, and the batched unmap flush (arch/x86/mm/tlb.c
//! `flush_tlb_mm_range`, `arch_tlbbatch_flush`; include/asm-generic/tlb.h `tlb_flush_mmu_tlbonly`;
//! mm/rmap.c `set_tlb_ubc_flush_pending`, `try_to_unmap_flush`, `flush_tlb_batched_pending`;
//! Linux 6.18.2). Paraphrased.
//!
//! A TLB is hardware: each CPU may keep using a translation it cached after the page-table
//! entry changed, until a flush reaches it. The model keeps, per mm and per CPU, the
//! translation the CPU may still use for each of the mm's `nr` virtual pages (a PTE-level
//! entry) and for the whole PMD (a PMD-level entry), as a pfn with the write and dirty
//! permissions it was filled with. A user store ([`mmu_store`]) uses a cached writable, dirty
//! translation without reading the page tables; otherwise it walks them, sets the accessed and
//! dirty bits as the MMU does, and caches what it found. A flush empties the entries of every
//! CPU, each under the CPU's [`InstructionBoundary`]: an IPI is taken between two
//! instructions, so a store that looked up, walked and wrote is either wholly before the flush
//! or wholly after it, and a flush that returned leaves no CPU able to use the old
//! translation.
//!
//! The state is opt-in ([`Machine::with_tlb`]): a machine built without it has no entries, its
//! flushes only do what they did before (the IPI's wait for IRQs-off sections, the barrier of
//! an immediate flush), `mm->tlb_flush_batched` is not kept, and nothing stores through a
//! cached translation. Scenarios that race a user access with an unmap build it; the others
//! are not slowed by flushes that have nothing to empty.
//!
//! What a stale translation may do, and the oracles that see it: a store that reaches a page
//! already freed is I8 (checked at the store); a store that reaches the old page of a
//! migration after the copy, or a page that a zap unmapped after the zap returned, is lost
//! data, I29 (checked at the end against what the user stored last).
//!
//! Not modelled: `arch_tlbbatch_should_defer` (the model always defers under
//! TTU_BATCH_FLUSH, as x86 does whenever another CPU has run the mm: the only case that
//! matters); the generation reset of `set_tlb_ubc_flush_pending` when the pending count grows
//! large (unreachable in a bounded run); `mm_tlb_flush_nested` (two concurrent zaps of one mm
//! under the mmap read lock); loads through a cached translation (a store is enough to lose
//! data); lazy TLB mode and ASIDs (a flush reaches every CPU that may hold the mm).

use crate::kernel::{atomic_long_t, current_cpu, InstructionBoundary};
use crate::mm::pgtable::{Pmd, Pte, F_DIRTY, F_WRITE, F_YOUNG};
use crate::mm::{Machine, Mm};
use crate::{trace, vm_bug_on};

/// One CPU's TLB entries for one mm: `entries[i]` for `i < nr` is the PTE-level translation of
/// virtual page `i`, `entries[nr]` the PMD-level one; 0 = none cached.
pub struct CpuTlb {
    boundary: InstructionBoundary,
    entries: Vec<atomic_long_t>,
}

impl CpuTlb {
    fn new(nr: usize) -> CpuTlb {
        CpuTlb {
            boundary: InstructionBoundary::new(),
            entries: (0..=nr).map(|_| atomic_long_t::new(0)).collect(),
        }
    }
}

const TLB_WRITE: i64 = 1;
const TLB_DIRTY: i64 = 2;

fn tlb_encode(pfn: usize, flags: i64) -> i64 {
    let mut e = ((pfn as i64) + 1) << 2;
    if flags & F_WRITE != 0 {
        e |= TLB_WRITE;
    }
    if flags & F_DIRTY != 0 {
        e |= TLB_DIRTY;
    }
    e
}

/// A cached entry: (pfn, writable and dirty).
fn tlb_decode(e: i64) -> Option<(usize, bool)> {
    if e == 0 {
        return None;
    }
    let pfn = ((e >> 2) - 1) as usize;
    Some((pfn, e & TLB_WRITE != 0 && e & TLB_DIRTY != 0))
}

impl Machine {
    /// Give every mm a TLB on each CPU of `cpus` (CPU numbers: the scenario's main CPU is 0,
    /// spawned CPUs count from 1): the CPUs that run the mm's user code, `mm_cpumask`. A flush
    /// visits those only, as the kernel's IPIs go to the mm's cpumask. Before the machine is
    /// shared.
    ///
    /// Only for x86's flush (an IPI the target CPU answers between two instructions, and a
    /// handshake the flushing CPU waits for): the model drops a CPU's entries under that CPU's
    /// instruction boundary, which also orders everything before the flush with everything
    /// the target does after it. arm64's broadcast TLBI orders no other memory access, so a
    /// machine with TLB state on other hardware is refused (model bug).
    pub fn with_tlb(mut self, cpus: &[usize]) -> Machine {
        let hw = crate::kernel::engine::current().options.hardware;
        if !hw.tlb_flush_waits_for_irqs_off {
            crate::model_bug!(
                "per-CPU TLB state is modelled for x86's IPI flush only (run the scenario with --arch x86)"
            );
        }
        let nr = self.nr;
        let n = cpus.iter().max().map_or(0, |c| c + 1);
        for mm in &mut self.mms {
            mm.tlb = (0..n)
                .map(|c| cpus.contains(&c).then(|| CpuTlb::new(nr)))
                .collect();
        }
        self
    }
}

/// Does this machine keep TLB state?
pub fn tlb_modelled(mm: &Mm) -> bool {
    !mm.tlb.is_empty()
}

fn cpu_tlb(mm: &Mm, cpu: usize) -> Option<&CpuTlb> {
    mm.tlb.get(cpu).and_then(Option::as_ref)
}

/// Empty the entries `slots` of every CPU's TLB for `mm`, each CPU between two of its
/// instructions (the IPI handler, `flush_tlb_func`).
fn flush_entries(mm: &Mm, slots: impl Iterator<Item = usize> + Clone) {
    for (cpu, t) in mm.tlb.iter().enumerate() {
        let Some(t) = t else { continue };
        let _ipi = t.boundary.enter();
        for s in slots.clone() {
            if t.entries[s].read() != 0 {
                t.entries[s].set(0);
                trace!(
                    "flush_tlb_func",
                    "cpu{cpu}: tlb entry {s} of mm{} dropped",
                    mm.index()
                );
            }
        }
    }
}

/// `flush_tlb_mm` / `flush_tlb_range` of the mm's one PMD range (arch/x86/mm/tlb.c
/// `flush_tlb_mm_range`): the IPI ([`crate::kernel::flush_tlb_ipi`]: on IPI hardware it also
/// waits for IRQs-off sections) and every CPU's entries for `mm` dropped.
pub fn flush_tlb_mm(m: &Machine, mm: &Mm) {
    crate::kernel::flush_tlb_ipi(&m.rcu);
    flush_entries(mm, 0..=m.nr);
}

/// `flush_tlb_page(vma, addr)` of virtual page `idx`: the IPI, and every CPU's translations of
/// that address dropped (its PTE-level entry and the PMD-level one that covers it).
pub fn flush_tlb_one(m: &Machine, mm: &Mm, idx: usize) {
    crate::kernel::flush_tlb_ipi(&m.rcu);
    flush_entries(mm, [idx, m.nr].into_iter());
}

/// `arch_tlbbatch_flush` (x86: a full flush of every CPU in the batch's cpumask), as
/// `try_to_unmap_flush` runs it: every mm's entries on every CPU.
pub fn arch_tlbbatch_flush(m: &Machine) {
    crate::kernel::flush_tlb_ipi(&m.rcu);
    for mm in &m.mms {
        flush_entries(mm, 0..=m.nr);
    }
}

/// Bits 0-14 of `mm->tlb_flush_batched`: pending generations; bits 16-30: flushed ones.
pub const TLB_FLUSH_BATCH_FLUSHED_SHIFT: u32 = 16;
const TLB_FLUSH_BATCH_PENDING_MASK: i32 = (1 << (TLB_FLUSH_BATCH_FLUSHED_SHIFT - 1)) - 1;

/// `set_tlb_ubc_flush_pending` (mm/rmap.c), called by `try_to_unmap_one` /
/// `try_to_migrate_one` under the PTE lock right after it cleared a present PTE whose flush it
/// defers (TTU_BATCH_FLUSH): the task's batch owes a flush (the caller's `flush` flag, which
/// `try_to_unmap_flush` pays) and the mm records a pending generation, read then incremented
/// (`atomic_read`, `atomic_inc`), so that a later page-table operation of the same mm knows
/// it may meet a translation nobody has flushed yet ([`flush_tlb_batched_pending`]).
pub fn set_tlb_ubc_flush_pending(mm: &Mm) {
    if !tlb_modelled(mm) {
        return;
    }
    let batch = mm.tlb_flush_batched.read();
    let _ = batch; // the generation reset for a large pending count is not reached
    mm.tlb_flush_batched.inc();
    trace!(
        "set_tlb_ubc_flush_pending",
        "mm{}: flush deferred (tlb_flush_batched {batch:#x} + 1)",
        mm.index()
    );
}

/// `flush_tlb_batched_pending(mm)` (mm/rmap.c), called under the PTE lock at the top of
/// `zap_pte_range` (and of `change_pte_range`, `move_ptes`, `madvise_free_pte_range`, ...):
/// if a reclaim or migration batch cleared PTEs of this mm and has not flushed yet (pending
/// != flushed), flush the whole mm now, then record the generation as flushed unless another
/// one became pending meanwhile (`atomic_cmpxchg`). Without it the zap may find the entry
/// already cleared, flush nothing, and return while a CPU still writes through the old
/// translation (rule `flush-tlb-batched-pending`).
pub fn flush_tlb_batched_pending(m: &Machine, mm: &Mm) {
    if !tlb_modelled(mm) {
        return;
    }
    if !crate::kernel::rule_on(crate::rules::Rule::FlushTlbBatchedPending) {
        return;
    }
    let batch = mm.tlb_flush_batched.read();
    let pending = batch & TLB_FLUSH_BATCH_PENDING_MASK;
    let flushed = batch >> TLB_FLUSH_BATCH_FLUSHED_SHIFT;
    if pending != flushed {
        trace!(
            "flush_tlb_batched_pending",
            "mm{}: pending {pending} != flushed {flushed}: flush_tlb_mm",
            mm.index()
        );
        flush_tlb_mm(m, mm);
        m.observe("flush-tlb-batched-pending-flushed");
        mm.tlb_flush_batched
            .cmpxchg(batch, pending | (pending << TLB_FLUSH_BATCH_FLUSHED_SHIFT));
    }
}

/// Setup only, before the CPUs start: CPU `cpu` wrote virtual page `idx` of mm `mm_id` earlier
/// and still caches the translation (writable and dirty, as the write left it; the PTE gets
/// its accessed and dirty bits). The PTE must be present and writable.
pub fn tlb_fill_for_setup(m: &Machine, mm_id: usize, cpu: usize, idx: usize) {
    let mm = &m.mms[mm_id];
    let Pmd::Table(t) = Pmd::decode(mm.pmd.read()) else {
        crate::model_bug!("tlb_fill_for_setup: mm{mm_id}'s PMD is not a table");
    };
    let slot = &mm.tables[t].ptes[idx];
    let Pte::Present { pfn, flags } = Pte::decode(slot.read()) else {
        crate::model_bug!("tlb_fill_for_setup: mm{mm_id} page {idx} is not present");
    };
    if flags & F_WRITE == 0 {
        crate::model_bug!("tlb_fill_for_setup: mm{mm_id} page {idx} is read-only");
    }
    let flags = flags | F_YOUNG | F_DIRTY;
    slot.set(Pte::Present { pfn, flags }.encode());
    let Some(t) = cpu_tlb(mm, cpu) else {
        crate::model_bug!(
            "tlb_fill_for_setup: cpu{cpu} does not run mm{mm_id} (Machine::with_tlb)"
        );
    };
    t.entries[idx].set(tlb_encode(pfn, flags));
}

/// How a user store reached memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MmuStore {
    /// Through a translation this CPU had cached (no page-table access).
    Cached { pfn: usize },
    /// Through the page-table walk it just did (and cached).
    Walked { pfn: usize },
    /// The walk found no writable mapping: the store faults (the PTE it found).
    Fault(Pte),
    /// The walk found a PMD that is not a table of PTEs (none, huge, or a migration entry).
    FaultPmd(Pmd),
}

/// A user store of `value` into virtual page `idx` of mm `mm_id` on the current CPU, as the MMU
/// does it (no kernel function), in one instruction: a cached writable, dirty translation
/// (PTE-level, or the PMD-level one) is used as is; otherwise the MMU walks the PMD and the
/// PTE, sets the accessed and dirty bits in one atomic update (x86's locked A/D update) if
/// the entry is present and writable, and caches the translation. The store then reaches the
/// page: I8 if the page is free (a translation that outlived the page's free: a flush owed
/// was skipped).
pub fn mmu_store(m: &Machine, mm_id: usize, idx: usize, value: i32) -> MmuStore {
    let mm = &m.mms[mm_id];
    let cpu = current_cpu();
    let Some(t) = cpu_tlb(mm, cpu) else {
        crate::model_bug!("mmu_store on cpu{cpu}: mm{mm_id} has no TLB for it (Machine::with_tlb)");
    };
    let _insn = t.boundary.enter();
    let cached = tlb_decode(t.entries[idx].read())
        .filter(|&(_, w)| w)
        .or_else(|| {
            tlb_decode(t.entries[m.nr].read())
                .filter(|&(_, w)| w)
                .map(|(p, w)| (p + idx, w))
        });
    let how = if let Some((pfn, _)) = cached {
        MmuStore::Cached { pfn }
    } else {
        match walk_for_store(m, mm, idx) {
            Ok((pfn, slot, flags)) => {
                t.entries[slot].set(tlb_encode(
                    if slot == m.nr { pfn - idx } else { pfn },
                    flags,
                ));
                MmuStore::Walked { pfn }
            }
            Err(f) => {
                trace!("mmu: store", "cpu{cpu} mm{mm_id} page {idx}: {f:?}");
                return f;
            }
        }
    };
    let (MmuStore::Cached { pfn } | MmuStore::Walked { pfn }) = how else {
        unreachable!()
    };
    vm_bug_on!(
        !m.memmap.pages[pfn].allocated.read_latest(),
        crate::invariants::Inv::I8UseAfterFree,
        "cpu{cpu}'s store to mm{mm_id} page {idx} went through a {} translation to pfn {pfn}, which is free: a TLB flush owed was skipped",
        if matches!(how, MmuStore::Cached { .. }) { "cached" } else { "walked" }
    );
    let c = &m.memmap.page(pfn).content;
    c.set((c.read() & crate::mm::page::CONTENT_ORACLE_BITS) | value);
    trace!(
        "mmu: store",
        "cpu{cpu} mm{mm_id} page {idx}: {value:#x} -> pfn {pfn} ({how:?})"
    );
    how
}

/// The MMU's walk for a store to page `idx`: (pfn, TLB slot, entry flags after the A/D
/// update) of a present, writable mapping, or the fault.
fn walk_for_store(m: &Machine, mm: &Mm, idx: usize) -> Result<(usize, usize, i64), MmuStore> {
    loop {
        let v = crate::mm::pgtable_generic::pmdp_get_lockless(mm, "mmu: store walk");
        match Pmd::decode(v) {
            Pmd::Huge { pfn, flags } if flags & F_WRITE != 0 => {
                let new = Pmd::Huge {
                    pfn,
                    flags: flags | F_YOUNG | F_DIRTY,
                };
                if flags & (F_YOUNG | F_DIRTY) == F_YOUNG | F_DIRTY
                    || mm.pmd.cmpxchg_acquire(v, new.encode()) == v
                {
                    return Ok((pfn + idx, m.nr, flags | F_YOUNG | F_DIRTY));
                }
            }
            Pmd::Table(t) => {
                let slot = &m.table(mm, t, "mmu: store walk").ptes[idx];
                // The store's address depends on the entry read (read_dep), and so does the
                // locked A/D update when the bits are not set yet (acquire stands for it).
                let p = slot.read_dep();
                match Pte::decode(p) {
                    Pte::Present { pfn, flags } if flags & F_WRITE != 0 => {
                        let new = Pte::Present {
                            pfn,
                            flags: flags | F_YOUNG | F_DIRTY,
                        };
                        if flags & (F_YOUNG | F_DIRTY) == F_YOUNG | F_DIRTY
                            || slot.cmpxchg_acquire(p, new.encode()) == p
                        {
                            return Ok((pfn, idx, flags | F_YOUNG | F_DIRTY));
                        }
                    }
                    other => return Err(MmuStore::Fault(other)),
                }
            }
            other => return Err(MmuStore::FaultPmd(other)),
        }
    }
}

/// I25 at a quiescent point, for machines with TLB state: every flush owed was paid, so every
/// translation a CPU still caches is one the page tables hold (a PTE-level entry: the present
/// PTE of that page maps the same pfn; a PMD-level one: the PMD is huge and maps it), with no
/// more permission than the entry grants, to an allocated page. Independent of every rule: a
/// skipped flush leaves a translation the page tables no longer hold, whether or not a store
/// used it.
pub fn check_tlb_quiescent(m: &Machine) {
    for (i, mm) in m.mms.iter().enumerate() {
        for (cpu, t) in mm.tlb.iter().enumerate() {
            let Some(t) = t else { continue };
            for (slot, e) in t.entries.iter().enumerate() {
                let Some((pfn, writable)) = tlb_decode(e.read()) else {
                    continue;
                };
                let held = if slot == m.nr {
                    match Pmd::decode(mm.pmd.read()) {
                        Pmd::Huge { pfn: p, flags } => {
                            p == pfn && (!writable || flags & F_WRITE != 0)
                        }
                        _ => false,
                    }
                } else {
                    match Pmd::decode(mm.pmd.read()) {
                        Pmd::Table(tb) => matches!(
                            Pte::decode(mm.tables[tb].ptes[slot].read()),
                            Pte::Present { pfn: p, flags } if p == pfn && (!writable || flags & F_WRITE != 0)
                        ),
                        _ => false,
                    }
                };
                vm_bug_on!(
                    !held || !m.memmap.is_allocated(pfn),
                    crate::invariants::Inv::I25TlbFlushOwed,
                    "cpu{cpu} still caches a {} translation of mm{i} {} to pfn {pfn}, which the page tables no longer hold{}: a TLB flush owed was skipped",
                    if writable { "writable" } else { "read-only" },
                    if slot == m.nr { "PMD".to_string() } else { format!("page {slot}") },
                    if m.memmap.is_allocated(pfn) { "" } else { " (and the page is free)" }
                );
            }
        }
    }
}
