//! Mapcount accounting (mm/rmap.c `__folio_add_rmap`, `__folio_remove_rmap`,
//! `folio_add_new_anon_rmap`) under either configuration ([`Memmap::page_mapcount`]):
//! CONFIG_PAGE_MAPCOUNT (each page's `_mapcount` and the folio's `_nr_pages_mapped` too;
//! partial mapping detected exactly) or CONFIG_NO_PAGE_MAPCOUNT (the large and entire
//! mapcounts only; a folio whose average mapcount per page drops below one is partially
//! mapped, anything else is not detected). And the CONFIG_MM_ID owner slots of
//! include/linux/rmap.h (`folio_add_return_large_mapcount`, `folio_sub_return_large_mapcount`):
//! every `_large_mapcount` update of a published folio happens under the `_mm_ids` bit lock
//! together with the slot of the mm it maps into and the "maybe mapped shared" bit. Under the
//! lock the kernel reads and then sets `_large_mapcount`; no other CPU writes it meanwhile and
//! a lockless reader sees the old or the new value either way, so one RMW stands for the pair.

use crate::kernel::{rule_on, smp_mb};
use crate::mm::page::{Memmap, MmIdSlots, ENTIRELY_MAPPED, MM_ID_DUMMY, PG_ANON_EXCLUSIVE};
use crate::mm::pgtable_generic::pmdp_get_lockless;
use crate::rules::Rule;
use crate::trace;

/// Candidate fix F1 (docs/findings.md; rule `anon-exclusive-publish-wmb`, off in 6.18.2):
/// `smp_wmb` right after PageAnonExclusive is set, so the page-table store that then maps the
/// page (`set_pte_at`, `set_pmd_at`, `pmdp_set_access_flags`) cannot be seen before the bit
/// by a lockless pinner. 6.18.2 has nothing between them: `SetPageAnonExclusive` is an
/// unordered `set_bit` (a full barrier only on x86, where it is LOCK-prefixed).
pub fn anon_exclusive_publish_wmb() {
    if crate::kernel::rule_on(crate::rules::Rule::AnonExclusivePublishWmb) {
        crate::kernel::smp_wmb();
    }
}

/// `__folio_large_mapcount_sanity_checks` (include/linux/rmap.h), the `_mm_ids` lock held:
/// I31 (the kernel's `VM_WARN_ON_ONCE`s).
fn large_mapcount_sanity_checks(
    mm: &Memmap,
    folio: usize,
    slots: &MmIdSlots,
    diff: i32,
    mm_id: u32,
) {
    use crate::invariants::Inv;
    crate::vm_warn_on!(
        diff <= 0 || diff as usize > mm.nr || mm_id == MM_ID_DUMMY,
        Inv::I31MmIdSlots,
        "folio {folio}: large mapcount update by {diff} for mm id {mm_id}"
    );
    for i in 0..2 {
        crate::vm_warn_on!(
            (slots.mm_id[i] == MM_ID_DUMMY) != (slots.mapcount[i] == -1) || slots.mapcount[i] < -1,
            Inv::I31MmIdSlots,
            "folio {folio}: owner slot {i} holds mm id {} with mapcount {}",
            slots.mm_id[i],
            slots.mapcount[i]
        );
    }
    crate::vm_warn_on!(
        mm.meta[folio]._large_mapcount.read() < 0 && slots.shared,
        Inv::I31MmIdSlots,
        "folio {folio}: not mapped but \"maybe mapped shared\""
    );
}

/// Set or clear the "maybe mapped shared" bit, the `_mm_ids` lock held (the kernel's plain
/// `|=` / `&=` on the word; only a change is a store another CPU can tell apart).
fn set_mm_ids_shared(mm: &Memmap, folio: usize, slots: &mut MmIdSlots, shared: bool) {
    if slots.shared != shared {
        slots.shared = shared;
        mm.meta[folio].mm_ids_shared.set(shared as i32);
    }
}

/// `folio_set_large_mapcount(folio, mapcount, vma)` for a folio nobody else can reach yet:
/// `_large_mapcount` = mapcount - 1 and slot 0 to `mm_id` with the same count, no lock.
pub fn folio_set_large_mapcount(mm: &Memmap, folio: usize, mapcount: i32, mm_id: u32) {
    let meta = &mm.meta[folio];
    let mut slots = meta.mm_id_slots.unpublished();
    large_mapcount_sanity_checks(mm, folio, &slots, mapcount, mm_id);
    crate::vm_warn_on!(
        slots.mm_id != [MM_ID_DUMMY; 2],
        crate::invariants::Inv::I31MmIdSlots,
        "folio {folio}: new folio with owner slots {:?}",
        slots.mm_id
    );
    meta._large_mapcount.set(mapcount - 1);
    slots.mapcount[0] = mapcount - 1;
    slots.mm_id[0] = mm_id;
}

