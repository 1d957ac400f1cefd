//! Models mm/migrate.c and the migration-entry helpers of include/linux/swapops.h
//! (Linux 6.18.2): `remove_migration_ptes` / `remove_migration_pte`, `migration_entry_wait`,
//! `pfn_swap_entry_folio`. Paraphrased.

use crate::invariants::Inv;
use crate::kernel::rule_on;
use crate::kernel::smp_rmb;
use crate::mm::filemap::{folio_test_locked, migration_entry_wait_on_locked};
use crate::mm::page::{DEFERRED_NONE, PG_HEAD, PG_PARTIALLY_MAPPED};
use crate::mm::page_ref::folio_get;
use crate::mm::pgtable::{Pte, F_DIRTY, F_EXCLUSIVE, F_SOFT_DIRTY, F_WRITE, F_YOUNG};
use crate::mm::pgtable_generic::pmdp_get_lockless;
use crate::mm::pgtable_generic::pte_offset_map_lock;
use crate::mm::rmap::folio_add_anon_rmap_pte;
use crate::mm::Machine;
use crate::rules::Rule;
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

/// `remove_migration_ptes(src, dst, flags)` (mm/migrate.c): the rmap walk of `src`
/// (`rmap_walk`, or `rmap_walk_locked` when the caller holds the anon_vma) with
/// `page_vma_mapped_walk(PVMW_SYNC | PVMW_MIGRATION)` in every mm: a PMD migration entry for
/// `src` becomes a huge PMD of `dst` (`remove_migration_pmd`); each PTE migration entry for page
/// `src + i` becomes a present PTE of page `dst + i` (`remove_migration_pte`). `nr_pages` is
/// the size of `src` (1 for each order-0 folio after a split; N for the still-large folio of a
/// failed split or a migration). A PMD migration entry split into PTE migration entries while
/// the walk runs is found at PTE level ("THP pmd was split under us").
///
/// `use_shared_zeropage` is RMP_USE_SHARED_ZEROPAGE (a successful split of an anonymous
/// folio; `src == dst`): a PTE entry whose sub-page is zero-filled becomes the shared zero
/// page instead (`try_to_map_unused_to_zeropage`), and the folio is left unmapped there.
pub fn remove_migration_ptes(
    m: &Machine,
    src: usize,
    dst: usize,
    nr_pages: usize,
    use_shared_zeropage: bool,
) {
    use crate::mm::pgtable::Pmd;
    for mm_id in crate::mm::rmap::rmap_walk_order(m) {
        let mm = &m.mms[mm_id];
        // page_vma_mapped_walk: lockless PMD read, then the PMD lock for a PMD-level entry.
        let pmd = Pmd::decode(pmdp_get_lockless(mm, "page_vma_mapped_walk"));
        if pmd.migration() {
            match remove_migration_pmd(m, mm_id, src, dst, nr_pages) {
                PmdWalk::Done => continue,
                PmdWalk::SplitUnderUs => {}
            }
        } else if pmd.none() {
            crate::mm::page_vma_mapped::page_vma_mapped_walk_sync(m, mm, nr_pages);
            continue;
        }
        // page_vma_mapped_walk's map_pte: the PTE lock before any PTE is reported (rule
        // remove-migration-pte-ptl; off, the table is only mapped under RCU).
        let (t, _map) = if rule_on(Rule::RemoveMigrationPtePtl) {
            let Some(map) = pte_offset_map_lock(m, mm) else {
                continue;
            };
            (map.table, Ok(map))
        } else {
            let Some(map) = crate::mm::pgtable_generic::pte_offset_map(m, mm) else {
                continue;
            };
            (map.table, Err(map))
        };
        let table = m.table(mm, t, "remove_migration_pte");
        for (i, slot) in table.ptes.iter().enumerate() {
            let Pte::Migration { pfn, flags } = Pte::decode(slot.read()) else {
                continue;
            };
            if pfn < src || pfn >= src + nr_pages {
                continue;
            }
            if use_shared_zeropage && try_to_map_unused_to_zeropage(m, src, pfn, flags, i, slot) {
                continue;
            }
            remove_migration_pte(m, mm, dst, dst + (pfn - src), flags, i, slot);
        }
    }
}

