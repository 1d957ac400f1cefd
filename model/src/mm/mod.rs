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
//! * [`ksm`] — KSM's merge step: `try_to_merge_one_page`, `write_protect_page`,
//!   `replace_page` (mm/ksm.c).
//! * [`migrate`] — THP migration: `migrate_pages_batch`, migration entries (mm/migrate.c).
//! * [`mmap`] — fork's `dup_mmap` (mm/mmap.c).
//! * [`mmap_lock`] — `lock_vma_under_rcu`, `vma_start_write` (mm/mmap_lock.c).
//! * [`swap`] — the batched final put `folios_put_refs` (mm/swap.c).
//! * [`swapfile`] — the swap device: slot counts, `folio_alloc_swap`, `swap_duplicate`,
//!   `free_swap_and_cache_nr`, `folio_free_swap` (mm/swapfile.c).
//! * [`swap_state`] — the swap cache: `swap_cache_get_folio`, `swap_cache_add_folio`,
//!   `swap_cache_del_folio` (mm/swap_state.c).
//! * [`vmscan`] — reclaim of an anonymous THP: `shrink_folio_list` (the lazyfree discard and
//!   the swap-out), LRU isolation (mm/vmscan.c).
//! * [`compaction`] — `isolate_migratepages_block` (mm/compaction.c).
//! * [`memory_failure`] — `memory_failure` up to the split of a THP, `__get_hwpoison_page`
//!   (mm/memory-failure.c).
//! * [`page_idle`] — `page_idle_get_folio` (mm/page_idle.c).
//! * [`tlb`] — per-CPU TLBs, the flushes, the batched unmap flush and
//!   `flush_tlb_batched_pending` (arch/x86/mm/tlb.c, mm/rmap.c); opt-in per machine.
//! * [`util`] — page contents: `pages_identical` / `memcmp_pages`, `folio_mc_copy` (mm/util.c).
//! * [`oracle`] — `check_quiescent`, the whole-state check at a quiescent point (mapcounts,
//!   references, deposits, freed pages, deferred lists; no kernel counterpart).
//! * [`fingerprint`] — the whole-state fingerprint of a finished execution (`thpcheck audit`;
//!   no kernel counterpart).

pub mod compaction;
pub mod filemap;
pub mod fingerprint;
pub mod gup;
pub mod huge_memory;
pub mod hugetlb_vmemmap;
pub mod khugepaged;
pub mod ksm;
pub mod madvise;
pub mod memory;
pub mod memory_failure;
pub mod migrate;
pub mod mmap;
pub mod mmap_lock;
pub mod oracle;
pub mod page;
pub mod page_idle;
pub mod page_ref;
pub mod page_vma_mapped;
pub mod pgtable;
pub mod pgtable_generic;
pub mod rmap;
pub mod swap;
pub mod swap_state;
pub mod swapfile;
pub mod tlb;
pub mod util;
pub mod vmscan;
pub mod zap;

use crate::kernel::lockdep::LockLabel;
use crate::kernel::trace::Loc;
use crate::kernel::{
    atomic_long_t, atomic_t, rw_semaphore, spinlock_t, AtomicFlag, LockClass, RcuState,
};
pub use oracle::{
    check_carried_over, check_quiescent, check_store_kept, check_store_visible, Carry,
    MappingSnapshot,
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
/// The bit spinlock in `folio->_mm_ids` (`folio_lock_large_mapcount`). Bit spinlocks have no
/// lockdep class in the kernel; the model gives it one so that its nesting (inside the
/// page-table locks) is checked like the others'.
pub const MM_IDS_LOCK: LockClass = LockClass::new("folio->_mm_ids");

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
    /// `mm->mm_id` (CONFIG_MM_ID): what the owner slots of a large folio record
    /// ([`page::mm_id`] of the mm's index).
    pub mm_id: u32,
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
    /// The TLBs of the CPUs that run this mm (`mm_cpumask`), indexed by CPU; empty when the
    /// machine keeps no TLB state ([`tlb`]).
    pub tlb: Vec<Option<tlb::CpuTlb>>,
    /// `mm->tlb_flush_batched`: pending and flushed generations of deferred unmap flushes
    /// (kept only with TLB state, [`tlb::set_tlb_ubc_flush_pending`]).
    pub tlb_flush_batched: atomic_t,
}

impl Mm {
    /// The mm's index in [`Machine::mms`] (the inverse of [`page::mm_id`]), for traces.
    pub fn index(&self) -> usize {
        self.mm_id as usize - 1
    }
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
    /// The one swap device ([`swapfile`]): one cluster of `nr` slots.
    pub swap: swapfile::SwapInfo,
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
                .map(|i| Mm {
                    mm_id: page::mm_id(i),
                    mmap_lock: rw_semaphore::new(MMAP_LOCK).labelled(LockLabel {
                        name: "mmap_lock",
                        mm: Some(i),
                        idx: None,
                    }),
                    vma_lock: rw_semaphore::new(VMA_LOCK).labelled(LockLabel {
                        name: "vma_lock",
                        mm: Some(i),
                        idx: None,
                    }),
                    write_protect_seq: atomic_t::new(0),
                    tlb: Vec::new(),
                    tlb_flush_batched: atomic_t::new(0),
                    pmd: atomic_long_t::new(0).watched(Loc::Pmd { mm: i }),
                    pmd_lock: spinlock_t::new(PMD_LOCK).labelled(LockLabel {
                        name: "pmd_lock",
                        mm: Some(i),
                        idx: None,
                    }),
                    pmd_huge_pte: atomic_t::new(0),
                    nr_ptes: atomic_t::new(0),
                    tables: (0..tables)
                        .map(|t| PteTable {
                            ptes: (0..nr)
                                .map(|idx| {
                                    atomic_long_t::new(0).watched(Loc::Pte {
                                        mm: i,
                                        table: t,
                                        idx,
                                    })
                                })
                                .collect(),
                            ptl: spinlock_t::new(PTE_LOCK).labelled(LockLabel {
                                name: "ptl",
                                mm: Some(i),
                                idx: Some(("table ", t)),
                            }),
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
            swap: swapfile::SwapInfo::new(nr),
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
