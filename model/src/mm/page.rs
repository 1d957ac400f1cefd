//! struct page, large-folio metadata and the memmap (include/linux/mm_types.h,
//! include/linux/page-flags.h). Every field another CPU may read without the writer's lock is
//! its own atomic.
//!
//! # `_refcount` state table
//!
//! | value | head / small page | tail of a compound page |
//! |---|---|---|
//! | 0 | free, or frozen by `folio_ref_freeze` (split, migration) | always 0 while compound |
//! | n > 0 | n references; only a holder (or the ptl holder of a present mapping) may add with a plain increment, anyone else uses add-unless-zero | never |
//!
//! # `_mapcount`, `_entire_mapcount`, `_large_mapcount` (biased by -1)
//!
//! -1 = not mapped; k >= 0 = mapped k + 1 times. `_nr_pages_mapped` = pages with
//! `_mapcount >= 0` plus [`ENTIRELY_MAPPED`] while `_entire_mapcount >= 0`.
//!
//! # `compound_head`
//!
//! 0 for a head or small page; `(head_pfn << 1) | 1` for a tail (`set_compound_head`,
//! `clear_compound_head`, both `WRITE_ONCE`).

use crate::kernel::{atomic_long_t, atomic_t, spinlock_t, wait_queue_head, AtomicFlag, LockedBy};

/// Page flag bits (include/linux/page-flags.h order is irrelevant here; these are disjoint).
pub const PG_LOCKED: u32 = 0;
pub const PG_WAITERS: u32 = 1;
pub const PG_HEAD: u32 = 2;
pub const PG_LRU: u32 = 3;
pub const PG_DIRTY: u32 = 4;
pub const PG_ANON_EXCLUSIVE: u32 = 5;
pub const PG_PARTIALLY_MAPPED: u32 = 6;
/// PG_swapbacked: an anonymous folio whose content must be kept (swapped) to be reclaimed.
/// Set when a new anonymous folio is mapped; cleared by MADV_FREE (`folio_mark_lazyfree`);
/// set again by reclaim when it finds a lazyfree folio redirtied.
pub const PG_SWAPBACKED: u32 = 7;
/// PG_hwpoison: the raw page holds a memory error. Set by `memory_failure` with an atomic
/// `TestSetPageHWPoison` on the raw page (a tail included) before it holds any reference; kept
/// across the page's alloc-free cycles (not in `PAGE_FLAGS_CHECK_AT_PREP`).
pub const PG_HWPOISON: u32 = 8;
/// PG_swapcache: the folio is in the swap cache (`folio->swap` names its first slot, and the
/// swap table points to it), holding one reference per page for it.
pub const PG_SWAPCACHE: u32 = 9;
/// PG_writeback: the folio's contents are being written (to swap).
pub const PG_WRITEBACK: u32 = 10;

static_assertions::const_assert!(PG_WRITEBACK < 63);

/// `ENTIRELY_MAPPED` (mm/internal.h): added to `_nr_pages_mapped` while PMD-mapped.
pub const ENTIRELY_MAPPED: i32 = 0x80_0000;

/// One struct page.
pub struct Page {
    pub flags: atomic_long_t,
    pub _refcount: atomic_t,
    pub _mapcount: atomic_t,
    pub compound_head: atomic_long_t,
    /// Allocated or free, for I8: the page allocator takes it with an acquire and frees it
    /// with a release ([`AtomicFlag`]); the checks read it relaxed.
    pub allocated: AtomicFlag,
    /// The data in the page frame, as far as the model needs it: [`ZERO_FILLED`], or a tag
    /// standing for whatever the user stored ([`Memmap::new`] gives every frame its own).
    /// Not struct page state: the frame's contents, read by `pages_identical` and written by
    /// the copies (`folio_copy`, collapse). An atomic so that the engines see a copy and
    /// the store that publishes it as two steps.
    pub content: atomic_t,
}

/// [`Page::content`] of a page that holds only zeroes.
pub const ZERO_FILLED: i32 = 0;

