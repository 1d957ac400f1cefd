//! Model scenarios: an initial state, CPUs running kernel operations, a final oracle, the
//! outcomes each run must reach (so no scenario passes vacuously), and default bounds.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use thp_model::invariants::Inv;
use thp_model::kernel::{cpu_relax, spawn, Arch};
use thp_model::mm::filemap::{folio_lock, folio_unlock};
use thp_model::mm::gup::{follow_pmd_mask, Follow};
use thp_model::mm::gup::{gup_fast, gup_put_folio, Foll, GUP_PIN_COUNTING_BIAS};
use thp_model::mm::huge_memory::{__split_huge_pmd, do_huge_pmd_anonymous_page, FaultResult};
use thp_model::mm::huge_memory::{change_huge_pmd, deferred_split_scan, DeferredScan};
use thp_model::mm::huge_memory::{do_huge_pmd_wp_page, WpResult};
use thp_model::mm::huge_memory::{split_huge_page, SplitError};
use thp_model::mm::hugetlb_vmemmap::{
    check_folio_view, check_mapping, get_page_unless_zero, hugetlb_vmemmap_optimize_folio,
    hugetlb_vmemmap_restore_folio, vmemmap_remap_split, AllocFail, Hvo, NotWritable, PmdSplit,
    SpecGet, SpecGetResult, STRUCT_PAGES_PER_VMEMMAP_PAGE,
};
use thp_model::mm::khugepaged::{collapse_huge_page, ScanResult};
use thp_model::mm::madvise::madvise_free_pte_range;
use thp_model::mm::memory::{do_anonymous_page, PteFault};
use thp_model::mm::memory_failure::__get_hwpoison_page;
use thp_model::mm::migrate::migrate_pages_batch;
use thp_model::mm::migrate::{huge_pmd_access, migrate_huge_page, migration_entry_wait, EntryWait};
use thp_model::mm::mmap::dup_mmap;
use thp_model::mm::page::DEFERRED_QUEUED;
use thp_model::mm::page_ref::folio_put;
use thp_model::mm::page_ref::{folio_get, folio_put_small_or_large, pfn_walker_get_put};
use thp_model::mm::zap::{zap_pmd_range, ZapRange, Zapped};
use thp_model::mm::{check_quiescent, Machine};
use thp_model::mm::{Pmd, Pte};
use thp_model::rules::RuleSet;

use crate::engine::{run, EngineSpec, RunConfig, RunResult, Verdict, LOOM_MAX_BRANCHES};

/// Outcomes observed across the executions of one run (std: invisible to the engines).
pub type Outcomes = Arc<Mutex<BTreeSet<&'static str>>>;

/// A scenario of the catalogue.
#[derive(Clone, Copy, Debug)]
pub struct Scenario {
    pub name: &'static str,
    pub description: &'static str,
    /// The CPUs and what each runs.
    pub threads: &'static [&'static str],
    /// Default sub-pages per THP under loom and under shuttle.
    pub loom_nr: usize,
    pub shuttle_nr: usize,
    /// The fewest sub-pages (struct pages, for HVO) the scenario's state can be built with;
    /// `--subpages` below it is a usage error.
    pub min_subpages: usize,
    /// Default loom preemption bound (None = unbounded) and measured cost.
    pub loom_bound: Option<usize>,
    /// The hardware: x86 (a TLB flush is an IPI that waits for IRQs-off sections) or arm64
    /// (broadcast TLBI, a superset of x86's interleavings for IRQs-off walkers; and
    /// `pmd_mkinvalid` makes any value read as present, historical race Z12). The PMD and PTE
    /// classifiers agree on both for every value the real protocol writes.
    pub arch: Arch,
    /// Outcomes every holding run must have reached.
    pub must_reach: &'static [&'static str],
    /// Outcomes of `must_reach` that only loom (every interleaving within its bound) is
    /// required to reach; shuttle's randomized schedulers record them when they happen, but a
    /// run that misses them is not vacuous. Empty for almost every scenario.
    pub shuttle_may_miss: &'static [&'static str],
    /// One execution.
    pub body: fn(nr: usize, outcomes: &Outcomes),
}

fn setup_huge_pmd(nr: usize) -> Arc<Machine> {
    setup_huge_pmd_slots(nr, 1)
}

/// A huge anonymous fault in mm0 at memmap slot 0, with `folios` folio slots in all (the others
/// free, e.g. for a migration destination).
fn setup_huge_pmd_slots(nr: usize, folios: usize) -> Arc<Machine> {
    setup_huge_pmd_mms(nr, folios, 1)
}

