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

/// `remove_migration_pmd` (mm/huge_memory.c) via `remove_migration_ptes(src, dst)` for the PMD
/// of `mm_id`: under the PMD lock (`page_vma_mapped_walk`), if the PMD is still a migration
/// entry for `src`, map `dst` there: reference, PMD rebuilt from the entry's bits (write,
/// young, dirty, soft-dirty), `folio_add_anon_rmap_pmd` (exclusive unless the entry was a
/// readable one), `set_pmd_at`. Returns whether it mapped.
pub fn remove_migration_pmd(m: &Machine, mm_id: usize, src: usize, dst: usize) -> bool {
    use crate::mm::pgtable::Pmd;
    let mm = &m.mms[mm_id];
    let ptl = mm.pmd_lock.lock();
    let Pmd::Migration { pfn, flags } = Pmd::decode(mm.pmd.read()) else {
        return false;
    };
    if pfn != src {
        return false;
    }
    folio_get(&m.memmap, dst);
    let mut f = flags & (F_WRITE | F_YOUNG | F_SOFT_DIRTY);
    if flags & F_DIRTY != 0 && m.memmap.page(dst).flags.test_bit(crate::mm::page::PG_DIRTY) {
        f |= F_DIRTY;
    }
    let exclusive = flags & (F_WRITE | F_EXCLUSIVE) != 0; // not a readable entry
    crate::mm::rmap::folio_add_anon_rmap_pmd(&m.memmap, dst, exclusive);
    let v = Pmd::Huge { pfn: dst, flags: f };
    mm.pmd.set(v.encode()); // set_pmd_at: non-present before, no invalidation needed
    trace!(
        "remove_migration_pmd",
        "mm{mm_id}: migration entry for folio {src} -> {v:?}"
    );
    drop(ptl);
    true
}

/// Why a THP migration failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MigrateError {
    /// -EAGAIN: the folio lock was taken, a pin refused the unmap, or an extra reference
    /// failed the freeze; everything was restored.
    Again,
}

/// `migrate_pages` of one isolated, PMD-mapped anonymous THP `src` to a new folio at memmap
/// slot `dst_slot`, with THP migration (mm/migrate.c `migrate_folio_unmap` +
/// `migrate_folio_move`, x86-64 `CONFIG_ARCH_ENABLE_THP_MIGRATION`). The caller holds the
/// isolation reference on `src`, which this function consumes on success (the source is
/// then freed by its last put) and keeps on failure.
/// 1. `folio_trylock(src)` (MIGRATE_ASYNC), allocate `dst` and lock it;
/// 2. anon_vma reference, `try_to_migrate(src, 0)`: each PMD mapping becomes a PMD migration
///    entry (`set_pmd_migration_entry`), the walk stopping at a refusal (pin);
/// 3. still mapped → `remove_migration_ptes(src, src)`, -EAGAIN;
/// 4. `__folio_migrate_mapping` (no mapping): freeze at the expected count (the caller's
///    reference), unqueue from the deferred split list while frozen, unfreeze; failure →
///    restore, -EAGAIN;
/// 5. copy flags, `remove_migration_ptes(src, dst)` (`remove_migration_pmd`), and only then
///    unlock and put `dst`, unlock `src` (rule `migrate-remove-ptes-before-unlock`), put it
///    (`migrate_folio_done`).
pub fn migrate_huge_page(m: &Machine, src: usize, dst_slot: usize) -> Result<usize, MigrateError> {
    use crate::mm::filemap::{folio_trylock, folio_unlock};
    use crate::mm::page_ref::{folio_put, folio_ref_freeze, folio_ref_unfreeze};
    let mm = &m.memmap;
    let nr = m.nr;
    if !folio_trylock(mm, src) {
        return Err(MigrateError::Again);
    }
    let dst = mm.alloc_large_folio(dst_slot);
    let locked = folio_trylock(mm, dst);
    vm_bug_on!(
        !locked,
        Inv::I10MigrationEntryLocked,
        "new folio {dst} not lockable"
    );
    let anon = crate::mm::rmap::folio_get_anon_vma(m, src);
    let mut was_mapped = false;
    {
        // try_to_migrate(src, 0): an rmap_walk the caller did not lock: anon_vma read lock
        let _av = m.anon_vma.rwsem.down_read();
        for mm_id in 0..m.mms.len() {
            match crate::mm::huge_memory::set_pmd_migration_entry(m, mm_id, src) {
                Ok(mapped) => was_mapped |= mapped,
                Err(_) => break, // try_to_migrate_one returned false: the walk stops
            }
        }
    }
    let restore = |m: &Machine| {
        if was_mapped {
            let _av = m.anon_vma.rwsem.down_read(); // remove_migration_ptes: rmap_walk
            for mm_id in 0..m.mms.len() {
                remove_migration_pmd(m, mm_id, src, src);
            }
        }
        folio_unlock(mm, dst);
        folio_put(mm, dst, nr); // put_new_folio
        if anon {
            crate::mm::rmap::put_anon_vma(m);
        }
        folio_unlock(mm, src);
    };
    if crate::mm::rmap::folio_mapcount(mm, src) > 0 {
        trace!("migrate_folio_unmap", "folio {src} still mapped: -EAGAIN");
        restore(m);
        return Err(MigrateError::Again);
    }
    // __folio_migrate_mapping, anonymous: "Take off deferred split queue while frozen"
    if !folio_ref_freeze(mm, src, 1) {
        trace!(
            "__folio_migrate_mapping",
            "folio {src}: extra reference: -EAGAIN"
        );
        restore(m);
        return Err(MigrateError::Again);
    }
    crate::mm::huge_memory::folio_unqueue_deferred_split(mm, src);
    folio_ref_unfreeze(mm, src, 1);
    // folio_migrate_flags (the dirty bit; AnonExclusive travels in the entries)
    if mm.page(src).flags.test_bit(crate::mm::page::PG_DIRTY) {
        mm.page(dst).flags.set_bit(crate::mm::page::PG_DIRTY);
    }
    mm.mapping[dst].set(mm.mapping[src].read());
    mm.page(dst).flags.set_bit(crate::mm::page::PG_LRU); // folio_add_lru
                                                         // remove_migration_ptes(src, dst) before either folio is unlocked (rule
                                                         // migrate-remove-ptes-before-unlock): an entry is only decodable while its folio is locked.
    let remap_first = rule_on(Rule::MigrateRemovePtesBeforeUnlock);
    if !remap_first {
        // The broken protocol: both folios unlocked while the entries still exist.
        folio_unlock(mm, dst);
        folio_unlock(mm, src);
    }
    if was_mapped {
        let _av = m.anon_vma.rwsem.down_read(); // remove_migration_ptes: rmap_walk
        for mm_id in 0..m.mms.len() {
            remove_migration_pmd(m, mm_id, src, dst);
        }
    }
    if remap_first {
        folio_unlock(mm, dst);
    }
    folio_put(mm, dst, nr);
    if anon {
        crate::mm::rmap::put_anon_vma(m);
    }
    if remap_first {
        folio_unlock(mm, src);
    }
    trace!("migrate_folio_move", "folio {src} migrated to {dst}");
    folio_put(mm, src, nr); // migrate_folio_done: the isolation reference, the last one
    Ok(dst)
}

