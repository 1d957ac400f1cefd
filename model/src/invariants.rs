//! Invariant ids and the assertion macros named after the kernel's (`VM_BUG_ON`, `VM_WARN_ON`).
//!
//! Every protocol-violation message starts with `[<id> <slug>]`, e.g.
//! `[I6 frozen-folio-gained-ref] ...`, so a defect test matches the invariant it expects and
//! nothing else. A harness or model inconsistency says `[model bug]` instead and never counts
//! as a counterexample.
//!
//! Ids I1-I20 are kernel-protocol.md §A (I18 is HVO's read-only struct pages); I22-I25 are
//! further HugeTLB vmemmap optimization invariants (kernel-protocol.md §12, historical race
//! Z09); I21 (the COW contract) and I26 (a non-present PMD is never treated as present:
//! Z07, Z12, Z19) are model extensions; L1-L3 are the litmus-test properties of the primitive
//! layer.

/// An invariant the checks assert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Inv {
    /// L1: a litmus outcome the Linux kernel memory model forbids was observed.
    L1LitmusForbidden,
    /// L2: `atomic_add_unless(v, a, u)` stored to `v` although it read `u`, or lost an update.
    L2AddUnlessStoredOnU,
    /// I2: no increment of a zero refcount (`try_grab_folio` warns on refcount <= 0).
    I2IncOfZero,
    /// I3: references cover mappings (refcount >= mapcount for an unfrozen folio).
    I3RefsCoverMappings,
    /// I4: mapcounts match page tables (outside ptl critical sections).
    I4MapcountMismatch,
    /// I5: huge-PMD stability under the PMD lock.
    I5HugePmdStability,
    /// I6: no reference on a folio under split; a getter that succeeds sees a non-compound page.
    I6RefOnFrozen,
    /// I7: a speculative getter uses only a folio that still contains its page.
    I7RecheckAfterGet,
    /// I8: no use after free / double free.
    I8UseAfterFree,
    /// I9: split succeeds iff no extra references.
    I9SplitRefs,
    /// I10: migration entries imply the folio is locked (and referenced or frozen).
    I10MigrationEntryLocked,
    /// I11: split ends clean (no migration entry left, counts right).
    I11SplitEndsClean,
    /// I12: a huge PMD is never transiently none while a lockless reader may look at it
    /// (MADV_DONTNEED must not miss a mapping).
    I12PmdTransientlyNone,
    /// I13: deposit balance.
    I13DepositBalance,
    /// I14: deferred-list discipline.
    I14DeferredList,
    /// I15: GUP-fast soundness (the returned page is covered by the reference taken).
    I15GupFast,
    /// I16: AnonExclusive vs pins (a pinned anon page stays AnonExclusive).
    I16PinnedNotExclusive,
    /// I17: page-table lifetime.
    I17TableLifetime,
    /// I18: no write (nor a locked RMW, which writes even when its compare fails) ever reaches a
    /// struct page through a read-only vmemmap mapping (HVO, Z09).
    I18WriteToReadOnlyVmemmap,
    /// I19: lock order acyclic, no sleeping in atomic context, locks held where required.
    I19LockOrder,
    /// I20: every sleeper is eventually woken.
    I20LostWakeup,
    /// I21 (model extension, the COW contract): a page marked AnonExclusive is mapped by one
    /// mm only (fork clears the flag; COW reuse sets it only for the last mapper).
    I21ExclusiveShared,
    /// I22: every struct page stays mapped: a vmemmap walk never meets an empty PTE.
    I22VmemmapUnmapped,
    /// I23: every struct page reads the same through the vmemmap before, during and after
    /// optimize / restore (nothing lost, nothing read before it was copied).
    I23StructPageContent,
    /// I24: optimized ⇔ tails mapped read-only to the reuse page; a failed optimize leaves the
    /// mapping exactly as before.
    I24HvoRollback,
    /// I25: no TLB flush owed is skipped: a vmemmap page is freed only after every translation
    /// to it was flushed.
    I25TlbFlushOwed,
    /// I26 (model extension; historical races Z07, Z12, Z19): a non-present PMD (a migration
    /// entry) is never handled as a present huge mapping.
    I26NonPresentAsPresent,
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
