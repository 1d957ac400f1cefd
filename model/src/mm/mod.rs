//! The memory-management state of the model (docs/protocol.md#state) and the operations, in
//! modules named after the kernel files they model. Paraphrased from Linux 6.18.2; no kernel
//! code is reproduced.
//!
//! * [`page`] — struct page, large-folio metadata, the memmap (include/linux/mm_types.h).
//! * [`pgtable`] — PMD / PTE encodings and the x86 classifiers (arch/x86/include/asm/pgtable.h).
//! * [`page_ref`] — reference counting (include/linux/page_ref.h, include/linux/mm.h).
//! * [`rmap`] — mapcount accounting (mm/rmap.c).
//! * [`memory`] — the small-page fault: `do_anonymous_page`, `pmd_install` (mm/memory.c).
//! * [`pgtable_generic`] — `pte_offset_map_lock`, the deposited table, `pmdp_invalidate`
//!   (mm/pgtable-generic.c).
//! * [`page_vma_mapped`] — `page_vma_mapped_walk`'s PVMW_SYNC (mm/page_vma_mapped.c).
//! * [`huge_memory`] — huge fault, `__pmd_trans_huge_lock`, `split_huge_pmd` (mm/huge_memory.c).
//! * [`madvise`] — MADV_FREE (mm/madvise.c `madvise_free_pte_range`).
//! * [`gup`] — `follow_pmd_mask`, `follow_page_pte`, `try_grab_folio` (mm/gup.c).
//! * [`hugetlb_vmemmap`] — HugeTLB vmemmap optimization and the speculative getters that race
//!   with it (mm/hugetlb_vmemmap.c, include/linux/page-flags.h); self-contained.
//! * [`filemap`] — the folio lock: `folio_lock`, `folio_trylock`, `folio_unlock` (mm/filemap.c).
//! * [`zap`] — MADV_DONTNEED's `zap_pmd_range` and PT_RECLAIM (mm/memory.c, mm/pt_reclaim.c).
//! * [`khugepaged`] — `collapse_huge_page` (mm/khugepaged.c).
//! * [`migrate`] — THP migration: `migrate_pages_batch`, migration entries (mm/migrate.c).
//! * [`mmap`] — fork's `dup_mmap` (mm/mmap.c).
//! * [`mmap_lock`] — `lock_vma_under_rcu`, `vma_start_write` (mm/mmap_lock.c).
//! * [`swap`] — the batched final put `folios_put_refs` (mm/swap.c).
//! * [`compaction`] — `isolate_migratepages_block` (mm/compaction.c).
//! * [`memory_failure`] — `__get_hwpoison_page` (mm/memory-failure.c).
//! * [`page_idle`] — `page_idle_get_folio` (mm/page_idle.c).
//! * [`fingerprint`] — the whole-state fingerprint of a finished execution (`thpcheck audit`;
//!   no kernel counterpart).

pub mod compaction;
pub mod filemap;
pub mod fingerprint;
pub mod gup;
pub mod huge_memory;
pub mod hugetlb_vmemmap;
pub mod khugepaged;
pub mod madvise;
pub mod memory;
pub mod memory_failure;
pub mod migrate;
pub mod mmap;
pub mod mmap_lock;
pub mod page;
pub mod page_idle;
pub mod page_ref;
pub mod page_vma_mapped;
pub mod pgtable;
pub mod pgtable_generic;
pub mod rmap;
pub mod swap;
pub mod zap;

use crate::kernel::{
    atomic_long_t, atomic_t, rw_semaphore, spinlock_t, AtomicFlag, LockClass, RcuState,
};
pub use page::{Memmap, Page};
pub use pgtable::{Pmd, Pte};

/// Lock classes (lockdep names follow the kernel's).
pub const MMAP_LOCK: LockClass = LockClass::new("mmap_lock");
/// The split page-table locks: a PMD lock and a PTE lock are both the ptlock of a page-table
/// page (`ptlock_init`, from `pmd_ptlock_init` and `pagetable_pte_ctor`), one lockdep class in
/// the kernel. Taking one while holding another therefore needs a nesting subclass
/// (`spin_lock_nested(ptl, SINGLE_DEPTH_NESTING)`), or a trylock.
pub const PMD_LOCK: LockClass = LockClass::new("ptlock");
/// The per-VMA lock (`vma->vm_refcnt` / `vm_lock_seq`), modelled as a reader-writer lock whose
/// readers only ever trylock.
pub const VMA_LOCK: LockClass = LockClass::new("vma_lock");
/// See [`PMD_LOCK`]: the same class.
pub const PTE_LOCK: LockClass = LockClass::new("ptlock");
pub const ANON_VMA_LOCK: LockClass = LockClass::new("anon_vma->rwsem");
pub const LRU_LOCK: LockClass = LockClass::new("lruvec->lru_lock");
pub const SPLIT_QUEUE_LOCK: LockClass = LockClass::new("split_queue_lock");

/// A PTE table page: N entries and its own split PTE lock.
pub struct PteTable {
    pub ptes: Vec<atomic_long_t>,
    pub ptl: spinlock_t,
    /// Lifetime: true while allocated. Taken with an acquire by
    /// [`crate::mm::huge_memory::pte_alloc_one`], cleared with a release by `pte_free`
    /// ([`AtomicFlag`]: a free is ordered before the next allocation of the same table, as the
    /// allocator's locks order it, and before nothing else); read relaxed by the I17 checks.
    pub allocated: AtomicFlag,
}