/// `folio_add_return_large_mapcount(folio, diff, vma)` (include/linux/rmap.h, CONFIG_MM_ID):
/// under the `_mm_ids` bit lock, `_large_mapcount += diff`, then the slot of `mm_id` gains
/// `diff` (a free slot is claimed; a folio that already had mappings, or whose slot 1 is
/// claimed, becomes "maybe mapped shared"; with both slots owned by other mms nothing is
/// recorded). Returns the new mapcount.
pub fn folio_add_return_large_mapcount(mm: &Memmap, folio: usize, diff: i32, mm_id: u32) -> i32 {
    let meta = &mm.meta[folio];
    let lock = meta.mm_ids_lock.lock();
    let mut slots = meta.mm_id_slots.access(&lock);
    large_mapcount_sanity_checks(mm, folio, &slots, diff, mm_id);
    let new = meta._large_mapcount.add_return_relaxed(diff);
    if slots.mm_id[0] == mm_id {
        slots.mapcount[0] += diff;
    } else if slots.mm_id[1] == mm_id {
        slots.mapcount[1] += diff;
    } else if slots.mm_id[0] == MM_ID_DUMMY {
        slots.mm_id[0] = mm_id;
        slots.mapcount[0] = diff - 1;
        if new != diff - 1 {
            set_mm_ids_shared(mm, folio, &mut slots, true); // other mappings already
        }
    } else if slots.mm_id[1] == MM_ID_DUMMY {
        slots.mm_id[1] = mm_id;
        slots.mapcount[1] = diff - 1;
        set_mm_ids_shared(mm, folio, &mut slots, true); // slot 0 maps it too
    }
    trace!(
        "folio_add_return_large_mapcount",
        "folio {folio}: large_mapcount {} (+{diff}, mm id {mm_id}), slots {:?} {:?}, shared {}",
        new,
        slots.mm_id,
        slots.mapcount,
        slots.shared
    );
    drop(slots);
    drop(lock);
    new + 1
}

/// `folio_sub_return_large_mapcount(folio, diff, vma)` (include/linux/rmap.h, CONFIG_MM_ID):
/// under the `_mm_ids` bit lock, `_large_mapcount -= diff`; the slot of `mm_id` loses `diff`
/// and is freed when it goes negative; then, if one slot owns every remaining mapping, the
/// folio is exclusive again (the shared bit is cleared). Returns the new mapcount.
pub fn folio_sub_return_large_mapcount(mm: &Memmap, folio: usize, diff: i32, mm_id: u32) -> i32 {
    let meta = &mm.meta[folio];
    let lock = meta.mm_ids_lock.lock();
    let mut slots = meta.mm_id_slots.access(&lock);
    large_mapcount_sanity_checks(mm, folio, &slots, diff, mm_id);
    let new = meta._large_mapcount.add_return_relaxed(-diff);
    let mut recheck = true;
    for i in 0..2 {
        if slots.mm_id[i] == mm_id {
            slots.mapcount[i] -= diff;
            if slots.mapcount[i] >= 0 {
                recheck = false;
            } else {
                slots.mapcount[i] = -1;
                slots.mm_id[i] = MM_ID_DUMMY;
            }
            break;
        }
    }
    if recheck && (slots.mapcount[0] == new || slots.mapcount[1] == new) {
        set_mm_ids_shared(mm, folio, &mut slots, false);
    }
    // An unmapped folio has both slots free (the kernel's comment; a wrong mm id or a lost
    // update leaves one owned).
    crate::vm_warn_on!(
        new < 0 && (slots.mm_id != [MM_ID_DUMMY; 2] || slots.shared),
        crate::invariants::Inv::I31MmIdSlots,
        "folio {folio}: unmapped, but owner slots {:?} {:?}, shared {}",
        slots.mm_id,
        slots.mapcount,
        slots.shared
    );
    trace!(
        "folio_sub_return_large_mapcount",
        "folio {folio}: large_mapcount {} (-{diff}, mm id {mm_id}), slots {:?} {:?}, shared {}",
        new,
        slots.mm_id,
        slots.mapcount,
        slots.shared
    );
    drop(slots);
    drop(lock);
    new + 1
}

/// `folio_add_new_anon_rmap(folio, vma, addr, RMAP_EXCLUSIVE)` for a new order-0 folio
/// (mm/rmap.c): PG_swapbacked (a fresh folio never has it, so the kernel's test of it always
/// sets it), `__folio_set_anon` (one store of `folio->mapping`), `_mapcount` from -1 to 0, then
/// PageAnonExclusive. The caller publishes the PTE afterwards.
pub fn folio_add_new_anon_rmap_pte(mm: &Memmap, pfn: usize) {
    let p = mm.page(pfn);
    p.flags.__set_bit(crate::mm::page::PG_SWAPBACKED);
    mm.mapping[pfn].set(crate::mm::ANON_VMA_ID);
    p._mapcount.set(0);
    p.flags.set_bit(PG_ANON_EXCLUSIVE);
    anon_exclusive_publish_wmb();
}

