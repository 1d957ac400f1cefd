//! The whole-state oracle: `check_quiescent`, run by the scenarios once every CPU has been
//! joined (and by the sequential tests). No kernel counterpart: it states the invariants
//! (docs/invariants.md) over the whole model state.

use crate::mm::{page, Machine, Pmd, Pte};

/// Whole-state check at a quiescent point (no CPU inside a critical section): mapcounts match
/// the page tables (I4), references cover mappings exactly when nobody else holds one and
/// `_pincount` counts no more pins than there are references held (I3),
/// deposit balance (I13), no mapping of a freed page (I8). `extra` lists references held
/// outside page tables, per folio head.
pub fn check_quiescent(m: &Machine, extra: &[(usize, i32)]) {
    use crate::invariants::Inv;
    use crate::vm_bug_on;
    crate::mm::tlb::check_tlb_quiescent(m);
    let n = m.memmap.pages.len();
    let mut pte_maps = vec![0i32; n];
    let mut pmd_maps = vec![0i32; n];
    // Per pfn: which mms map it, and whether one maps it through a PTE / through a PMD.
    let mut by_mm = vec![0u32; n];
    let mut via_pte = vec![false; n];
    let mut via_pmd = vec![false; n];
    // Per pfn: which mms map it writable (I21); per mm and folio head: its mappings (I31).
    let mut writable_by = vec![0u32; n];
    let mut per_mm = vec![vec![0i32; n]; m.mms.len()];
    // Per swap slot: the swap PTEs that name it, and how many of them are exclusive.
    let mut swap_refs = vec![0i32; m.swap.swap_map.len()];
    let mut swap_excl = vec![0i32; m.swap.swap_map.len()];
    // Per pfn: mapped by a dirty entry (its newest data is not yet in PG_dirty).
    let mut dirty_mapped = vec![false; n];
    for (i, mm) in m.mms.iter().enumerate() {
        let deposited = mm.pmd_huge_pte.read();
        let mut linked = None;
        match Pmd::decode(mm.pmd.read()) {
            Pmd::Huge { pfn, flags } => {
                pmd_maps[pfn] += 1;
                per_mm[i][pfn] += 1;
                if flags & crate::mm::pgtable::F_DIRTY != 0 {
                    dirty_mapped[pfn..pfn + m.nr].fill(true);
                }
                for p in pfn..pfn + m.nr {
                    by_mm[p] |= 1 << i;
                    via_pmd[p] = true;
                    if flags & crate::mm::pgtable::F_WRITE != 0 {
                        writable_by[p] |= 1 << i;
                    }
                }
                vm_bug_on!(
                    deposited == 0,
                    Inv::I13DepositBalance,
                    "mm{i}: huge PMD without a deposited table"
                );
            }
            v @ Pmd::HugeInvalid { .. } => {
                vm_bug_on!(
                    true,
                    Inv::I12PmdTransientlyNone,
                    "mm{i}: PMD left invalidated ({v:?}) at a quiescent point"
                );
            }
            v @ Pmd::MigrationInvalid { .. } => {
                vm_bug_on!(
                    true,
                    Inv::I26NonPresentAsPresent,
                    "mm{i}: PMD left as an invalidated migration entry ({v:?}) at a quiescent point"
                );
            }
            v @ Pmd::Migration { .. } => {
                vm_bug_on!(
                    true,
                    Inv::I11SplitEndsClean,
                    "mm{i}: PMD migration entry left ({v:?}) at a quiescent point"
                );
            }
            Pmd::Table(t) => {
                linked = Some(t);
                let table = m.table(mm, t, "check_quiescent");
                for (k, pte) in table.ptes.iter().enumerate() {
                    match Pte::decode(pte.read()) {
                        Pte::Present { pfn, flags } => {
                            pte_maps[pfn] += 1;
                            dirty_mapped[pfn] |= flags & crate::mm::pgtable::F_DIRTY != 0;
                            by_mm[pfn] |= 1 << i;
                            via_pte[pfn] = true;
                            if flags & crate::mm::pgtable::F_WRITE != 0 {
                                writable_by[pfn] |= 1 << i;
                            }
                            per_mm[i][m.memmap.page_folio_quiet(pfn)] += 1;
                        }
                        Pte::Migration { pfn, .. } => crate::vm_bug_on!(true, Inv::I11SplitEndsClean,
                            "mm{i}: migration entry for pfn {pfn} left in pte[{k}] at a quiescent point"),
                        Pte::Swap { offset, flags } => {
                            if offset >= swap_refs.len() {
                                crate::model_bug!("mm{i}: pte[{k}] names swap slot {offset} beyond the device");
                            }
                            swap_refs[offset] += 1;
                            if flags & crate::mm::pgtable::F_EXCLUSIVE != 0 {
                                swap_excl[offset] += 1;
                            }
                        }
                        // the shared zero page: no struct page of the memmap, nothing counted
                        Pte::Zero { flags } => vm_bug_on!(
                            flags & (crate::mm::pgtable::F_WRITE | crate::mm::pgtable::F_DIRTY) != 0,
                            Inv::I21ExclusiveShared,
                            "mm{i}: pte[{k}] maps the shared zero page writable or dirty ({:?})",
                            Pte::Zero { flags }
                        ),
                        Pte::None => {}
                    }
                }
                vm_bug_on!(
                    deposited != 0,
                    Inv::I13DepositBalance,
                    "mm{i}: table PMD with a deposited table left"
                );
            }
            Pmd::None => {
                vm_bug_on!(
                    deposited != 0,
                    Inv::I13DepositBalance,
                    "mm{i}: none PMD with a deposited table left"
                );
            }
        }
        // mm->nr_ptes counts the linked table and the deposited one; every other allocated
        // table page is leaked.
        let expected = linked.is_some() as i32 + (deposited != 0) as i32;
        vm_bug_on!(
            mm.nr_ptes.read() != expected,
            Inv::I13DepositBalance,
            "mm{i}: nr_ptes {} but {expected} table(s) in use",
            mm.nr_ptes.read()
        );
        for (t, table) in mm.tables.iter().enumerate() {
            let in_use = linked == Some(t) || deposited == t as i32 + 1;
            vm_bug_on!(
                table.allocated.read() && !in_use,
                Inv::I17TableLifetime,
                "mm{i}: PTE table {t} is allocated but neither linked nor deposited (leaked)"
            );
        }
    }
    check_deferred_lists(m);
    check_swap(m, &swap_refs, &swap_excl, &dirty_mapped);
    // I21: the AnonExclusive flag that governs a mapping (the page's own for a PTE, the
    // head's for a PMD) is never set on a page that two mms map.
    for pfn in 0..n {
        if by_mm[pfn].count_ones() < 2 {
            continue;
        }
        let head = m.memmap.page_folio_quiet(pfn);
        let excl = |p: usize| m.memmap.page(p).flags.test_bit(page::PG_ANON_EXCLUSIVE);
        vm_bug_on!(
            (via_pte[pfn] && excl(pfn)) || (via_pmd[pfn] && excl(head)),
            Inv::I21ExclusiveShared,
            "pfn {pfn} is mapped by mms {:#b} but marked AnonExclusive (COW reuse while shared)",
            by_mm[pfn]
        );
        // ... and never mapped writable by one of them: a write through it would reach the
        // other mm (a COW that reused a page still shared).
        vm_bug_on!(
            writable_by[pfn] != 0,
            Inv::I21ExclusiveShared,
            "pfn {pfn} is mapped by mms {:#b} and writable in mms {:#b} (COW reuse while shared)",
            by_mm[pfn],
            writable_by[pfn]
        );
    }
    check_mm_id_slots(m, &per_mm);
    for pfn in 0..n {
        let p = m.memmap.page(pfn);
        let mapped = pte_maps[pfn] + pmd_maps[pfn];
        if !m.memmap.is_allocated(pfn) {
            vm_bug_on!(
                mapped > 0,
                Inv::I8UseAfterFree,
                "freed pfn {pfn} is still mapped"
            );
            continue;
        }
        let in_large = p.compound_head.read() & 1 != 0 || p.flags.test_bit(page::PG_HEAD);
        if in_large && !m.memmap.page_mapcount {
            // CONFIG_NO_PAGE_MAPCOUNT: a large folio's pages leave `_mapcount` at -1.
            vm_bug_on!(
                p._mapcount.read() != -1,
                Inv::I4MapcountMismatch,
                "pfn {pfn}: _mapcount {} in a large folio without CONFIG_PAGE_MAPCOUNT (must stay -1)",
                p._mapcount.read()
            );
        } else {
            vm_bug_on!(
                p._mapcount.read() + 1 != pte_maps[pfn],
                Inv::I4MapcountMismatch,
                "pfn {pfn}: _mapcount {} but {} PTEs map it",
                p._mapcount.read(),
                pte_maps[pfn]
            );
        }
        vm_bug_on!(
            p.flags.test_bit(page::PG_LOCKED),
            Inv::I11SplitEndsClean,
            "pfn {pfn} is still locked at a quiescent point"
        );
        let is_tail = p.compound_head.read() & 1 != 0;
        if !is_tail {
            vm_bug_on!(
                p._refcount.read() == 0,
                Inv::I8UseAfterFree,
                "pfn {pfn} is allocated with refcount 0: leaked, never freed"
            );
        }
        if !is_tail && !p.flags.test_bit(page::PG_HEAD) {
            // small folio
            let held: i32 = extra
                .iter()
                .filter(|(f, _)| *f == pfn)
                .map(|(_, r)| r)
                .sum();
            let rc = p._refcount.read();
            let cache = swap_cache_refs(m, pfn, 1);
            vm_bug_on!(
                rc != pte_maps[pfn] + held + cache,
                Inv::I3RefsCoverMappings,
                "small folio {pfn}: refcount {rc}, expected {} mappings + {held} held + {cache} swap cache",
                pte_maps[pfn]
            );
        }
        if !p.flags.test_bit(page::PG_HEAD) {
            // _pincount exists only for large folios (folio_has_pincount); a small folio's
            // pins are GUP_PIN_COUNTING_BIAS references, a tail has none of its own.
            vm_bug_on!(
                m.memmap.meta[pfn]._pincount.read() != 0,
                Inv::I3RefsCoverMappings,
                "pfn {pfn} is not a large folio's head but has _pincount {}",
                m.memmap.meta[pfn]._pincount.read()
            );
        }
        if is_tail {
            vm_bug_on!(
                p._refcount.read() != 0,
                Inv::I6RefOnFrozen,
                "tail pfn {pfn} has refcount {} (tails are always 0)",
                p._refcount.read()
            );
        }
        if !is_tail && p.flags.test_bit(page::PG_HEAD) {
            let folio = pfn;
            let nr = m.nr;
            let meta = &m.memmap.meta[folio];
            let ptes: i32 = pte_maps[folio..folio + nr].iter().sum();
            let pmds = pmd_maps[folio];
            vm_bug_on!(
                meta._entire_mapcount.read() + 1 != pmds,
                Inv::I4MapcountMismatch,
                "folio {folio}: _entire_mapcount {} but {pmds} PMDs map it",
                meta._entire_mapcount.read()
            );
            vm_bug_on!(
                meta._large_mapcount.read() + 1 != pmds + ptes,
                Inv::I4MapcountMismatch,
                "folio {folio}: _large_mapcount {} but {} mappings",
                meta._large_mapcount.read(),
                pmds + ptes
            );
            let pages_mapped = pte_maps[folio..folio + nr]
                .iter()
                .filter(|c| **c > 0)
                .count() as i32;
            let want = if !m.memmap.page_mapcount {
                0 // CONFIG_NO_PAGE_MAPCOUNT: the field is unused
            } else {
                pages_mapped + if pmds > 0 { page::ENTIRELY_MAPPED } else { 0 }
            };
            vm_bug_on!(
                meta._nr_pages_mapped.read() != want,
                Inv::I4MapcountMismatch,
                "folio {folio}: _nr_pages_mapped {:#x}, expected {want:#x}",
                meta._nr_pages_mapped.read()
            );
            let held: i32 = extra
                .iter()
                .filter(|(f, _)| *f == folio)
                .map(|(_, r)| r)
                .sum();
            let pins = meta._pincount.read();
            vm_bug_on!(
                pins < 0 || pins > held,
                Inv::I3RefsCoverMappings,
                "folio {folio}: _pincount {pins}, but only {held} references are held outside the page tables (each pin holds one)"
            );
            let rc = p._refcount.read();
            let cache = swap_cache_refs(m, folio, nr as i32);
            vm_bug_on!(
                rc != pmds + ptes + held + cache,
                Inv::I3RefsCoverMappings,
                "folio {folio}: refcount {rc}, expected {} mappings + {held} held + {cache} swap cache",
                pmds + ptes
            );
        }
    }
}

