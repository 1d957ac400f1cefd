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
            trace!("pte_offset_map_lock", "pmd {pmd:?}: no table");
            return None;
        };
        let table = m.table(mm, t, "pte_offset_map_lock");
        let ptl = table.ptl.lock();
        if mm.pmd.read() == v {
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
        crate::kernel::cpu_relax();
    }
}