/// Oracle instrumentation in [`Page::content`], not data: the frame holds a memory error that
/// memory_failure reported (PG_hwpoison) before the CPUs started (I30). Kept in the same word
/// so that the check costs no extra step; every reader of the data masks it off.
pub const CONTENT_KNOWN_POISONED: i32 = 1 << 30;

/// Oracle instrumentation in [`Page::content`]: bit `CONTENT_MARKED_BY_CPU + n` says that
/// memory_failure on CPU `n` marked the frame during the run, so that CPU knows of the error
/// from then on (I30 for a reader on the same CPU: memory_failure's own split).
pub const CONTENT_MARKED_BY_CPU: u32 = 20;

/// Every oracle bit of [`Page::content`] (8 CPUs at most).
pub const CONTENT_ORACLE_BITS: i32 = CONTENT_KNOWN_POISONED | (0xff << CONTENT_MARKED_BY_CPU);

/// `MM_ID_DUMMY` (include/linux/mm_types.h): an owner slot that holds no mm.
pub const MM_ID_DUMMY: u32 = 0;

/// `mm->mm_id` of the model's mm `i` (kernel/fork.c `mm_alloc_id` hands ids out from
/// `MM_ID_MIN` = 1).
pub fn mm_id(i: usize) -> u32 {
    i as u32 + 1
}

/// The owner slots of a large folio (CONFIG_MM_ID): `folio->_mm_id[2]` and
/// `folio->_mm_id_mapcount[2]`, which mm owns each slot and how many of the folio's mappings
/// are in it (biased by -1: a free slot holds [`MM_ID_DUMMY`] and -1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmIdSlots {
    pub mm_id: [u32; 2],
    pub mapcount: [i32; 2],
    /// The lock holder's copy of `FOLIO_MM_IDS_SHARED_BIT` ([`FolioMeta::mm_ids_shared`] is
    /// the word other CPUs read): the lock holder is its only writer.
    pub shared: bool,
}

/// Both owner slots free (`prep_compound_head`).
pub const MM_ID_SLOTS_FREE: MmIdSlots = MmIdSlots {
    mm_id: [MM_ID_DUMMY; 2],
    mapcount: [-1; 2],
    shared: false,
};

/// Large-folio metadata (stored in tail pages 1 and 2 in the kernel).
pub struct FolioMeta {
    pub _large_mapcount: atomic_t,
    pub _entire_mapcount: atomic_t,
    pub _nr_pages_mapped: atomic_t,
    pub _pincount: atomic_t,
    /// The `FOLIO_MM_IDS_LOCK_BITNUM` bit spinlock in `folio->_mm_ids`
    /// (`folio_lock_large_mapcount`): every `_large_mapcount` update after the first takes
    /// it, with the owner slots. A bit spinlock, so an atomic section like a spinlock.
    pub mm_ids_lock: spinlock_t,
    /// `_mm_id[2]` / `_mm_id_mapcount[2]`: read and written only under [`Self::mm_ids_lock`]
    /// (the "do not use outside of rmap code" fields), or before the folio is published.
    pub mm_id_slots: LockedBy<MmIdSlots>,
    /// `FOLIO_MM_IDS_SHARED_BIT` of `folio->_mm_ids`, "maybe mapped shared": 1 once a second
    /// mm mapped the folio, 0 again when one slot owns every mapping. Written under
    /// [`Self::mm_ids_lock`]; read without it by `folio_maybe_mapped_shared` and COW reuse,
    /// hence its own atomic (a word the lock bit shares in the kernel, which only the lock
    /// holder writes).
    pub mm_ids_shared: atomic_t,
}