/// The references the swap cache holds on `folio` (`nr` pages): one per page while it is
/// PG_swapcache.
fn swap_cache_refs(m: &Machine, folio: usize, nr: i32) -> i32 {
    if m.memmap.page(folio).flags.test_bit(page::PG_SWAPCACHE) {
        nr
    } else {
        0
    }
}

/// I32 at a quiescent point: each slot's swap count is the number of swap PTEs naming it
/// (`refs`), its cache bit is set exactly when the swap table holds a folio there, that folio
/// is allocated, PG_swapcache, not under writeback, and its `folio->swap` covers the slot; every
/// PG_swapcache folio is in the table at each of its slots. A slot named by a swap PTE and
/// held by no folio must have been written (I29). An exclusive swap entry is the slot's only
/// name (I21). A swap-cache folio that is clean (no PG_dirty, no dirty entry mapping it, not
/// under writeback) holds what its slots hold: reclaim may free it without writing (I29).
fn check_swap(m: &Machine, refs: &[i32], excl: &[i32], dirty_mapped: &[bool]) {
    use crate::invariants::Inv;
    use crate::mm::swapfile::{swap_count, SWAP_HAS_CACHE};
    use crate::vm_bug_on;
    let si = &m.swap;
    for (o, s) in si.swap_map.iter().enumerate() {
        let v = s.read();
        vm_bug_on!(
            swap_count(v) != refs[o],
            Inv::I32SwapAccounting,
            "swap slot {o}: swap count {} but {} swap PTEs name it",
            swap_count(v),
            refs[o]
        );
        vm_bug_on!(
            excl[o] > 0 && refs[o] > 1,
            Inv::I21ExclusiveShared,
            "swap slot {o} is named by {} swap PTEs, {} of them exclusive",
            refs[o],
            excl[o]
        );
        let t = si.table[o].read();
        vm_bug_on!(
            (t != 0) != (v & SWAP_HAS_CACHE != 0),
            Inv::I32SwapAccounting,
            "swap slot {o}: map {v:#x} but the swap table holds {}",
            if t == 0 {
                "no folio".to_string()
            } else {
                format!("folio {}", t - 1)
            }
        );
        if t != 0 {
            let f = t as usize - 1;
            let first = m.memmap.swap[f].read();
            let nr = if m.memmap.page(f).flags.test_bit(page::PG_HEAD) {
                m.nr
            } else {
                1
            };
            vm_bug_on!(
                !m.memmap.is_allocated(f)
                    || !m.memmap.page(f).flags.test_bit(page::PG_SWAPCACHE)
                    || first == 0
                    || o < first as usize - 1
                    || o >= first as usize - 1 + nr,
                Inv::I32SwapAccounting,
                "swap slot {o} points to folio {f}, which is not in the swap cache there (allocated {}, swap {first})",
                m.memmap.is_allocated(f)
            );
            vm_bug_on!(
                m.memmap.page(f).flags.test_bit(page::PG_WRITEBACK),
                Inv::I11SplitEndsClean,
                "folio {f} is under writeback at a quiescent point"
            );
        } else {
            vm_bug_on!(
                refs[o] > 0 && si.data[o].read() < 0,
                Inv::I29DataLost,
                "swap slot {o} is named by {} swap PTEs, but no folio holds its data and it was never written",
                refs[o]
            );
        }
    }
    for f in 0..m.memmap.pages.len() {
        if !m.memmap.is_allocated(f) || !m.memmap.page(f).flags.test_bit(page::PG_SWAPCACHE) {
            continue;
        }
        let first = m.memmap.swap[f].read();
        let nr = if m.memmap.page(f).flags.test_bit(page::PG_HEAD) {
            m.nr
        } else {
            1
        };
        let flags = m.memmap.page(f).flags.read();
        let clean = flags & ((1 << page::PG_DIRTY) | (1 << page::PG_WRITEBACK)) == 0
            && !dirty_mapped[f..f + nr].iter().any(|d| *d);
        if clean && first != 0 {
            for k in 0..nr {
                let o = first as usize - 1 + k;
                let c = m.memmap.page(f + k).content.read() & !page::CONTENT_ORACLE_BITS;
                vm_bug_on!(
                    c != si.data[o].read(),
                    Inv::I29DataLost,
                    "swap-cache folio {f} is clean, but page {} holds {c:#x} and its slot {o} {:#x}: reclaim would free it without writing",
                    f + k,
                    si.data[o].read()
                );
            }
        }
        vm_bug_on!(
            first == 0
                || (first as usize - 1..first as usize - 1 + nr)
                    .any(|o| si.table[o].read() != f as i64 + 1),
            Inv::I32SwapAccounting,
            "folio {f} is PG_swapcache (swap {first}) but the swap table does not point to it"
        );
    }
}

