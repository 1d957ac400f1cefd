//! Shared initial states, outcomes and oracles of the scenario families: a PMD-mapped THP
//! (`do_huge_pmd_anonymous_page`), a forked one (`dup_mmap`), a small PTE, the caller's side of
//! `split_huge_page`, and the checks several families end with.

use std::sync::Arc;

use thp_model::invariants::Inv;
use thp_model::mm::filemap::{folio_lock, folio_unlock};
use thp_model::mm::gup::GUP_PIN_COUNTING_BIAS;
use thp_model::mm::huge_memory::{do_huge_pmd_anonymous_page, FaultResult};
use thp_model::mm::huge_memory::{split_huge_page, SplitError};
use thp_model::mm::memory::{do_anonymous_page, PteFault};
use thp_model::mm::mmap::dup_mmap;
use thp_model::mm::page_ref::folio_put_small_or_large;
use thp_model::mm::zap::Zapped;
use thp_model::mm::Machine;
use thp_model::mm::{Pmd, Pte};

use super::Outcomes;

pub const FAULT_WAITED_ON_MIGRATION_ENTRY: &str = "fault-waited-on-migration-entry";
pub const GUP_FELL_BACK: &str = "gup-fell-back";
pub const GUP_PINNED_HUGE_PMD: &str = "gup-pinned-huge-pmd";
pub const GUP_PINNED_SMALL_PAGE: &str = "gup-pinned-small-page";
pub const MADV_FREE_SPLIT_FAILED: &str = "madv-free-split-failed";
pub const MADV_FREE_SPLIT_OK: &str = "madv-free-split-ok";
pub const SPLIT_EAGAIN: &str = "split-eagain";
pub const SPLIT_OK: &str = "split-ok";
pub const SPLIT_PMD_MIGRATION_ENTRY: &str = "split-pmd-migration-entry";
pub const ZAPPED_HUGE_PMD: &str = "zapped-huge-pmd";
pub const ZAPPED_MIGRATION_ENTRY: &str = "zapped-migration-entry";
pub const ZAPPED_MIGRATION_PMD: &str = "zapped-migration-pmd";
pub const ZAPPED_PRESENT_PTES: &str = "zapped-present-ptes";

/// mm0 took a huge anonymous fault and forked: mm1's PMD maps the same folio, both
/// read-only, AnonExclusive cleared, refcount 2, entire mapcount 2.
pub fn setup_forked_huge_pmd(nr: usize) -> Arc<Machine> {
    let m = setup_huge_pmd_mms(nr, 1, 2);
    assert!(dup_mmap(&m, 0, 1), "[model bug] fork failed");
    m
}

/// I21 for a reference that mm `holder` took through GUP on `page` while it shared it
/// (vmsplice, O_DIRECT): as long as it is held, no other mm maps the page writable, or that
/// mm's writes would reach the reference (the COW isolation CVE-2020-29374 broke).
pub(super) fn check_gup_ref_isolated(m: &Machine, page: usize, holder: usize) {
    use thp_model::mm::pgtable::F_WRITE;
    for (i, mm) in m.mms.iter().enumerate() {
        if i == holder {
            continue;
        }
        let writable = match Pmd::decode(mm.pmd.read()) {
            Pmd::Huge { pfn, flags } => {
                flags & F_WRITE != 0 && (pfn..pfn + m.nr).contains(&page)
            }
            Pmd::Table(t) => mm.tables[t].ptes.iter().any(|p| {
                matches!(Pte::decode(p.read()), Pte::Present { pfn, flags } if pfn == page && flags & F_WRITE != 0)
            }),
            _ => false,
        };
        assert!(
            !writable,
            "[{}] mm{i} maps pfn {page} writable while mm{holder} still holds the GUP reference it took when they shared it (COW reuse)",
            Inv::I21ExclusiveShared.tag()
        );
    }
}