/// The memmap: `folios` slots of `nr` pages; pfn = slot * nr + index.
pub struct Memmap {
    pub nr: usize,
    /// CONFIG_PAGE_MAPCOUNT (the run's [`KernelConfig`](crate::kernel::KernelConfig)): the
    /// pages of a large folio keep their own `_mapcount` and the folio its `_nr_pages_mapped`.
    /// Without it both stay at their initial values (-1, 0), as the kernel leaves the unused
    /// fields. Fixed for the machine's life, not model state.
    pub page_mapcount: bool,
    pub pages: Vec<Page>,
    /// Per pfn; meaningful at heads of large folios.
    pub meta: Vec<FolioMeta>,
    /// The hashed folio wait queue (mm/filemap.c `folio_waitqueue`).
    pub waitqueue: wait_queue_head,
    /// Lock-order graph instance ids of each page's PG_locked (model-only).
    pub lock_ids: Vec<usize>,
    /// `folio->mapping` of each head: anon_vma id + 1 (ANON) or 0 (model: one anon_vma).
    pub mapping: Vec<atomic_long_t>,
    /// `folio->swap` of each head while PG_swapcache: first swap slot + 1, or 0. Written under
    /// the swap cluster lock with the folio locked.
    pub swap: Vec<atomic_long_t>,
    /// `ds_queue->split_queue_lock` (mm/huge_memory.c) of the one node/memcg.
    pub split_queue_lock: spinlock_t,
    /// `ds_queue->split_queue`: the queued folio heads, in order, under `split_queue_lock`.
    pub split_queue: LockedBy<Vec<usize>>,
    /// Per head, `!list_empty(&folio->_deferred_list)`: [`DEFERRED_NONE`], [`DEFERRED_QUEUED`]
    /// (on the split queue) or private ([`deferred_private_of`] the CPU whose running
    /// `deferred_split_scan` holds it on its on-stack list and keeps the list's order itself,
    /// or [`DEFERRED_PRIVATE`] once that scan put the folio's reference). Written under
    /// `split_queue_lock`, or by the scanner unlinking from its own list while it holds a
    /// reference; read locklessly by `folio_unqueue_deferred_split`'s first test
    /// (`data_race(list_empty(...))`), hence an atomic.
    pub deferred: Vec<atomic_t>,
}

/// `_deferred_list` is empty (`list_empty`).
pub const DEFERRED_NONE: i32 = 0;
/// `_deferred_list` is linked on `ds_queue->split_queue`.
pub const DEFERRED_QUEUED: i32 = 1;
/// `_deferred_list` is linked on a `deferred_split_scan`'s on-stack list, the scan no longer
/// holding the folio's reference (it put it and left the folio on its list; others may then
/// unlink it under `split_queue_lock`).
pub const DEFERRED_PRIVATE: i32 = 2;

/// `_deferred_list` is linked on the on-stack list of the `deferred_split_scan` running on CPU
/// `cpu`, which holds the folio's reference: no other CPU may unlink it (the kernel's list
/// pointers say whose list it is; the model tags the state with the CPU, so that another CPU's
/// unlink is seen as the list corruption it is).
pub const fn deferred_private_of(cpu: usize) -> i32 {
    DEFERRED_PRIVATE + 4 * (cpu as i32 + 1)
}

/// Is `_deferred_list` state `v` linked on some scan's private list?
pub const fn deferred_is_private(v: i32) -> bool {
    v % 4 == DEFERRED_PRIVATE
}

/// The CPU whose `deferred_split_scan` holds the reference of a folio in state `v` on its
/// private list, if any.
pub const fn deferred_private_owner(v: i32) -> Option<usize> {
    if deferred_is_private(v) && v > DEFERRED_PRIVATE {
        Some((v / 4 - 1) as usize)
    } else {
        None
    }
}

