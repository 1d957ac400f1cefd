//! Models the fork side of mm/mmap.c (Linux 6.18.2): `dup_mmap` for the one anonymous VMA
//! of the model. Paraphrased.

use crate::mm::Machine;
use crate::trace;

/// `dup_mmap(mm, oldmm)` (mm/mmap.c) reduced to the one VMA: `mmap_write_lock(oldmm)`,
/// `mmap_write_lock_nested(mm)`, `vma_start_write` on the parent's VMA (so no fault runs in it
/// under the per-VMA lock while its page tables are copied: the 6.4 fix fb49c455323f),
/// `anon_vma_fork` (the model's mms already share the one anon_vma; the child is linked after
/// the parent, see `rmap_walk_order`), then `copy_page_range` → `copy_huge_pmd` for a huge or
/// migration PMD. Returns `copy_huge_pmd`'s result (false: -EAGAIN, nothing huge copied).
pub fn dup_mmap(m: &Machine, src: usize, dst: usize) -> bool {
    let (smm, dmm) = (&m.mms[src], &m.mms[dst]);
    let w_old = smm.mmap_lock.down_write();
    let w_new = dmm.mmap_lock.down_write_nested(1);
    let vw = crate::mm::mmap_lock::vma_start_write(smm);
    trace!("dup_mmap", "mm{src} -> mm{dst}");
    let r = crate::mm::huge_memory::copy_huge_pmd(m, src, dst);
    drop(vw); // vma_end_write_all at mmap_write_unlock
    drop(w_new);
    drop(w_old);
    r
}
