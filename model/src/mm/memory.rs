//! PTE-level mapping helpers (mm/pgtable-generic.c `___pte_offset_map`,
//! `__pte_offset_map_lock`).

use crate::kernel::{rcu_read_lock, RcuReadGuard, SpinGuard};
use crate::mm::pgtable::Pmd;
use crate::mm::{Machine, Mm};
use crate::trace;

/// A mapped and locked PTE table (`pte_offset_map_lock` result); dropping it is
/// `pte_unmap_unlock`.
pub struct PteMapLock<'a> {
    pub table: usize,
    pub ptl: SpinGuard<'a>,
    _rcu: RcuReadGuard<'a>,
}

/// `__pte_offset_map_lock`: map the table the PMD points to and lock its PTE lock, then
/// revalidate that the PMD still points to it (`pmd_same`), retrying otherwise. None when the
/// PMD is none, huge or a migration entry ("no table here right now").
pub fn pte_offset_map_lock<'a>(m: &'a Machine, mm: &'a Mm) -> Option<PteMapLock<'a>> {
    loop {
        // ___pte_offset_map: RCU keeps a concurrently unlinked table valid-but-detached.
        let rcu = rcu_read_lock(&m.rcu);
        let v = mm.pmd.read_dep(); // pmdp_get_lockless; address dependency -> Acquire
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
        trace!("pmd_install", "pmd = Table({t})");
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
