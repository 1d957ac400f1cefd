//! Invariant ids and the assertion macros named after the kernel's (`VM_BUG_ON`, `VM_WARN_ON`).
//!
//! Every protocol-violation message starts with `[<id> <slug>]`, e.g.
//! `[I6 ref-on-frozen-folio] ...`, so a defect test matches the invariant it expects and
//! nothing else. A harness or model inconsistency says `[model bug]` instead and never counts
//! as a counterexample.
//!
//! The table of every id, what it checks and which rules break it is docs/invariants.md,
//! generated from the doc comments of [`Inv`] (each starts with its id and a colon).
//! I2-I20 follow the kernel's own invariants of the THP protocol (docs/protocol.md; I18 is
//! HVO's read-only struct pages); I1, "a tail page's refcount is 0 while it is compound", has
//! no id of its own: it holds by construction (tails are allocated at 0 and every speculative
//! get is add-unless-zero), and a breach surfaces as I2 or I6. I22-I25 are further HugeTLB
//! vmemmap optimization invariants (docs/protocol.md#hvo, historical race Z09). I21 (the COW
//! contract) and I26 (a non-present PMD is never treated as present: Z07, Z12, Z19) are model
//! extensions, as are I27 (what a split, migration or fault must carry over), I28 (a
//! memory error is never forgotten), I29 (no user data is lost) and I30 (a page known to be
//! poisoned is not read). I31 (the owner slots) follows the sanity checks of
//! include/linux/rmap.h. L1 and L2 are
//! the litmus-test properties of the primitive layer.