/// `try_to_map_unused_to_zeropage` (mm/migrate.c), PTE lock held, for the migration entry
/// (`flags`) of `page` of the small folio `folio` just split off: unless the page is compound
/// or marked PG_hwpoison (rule `zeropage-remap-skips-hwpoison`), and if it holds only zeroes
/// (`pages_identical` with the zero page), map the shared zero page there instead: special,
/// read-only, with the entry's soft-dirty bit (rule `zeropage-remap-soft-dirty`). No
/// reference and no rmap are taken: the folio stays unmapped there, and the split's final put
/// frees it. Left out: the mlock tests (`folio_test_mlocked`, VM_LOCKED: the model has no
/// mlock), `mm_forbids_zeropage` (defined only by s390; constant false on x86-64 and arm64),
/// uffd-wp (not modelled), `dec_mm_counter` (no RSS counters). Called only after a successful
/// split, on an order-0 folio (`page == folio`): there `PageCompound` (PG_head, or the compound
/// link's tail bit) is false and cannot change, so the model reads only the flags word, once,
/// for PG_head and PG_hwpoison together (the compound link is not read); one read can only miss
/// a concurrently set PG_hwpoison more often than the kernel's second read. The kernel's
/// `PageLocked(page)` asks the head, which is `page` here.
fn try_to_map_unused_to_zeropage(
    m: &Machine,
    folio: usize,
    page: usize,
    flags: i64,
    i: usize,
    slot: &crate::kernel::atomic_long_t,
) -> bool {
    use crate::mm::page::{PG_HWPOISON, PG_LOCKED};
    if page != folio {
        crate::model_bug!("try_to_map_unused_to_zeropage on pfn {page} of the large folio {folio}: RMP_USE_SHARED_ZEROPAGE is passed only after a split to order 0");
    }
    let f = &m.memmap.page(page).flags;
    let word = f.read();
    crate::kernel::trace::load(f.loc(), word);
    let compound = word & (1 << PG_HEAD) != 0;
    let poisoned = word & (1 << PG_HWPOISON) != 0;
    trace!(
        "try_to_map_unused_to_zeropage",
        "pfn {page}: flags {word:#x}{}{}",
        if compound { ", compound" } else { "" },
        if poisoned { ", PG_hwpoison" } else { "" }
    );
    if compound || (poisoned && rule_on(Rule::ZeropageRemapSkipsHwpoison)) {
        return false;
    }
    vm_bug_on!(
        word & (1 << PG_LOCKED) == 0,
        Inv::I10MigrationEntryLocked,
        "try_to_map_unused_to_zeropage: folio {folio} of pfn {page} is not locked"
    );
    if !crate::mm::util::pages_identical_zero(m, page, "try_to_map_unused_to_zeropage") {
        return false;
    }
    let mut nflags = F_YOUNG; // pfn_pte(my_zero_pfn, vm_page_prot): accessed, read-only
    if rule_on(Rule::ZeropageRemapSoftDirty) {
        nflags |= flags & F_SOFT_DIRTY; // pte_swp_soft_dirty -> pte_mksoft_dirty
    }
    let new = Pte::Zero { flags: nflags };
    slot.set(new.encode()); // set_pte_at
    trace!(
        "try_to_map_unused_to_zeropage",
        "pte[{i}] = {new:?} (pfn {page} of folio {folio} was zero-filled)"
    );
    m.observe("split-mapped-zero-page");
    true
}

/// `remove_migration_pte`: one entry (PTE lock held by the caller).
fn remove_migration_pte(
    m: &Machine,
    mm: &crate::mm::Mm,
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
    folio_add_anon_rmap_pte(&m.memmap, folio, page, exclusive, large, mm.mm_id);
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

/// What `page_vma_mapped_walk` made of a PMD migration entry once it held the PMD lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PmdWalk {
    /// Handled at PMD level (mapped `dst`), or nothing of `src` here.
    Done,
    /// The PMD is a page table now: continue at PTE level.
    SplitUnderUs,
}