/// `folio_add_new_anon_rmap(folio, vma, addr, RMAP_EXCLUSIVE)` for a PMD-mapped new folio.
pub fn folio_add_new_anon_rmap_pmd(mm: &Memmap, folio: usize, mm_id: u32) {
    mm.page(folio)
        .flags
        .__set_bit(crate::mm::page::PG_SWAPBACKED); // __folio_set_swapbacked, first
                                                    // __folio_set_anon: folio->mapping = anon_vma | ANON with one WRITE_ONCE.
    mm.mapping[folio].set(crate::mm::ANON_VMA_ID);
    let m = &mm.meta[folio];
    m._entire_mapcount.set(0);
    folio_set_large_mapcount(mm, folio, 1, mm_id);
    if mm.page_mapcount {
        m._nr_pages_mapped.set(ENTIRELY_MAPPED);
    }
    mm.page(folio).flags.set_bit(PG_ANON_EXCLUSIVE);
    anon_exclusive_publish_wmb();
    trace!(
        "folio_add_new_anon_rmap",
        "folio {folio}: entire 0, large 0, nr_pages_mapped ENTIRELY_MAPPED, head AnonExclusive"
    );
}

/// `folio_add_anon_rmap_ptes(folio, page, nr, vma, addr, flags)` (PTE level).
pub fn folio_add_anon_rmap_ptes(
    mm: &Memmap,
    folio: usize,
    first: usize,
    nr: usize,
    exclusive: bool,
    mm_id: u32,
) {
    // __folio_add_rmap: each page's _mapcount, then _nr_pages_mapped (add_return_relaxed),
    // then _large_mapcount (CONFIG_NO_PAGE_MAPCOUNT: _large_mapcount only);
    // __folio_add_anon_rmap sets AnonExclusive after all of them. A lockless reader can see
    // any prefix of these steps.
    if mm.page_mapcount {
        let mut newly = 0;
        for i in 0..nr {
            if mm.page(first + i)._mapcount.inc_return() == 0 {
                newly += 1;
            }
        }
        if newly > 0 {
            mm.meta[folio]._nr_pages_mapped.add_return_relaxed(newly);
        }
    }
    folio_add_return_large_mapcount(mm, folio, nr as i32, mm_id);
    if exclusive {
        for i in 0..nr {
            mm.page(first + i).flags.set_bit(PG_ANON_EXCLUSIVE);
        }
        anon_exclusive_publish_wmb();
    }
    trace!(
        "folio_add_anon_rmap_ptes",
        "folio {folio}: {nr} PTE mappings, large_mapcount += {nr}"
    );
}

/// The end of `__folio_remove_rmap` for an anonymous large folio: one it left partially
/// mapped and not yet marked so is queued for the deferred split (`deferred_split_folio`, under
/// the caller's ptl).
fn queue_if_partially_mapped(mm: &Memmap, folio: usize, partially_mapped: bool) {
    if partially_mapped
        && !mm
            .page(folio)
            .flags
            .test_bit(crate::mm::page::PG_PARTIALLY_MAPPED)
    {
        crate::mm::huge_memory::deferred_split_folio(mm, folio, true);
    }
}

/// `folio_remove_rmap_pmd(folio, page, vma)`: the PMD mapping's counts, and a folio that
/// this leaves partially mapped is queued for the deferred split.
pub fn folio_remove_rmap_pmd(mm: &Memmap, folio: usize, mm_id: u32) {
    let m = &mm.meta[folio];
    let nr_pages = mm.nr as i32;
    // The entire mapcount's atomic_add_negative is fully ordered (what orders a split's PTE
    // stores before its pmd_populate); the _nr_pages_mapped update is
    // atomic_sub_return_relaxed.
    let (last, partially_mapped) = if mm.page_mapcount {
        // _large_mapcount first, then the entire mapcount; the pages this unmaps are those no
        // PTE maps (nr_pages - _nr_pages_mapped): some but not all means partially mapped.
        folio_sub_return_large_mapcount(mm, folio, 1, mm_id);
        let last = m._entire_mapcount.add_return(-1) < 0;
        let mut unmapped = 0;
        if last {
            let left = m._nr_pages_mapped.sub_return_relaxed(ENTIRELY_MAPPED);
            if left < ENTIRELY_MAPPED {
                unmapped = (nr_pages - left).max(0); // "raced ahead of another remove and an add?"
            }
        }
        (last, unmapped > 0 && unmapped < nr_pages)
    } else {
        // The entire mapcount first, then _large_mapcount; partially mapped if the last PMD
        // mapping went and fewer mappings than pages are left.
        let last = m._entire_mapcount.add_return(-1) < 0;
        let left = folio_sub_return_large_mapcount(mm, folio, 1, mm_id);
        (last, left != 0 && last && left < nr_pages)
    };
    queue_if_partially_mapped(mm, folio, partially_mapped);
    trace!(
        "folio_remove_rmap_pmd",
        "folio {folio}: entire_mapcount -1 (last PMD mapping: {last}, partially mapped: {partially_mapped})"
    );
}

/// `folio_mapcount` of a large folio: total mappings (`_large_mapcount + 1`). Every caller
/// in the model knows its folio is large; [`small_folio_mapcount`] is the other branch.
pub fn folio_mapcount(mm: &Memmap, folio: usize) -> i32 {
    mm.meta[folio]._large_mapcount.read() + 1
}

/// `folio_mapcount` of a small folio, for a caller that already tested `folio_test_large`
/// (KSM's `write_protect_page`): the page's `_mapcount + 1`.
pub fn small_folio_mapcount(mm: &Memmap, folio: usize) -> i32 {
    mm.page(folio)._mapcount.read() + 1
}