/// I31 at a quiescent point: every large folio's owner slots count exactly the mappings of the
/// mm they name, every mm that maps it owns a slot (the model has at most two mms), and the
/// "maybe mapped shared" bit is set exactly when two mms map it. Any other page (small, tail,
/// free) has both slots free and the bit clear.
fn check_mm_id_slots(m: &Machine, per_mm: &[Vec<i32>]) {
    use crate::invariants::Inv;
    use crate::vm_bug_on;
    if m.mms.len() > 2 {
        crate::model_bug!(
            "the owner-slot oracle is exact for two mms; this machine has {}",
            m.mms.len()
        );
    }
    let mm = &m.memmap;
    for pfn in 0..mm.pages.len() {
        let meta = &mm.meta[pfn];
        let slots = *meta.mm_id_slots.quiescent();
        let word = meta.mm_ids_shared.read() != 0;
        if slots.shared != word {
            crate::model_bug!(
                "folio {pfn}: shared bit {word} but the lock holder's copy says {}",
                slots.shared
            );
        }
        let p = mm.page(pfn);
        let large_head = mm.is_allocated(pfn)
            && p.compound_head.read() & 1 == 0
            && p.flags.test_bit(page::PG_HEAD);
        if !large_head {
            vm_bug_on!(
                slots != page::MM_ID_SLOTS_FREE,
                Inv::I31MmIdSlots,
                "pfn {pfn} is not a large folio but has owner slots {:?} {:?}, shared {}",
                slots.mm_id,
                slots.mapcount,
                slots.shared
            );
            continue;
        }
        let mut mapping_mms = 0;
        for (i, maps) in per_mm.iter().enumerate() {
            let id = m.mms[i].mm_id;
            let slot = slots.mm_id.iter().position(|s| *s == id);
            let counted = slot.map_or(-1, |k| slots.mapcount[k]) + 1;
            if maps[pfn] > 0 {
                mapping_mms += 1;
            }
            vm_bug_on!(
                counted != maps[pfn],
                Inv::I31MmIdSlots,
                "folio {pfn}: mm{i} (mm id {id}) has {} mappings but its owner slot counts {counted} (slots {:?} {:?})",
                maps[pfn],
                slots.mm_id,
                slots.mapcount
            );
        }
        for k in 0..2 {
            vm_bug_on!(
                slots.mm_id[k] != page::MM_ID_DUMMY
                    && !m.mms.iter().any(|x| x.mm_id == slots.mm_id[k]),
                Inv::I31MmIdSlots,
                "folio {pfn}: owner slot {k} names mm id {}, which no mm has",
                slots.mm_id[k]
            );
        }
        vm_bug_on!(
            slots.shared != (mapping_mms > 1),
            Inv::I31MmIdSlots,
            "folio {pfn}: mapped by {mapping_mms} mms but \"maybe mapped shared\" is {}",
            slots.shared
        );
    }
}