/// `remove_migration_pmd` (mm/huge_memory.c) as `remove_migration_ptes(src, dst)` reaches it for
/// the PMD of `mm_id`: under the PMD lock (`page_vma_mapped_walk`), if the PMD is still a
/// migration entry whose pages overlap `src`'s `nr_pages` (mm/page_vma_mapped.c `check_pmd`),
/// map `dst` there: reference, PMD rebuilt from the entry's bits (write, young, dirty,
/// soft-dirty), `folio_add_anon_rmap_pmd` (exclusive unless the entry was a readable one),
/// `set_pmd_at`. Only a PMD-sized `dst` can replace a PMD entry.
pub fn remove_migration_pmd(
    m: &Machine,
    mm_id: usize,
    src: usize,
    dst: usize,
    nr_pages: usize,
) -> PmdWalk {
    use crate::mm::pgtable::Pmd;
    let mm = &m.mms[mm_id];
    let ptl = mm.pmd_lock.lock();
    let (pfn, flags) = match Pmd::decode(mm.pmd.read()) {
        Pmd::Migration { pfn, flags } => (pfn, flags),
        Pmd::Table(_) => return PmdWalk::SplitUnderUs,
        _ => return PmdWalk::Done,
    };
    // check_pmd: the entry's HPAGE_PMD_NR pages and the walk's range do not overlap.
    if pfn + m.nr <= src || pfn >= src + nr_pages {
        return PmdWalk::Done;
    }
    vm_bug_on!(
        nr_pages != m.nr || !m.memmap.page(dst).flags.test_bit(PG_HEAD),
        Inv::I11SplitEndsClean,
        "remove_migration_pmd: the PMD migration entry for pfn {pfn} overlaps pages {src}..{} of a folio that is not PMD-sized (new folio {dst})",
        src + nr_pages
    );
    folio_get(&m.memmap, dst);
    let mut f = flags & (F_WRITE | F_YOUNG | F_SOFT_DIRTY);
    if flags & F_DIRTY != 0 && m.memmap.page(dst).flags.test_bit(crate::mm::page::PG_DIRTY) {
        f |= F_DIRTY;
    }
    let exclusive = flags & (F_WRITE | F_EXCLUSIVE) != 0; // not a readable entry
    crate::mm::rmap::folio_add_anon_rmap_pmd(&m.memmap, dst, exclusive, mm.mm_id);
    let v = Pmd::Huge { pfn: dst, flags: f };
    mm.pmd.set(v.encode()); // set_pmd_at: non-present before, no invalidation needed
    trace!(
        "remove_migration_pmd",
        "mm{mm_id}: migration entry for folio {src} -> {v:?}"
    );
    drop(ptl);
    PmdWalk::Done
}

/// Why a THP migration failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MigrateError {
    /// -EAGAIN: the folio lock was taken, a pin refused the unmap, or an extra reference
    /// failed the freeze; everything was restored.
    Again,
    /// The folio was on the deferred split list, partially mapped, and was split instead
    /// (`try_split_folio`): its order-0 folios are on the caller's `split_folios` list, each
    /// locked by no one and holding a list reference (the head: the isolation reference).
    /// `migrate_pages` would migrate them in a later batch; the model stops there.
    Split,
}

/// A THP between the two halves of a migration: unmapped (every mapping a migration entry),
/// both folios locked (mm/migrate.c `__migrate_folio_record`'s state).
#[derive(Debug, PartialEq, Eq)]
pub struct Unmapped {
    pub src: usize,
    pub dst: usize,
    /// PAGE_WAS_MAPPED: migration entries were installed and must be removed.
    was_mapped: bool,
    /// The anon_vma reference taken for the walks.
    anon: bool,
    /// TTU_BATCH_FLUSH left a TLB flush owed (PTEs were cleared).
    flush: bool,
}

/// `migrate_folio_unmap` (mm/migrate.c) for one isolated anonymous THP `src`, with a new folio
/// at memmap slot `dst_slot` (x86-64 and arm64 have `CONFIG_ARCH_ENABLE_THP_MIGRATION`):
/// 1. `folio_trylock(src)` (MIGRATE_ASYNC), allocate `dst` and lock it;
/// 2. anon_vma reference, `try_to_migrate(src, TTU_BATCH_FLUSH)` (MIGRATE_ASYNC; no
///    TTU_SPLIT_HUGE_PMD): a PMD mapping
///    becomes a PMD migration entry (`set_pmd_migration_entry`), PTE mappings become PTE
///    migration entries; the walk stops at a refusal (a pin on an AnonExclusive page);
/// 3. still mapped → `migrate_folio_undo_src` (`remove_migration_ptes(src, src)`), -EAGAIN.
///
/// The caller holds the isolation reference on `src` throughout.
pub fn migrate_folio_unmap(
    m: &Machine,
    src: usize,
    dst_slot: usize,
) -> Result<Unmapped, MigrateError> {
    let mut owed = false;
    let r = migrate_folio_unmap_batched(m, src, dst_slot, &mut owed);
    if r.is_err() && owed {
        // A caller outside a batch pays what the failed unmap deferred (try_to_unmap_flush).
        crate::mm::tlb::arch_tlbbatch_flush(m);
    }
    r
}