/// mm0 took a huge anonymous fault, split the PMD (`__split_huge_pmd`: the folio is
/// PTE-mapped, every page AnonExclusive) and forked: mm1's PTE table maps the same pages,
/// both read-only, AnonExclusive cleared (`copy_pte_range`), refcount 2 nr, the owner slots
/// nr and nr, "maybe mapped shared". Folio slot 1 is free (a COW copy's page).
pub fn setup_forked_pte_mapped(nr: usize) -> Arc<Machine> {
    let m = setup_huge_pmd_mms(nr, 2, 2);
    {
        let _r = m.mms[0].mmap_lock.down_read();
        thp_model::mm::huge_memory::__split_huge_pmd(&m, 0, false);
    }
    assert!(
        matches!(Pmd::decode(m.mms[0].pmd.read()), Pmd::Table(_)),
        "[model bug] the initial PMD split failed"
    );
    assert!(dup_mmap(&m, 0, 1), "[model bug] fork failed");
    m
}

/// mm0 took a huge anonymous fault at folio slot 0 (of `folios`, on a machine of `mms` mms),
/// had the PMD write-protected (`change_huge_pmd`, as soft-dirty tracking's clear_refs does) and
/// split (`__split_huge_pmd`): `nr` read-only PTEs, every page still AnonExclusive. A
/// read-only FOLL_PIN through these goes through `gup_must_unshare`.
pub(super) fn setup_ro_exclusive_pte_mapped(nr: usize, folios: usize, mms: usize) -> Arc<Machine> {
    use thp_model::mm::page::PG_ANON_EXCLUSIVE;
    use thp_model::mm::pgtable::F_WRITE;
    let m = setup_huge_pmd_mms(nr, folios, mms);
    {
        let _r = m.mms[0].mmap_lock.down_read();
        assert!(
            thp_model::mm::huge_memory::change_huge_pmd(&m, 0),
            "[model bug] the initial write-protect failed"
        );
        thp_model::mm::huge_memory::__split_huge_pmd(&m, 0, false);
    }
    let Pmd::Table(t) = Pmd::decode(m.mms[0].pmd.read()) else {
        panic!("[model bug] the initial PMD split failed");
    };
    for k in 0..nr {
        let ro = matches!(Pte::decode(m.mms[0].tables[t].ptes[k].read()), Pte::Present { flags, .. } if flags & F_WRITE == 0);
        assert!(
            ro && m.memmap.page(k).flags.test_bit(PG_ANON_EXCLUSIVE),
            "[model bug] pte[{k}] is not read-only and AnonExclusive"
        );
    }
    m
}

pub(super) fn setup_huge_pmd(nr: usize) -> Arc<Machine> {
    setup_huge_pmd_slots(nr, 1)
}

/// A huge anonymous fault in mm0 at memmap slot 0, with `folios` folio slots in all (the others
/// free, e.g. for a migration destination).
pub(super) fn setup_huge_pmd_slots(nr: usize, folios: usize) -> Arc<Machine> {
    setup_huge_pmd_mms(nr, folios, 1)
}

/// [`setup_huge_pmd_slots`] on a machine of `mms` mms (the others empty, e.g. for a fork
/// child).
pub(super) fn setup_huge_pmd_mms(nr: usize, folios: usize, mms: usize) -> Arc<Machine> {
    let m = Arc::new(Machine::new(nr, folios, mms, 1));
    {
        let _r = m.mms[0].mmap_lock.down_read();
        let r = do_huge_pmd_anonymous_page(&m, 0, 0);
        assert_eq!(
            r,
            FaultResult::Done,
            "[model bug] initial huge fault failed"
        );
    }
    m
}

/// The caller's side of `split_huge_page` (e.g. memory-failure's `try_to_split_thp_page`):
/// it holds a reference (taken by main before the CPUs start) and the folio lock.
pub(super) fn split_caller(m: &Machine) -> Result<(), SplitError> {
    folio_lock(&m.memmap, 0);
    let r = split_huge_page(m, 0);
    folio_unlock(&m.memmap, 0);
    // The caller's reference now belongs to the folio at the old head (order 0 on success).
    // (order 0 on success, or if somebody else split it first and this split was -EINVAL)
    folio_put_small_or_large(m, 0);
    r
}

pub(super) fn record(outcomes: &Outcomes, o: &'static str) {
    outcomes.lock().unwrap_or_else(|e| e.into_inner()).insert(o);
}