/// [`setup_huge_pmd_slots`] on a machine of `mms` mms (the others empty, e.g. for a fork
/// child).
fn setup_huge_pmd_mms(nr: usize, folios: usize, mms: usize) -> Arc<Machine> {
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

/// `split_huge_pmd` (an unaware walker, mmap_lock read) ∥ a huge-PMD-aware walker
/// (`follow_pmd_mask`, FOLL_GET, mmap_lock read) on sub-page 1.
fn split_pmd_vs_aware_walker(nr: usize, outcomes: &Outcomes) {
    let m = setup_huge_pmd(nr);
    let m1 = m.clone();
    let splitter = spawn(move || {
        let _r = m1.mms[0].mmap_lock.down_read();
        __split_huge_pmd(&m1, 0, false);
    });
    let m2 = m.clone();
    let walker = spawn(move || {
        let _r = m2.mms[0].mmap_lock.down_read();
        follow_pmd_mask(&m2, 0, 1)
    });
    splitter.join();
    let found = walker.join();
    let pfn = match found {
        Follow::HugePage(p) => {
            outcomes.lock().unwrap().insert("walker-used-huge-pmd");
            p
        }
        Follow::PtePage(p) => {
            outcomes.lock().unwrap().insert("walker-used-pte");
            p
        }
        Follow::NoPage | Follow::NoPmd => panic!(
            "[{}] follow_pmd_mask found no page at a mapped address ({found:?}): the PMD was transiently none",
            Inv::I12PmdTransientlyNone.tag()
        ),
    };
    assert!(
        pfn == 1,
        "[I5 huge-pmd-stability] walker returned pfn {pfn} for sub-page 1"
    );
    check_quiescent(&m, &[(0, 1)]);
    folio_put(&m.memmap, 0, nr);
    check_quiescent(&m, &[]);
}

/// The caller's side of `split_huge_page` (e.g. memory-failure's `try_to_split_thp_page`):
/// it holds a reference (taken by main before the CPUs start) and the folio lock.
fn split_caller(m: &Machine) -> Result<(), SplitError> {
    folio_lock(&m.memmap, 0);
    let r = split_huge_page(m, 0);
    folio_unlock(&m.memmap, 0);
    // The caller's reference now belongs to the folio at the old head (order 0 on success).
    // (order 0 on success, or if somebody else split it first and this split was -EINVAL)
    folio_put_small_or_large(m, 0);
    r
}

fn record(outcomes: &Outcomes, o: &'static str) {
    outcomes.lock().unwrap_or_else(|e| e.into_inner()).insert(o);
}

/// Record each of `events` that the model observed in this execution (`Machine::observe`).
fn record_observed(outcomes: &Outcomes, m: &Machine, events: &[&'static str]) {
    for &o in events {
        if m.observed(o) {
            record(outcomes, o);
        }
    }
}

/// The reference a speculative getter holds must cover its page: at the end, `page_folio(pfn)`
/// must be the folio it holds (I7). A split that succeeded although the getter's reference was
/// taken before the freeze (its reference lost) shows up here too.
fn check_getter_covers_page(
    m: &Machine,
    who: &str,
    pfn: usize,
    folio: usize,
    split: &Result<(), SplitError>,
    inv: Inv,
) {
    let now = m.memmap.page_folio(pfn);
    if now != folio {
        panic!(
            "[{}] {who} holds a reference on folio {folio} for pfn {pfn}, but pfn {pfn} is in folio {now} (split returned {split:?})",
            inv.tag()
        );
    }
}

/// `split_huge_page` of a PMD-mapped THP (the caller holds a reference and the lock) ∥
/// `scan(pfn)` on the last tail pfn; records split-ok / split-eagain. Returns the machine, the
/// pfn, the split's result and the scanner's.
fn split_vs_tail_scanner<R: Send + 'static>(
    nr: usize,
    outcomes: &Outcomes,
    scan: fn(&Machine, usize) -> R,
) -> (Arc<Machine>, usize, Result<(), SplitError>, R) {
    let m = setup_huge_pmd(nr);
    folio_get(&m.memmap, 0); // the splitter's caller reference
    let m1 = m.clone();
    let splitter = spawn(move || split_caller(&m1));
    let m2 = m.clone();
    let pfn = nr - 1;
    let scanner = spawn(move || scan(&m2, pfn));
    let split = splitter.join();
    let got = scanner.join();
    record(
        outcomes,
        if split.is_ok() {
            "split-ok"
        } else {
            "split-eagain"
        },
    );
    (m, pfn, split, got)
}

/// `split_huge_page` ∥ a physical scanner (`__get_hwpoison_page`) on the last tail pfn.
fn folio_split_vs_scanner(nr: usize, outcomes: &Outcomes) {
    let (m, pfn, split, got) = split_vs_tail_scanner(nr, outcomes, __get_hwpoison_page);
    match got {
        Some(f) => {
            check_getter_covers_page(
                &m,
                "__get_hwpoison_page",
                pfn,
                f,
                &split,
                Inv::I7RecheckAfterGet,
            );
            record(
                outcomes,
                if f == pfn {
                    "scanner-ref-on-split-page"
                } else {
                    "scanner-ref-on-large-folio"
                },
            );
            folio_put_small_or_large(&m, f);
        }
        None => record(outcomes, "scanner-failed"),
    }
    check_quiescent(&m, &[]);
}

/// `split_huge_page` ∥ compaction's `isolate_migratepages_block` on the last tail pfn: it skips
/// a compound page, or (once the tail is its own folio, unfrozen and back on the LRU) takes a
/// reference with `folio_get_nontail_page`, isolates and puts it back.
fn folio_split_vs_compaction(nr: usize, outcomes: &Outcomes) {
    use thp_model::mm::compaction::{isolate_migratepages_block, Isolate};
    let (m, _pfn, _split, r) = split_vs_tail_scanner(nr, outcomes, isolate_migratepages_block);
    record(
        outcomes,
        match r {
            Isolate::SkippedCompound => "compaction-skipped-compound",
            Isolate::Isolated => "compaction-isolated-split-page",
            Isolate::SkippedNotLru | Isolate::GetFailed | Isolate::Raced => {
                "compaction-missed-split-page"
            }
        },
    );
    check_quiescent(&m, &[]);
}

/// `split_huge_page` ∥ page_idle's `page_idle_get_folio` on the last tail pfn (reject a tail,
/// `folio_try_get`, re-check the folio and PG_lru), then put.
fn folio_split_vs_page_idle(nr: usize, outcomes: &Outcomes) {
    use thp_model::mm::page_idle::page_idle_get_folio;
    let (m, pfn, split, got) = split_vs_tail_scanner(nr, outcomes, page_idle_get_folio);
    match got {
        Some(f) => {
            check_getter_covers_page(
                &m,
                "page_idle_get_folio",
                pfn,
                f,
                &split,
                Inv::I7RecheckAfterGet,
            );
            record(outcomes, "page-idle-got-split-page");
            folio_put_small_or_large(&m, f);
        }
        None => record(outcomes, "page-idle-skipped"),
    }
    check_quiescent(&m, &[]);
}

/// `split_huge_page` ∥ GUP-fast (FOLL_PIN | FOLL_WRITE) on sub-page 1 of a PTE-mapped THP.
fn folio_split_vs_gup_fast(nr: usize, outcomes: &Outcomes) {
    let m = setup_huge_pmd(nr);
    {
        let _r = m.mms[0].mmap_lock.down_read();
        __split_huge_pmd(&m, 0, false); // PTE-map it first: GUP-fast takes the PTE path
    }
    folio_get(&m.memmap, 0);
    let m1 = m.clone();
    let splitter = spawn(move || split_caller(&m1));
    let m2 = m.clone();
    let gup = spawn(move || gup_fast(&m2, 0, 1, Foll::Pin, true));
    let split = splitter.join();
    let got = gup.join();
    record(
        outcomes,
        if split.is_ok() {
            "split-ok"
        } else {
            "split-eagain"
        },
    );
    match got {
        Some(fp) => {
            check_getter_covers_page(&m, "gup_fast", fp.page, fp.folio, &split, Inv::I15GupFast);
            assert!(
                !fp.via_pmd,
                "[model bug] a PTE-mapped folio was pinned through a PMD leaf"
            );
            record(
                outcomes,
                if fp.folio == fp.page {
                    "gup-pinned-split-page"
                } else {
                    "gup-pinned-large-folio"
                },
            );
            let held = if !m
                .memmap
                .page(fp.folio)
                .flags
                .test_bit(thp_model::mm::page::PG_HEAD)
            {
                GUP_PIN_COUNTING_BIAS // a pin on a small folio
            } else {
                1 // a pin on a large folio: one reference plus _pincount
            };
            check_quiescent(&m, &[(fp.folio, held)]);
            gup_put_folio(&m, fp.folio, 1, Foll::Pin);
        }
        None => record(outcomes, "gup-fell-back"),
    }
    check_quiescent(&m, &[]);
}

/// `split_huge_page` of a PMD-mapped THP ∥ GUP-fast (FOLL_PIN, read-only) on sub-page 1
/// through the huge PMD: the pin and the unmapper's AnonExclusive sharing must see each other.
fn folio_split_vs_gup_fast_pmd(nr: usize, outcomes: &Outcomes) {
    let m = setup_huge_pmd(nr);
    folio_get(&m.memmap, 0);
    let m1 = m.clone();
    let splitter = spawn(move || split_caller(&m1));
    let m2 = m.clone();
    let gup = spawn(move || gup_fast(&m2, 0, 1, Foll::Pin, false));
    let split = splitter.join();
    let got = gup.join();
    record(
        outcomes,
        if split.is_ok() {
            "split-ok"
        } else {
            "split-eagain"
        },
    );
    match got {
        Some(fp) => {
            check_getter_covers_page(&m, "gup_fast", fp.page, fp.folio, &split, Inv::I15GupFast);
            record(
                outcomes,
                if fp.via_pmd {
                    "gup-pinned-through-huge-pmd"
                } else {
                    "gup-pinned-through-pte"
                },
            );
            let held = if m
                .memmap
                .page(fp.folio)
                .flags
                .test_bit(thp_model::mm::page::PG_HEAD)
            {
                1
            } else {
                GUP_PIN_COUNTING_BIAS
            };
            check_quiescent(&m, &[(fp.folio, held)]);
            gup_put_folio(&m, fp.folio, 1, Foll::Pin);
        }
        None => record(outcomes, "gup-fell-back"),
    }
    check_quiescent(&m, &[]);
}

/// `split_huge_page` ∥ a fault on sub-page 1 that finds a migration entry and waits
/// (`migration_entry_wait`), then refaults.
fn folio_split_vs_migration_wait(nr: usize, outcomes: &Outcomes) {
    let m = setup_huge_pmd(nr);
    folio_get(&m.memmap, 0);
    let m1 = m.clone();
    let splitter = spawn(move || split_caller(&m1));
    let m2 = m.clone();
    let faulter = spawn(move || {
        let _r = m2.mms[0].mmap_lock.down_read();
        let mut seen = Vec::new();
        for _ in 0..16 {
            let pmd = Pmd::decode(m2.mms[0].pmd.read_dep());
            if pmd.trans_huge() {
                // huge_pmd_set_accessed & co: PMD lock, pmd_same; an invalidated PMD refaults
                let ptl = m2.mms[0].pmd_lock.lock();
                let v = Pmd::decode(m2.mms[0].pmd.read());
                drop(ptl);
                if let Pmd::Huge { .. } = v {
                    seen.push("fault-saw-huge");
                    return seen;
                }
                cpu_relax();
                continue;
            }
            match migration_entry_wait(&m2, 0, 1) {
                EntryWait::NotMigration => {
                    seen.push("fault-saw-pte");
                    return seen;
                }
                EntryWait::Waited => seen.push("fault-waited-on-migration-entry"),
                EntryWait::Retry => cpu_relax(),
            }
        }
        thp_model::model_bug!("the fault never resolved: {seen:?}");
    });
    let split = splitter.join();
    let seen = faulter.join();
    record(
        outcomes,
        if split.is_ok() {
            "split-ok"
        } else {
            "split-eagain"
        },
    );
    for s in seen {
        record(outcomes, s);
    }
    check_quiescent(&m, &[]);
}

/// A write fault taking the huge path (`do_huge_pmd_anonymous_page`) ∥ a fault on the same
/// PMD taking the small-page path (`do_anonymous_page`, e.g. after the THP allocation failed),
/// both under `mmap_lock` read.
fn huge_fault_vs_pte_fault(nr: usize, outcomes: &Outcomes) {
    let m = Arc::new(Machine::new(nr, 2, 1, 2));
    let m1 = m.clone();
    let huge = spawn(move || {
        let _r = m1.mms[0].mmap_lock.down_read();
        do_huge_pmd_anonymous_page(&m1, 0, 0)
    });
    let m2 = m.clone();
    let small = spawn(move || {
        let _r = m2.mms[0].mmap_lock.down_read();
        do_anonymous_page(&m2, 0, 1, nr)
    });
    let h = huge.join();
    let p = small.join();
    match (h, p) {
        (FaultResult::Done, PteFault::Refault) => record(outcomes, "huge-won"),
        (FaultResult::Refault, PteFault::Mapped) => record(outcomes, "pte-won"),
        (h, p) => panic!(
            "[{}] huge fault {h:?} and PTE fault {p:?} on one empty PMD: exactly one must install",
            Inv::I4MapcountMismatch.tag()
        ),
    }
    check_quiescent(&m, &[]);
}

/// A small-page fault that installs a fresh PTE table (`pte_alloc` → `pmd_install`) ∥ a
/// lockless-then-locked walker (`follow_pmd_mask` → `follow_page_pte`) on another sub-page.
/// The table page is recycled: it still holds a stale PTE from its previous life until
/// `pte_alloc_one` zeroes it.
fn pte_fault_vs_walker(nr: usize, outcomes: &Outcomes) {
    let m = Arc::new(Machine::new(nr, 2, 1, 1));
    // The recycled table's previous contents: a PTE for a page that is now free.
    m.mms[0].tables[0].ptes[1].set(
        Pte::Present {
            pfn: nr + 1,
            flags: 0,
        }
        .encode(),
    );
    let m1 = m.clone();
    let faulter = spawn(move || {
        let _r = m1.mms[0].mmap_lock.down_read();
        do_anonymous_page(&m1, 0, 0, nr)
    });
    let m2 = m.clone();
    let walker = spawn(move || {
        let _r = m2.mms[0].mmap_lock.down_read();
        follow_pmd_mask(&m2, 0, 1)
    });
    let f = faulter.join();
    let w = walker.join();
    assert!(
        f == PteFault::Mapped,
        "[model bug] the only fault failed: {f:?}"
    );
    match w {
        Follow::NoPmd => record(outcomes, "walker-saw-none-pmd"),
        Follow::NoPage => record(outcomes, "walker-saw-empty-pte"),
        other => thp_model::model_bug!("walker found {other:?} at an unmapped address"),
    }
    check_quiescent(&m, &[]);
}

/// After MADV_DONTNEED of the whole PMD returned, nothing in the range may be mapped (I12: a
/// zap that skipped a transiently none PMD leaves the pages mapped).
fn check_dontneed_unmapped(m: &Machine) {
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

fn record_zap(outcomes: &Outcomes, z: &Zapped) {
    if z.huge_pmd {
        record(outcomes, "zapped-huge-pmd");
    }
    if z.present_ptes > 0 {
        record(outcomes, "zapped-present-ptes");
    }
    if z.migration_entries > 0 {
        record(outcomes, "zapped-migration-entry");
    }
    if z.migration_pmd {
        record(outcomes, "zapped-migration-pmd");
    }
}

/// An rmap-driven `split_huge_pmd` (no mmap lock) ∥ MADV_DONTNEED of the whole PMD
/// (`zap_pmd_range`, mmap_lock read).
fn split_pmd_vs_dontneed(nr: usize, outcomes: &Outcomes) {
    let m = setup_huge_pmd(nr);
    let m1 = m.clone();
    let splitter = spawn(move || __split_huge_pmd(&m1, 0, false));
    let zapper = spawn_dontneed(&m);
    splitter.join();
    let z = zapper.join();
    record_zap(outcomes, &z);
    check_dontneed_unmapped(&m); // nobody may re-map the range after the zap returned
    check_quiescent(&m, &[]);
}

const UNREFERENCED_NOT_FREED: &str = "is unmapped and unreferenced but was never freed";

/// Every pfn of `pfns` went back to the allocator (nothing maps them and nobody holds a
/// reference any more), else `inv` with `why`.
fn check_freed(m: &Machine, pfns: std::ops::RangeInclusive<usize>, inv: Inv, why: &str) {
    for pfn in pfns {
        assert!(
            !m.memmap.is_allocated(pfn),
            "[{}] pfn {pfn} {why}",
            inv.tag()
        );
    }
}

/// A CPU that MADV_DONTNEEDs the whole PMD of mm0 under mmap_lock read and then checks,
/// still under the lock (so nothing can fault it back), that the range is unmapped.
fn spawn_dontneed(m: &Arc<Machine>) -> thp_model::kernel::JoinHandle<Zapped> {
    let m2 = m.clone();
    spawn(move || {
        let _r = m2.mms[0].mmap_lock.down_read();
        let z = zap_pmd_range(&m2, 0, ZapRange::Full);
        check_dontneed_unmapped(&m2);
        z
    })
}

/// A PMD modifier `modify` running under mmap_lock read ∥ MADV_DONTNEED of the whole PMD
/// (historical race Z02): the zap must not miss the PMD. Records `did` or `did_nothing` after
/// what `modify` returned.
fn modifier_vs_dontneed(
    nr: usize,
    outcomes: &Outcomes,
    modify: fn(&Machine) -> bool,
    did: &'static str,
    did_nothing: &'static str,
) {
    let m = setup_huge_pmd(nr);
    let m1 = m.clone();
    let modifier = spawn(move || {
        let _r = m1.mms[0].mmap_lock.down_read();
        modify(&m1)
    });
    let zapper = spawn_dontneed(&m);
    let changed = modifier.join();
    let z = zapper.join();
    record_zap(outcomes, &z);
    check_dontneed_unmapped(&m); // nobody may re-map the range after the zap returned
    record(outcomes, if changed { did } else { did_nothing });
    check_quiescent(&m, &[]);
}

/// `change_huge_pmd` (NUMA hinting, mmap_lock read) ∥ MADV_DONTNEED of the whole PMD.
fn dontneed_vs_change_huge_pmd(nr: usize, outcomes: &Outcomes) {
    modifier_vs_dontneed(
        nr,
        outcomes,
        |m| change_huge_pmd(m, 0),
        "changed-before-zap",
        "changed-nothing",
    );
}

/// `split_huge_page` ∥ MADV_DONTNEED of sub-page 1 (which may meet a migration entry).
fn folio_split_vs_zap(nr: usize, outcomes: &Outcomes) {
    let m = setup_huge_pmd(nr);
    folio_get(&m.memmap, 0);
    let m1 = m.clone();
    let splitter = spawn(move || split_caller(&m1));
    let m2 = m.clone();
    let zapper = spawn(move || {
        let _r = m2.mms[0].mmap_lock.down_read();
        zap_pmd_range(&m2, 0, ZapRange::Page(1))
    });
    let split = splitter.join();
    let z = zapper.join();
    record(
        outcomes,
        if split.is_ok() {
            "split-ok"
        } else {
            "split-eagain"
        },
    );
    record_zap(outcomes, &z);
    // sub-page 1 is unmapped; on success it was freed by the split's final put
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
    check_quiescent(&m, &[]);
}

/// MADV_FREE of the whole huge PMD (`madvise_free_huge_pmd`: mark it old and clean) ∥
/// MADV_DONTNEED of the whole PMD, both under mmap_lock read (historical race Z02, the MADV_FREE
/// form, 58ceeb6bec86).
fn madvise_free_vs_dontneed(nr: usize, outcomes: &Outcomes) {
    modifier_vs_dontneed(
        nr,
        outcomes,
        |m| madvise_free_pte_range(m, 0, ZapRange::Full) > 0,
        "lazyfree-before-zap",
        "lazyfree-nothing",
    );
}

/// MADV_FREE of sub-page 1 of a PMD-mapped THP (`madvise_free_huge_pmd` splits the folio:
/// trylock and reference under the PMD lock, then `split_folio` without it) ∥ MADV_DONTNEED of
/// the whole PMD. Every page must end freed: nothing maps the range, nobody keeps a reference.
fn madvise_free_split_vs_zap(nr: usize, outcomes: &Outcomes) {
    let m = setup_huge_pmd(nr);
    let m1 = m.clone();
    let freer = spawn(move || {
        let _r = m1.mms[0].mmap_lock.down_read();
        madvise_free_pte_range(&m1, 0, ZapRange::Page(1))
    });
    let zapper = spawn_dontneed(&m);
    freer.join();
    let z = zapper.join();
    record_zap(outcomes, &z);
    record_observed(
        outcomes,
        &m,
        &[
            "madv-free-split-ok",
            "madv-free-split-failed",
            "madv-free-lazyfree-pte",
        ],
    );
    if !m.observed("madv-free-split-ok") && !m.observed("madv-free-split-failed") {
        record(outcomes, "madv-free-nothing");
    }
    check_dontneed_unmapped(&m);
    check_freed(
        &m,
        0..=nr - 1,
        Inv::I11SplitEndsClean,
        "still allocated after MADV_FREE and MADV_DONTNEED of the whole range finished",
    );
    check_quiescent(&m, &[]);
}

/// A PTE table whose sub-page 0 maps a small folio (pfn `nr`, the first page of memmap slot
/// 1), with `folios` folio slots and two PTE tables (the one in use, and one a fault could
/// install).
fn setup_one_small_pte(nr: usize, folios: usize) -> Arc<Machine> {
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

/// MADV_DONTNEED of the whole PMD, which empties the PTE table and reclaims it (PT_RECLAIM:
/// `try_get_and_clear_pmd`, or `try_to_free_pte` if the PMD lock is busy; table → none,
/// RCU-deferred free) ∥ a small-page fault on another sub-page that mapped the table before it
/// went away.
fn pte_fault_vs_dontneed_reclaim(nr: usize, outcomes: &Outcomes) {
    let m = setup_one_small_pte(nr, 3);
    dontneed_reclaim_vs_pte_fault(&m, 2 * nr, outcomes);
}

/// MADV_DONTNEED of the whole PMD with PT_RECLAIM (`zap_pmd_range`) ∥ `do_anonymous_page` of
/// sub-page 1 with the free page `pfn`, both under mmap_lock read, on `m`. Records how the fault
/// ended against the final PMD, checks the whole state, and returns what the zap did.
fn dontneed_reclaim_vs_pte_fault(m: &Arc<Machine>, pfn: usize, outcomes: &Outcomes) -> Zapped {
    let m1 = m.clone();
    let zapper = spawn(move || {
        let _r = m1.mms[0].mmap_lock.down_read();
        zap_pmd_range(&m1, 0, ZapRange::Full)
    });
    let m2 = m.clone();
    let faulter = spawn(move || {
        let _r = m2.mms[0].mmap_lock.down_read();
        do_anonymous_page(&m2, 0, 1, pfn)
    });
    let z = zapper.join();
    let f = faulter.join();
    let pmd = Pmd::decode(m.mms[0].pmd.read());
    record(
        outcomes,
        match (f, pmd) {
            (PteFault::Mapped, Pmd::Table(_)) => "fault-mapped-in-live-table",
            (PteFault::Refault, _) => "fault-refaulted",
            (PteFault::Mapped, Pmd::None) => "fault-mapped-then-reclaimed",
            _ => "other",
        },
    );
    if pmd.none() {
        record(outcomes, "table-reclaimed");
    }
    let held: Vec<(usize, i32)> = Vec::new();
    check_quiescent(m, &held);
    z
}

/// [`pte_fault_vs_dontneed_reclaim`] from an empty PMD (one free PTE table): the fault goes
/// `__pte_alloc` → `pmd_install`, which populates the PMD under the PMD lock. A zap whose
/// lockless read already sees the new table, while the faulter still holds the PMD lock, finds
/// `try_get_and_clear_pmd`'s `spin_trylock` busy and falls back to `try_to_free_pte` (PMD lock,
/// PTE lock nested, every PTE re-checked none), which frees the table unless the fault mapped
/// its PTE first.
fn pmd_install_vs_dontneed_reclaim(nr: usize, outcomes: &Outcomes) {
    let m = Arc::new(Machine::new(nr, 1, 1, 1));
    let z = dontneed_reclaim_vs_pte_fault(&m, 0, outcomes);
    if z.skipped_none {
        record(outcomes, "zap-saw-none-pmd");
    }
    if m.observed("pmd-lock-busy-fell-back") {
        record(outcomes, "pmd-lock-busy-fell-back");
        record(
            outcomes,
            if Pmd::decode(m.mms[0].pmd.read()).none() {
                "fell-back-then-reclaimed"
            } else {
                "fell-back-table-kept"
            },
        );
    }
}

/// `split_huge_page` ∥ a speculative PFN walker doing `get_page_unless_zero(tail)` …
/// `put_page(tail)` on the last tail.
fn folio_split_vs_pfn_walker(nr: usize, outcomes: &Outcomes) {
    let m = setup_huge_pmd(nr);
    folio_get(&m.memmap, 0);
    let m1 = m.clone();
    let splitter = spawn(move || split_caller(&m1));
    let m2 = m.clone();
    let walker = spawn(move || pfn_walker_get_put(&m2, nr - 1));
    let split = splitter.join();
    let got = walker.join();
    record(
        outcomes,
        if split.is_ok() {
            "split-ok"
        } else {
            "split-eagain"
        },
    );
    record(
        outcomes,
        if got {
            "walker-got-split-page"
        } else {
            "walker-get-failed"
        },
    );
    check_quiescent(&m, &[]);
}

/// MADV_DONTNEED of the whole PMD that reclaims the emptied PTE table (`try_to_free_pte`) ∥
/// GUP-fast on sub-page 0, which walks that table with IRQs off and no lock.
fn gup_fast_vs_dontneed_reclaim(nr: usize, outcomes: &Outcomes) {
    let m = Arc::new(Machine::new(nr, 2, 1, 1));
    {
        let _r = m.mms[0].mmap_lock.down_read();
        assert!(
            do_anonymous_page(&m, 0, 0, nr) == PteFault::Mapped,
            "[model bug] setup fault"
        );
    }
    let m1 = m.clone();
    let zapper = spawn(move || {
        let _r = m1.mms[0].mmap_lock.down_read();
        zap_pmd_range(&m1, 0, ZapRange::Full)
    });
    let m2 = m.clone();
    let gup = spawn(move || {
        let r = gup_fast(&m2, 0, 0, Foll::Get, false);
        if let Some(fp) = r {
            gup_put_folio(&m2, fp.folio, 1, Foll::Get);
        }
        r.is_some()
    });
    zapper.join();
    record(
        outcomes,
        if gup.join() {
            "gup-got"
        } else {
            "gup-fell-back"
        },
    );
    if Pmd::decode(m.mms[0].pmd.read()).none() {
        record(outcomes, "table-reclaimed");
    }
    check_quiescent(&m, &[]);
}

/// The speculative walker of the HVO scenarios targets pfn 2: the first struct page of the
/// first tail vmemmap page, a fake head once HVO has aliased that page to the head's.
const HVO_WALKER_PFN: usize = 2;

fn record_spec_get(outcomes: &Outcomes, hv: &Hvo, r: SpecGetResult) {
    record(
        outcomes,
        match r.what {
            SpecGet::KeyOffReadZero => "walker-key-off",
            SpecGet::NotWritable(NotWritable::Count) => "walker-count-zero",
            SpecGet::NotWritable(NotWritable::FakeHead) => "walker-fake-head",
            SpecGet::Got => "walker-got-ref",
        },
    );
    // Which physical vmemmap page the walker's first refcount read went to: the folio's
    // original one, the reuse page (the head copy, or the head page reused in place, that
    // every tail vmemmap page aliases after HVO), or a page a restore filled.
    if let Some(p) = r.count_phys {
        let reuse = hv.translate(0).0;
        record(
            outcomes,
            if p == HVO_WALKER_PFN / STRUCT_PAGES_PER_VMEMMAP_PAGE {
                "walker-read-original-page"
            } else if p == reuse {
                "walker-read-reuse-page"
            } else {
                "walker-read-restored-page"
            },
        );
    }
}

/// `hugetlb_vmemmap_optimize_folio` of a frozen HugeTLB folio, then `folio_ref_unfreeze(1)`
/// (it leaves the pool) ∥ a speculative `get_page_unless_zero` on pfn 2 (historical race Z09).
/// `nr` struct pages: 4 = two vmemmap pages under one vmemmap PMD, a leaf until HVO splits it.
fn hvo_optimize_vs_pfn_walker(nr: usize, outcomes: &Outcomes) {
    hvo_optimize_vs_walker(nr, outcomes, false)
}

/// As `hvo_optimize_vs_pfn_walker`, with the vmemmap PMD already split (the batch form splits
/// every PMD first; or a neighbour's HVO did): no split barrier publishes the head copy.
fn hvo_optimize_presplit_vs_pfn_walker(nr: usize, outcomes: &Outcomes) {
    hvo_optimize_vs_walker(nr, outcomes, true)
}

fn hvo_optimize_vs_walker(nr: usize, outcomes: &Outcomes, presplit: bool) {
    let hv = Arc::new(Hvo::new(nr, nr, AllocFail::None, presplit));
    let h1 = hv.clone();
    let optimizer = spawn(move || {
        let r = hugetlb_vmemmap_optimize_folio(&h1);
        h1.folio_ref_unfreeze(1);
        r
    });
    let h2 = hv.clone();
    let walker = spawn(move || get_page_unless_zero(&h2, HVO_WALKER_PFN));
    let r = optimizer.join();
    let w = walker.join();
    assert!(
        r.is_ok(),
        "[model bug] optimize without injected failure: {r:?}"
    );
    record_spec_get(outcomes, &hv, w);
    check_folio_view(&hv, 1);
    check_mapping(&hv);
}

/// `hugetlb_vmemmap_optimize_folio` with the allocation `fail` injected (`-ENOMEM`), then
/// `folio_ref_unfreeze(1)` ∥ `get_page_unless_zero(pfn 2)`. Allocations: #0 the new head
/// vmemmap page (failure: reuse the head vmemmap page in place, not an error), #1 + k the PTE
/// table splitting vmemmap PMD k.
fn hvo_optimize_fail_vs_walker(nr: usize, outcomes: &Outcomes, fail: usize) {
    let hv = Arc::new(Hvo::new(nr, nr, AllocFail::Nth(fail), false));
    let h1 = hv.clone();
    let optimizer = spawn(move || {
        let r = hugetlb_vmemmap_optimize_folio(&h1);
        h1.folio_ref_unfreeze(1);
        r
    });
    let h2 = hv.clone();
    let walker = spawn(move || get_page_unless_zero(&h2, HVO_WALKER_PFN));
    let r = optimizer.join();
    let w = walker.join();
    assert!(
        r.is_err() == (fail > 0),
        "[model bug] -ENOMEM at allocation #{fail}: optimize returned {r:?}"
    );
    if r.is_err() {
        record(outcomes, "optimize-enomem");
    }
    record_spec_get(outcomes, &hv, w);
    check_folio_view(&hv, 1);
    check_mapping(&hv);
}

/// The new head vmemmap page cannot be allocated: the head vmemmap page is reused in place, so
/// the fake heads alias the very page the unfreeze writes.
fn hvo_optimize_nocopy_vs_pfn_walker(nr: usize, outcomes: &Outcomes) {
    hvo_optimize_fail_vs_walker(nr, outcomes, 0)
}

/// `-ENOMEM` splitting the first vmemmap PMD: nothing was remapped, nothing to roll back.
fn hvo_optimize_enomem_split_vs_pfn_walker(nr: usize, outcomes: &Outcomes) {
    hvo_optimize_fail_vs_walker(nr, outcomes, 1)
}

/// A gigantic folio whose vmemmap spans two vmemmap PMDs, `-ENOMEM` splitting the second,
/// after the first PMD's PTEs were remapped: the rollback case.
fn hvo_optimize_enomem_vs_pfn_walker(nr: usize, outcomes: &Outcomes) {
    hvo_optimize_fail_vs_walker(nr, outcomes, 2)
}

/// `hugetlb_vmemmap_restore_folio` of an optimized, frozen folio (it goes back to buddy) ∥
/// `get_page_unless_zero(pfn 2)`.
fn hvo_restore_vs_pfn_walker(nr: usize, outcomes: &Outcomes) {
    let hv = Arc::new(Hvo::new(nr, 2 * nr, AllocFail::None, false));
    assert!(
        hugetlb_vmemmap_optimize_folio(&hv).is_ok(),
        "[model bug] setup optimize failed"
    );
    let h1 = hv.clone();
    let restorer = spawn(move || hugetlb_vmemmap_restore_folio(&h1));
    let h2 = hv.clone();
    let walker = spawn(move || get_page_unless_zero(&h2, HVO_WALKER_PFN));
    let r = restorer.join();
    let w = walker.join();
    assert!(
        r.is_ok(),
        "[model bug] restore without injected failure: {r:?}"
    );
    record_spec_get(outcomes, &hv, w);
    check_folio_view(&hv, 0);
    check_mapping(&hv);
}

/// `hugetlb_vmemmap_restore_folio` with `-ENOMEM` at its first page allocation
/// (`alloc_vmemmap_page_list`): the folio stays optimized, exactly as before ∥
/// `get_page_unless_zero(pfn 2)`.
fn hvo_restore_enomem_vs_pfn_walker(nr: usize, outcomes: &Outcomes) {
    // the setup optimize allocates the head copy and one table per vmemmap PMD
    let first_restore_alloc = 1 + nr / STRUCT_PAGES_PER_VMEMMAP_PAGE / 2;
    let hv = Arc::new(Hvo::new(
        nr,
        2 * nr,
        AllocFail::Nth(first_restore_alloc),
        false,
    ));
    assert!(
        hugetlb_vmemmap_optimize_folio(&hv).is_ok(),
        "[model bug] setup optimize failed"
    );
    let h1 = hv.clone();
    let restorer = spawn(move || hugetlb_vmemmap_restore_folio(&h1));
    let h2 = hv.clone();
    let walker = spawn(move || get_page_unless_zero(&h2, HVO_WALKER_PFN));
    let r = restorer.join();
    let w = walker.join();
    assert!(
        r.is_err(),
        "[model bug] the injected -ENOMEM did not fail the restore"
    );
    record(outcomes, "restore-enomem");
    record_spec_get(outcomes, &hv, w);
    check_folio_view(&hv, 0);
    check_mapping(&hv);
}

/// `hugetlb_vmemmap_optimize_folio` then `folio_ref_unfreeze(1)` ∥ the batch pre-split
/// (`vmemmap_remap_split`) of a neighbouring folio whose vmemmap shares the (leaf) vmemmap PMD.
/// Exactly one table may end up populated, holding this folio's remaps.
fn hvo_optimize_vs_neighbour_split(nr: usize, outcomes: &Outcomes) {
    let hv = Arc::new(Hvo::new(nr, nr, AllocFail::None, false));
    let h1 = hv.clone();
    let optimizer = spawn(move || {
        let r = hugetlb_vmemmap_optimize_folio(&h1);
        h1.folio_ref_unfreeze(1);
        r
    });
    let h2 = hv.clone();
    let neighbour = spawn(move || vmemmap_remap_split(&h2));
    let r = optimizer.join();
    let n = neighbour.join();
    assert!(
        r.is_ok(),
        "[model bug] optimize without injected failure: {r:?}"
    );
    let n = n.unwrap_or_else(|e| thp_model::model_bug!("neighbour split failed: {e:?}"));
    for split in n {
        record(
            outcomes,
            match split {
                PmdSplit::Populated => "neighbour-split-the-pmd",
                PmdSplit::LostRace => "neighbour-lost-the-race",
                PmdSplit::AlreadySplit => "neighbour-found-it-split",
            },
        );
    }
    check_folio_view(&hv, 1);
    check_mapping(&hv);
    let tables = hv.tables.iter().filter(|t| t.allocated.read()).count();
    assert!(
        tables == hv.pmds.len(),
        "[{}] {tables} vmemmap PTE tables allocated for {} split PMDs: a table leaked",
        Inv::I17TableLifetime.tag(),
        hv.pmds.len()
    );
}

/// The catalogue of model scenarios.
pub const SCENARIOS: &[Scenario] = &[Scenario {
    name: "split-pmd-vs-aware-walker",
    description: "split_huge_pmd (mmap_lock read) vs a huge-PMD-aware walker (follow_pmd_mask, FOLL_GET) on sub-page 1",
    threads: &["cpu1: mmap_read_lock; __split_huge_pmd", "cpu2: mmap_read_lock; follow_pmd_mask(FOLL_GET); (main) put_page"],
    loom_nr: 2,
    shuttle_nr: 4,
    min_subpages: 2,
    loom_bound: None,
    arch: Arch::Arm64,
    must_reach: &["walker-used-huge-pmd", "walker-used-pte"],
    shuttle_may_miss: &[],
    body: split_pmd_vs_aware_walker,
}, Scenario {
    name: "folio-split-vs-scanner",
    description: "split_huge_page of a PMD-mapped THP (caller holds ref + lock) vs a physical scanner (__get_hwpoison_page) on the last tail pfn",
    threads: &["cpu1: folio_lock; split_huge_page; folio_unlock; folio_put", "cpu2: __get_hwpoison_page(tail pfn); (main) folio_put"],
    loom_nr: 2,
    shuttle_nr: 4,
    min_subpages: 2,
    loom_bound: None,
    arch: Arch::Arm64,
    must_reach: &["split-ok", "split-eagain", "scanner-ref-on-split-page", "scanner-ref-on-large-folio"],
    shuttle_may_miss: &[],
    body: folio_split_vs_scanner,
}, Scenario {
    name: "folio-split-vs-compaction",
    description: "split_huge_page of a PMD-mapped THP vs compaction's isolate_migratepages_block on the last tail pfn (skip compound, folio_get_nontail_page, isolate, put back)",
    threads: &["cpu1: folio_lock; split_huge_page; folio_unlock; folio_put", "cpu2: isolate_migratepages_block(tail pfn); putback"],
    loom_nr: 2,
    shuttle_nr: 4,
    min_subpages: 2,
    loom_bound: None,
    arch: Arch::Arm64,
    must_reach: &["split-ok", "compaction-skipped-compound", "compaction-isolated-split-page"],
    shuttle_may_miss: &[],
    body: folio_split_vs_compaction,
}, Scenario {
    name: "folio-split-vs-page-idle",
    description: "split_huge_page of a PMD-mapped THP vs page_idle_get_folio on the last tail pfn (tail rejected, or folio_try_get and re-check), then put",
    threads: &["cpu1: folio_lock; split_huge_page; folio_unlock; folio_put", "cpu2: page_idle_get_folio(tail pfn); folio_put"],
    loom_nr: 2,
    shuttle_nr: 4,
    min_subpages: 2,
    loom_bound: None,
    arch: Arch::Arm64,
    must_reach: &["split-ok", "page-idle-got-split-page", "page-idle-skipped"],
    shuttle_may_miss: &[],
    body: folio_split_vs_page_idle,
}, Scenario {
    name: "folio-split-vs-pfn-walker",
    description: "split_huge_page of a PMD-mapped THP vs a PFN walker doing get_page_unless_zero(tail) ... put_page(tail)",
    threads: &["cpu1: folio_lock; split_huge_page; folio_unlock; folio_put", "cpu2: get_page_unless_zero(tail pfn); put_page"],
    loom_nr: 2,
    shuttle_nr: 4,
    min_subpages: 2,
    loom_bound: None,
    arch: Arch::Arm64,
    must_reach: &["split-ok", "walker-got-split-page", "walker-get-failed"],
    shuttle_may_miss: &[],
    body: folio_split_vs_pfn_walker,
}, Scenario {
    name: "folio-split-vs-gup-fast",
    description: "split_huge_page of a PTE-mapped THP vs GUP-fast (FOLL_PIN|FOLL_WRITE) on sub-page 1",
    threads: &["cpu1: folio_lock; split_huge_page; folio_unlock; folio_put", "cpu2: gup_fast(FOLL_PIN); (main) unpin_user_page"],
    loom_nr: 2,
    shuttle_nr: 4,
    min_subpages: 2,
    loom_bound: Some(4), // unbounded does not finish in 6 min (non-IPI flush); 4: 53,732 executions, 6.3 s
    arch: Arch::Arm64,
    must_reach: &["split-ok", "split-eagain", "gup-pinned-split-page", "gup-pinned-large-folio"],
    shuttle_may_miss: &[],
    body: folio_split_vs_gup_fast,
}, Scenario {
    name: "folio-split-vs-gup-fast-pmd",
    description: "split_huge_page of a PMD-mapped THP vs GUP-fast (FOLL_PIN, read-only) on sub-page 1 through the huge PMD",
    threads: &["cpu1: folio_lock; split_huge_page; folio_unlock; folio_put", "cpu2: gup_fast(FOLL_PIN) via the PMD leaf; (main) unpin_user_page"],
    loom_nr: 2,
    shuttle_nr: 4,
    min_subpages: 2,
    loom_bound: Some(4),
    arch: Arch::Arm64,
    must_reach: &["split-ok", "split-eagain", "gup-pinned-through-huge-pmd", "gup-fell-back"],
    shuttle_may_miss: &[],
    body: folio_split_vs_gup_fast_pmd,
}, Scenario {
    name: "folio-split-vs-gup-fast-x86",
    description: "folio-split-vs-gup-fast on x86 hardware: the TLB flush IPI waits for GUP-fast's IRQs-off section",
    threads: &["cpu1: folio_lock; split_huge_page; folio_unlock; folio_put", "cpu2: gup_fast(FOLL_PIN); (main) unpin_user_page"],
    loom_nr: 2,
    shuttle_nr: 4,
    min_subpages: 2,
    loom_bound: Some(4),
    arch: Arch::X86,
    must_reach: &["split-ok", "split-eagain", "gup-pinned-split-page", "gup-pinned-large-folio"],
    shuttle_may_miss: &[],
    body: folio_split_vs_gup_fast,
}, Scenario {
    name: "folio-split-vs-migration-wait",
    description: "split_huge_page of a PMD-mapped THP vs a fault on sub-page 1 that waits on a migration entry and refaults",
    threads: &["cpu1: folio_lock; split_huge_page; folio_unlock; folio_put", "cpu2: mmap_read_lock; fault: migration_entry_wait until the PTE is present"],
    loom_nr: 2,
    shuttle_nr: 4,
    min_subpages: 2,
    loom_bound: None,
    arch: Arch::Arm64,
    must_reach: &["split-ok", "fault-saw-huge", "fault-saw-pte", "fault-waited-on-migration-entry"],
    shuttle_may_miss: &[],
    body: folio_split_vs_migration_wait,
}, Scenario {
    name: "huge-fault-vs-pte-fault",
    description: "do_huge_pmd_anonymous_page vs do_anonymous_page (pte_alloc/pmd_install) on the same empty PMD, both under mmap_lock read",
    threads: &["cpu1: mmap_read_lock; do_huge_pmd_anonymous_page", "cpu2: mmap_read_lock; do_anonymous_page (sub-page 1)"],
    loom_nr: 2,
    shuttle_nr: 4,
    min_subpages: 2,
    loom_bound: None,
    arch: Arch::Arm64,
    must_reach: &["huge-won", "pte-won"],
    shuttle_may_miss: &[],
    body: huge_fault_vs_pte_fault,
}, Scenario {
    name: "pte-fault-vs-walker",
    description: "do_anonymous_page installing a recycled PTE table (pmd_install) vs follow_pmd_mask on another sub-page",
    threads: &["cpu1: mmap_read_lock; do_anonymous_page (sub-page 0)", "cpu2: mmap_read_lock; follow_pmd_mask(FOLL_GET, sub-page 1)"],
    loom_nr: 2,
    shuttle_nr: 4,
    min_subpages: 2,
    loom_bound: None,
    arch: Arch::Arm64,
    must_reach: &["walker-saw-none-pmd", "walker-saw-empty-pte"],
    shuttle_may_miss: &[],
    body: pte_fault_vs_walker,
}, Scenario {
    name: "pte-fault-vs-dontneed-reclaim",
    description: "MADV_DONTNEED of the whole PMD with PT_RECLAIM (table -> none, RCU-deferred free) vs do_anonymous_page on another sub-page",
    threads: &["cpu1: mmap_read_lock; zap_pmd_range(full); try_to_free_pte", "cpu2: mmap_read_lock; do_anonymous_page (sub-page 1)"],
    loom_nr: 2,
    shuttle_nr: 4,
    min_subpages: 2,
    loom_bound: None,
    arch: Arch::Arm64,
    must_reach: &["fault-mapped-in-live-table", "fault-refaulted", "table-reclaimed"],
    shuttle_may_miss: &[],
    body: pte_fault_vs_dontneed_reclaim,
}, Scenario {
    name: "pmd-install-vs-dontneed-reclaim",
    description: "MADV_DONTNEED of the whole PMD with PT_RECLAIM vs do_anonymous_page installing the PTE table on an empty PMD (pmd_install, under the PMD lock): try_get_and_clear_pmd's trylock can fail and fall back to try_to_free_pte",
    threads: &["cpu1: mmap_read_lock; zap_pmd_range(full); try_get_and_clear_pmd or try_to_free_pte", "cpu2: mmap_read_lock; do_anonymous_page (sub-page 1): __pte_alloc, pmd_install"],
    loom_nr: 2,
    shuttle_nr: 4,
    min_subpages: 2,
    loom_bound: None,
    arch: Arch::Arm64,
    must_reach: &["zap-saw-none-pmd", "fault-mapped-in-live-table", "fault-refaulted", "fault-mapped-then-reclaimed", "table-reclaimed", "pmd-lock-busy-fell-back", "fell-back-then-reclaimed", "fell-back-table-kept"],
    shuttle_may_miss: &["fell-back-table-kept"],
    body: pmd_install_vs_dontneed_reclaim,
}, Scenario {
    name: "gup-fast-vs-dontneed-reclaim",
    description: "MADV_DONTNEED of the whole PMD reclaiming the PTE table (try_to_free_pte) vs GUP-fast walking that table with IRQs off",
    threads: &["cpu1: mmap_read_lock; zap_pmd_range(full); try_to_free_pte", "cpu2: gup_fast(FOLL_GET, sub-page 0); put"],
    loom_nr: 2,
    shuttle_nr: 4,
    min_subpages: 2,
    loom_bound: None,
    arch: Arch::Arm64,
    must_reach: &["gup-got", "gup-fell-back", "table-reclaimed"],
    shuttle_may_miss: &[],
    body: gup_fast_vs_dontneed_reclaim,
}, Scenario {
    name: "split-pmd-vs-dontneed",
    description: "an rmap-driven split_huge_pmd (no mmap_lock) vs MADV_DONTNEED of the whole PMD (zap_pmd_range, mmap_lock read)",
    threads: &["cpu1: __split_huge_pmd (rmap walk: no mmap_lock)", "cpu2: mmap_read_lock; zap_pmd_range(full); check unmapped"],
    loom_nr: 2,
    shuttle_nr: 4,
    min_subpages: 2,
    loom_bound: None,
    arch: Arch::Arm64,
    must_reach: &["zapped-huge-pmd", "zapped-present-ptes"],
    shuttle_may_miss: &[],
    body: split_pmd_vs_dontneed,
}, Scenario {
    name: "dontneed-vs-change-huge-pmd",
    description: "change_huge_pmd (NUMA hinting, mmap_lock read) vs MADV_DONTNEED of the whole PMD (historical race Z02)",
    threads: &["cpu1: mmap_read_lock; change_huge_pmd", "cpu2: mmap_read_lock; zap_pmd_range(full); check unmapped"],
    loom_nr: 2,
    shuttle_nr: 4,
    min_subpages: 2,
    loom_bound: None,
    arch: Arch::Arm64,
    must_reach: &["zapped-huge-pmd", "changed-before-zap", "changed-nothing"],
    shuttle_may_miss: &[],
    body: dontneed_vs_change_huge_pmd,
}, Scenario {
    name: "madvise-free-vs-dontneed",
    description: "MADV_FREE of a whole huge PMD (madvise_free_huge_pmd marks it old and clean) vs MADV_DONTNEED of the whole PMD (historical race Z02, MADV_FREE form)",
    threads: &["cpu1: mmap_read_lock; madvise_free_pte_range(full)", "cpu2: mmap_read_lock; zap_pmd_range(full); check unmapped"],
    loom_nr: 2,
    shuttle_nr: 4,
    min_subpages: 2,
    loom_bound: None,
    arch: Arch::Arm64,
    must_reach: &["zapped-huge-pmd", "lazyfree-before-zap", "lazyfree-nothing"],
    shuttle_may_miss: &[],
    body: madvise_free_vs_dontneed,
}, Scenario {
    name: "madvise-free-split-vs-zap",
    description: "MADV_FREE of sub-page 1 of a PMD-mapped THP (madvise_free_huge_pmd: folio_trylock and folio_get under the PMD lock, then split_folio) vs MADV_DONTNEED of the whole PMD",
    threads: &["cpu1: mmap_read_lock; madvise_free_pte_range(sub-page 1): split_folio", "cpu2: mmap_read_lock; zap_pmd_range(full); check unmapped"],
    loom_nr: 2,
    shuttle_nr: 4,
    min_subpages: 2,
    loom_bound: Some(4), // 3: 28,934 executions, 4 s; none: > 900,000 in 120 s
    arch: Arch::Arm64,
    must_reach: &["madv-free-split-ok", "madv-free-split-failed", "madv-free-nothing", "zapped-huge-pmd", "zapped-present-ptes"],
    shuttle_may_miss: &[],
    body: madvise_free_split_vs_zap,
}, Scenario {
    name: "madvise-free-split-vs-deferred-split-scan",
    description: "MADV_FREE of the whole range of a partially mapped, queued THP (madvise_free_pte_range splits it: folio_trylock and folio_get under the PTE lock, then split_folio) vs deferred_split_scan of the same folio",
    threads: &["cpu1: mmap_read_lock; madvise_free_pte_range(full): split_folio", "cpu2: deferred_split_scan"],
    loom_nr: 2,
    shuttle_nr: 4,
    min_subpages: 2,
    loom_bound: Some(4), // 5: 80,092 executions, 14 s
    arch: Arch::Arm64,
    must_reach: &["madv-free-split-ok", "madv-free-split-failed", "madv-free-skipped", "scan-split", "scan-requeued", "thp-split"],
    shuttle_may_miss: &[],
    body: madvise_free_split_vs_deferred_split_scan,
}, Scenario {
    name: "folio-split-vs-zap",
    description: "split_huge_page of a PMD-mapped THP vs MADV_DONTNEED of sub-page 1 (zap of a present PTE or of a migration entry)",
    threads: &["cpu1: folio_lock; split_huge_page; folio_unlock; folio_put", "cpu2: mmap_read_lock; zap_pmd_range(sub-page 1)"],
    loom_nr: 2,
    shuttle_nr: 4,
    min_subpages: 2,
    loom_bound: Some(4),
    arch: Arch::Arm64,
    must_reach: &["split-ok", "split-eagain", "zapped-present-ptes", "zapped-migration-entry"],
    shuttle_may_miss: &[],
    body: folio_split_vs_zap,
}, Scenario {
    name: "deferred-split-scan-vs-zap",
    description: "deferred_split_scan (the shrinker) vs MADV_DONTNEED of the rest of a partially mapped, queued THP (the final put frees and unqueues it)",
    threads: &["cpu1: mmap_read_lock; zap_pmd_range(full)", "cpu2: deferred_split_scan"],
    loom_nr: 2,
    shuttle_nr: 4,
    min_subpages: 2,
    loom_bound: Some(4), // none: > 860k executions in 2 min; 5: ~30 s
    arch: Arch::Arm64,
    must_reach: &["scan-split", "scan-lost-race", "scan-found-nothing", "zapped-present-ptes"],
    shuttle_may_miss: &[],
    body: deferred_split_scan_vs_zap,
}, Scenario {
    name: "deferred-split-scan-vs-zap-batch",
    description: "deferred_split_scan vs MADV_DONTNEED of a PTE table holding a small folio and the rest of a partially mapped, queued THP: the batched free (folios_put_refs) unqueues the THP with the lruvec lock held",
    threads: &["cpu1: mmap_read_lock; zap_pmd_range(full); folios_put_refs", "cpu2: deferred_split_scan"],
    loom_nr: 2,
    shuttle_nr: 4,
    min_subpages: 2,
    loom_bound: Some(4),
    arch: Arch::Arm64,
    must_reach: &["scan-split", "scan-found-nothing", "unqueue-under-lru-lock"],
    shuttle_may_miss: &[],
    body: deferred_split_scan_vs_zap_batch,
}, Scenario {
    name: "deferred-split-scan-vs-folio-split",
    description: "deferred_split_scan vs split_huge_page (caller's reference + folio lock) of the same partially mapped, queued THP",
    threads: &["cpu1: folio_lock; split_huge_page; folio_unlock; folio_put", "cpu2: deferred_split_scan"],
    loom_nr: 2,
    shuttle_nr: 4,
    min_subpages: 2,
    loom_bound: Some(4), // none: > 860k executions in 2 min; 5: ~30 s
    arch: Arch::Arm64,
    must_reach: &["split-ok", "split-eagain", "scan-requeued", "scan-found-nothing"],
    shuttle_may_miss: &[],
    body: deferred_split_scan_vs_folio_split,
}, Scenario {
    name: "collapse-vs-gup-fast",
    description: "khugepaged collapse_huge_page of a table of small folios vs GUP-fast (FOLL_PIN|FOLL_WRITE) on sub-page 1 (historical race Z01)",
    threads: &["cpu1: collapse_huge_page (mmap_lock write, anon_vma write, pmdp_collapse_flush, sync, isolate, copy, set_pmd_at)", "cpu2: gup_fast(FOLL_PIN); (main) unpin_user_page"],
    loom_nr: 2,
    shuttle_nr: 4,
    min_subpages: 2,
    loom_bound: None,
    arch: Arch::Arm64,
    must_reach: &["collapse-ok", "collapse-page-count", "gup-pinned-small-page", "gup-pinned-huge-pmd", "gup-fell-back"],
    shuttle_may_miss: &[],
    body: collapse_vs_gup_fast,
}, Scenario {
    name: "collapse-then-zap-vs-gup-fast",
    description: "collapse_huge_page then MADV_DONTNEED of the new huge PMD (zap_huge_pmd frees the deposited old table at once) vs GUP-fast on sub-page 1 (Z01 follow-up)",
    threads: &["cpu1: collapse_huge_page; mmap_read_lock; zap_pmd_range(full)", "cpu2: gup_fast(FOLL_PIN); (main) unpin_user_page"],
    loom_nr: 2,
    shuttle_nr: 2, // N = 4 is caught at PCT iteration 1402 of 2000 (seed 0) with the rule off; 2 at 234
    min_subpages: 2,
    loom_bound: None,
    arch: Arch::Arm64,
    must_reach: &["collapse-ok", "collapse-page-count", "gup-pinned-small-page", "gup-fell-back"],
    shuttle_may_miss: &[],
    body: collapse_then_zap_vs_gup_fast,
}, Scenario {
    name: "cow-reuse-vs-split-pmd-other-mm",
    description: "write fault (do_huge_pmd_wp_page: reuse or split) on a fork-shared THP in mm0 vs split_huge_pmd of the same folio in mm1 (historical race Z14, CVE-2020-29368)",
    threads: &["cpu1: mmap_read_lock(mm0); do_huge_pmd_wp_page", "cpu2: mmap_read_lock(mm1); __split_huge_pmd(mm1)"],
    loom_nr: 2,
    shuttle_nr: 4,
    min_subpages: 2,
    loom_bound: Some(5), // 5: 22,482 executions, 3.2 s; none: > 440k executions in 2 min
    arch: Arch::Arm64,
    must_reach: &["wp-fallback"],
    shuttle_may_miss: &[],
    body: cow_reuse_vs_split_pmd_other_mm,
}, Scenario {
    name: "thp-migration-vs-zap",
    description: "THP migration of a PMD-mapped THP (set_pmd_migration_entry, freeze, remove_migration_pmd to a new folio) vs MADV_DONTNEED of the whole PMD (historical race Z07)",
    threads: &["cpu1: folio_trylock; try_to_migrate; __folio_migrate_mapping; remove_migration_pmd; unlock; put", "cpu2: mmap_read_lock; zap_pmd_range(full)"],
    loom_nr: 2,
    shuttle_nr: 4,
    min_subpages: 2,
    loom_bound: None,
    arch: Arch::Arm64,
    must_reach: &["migrated", "migration-eagain", "zapped-huge-pmd", "zapped-migration-pmd"],
    shuttle_may_miss: &[],
    body: thp_migration_vs_zap,
}, Scenario {
    name: "fork-vs-gup-fast-pin",
    description: "on x86-64: fork (dup_mmap: write_protect_seq odd, copy_huge_pmd shares or refuses a pinned folio) vs GUP-fast FOLL_PIN|FOLL_WRITE on sub-page 1 of the parent's PMD-mapped THP (57efa1fe5957)",
    threads: &["cpu1: dup_mmap (copy_page_range: write_protect_seq, copy_huge_pmd)", "cpu2: gup_fast(FOLL_PIN|FOLL_WRITE); (main) unpin_user_page"],
    loom_nr: 2,
    shuttle_nr: 4,
    min_subpages: 2,
    loom_bound: None,
    arch: Arch::X86,
    must_reach: &["fork-shared", "fork-refused-pinned", "pinned", "gup-fast-failed", "gup-fast-fork-in-progress", "gup-fast-raced-fork"],
    shuttle_may_miss: &[],
    body: fork_vs_gup_fast_pin,
}, Scenario {
    name: "thp-migration-retry-vs-scanner",
    description: "THP migration with two passes (migrate_pages_batch: a failed freeze keeps the folio unmapped behind its PMD migration entry for the next pass) vs a speculative pfn walker's get_page_unless_zero / put_page on the head",
    threads: &["cpu1: migrate_pages_batch(nr_pass = 2)", "cpu2: get_page_unless_zero(head); put_page"],
    loom_nr: 2,
    shuttle_nr: 4,
    min_subpages: 2,
    loom_bound: None,
    arch: Arch::Arm64,
    must_reach: &["migrated-first-pass", "migrated-after-retry", "migration-eagain", "walker-got-a-reference", "walker-found-zero"],
    // The walker's reference must span exactly one freeze: a window of three steps that PCT
    // (depth 3, 2,000 iterations) and random scheduling hit only now and then; loom, which
    // explores every interleaving, must reach it.
    shuttle_may_miss: &["migrated-after-retry", "migration-eagain", "walker-found-zero"],
    body: thp_migration_retry_vs_scanner,
}, Scenario {
    name: "thp-migration-vs-fault",
    description: "THP migration of a PMD-mapped THP vs a read fault through the PMD that may wait on the PMD migration entry (pmd_migration_entry_wait)",
    threads: &["cpu1: folio_trylock; try_to_migrate; __folio_migrate_mapping; remove_migration_pmd; unlock; put", "cpu2: mmap_read_lock; huge_pmd_access (pmd_migration_entry_wait, refault)"],
    loom_nr: 2,
    shuttle_nr: 4,
    min_subpages: 2,
    loom_bound: None,
    arch: Arch::Arm64,
    must_reach: &["migrated", "fault-waited-on-migration-entry", "fault-saw-old-folio", "fault-saw-new-folio"],
    shuttle_may_miss: &[],
    body: thp_migration_vs_fault,
}, Scenario {
    name: "folio-split-vs-thp-migration-other-mm",
    description: "split_huge_page of folio F (PTE-mapped in mm0; the anon_vma rmap walk visits mm1 too) vs THP migration of folio G, PMD-mapped in mm1 (historical race Z19)",
    threads: &["cpu1: folio_lock(F); split_huge_page(F); folio_unlock; folio_put", "cpu2: migrate_huge_page(G) in mm1"],
    loom_nr: 2,
    shuttle_nr: 4,
    min_subpages: 2,
    loom_bound: None,
    arch: Arch::Arm64,
    must_reach: &["split-ok", "migrated", "rmap-walk-met-migration-pmd"],
    shuttle_may_miss: &[],
    body: folio_split_vs_thp_migration_other_mm,
}, Scenario {
    name: "folio-split-vs-gup-fast-vs-scanner",
    description: "three CPUs: split_huge_page of a PTE-mapped THP vs GUP-fast (FOLL_PIN|FOLL_WRITE) on sub-page 1 vs a physical scanner (__get_hwpoison_page) on the last tail pfn",
    threads: &["cpu1: folio_lock; split_huge_page; folio_unlock; folio_put", "cpu2: gup_fast(FOLL_PIN); (main) unpin_user_page", "cpu3: __get_hwpoison_page(tail pfn); (main) folio_put"],
    loom_nr: 2,
    shuttle_nr: 4,
    min_subpages: 2,
    loom_bound: Some(2), // 2: 188,507 executions, 29 s; 3: > 1.2M executions in 200 s
    arch: Arch::Arm64,
    must_reach: &["split-ok", "split-eagain", "gup-pinned", "scanner-got-ref", "both-held-split-eagain"],
    shuttle_may_miss: &[],
    body: folio_split_vs_gup_fast_vs_scanner,
}, Scenario {
    name: "split-pmd-vs-gup-fast",
    description: "split_huge_pmd (mmap_lock read) vs GUP-fast (FOLL_PIN|FOLL_WRITE) on sub-page 1: the invalidated PMD is rejected, the pin lands on the same folio through the PMD or the new PTE",
    threads: &["cpu1: mmap_read_lock; __split_huge_pmd", "cpu2: gup_fast(FOLL_PIN); (main) unpin_user_page"],
    loom_nr: 2,
    shuttle_nr: 4,
    min_subpages: 2,
    loom_bound: None,
    arch: Arch::Arm64,
    must_reach: &["gup-pinned-huge-pmd", "gup-pinned-small-page", "gup-fell-back"],
    shuttle_may_miss: &[],
    body: split_pmd_vs_gup_fast,
}, Scenario {
    name: "split-pmd-migration-entry-vs-gup-fast",
    description: "on arm64: split_huge_pmd of a PMD holding a THP migration entry (the migration is between migrate_folio_unmap and migrate_folio_move) vs GUP-fast on sub-page 1, which must never take the entry for a present PMD (historical race Z12)",
    threads: &["(main) migrate_folio_unmap", "cpu1: mmap_read_lock; __split_huge_pmd", "cpu2: gup_fast(FOLL_PIN|FOLL_WRITE)", "(main) migrate_folio_move"],
    loom_nr: 2,
    shuttle_nr: 4,
    min_subpages: 2,
    loom_bound: None,
    arch: Arch::Arm64,
    must_reach: &["gup-fast-met-migration-pmd", "gup-fast-met-migration-pte"],
    shuttle_may_miss: &[],
    body: split_pmd_migration_entry_vs_gup_fast,
}, Scenario {
    name: "thp-migration-vs-split-pmd",
    description: "THP migration of a PMD-mapped THP vs split_huge_pmd (mmap_lock read) of the same PMD: the split meets the present PMD (the migration then unmaps PTEs), the PMD migration entry (the migration finishes at PTE level), or the new folio's PMD",
    threads: &["cpu1: folio_trylock; try_to_migrate; __folio_migrate_mapping; remove_migration_ptes; unlock; put", "cpu2: mmap_read_lock; __split_huge_pmd"],
    loom_nr: 2,
    shuttle_nr: 4,
    min_subpages: 2,
    loom_bound: None,
    arch: Arch::Arm64,
    must_reach: &["migrated", "migration-unmapped-pmd", "migration-unmapped-ptes", "split-pmd-migration-entry", "split-new-folio-pmd"],
    shuttle_may_miss: &[],
    body: thp_migration_vs_split_pmd,
}, Scenario {
    name: "fork-vs-thp-migration",
    description: "THP migration of a PMD-mapped THP in mm0 vs fork of mm0 into mm1 (copy_huge_pmd copies the huge PMD, or the PMD migration entry, made readable): the migration's rmap walk must map the new folio in both",
    threads: &["cpu1: folio_trylock; try_to_migrate; __folio_migrate_mapping; remove_migration_ptes; unlock; put", "cpu2: dup_mmap: mmap_write_lock(mm0, mm1); vma_start_write; copy_huge_pmd(mm0 -> mm1)"],
    loom_nr: 2,
    shuttle_nr: 4,
    min_subpages: 2,
    loom_bound: None,
    arch: Arch::Arm64,
    must_reach: &["migrated", "fork-copied-huge-pmd", "fork-copied-migration-entry"],
    shuttle_may_miss: &[],
    body: fork_vs_thp_migration,
}, Scenario {
    name: "collapse-vs-pte-fault",
    description: "khugepaged collapse_huge_page of a table with sub-page 1 none vs a write fault on sub-page 1 under the per-VMA lock (lock_vma_under_rcu, else mmap_lock read), refaulting until mapped",
    threads: &["cpu1: collapse_huge_page (mmap_write_lock, vma_start_write, anon_vma write)", "cpu2: lock_vma_under_rcu or mmap_read_lock; do_anonymous_page(sub-page 1), refault until mapped"],
    loom_nr: 2,
    shuttle_nr: 4,
    min_subpages: 2,
    loom_bound: None,
    arch: Arch::Arm64,
    must_reach: &["collapse-ok", "fault-found-huge-pmd", "fault-mapped-pte", "fault-fell-back-to-mmap-lock"],
    shuttle_may_miss: &[],
    body: collapse_vs_pte_fault,
}, Scenario {
    name: "hvo-optimize-vs-pfn-walker",
    description: "hugetlb_vmemmap_optimize_folio (split the vmemmap PMD, remap tails read-only) then folio_ref_unfreeze vs a speculative get_page_unless_zero on the future fake head (Z09); nr = struct pages",
    threads: &["cpu1: hugetlb_vmemmap_optimize_folio; folio_ref_unfreeze(1)", "cpu2: get_page_unless_zero(pfn 2): rcu_read_lock; page_count_writable; atomic_add_unless"],
    loom_nr: 4,
    shuttle_nr: 4,
    min_subpages: 4,
    loom_bound: None,
    arch: Arch::Arm64,
    must_reach: &["walker-key-off", "walker-count-zero", "walker-fake-head", "walker-read-original-page", "walker-read-reuse-page"],
    shuttle_may_miss: &[],
    body: hvo_optimize_vs_pfn_walker,
}, Scenario {
    name: "hvo-optimize-vs-neighbour-split",
    description: "hugetlb_vmemmap_optimize_folio then folio_ref_unfreeze vs a neighbouring folio's batch pre-split (vmemmap_remap_split) of the shared, still-leaf vmemmap PMD",
    threads: &["cpu1: hugetlb_vmemmap_optimize_folio; folio_ref_unfreeze(1)", "cpu2: vmemmap_remap_split (neighbour folio, same vmemmap PMD)"],
    loom_nr: 4,
    shuttle_nr: 4,
    min_subpages: 4,
    loom_bound: None,
    arch: Arch::Arm64,
    must_reach: &["neighbour-split-the-pmd", "neighbour-lost-the-race", "neighbour-found-it-split"],
    shuttle_may_miss: &[],
    body: hvo_optimize_vs_neighbour_split,
}, Scenario {
    name: "hvo-optimize-presplit-vs-pfn-walker",
    description: "hvo-optimize-vs-pfn-walker with the vmemmap PMD already split into PTEs (batch form / neighbour's HVO): only vmemmap_remap_pte's smp_wmb publishes the head copy",
    threads: &["cpu1: hugetlb_vmemmap_optimize_folio; folio_ref_unfreeze(1)", "cpu2: get_page_unless_zero(pfn 2)"],
    loom_nr: 4,
    shuttle_nr: 4,
    min_subpages: 4,
    loom_bound: None,
    arch: Arch::Arm64,
    must_reach: &["walker-key-off", "walker-count-zero", "walker-fake-head", "walker-read-original-page", "walker-read-reuse-page"],
    shuttle_may_miss: &[],
    body: hvo_optimize_presplit_vs_pfn_walker,
}, Scenario {
    name: "hvo-optimize-nocopy-vs-pfn-walker",
    description: "hvo-optimize-vs-pfn-walker with the new head vmemmap page's allocation failing (allocation #0): the head vmemmap page is reused in place",
    threads: &["cpu1: hugetlb_vmemmap_optimize_folio (allocation #0 fails); folio_ref_unfreeze(1)", "cpu2: get_page_unless_zero(pfn 2)"],
    loom_nr: 4,
    shuttle_nr: 4,
    min_subpages: 4,
    loom_bound: None,
    arch: Arch::Arm64,
    must_reach: &["walker-key-off", "walker-count-zero", "walker-fake-head", "walker-read-original-page", "walker-read-reuse-page"],
    shuttle_may_miss: &[],
    body: hvo_optimize_nocopy_vs_pfn_walker,
}, Scenario {
    name: "hvo-optimize-enomem-split-vs-pfn-walker",
    description: "hugetlb_vmemmap_optimize_folio with -ENOMEM splitting the (only) vmemmap PMD (allocation #1): nothing remapped, the optimize fails cleanly, then folio_ref_unfreeze vs get_page_unless_zero(pfn 2)",
    threads: &["cpu1: hugetlb_vmemmap_optimize_folio (-ENOMEM at allocation #1); folio_ref_unfreeze(1)", "cpu2: get_page_unless_zero(pfn 2)"],
    loom_nr: 4,
    shuttle_nr: 4,
    min_subpages: 4,
    loom_bound: None,
    arch: Arch::Arm64,
    must_reach: &["optimize-enomem", "walker-key-off", "walker-count-zero", "walker-read-original-page"],
    shuttle_may_miss: &[],
    body: hvo_optimize_enomem_split_vs_pfn_walker,
}, Scenario {
    name: "hvo-optimize-enomem-vs-pfn-walker",
    description: "hugetlb_vmemmap_optimize_folio of a folio spanning two vmemmap PMDs, -ENOMEM injected splitting the second (rollback of the remapped PTEs), then folio_ref_unfreeze vs get_page_unless_zero(pfn 2)",
    threads: &["cpu1: hugetlb_vmemmap_optimize_folio (-ENOMEM at allocation #2); folio_ref_unfreeze(1)", "cpu2: get_page_unless_zero(pfn 2)"],
    loom_nr: 8,
    shuttle_nr: 8,
    min_subpages: 8,
    loom_bound: None,
    arch: Arch::Arm64,
    must_reach: &["optimize-enomem", "walker-key-off", "walker-count-zero", "walker-read-reuse-page"],
    shuttle_may_miss: &[],
    body: hvo_optimize_enomem_vs_pfn_walker,
}, Scenario {
    name: "hvo-restore-vs-pfn-walker",
    description: "hugetlb_vmemmap_restore_folio of an optimized frozen folio vs get_page_unless_zero(pfn 2)",
    threads: &["cpu1: hugetlb_vmemmap_restore_folio", "cpu2: get_page_unless_zero(pfn 2)"],
    loom_nr: 4,
    shuttle_nr: 4,
    min_subpages: 4,
    loom_bound: None,
    arch: Arch::Arm64,
    must_reach: &["walker-key-off", "walker-count-zero", "walker-read-reuse-page", "walker-read-restored-page"],
    shuttle_may_miss: &[],
    body: hvo_restore_vs_pfn_walker,
}, Scenario {
    name: "hvo-restore-enomem-vs-pfn-walker",
    description: "hugetlb_vmemmap_restore_folio with -ENOMEM at its first page allocation (the folio stays optimized) vs get_page_unless_zero(pfn 2)",
    threads: &["cpu1: hugetlb_vmemmap_restore_folio (-ENOMEM in alloc_vmemmap_page_list)", "cpu2: get_page_unless_zero(pfn 2)"],
    loom_nr: 4,
    shuttle_nr: 4,
    min_subpages: 4,
    loom_bound: None,
    arch: Arch::Arm64,
    must_reach: &["restore-enomem", "walker-count-zero", "walker-read-reuse-page"],
    shuttle_may_miss: &[],
    body: hvo_restore_enomem_vs_pfn_walker,
}];

/// A PMD-mapped THP of which MADV_DONTNEED unmapped sub-page 1 (PMD split, then the PTE
/// zapped): PTE-mapped, partially mapped, on the deferred split queue.
fn setup_partially_mapped(nr: usize) -> Arc<Machine> {
    let m = setup_huge_pmd(nr);
    {
        let _r = m.mms[0].mmap_lock.down_read();
        zap_pmd_range(&m, 0, ZapRange::Page(1));
    }
    assert!(
        m.memmap.deferred[0].read() == DEFERRED_QUEUED,
        "[model bug] partial unmap did not queue the folio for deferred split"
    );
    m
}

fn record_scan(outcomes: &Outcomes, s: &DeferredScan) {
    if s.split > 0 {
        record(outcomes, "scan-split");
    }
    if s.lost_race > 0 {
        record(outcomes, "scan-lost-race");
    }
    if s.removed > 0 {
        record(outcomes, "scan-removed");
    }
    if s.requeued > 0 {
        record(outcomes, "scan-requeued");
    }
    if *s == DeferredScan::default() {
        record(outcomes, "scan-found-nothing");
    }
}

/// `op` on one CPU (under mmap_lock read when `mmap_read`) ∥ the deferred split shrinker
/// (`deferred_split_scan`, one folio) on another; both results, once both finished.
fn vs_deferred_split_scan<R: Send + 'static>(
    m: &Arc<Machine>,
    mmap_read: bool,
    op: fn(&Machine) -> R,
) -> (R, DeferredScan) {
    let m1 = m.clone();
    let cpu1 = spawn(move || {
        let _r = mmap_read.then(|| m1.mms[0].mmap_lock.down_read());
        op(&m1)
    });
    let m2 = m.clone();
    let scanner = spawn(move || deferred_split_scan(&m2, 1));
    let r = cpu1.join();
    (r, scanner.join())
}

/// The deferred split shrinker ∥ MADV_DONTNEED of the rest of the partially mapped THP (the
/// final zap: its last `folio_put` frees the folio and unqueues it).
fn deferred_split_scan_vs_zap(nr: usize, outcomes: &Outcomes) {
    let m = setup_partially_mapped(nr);
    let (z, s) = vs_deferred_split_scan(&m, true, |m| zap_pmd_range(m, 0, ZapRange::Full));
    record_zap(outcomes, &z);
    record_scan(outcomes, &s);
    check_dontneed_unmapped(&m);
    // Nothing is mapped and nobody holds a reference: every page went back to the allocator.
    check_freed(&m, 0..=nr - 1, Inv::I8UseAfterFree, UNREFERENCED_NOT_FREED);
    check_quiescent(&m, &[]);
}

/// deferred-split-scan-vs-zap with a small folio mapped where the THP was partially unmapped
/// (sub-page 0), so the zap's batch (`folios_put_refs`) frees the small folio first and holds
/// the lruvec lock when the THP's last reference goes and it is unqueued (split_queue_lock
/// inside the lruvec lock), while the shrinker may be splitting it (split_queue_lock, then the
/// lruvec lock, never nested).
fn deferred_split_scan_vs_zap_batch(nr: usize, outcomes: &Outcomes) {
    let m = setup_huge_pmd_slots(nr, 2);
    {
        let _r = m.mms[0].mmap_lock.down_read();
        zap_pmd_range(&m, 0, ZapRange::Page(0));
        assert!(
            m.memmap.deferred[0].read() == DEFERRED_QUEUED,
            "[model bug] partial unmap did not queue the folio for deferred split"
        );
        assert!(
            do_anonymous_page(&m, 0, 0, nr) == PteFault::Mapped,
            "[model bug] setup fault"
        );
    }
    let (z, s) = vs_deferred_split_scan(&m, true, |m| zap_pmd_range(m, 0, ZapRange::Full));
    record_zap(outcomes, &z);
    record_scan(outcomes, &s);
    record_observed(outcomes, &m, &["unqueue-under-lru-lock"]);
    check_dontneed_unmapped(&m);
    check_freed(&m, 0..=nr, Inv::I8UseAfterFree, UNREFERENCED_NOT_FREED);
    check_quiescent(&m, &[]);
}

/// The deferred split shrinker ∥ another splitter of the same queued folio (memory-failure's
/// `split_huge_page` with its own reference and the folio lock).
fn deferred_split_scan_vs_folio_split(nr: usize, outcomes: &Outcomes) {
    let m = setup_partially_mapped(nr);
    folio_get(&m.memmap, 0);
    let (split, s) = vs_deferred_split_scan(&m, false, split_caller);
    record(
        outcomes,
        match split {
            Ok(()) => "split-ok",
            Err(SplitError::Again) => "split-eagain",
            Err(_) => "split-other",
        },
    );
    record_scan(outcomes, &s);
    check_quiescent(&m, &[]);
}

/// MADV_FREE of the whole range of a partially mapped, queued THP (`madvise_free_pte_range`: no
/// PTE batch covers the folio, so it is split — trylock and reference under the PTE lock, then
/// `split_folio` without it) ∥ the deferred split shrinker on the same folio: two split entry
/// points, the folio lock and the references decide which one splits.
fn madvise_free_split_vs_deferred_split_scan(nr: usize, outcomes: &Outcomes) {
    let m = setup_partially_mapped(nr);
    let (marked, s) =
        vs_deferred_split_scan(&m, true, |m| madvise_free_pte_range(m, 0, ZapRange::Full));
    record_scan(outcomes, &s);
    record_observed(
        outcomes,
        &m,
        &[
            "madv-free-split-ok",
            "madv-free-split-failed",
            "madv-free-skipped",
        ],
    );
    // Whoever split it, every mapped page ends an order-0 folio marked by MADV_FREE, unless
    // MADV_FREE met the THP whole and left it (a busy lock, a failed split).
    if m.memmap
        .page(0)
        .flags
        .test_bit(thp_model::mm::page::PG_HEAD)
    {
        record(outcomes, "thp-left-whole");
    } else {
        record(outcomes, "thp-split");
        assert!(
            !m.memmap.is_allocated(1),
            "[{}] the unmapped sub-page 1 survived the split",
            Inv::I11SplitEndsClean.tag()
        );
    }
    assert!(marked < nr, "[model bug] marked {marked} folios");
    check_quiescent(&m, &[]);
}

/// `nr` small anonymous folios (pfns nr..2nr) mapped by the PTEs of one table; memmap slot 0
/// is free for khugepaged's new huge folio.
fn setup_small_ptes(nr: usize) -> Arc<Machine> {
    let m = Arc::new(Machine::new(nr, 2, 1, 1));
    {
        let _r = m.mms[0].mmap_lock.down_read();
        for idx in 0..nr {
            assert!(
                do_anonymous_page(&m, 0, idx, nr + idx) == PteFault::Mapped,
                "[model bug] setup fault"
            );
        }
    }
    m
}

fn record_collapse(outcomes: &Outcomes, r: ScanResult) {
    record(
        outcomes,
        match r {
            ScanResult::Succeed => "collapse-ok",
            ScanResult::PageCount => "collapse-page-count",
            _ => "collapse-other-failure",
        },
    );
}

/// What a pin GUP-fast returned must still be what the address maps while the pin is held
/// (I15): a collapse that replaced a pinned page breaks it (Z01).
fn check_pin_still_mapped(m: &Machine, fp: &thp_model::mm::gup::FastPage, idx: usize) {
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

fn record_pin(outcomes: &Outcomes, got: &Option<thp_model::mm::gup::FastPage>) {
    record(
        outcomes,
        match got {
            Some(fp) if fp.via_pmd => "gup-pinned-huge-pmd",
            Some(_) => "gup-pinned-small-page",
            None => "gup-fell-back",
        },
    );
}

fn pin_held(m: &Machine, folio: usize) -> i32 {
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

/// khugepaged `collapse_huge_page` of a PTE table of small folios ∥ GUP-fast (FOLL_PIN |
/// FOLL_WRITE) on sub-page 1 (historical race Z01).
fn collapse_vs_gup_fast(nr: usize, outcomes: &Outcomes) {
    let m = setup_small_ptes(nr);
    let m1 = m.clone();
    let collapser = spawn(move || collapse_huge_page(&m1, 0, 0));
    let m2 = m.clone();
    let gup = spawn(move || gup_fast(&m2, 0, 1, Foll::Pin, true));
    let r = collapser.join();
    let got = gup.join();
    record_collapse(outcomes, r);
    record_pin(outcomes, &got);
    if let Some(fp) = got {
        check_pin_still_mapped(&m, &fp, 1);
        check_quiescent(&m, &[(fp.folio, pin_held(&m, fp.folio))]);
        gup_put_folio(&m, fp.folio, 1, Foll::Pin);
    }
    check_quiescent(&m, &[]);
}

/// khugepaged `collapse_huge_page` of a table whose sub-page 1 is none ∥ a write fault on
/// sub-page 1 under the per-VMA lock (`lock_vma_under_rcu`; falls back to `mmap_lock` read
/// while the collapse has the VMA write-locked), refaulting until the address is mapped.
/// Sub-page 1 ends up mapped either by its own PTE (the fault came first, then the collapse
/// gave up or copied it) or by the new huge PMD.
fn collapse_vs_pte_fault(nr: usize, outcomes: &Outcomes) {
    use thp_model::mm::mmap_lock::lock_vma_under_rcu;
    let m = setup_one_small_pte(nr, 2);
    let m1 = m.clone();
    let collapser = spawn(move || collapse_huge_page(&m1, 0, 0));
    let m2 = m.clone();
    let faulter = spawn(move || {
        let mm = &m2.mms[0];
        let mut fell_back = false;
        for _ in 0..3 {
            if matches!(Pmd::decode(mm.pmd.read()), Pmd::Huge { .. }) {
                return (true, fell_back); // the huge PMD maps it: a huge-PMD fault, done
            }
            let r = match lock_vma_under_rcu(mm) {
                Some(_v) => do_anonymous_page(&m2, 0, 1, nr + 1),
                None => {
                    fell_back = true;
                    let _r = mm.mmap_lock.down_read();
                    do_anonymous_page(&m2, 0, 1, nr + 1)
                }
            };
            if r == PteFault::Mapped {
                return (false, fell_back);
            }
            cpu_relax();
        }
        panic!(
            "[{}] the fault on sub-page 1 refaulted three times",
            Inv::I12PmdTransientlyNone.tag()
        );
    });
    let r = collapser.join();
    let (found_huge, fell_back) = faulter.join();
    record_collapse(outcomes, r);
    record(
        outcomes,
        if found_huge {
            "fault-found-huge-pmd"
        } else {
            "fault-mapped-pte"
        },
    );
    if fell_back {
        record(outcomes, "fault-fell-back-to-mmap-lock");
    }
    check_quiescent(&m, &[]);
    let mapped = match Pmd::decode(m.mms[0].pmd.read()) {
        Pmd::Huge { .. } => true,
        Pmd::Table(t) => Pte::decode(m.mms[0].tables[t].ptes[1].read()).present(),
        _ => false,
    };
    assert!(
        mapped,
        "[{}] sub-page 1 is not mapped after its fault returned",
        Inv::I4MapcountMismatch.tag()
    );
}

/// khugepaged `collapse_huge_page` followed by MADV_DONTNEED of the new huge PMD (whose
/// `zap_huge_pmd` frees the deposited table, the old PTE table, at once) ∥ GUP-fast on
/// sub-page 1, which may still be walking the old table (Z01 follow-up).
fn collapse_then_zap_vs_gup_fast(nr: usize, outcomes: &Outcomes) {
    let m = setup_small_ptes(nr);
    let m1 = m.clone();
    let collapser = spawn(move || {
        let r = collapse_huge_page(&m1, 0, 0);
        let _r = m1.mms[0].mmap_lock.down_read();
        zap_pmd_range(&m1, 0, ZapRange::Full);
        r
    });
    let m2 = m.clone();
    let gup = spawn(move || gup_fast(&m2, 0, 1, Foll::Pin, true));
    let r = collapser.join();
    let got = gup.join();
    record_collapse(outcomes, r);
    record_pin(outcomes, &got);
    check_dontneed_unmapped(&m);
    if let Some(fp) = got {
        gup_put_folio(&m, fp.folio, 1, Foll::Pin);
    }
    check_quiescent(&m, &[]);
}

/// mm0 took a huge anonymous fault and forked: mm1's PMD maps the same folio, both
/// read-only, AnonExclusive cleared, refcount 2, entire mapcount 2.
pub fn setup_forked_huge_pmd(nr: usize) -> Arc<Machine> {
    let m = setup_huge_pmd_mms(nr, 1, 2);
    assert!(dup_mmap(&m, 0, 1), "[model bug] fork failed");
    m
}

/// fork (`dup_mmap` → `copy_page_range` → `copy_huge_pmd`) ∥ GUP-fast FOLL_PIN|FOLL_WRITE on
/// sub-page 1 of the parent's PMD-mapped THP, on x86-64. A pin that GUP-fast returns must be on
/// a page the parent maps exclusively (AnonExclusive) and the child does not share: either the
/// fork saw the pin and did not share the folio, or GUP-fast saw the fork (`write_protect_seq`)
/// and backed off.
fn fork_vs_gup_fast_pin(nr: usize, outcomes: &Outcomes) {
    use thp_model::mm::page::PG_ANON_EXCLUSIVE;
    let m = setup_huge_pmd_mms(nr, 1, 2);
    let m1 = m.clone();
    let forker = spawn(move || dup_mmap(&m1, 0, 1));
    let m2 = m.clone();
    let pinner = spawn(move || gup_fast(&m2, 0, 1, Foll::Pin, true));
    let shared = forker.join();
    let pin = pinner.join();
    record(
        outcomes,
        if shared {
            "fork-shared"
        } else {
            "fork-refused-pinned"
        },
    );
    record_observed(
        outcomes,
        &m,
        &["gup-fast-fork-in-progress", "gup-fast-raced-fork"],
    );
    match pin {
        Some(p) => {
            record(outcomes, "pinned");
            let child_maps =
                matches!(Pmd::decode(m.mms[1].pmd.read()), Pmd::Huge { pfn, .. } if pfn == p.folio);
            let exclusive = match Pmd::decode(m.mms[0].pmd.read()) {
                Pmd::Huge { .. } => m.memmap.page(p.folio).flags.test_bit(PG_ANON_EXCLUSIVE),
                _ => m.memmap.page(p.page).flags.test_bit(PG_ANON_EXCLUSIVE),
            };
            assert!(
                exclusive && !child_maps,
                "[{}] GUP-fast pinned page {} for the parent, but it is {} after the fork",
                Inv::I16PinnedNotExclusive.tag(),
                p.page,
                if child_maps {
                    "shared with the child"
                } else {
                    "not AnonExclusive"
                }
            );
            gup_put_folio(&m, p.folio, 1, Foll::Pin);
        }
        None => record(outcomes, "gup-fast-failed"),
    }
    check_quiescent(&m, &[]);
}

/// A write fault on mm0's read-only huge PMD (COW: reuse or split and copy) ∥ split_huge_pmd
/// of the same folio's PMD in the forked mm1 (historical race Z14, CVE-2020-29368).
fn cow_reuse_vs_split_pmd_other_mm(nr: usize, outcomes: &Outcomes) {
    let m = setup_forked_huge_pmd(nr);
    let m1 = m.clone();
    let writer = spawn(move || {
        let _r = m1.mms[0].mmap_lock.down_read();
        do_huge_pmd_wp_page(&m1, 0)
    });
    let m2 = m.clone();
    let splitter = spawn(move || {
        let _r = m2.mms[1].mmap_lock.down_read();
        __split_huge_pmd(&m2, 1, false)
    });
    let w = writer.join();
    splitter.join();
    record(
        outcomes,
        match w {
            WpResult::Reused => "wp-reused",
            WpResult::Fallback => "wp-fallback",
            WpResult::Retry => "wp-retry",
        },
    );
    // mm1 still maps every page: a reuse would leave an AnonExclusive page mapped twice (I21).
    check_quiescent(&m, &[]);
}

/// THP migration of a PMD-mapped THP (PMD migration entry, copy, `remove_migration_pmd` to the
/// new folio) ∥ MADV_DONTNEED of the whole PMD (historical race Z07).
fn thp_migration_vs_zap(nr: usize, outcomes: &Outcomes) {
    let m = setup_huge_pmd_slots(nr, 2);
    folio_get(&m.memmap, 0); // isolate_lru_folio's reference, the migration caller's
    let m1 = m.clone();
    let migrator = spawn(move || migrate_huge_page(&m1, 0, 1));
    let m2 = m.clone();
    let zapper = spawn(move || {
        let _r = m2.mms[0].mmap_lock.down_read();
        zap_pmd_range(&m2, 0, ZapRange::Full)
    });
    let r = migrator.join();
    let z = zapper.join();
    record(
        outcomes,
        if r.is_ok() {
            "migrated"
        } else {
            "migration-eagain"
        },
    );
    record_zap(outcomes, &z);
    check_dontneed_unmapped(&m);
    if r.is_err() {
        folio_put(&m.memmap, 0, nr); // putback_movable_pages
    }
    // Nothing maps either folio and nobody holds a reference: both were freed.
    for pfn in 0..2 * nr {
        assert!(
            !m.memmap.is_allocated(pfn),
            "[{}] pfn {pfn} is unmapped and unreferenced but was never freed",
            Inv::I8UseAfterFree.tag()
        );
    }
    check_quiescent(&m, &[]);
}

/// THP migration of a PMD-mapped THP ∥ a read access through the PMD that may find the PMD
/// migration entry and sleep on the folio lock (`pmd_migration_entry_wait`).
fn thp_migration_vs_fault(nr: usize, outcomes: &Outcomes) {
    let m = setup_huge_pmd_slots(nr, 2);
    folio_get(&m.memmap, 0); // the migration caller's isolation reference
    let m1 = m.clone();
    let migrator = spawn(move || migrate_huge_page(&m1, 0, 1));
    let m2 = m.clone();
    let faulter = spawn(move || {
        let _r = m2.mms[0].mmap_lock.down_read();
        huge_pmd_access(&m2, 0)
    });
    let r = migrator.join();
    let a = faulter.join();
    record(
        outcomes,
        if r.is_ok() {
            "migrated"
        } else {
            "migration-eagain"
        },
    );
    if a.waits > 0 {
        record(outcomes, "fault-waited-on-migration-entry");
    }
    record(
        outcomes,
        match a.folio {
            Some(0) => "fault-saw-old-folio",
            Some(_) => "fault-saw-new-folio",
            None => "fault-found-nothing",
        },
    );
    if r.is_err() {
        folio_put(&m.memmap, 0, nr);
    }
    check_quiescent(&m, &[]);
}

/// THP migration with two passes (`migrate_pages_batch`) ∥ a speculative pfn walker that takes
/// and drops a reference on the head (`get_page_unless_zero`, then `put_page`). A walker
/// reference held across the freeze fails the move; the folio then stays unmapped behind its
/// PMD migration entry, both folios locked, until the next pass; after the last pass the
/// source is remapped. Either way nothing is left behind.
fn thp_migration_retry_vs_scanner(nr: usize, outcomes: &Outcomes) {
    let m = setup_huge_pmd_slots(nr, 2);
    folio_get(&m.memmap, 0); // the migration caller's isolation reference
    let m1 = m.clone();
    let migrator = spawn(move || migrate_pages_batch(&m1, 0, 1, 2));
    let m2 = m.clone();
    let walker = spawn(move || pfn_walker_get_put(&m2, 0));
    let r = migrator.join();
    let got = walker.join();
    record(
        outcomes,
        match r {
            Ok(_) if m.observed("migrate-move-retried") => "migrated-after-retry",
            Ok(_) => "migrated-first-pass",
            Err(_) => "migration-eagain",
        },
    );
    record(
        outcomes,
        if got {
            "walker-got-a-reference"
        } else {
            "walker-found-zero"
        },
    );
    match r {
        Ok(dst) => assert!(
            !m.memmap.is_allocated(0)
                && matches!(Pmd::decode(m.mms[0].pmd.read()), Pmd::Huge { pfn, .. } if pfn == dst),
            "[{}] migrated, but the old folio is not freed or the PMD does not map the new one",
            Inv::I11SplitEndsClean.tag()
        ),
        Err(_) => {
            assert!(
                matches!(Pmd::decode(m.mms[0].pmd.read()), Pmd::Huge { pfn: 0, .. }),
                "[{}] failed migration did not restore the PMD",
                Inv::I11SplitEndsClean.tag()
            );
            folio_put(&m.memmap, 0, nr);
        }
    }
    check_quiescent(&m, &[]);
}

/// A THP migration stopped between its two halves (`migrate_pages_batch` unmaps a whole batch,
/// then moves it: the window is real) leaves a PMD migration entry; `split_huge_pmd` of that
/// PMD (e.g. mprotect of part of the range) ∥ GUP-fast on sub-page 1. Every value GUP-fast can
/// read is non-present (the migration entry, then a table of PTE migration entries), unless
/// the split invalidates the entry first (historical race Z12: on arm64 it then reads as a
/// present huge PMD). The migration then finishes at PTE level.
fn split_pmd_migration_entry_vs_gup_fast(nr: usize, outcomes: &Outcomes) {
    use thp_model::mm::migrate::{migrate_folio_move, migrate_folio_unmap, try_to_unmap_flush};
    let m = setup_huge_pmd_slots(nr, 2);
    folio_get(&m.memmap, 0); // the migration caller's isolation reference
    let u = migrate_folio_unmap(&m, 0, 1).expect("[model bug] unmap of an unpinned THP");
    let m1 = m.clone();
    let splitter = spawn(move || {
        let _r = m1.mms[0].mmap_lock.down_read();
        __split_huge_pmd(&m1, 0, false);
    });
    let m2 = m.clone();
    let gup = spawn(move || gup_fast(&m2, 0, 1, Foll::Pin, true));
    splitter.join();
    let got = gup.join();
    assert!(
        got.is_none(),
        "[{}] GUP-fast pinned {got:?} while every mapping was a migration entry",
        Inv::I15GupFast.tag()
    );
    record_observed(
        outcomes,
        &m,
        &[
            "split-pmd-migration-entry",
            "gup-fast-met-migration-pmd",
            "gup-fast-met-migration-pte",
        ],
    );
    try_to_unmap_flush(&m, &u);
    assert_eq!(
        migrate_folio_move(&m, u),
        Ok(nr),
        "[model bug] the move of an unreferenced, unmapped THP failed"
    );
    if matches!(Pmd::decode(m.mms[0].pmd.read()), Pmd::Table(_)) {
        record(outcomes, "migrated-to-pte-mapped-folio");
    }
    check_quiescent(&m, &[]);
}

/// THP migration of a PMD-mapped THP ∥ `split_huge_pmd` of its PMD under mmap_lock read. The
/// split may meet the source's huge PMD (the migration then unmaps a PTE-mapped THP), the PMD
/// migration entry (the migration's `remove_migration_ptes` then finds PTE migration entries:
/// "THP pmd was split under us"), or the destination's huge PMD.
fn thp_migration_vs_split_pmd(nr: usize, outcomes: &Outcomes) {
    let m = setup_huge_pmd_slots(nr, 2);
    folio_get(&m.memmap, 0); // the migration caller's isolation reference
    let m1 = m.clone();
    let migrator = spawn(move || migrate_huge_page(&m1, 0, 1));
    let m2 = m.clone();
    let splitter = spawn(move || {
        let _r = m2.mms[0].mmap_lock.down_read();
        __split_huge_pmd(&m2, 0, false);
    });
    let r = migrator.join();
    splitter.join();
    assert_eq!(
        r,
        Ok(nr),
        "[{}] migration of an unpinned THP failed",
        Inv::I9SplitRefs.tag()
    );
    record(outcomes, "migrated");
    record_observed(
        outcomes,
        &m,
        &[
            "migration-unmapped-pmd",
            "migration-unmapped-ptes",
            "split-pmd-migration-entry",
        ],
    );
    if m.observed("migration-unmapped-pmd") && !m.observed("split-pmd-migration-entry") {
        record(outcomes, "split-new-folio-pmd");
    }
    check_quiescent(&m, &[]);
    // Whatever the order, the PMD was split: the new folio is mapped by N PTEs.
    let Pmd::Table(t) = Pmd::decode(m.mms[0].pmd.read()) else {
        panic!(
            "[{}] PMD is {:?} after split_huge_pmd",
            Inv::I4MapcountMismatch.tag(),
            Pmd::decode(m.mms[0].pmd.read())
        )
    };
    for i in 0..nr {
        let pte = Pte::decode(m.mms[0].tables[t].ptes[i].read());
        assert!(
            matches!(pte, Pte::Present { pfn, .. } if pfn == nr + i),
            "[{}] pte[{i}] is {pte:?} after the migration to folio {nr}",
            Inv::I4MapcountMismatch.tag()
        );
    }
}

/// THP migration of a PMD-mapped THP in mm0 ∥ fork of mm0 into mm1. Fork copies either the
/// present huge PMD (reference, shared mapcount: the migration then unmaps both mms) or the
/// PMD migration entry (no reference; the migration's `remove_migration_ptes` must find the
/// copy: the rmap walk visits the child after the parent). Either way both mms end up mapping
/// the new folio, read-only and shared.
fn fork_vs_thp_migration(nr: usize, outcomes: &Outcomes) {
    let m = setup_huge_pmd_mms(nr, 2, 2);
    folio_get(&m.memmap, 0); // the migration caller's isolation reference
    let m1 = m.clone();
    let migrator = spawn(move || migrate_huge_page(&m1, 0, 1));
    let m2 = m.clone();
    let fork = spawn(move || dup_mmap(&m2, 0, 1));
    let r = migrator.join();
    let copied = fork.join();
    assert!(copied, "[model bug] fork of an unpinned THP failed");
    record_observed(
        outcomes,
        &m,
        &["fork-copied-huge-pmd", "fork-copied-migration-entry"],
    );
    // -EAGAIN (the child mapped the old folio behind the unmap walk) is a legal outcome of a
    // migration; the real protocol's walk order never produces it here.
    let folio = match r {
        Ok(dst) => {
            record(outcomes, "migrated");
            dst
        }
        Err(_) => {
            record(outcomes, "migration-eagain");
            folio_put(&m.memmap, 0, nr); // the isolation reference comes back to the caller
            0
        }
    };
    check_quiescent(&m, &[]);
    for mm in 0..2 {
        let v = Pmd::decode(m.mms[mm].pmd.read());
        assert!(
            matches!(v, Pmd::Huge { pfn, .. } if pfn == folio),
            "[{}] mm{mm}'s PMD is {v:?}, not folio {folio}",
            Inv::I4MapcountMismatch.tag()
        );
    }
}

/// Folio F (pfn 0) PTE-mapped in mm0 is split (its rmap walk visits every mm of the shared
/// anon_vma) ∥ THP migration of another folio G (pfn nr) PMD-mapped in mm1, whose PMD holds a
/// migration entry for G while the walk passes (historical race Z19, CVE-2025-37958).
fn folio_split_vs_thp_migration_other_mm(nr: usize, outcomes: &Outcomes) {
    let m = Arc::new(Machine::new(nr, 3, 2, 1));
    {
        let _r0 = m.mms[0].mmap_lock.down_read();
        assert_eq!(do_huge_pmd_anonymous_page(&m, 0, 0), FaultResult::Done);
        __split_huge_pmd(&m, 0, false);
        drop(_r0);
        let _r1 = m.mms[1].mmap_lock.down_read();
        assert_eq!(do_huge_pmd_anonymous_page(&m, 1, 1), FaultResult::Done);
    }
    folio_get(&m.memmap, 0); // the splitter's reference
    folio_get(&m.memmap, nr); // the migration caller's isolation reference
    let m1 = m.clone();
    let splitter = spawn(move || split_caller(&m1));
    let m2 = m.clone();
    let migrator = spawn(move || migrate_huge_page(&m2, nr, 2));
    let split = splitter.join();
    let r = migrator.join();
    record(
        outcomes,
        if split.is_ok() {
            "split-ok"
        } else {
            "split-eagain"
        },
    );
    record(
        outcomes,
        if r.is_ok() {
            "migrated"
        } else {
            "migration-eagain"
        },
    );
    record_observed(outcomes, &m, &["rmap-walk-met-migration-pmd"]);
    if r.is_err() {
        folio_put(&m.memmap, nr, nr);
    }
    check_quiescent(&m, &[]);
}

/// Three CPUs: `split_huge_page` of a PTE-mapped THP ∥ GUP-fast (FOLL_PIN | FOLL_WRITE) on
/// sub-page 1 ∥ a physical scanner (`__get_hwpoison_page`) on the last tail pfn. Either
/// speculative reference (a pin or the scanner's) fails the freeze; each getter must end up
/// holding the folio its page belongs to.
fn folio_split_vs_gup_fast_vs_scanner(nr: usize, outcomes: &Outcomes) {
    let m = setup_huge_pmd(nr);
    {
        let _r = m.mms[0].mmap_lock.down_read();
        __split_huge_pmd(&m, 0, false); // PTE-mapped: GUP-fast takes the PTE path
    }
    folio_get(&m.memmap, 0);
    let m1 = m.clone();
    let splitter = spawn(move || split_caller(&m1));
    let m2 = m.clone();
    let gup = spawn(move || gup_fast(&m2, 0, 1, Foll::Pin, true));
    let m3 = m.clone();
    let pfn = nr - 1;
    let scanner = spawn(move || __get_hwpoison_page(&m3, pfn));
    let split = splitter.join();
    let pinned = gup.join();
    let got = scanner.join();
    record(
        outcomes,
        if split.is_ok() {
            "split-ok"
        } else {
            "split-eagain"
        },
    );
    let mut held = Vec::new();
    if let Some(fp) = pinned {
        check_getter_covers_page(&m, "gup_fast", fp.page, fp.folio, &split, Inv::I15GupFast);
        record(outcomes, "gup-pinned");
        held.push((fp.folio, pin_held(&m, fp.folio)));
    }
    if let Some(f) = got {
        check_getter_covers_page(
            &m,
            "__get_hwpoison_page",
            pfn,
            f,
            &split,
            Inv::I7RecheckAfterGet,
        );
        record(outcomes, "scanner-got-ref");
        held.push((f, 1));
    }
    if pinned.is_some() && got.is_some() && split.is_err() {
        record(outcomes, "both-held-split-eagain");
    }
    check_quiescent(&m, &held);
    if let Some(fp) = pinned {
        gup_put_folio(&m, fp.folio, 1, Foll::Pin);
    }
    if let Some(f) = got {
        folio_put_small_or_large(&m, f);
    }
    check_quiescent(&m, &[]);
}

/// `split_huge_pmd` (mmap_lock read, e.g. an unaware walker) ∥ GUP-fast (FOLL_PIN |
/// FOLL_WRITE) on sub-page 1: the invalidated PMD is rejected (not access-permitted), a pin
/// through the huge PMD or through the new PTE lands on the same folio and stays mapped.
fn split_pmd_vs_gup_fast(nr: usize, outcomes: &Outcomes) {
    let m = setup_huge_pmd(nr);
    let m1 = m.clone();
    let splitter = spawn(move || {
        let _r = m1.mms[0].mmap_lock.down_read();
        __split_huge_pmd(&m1, 0, false)
    });
    let m2 = m.clone();
    let gup = spawn(move || gup_fast(&m2, 0, 1, Foll::Pin, true));
    splitter.join();
    let got = gup.join();
    record_pin(outcomes, &got);
    if let Some(fp) = got {
        assert!(
            fp.folio == 0 && fp.page == 1,
            "[{}] GUP-fast pinned page {} of folio {} for sub-page 1",
            Inv::I15GupFast.tag(),
            fp.page,
            fp.folio
        );
        check_pin_still_mapped(&m, &fp, 1);
        check_quiescent(&m, &[(fp.folio, pin_held(&m, fp.folio))]);
        gup_put_folio(&m, fp.folio, 1, Foll::Pin);
    }
    check_quiescent(&m, &[]);
}

/// Look a scenario up by name.
pub fn find(name: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().find(|s| s.name == name)
}

/// The result of one scenario run.
#[derive(Clone, Debug)]
pub struct ScenarioResult {
    pub run: RunResult,
    pub nr: usize,
    pub reached: BTreeSet<&'static str>,
    /// A holding run that missed a declared outcome is vacuous: reported here.
    pub vacuous: Option<String>,
}

/// The default engine specs of a scenario (what `check --all` and the tests use).
pub fn default_loom(s: &Scenario) -> EngineSpec {
    EngineSpec::Loom {
        preemption_bound: s.loom_bound,
        max_branches: LOOM_MAX_BRANCHES,
    }
}

/// Run a scenario with `rules` under `engine` with `nr` sub-pages (None = its default).
pub fn run_scenario(s: &'static Scenario, cfg: &RunConfig, nr: Option<usize>) -> ScenarioResult {
    run_scenario_with(s, cfg, nr, None)
}

/// Where an execution ended (`thpcheck audit`): the fingerprint of the whole model state after
/// every CPU was joined, and the outcomes the execution recorded.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FinalState {
    pub fingerprint: u64,
    pub outcomes: Vec<&'static str>,
}

/// [`run_scenario`], also returning the final state of every execution that kept every
/// invariant.
pub fn run_scenario_states(
    s: &'static Scenario,
    cfg: &RunConfig,
    nr: Option<usize>,
) -> (ScenarioResult, BTreeSet<FinalState>) {
    let states = Arc::new(Mutex::new(BTreeSet::new()));
    let r = run_scenario_with(s, cfg, nr, Some(states.clone()));
    let states = std::mem::take(&mut *states.lock().unwrap_or_else(|e| e.into_inner()));
    (r, states)
}

/// The default loom run of scenario `s` (every rule on, its default bound and size) with the
/// final state of every execution, run once per process: the scenario tests, docs/bounds.md
/// and the audit share it.
pub fn default_loom_run(s: &'static Scenario) -> &'static (ScenarioResult, BTreeSet<FinalState>) {
    type Cell = std::sync::OnceLock<(ScenarioResult, BTreeSet<FinalState>)>;
    static RUNS: std::sync::OnceLock<Vec<Cell>> = std::sync::OnceLock::new();
    let runs = RUNS.get_or_init(|| SCENARIOS.iter().map(|_| Cell::new()).collect());
    let i = SCENARIOS
        .iter()
        .position(|x| x.name == s.name)
        .unwrap_or_else(|| panic!("[model bug] {} is not in the catalogue", s.name));
    runs[i]
        .get_or_init(|| run_scenario_states(s, &config(default_loom(s), RuleSet::all_on()), None))
}

fn run_scenario_with(
    s: &'static Scenario,
    cfg: &RunConfig,
    nr: Option<usize>,
    states: Option<Arc<Mutex<BTreeSet<FinalState>>>>,
) -> ScenarioResult {
    let nr = nr.unwrap_or(match cfg.engine {
        EngineSpec::Loom { .. } => s.loom_nr,
        _ => s.shuttle_nr,
    });
    let outcomes: Outcomes = Arc::new(Mutex::new(BTreeSet::new()));
    let o = outcomes.clone();
    let mut cfg = cfg.clone();
    cfg.hardware = s.arch.hardware();
    cfg.audit = states.is_some();
    let body: Arc<dyn Fn() + Send + Sync> = match states {
        None => Arc::new(move || (s.body)(nr, &o)),
        Some(states) => Arc::new(move || {
            // This execution's own outcomes, then merged into the run's.
            let mine: Outcomes = Arc::new(Mutex::new(BTreeSet::new()));
            (s.body)(nr, &mine);
            let mine = std::mem::take(&mut *mine.lock().unwrap_or_else(|e| e.into_inner()));
            let fingerprint = thp_model::kernel::take_final_state().unwrap_or_else(|| {
                panic!("[model bug] {}: no final state was fingerprinted", s.name)
            });
            o.lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(mine.iter().copied());
            states
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(FinalState {
                    fingerprint,
                    outcomes: mine.into_iter().collect(),
                });
        }),
    };
    let run = run(&cfg, body);
    let reached = outcomes.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let is_loom = matches!(cfg.engine, EngineSpec::Loom { .. });
    let missing: Vec<_> = s
        .must_reach
        .iter()
        .filter(|o| !reached.contains(*o))
        .filter(|o| is_loom || !s.shuttle_may_miss.contains(*o))
        .collect();
    let vacuous = match (&run.verdict, missing.is_empty()) {
        (Verdict::Holds, false) => Some(format!(
            "{}: holds but never reached {:?} under {} ({}) — the race did not happen",
            s.name,
            missing,
            cfg.engine.name(),
            cfg.engine.bound()
        )),
        _ => None,
    };
    ScenarioResult {
        run,
        nr,
        reached,
        vacuous,
    }
}

/// A config for `rules` under `engine`.
pub fn config(engine: EngineSpec, rules: RuleSet) -> RunConfig {
    let mut c = RunConfig::new(engine);
    c.rules = rules;
    c
}