/// [`migrate_folio_unmap`] inside `migrate_pages_batch`: a failed unmap undoes itself without
/// a flush and leaves what it deferred in the task's batch (`owed`, the `tlb_ubc`), which the
/// batch pays at its `move:` label.
fn migrate_folio_unmap_batched(
    m: &Machine,
    src: usize,
    dst_slot: usize,
    owed: &mut bool,
) -> Result<Unmapped, MigrateError> {
    use crate::mm::filemap::folio_trylock;
    let mm = &m.memmap;
    if !folio_trylock(mm, src) {
        return Err(MigrateError::Again);
    }
    if mm.page(src).flags.test_bit(crate::mm::page::PG_SWAPCACHE) {
        // the swap cache's references and slots moved to the new folio
        // (__folio_migrate_mapping under the swap cluster lock)
        crate::model_bug!("migration of folio {src} in the swap cache is not modelled");
    }
    let dst = mm.alloc_large_folio(dst_slot);
    let locked = folio_trylock(mm, dst);
    vm_bug_on!(
        !locked,
        Inv::I10MigrationEntryLocked,
        "new folio {dst} not lockable"
    );
    let anon = crate::mm::rmap::folio_get_anon_vma(m, src);
    let mut u = Unmapped {
        src,
        dst,
        was_mapped: false,
        anon,
        flush: false,
    };
    if crate::mm::rmap::folio_mapcount(mm, src) > 0 {
        // try_to_migrate(src, TTU_BATCH_FLUSH): an rmap_walk the caller did not lock: anon_vma
        // read lock
        let _av = m.anon_vma.rwsem.down_read();
        u.flush = crate::mm::rmap::try_to_migrate(m, src, crate::mm::rmap::Ttu::Migrate);
        *owed |= u.flush;
        u.was_mapped = true;
    }
    if crate::mm::rmap::folio_mapcount(mm, src) > 0 {
        trace!("migrate_folio_unmap", "folio {src} still mapped: -EAGAIN");
        migrate_folio_undo(m, u);
        return Err(MigrateError::Again);
    }
    trace!(
        "migrate_folio_unmap",
        "folio {src} unmapped (migration entries: {})",
        u.was_mapped
    );
    Ok(u)
}

/// `try_to_unmap_flush` between the unmap and the move of one folio, for a caller that runs the
/// two halves itself ([`migrate_folio_unmap`], [`migrate_folio_move`]): the TLB flush that
/// TTU_BATCH_FLUSH deferred for it, if any is owed. (`migrate_pages_batch` pays what its
/// whole batch owes at its `move:` label.)
pub fn try_to_unmap_flush(m: &Machine, u: &Unmapped) {
    if u.flush {
        crate::mm::tlb::arch_tlbbatch_flush(m);
    }
}

/// `migrate_folio_undo_src` + `migrate_folio_undo_dst` (also `migrate_folios_undo`, for a
/// folio whose move failed in every pass): remap the source where it was mapped, unlock and
/// put the new folio, drop the anon_vma, unlock the source (which keeps the caller's
/// isolation reference).
pub fn migrate_folio_undo(m: &Machine, u: Unmapped) {
    use crate::mm::filemap::folio_unlock;
    use crate::mm::page_ref::folio_put;
    let mm = &m.memmap;
    if u.was_mapped {
        let _av = m.anon_vma.rwsem.down_read(); // remove_migration_ptes: rmap_walk
        remove_migration_ptes(m, u.src, u.src, m.nr, false);
    }
    folio_unlock(mm, u.dst);
    folio_put(mm, u.dst, m.nr); // put_new_folio
    if u.anon {
        crate::mm::rmap::put_anon_vma(m);
    }
    folio_unlock(mm, u.src);
}