/// `folio_add_anon_rmap_pte` for one page (PTE level): the page's `_mapcount` +1 (a small
/// folio's mapcount; for a large folio only with CONFIG_PAGE_MAPCOUNT, with `_nr_pages_mapped`
/// +1 if newly mapped), and for a large folio `_large_mapcount` +1.
pub fn folio_add_anon_rmap_pte(
    mm: &Memmap,
    folio: usize,
    page: usize,
    exclusive: bool,
    large: bool,
    mm_id: u32,
) {
    // __folio_add_rmap's order: the page's _mapcount, _nr_pages_mapped, _large_mapcount;
    // then AnonExclusive (__folio_add_anon_rmap).
    let p = mm.page(page);
    if !large || mm.page_mapcount {
        let newly = p._mapcount.inc_return() == 0;
        if large && newly {
            mm.meta[folio]._nr_pages_mapped.add_return_relaxed(1);
        }
    }
    if large {
        folio_add_return_large_mapcount(mm, folio, 1, mm_id);
    }
    if exclusive {
        p.flags.set_bit(PG_ANON_EXCLUSIVE);
        anon_exclusive_publish_wmb();
    }
    trace!(
        "folio_add_anon_rmap_pte",
        "folio {folio} page {page}: _mapcount +1 exclusive {exclusive}"
    );
}

/// `folio_remove_rmap_pte` for one page; a large folio this leaves partially mapped (as far
/// as the configuration can tell) is queued for the deferred split.
pub fn folio_remove_rmap_pte(mm: &Memmap, folio: usize, page: usize, large: bool, mm_id: u32) {
    let p = mm.page(page);
    let partially_mapped = if !large {
        p._mapcount.add_return(-1);
        false
    } else if !mm.page_mapcount {
        // CONFIG_NO_PAGE_MAPCOUNT: fewer mappings than pages and no PMD mapping. With two mms
        // mapping the folio, pages both unmapped go unnoticed while the average stays >= 1.
        let left = folio_sub_return_large_mapcount(mm, folio, 1, mm_id);
        left != 0 && left < mm.nr as i32 && mm.meta[folio]._entire_mapcount.read() + 1 == 0
    } else {
        folio_sub_return_large_mapcount(mm, folio, 1, mm_id);
        // __folio_remove_rmap: when the page became unmapped and the folio is not also
        // PMD-mapped (the result is below ENTIRELY_MAPPED), it is partially mapped when a
        // second, separate read of _nr_pages_mapped is non-zero (a concurrent add may land
        // between the two).
        let last = p._mapcount.add_return(-1) < 0;
        last && {
            let left = mm.meta[folio]._nr_pages_mapped.sub_return_relaxed(1);
            left < ENTIRELY_MAPPED && mm.meta[folio]._nr_pages_mapped.read() != 0
        }
    };
    queue_if_partially_mapped(mm, folio, partially_mapped);
    trace!(
        "folio_remove_rmap_pte",
        "folio {folio} page {page}: mapping removed (partially mapped: {partially_mapped})"
    );
}

/// `folio_try_share_anon_rmap_pte` / `_pmd` (include/linux/rmap.h `__folio_try_share_anon_rmap`):
/// the entry was cleared or invalidated first; full barrier (pairs with GUP-fast's
/// `smp_mb__after_atomic`); refuse if the folio may be pinned;
/// else clear PageAnonExclusive. Returns false (-EBUSY) if pinned.
pub fn folio_try_share_anon_rmap(m: &crate::mm::Machine, folio: usize, page: usize) -> bool {
    if rule_on(Rule::TryShareAnonRmapMb) {
        smp_mb(); // A1 (the caller's clear or invalidate) before A2 (the pin-count read)
    }
    if crate::mm::gup::folio_maybe_dma_pinned(m, folio) {
        trace!(
            "folio_try_share_anon_rmap",
            "folio {folio} may be pinned: refuse"
        );
        return false;
    }
    m.memmap.page(page).flags.clear_bit(PG_ANON_EXCLUSIVE);
    if rule_on(Rule::TryShareAnonRmapAfterAtomic) {
        crate::kernel::smp_mb__after_atomic(); // pairs with gup_must_unshare's smp_rmb
    }
    trace!(
        "folio_try_share_anon_rmap",
        "page {page}: AnonExclusive cleared"
    );
    true
}

/// `folio_maybe_mapped_shared` (include/linux/mm.h), CONFIG_MM_ID: a small folio is shared
/// when mapped more than once; a large one with a single mapping is exclusive, otherwise the
/// answer is the "maybe mapped shared" bit of `_mm_ids`, read without the lock (two lockless
/// reads: the mapcount, then the bit).
pub fn folio_maybe_mapped_shared(m: &crate::mm::Machine, folio: usize) -> bool {
    use crate::mm::page::PG_HEAD;
    if !m.memmap.page(folio).flags.test_bit(PG_HEAD) {
        return m.memmap.page(folio)._mapcount.read() > 0;
    }
    if folio_mapcount(&m.memmap, folio) <= 1 {
        return false;
    }
    m.memmap.meta[folio].mm_ids_shared.read() != 0
}

