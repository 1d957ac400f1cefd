//! Models the fork side of mm/mmap.c (Linux 6.18.2): `dup_mmap` for the one anonymous VMA
//! of the model. Paraphrased.

use crate::mm::Machine;
use crate::trace;

/// `dup_mmap(mm, oldmm)` (mm/mmap.c) reduced to the one VMA: `mmap_write_lock(oldmm)`,
/// `mmap_write_lock_nested(mm)`, `vma_start_write` on the parent's VMA (so no fault runs in it
/// under the per-VMA lock while its page tables are copied: the 6.4 fix fb49c455323f),
/// `anon_vma_fork` (the model's mms already share the one anon_vma; the child is linked after
/// the parent, see `rmap_walk_order`), then `copy_page_range`. False only on -ENOMEM (no
/// table for the child).
pub fn dup_mmap(m: &Machine, src: usize, dst: usize) -> bool {
    dup_mmap_prealloc(m, src, dst, &[])
}

/// [`dup_mmap`] where the page allocator has the free pages `prealloc_pool` for
/// `copy_pte_range`'s copies of maybe-pinned pages (`folio_prealloc`), in that order.
pub fn dup_mmap_prealloc(m: &Machine, src: usize, dst: usize, prealloc_pool: &[usize]) -> bool {
    let (smm, dmm) = (&m.mms[src], &m.mms[dst]);
    let w_old = smm.mmap_lock.down_write();
    let w_new = dmm.mmap_lock.down_write_nested(1);
    let vw = crate::mm::mmap_lock::vma_start_write(smm);
    trace!("dup_mmap", "mm{src} -> mm{dst}");
    let r = copy_page_range(m, src, dst, prealloc_pool);
    drop(vw); // vma_end_write_all at mmap_write_unlock
    drop(w_new);
    drop(w_old);
    r
}

/// `copy_page_range` (mm/memory.c) of a COW mapping, the parent's VMA write-locked: make the
/// parent's `write_protect_seq` odd (`raw_write_seqcount_begin`: an increment, then
/// `smp_wmb`), copy ([`copy_pmd_range`] for the one PMD), make it even again (`smp_wmb`, then
/// an increment). GUP-fast FOLL_PIN backs off across the window (rule
/// `gup-fast-write-protect-seq`). Between the increment and the pin-count read
/// (`folio_try_dup_anon_rmap_pmd` under the PMD locks, or `folio_try_dup_anon_rmap_ptes` under
/// the two PTE locks) there is no full barrier, only `smp_wmb` and the locks' acquisition:
/// enough on x86 (a LOCK-prefixed cmpxchg), a store-buffering window under the LKMM
/// (docs/memory-model.md).
pub fn copy_page_range(m: &Machine, src: usize, dst: usize, prealloc_pool: &[usize]) -> bool {
    use crate::kernel::smp_wmb;
    let seq = &m.mms[src].write_protect_seq;
    let v = seq.read();
    seq.set(v + 1); // raw_write_seqcount_begin: s->sequence++ (the one writer: mmap_lock)
    smp_wmb();
    if crate::kernel::rule_on(crate::rules::Rule::ForkWriteProtectSeqMb) {
        // Candidate fix F2 (docs/findings.md; off in 6.18.2): order the odd count before
        // every pin-count read of the copy.
        crate::kernel::smp_mb();
    }
    trace!(
        "raw_write_seqcount_begin",
        "mm{src} write_protect_seq {}",
        v + 1
    );
    let r = copy_pmd_range(m, src, dst, prealloc_pool);
    smp_wmb(); // raw_write_seqcount_end
    seq.set(v + 2);
    trace!(
        "raw_write_seqcount_end",
        "mm{src} write_protect_seq {}",
        v + 2
    );
    r
}

/// `copy_pmd_range` (mm/memory.c) for the one PMD: a huge PMD or a PMD migration entry, as a
/// lockless read of the parent's PMD shows it, is `copy_huge_pmd`'s; its -EAGAIN (the PMD is a
/// table now: a split got there first, or the folio may be pinned and `copy_huge_pmd` split it)
/// falls through to the PTE-level copy; a none PMD (`pmd_none_or_clear_bad`, read again) has
/// nothing to copy; a table is copied entry by entry (`copy_pte_range`). False on -ENOMEM.
pub fn copy_pmd_range(m: &Machine, src: usize, dst: usize, prealloc_pool: &[usize]) -> bool {
    use crate::mm::huge_memory::{copy_huge_pmd, CopyHuge};
    use crate::mm::pgtable::Pmd;
    // is_swap_pmd || pmd_trans_huge, on one lockless read (the kernel dereferences src_pmd for
    // each test; the model assumes the compiler reads it once): an invalidated huge PMD (a
    // split in progress) counts as huge, and copy_huge_pmd's lock then waits for the split.
    let pmd = Pmd::decode(m.mms[src].pmd.read());
    if (!pmd.none() && !pmd.present()) || pmd.trans_huge() {
        match copy_huge_pmd(m, src, dst) {
            CopyHuge::Copied => return true,
            CopyHuge::NoMem => return false,
            CopyHuge::Again => {}
        }
    }
    match Pmd::decode(m.mms[src].pmd.read()) {
        Pmd::None => return true, // pmd_none_or_clear_bad: nothing to copy
        Pmd::Table(_) => {}
        // pmd_bad: the kernel clears it and skips the range. Under fork's mmap_lock nothing
        // makes a table huge again, and copy_huge_pmd's -EAGAIN left a table.
        other => {
            crate::model_bug!("copy_pmd_range: mm{src}'s PMD is {other:?} after copy_huge_pmd")
        }
    }
    crate::mm::memory::copy_pte_range(m, src, dst, prealloc_pool)
}