/// I14 at a quiescent point: no shrinker private list is left, the split queue holds exactly
/// the folios marked queued, each of them is an allocated large folio, and every folio marked
/// partially mapped is queued.
fn check_deferred_lists(m: &Machine) {
    use crate::invariants::Inv;
    use crate::vm_bug_on;
    let mm = &m.memmap;
    let private: Vec<usize> = (0..mm.pages.len())
        .filter(|pfn| page::deferred_is_private(mm.deferred[*pfn].read()))
        .collect();
    vm_bug_on!(
        !private.is_empty(),
        Inv::I14DeferredList,
        "folios {private:?} left on a deferred_split_scan private list"
    );
    let queue = mm.split_queue.quiescent().clone();
    for pfn in 0..mm.pages.len() {
        let d = mm.deferred[pfn].read();
        let listed = queue.iter().filter(|f| **f == pfn).count();
        vm_bug_on!(
            (d == page::DEFERRED_QUEUED) != (listed == 1)
                || listed > 1
                || page::deferred_is_private(d),
            Inv::I14DeferredList,
            "pfn {pfn}: _deferred_list state {d} but listed {listed} time(s) on split_queue"
        );
        // Whoever unlinks a folio clears PG_partially_mapped with it (split, unqueue on free
        // or migration, the scan's lost race); nothing sets it without queueing.
        vm_bug_on!(
            mm.page(pfn).flags.test_bit(page::PG_PARTIALLY_MAPPED) && d != page::DEFERRED_QUEUED,
            Inv::I14DeferredList,
            "pfn {pfn} is PG_partially_mapped but not on the deferred split queue"
        );
        if d != page::DEFERRED_NONE {
            let p = mm.page(pfn);
            vm_bug_on!(
                !mm.is_allocated(pfn) || !p.flags.test_bit(page::PG_HEAD),
                Inv::I14DeferredList,
                "pfn {pfn} is on the deferred split queue but is not an allocated large folio"
            );
        }
    }
}