/// `migrate_folio_move` (mm/migrate.c) of an unmapped THP:
/// 1. `__folio_migrate_mapping` (no mapping): freeze at the expected count (the caller's
///    reference), unqueue from the deferred split list while frozen, unfreeze; failure is
///    -EAGAIN with nothing undone: the folio stays unmapped behind its migration entries, both
///    folios locked, and is handed back (`Err`) for the next pass of `migrate_pages_batch`
///    (mm/migrate.c `migrate_folio_move`, label `out`: "unless we want to retry");
/// 2. copy flags, `remove_migration_ptes(src, dst)` at whichever level the entries are now
///    (a PMD entry may have been split into PTE entries meanwhile: `dst` is then PTE-mapped),
///    and only then unlock and put `dst`, unlock `src` (rule
///    `migrate-remove-ptes-before-unlock`), put it (`migrate_folio_done`).
///
/// On success the isolation reference on `src` is consumed (its last put frees it).
pub fn migrate_folio_move(m: &Machine, u: Unmapped) -> Result<usize, Unmapped> {
    use crate::mm::filemap::folio_unlock;
    use crate::mm::page_ref::{folio_put, folio_ref_freeze, folio_ref_unfreeze};
    let mm = &m.memmap;
    let nr = m.nr;
    let (src, dst) = (u.src, u.dst);
    // __migrate_folio: folio_mc_copy before the mapping is moved (its racy refcount pre-check
    // is left out: the freeze below decides)
    crate::mm::util::folio_mc_copy(m, dst, src, nr);
    // __folio_migrate_mapping, anonymous: "Take off deferred split queue while frozen"
    if !folio_ref_freeze(mm, src, 1) {
        trace!(
            "__folio_migrate_mapping",
            "folio {src}: extra reference: -EAGAIN (stays unmapped for the next pass)"
        );
        return Err(u);
    }
    crate::mm::huge_memory::folio_unqueue_deferred_split(mm, src);
    folio_ref_unfreeze(mm, src, 1);
    // folio_migrate_flags (the dirty bit; AnonExclusive travels in the entries; PG_uptodate:
    // folio_mark_uptodate's smp_wmb orders the copy before the entries that map `dst`, for an
    // MMU walk whose store depends on the entry it read)
    crate::kernel::smp_wmb();
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
    if u.was_mapped {
        let _av = m.anon_vma.rwsem.down_read(); // remove_migration_ptes: rmap_walk
        remove_migration_ptes(m, src, dst, nr, false);
    }
    if remap_first {
        folio_unlock(mm, dst);
    }
    folio_put(mm, dst, nr);
    if u.anon {
        crate::mm::rmap::put_anon_vma(m);
    }
    if remap_first {
        folio_unlock(mm, src);
    }
    trace!("migrate_folio_move", "folio {src} migrated to {dst}");
    folio_put(mm, src, nr); // migrate_folio_done: the isolation reference, the last one
    Ok(dst)
}

/// `NR_MAX_MIGRATE_PAGES_RETRY` (mm/migrate.c): the passes `migrate_pages_batch` makes in
/// each phase for a MIGRATE_ASYNC caller. MIGRATE_SYNC (`migrate_pages_sync`) makes
/// `NR_MAX_MIGRATE_ASYNC_RETRY` (3) async passes over the batch, then
/// `NR_MAX_MIGRATE_SYNC_RETRY` (7) one folio at a time with `folio_lock` instead of the
/// trylock. The model's `migrate_folio_unmap` is the MIGRATE_ASYNC one (trylock).
pub const NR_MAX_MIGRATE_PAGES_RETRY: usize = 10;