/// `pmd_migration_entry_wait` (mm/migrate.c), from `__handle_mm_fault` on a PMD migration
/// entry: under the PMD lock re-read the PMD; if it is still a migration entry, decode it (the
/// folio must be locked) and wait on the folio lock, dropping the PMD lock before sleeping.
pub fn pmd_migration_entry_wait(m: &Machine, mm_id: usize) -> EntryWait {
    use crate::mm::pgtable::Pmd;
    let mm = &m.mms[mm_id];
    let ptl = mm.pmd_lock.lock();
    let Pmd::Migration { pfn, .. } = Pmd::decode(mm.pmd.read()) else {
        return EntryWait::NotMigration;
    };
    let folio = pfn_swap_entry_folio(m, pfn);
    trace!(
        "pmd_migration_entry_wait",
        "pmd migration entry for folio {folio}"
    );
    let mut ptl = Some(ptl);
    if migration_entry_wait_on_locked(&m.memmap, folio, || drop(ptl.take())) {
        EntryWait::Waited
    } else {
        EntryWait::Retry
    }
}

/// What a huge-PMD read fault found in the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HugeAccess {
    /// The folio the PMD mapped when the access succeeded (None: unmapped, a fresh fault
    /// would allocate).
    pub folio: Option<usize>,
    /// Times it slept on a migration entry.
    pub waits: usize,
}

/// A read access through the huge PMD of `mm_id` (`__handle_mm_fault`'s PMD level, mmap_lock
/// read held): a migration entry → `pmd_migration_entry_wait`, then refault; a present huge
/// PMD → the access succeeds (checked under the PMD lock, as `huge_pmd_set_accessed` does).
pub fn huge_pmd_access(m: &Machine, mm_id: usize) -> HugeAccess {
    use crate::mm::pgtable::Pmd;
    let mm = &m.mms[mm_id];
    mm.mmap_lock.assert_held("huge_pmd_access");
    let mut waits = 0;
    loop {
        let pmd = Pmd::decode(mm.pmd.read_dep()); // vmf.orig_pmd = pmdp_get_lockless
        match pmd {
            Pmd::Migration { .. } => {
                if pmd_migration_entry_wait(m, mm_id) == EntryWait::Waited {
                    waits += 1;
                }
                crate::kernel::cpu_relax();
            }
            Pmd::Huge { .. } => {
                let ptl = mm.pmd_lock.lock();
                let now = Pmd::decode(mm.pmd.read());
                if now != pmd {
                    drop(ptl);
                    continue; // huge_pmd_set_accessed: !pmd_same, refault
                }
                let Pmd::Huge { pfn, .. } = now else {
                    unreachable!()
                };
                vm_bug_on!(
                    !m.memmap.is_allocated(pfn),
                    Inv::I8UseAfterFree,
                    "huge PMD maps freed folio {pfn}"
                );
                drop(ptl);
                return HugeAccess {
                    folio: Some(pfn),
                    waits,
                };
            }
            _ => return HugeAccess { folio: None, waits },
        }
    }
}