/// What one virtual page of one mm maps, as [`check_carried_over`] compares it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageView {
    /// The page mapped (for a migration entry, the page it stands for).
    pub pfn: usize,
    /// `F_WRITE | F_YOUNG | F_DIRTY | F_SOFT_DIRTY` of the entry.
    pub flags: i64,
    /// AnonExclusive of the mapping: the head's for a PMD, the page's for a PTE, the entry's
    /// exclusive bit (a writable entry is exclusive) for a migration entry.
    pub exclusive: bool,
    /// PG_dirty of the folio of `pfn`.
    pub folio_dirty: bool,
    /// The entry maps the shared zero page (`pfn` is then meaningless).
    pub zero_page: bool,
    /// What the page holds (`Page::content`; zero-filled for the zero page), for I29.
    pub content: i32,
}

/// Every mm's view of each of its `nr` virtual pages: [`MappingSnapshot::take`] before the
/// CPUs start, compared with the state after they are joined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MappingSnapshot {
    pub views: Vec<Vec<Option<PageView>>>,
}

/// What the operations of a scenario may change about a mapping that exists before and after
/// (I27). `Carry::ALL` (the default) keeps everything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Carry {
    /// Entry bits an operation may clear (fork and mprotect clear `F_WRITE`; MADV_FREE clears
    /// `F_DIRTY` and `F_YOUNG`).
    pub may_clear: i64,
    /// A virtual page may end unmapped (MADV_DONTNEED, munmap).
    pub may_unmap: bool,
    /// A virtual page may end mapping another page (migration, collapse, COW).
    pub may_move: bool,
    /// AnonExclusive may be lost (fork shares the folio).
    pub may_share: bool,
    /// The entry's dirty bit may move to the folio's PG_dirty (KSM's `write_protect_page`
    /// cleans the entry after `folio_mark_dirty`): a dirty bit lost from the entry is then
    /// carried over if the folio mapped after is PG_dirty.
    pub dirty_to_folio: bool,
}