impl Memmap {
    pub fn new(nr: usize, folios: usize) -> Memmap {
        let n = nr * folios;
        let split_queue_lock = spinlock_t::new(crate::mm::SPLIT_QUEUE_LOCK);
        Memmap {
            nr,
            page_mapcount: crate::kernel::engine::current()
                .options
                .config
                .page_mapcount(),
            pages: (0..n)
                .map(|pfn| Page {
                    flags: atomic_long_t::new(0).watched(crate::kernel::trace::Loc::Flags { pfn }),
                    _refcount: atomic_t::new(0)
                        .watched(crate::kernel::trace::Loc::Refcount { pfn }),
                    _mapcount: atomic_t::new(-1),
                    compound_head: atomic_long_t::new(0)
                        .watched(crate::kernel::trace::Loc::CompoundHead { pfn }),
                    allocated: AtomicFlag::new(false),
                    content: atomic_t::new(pfn as i32 + 1),
                })
                .collect(),
            meta: (0..n)
                .map(|pfn| (pfn, spinlock_t::new(crate::mm::MM_IDS_LOCK)))
                .map(|(pfn, lock)| {
                    let mm_ids_lock = lock.labelled(crate::kernel::lockdep::LockLabel {
                        name: "folio_mm_ids",
                        mm: None,
                        idx: Some(("folio ", pfn)),
                    });
                    FolioMeta {
                        _large_mapcount: atomic_t::new(-1),
                        _entire_mapcount: atomic_t::new(-1),
                        _nr_pages_mapped: atomic_t::new(0),
                        _pincount: atomic_t::new(0)
                            .watched(crate::kernel::trace::Loc::Pincount { pfn }),
                        mm_id_slots: LockedBy::new(&mm_ids_lock, MM_ID_SLOTS_FREE),
                        mm_ids_lock,
                        mm_ids_shared: atomic_t::new(0),
                    }
                })
                .collect(),
            waitqueue: wait_queue_head::new(),
            lock_ids: (0..n)
                .map(|_| crate::kernel::lockdep::new_instance_id())
                .collect(),
            mapping: (0..n).map(|_| atomic_long_t::new(0)).collect(),
            swap: (0..n).map(|_| atomic_long_t::new(0)).collect(),
            split_queue: LockedBy::new(&split_queue_lock, Vec::new()),
            split_queue_lock,
            deferred: (0..n).map(|_| atomic_t::new(0)).collect(),
        }
    }

    /// `pfn_to_page`: the struct page of `pfn`. A pfn beyond the memmap has no struct page:
    /// the kernel would touch whatever lies at that address (an oops, or silent corruption),
    /// which only a pfn decoded from something that is not a present entry produces.
    pub fn page(&self, pfn: usize) -> &Page {
        match self.pages.get(pfn) {
            Some(p) => p,
            None => wild_struct_page(pfn),
        }
    }

    /// `page_folio(page)`: one `READ_ONCE` of the compound link. A lockless read that decides
    /// many races (a scanner's folio is whatever this returned), so it is a trace event with
    /// the value read.
    pub fn page_folio(&self, pfn: usize) -> usize {
        let h = self.page(pfn).compound_head.read();
        crate::kernel::trace::load(self.page(pfn).compound_head.loc(), h);
        let folio = Self::folio_of(pfn, h);
        crate::trace!(
            "page_folio",
            "READ_ONCE(page[{pfn}].compound_head) = {}",
            if folio == pfn {
                format!("{h:#x}: not a tail, folio {folio}")
            } else {
                format!("{h:#x}: tail of folio {folio}")
            }
        );
        folio
    }

    /// A lockless page-flag test (`PageLRU`, `PageHead`, ...: `test_bit`, one relaxed read of
    /// the flags word), a trace step of `func` named `name` with the word read.
    pub fn test_flag_lockless(&self, pfn: usize, nr: u32, func: &'static str, name: &str) -> bool {
        let f = &self.page(pfn).flags;
        let v = f.read();
        crate::kernel::trace::load(f.loc(), v);
        let set = v & (1 << nr) != 0;
        crate::trace!(
            func,
            "{name}: READ_ONCE(page[{pfn}].flags) = {v:#x}: {}",
            if set { "set" } else { "clear" }
        );
        set
    }

    /// `page_folio` for the checkers (after the run, or an oracle's view): not traced.
    pub fn page_folio_quiet(&self, pfn: usize) -> usize {
        Self::folio_of(pfn, self.page(pfn).compound_head.read())
    }

    fn folio_of(pfn: usize, link: i64) -> usize {
        if link & 1 != 0 {
            (link >> 1) as usize
        } else {
            pfn
        }
    }

    /// Is `pfn` allocated? (model-only; a relaxed read)
    pub fn is_allocated(&self, pfn: usize) -> bool {
        self.pages[pfn].allocated.read()
    }