/// `migrate_pages_batch` (mm/migrate.c) for a batch of one isolated anonymous THP `src` (PMD-
/// or PTE-mapped), to a new folio at memmap slot `dst_slot`, making at most `nr_pass` passes
/// in each of its two phases:
/// 0. at the top of each unmap pass, a large folio that is (racily) on the deferred split
///    list and partially mapped is split instead (`try_split_folio`; success
///    returns [`MigrateError::Split`], failure goes on to the unmap);
/// 1. unmap: `migrate_folio_unmap` until it succeeds (-EAGAIN, e.g. a busy folio lock under
///    MIGRATE_ASYNC or a pin, undoes itself and leaves the folio on the list for the next
///    pass). Not modelled: the check at the top of each pass that frees a folio whose only
///    reference left is the isolation one ("freed from under us"): the model allocates and
///    migrates it instead, to the same end state;
/// 2. `try_to_unmap_flush`, then move: `migrate_folio_move` until it succeeds; a failed
///    freeze leaves the folio unmapped, both folios locked, its migration entries in place,
///    for the next pass;
/// 3. after the last pass, `migrate_folios_undo` remaps the source (-EAGAIN).
///
/// The caller holds the isolation reference on `src`, which is consumed on success and kept
/// on failure.
pub fn migrate_pages_batch(
    m: &Machine,
    src: usize,
    dst_slot: usize,
    nr_pass: usize,
) -> Result<usize, MigrateError> {
    let mut unmapped = None;
    let mut owed = false; // current->tlb_ubc.flush_required
    for pass in 0..nr_pass {
        // "The rare folio on the deferred split list should be split now": a lockless test
        // that `_deferred_list` is non-empty (it may be on deferred_split_scan's private
        // list: only tested, never unlinked here; the split's freeze under split_queue_lock
        // decides) and PG_partially_mapped. The kernel's `nr_pages > 2` leaves out order-1
        // page-cache folios, which have no deferred list; every large folio of the model
        // stands for a PMD-sized anonymous THP (docs/protocol.md#deferred-split), so for the
        // model's the test is `folio_test_large` (one read of the head's flags).
        if crate::mm::page_ref::folio_nr_pages(m, src) > 1
            && m.memmap.deferred[src].read() != DEFERRED_NONE
            && m.memmap.page(src).flags.test_bit(PG_PARTIALLY_MAPPED)
        {
            if !rule_on(Rule::MigrateSplitTestsDeferredList) {
                // The broken protocol: take the folio off the list first, under the lock,
                // at a raised refcount (what __folio_unqueue_deferred_split forbids).
                crate::mm::huge_memory::unqueue_deferred_split_locked(&m.memmap, src);
            }
            if try_split_folio(m, src).is_ok() {
                return Err(MigrateError::Split);
            }
        }
        match migrate_folio_unmap_batched(m, src, dst_slot, &mut owed) {
            Ok(u) => {
                unmapped = Some(u);
                break;
            }
            Err(e) => {
                trace!("migrate_pages_batch", "unmap pass {pass}: {e:?}");
            }
        }
    }
    // move: try_to_unmap_flush, whatever the unmap passes did (rule
    // migrate-unmap-flush-before-move: off, the step is missing and what the batch deferred is
    // never paid here).
    if rule_on(Rule::MigrateUnmapFlushBeforeMove) {
        if owed {
            crate::mm::tlb::arch_tlbbatch_flush(m);
        }
    } else if owed {
        trace!("migrate_pages_batch", "move: no try_to_unmap_flush");
    }
    let Some(mut u) = unmapped else {
        return Err(MigrateError::Again);
    };
    for pass in 0..nr_pass {
        match migrate_folio_move(m, u) {
            Ok(dst) => {
                if pass > 0 {
                    m.observe("migrate-move-retried");
                }
                return Ok(dst);
            }
            Err(back) => {
                trace!("migrate_pages_batch", "move pass {pass}: -EAGAIN");
                u = back; // cond_resched, and the next pass
            }
        }
    }
    trace!(
        "migrate_folios_undo",
        "folio {src}: every move pass failed: remap"
    );
    migrate_folio_undo(m, u);
    Err(MigrateError::Again)
}

/// `try_split_folio` (mm/migrate.c) under MIGRATE_ASYNC: `folio_trylock` (busy: -EAGAIN),
/// `split_folio_to_list` onto the caller's `split_folios`, `folio_unlock` of the head.
pub fn try_split_folio(
    m: &Machine,
    folio: usize,
) -> Result<(), crate::mm::huge_memory::SplitError> {
    use crate::mm::filemap::{folio_trylock, folio_unlock};
    if !folio_trylock(&m.memmap, folio) {
        return Err(crate::mm::huge_memory::SplitError::Again);
    }
    let r = crate::mm::huge_memory::split_folio_to_list(m, folio);
    folio_unlock(&m.memmap, folio);
    trace!("try_split_folio", "folio {folio}: {r:?}");
    r
}

/// `migrate_pages` of one isolated anonymous THP in a single pass (`migrate_pages_batch` with
/// `nr_pass` = 1): an unmap or move failure undoes at once.
pub fn migrate_huge_page(m: &Machine, src: usize, dst_slot: usize) -> Result<usize, MigrateError> {
    migrate_pages_batch(m, src, dst_slot, 1)
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
    crate::mm::mmap_lock::assert_mmap_or_vma_locked(mm, "huge_pmd_access");
    let mut waits = 0;
    loop {
        let pmd = Pmd::decode(pmdp_get_lockless(mm, "__handle_mm_fault")); // vmf.orig_pmd
        match pmd {
            Pmd::Migration { .. } => {
                // No cpu_relax: whatever the wait found, the PMD has changed by now (the
                // migrator restores it before it unlocks the folio), so the refault can succeed
                // at once, and that immediate refault is an interleaving to explore.
                if pmd_migration_entry_wait(m, mm_id) == EntryWait::Waited {
                    waits += 1;
                }
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