/// An invariant the checks assert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Inv {
    /// L1: a litmus test reached an outcome that the Linux kernel memory model forbids for its
    /// program: the primitive layer's mapping of a barrier or atomic is too weak
    /// (checks/src/litmus/, docs/memory-model.md).
    L1LitmusForbidden,
    /// L2: `atomic_add_unless(v, a, u)` stored to `v` although it read `u`, or lost a
    /// concurrent update: the speculative get would write to a frozen or read-only count.
    L2AddUnlessStoredOnU,
    /// I2: nothing raises a refcount of 0. A CPU without a reference takes one only with
    /// add-unless-zero; a plain increment (`folio_get`, `try_grab_folio`) is allowed only to a
    /// holder of a reference or of the ptl of a present mapping, and must find the count
    /// positive (the kernel's `try_grab_folio` warns on a count <= 0).
    I2IncOfZero,
    /// I3: references cover mappings: an unfrozen folio's refcount is at least its mapcount,
    /// because each present page-table entry is paired with one reference (transiently more
    /// inside a PMD split, and until the TLB flush after a zap; never fewer).
    I3RefsCoverMappings,
    /// I4: mapcounts match the page tables once every CPU is done: the entire mapcount counts the
    /// huge PMDs mapping the folio, each page's `_mapcount` its present PTEs, the large
    /// mapcount both, `_nr_pages_mapped` the PTE-mapped pages (plus `ENTIRELY_MAPPED` while
    /// PMD-mapped); migration entries count nowhere. With CONFIG_NO_PAGE_MAPCOUNT the pages of
    /// a large folio keep `_mapcount` -1 and the folio `_nr_pages_mapped` 0.
    I4MapcountMismatch,
    /// I5: a CPU that holds the PMD lock and saw a huge PMD (or a PMD migration entry) keeps
    /// seeing it until it unlocks: a walker that acts on a huge PMD has re-tested it under the
    /// lock, and no one changes it without that lock.
    I5HugePmdStability,
    /// I6: no reference is taken on a frozen folio: between `folio_ref_freeze` and a new
    /// folio's `folio_ref_unfreeze` every speculative get on any of its pages fails, and a
    /// getter that succeeds afterwards sees a non-compound page with its final flags (the
    /// unfreeze finds the count still 0).
    I6RefOnFrozen,
    /// I7: a speculative getter uses a folio only if, after its reference, the page still
    /// belongs to that folio (`page_folio(page) == folio`), so it never works on, or returns, a
    /// folio that a split or a free-and-reuse took the page out of.
    I7RecheckAfterGet,
    /// I8: no use after free and no double free: a folio goes back to the allocator only with
    /// refcount 0, unmapped, with no migration entry pointing to it, off the deferred-split
    /// list and off the LRU, and nothing touches a page or folio slot once it is free, nor a
    /// struct page beyond the memmap (a pfn decoded from a non-present entry: Z07, Z19); a user
    /// store through a TLB translation never reaches a free page (a flush owed was skipped).
    I8UseAfterFree,
    /// I9: a folio split succeeds if and only if the folio had no references beyond the
    /// caller's and its mappings' at the freeze: a pin or any other reference held across the
    /// freeze makes it fail with -EAGAIN.
    I9SplitRefs,
    /// I10: while a migration entry for a page exists, the folio containing that page is locked,
    /// and held by the thread that holds the lock (referenced, or frozen at 0 during a split);
    /// decoding an entry whose folio is unlocked is the kernel's `BUG_ON` in
    /// `pfn_swap_entry_folio`.
    I10MigrationEntryLocked,
    /// I11: a folio split ends clean: no migration entry for any of its pages is left behind,
    /// every new folio's mapcount and refcount match its PTEs (plus the caller's reference on
    /// the `lock_at` folio), and only that folio is still locked; a failed split leaves the
    /// folio intact, locked and referenced.
    I11SplitEndsClean,
    /// I12: a huge PMD is never transiently none while a lockless reader may look at it: from
    /// `pmdp_invalidate` to `pmd_populate` a split (or a PMD modifier) keeps it present and
    /// huge to lockless readers, so MADV_DONTNEED cannot skip it and return with the range
    /// still mapped.
    I12PmdTransientlyNone,
    /// I13: deposit balance: every anonymous huge PMD has exactly one deposited PTE table, which
    /// is withdrawn exactly once (by a split or a zap) and counted in the mm's page-table count;
    /// a table is deposited, withdrawn or populated only under the PMD lock.
    I13DepositBalance,
    /// I14: deferred-list discipline: only a large folio is on a deferred-split list; the shared
    /// queue is changed only under `split_queue_lock` (the shrinker's private list only by the
    /// shrinker, holding references: no other CPU unlinks a folio whose reference the
    /// shrinker holds on its list); a frozen or split folio is off the shared queue once the
    /// splitter drops the lock; the final put unqueues only at refcount 0; at quiescent points
    /// every folio marked partially mapped is on the queue.
    I14DeferredList,
    /// I15: GUP-fast soundness: a page GUP-fast returns is covered by the reference (and pin) it
    /// took, on the folio that contained the page while the re-checked PMD and PTE mapped it;
    /// a pinned page is never replaced under the pin (by a collapse, say) nor freed.
    I15GupFast,
    /// I16: AnonExclusive against pins: a pinned anonymous page keeps PageAnonExclusive (the
    /// freeze or fork path clears it only after invalidating the entry and seeing no pin), so a
    /// later COW or fork cannot move the page away from under the pin.
    I16PinnedNotExclusive,
    /// I17: page-table lifetime: a PTE table is freed only after it is unlinked from its PMD under
    /// the PMD lock and a grace period (or IPI sync) has passed, so no `pte_offset_map` RCU
    /// reader or IRQs-off GUP-fast walker still uses it; it is never freed twice nor used
    /// before it is initialised.
    I17TableLifetime,
    /// I18: no write — nor a locked RMW, which writes even when its compare fails — ever reaches
    /// a struct page through a read-only vmemmap mapping (HVO, historical race Z09): a
    /// speculative getter writes only if `page_count_writable` said yes.
    I18WriteToReadOnlyVmemmap,
    /// I19: the lock order is acyclic across every explored execution (lockdep's graph of lock
    /// classes), nothing sleeps in atomic context (a spinlock, RCU or IRQs-off section), and
    /// every lock a function requires is held (`lockdep_assert_held`).
    I19LockOrder,
    /// I20: progress: every sleeper is eventually woken (a migration-entry waiter by the
    /// `folio_unlock` after `remap_page`); no CPU sleeps with nobody left to wake it.
    I20LostWakeup,
    /// I21: the COW contract (model extension): a page marked AnonExclusive is mapped by one mm
    /// only, and a page two mms map is writable in neither; fork clears the flag and
    /// write-protects before it shares the page, and COW reuse sets it only for the last
    /// mapper, and not while another mm still holds a GUP reference it took on the shared
    /// page. The shared zero page, mapped by everyone, is never mapped writable or
    /// dirty.
    I21ExclusiveShared,
    /// I22: every struct page stays mapped: a walk of the vmemmap never meets an empty PTE
    /// (HVO's split of a vmemmap PMD publishes a filled table).
    I22VmemmapUnmapped,
    /// I23: every struct page reads the same through the vmemmap before, during and after an
    /// optimize or restore: nothing is lost, and nothing is read from a page before it was
    /// copied or filled.
    I23StructPageContent,
    /// I24: HVO mapping state: an optimized folio's tail vmemmap pages map the reuse page
    /// read-only; a folio that is not optimized (including after a failed optimize) maps every
    /// vmemmap page read-write to its own page, exactly as before.
    I24HvoRollback,
    /// I25: no TLB flush owed is skipped: a vmemmap page is freed only after every translation to
    /// it was flushed; and at a quiescent point no CPU caches a user translation that the page
    /// tables no longer hold (machines with TLB state).
    I25TlbFlushOwed,
    /// I26: a non-present PMD (a migration entry) is never handled as a present huge mapping:
    /// never handed to `pmdp_invalidate` (its 6.18 precondition) and never read as present by a
    /// lockless walker's classifier (model extension; historical race Z12).
    I26NonPresentAsPresent,
    /// I27: what an operation must carry over survives it: at the end of a scenario, every
    /// virtual page that was mapped before and is mapped after keeps its write, dirty, young
    /// and soft-dirty bits, its AnonExclusive state and the page it maps (a split keeps them
    /// per sub-page, a migration moves them to the new page; the folio's PG_dirty is carried
    /// the same way), and stays mapped, unless the scenario runs an operation whose job is
    /// to change that (fork write-protects and shares, MADV_FREE cleans, MADV_DONTNEED unmaps,
    /// migration and collapse move). A lost dirty bit is lost data; a lost write bit or
    /// AnonExclusive is a spurious COW (model extension).
    I27CarriedOver,
    /// I28: a memory error is never forgotten: once `memory_failure` has set PG_hwpoison on a
    /// raw page, the page keeps it (only `memory_failure` itself or unpoison may clear it),
    /// whatever splits, frees or reuses the folio meanwhile (model extension; finding F5).
    I28HwPoisonLost,
    /// I29: no user data is lost: at the end of a scenario, every virtual page that was mapped
    /// before and is mapped after reads the same data (the page it maps, or the shared zero
    /// page, holds what the page it mapped before held): a split that maps a sub-page to the
    /// zero page must have found it zero-filled, a migration or collapse must have copied it;
    /// and a page a user stored into reads, at the end, the value stored last (a store through
    /// a stale TLB translation into a page already copied or unmapped is lost) (model
    /// extension).
    I29DataLost,
    /// I30: the kernel does not read the contents of a page that memory_failure had already
    /// marked PG_hwpoison: the read would consume the memory error (a machine check in kernel
    /// mode). Checked at every content read (`pages_identical`) against the errors the reading
    /// CPU knows of: reported before the run, or marked by memory_failure on that CPU (whose
    /// own split then remaps the page). A mark another CPU sets while the reader runs is the
    /// inherent hazard of an asynchronous error report and is not counted (model extension).
    I30HwPoisonConsumed,
    /// I31: a large folio's owner slots (CONFIG_MM_ID) agree with its mappings: a free slot
    /// holds no mm and mapcount -1, an owned one a mapcount >= 0 (the kernel's
    /// `__folio_large_mapcount_sanity_checks`); an unmapped folio has both slots free and is
    /// not "maybe mapped shared"; the shared bit is clear only while one mm holds every
    /// mapping, and at a quiescent point each owned slot counts exactly its mm's mappings and
    /// the bit is set exactly when two mms map the folio (the model has at most two mms, so
    /// the kernel's "maybe" is exact).
    I31MmIdSlots,
    /// I32: swap accounting (mm/swapfile.c, mm/swap_state.c): at a quiescent point every swap
    /// slot's count equals the swap PTEs that name it, a slot is in use exactly while it has a
    /// count or the swap cache holds it (`SWAP_HAS_CACHE`), the swap cache maps a slot to a
    /// folio exactly when that folio is PG_swapcache with that entry, and a folio in the swap
    /// cache holds one reference per page for it. A swap PTE whose slot was freed, or whose
    /// data is in no folio and on no slot, is data lost (I29); a slot left in use with no
    /// holder is a swap leak.
    I32SwapAccounting,
}