    /// Take `nr` pages from `pfn` off the free lists: each page's allocated flag, false → true
    /// with acquire (the last free of that page happens before); I8 if one is still allocated.
    fn take_pages(&self, pfn: usize, nr: usize) {
        for p in pfn..pfn + nr {
            let took = self.pages[p].allocated.test_and_set_acquire();
            crate::vm_bug_on!(
                !took,
                crate::invariants::Inv::I8UseAfterFree,
                "allocating pfn {p} which is still allocated"
            );
        }
    }

    /// Allocate the large folio at slot `slot` (`vma_alloc_anon_folio_pmd` → prep_compound):
    /// off the free lists, then (after it, as `post_alloc_hook` and
    /// `prep_compound_page`) head refcount 1, tails 0 with compound links, metadata unmapped.
    /// Returns the head pfn.
    pub fn alloc_large_folio(&self, slot: usize) -> usize {
        let head = slot * self.nr;
        self.take_pages(head, self.nr);
        for i in 0..self.nr {
            let p = &self.pages[head + i];
            p.flags.set(0);
            p._mapcount.set(-1);
            if i == 0 {
                p.flags.set(1 << PG_HEAD);
                p.compound_head.set(0);
                p._refcount.set(1);
            } else {
                p.compound_head.set(((head as i64) << 1) | 1);
                p._refcount.set(0);
            }
        }
        let m = &self.meta[head];
        m._large_mapcount.set(-1);
        m._entire_mapcount.set(-1);
        m._nr_pages_mapped.set(0);
        m._pincount.set(0);
        // prep_compound_head: _mm_ids = 0 (shared bit clear), both slots free.
        m.mm_ids_shared.set(0);
        *m.mm_id_slots.unpublished() = MM_ID_SLOTS_FREE;
        head
    }

    /// Allocate an order-0 folio at `pfn` (refcount 1, unmapped).
    pub fn alloc_small_folio(&self, pfn: usize) {
        self.take_pages(pfn, 1);
        let p = &self.pages[pfn];
        p.flags.set(0);
        p._mapcount.set(-1);
        p.compound_head.set(0);
        p._refcount.set(1);
    }

    /// Return a folio's pages to the allocator (`free_frozen_pages` path): the checks of
    /// `free_pages_prepare` (I8: only with refcount 0, unmapped, unlocked), then onto the
    /// free lists (I8 on a double free).
    pub fn free_folio(&self, head: usize, nr: usize) {
        crate::vm_bug_on!(
            self.deferred[head].read() != 0,
            crate::invariants::Inv::I14DeferredList,
            "freeing folio {head} while it is still on the deferred split queue"
        );
        crate::vm_bug_on!(
            self.pages[head].flags.test_bit(PG_SWAPCACHE),
            crate::invariants::Inv::I8UseAfterFree,
            "freeing folio {head} while the swap cache still points to it"
        );
        for i in 0..nr {
            let p = &self.pages[head + i];
            crate::vm_bug_on!(
                p._refcount.read() != 0 || p._mapcount.read() != -1 || p.flags.test_bit(PG_LOCKED),
                crate::invariants::Inv::I8UseAfterFree,
                "freeing pfn {} with refcount {} mapcount {} locked {}",
                head + i,
                p._refcount.read(),
                p._mapcount.read(),
                p.flags.test_bit(PG_LOCKED)
            );
        }
        for p in head..head + nr {
            let was = self.pages[p].allocated.test_and_clear_release();
            crate::vm_bug_on!(
                !was,
                crate::invariants::Inv::I8UseAfterFree,
                "double free of pfn {p}"
            );
        }
    }
}

/// A struct page that does not exist: I8, since nothing may touch memory that is not a live
/// struct page.
#[cold]
fn wild_struct_page(pfn: usize) -> ! {
    panic!(
        "[{}] struct page of pfn {pfn:#x}: beyond the memmap (a pfn decoded from bits that are not a present entry's)",
        crate::invariants::Inv::I8UseAfterFree.tag()
    )
}