/// `folio_get_anon_vma` (mm/rmap.c): under RCU, read `folio->mapping`, require it mapped,
/// take an anon_vma reference with inc-not-zero, re-check mapped.
pub fn folio_get_anon_vma(m: &crate::mm::Machine, folio: usize) -> bool {
    let _rcu = crate::kernel::rcu_read_lock(&m.rcu);
    let mapping = m.memmap.mapping[folio].read();
    if mapping != crate::mm::ANON_VMA_ID {
        return false;
    }
    if folio_mapcount(&m.memmap, folio) <= 0 {
        return false;
    }
    if !m.anon_vma.refcount.inc_not_zero() {
        return false;
    }
    if folio_mapcount(&m.memmap, folio) <= 0 {
        m.anon_vma.refcount.dec();
        return false;
    }
    true
}

/// `put_anon_vma`.
pub fn put_anon_vma(m: &crate::mm::Machine) {
    m.anon_vma.refcount.dec();
}

/// The `try_to_migrate` callers the model has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ttu {
    /// Folio split (`unmap_folio`): TTU_RMAP_LOCKED | TTU_SPLIT_HUGE_PMD | TTU_SYNC |
    /// TTU_BATCH_FLUSH, anon_vma held for write by the caller: a PMD mapping is split frozen.
    SplitHugePmd,
    /// THP migration (`migrate_folio_unmap`, MIGRATE_ASYNC): TTU_BATCH_FLUSH, the walk takes
    /// the anon_vma read lock: a PMD mapping becomes a PMD migration entry.
    Migrate,
}

/// `try_to_migrate(folio, flags)` (mm/rmap.c): walk every mm that may map the folio and
/// replace its mappings by migration entries (`try_to_migrate_one`). Returns whether a
/// deferred TLB flush is owed (PTEs were cleared under TTU_BATCH_FLUSH): the caller does it
/// (`try_to_unmap_flush`).
pub fn try_to_migrate(m: &crate::mm::Machine, folio: usize, ttu: Ttu) -> bool {
    let mut flush = false;
    for mm_id in rmap_walk_order(m) {
        if !try_to_migrate_one(m, mm_id, folio, ttu, &mut flush) {
            break; // rmap_one returned false: the walk stops
        }
    }
    flush
}

/// `try_to_migrate_one` for the one VMA of `mm_id`. Returns false to stop the rmap walk;
/// sets `flush` when it cleared a PTE whose TLB flush it deferred.
pub fn try_to_migrate_one(
    m: &crate::mm::Machine,
    mm_id: usize,
    folio: usize,
    ttu: Ttu,
    flush: &mut bool,
) -> bool {
    use crate::mm::page::PG_DIRTY;
    use crate::mm::pgtable::{Pmd, Pte, F_DIRTY};
    use crate::mm::pgtable_generic::pte_offset_map_lock;
    let mm = &m.mms[mm_id];
    let nr = m.nr;
    // page_vma_mapped_walk(PVMW_SYNC)
    let pmd = Pmd::decode(pmdp_get_lockless(mm, "page_vma_mapped_walk"));
    if pmd.trans_huge() || pmd.migration() {
        let ptl = mm.pmd_lock.lock();
        let v = Pmd::decode(mm.pmd.read());
        if v.trans_huge() {
            // check_pmd (rule pvmw-check-pmd-pfn): another folio's PMD is not_found.
            if crate::kernel::rule_on(crate::rules::Rule::PvmwCheckPmdPfn)
                && v.huge_pfn() != Some(folio)
            {
                return true;
            }
            if ttu == Ttu::SplitHugePmd {
                crate::mm::huge_memory::__split_huge_pmd_locked(m, mm, &ptl, true);
                return false; // page_vma_mapped_walk_done; ret = false
            }
            // THP migration: the PMD becomes a PMD migration entry; a refusal (pin) stops
            // the walk.
            let ok = crate::mm::huge_memory::set_pmd_migration_entry(m, mm, &ptl, folio);
            drop(ptl);
            if ok {
                m.observe("migration-unmapped-pmd");
            }
            return ok;
        }
        if v.migration() {
            // page_vma_mapped_walk without PVMW_MIGRATION: a non-present PMD is not_found,
            // whichever folio its entry names (rule rmap-walk-skips-migration-pmd). The broken
            // protocol (Z19, before be6e843fc51a) asked the entry for its folio as if present
            // (`folio != pmd_folio(*pmd)`); that happened in split_huge_pmd_locked's folio check,
            // which 6.18 no longer has, so the switch re-creates the decode at the point where
            // 6.18's walk meets the entry. The memmap catches the pfn it decodes.
            m.observe("rmap-walk-met-migration-pmd");
            if !crate::kernel::rule_on(crate::rules::Rule::RmapWalkSkipsMigrationPmd) {
                let bogus = v.pfn_as_if_present().unwrap_or(0);
                let other = m.memmap.page_folio(bogus);
                trace!(
                    "split_huge_pmd_locked",
                    "pmd_folio of {v:?} is {other}, not folio {folio}: skip"
                );
            }
        }
        drop(ptl);
        if v.migration() || v.none() {
            return true;
        }
        // "THP pmd was split under us: handle on pte level"
    } else if pmd.none() {
        if ttu == Ttu::SplitHugePmd {
            // TTU_SYNC → PVMW_SYNC (migration's walk has no TTU_SYNC)
            crate::mm::page_vma_mapped::page_vma_mapped_walk_sync(m, mm, nr);
        }
        return true;
    }
    let Some(map) = pte_offset_map_lock(m, mm) else {
        return true;
    };
    let table = m.table(mm, map.table, "try_to_migrate_one");
    for (i, slot) in table.ptes.iter().enumerate() {
        let Pte::Present { pfn, flags } = Pte::decode(slot.read()) else {
            continue;
        };
        if pfn < folio || pfn >= folio + nr {
            continue;
        }
        // ptep_get_and_clear, TLB flush deferred to try_to_unmap_flush (should_defer_flush:
        // TTU_BATCH_FLUSH; set_tlb_ubc_flush_pending records it in the mm too)
        let old = Pte::decode(crate::mm::pgtable::ptep_get_and_clear(slot));
        *flush = true;
        crate::mm::tlb::set_tlb_ubc_flush_pending(mm);
        let Pte::Present { flags: oflags, .. } = old else {
            crate::model_bug!("PTE changed under the PTE lock")
        };
        let _ = flags;
        if oflags & F_DIRTY != 0 {
            m.memmap.page(folio).flags.set_bit(PG_DIRTY); // folio_mark_dirty
        }
        // The kernel reads PageAnonExclusive before the clear; only the PTE lock holder
        // changes it here, so the value is the same.
        let anon_exclusive = m.memmap.page(pfn).flags.test_bit(PG_ANON_EXCLUSIVE);
        if anon_exclusive && !folio_try_share_anon_rmap(m, folio, pfn) {
            slot.set(old.encode()); // set_pte_at(pteval): restore, ret = false
            trace!(
                "try_to_migrate_one",
                "pte[{i}] pfn {pfn} pinned: restored, stop"
            );
            return false;
        }
        let f = crate::mm::pgtable::migration_entry_flags(oflags, anon_exclusive);
        slot.set(Pte::Migration { pfn, flags: f }.encode());
        if ttu == Ttu::Migrate {
            m.observe("migration-unmapped-ptes");
        }
        trace!(
            "try_to_migrate_one",
            "pte[{i}] = migration entry for pfn {pfn}"
        );
        folio_remove_rmap_pte(m.memmap_ref(), folio, pfn, true, mm.mm_id);
        crate::mm::page_ref::folio_put(&m.memmap, folio, nr); // the mapping's reference
    }
    true
}

