//! Models mm/migrate.c and the migration-entry helpers of include/linux/swapops.h
//! (Linux 6.18.2): `remove_migration_ptes` / `remove_migration_pte`, `migration_entry_wait`,
//! `pfn_swap_entry_folio`. Paraphrased.

use crate::invariants::Inv;
use crate::kernel::smp_rmb;
use crate::mm::filemap::{folio_test_locked, migration_entry_wait_on_locked};
use crate::mm::memory::pte_offset_map_lock;
use crate::mm::page::PG_HEAD;
use crate::mm::page_ref::folio_get;
use crate::mm::pgtable::{Pte, F_DIRTY, F_EXCLUSIVE, F_SOFT_DIRTY, F_WRITE, F_YOUNG};
use crate::mm::rmap::folio_add_anon_rmap_pte;
use crate::mm::Machine;
use crate::rules::{rule_on, Rule};
use crate::{trace, vm_bug_on};

/// `pfn_swap_entry_folio` (include/linux/swapops.h; `softleaf_to_folio` after the Z06 fix):
/// the folio of a migration entry's pfn, which must be locked. Reads the compound link, then
/// (with the fix, rule `migration-entry-decode-rmb`) `smp_rmb`, then the flags.
pub fn pfn_swap_entry_folio(m: &Machine, pfn: usize) -> usize {
    let folio = m.memmap.page_folio(pfn);
    if rule_on(Rule::MigrationEntryDecodeRmb) {
        smp_rmb(); // pairs with the smp_wmb in __split_folio_to_order
    }
    vm_bug_on!(
        !folio_test_locked(&m.memmap, folio),
        Inv::I10MigrationEntryLocked,
        "migration entry for pfn {pfn} resolves to folio {folio}, which is not locked"
    );
    folio
}

/// What a fault on the PTE found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryWait {
    /// No table or the PTE changed: retry the fault.
    Retry,
    /// Slept on the folio lock until the migration finished: retry the fault.
    Waited,
    /// Not a migration entry.
    NotMigration,
}

/// `migration_entry_wait(mm, pmd, addr)`: under the revalidated PTE lock, re-read the PTE; if
/// it is still a migration entry, wait on the folio lock, dropping the ptl before sleeping.
pub fn migration_entry_wait(m: &Machine, mm_id: usize, idx: usize) -> EntryWait {
    let mm = &m.mms[mm_id];
    let Some(map) = pte_offset_map_lock(m, mm) else {
        return EntryWait::Retry;
    };
    let table = m.table(mm, map.table, "migration_entry_wait");
    let pte = Pte::decode(table.ptes[idx].read());
    let Pte::Migration { pfn, .. } = pte else {
        return EntryWait::NotMigration;
    };
    trace!(
        "migration_entry_wait",
        "pte[{idx}] migration entry for pfn {pfn}"
    );
    let folio = pfn_swap_entry_folio(m, pfn);
    let mut map = Some(map);
    if migration_entry_wait_on_locked(&m.memmap, folio, || drop(map.take())) {
        EntryWait::Waited
    } else {
        EntryWait::Retry // already unlocked: refault at once
    }
}

/// `remove_migration_ptes(src, dst, RMP_LOCKED)` for one folio `dst` (order 0 after a split,
/// or the still-large folio on the failure path): walk the page tables that may map it and
/// replace each migration entry for one of its pages by a present PTE.
pub fn remove_migration_ptes(m: &Machine, dst: usize, nr_pages: usize) {
    for mm_id in 0..m.mms.len() {
        let mm = &m.mms[mm_id];
        // page_vma_mapped_walk(PVMW_SYNC | PVMW_MIGRATION), PTE level (the model's migration
        // entries after a split are PTEs).
        let Some(map) = pte_offset_map_lock(m, mm) else {
            continue;
        };
        let table = m.table(mm, map.table, "remove_migration_pte");
        for (i, slot) in table.ptes.iter().enumerate() {
            let Pte::Migration { pfn, flags } = Pte::decode(slot.read()) else {
                continue;
            };
            if pfn < dst || pfn >= dst + nr_pages {
                continue;
            }
            remove_migration_pte(m, dst, pfn, flags, i, slot);
        }
        drop(map);
    }
}

/// `remove_migration_pte`: one entry (PTE lock held by the caller).
fn remove_migration_pte(
    m: &Machine,
    folio: usize,
    page: usize,
    flags: i64,
    i: usize,
    slot: &crate::kernel::atomic_long_t,
) {
    let large = m.memmap.page(folio).flags.test_bit(PG_HEAD);
    folio_get(&m.memmap, folio);
    let mut pflags = 0;
    if flags & F_WRITE != 0 {
        pflags |= F_WRITE;
    }
    if flags & F_YOUNG != 0 {
        pflags |= F_YOUNG;
    }
    if flags & F_DIRTY != 0
        && m.memmap
            .page(folio)
            .flags
            .test_bit(crate::mm::page::PG_DIRTY)
    {
        pflags |= F_DIRTY; // folio_test_dirty && is_migration_entry_dirty
    }
    pflags |= flags & F_SOFT_DIRTY;
    let exclusive = flags & (F_WRITE | F_EXCLUSIVE) != 0;
    folio_add_anon_rmap_pte(&m.memmap, folio, page, exclusive, large);
    slot.set(
        Pte::Present {
            pfn: page,
            flags: pflags,
        }
        .encode(),
    ); // set_pte_at
    trace!(
        "remove_migration_pte",
        "pte[{i}] = present pfn {page} (folio {folio})"
    );
}