/// Record a split's result: [`SPLIT_OK`] or [`SPLIT_EAGAIN`] (any failure).
pub(super) fn record_split<T, E>(outcomes: &Outcomes, r: &Result<T, E>) {
    record(outcomes, if r.is_ok() { SPLIT_OK } else { SPLIT_EAGAIN });
}

/// Record each of `events` that the model observed in this execution (`Machine::observe`).
pub(super) fn record_observed(outcomes: &Outcomes, m: &Machine, events: &[&'static str]) {
    for &o in events {
        if m.observed(o) {
            record(outcomes, o);
        }
    }
}

/// After MADV_DONTNEED of the whole PMD returned, nothing in the range may be mapped (I12: a
/// zap that skipped a transiently none PMD leaves the pages mapped).
pub(super) fn check_dontneed_unmapped(m: &Machine) {
    let mm = &m.mms[0];
    match Pmd::decode(mm.pmd.read()) {
        Pmd::None => {}
        Pmd::Table(t) => {
            for (i, pte) in mm.tables[t].ptes.iter().enumerate() {
                let v = Pte::decode(pte.read());
                if v != Pte::None {
                    panic!(
                        "[{}] MADV_DONTNEED returned but pte[{i}] is still {v:?}",
                        Inv::I12PmdTransientlyNone.tag()
                    );
                }
            }
        }
        v => panic!(
            "[{}] MADV_DONTNEED returned but the PMD is still {v:?}",
            Inv::I12PmdTransientlyNone.tag()
        ),
    }
}

pub(super) fn record_zap(outcomes: &Outcomes, z: &Zapped) {
    if z.huge_pmd {
        record(outcomes, ZAPPED_HUGE_PMD);
    }
    if z.present_ptes > 0 {
        record(outcomes, ZAPPED_PRESENT_PTES);
    }
    if z.migration_entries > 0 {
        record(outcomes, ZAPPED_MIGRATION_ENTRY);
    }
    if z.migration_pmd {
        record(outcomes, ZAPPED_MIGRATION_PMD);
    }
}

/// Every pfn of `pfns` went back to the allocator (nothing maps them and nobody holds a
/// reference any more), else `inv` with `why`.
pub(super) fn check_freed(m: &Machine, pfns: std::ops::RangeInclusive<usize>, inv: Inv, why: &str) {
    for pfn in pfns {
        assert!(
            !m.memmap.is_allocated(pfn),
            "[{}] pfn {pfn} {why}",
            inv.tag()
        );
    }
}

/// A PTE table whose sub-page 0 maps a small folio (pfn `nr`, the first page of memmap slot
/// 1), with `folios` folio slots and two PTE tables (the one in use, and one a fault could
/// install).
pub(super) fn setup_one_small_pte(nr: usize, folios: usize) -> Arc<Machine> {
    let m = Arc::new(Machine::new(nr, folios, 1, 2));
    {
        let _r = m.mms[0].mmap_lock.down_read();
        assert!(
            do_anonymous_page(&m, 0, 0, nr) == PteFault::Mapped,
            "[model bug] setup fault"
        );
    }
    m
}

/// What a pin GUP-fast returned must still be what the address maps while the pin is held
/// (I15): a collapse that replaced a pinned page breaks it (Z01).
pub(super) fn check_pin_still_mapped(m: &Machine, fp: &thp_model::mm::gup::FastPage, idx: usize) {
    let now = match Pmd::decode(m.mms[0].pmd.read()) {
        Pmd::Table(t) => match Pte::decode(m.mms[0].tables[t].ptes[idx].read()) {
            Pte::Present { pfn, .. } => Some(pfn),
            _ => None,
        },
        Pmd::Huge { pfn, .. } => Some(pfn + idx),
        _ => None,
    };
    assert!(
        now == Some(fp.page),
        "[{}] GUP-fast pinned pfn {} for sub-page {idx}, but while the pin is held sub-page {idx} maps {now:?}: the pinned page was replaced",
        Inv::I15GupFast.tag(),
        fp.page
    );
}

pub(super) fn record_pin(outcomes: &Outcomes, got: &Option<thp_model::mm::gup::FastPage>) {
    record(
        outcomes,
        match got {
            Some(fp) if fp.via_pmd => GUP_PINNED_HUGE_PMD,
            Some(_) => GUP_PINNED_SMALL_PAGE,
            None => GUP_FELL_BACK,
        },
    );
}

pub(super) fn pin_held(m: &Machine, folio: usize) -> i32 {
    if m.memmap
        .page(folio)
        .flags
        .test_bit(thp_model::mm::page::PG_HEAD)
    {
        1
    } else {
        GUP_PIN_COUNTING_BIAS
    }
}

/// `split_huge_page` of the THP at pfn 0 (the caller's reference already taken) ∥ MADV_DONTNEED
/// of sub-page 1 under `mmap_lock` read; records both results. Afterwards sub-page 1 maps
/// nothing, on success its folio was freed by the split's final put, the state is quiescent,
/// and every other page kept its mapping ([`Carry::UNMAP`]). Returns what the zap met.
pub(super) fn split_vs_zap_page_1(m: &Arc<Machine>, outcomes: &Outcomes) -> Zapped {
    use thp_model::kernel::spawn;
    use thp_model::mm::zap::{zap_pmd_range, ZapRange};
    use thp_model::mm::{check_carried_over, check_quiescent, Carry, MappingSnapshot};
    let before = MappingSnapshot::take(m);
    let m1 = m.clone();
    let splitter = spawn(move || split_caller(&m1));
    let m2 = m.clone();
    let zapper = spawn(move || {
        let _r = m2.mms[0].mmap_lock.down_read();
        zap_pmd_range(&m2, 0, ZapRange::Page(1))
    });
    let split = splitter.join();
    let z = zapper.join();
    record_split(outcomes, &split);
    record_zap(outcomes, &z);
    if let Pmd::Table(t) = Pmd::decode(m.mms[0].pmd.read()) {
        let v = Pte::decode(m.mms[0].tables[t].ptes[1].read());
        assert!(
            v == Pte::None,
            "[{}] zapped pte[1] is {v:?} after both finished",
            Inv::I11SplitEndsClean.tag()
        );
    }
    if split.is_ok() {
        assert!(
            !m.memmap.is_allocated(1),
            "[{}] zapped and split sub-page 1 was never freed",
            Inv::I11SplitEndsClean.tag()
        );
    }
    check_quiescent(m, &[]);
    check_carried_over(m, &before, Carry::UNMAP);
    z
}

/// The reference a speculative getter holds must cover its page: at the end, `page_folio(pfn)`
/// must be the folio it holds (I7). A split that succeeded although the getter's reference was
/// taken before the freeze (its reference lost) shows up here too.
pub(super) fn check_getter_covers_page(
    m: &Machine,
    who: &str,
    pfn: usize,
    folio: usize,
    split: &Result<(), SplitError>,
    inv: Inv,
) {
    let now = m.memmap.page_folio_quiet(pfn);
    if now != folio {
        panic!(
            "[{}] {who} holds a reference on folio {folio} for pfn {pfn}, but pfn {pfn} is in folio {now} (split returned {split:?})",
            inv.tag()
        );
    }
}

/// After `migrate_pages_batch` split an isolated THP at pfn 0 instead of migrating it
/// (`MigrateError::Split`): `migrate_pages` then runs the split_folios list through
/// `migrate_pages_batch` (not modelled): an unmapped piece holds only the list's reference and
/// is "freed from under us"; the others are put back as if their migration failed
/// (`putback_movable_pages`), the head with the isolation reference.
pub(super) fn put_back_split_pieces(m: &Machine, nr: usize) {
    use thp_model::mm::page_ref::folio_put;
    use thp_model::mm::vmscan::folio_putback_lru;
    for p in 0..nr {
        if m.memmap.page(p)._refcount.read() == 1 && m.memmap.page(p)._mapcount.read() < 0 {
            folio_put(&m.memmap, p, 1);
        } else {
            folio_putback_lru(m, p);
        }
    }
}