/// The order in which an anon rmap walk (`rmap_walk_anon`: the anon_vma interval tree) visits
/// the mms: mm0 is the parent, higher ids are forked later. A child's VMA is linked after its
/// parent's (`anon_vma_fork` inserts the child's chain, with the same range, to the right), so
/// a walk visits the parent first (rule `rmap-walk-parent-before-child`): a migration entry
/// that fork copies into the child after the walk passed the child must then come from a
/// parent the walk has not reached yet, which it would otherwise miss.
pub fn rmap_walk_order(m: &crate::mm::Machine) -> Vec<usize> {
    // rmap_walk_anon's contract: the anon_vma lock is held across the walk (rmap_walk takes it
    // for reading; rmap_walk_locked's caller, a folio split, holds it for writing).
    m.anon_vma.rwsem.assert_held("rmap_walk");
    let mut v: Vec<usize> = (0..m.mms.len()).collect();
    if !crate::kernel::rule_on(crate::rules::Rule::RmapWalkParentBeforeChild) {
        v.reverse(); // the broken protocol: children first
    }
    v
}

/// `folio_try_dup_anon_rmap_pmd` (include/linux/rmap.h `__folio_try_dup_anon_rmap`, PMD level)
/// at fork, both PMD locks held: a page that may be pinned cannot be shared (-EBUSY: the
/// caller splits and copies at PTE level); otherwise clear PageAnonExclusive (the head's
/// flag stands for a PMD mapping) and count the child's PMD mapping.
pub fn folio_try_dup_anon_rmap_pmd(m: &crate::mm::Machine, folio: usize, dst_mm_id: u32) -> bool {
    let mm = &m.memmap;
    if mm.page(folio).flags.test_bit(PG_ANON_EXCLUSIVE) {
        if crate::mm::gup::folio_maybe_dma_pinned(m, folio) {
            trace!(
                "folio_try_dup_anon_rmap_pmd",
                "folio {folio} may be pinned: -EBUSY"
            );
            return false;
        }
        mm.page(folio).flags.clear_bit(PG_ANON_EXCLUSIVE);
    }
    mm.meta[folio]._entire_mapcount.inc();
    folio_add_return_large_mapcount(mm, folio, 1, dst_mm_id);
    trace!(
        "folio_try_dup_anon_rmap_pmd",
        "folio {folio}: shared with the child, entire_mapcount +1"
    );
    true
}

