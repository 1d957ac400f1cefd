//! The whole-state oracle: `check_quiescent`, run by the scenarios once every CPU has been
//! joined (and by the sequential tests). No kernel counterpart: it states the invariants
//! (docs/invariants.md) over the whole model state.

use crate::mm::{page, Machine, Pmd, Pte};

/// Whole-state check at a quiescent point (no CPU inside a critical section): mapcounts match
/// the page tables (I4), references cover mappings exactly when nobody else holds one (I3),
/// deposit balance (I13), no mapping of a freed page (I8). `extra` lists references held
/// outside page tables, per folio head.
pub fn check_quiescent(m: &Machine, extra: &[(usize, i32)]) {
    use crate::invariants::Inv;
    use crate::vm_bug_on;
    let n = m.memmap.pages.len();
    let mut pte_maps = vec![0i32; n];
    let mut pmd_maps = vec![0i32; n];
    // Per pfn: which mms map it, and whether one maps it through a PTE / through a PMD.
    let mut by_mm = vec![0u32; n];
    let mut via_pte = vec![false; n];
    let mut via_pmd = vec![false; n];
    for (i, mm) in m.mms.iter().enumerate() {
        let deposited = mm.pmd_huge_pte.read();
        let mut linked = None;
        match Pmd::decode(mm.pmd.read()) {
            Pmd::Huge { pfn, .. } => {
                pmd_maps[pfn] += 1;
                for p in pfn..pfn + m.nr {
                    by_mm[p] |= 1 << i;
                    via_pmd[p] = true;
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
                        Pte::Present { pfn, .. } => {
                            pte_maps[pfn] += 1;
                            by_mm[pfn] |= 1 << i;
                            via_pte[pfn] = true;
                        }
                        Pte::Migration { pfn, .. } => crate::vm_bug_on!(true, Inv::I11SplitEndsClean,
                            "mm{i}: migration entry for pfn {pfn} left in pte[{k}] at a quiescent point"),
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
    // I21: the AnonExclusive flag that governs a mapping (the page's own for a PTE, the
    // head's for a PMD) is never set on a page that two mms map.
    for pfn in 0..n {
        if by_mm[pfn].count_ones() < 2 {
            continue;
        }
        let head = m.memmap.page_folio(pfn);
        let excl = |p: usize| m.memmap.page(p).flags.test_bit(page::PG_ANON_EXCLUSIVE);
        vm_bug_on!(
            (via_pte[pfn] && excl(pfn)) || (via_pmd[pfn] && excl(head)),
            Inv::I21ExclusiveShared,
            "pfn {pfn} is mapped by mms {:#b} but marked AnonExclusive (COW reuse while shared)",
            by_mm[pfn]
        );
    }
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
        vm_bug_on!(
            p._mapcount.read() + 1 != pte_maps[pfn],
            Inv::I4MapcountMismatch,
            "pfn {pfn}: _mapcount {} but {} PTEs map it",
            p._mapcount.read(),
            pte_maps[pfn]
        );
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
            vm_bug_on!(
                rc != pte_maps[pfn] + held,
                Inv::I3RefsCoverMappings,
                "small folio {pfn}: refcount {rc}, expected {} mappings + {held} held",
                pte_maps[pfn]
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
            let want = pages_mapped + if pmds > 0 { page::ENTIRELY_MAPPED } else { 0 };
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
            let rc = p._refcount.read();
            vm_bug_on!(
                rc != pmds + ptes + held,
                Inv::I3RefsCoverMappings,
                "folio {folio}: refcount {rc}, expected {} mappings + {held} held",
                pmds + ptes
            );
        }
    }
}

/// I14 at a quiescent point: no shrinker private list is left, the split queue holds exactly
/// the folios marked queued, and each of them is an allocated large folio.
fn check_deferred_lists(m: &Machine) {
    use crate::invariants::Inv;
    use crate::vm_bug_on;
    let mm = &m.memmap;
    let private: Vec<usize> = (0..mm.pages.len())
        .filter(|pfn| mm.deferred[*pfn].read() == page::DEFERRED_PRIVATE)
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
                || d == page::DEFERRED_PRIVATE,
            Inv::I14DeferredList,
            "pfn {pfn}: _deferred_list state {d} but listed {listed} time(s) on split_queue"
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
