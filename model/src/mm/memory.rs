//! Models the small-page fault of mm/memory.c (Linux 6.18.2): `do_anonymous_page`,
//! `__pte_alloc`, `pmd_install`. Paraphrased.

use crate::mm::pgtable::Pmd;
use crate::mm::pgtable_generic::pte_offset_map_lock;
use crate::mm::{Machine, Mm};
use crate::trace;

/// `pmd_install` (mm/memory.c): under the PMD lock, if the PMD is still none, account the
/// table, `smp_wmb` (rule `pmd-install-wmb`: the zeroed table visible before the PMD points to
/// it, paired with the lockless walkers' dependency), `pmd_populate`; otherwise the loser frees
/// its table (rule `pmd-install-pmd-none-recheck`).
pub fn pmd_install(_m: &Machine, mm: &Mm, t: usize) {
    use crate::kernel::rule_on;
    use crate::rules::Rule;
    let ptl = mm.pmd_lock.lock();
    let cur = Pmd::decode(mm.pmd.read());
    if !rule_on(Rule::PmdInstallPmdNoneRecheck) || cur.none() {
        mm.nr_ptes.inc();
        if rule_on(Rule::PmdInstallWmb) {
            crate::kernel::smp_wmb();
        }
        mm.pmd.set(Pmd::Table(t).encode()); // pmd_populate
        trace!("pmd_install", "pmd = table({t}, PRESENT)");
        drop(ptl);
    } else {
        trace!("pmd_install", "pmd {cur:?} not none: free table {t}");
        drop(ptl);
        crate::mm::huge_memory::pte_free(mm, t);
    }
}

/// `__pte_alloc`: allocate a zeroed table and install it (`pte_alloc` calls this only when
/// the lockless test saw the PMD none).
pub fn __pte_alloc(m: &Machine, mm: &Mm) -> bool {
    let Some(t) = crate::mm::huge_memory::pte_alloc_one(mm) else {
        return false;
    };
    pmd_install(m, mm, t);
    true
}

/// What a small-page fault did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PteFault {
    /// Mapped a new page at the PTE.
    Mapped,
    /// The PMD is (or became) huge, or the PTE was already populated: return 0, refault.
    Refault,
    /// No memory.
    Oom,
}

/// `do_anonymous_page` (mm/memory.c, write fault, order 0) for sub-page `idx`, reached from
/// `__handle_mm_fault` when the lockless PMD test did not take the huge path: `pte_alloc`,
/// allocate the page (memmap `pfn`, free), `pte_offset_map_lock` (NULL if the PMD became huge
/// meanwhile: refault), recheck `pte_none`, rmap, `set_pte_at`.
pub fn do_anonymous_page(m: &Machine, mm_id: usize, idx: usize, pfn: usize) -> PteFault {
    use crate::mm::pgtable::{Pte, F_DIRTY, F_WRITE, F_YOUNG};
    let mm = &m.mms[mm_id];
    crate::mm::mmap_lock::assert_mmap_or_vma_locked(mm, "do_anonymous_page");
    if Pmd::decode(mm.pmd.read()).none() && !__pte_alloc(m, mm) {
        return PteFault::Oom;
    }
    m.memmap.alloc_small_folio(pfn);
    crate::kernel::smp_wmb(); // __folio_mark_uptodate
    let Some(map) = pte_offset_map_lock(m, mm) else {
        crate::mm::page_ref::folio_put(&m.memmap, pfn, 1);
        return PteFault::Refault;
    };
    let table = m.table(mm, map.table, "do_anonymous_page");
    if Pte::decode(table.ptes[idx].read()) != Pte::None {
        drop(map);
        crate::mm::page_ref::folio_put(&m.memmap, pfn, 1);
        return PteFault::Refault;
    }
    // folio_add_new_anon_rmap (order 0): _mapcount 0, AnonExclusive, mapping.
    let p = m.memmap.page(pfn);
    p._mapcount.set(0);
    p.flags.set_bit(crate::mm::page::PG_ANON_EXCLUSIVE);
    crate::mm::rmap::anon_exclusive_publish_wmb();
    m.memmap.mapping[pfn].set(crate::mm::ANON_VMA_ID);
    p.flags.set_bit(crate::mm::page::PG_LRU); // folio_add_lru_vma
    table.ptes[idx].set(
        Pte::Present {
            pfn,
            flags: F_WRITE | F_YOUNG | F_DIRTY,
        }
        .encode(),
    ); // set_pte_at
    trace!("do_anonymous_page", "pte[{idx}] = present pfn {pfn}");
    drop(map);
    PteFault::Mapped
}

/// A user store through a huge PMD, as the MMU does it (no kernel function): the page walk
/// reads the PMD; if it is present, huge and writable, the hardware sets the accessed and
/// dirty bits in one atomic update (x86's locked A/D update, arm64's hardware DBM update) and
/// the store reaches the folio. Returns the folio written, or None if the walk found no
/// writable huge mapping (the store would fault; the model stops there). A cached translation
/// is not modelled: every store walks, which is what a clean (not yet dirty) translation needs
/// before its first write.
pub fn hw_write_huge_pmd(m: &Machine, mm_id: usize) -> Option<usize> {
    use crate::mm::pgtable::{F_DIRTY, F_WRITE, F_YOUNG};
    let mm = &m.mms[mm_id];
    loop {
        let v = crate::mm::pgtable_generic::pmdp_get_lockless(mm, "mmu: write walk");
        let Pmd::Huge { pfn, flags } = Pmd::decode(v) else {
            return None;
        };
        if flags & F_WRITE == 0 {
            return None;
        }
        let new = Pmd::Huge {
            pfn,
            flags: flags | F_YOUNG | F_DIRTY,
        }
        .encode();
        if mm.pmd.cmpxchg_relaxed(v, new) == v {
            trace!(
                "mmu: write",
                "pmd {:?} -> {:?}",
                Pmd::decode(v),
                Pmd::decode(new)
            );
            return Some(pfn);
        }
    }
}