/// `folio_try_dup_anon_rmap_ptes` / `_pte` (include/linux/rmap.h `__folio_try_dup_anon_rmap`,
/// PTE level) at fork, both PTE locks held, for pages `first..first + nr` of `folio`: if the
/// folio may be pinned and any of the pages is AnonExclusive, refuse (-EBUSY: the caller
/// copies); otherwise clear each page's AnonExclusive, raise its `_mapcount`, and for a
/// large folio add `nr` to the large mapcount in the child's owner slot.
pub fn folio_try_dup_anon_rmap_ptes(
    m: &crate::mm::Machine,
    folio: usize,
    first: usize,
    nr: usize,
    dst_mm_id: u32,
) -> bool {
    let mm = &m.memmap;
    if crate::mm::gup::folio_maybe_dma_pinned(m, folio)
        && (first..first + nr).any(|p| mm.page(p).flags.test_bit(PG_ANON_EXCLUSIVE))
    {
        trace!(
            "folio_try_dup_anon_rmap_ptes",
            "folio {folio} may be pinned: -EBUSY"
        );
        return false;
    }
    let large = crate::mm::gup::folio_test_large(m, folio);
    for p in first..first + nr {
        if mm.page(p).flags.test_bit(PG_ANON_EXCLUSIVE) {
            mm.page(p).flags.clear_bit(PG_ANON_EXCLUSIVE);
        }
        if !large || mm.page_mapcount {
            mm.page(p)._mapcount.inc();
        }
    }
    if large {
        folio_add_return_large_mapcount(mm, folio, nr as i32, dst_mm_id);
    }
    trace!(
        "folio_try_dup_anon_rmap_ptes",
        "folio {folio} pages {first}..{}: shared with the child",
        first + nr
    );
    true
}

/// `folio_add_anon_rmap_pmd(folio, page, vma, addr, flags)` for an existing anonymous folio
/// (`remove_migration_pmd`): the entire mapcount +1 (`_nr_pages_mapped` gains ENTIRELY_MAPPED
/// on the first), `_large_mapcount` +1, and AnonExclusive on the head if RMAP_EXCLUSIVE.
pub fn folio_add_anon_rmap_pmd(mm: &Memmap, folio: usize, exclusive: bool, mm_id: u32) {
    // __folio_add_rmap's order: _entire_mapcount, _nr_pages_mapped, _large_mapcount; then
    // AnonExclusive (__folio_add_anon_rmap).
    let m = &mm.meta[folio];
    if m._entire_mapcount.inc_return() == 0 && mm.page_mapcount {
        m._nr_pages_mapped.add_return_relaxed(ENTIRELY_MAPPED);
    }
    folio_add_return_large_mapcount(mm, folio, 1, mm_id);
    if exclusive {
        mm.page(folio).flags.set_bit(PG_ANON_EXCLUSIVE);
        anon_exclusive_publish_wmb();
    }
    trace!(
        "folio_add_anon_rmap_pmd",
        "folio {folio}: entire_mapcount +1, exclusive {exclusive}"
    );
}

/// The batched-flush state a `try_to_unmap` leaves its caller (the task's `tlb_ubc`):
/// `flush_required` when a PTE was cleared with its TLB flush deferred, `writable` when one of
/// them was dirty (`try_to_unmap_flush_dirty` flushes only then).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TlbUbc {
    pub flush_required: bool,
    pub writable: bool,
}

/// `try_to_unmap(folio, TTU_BATCH_FLUSH | TTU_SPLIT_HUGE_PMD | TTU_SYNC)` as reclaim calls it
/// for a large anonymous folio: walk every mm that may map it (`try_to_unmap_one`) until one
/// returns false or the folio is no longer mapped (`folio_not_mapped`). Returns the deferred
/// flushes it left owed.
pub fn try_to_unmap(m: &crate::mm::Machine, folio: usize) -> TlbUbc {
    // rmap_walk → rmap_walk_anon: the anon_vma read lock across the walk.
    let _av = m.anon_vma.rwsem.down_read();
    let mut ubc = TlbUbc::default();
    for mm_id in rmap_walk_order(m) {
        if !try_to_unmap_one(m, mm_id, folio, &mut ubc) || folio_mapcount(&m.memmap, folio) == 0 {
            break;
        }
    }
    ubc
}

/// `try_to_unmap_one` for the one VMA of `mm_id`, for a large anonymous folio:
/// `page_vma_mapped_walk(PVMW_SYNC)` finds a huge PMD mapping it (re-read under the PMD lock,
/// `check_pmd` on its pfn). A lazyfree folio (not swap-backed) is discarded whole or kept
/// (`unmap_huge_pmd_locked`: `walk_done`, or `walk_abort`: false). A swap-backed one in the
/// swap cache has its PMD split (TTU_SPLIT_HUGE_PMD: `split_huge_pmd_locked`, not frozen) and
/// the walk restarts at PTE level, where each PTE becomes a swap entry
/// ([`try_to_unmap_one_swap_ptes`]). A PTE-mapped lazyfree folio is discarded PTE by PTE in
/// the kernel; the model does not have that path and gives up (the folio stays mapped, and
/// reclaim activates it).
pub fn try_to_unmap_one(
    m: &crate::mm::Machine,
    mm_id: usize,
    folio: usize,
    ubc: &mut TlbUbc,
) -> bool {
    use crate::mm::page::PG_SWAPBACKED;
    use crate::mm::pgtable::Pmd;
    let mm = &m.mms[mm_id];
    let swapbacked = m.memmap.page(folio).flags.test_bit(PG_SWAPBACKED);
    let pmd = Pmd::decode(pmdp_get_lockless(mm, "page_vma_mapped_walk"));
    if pmd.trans_huge() || pmd.migration() {
        let ptl = mm.pmd_lock.lock();
        let v = Pmd::decode(mm.pmd.read());
        if v.trans_huge() {
            if rule_on(Rule::PvmwCheckPmdPfn) && v.huge_pfn() != Some(folio) {
                return true; // check_pmd: not_found
            }
            if !swapbacked {
                let done = crate::mm::huge_memory::unmap_huge_pmd_locked(m, mm, &ptl, folio);
                drop(ptl);
                return done; // walk_done, or walk_abort
            }
            // TTU_SPLIT_HUGE_PMD: split (not frozen), drop the PMD lock and restart the walk
            // (page_vma_mapped_walk_restart), now at PTE level.
            crate::mm::huge_memory::__split_huge_pmd_locked(m, mm, &ptl, false);
            drop(ptl);
            m.observe("swapout-split-pmd");
        } else {
            drop(ptl);
            if !v.present() {
                return true; // none or a migration entry: not_found
            }
        }
    } else if pmd.none() {
        crate::mm::page_vma_mapped::page_vma_mapped_walk_sync(m, mm, m.nr);
        return true;
    }
    if !swapbacked {
        // A PTE table: the PTE-level discard is not modelled.
        trace!(
            "try_to_unmap_one",
            "folio {folio} is mapped by PTEs in mm{mm_id}: not modelled, give up"
        );
        return false;
    }
    try_to_unmap_one_swap_ptes(m, mm_id, folio, ubc)
}