/// One mm: `mmap_lock`, one VMA covering one PMD, the PMD slot with its lock, the deposited
/// table list (`pmd_huge_pte`) and the PTE tables it may point to.
///
/// Designed so a second mm (fork) is just a second `Mm` in [`Machine::mms`].
pub struct Mm {
    pub mmap_lock: rw_semaphore,
    /// The lock of the mm's one VMA (see [`mmap_lock`]).
    pub vma_lock: rw_semaphore,
    /// The PMD entry ([`Pmd`] encoding).
    pub pmd: atomic_long_t,
    /// `pmd_lock(mm, pmd)`: the split PMD page-table lock.
    pub pmd_lock: spinlock_t,
    /// `pmd_huge_pte`: deposited table index + 1, or 0 (protected by the PMD lock).
    pub pmd_huge_pte: atomic_t,
    /// `mm->nr_ptes` (deposited tables count too).
    pub nr_ptes: atomic_t,
    /// PTE table pages this mm may use (index = table id).
    pub tables: Vec<PteTable>,
    /// `mm->write_protect_seq` (a seqcount_t): odd while fork's `copy_page_range` is
    /// write-protecting this mm's page tables; GUP-fast FOLL_PIN backs off if it moves.
    pub write_protect_seq: atomic_t,
}

/// The whole machine: the memmap, the mm(s), RCU / IRQ state, N sub-pages per THP.
pub struct Machine {
    pub nr: usize,
    pub memmap: Memmap,
    pub mms: Vec<Mm>,
    pub rcu: RcuState,
    /// The one anon_vma every VMA of the model belongs to (a fork child shares it).
    pub anon_vma: AnonVma,
    /// `lruvec->lru_lock` of the one node/memcg.
    pub lru_lock: spinlock_t,
    /// Oracle instrumentation, not kernel state: named events a scenario must see happen (a
    /// branch taken), recorded by [`Machine::observe`], read after the run (write-only during
    /// it, so invisible to the engines).
    pub observed: crate::kernel::trace::Observed,
}

impl Machine {
    /// Record that `event` happened in this execution (for a scenario's must-reach outcomes).
    pub fn observe(&self, event: &'static str) {
        self.observed.record(event);
    }

    /// Did `event` happen?
    pub fn observed(&self, event: &str) -> bool {
        self.observed.contains(event)
    }
}

/// `struct anon_vma` (mm/rmap.c): the root rwsem and the refcount `folio_get_anon_vma` takes.
pub struct AnonVma {
    pub rwsem: rw_semaphore,
    pub refcount: atomic_t,
}

/// The anon_vma id stored in `folio->mapping` (id + 1; 0 = no mapping).
pub const ANON_VMA_ID: i64 = 1;

impl Machine {
    /// A machine with `nr` sub-pages per THP (a power of two >= 2), `folios` folio slots of
    /// `nr` pages each (all free), and `mms` empty mms with `tables` PTE tables each (free).
    pub fn new(nr: usize, folios: usize, mms: usize, tables: usize) -> Machine {
        assert!(
            nr >= 2 && nr.is_power_of_two(),
            "sub-page count must be a power of two >= 2, got {nr}"
        );
        Machine {
            nr,
            memmap: Memmap::new(nr, folios),
            mms: (0..mms)
                .map(|_| Mm {
                    mmap_lock: rw_semaphore::new(MMAP_LOCK),
                    vma_lock: rw_semaphore::new(VMA_LOCK),
                    write_protect_seq: atomic_t::new(0),
                    pmd: atomic_long_t::new(0),
                    pmd_lock: spinlock_t::new(PMD_LOCK),
                    pmd_huge_pte: atomic_t::new(0),
                    nr_ptes: atomic_t::new(0),
                    tables: (0..tables)
                        .map(|_| PteTable {
                            ptes: (0..nr).map(|_| atomic_long_t::new(0)).collect(),
                            ptl: spinlock_t::new(PTE_LOCK),
                            allocated: AtomicFlag::new(false),
                        })
                        .collect(),
                })
                .collect(),
            rcu: RcuState::new(),
            anon_vma: AnonVma {
                rwsem: rw_semaphore::new(ANON_VMA_LOCK),
                refcount: atomic_t::new(1),
            },
            lru_lock: spinlock_t::new(LRU_LOCK),
            observed: crate::kernel::trace::Observed::new(),
        }
    }

    /// The memmap (helper for functions that take `&Memmap`).
    pub fn memmap_ref(&self) -> &Memmap {
        &self.memmap
    }

    /// The PTE table `id` of `mm`, checking it is allocated (I17).
    pub fn table<'a>(&self, mm: &'a Mm, id: usize, who: &str) -> &'a PteTable {
        let t = &mm.tables[id];
        crate::vm_bug_on!(
            !t.allocated.read(),
            crate::invariants::Inv::I17TableLifetime,
            "{who} reads PTE table {id} after it was freed"
        );
        t
    }
}

static_assertions::const_assert!(pgtable::KIND_BITS + pgtable::FLAG_BITS <= pgtable::PAYLOAD_SHIFT);

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