impl Inv {
    /// The id and slug that start every message, e.g. `I19 lock-order`.
    pub fn tag(self) -> &'static str {
        match self {
            Inv::L1LitmusForbidden => "L1 litmus-forbidden",
            Inv::L2AddUnlessStoredOnU => "L2 add-unless-stored",
            Inv::I2IncOfZero => "I2 inc-of-zero-refcount",
            Inv::I3RefsCoverMappings => "I3 refs-cover-mappings",
            Inv::I4MapcountMismatch => "I4 mapcount-mismatch",
            Inv::I5HugePmdStability => "I5 huge-pmd-stability",
            Inv::I6RefOnFrozen => "I6 ref-on-frozen-folio",
            Inv::I7RecheckAfterGet => "I7 recheck-after-get",
            Inv::I8UseAfterFree => "I8 use-after-free",
            Inv::I9SplitRefs => "I9 split-with-extra-refs",
            Inv::I10MigrationEntryLocked => "I10 migration-entry-unlocked",
            Inv::I11SplitEndsClean => "I11 split-ends-clean",
            Inv::I12PmdTransientlyNone => "I12 pmd-transiently-none",
            Inv::I13DepositBalance => "I13 deposit-balance",
            Inv::I14DeferredList => "I14 deferred-list",
            Inv::I15GupFast => "I15 gup-fast-unsound",
            Inv::I16PinnedNotExclusive => "I16 pinned-not-exclusive",
            Inv::I17TableLifetime => "I17 table-lifetime",
            Inv::I18WriteToReadOnlyVmemmap => "I18 write-to-read-only-vmemmap",
            Inv::I19LockOrder => "I19 lock-order",
            Inv::I20LostWakeup => "I20 lost-wakeup",
            Inv::I21ExclusiveShared => "I21 anon-exclusive-shared",
            Inv::I22VmemmapUnmapped => "I22 vmemmap-unmapped",
            Inv::I23StructPageContent => "I23 struct-page-content-lost",
            Inv::I24HvoRollback => "I24 hvo-mapping-not-restored",
            Inv::I25TlbFlushOwed => "I25 tlb-flush-owed",
            Inv::I26NonPresentAsPresent => "I26 non-present-pmd-as-present",
            Inv::I27CarriedOver => "I27 state-not-carried-over",
            Inv::I28HwPoisonLost => "I28 hwpoison-lost",
            Inv::I29DataLost => "I29 data-lost",
            Inv::I30HwPoisonConsumed => "I30 hwpoison-consumed",
            Inv::I31MmIdSlots => "I31 mm-id-slots",
            Inv::I32SwapAccounting => "I32 swap-accounting",
        }
    }

    /// The id alone (`I19`).
    pub fn id(self) -> &'static str {
        self.tag().split(' ').next().unwrap_or("")
    }

    /// Does a failure message name this invariant?
    pub fn matches(self, message: &str) -> bool {
        message.contains(&format!("[{} ", self.id()))
    }
}

/// `VM_BUG_ON(cond)` with an invariant id: panics with `[<id> <slug>] <message>` if `cond`.
#[macro_export]
macro_rules! vm_bug_on {
    ($cond:expr, $inv:expr, $($arg:tt)*) => {
        if $cond {
            panic!("[{}] {}", $inv.tag(), format!($($arg)*));
        }
    };
}

/// `VM_WARN_ON(cond)`: in the model a warning is as fatal as a bug, because the kernel's
/// warnings mark protocol violations too.
#[macro_export]
macro_rules! vm_warn_on {
    ($cond:expr, $inv:expr, $($arg:tt)*) => {
        $crate::vm_bug_on!($cond, $inv, $($arg)*)
    };
}

/// A harness or model inconsistency: never a counterexample.
#[macro_export]
macro_rules! model_bug {
    ($($arg:tt)*) => {
        panic!("[model bug] {}", format!($($arg)*))
    };
}