impl Carry {
    /// Everything is carried over.
    pub const ALL: Carry = Carry {
        may_clear: 0,
        may_unmap: false,
        may_move: false,
        may_share: false,
        dirty_to_folio: false,
    };
    /// MADV_DONTNEED / munmap runs: pages may end unmapped.
    pub const UNMAP: Carry = Carry {
        may_unmap: true,
        ..Carry::ALL
    };
    /// Migration, collapse or COW runs: pages may end mapping another page (with the same
    /// bits).
    pub const MOVE: Carry = Carry {
        may_move: true,
        ..Carry::ALL
    };
    /// Reclaim swaps pages out: a swap entry keeps soft-dirty and exclusivity but not the
    /// write, young and dirty bits (the dirty bit went to the folio, which was written out;
    /// the data is checked, I29), and a swap-in may map another page.
    pub const SWAP: Carry = Carry {
        may_clear: crate::mm::pgtable::F_WRITE
            | crate::mm::pgtable::F_YOUNG
            | crate::mm::pgtable::F_DIRTY,
        may_move: true,
        ..Carry::ALL
    };
    /// Fork runs: the parent's mapping is write-protected and the folio shared.
    pub const FORK: Carry = Carry {
        may_clear: crate::mm::pgtable::F_WRITE,
        may_share: true,
        ..Carry::ALL
    };
    /// MADV_FREE runs: `madvise_free_*` marks the mapping old and clean, and the folio clean.
    pub const LAZYFREE: Carry = Carry {
        may_clear: crate::mm::pgtable::F_YOUNG | crate::mm::pgtable::F_DIRTY,
        ..Carry::ALL
    };

    /// KSM merges: `write_protect_page` write-protects and cleans the entry (the dirty bit
    /// moves to the folio) and shares the page; `replace_page` maps the KSM page instead.
    pub const KSM: Carry = Carry {
        may_clear: crate::mm::pgtable::F_WRITE,
        may_move: true,
        may_share: true,
        dirty_to_folio: true,
        ..Carry::ALL
    };

    /// Both operations run: either may make its changes.
    pub const fn and(self, other: Carry) -> Carry {
        Carry {
            may_clear: self.may_clear | other.may_clear,
            may_unmap: self.may_unmap || other.may_unmap,
            may_move: self.may_move || other.may_move,
            may_share: self.may_share || other.may_share,
            dirty_to_folio: self.dirty_to_folio || other.dirty_to_folio,
        }
    }
}

impl MappingSnapshot {
    /// The view of every mm's virtual pages now (quiescent: no CPU running).
    pub fn take(m: &Machine) -> MappingSnapshot {
        use crate::mm::pgtable::F_EXCLUSIVE;
        let nr = m.nr;
        let excl = |p: usize| m.memmap.page(p).flags.test_bit(page::PG_ANON_EXCLUSIVE);
        let folio_dirty = |p: usize| {
            let head = m.memmap.page_folio_quiet(p);
            m.memmap.page(head).flags.test_bit(page::PG_DIRTY)
        };
        let entry_excl = |flags: i64| flags & (crate::mm::pgtable::F_WRITE | F_EXCLUSIVE) != 0;
        let content = |p: usize| m.memmap.page(p).content.read() & !page::CONTENT_ORACLE_BITS;
        let views = m
            .mms
            .iter()
            .map(|mm| match Pmd::decode(mm.pmd.read()) {
                Pmd::Huge { pfn, flags } | Pmd::HugeInvalid { pfn, flags } => (0..nr)
                    .map(|k| {
                        Some(PageView {
                            pfn: pfn + k,
                            flags: flags & CARRIED_BITS,
                            exclusive: excl(pfn),
                            folio_dirty: folio_dirty(pfn),
                            zero_page: false,
                            content: content(pfn + k),
                        })
                    })
                    .collect(),
                Pmd::Migration { pfn, flags } | Pmd::MigrationInvalid { pfn, flags } => (0..nr)
                    .map(|k| {
                        Some(PageView {
                            pfn: pfn + k,
                            flags: flags & CARRIED_BITS,
                            exclusive: entry_excl(flags),
                            folio_dirty: folio_dirty(pfn),
                            zero_page: false,
                            content: content(pfn + k),
                        })
                    })
                    .collect(),
                Pmd::Table(t) => mm.tables[t]
                    .ptes
                    .iter()
                    .map(|pte| match Pte::decode(pte.read()) {
                        Pte::Present { pfn, flags } => Some(PageView {
                            pfn,
                            flags: flags & CARRIED_BITS,
                            exclusive: excl(pfn),
                            folio_dirty: folio_dirty(pfn),
                            zero_page: false,
                            content: content(pfn),
                        }),
                        Pte::Migration { pfn, flags } => Some(PageView {
                            pfn,
                            flags: flags & CARRIED_BITS,
                            exclusive: entry_excl(flags),
                            folio_dirty: folio_dirty(pfn),
                            zero_page: false,
                            content: content(pfn),
                        }),
                        Pte::Swap { offset, flags } => {
                            // What a read would see: the swap cache's folio, else the device.
                            let t = m.swap.table[offset].read();
                            let (pfn, data, dirty) = if t != 0 {
                                let f = t as usize - 1;
                                let first = m.memmap.swap[f].read() as usize;
                                let p = f + offset.saturating_sub(first.saturating_sub(1));
                                (p, content(p), folio_dirty(p))
                            } else {
                                (SWAPPED_OUT, m.swap.data[offset].read(), false)
                            };
                            Some(PageView {
                                pfn,
                                flags: flags & crate::mm::pgtable::F_SOFT_DIRTY,
                                exclusive: flags & crate::mm::pgtable::F_EXCLUSIVE != 0,
                                folio_dirty: dirty,
                                zero_page: false,
                                content: data,
                            })
                        }
                        Pte::Zero { flags } => Some(PageView {
                            pfn: usize::MAX,
                            flags: flags & CARRIED_BITS,
                            exclusive: false,
                            folio_dirty: false,
                            zero_page: true,
                            content: page::ZERO_FILLED,
                        }),
                        Pte::None => None,
                    })
                    .collect(),
                Pmd::None => vec![None; nr],
            })
            .collect();
        MappingSnapshot { views }
    }
}