/// The PTE level of `try_to_unmap_one` for a swap-backed folio in the swap cache, under the
/// PTE lock (PVMW_SYNC: taken at the first PTE, held across the folio's PTEs): for each PTE
/// that maps a page of the folio, clear it (flush deferred: TTU_BATCH_FLUSH), carry its dirty
/// bit to the folio, `swap_duplicate` the page's slot, `folio_try_share_anon_rmap_pte` if the
/// page was AnonExclusive (a pin refuses: the slot is put back, the PTE restored, the walk
/// aborted), write the swap entry (exclusive and soft-dirty carried), remove the rmap and drop
/// the mapping's reference.
fn try_to_unmap_one_swap_ptes(
    m: &crate::mm::Machine,
    mm_id: usize,
    folio: usize,
    ubc: &mut TlbUbc,
) -> bool {
    use crate::mm::page::{PG_DIRTY, PG_SWAPCACHE};
    use crate::mm::pgtable::{Pte, F_DIRTY, F_EXCLUSIVE, F_SOFT_DIRTY};
    use crate::mm::pgtable_generic::pte_offset_map_lock;
    let mm = &m.mms[mm_id];
    let nr = m.nr;
    let Some(map) = pte_offset_map_lock(m, mm) else {
        return true;
    };
    let table = m.table(mm, map.table, "try_to_unmap_one");
    for (i, slot) in table.ptes.iter().enumerate() {
        let Pte::Present { pfn, .. } = Pte::decode(slot.read()) else {
            continue;
        };
        if pfn < folio || pfn >= folio + nr {
            continue;
        }
        let anon_exclusive = m.memmap.page(pfn).flags.test_bit(PG_ANON_EXCLUSIVE);
        let old = Pte::decode(crate::mm::pgtable::ptep_get_and_clear(slot));
        let Pte::Present { flags: oflags, .. } = old else {
            crate::model_bug!("PTE changed under the PTE lock")
        };
        // should_defer_flush (TTU_BATCH_FLUSH): set_tlb_ubc_flush_pending
        ubc.flush_required = true;
        if oflags & F_DIRTY != 0 {
            ubc.writable = true;
        }
        crate::mm::tlb::set_tlb_ubc_flush_pending(mm);
        if oflags & F_DIRTY != 0 {
            m.memmap.page(folio).flags.set_bit(PG_DIRTY); // folio_mark_dirty
        }
        if !m.memmap.page(folio).flags.test_bit(PG_SWAPCACHE) {
            // swapbacked != swapcache: WARN, restore, walk_abort
            slot.set(old.encode());
            return false;
        }
        let offset = m.memmap.swap[folio].read() as usize - 1 + (pfn - folio);
        crate::mm::swapfile::swap_duplicate(m, offset);
        if anon_exclusive && !folio_try_share_anon_rmap(m, folio, pfn) {
            crate::mm::swapfile::swap_free_nr(m, offset, 1);
            slot.set(old.encode()); // set_pte_at(pteval): restore, walk_abort
            trace!(
                "try_to_unmap_one",
                "pte[{i}] pfn {pfn} may be pinned: restored, stop"
            );
            m.observe("swapout-refused-pinned");
            return false;
        }
        let mut sf = oflags & F_SOFT_DIRTY;
        if anon_exclusive {
            sf |= F_EXCLUSIVE; // pte_swp_mkexclusive
        }
        slot.set(Pte::Swap { offset, flags: sf }.encode());
        trace!(
            "try_to_unmap_one",
            "pte[{i}] = swap entry for slot {offset}"
        );
        folio_remove_rmap_pte(m.memmap_ref(), folio, pfn, true, mm.mm_id);
        crate::mm::page_ref::folio_put(&m.memmap, folio, nr); // folio_put_refs(folio, 1)
    }
    true
}