/// [`PageView::pfn`] of a swap entry whose data is only on the device.
pub const SWAPPED_OUT: usize = usize::MAX - 1;

/// The entry bits I27 follows.
const CARRIED_BITS: i64 = crate::mm::pgtable::F_WRITE
    | crate::mm::pgtable::F_YOUNG
    | crate::mm::pgtable::F_DIRTY
    | crate::mm::pgtable::F_SOFT_DIRTY;

/// I27 at the end of a scenario: compare every mm's view of its virtual pages with `before`
/// (taken before the CPUs started), allowing only the changes `carry` lists. Dirtiness is
/// followed in both places the kernel keeps it: the entry's dirty bit and the folio's
/// PG_dirty (a split copies both to every sub-page and new folio; a migration entry carries
/// the dirty bit on x86-64 and arm64, and `folio_migrate_flags` copies PG_dirty).
pub fn check_carried_over(m: &Machine, before: &MappingSnapshot, carry: Carry) {
    use crate::invariants::Inv;
    use crate::mm::pgtable::{F_DIRTY, F_SOFT_DIRTY, F_WRITE, F_YOUNG};
    use crate::vm_bug_on;
    let after = MappingSnapshot::take(m);
    let name = |bit: i64| match bit {
        F_WRITE => "write",
        F_YOUNG => "young",
        F_DIRTY => "dirty",
        _ => "soft-dirty",
    };
    for (i, (b_mm, a_mm)) in before.views.iter().zip(&after.views).enumerate() {
        for (k, (b, a)) in b_mm.iter().zip(a_mm).enumerate() {
            let Some(b) = b else { continue };
            let Some(a) = a else {
                vm_bug_on!(
                    !carry.may_unmap,
                    Inv::I27CarriedOver,
                    "mm{i} page {k}: mapped pfn {} before, unmapped after, and nothing in the scenario unmaps",
                    b.pfn
                );
                continue;
            };
            vm_bug_on!(
                a.content != b.content,
                Inv::I29DataLost,
                "mm{i} page {k}: read data {} before and {} after (before {b:?}, after {a:?})",
                b.content,
                a.content
            );
            if a.zero_page && !b.zero_page {
                // A split mapped the zero-filled page to the shared zero page (the data is
                // checked above). The entry is the zero page's: read-only, clean, not
                // exclusive, as any zero-page mapping; only soft-dirty is carried.
                vm_bug_on!(
                    b.flags & F_SOFT_DIRTY != 0 && a.flags & F_SOFT_DIRTY == 0,
                    Inv::I27CarriedOver,
                    "mm{i} page {k}: the soft-dirty bit of pfn {} was lost when it was mapped to the zero page (before {b:?}, after {a:?})",
                    b.pfn
                );
                continue;
            }
            vm_bug_on!(
                a.pfn != b.pfn && !carry.may_move,
                Inv::I27CarriedOver,
                "mm{i} page {k}: mapped pfn {} before and pfn {} after, and nothing in the scenario moves a page",
                b.pfn,
                a.pfn
            );
            for bit in [F_WRITE, F_YOUNG, F_DIRTY, F_SOFT_DIRTY] {
                if b.flags & bit == 0 || a.flags & bit != 0 || carry.may_clear & bit != 0 {
                    continue;
                }
                if bit == F_DIRTY && carry.dirty_to_folio && a.folio_dirty {
                    continue;
                }
                vm_bug_on!(
                    true,
                    Inv::I27CarriedOver,
                    "mm{i} page {k}: the {} bit of pfn {} was lost (before {b:?}, after {a:?})",
                    name(bit),
                    a.pfn
                );
            }
            // A page moved to a new folio (a COW copy) may carry its dirtiness in the entry
            // alone: for an anonymous page PG_dirty and a dirty entry mean the same.
            let moved_dirty_entry = a.pfn != b.pfn && a.flags & F_DIRTY != 0;
            vm_bug_on!(
                b.folio_dirty
                    && !a.folio_dirty
                    && !moved_dirty_entry
                    && carry.may_clear & F_DIRTY == 0,
                Inv::I27CarriedOver,
                "mm{i} page {k}: the folio of pfn {} lost PG_dirty (before {b:?}, after {a:?})",
                a.pfn
            );
            vm_bug_on!(
                b.exclusive && !a.exclusive && !carry.may_share,
                Inv::I27CarriedOver,
                "mm{i} page {k}: pfn {} lost AnonExclusive (before {b:?}, after {a:?})",
                a.pfn
            );
        }
    }
}

/// I27 for a user store: a store that reached the folio at `pfn` through mm `mm_id`'s huge PMD
/// (the MMU set the PMD's dirty bit) is not lost. At the end the folio is still allocated and
/// either still mapped there with the dirty bit, or marked PG_dirty: reclaim may not discard a
/// lazyfree folio written after MADV_FREE.
pub fn check_store_kept(m: &Machine, mm_id: usize, pfn: usize) {
    use crate::invariants::Inv;
    use crate::mm::pgtable::F_DIRTY;
    use crate::vm_bug_on;
    vm_bug_on!(
        !m.memmap.is_allocated(pfn),
        Inv::I27CarriedOver,
        "a store through mm{mm_id}'s PMD reached folio {pfn}, which was then discarded and freed: the data is lost"
    );
    let mapped_dirty = matches!(
        Pmd::decode(m.mms[mm_id].pmd.read()),
        Pmd::Huge { pfn: p, flags } if p == pfn && flags & F_DIRTY != 0
    );
    let folio_dirty = m.memmap.page(pfn).flags.test_bit(page::PG_DIRTY);
    vm_bug_on!(
        !mapped_dirty && !folio_dirty,
        Inv::I27CarriedOver,
        "a store through mm{mm_id}'s PMD reached folio {pfn}, but neither a dirty mapping nor PG_dirty records it"
    );
}

/// I29 for a user store that completed: the last value the user stored into virtual page
/// `idx` of mm `mm_id` (`value`, nothing stored there since) is what the page reads at the end.
/// An unmapped page reads zeroes (the next access maps a zeroed page), so a store that went
/// through a stale translation into a page that was then unmapped, or into the old folio of a
/// migration after its copy, is lost here. Quiescent.
pub fn check_store_visible(m: &Machine, mm_id: usize, idx: usize, value: i32) {
    use crate::invariants::Inv;
    use crate::vm_bug_on;
    let mm = &m.mms[mm_id];
    let pfn = match Pmd::decode(mm.pmd.read()) {
        Pmd::Huge { pfn, .. } => Some(pfn + idx),
        Pmd::Table(t) => match Pte::decode(mm.tables[t].ptes[idx].read()) {
            Pte::Present { pfn, .. } => Some(pfn),
            // swapped out: what the swap-in would read (the swap cache's folio, else the slot)
            Pte::Swap { offset, .. } => match m.swap.table[offset].read() {
                0 => Some(crate::mm::oracle::SWAPPED_OUT - offset),
                t => {
                    let f = t as usize - 1;
                    Some(f + offset + 1 - m.memmap.swap[f].read() as usize)
                }
            },
            _ => None,
        },
        _ => None,
    };
    let reads = pfn.map_or(page::ZERO_FILLED, |p| {
        if p > m.memmap.pages.len() {
            m.swap.data[crate::mm::oracle::SWAPPED_OUT - p].read()
        } else {
            m.memmap.page(p).content.read() & !page::CONTENT_ORACLE_BITS
        }
    });
    vm_bug_on!(
        reads != value,
        Inv::I29DataLost,
        "the user stored {value:#x} into mm{mm_id} page {idx} and nothing stored there since, but at the end it reads {reads:#x} ({}): the store went through a translation the kernel had already given up",
        match pfn {
            Some(p) if p > m.memmap.pages.len() => format!(
                "swapped out to slot {}",
                crate::mm::oracle::SWAPPED_OUT - p
            ),
            Some(p) => format!("pfn {p}"),
            None => "unmapped: a fresh zero-filled page".to_string(),
        }
    );
}
