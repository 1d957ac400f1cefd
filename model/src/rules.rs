//! The catalogue of locking rules. Each rule can be switched off; code that keeps a rule asks
//! the current execution whether it is on, and switching it off re-creates the broken protocol
//! exactly (the pre-fix kernel, or the protocol with that one step missing).

/// Which engine must catch a rule when it is off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CatchingEngine {
    /// A missing barrier: only loom's weak-memory model can see it.
    Loom,
    /// A schedule-level rule: shuttle (and loom) can see it.
    Any,
}

/// A locking rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    /// `__pmd_trans_huge_lock` (and `follow_pmd_mask`) re-test the PMD under the PMD lock
    /// after a lockless test saw it huge.
    PmdTransHugeLockRecheck,
    /// `folio_ref_add(NR - 1)` in `__split_huge_pmd_locked` happens before the table is
    /// visible.
    SplitPmdRefBeforeTableVisible,
    /// GUP-fast re-checks `page_folio(page) == folio` after its speculative reference (Z13).
    GupFastRecheckFolio,
    /// Physical scanners take references with add-unless-zero, never a plain increment.
    ScannerAddUnlessZero,
    /// Physical scanners re-check `page_folio(page) == folio` after the speculative get.
    ScannerRecheckFolio,
    /// `folio_ref_freeze` is one cmpxchg, not a read followed by a set.
    FolioRefFreezeCas,
    /// `folio_ref_unfreeze` is a release store (Z15).
    SplitUnfreezeRelease,
    /// `__split_folio_to_order`: `smp_wmb` between the copied flags and clearing the compound
    /// link (Z06, Z15).
    SplitFlagsWmb,
    /// Decoding a migration entry: `smp_rmb` between the compound link and the flags (Z06,
    /// CVE-2026-31466; added after 6.18.2).
    MigrationEntryDecodeRmb,
    /// `remap_page` before the new folios are unlocked.
    RemapBeforeUnlock,
    /// The huge fault re-tests `pmd_none` under the PMD lock before installing.
    HugeFaultPmdNoneRecheck,
    /// `pmd_install` re-tests `pmd_none` under the PMD lock before populating.
    PmdInstallPmdNoneRecheck,
    /// `pmd_install`: `smp_wmb` before `pmd_populate`.
    PmdInstallWmb,
    /// `__split_huge_pmd_locked` invalidates the huge PMD, never clears it, until
    /// `pmd_populate`.
    SplitPmdInvalidateNotClear,
    /// `change_huge_pmd` modifies a huge PMD by invalidate-then-set, never clear-then-set (Z02).
    ChangeHugePmdInvalidateNotClear,
    /// GUP-fast re-checks that the PMD (and PTE) it read are unchanged after grabbing.
    GupFastPmdPteRecheck,
    /// GUP-fast FOLL_PIN: `smp_mb__after_atomic` between the pin and the re-check.
    GupFastPinMb,
    /// `__folio_try_share_anon_rmap`: `smp_mb` between the caller's clear or invalidation of
    /// the entry and the pin-count read.
    TryShareAnonRmapMb,
    /// `__pte_offset_map_lock` re-checks `pmd_same` after taking the PTE lock.
    PteOffsetMapLockPmdSame,
    /// A new folio's refcount is unfrozen only after its flags and compound link are final
    /// (Z15).
    SplitUnfreezeAfterMetadata,
    /// A page table is freed only after a grace period that also waits for IRQs-off sections
    /// (GUP-fast).
    TableFreeWaitsForGupFast,
    /// `deferred_split_scan` references queued folios with `folio_try_get`, never a plain get.
    DeferredSplitScanTryGet,
    /// `__folio_split` unlinks the folio from the deferred list in its freeze's
    /// `split_queue_lock` section.
    SplitUnqueueWithFreeze,
    /// The final put of a large folio unlinks it from the deferred list before freeing it.
    FolioPutUnqueuesDeferred,
    /// Collapse isolates a folio only if its refcount equals its mappings (no pin).
    CollapseIsolateRefCheck,
    /// Collapse waits for IRQs-off GUP-fast walkers (`tlb_remove_table_sync_one`) before it
    /// reuses the old PTE table.
    CollapseTableSyncOne,
    /// COW reuse of a huge PMD is decided by `folio_ref_count == 1` under the folio lock, not
    /// by summing mapcounts (Z14).
    CowReuseByRefcount,
    /// `zap_huge_pmd` handles a PMD migration entry as non-present (Z07).
    ZapHugePmdNonPresent,
    /// `zap_pte_range` and `madvise_free_pte_range` call `flush_tlb_batched_pending` under the
    /// PTE lock before they scan.
    FlushTlbBatchedPending,
    /// `migrate_pages_batch` pays the deferred unmap flush (`try_to_unmap_flush`) before it
    /// moves (copies) any folio of the batch.
    MigrateUnmapFlushBeforeMove,
    /// A zap's mmu_gather flushes the TLB before it frees the pages it gathered.
    ZapFlushBeforeFree,
    /// Reclaim pays the deferred flush of the dirty PTEs it cleared before it writes the folio
    /// to swap (`try_to_unmap_flush_dirty`).
    TryToUnmapFlushDirty,
    /// `__remove_mapping` frees a swap-cache folio only after freezing its refcount (a
    /// cmpxchg from the expected count to 0), under the swap cluster lock.
    RemoveMappingRefFreeze,
    /// `do_swap_page` maps the folio only if, under the PTE lock, the PTE still holds the swap
    /// entry it faulted on (`pte_same`).
    SwapinPteSame,
    /// Migration replaces its entries by the new folio's mapping before unlocking the folios.
    MigrateRemovePtesBeforeUnlock,
    /// An rmap walk for a folio split treats a PMD migration entry as not found (Z19).
    RmapWalkSkipsMigrationPmd,
    /// The rmap walk reports a huge PMD only if, under the PMD lock, it maps the walked folio
    /// (`check_pmd` on `pmd_pfn`).
    PvmwCheckPmdPfn,
    /// `remove_migration_ptes` replaces a PTE migration entry only under the PTE lock.
    RemoveMigrationPtePtl,
    /// `try_to_map_unused_to_zeropage` carries the migration entry's soft-dirty bit to the
    /// zero-page PTE.
    ZeropageRemapSoftDirty,
    /// `try_to_map_unused_to_zeropage` does not read a sub-page marked PG_hwpoison.
    ZeropageRemapSkipsHwpoison,
    /// COW reuse of a PTE-mapped large folio requires it not "maybe mapped shared".
    WpReuseLargeSharedBit,
    /// COW reuse of a PTE-mapped large folio requires every reference to be a mapping
    /// (`folio_large_mapcount == folio_ref_count`).
    WpReuseLargeRefcount,
    /// `__split_huge_pmd_locked` applies `pmdp_invalidate` only to a present PMD; a PMD
    /// migration entry is read as it is (Z12).
    SplitPmdInvalidatePresentOnly,
    /// `lru_add_split_folio` sets PG_lru on an unfrozen new folio with an atomic bit
    /// operation (Z15, the lost-PG_waiters hang).
    SplitLruFlagAtomic,
    /// `page_vma_mapped_walk(PVMW_SYNC)` takes and drops the PMD lock on a none PMD of a
    /// PMD-sized folio (waits for a zap in progress).
    PvmwSyncPmdLock,
    /// `___pte_offset_map` treats a none, migration-entry or huge PMD as "no table" before its
    /// `pmd_bad` test (Z20, 2012).
    PteOffsetMapSkipsHuge,
    /// An anon rmap walk visits a forked child's VMA after its parent's.
    RmapWalkParentBeforeChild,
    /// `collapse_huge_page` write-locks the VMA (`vma_start_write`) under `mmap_lock` write.
    CollapseVmaStartWrite,
    /// PT_RECLAIM's `try_get_and_clear_pmd` takes the PMD lock with a trylock under the PTE
    /// lock.
    PtReclaimPmdTrylock,
    /// `__split_huge_pmd_locked` issues `smp_wmb` between filling the PTE table and
    /// `pmd_populate`.
    SplitPmdPopulateWmb,
    /// `__folio_split` drops `split_queue_lock` before it takes the lruvec lock.
    SplitQueueUnlockBeforeLruLock,
    /// `migrate_pages_batch` only tests whether a partially mapped folio is on the deferred
    /// split list before splitting it; it never unlinks it (it may be on the shrinker's
    /// private list).
    MigrateSplitTestsDeferredList,
    /// `madvise_free_huge_pmd` marks a huge PMD old and clean by invalidate-then-set, never
    /// clear-then-set (Z02, the MADV_FREE form).
    MadviseFreeInvalidateNotClear,
    /// MADV_FREE's split of a partially covered large folio takes its folio reference before
    /// it drops the page-table lock.
    MadviseFreeGetBeforeUnlock,
    /// GUP-fast FOLL_PIN backs off if fork's `write_protect_seq` was odd or moved.
    GupFastWriteProtectSeq,
    /// `__discard_anon_folio_pmd_locked`: `smp_mb` between clearing the PMD and reading the
    /// refcount.
    DiscardPmdMb,
    /// `__discard_anon_folio_pmd_locked` discards only if the refcount is the mapcount plus the
    /// isolation's reference.
    DiscardPmdRefCheck,
    /// `__discard_anon_folio_pmd_locked` tests the dirty bit of the PMD value its clear
    /// returned, not only the one it read before.
    DiscardPmdDirtyRecheck,
    /// `__discard_anon_folio_pmd_locked`: `smp_rmb` between reading the refcount and
    /// re-testing the folio's dirty flag.
    DiscardPmdRmb,
    /// `write_protect_page` (KSM) clears the PTE and flushes the TLB before it compares the
    /// refcount with the mapcount.
    KsmWriteProtectClearFlush,
    /// `write_protect_page` (KSM) merges only if the refcount is the mapcount plus its own
    /// reference.
    KsmWriteProtectRefcountCheck,
    /// `gup_must_unshare`: `smp_rmb` between GUP-fast's re-read of the entry and its read of
    /// PageAnonExclusive.
    GupMustUnshareRmb,
    /// `__folio_try_share_anon_rmap`: `smp_mb__after_atomic` after clearing
    /// PageAnonExclusive, before the entry is written again.
    TryShareAnonRmapAfterAtomic,
    /// Candidate fix (not in 6.18.2; docs/findings.md F3): the discard invalidates the PMD
    /// (`pmdp_invalidate`) instead of clearing it, so a lockless reader never sees it none.
    DiscardPmdInvalidateNotClear,
    /// Candidate fix (not in 6.18.2; docs/findings.md F4): `write_protect_page` issues
    /// `smp_mb` between `ptep_clear_flush` and its refcount check.
    KsmWriteProtectMb,
    /// Candidate fix (not in 6.18.2; docs/findings.md F5): `__split_folio_to_order` updates a
    /// new folio's flags with `set_mask_bits` (atomic) instead of plain `&=` / `|=`.
    SplitTailFlagsSetMaskBits,
    /// `vmemmap_split_pmd`: `smp_wmb` between filling the kernel PTE table and
    /// `pmd_populate_kernel`.
    VmemmapSplitPmdWmb,
    /// `vmemmap_split_pmd` re-checks `pmd_leaf` under `init_mm.page_table_lock` before
    /// populating.
    VmemmapSplitPmdRecheck,
    /// `vmemmap_remap_pte`: `smp_wmb` between copying the head vmemmap page and the
    /// `set_pte_at` that maps the copy.
    VmemmapRemapWmb,
    /// `vmemmap_restore_pte`: `smp_wmb` between filling a restored vmemmap page and its
    /// `set_pte_at`.
    VmemmapRestoreWmb,
    /// `__hugetlb_vmemmap_optimize_folio`: `synchronize_rcu` after `static_branch_inc`, before
    /// the remap (Z09).
    HvoSynchronizeRcu,
    /// `page_count_writable`: the refcount check before the fake-head check (Z09).
    PageCountWritableRefcountFirst,
    /// `vmemmap_remap_free`: on failure, restore exactly the PTEs already remapped.
    HvoRollback,
    /// `vmemmap_remap_range`: flush the kernel TLB after remapping, before the old vmemmap pages
    /// are freed.
    HvoTlbFlush,
    /// Candidate fix (not in 6.18.2; docs/findings.md F1): `smp_wmb` between setting
    /// PageAnonExclusive and the store that publishes the entry mapping the page.
    AnonExclusivePublishWmb,
    /// Candidate fix (not in 6.18.2; docs/findings.md F2): `smp_mb` after
    /// `raw_write_seqcount_begin(&src_mm->write_protect_seq)` in `copy_page_range`.
    ForkWriteProtectSeqMb,
}

/// What the catalogue says about a rule.
#[derive(Clone, Copy, Debug)]
pub struct RuleInfo {
    pub rule: Rule,
    /// Kebab-case id, as on the command line (`--break`).
    pub id: &'static str,
    /// One sentence.
    pub statement: &'static str,
    /// Kernel files and functions, and the historical race or commit it comes from.
    pub source: &'static str,
    /// The model function that keeps it.
    pub model_fn: &'static str,
    /// Which engine must catch it when it is off.
    pub engine: CatchingEngine,
    /// The invariants whose violation shows the rule is off (a lost reference, say, may
    /// surface as a use-after-free or as a scanner holding the wrong folio, whichever comes
    /// first in the interleaving).
    pub invariants: &'static [crate::invariants::Inv],
}

impl Rule {
    /// Every rule, in catalogue order.
    pub const ALL: &'static [Rule] = &[
        Rule::PmdTransHugeLockRecheck,
        Rule::SplitPmdRefBeforeTableVisible,
        Rule::GupFastRecheckFolio,
        Rule::ScannerAddUnlessZero,
        Rule::ScannerRecheckFolio,
        Rule::FolioRefFreezeCas,
        Rule::SplitUnfreezeRelease,
        Rule::SplitFlagsWmb,
        Rule::MigrationEntryDecodeRmb,
        Rule::RemapBeforeUnlock,
        Rule::HugeFaultPmdNoneRecheck,
        Rule::PmdInstallPmdNoneRecheck,
        Rule::PmdInstallWmb,
        Rule::SplitPmdInvalidateNotClear,
        Rule::ChangeHugePmdInvalidateNotClear,
        Rule::GupFastPmdPteRecheck,
        Rule::GupFastPinMb,
        Rule::TryShareAnonRmapMb,
        Rule::PteOffsetMapLockPmdSame,
        Rule::SplitUnfreezeAfterMetadata,
        Rule::TableFreeWaitsForGupFast,
        Rule::DeferredSplitScanTryGet,
        Rule::SplitUnqueueWithFreeze,
        Rule::FolioPutUnqueuesDeferred,
        Rule::CollapseIsolateRefCheck,
        Rule::CollapseTableSyncOne,
        Rule::CowReuseByRefcount,
        Rule::ZapHugePmdNonPresent,
        Rule::MigrateRemovePtesBeforeUnlock,
        Rule::RmapWalkSkipsMigrationPmd,
        Rule::PvmwCheckPmdPfn,
        Rule::RemoveMigrationPtePtl,
        Rule::ZeropageRemapSoftDirty,
        Rule::ZeropageRemapSkipsHwpoison,
        Rule::WpReuseLargeSharedBit,
        Rule::WpReuseLargeRefcount,
        Rule::SplitPmdInvalidatePresentOnly,
        Rule::SplitLruFlagAtomic,
        Rule::PvmwSyncPmdLock,
        Rule::PteOffsetMapSkipsHuge,
        Rule::RmapWalkParentBeforeChild,
        Rule::CollapseVmaStartWrite,
        Rule::PtReclaimPmdTrylock,
        Rule::SplitPmdPopulateWmb,
        Rule::SplitQueueUnlockBeforeLruLock,
        Rule::MigrateSplitTestsDeferredList,
        Rule::MadviseFreeInvalidateNotClear,
        Rule::MadviseFreeGetBeforeUnlock,
        Rule::GupFastWriteProtectSeq,
        Rule::DiscardPmdMb,
        Rule::DiscardPmdRefCheck,
        Rule::DiscardPmdDirtyRecheck,
        Rule::DiscardPmdRmb,
        Rule::KsmWriteProtectClearFlush,
        Rule::KsmWriteProtectRefcountCheck,
        Rule::GupMustUnshareRmb,
        Rule::TryShareAnonRmapAfterAtomic,
        Rule::VmemmapSplitPmdWmb,
        Rule::VmemmapSplitPmdRecheck,
        Rule::VmemmapRemapWmb,
        Rule::VmemmapRestoreWmb,
        Rule::HvoSynchronizeRcu,
        Rule::PageCountWritableRefcountFirst,
        Rule::HvoRollback,
        Rule::HvoTlbFlush,
        Rule::FlushTlbBatchedPending,
        Rule::MigrateUnmapFlushBeforeMove,
        Rule::ZapFlushBeforeFree,
        Rule::TryToUnmapFlushDirty,
        Rule::RemoveMappingRefFreeze,
        Rule::SwapinPteSame,
    ];

    /// Candidate fixes of findings (docs/findings.md): steps 6.18.2 lacks. Off unless a run
    /// applies them (a scenario's `fixes`, or `--fix`); "off" is the kernel as released.
    /// Not in [`Rule::ALL`], the kernel's rules.
    pub const FIXES: &'static [Rule] = &[
        Rule::AnonExclusivePublishWmb,
        Rule::ForkWriteProtectSeqMb,
        Rule::DiscardPmdInvalidateNotClear,
        Rule::KsmWriteProtectMb,
        Rule::SplitTailFlagsSetMaskBits,
    ];

    /// A candidate fix ([`Rule::FIXES`]) rather than a step of the kernel.
    pub fn is_candidate_fix(self) -> bool {
        Rule::FIXES.contains(&self)
    }

    /// The catalogue entry.
    pub fn info(self) -> RuleInfo {
        use crate::invariants::Inv;
        use CatchingEngine::{Any, Loom};
        #[allow(clippy::type_complexity)]
        let (id, statement, source, model_fn, engine, invariants): (_, _, _, _, _, &'static [Inv]) = match self {
            Rule::PmdTransHugeLockRecheck => (
                "pmd-trans-huge-lock-recheck",
                "A walker that saw a huge PMD without the PMD lock must re-test it after taking the lock, because a split may have turned it into a table meanwhile",
                "mm/huge_memory.c __pmd_trans_huge_lock; mm/gup.c follow_pmd_mask; Documentation/mm/transhuge.rst \"Locking in hugepage aware code\"",
                "mm::huge_memory::__pmd_trans_huge_lock, mm::gup::follow_pmd_mask",
                Any, &[Inv::I5HugePmdStability],
            ),
            Rule::SplitPmdRefBeforeTableVisible => (
                "split-pmd-ref-before-table-visible",
                "A PMD split raises the folio refcount by N-1 (one reference per PTE mapping) before the PTE table is published, so every visible present PTE is covered by a reference",
                "mm/huge_memory.c __split_huge_pmd_locked (folio_ref_add before pmd_populate); include/linux/mm.h folio_mapcount (\"each present page table entry must be paired with exactly one folio reference\")",
                "mm::huge_memory::__split_huge_pmd_locked",
                Any, &[Inv::I3RefsCoverMappings],
            ),
            Rule::GupFastRecheckFolio => (
                "gup-fast-recheck-folio",
                "After its speculative reference on page_folio(page), GUP-fast re-checks that the page still belongs to that folio, else puts and retries",
                "mm/gup.c try_get_folio; historical race Z13 (c24d37322548, CVE-less, 2021)",
                "mm::gup::try_get_folio",
                Any, &[Inv::I15GupFast],
            ),
            Rule::ScannerAddUnlessZero => (
                "scanner-add-unless-zero",
                "A physical scanner that holds no reference takes one only with add-unless-zero (folio_try_get / get_page_unless_zero), so it never raises a frozen or free count",
                "include/linux/page_ref.h page_ref_add_unless; Documentation/mm/transhuge.rst \"get_page_unless_zero\"",
                "mm::memory_failure::__get_hwpoison_page, mm::page_idle::page_idle_get_folio",
                Any, &[Inv::I6RefOnFrozen, Inv::I7RecheckAfterGet],
            ),
            Rule::ScannerRecheckFolio => (
                "scanner-recheck-folio",
                "After a speculative get on page_folio(page), a scanner re-checks page_folio(page) == folio, because a split between the two may have made the page its own folio",
                "mm/memory-failure.c __get_hwpoison_page; mm/page_idle.c page_idle_get_folio; docs/protocol.md#scanners",
                "mm::memory_failure::__get_hwpoison_page",
                Any, &[Inv::I7RecheckAfterGet],
            ),
            Rule::FolioRefFreezeCas => (
                "folio-ref-freeze-cas",
                "folio_ref_freeze is a single cmpxchg from the expected count to 0; a read followed by a set loses a reference taken in between",
                "include/linux/page_ref.h folio_ref_freeze; mm/huge_memory.c __folio_split",
                "mm::page_ref::folio_ref_freeze",
                Any, &[Inv::I6RefOnFrozen, Inv::I7RecheckAfterGet, Inv::I8UseAfterFree],
            ),
            Rule::SplitUnfreezeRelease => (
                "split-unfreeze-release",
                "folio_ref_unfreeze is a release store, so a getter whose add-unless-zero succeeds sees the new folio's cleared compound link and copied flags",
                "include/linux/page_ref.h folio_ref_unfreeze (atomic_set_release); historical race Z15",
                "mm::page_ref::folio_ref_unfreeze",
                Loom, &[Inv::I7RecheckAfterGet],
            ),
            Rule::SplitFlagsWmb => (
                "split-flags-wmb",
                "__split_folio_to_order writes a new folio's flags (PG_locked copied from the head) before an smp_wmb, then clears its compound link",
                "mm/huge_memory.c __split_folio_to_order (\"Page flags must be visible before we make the page non-compound\"); historical races Z06, Z15",
                "mm::huge_memory::__split_folio_to_order",
                Loom, &[Inv::I10MigrationEntryLocked],
            ),
            Rule::MigrationEntryDecodeRmb => (
                "migration-entry-decode-rmb",
                "Decoding a migration entry to its folio reads the compound link, then smp_rmb, then the flags, pairing with the split's smp_wmb (fixed after 6.18.2: 6.18.2 itself lacks it)",
                "include/linux/swapops.h pfn_swap_entry_folio / softleaf_to_folio; historical race Z06 (4c5e7f0fcd59, CVE-2026-31466)",
                "mm::migrate::pfn_swap_entry_folio",
                Loom, &[Inv::I10MigrationEntryLocked],
            ),
            Rule::RemapBeforeUnlock => (
                "remap-before-unlock",
                "A split turns every migration entry back into a PTE (remap_page) before it unlocks the new folios, so a migration entry always points to a locked folio",
                "mm/huge_memory.c __folio_split (remap_page, then the unlock loop); include/linux/swapops.h BUG_ON in pfn_swap_entry_folio",
                "mm::huge_memory::__folio_split",
                Any, &[Inv::I10MigrationEntryLocked, Inv::I2IncOfZero, Inv::I8UseAfterFree],
            ),
            Rule::HugeFaultPmdNoneRecheck => (
                "huge-fault-pmd-none-recheck",
                "The anonymous huge fault re-tests pmd_none under the PMD lock and backs off if a concurrent fault populated the PMD first",
                "mm/huge_memory.c __do_huge_pmd_anonymous_page (pmd_none under vmf->ptl)",
                "mm::huge_memory::do_huge_pmd_anonymous_page",
                Any, &[Inv::I4MapcountMismatch, Inv::I13DepositBalance, Inv::I17TableLifetime],
            ),
            Rule::PmdInstallPmdNoneRecheck => (
                "pmd-install-pmd-none-recheck",
                "pmd_install re-tests pmd_none under the PMD lock; the loser of a race with a huge fault or another pmd_install frees its table",
                "mm/memory.c pmd_install",
                "mm::memory::pmd_install",
                Any, &[Inv::I4MapcountMismatch, Inv::I13DepositBalance, Inv::I17TableLifetime],
            ),
            Rule::PmdInstallWmb => (
                "pmd-install-wmb",
                "pmd_install issues smp_wmb between zeroing the new PTE table and pmd_populate, so a lockless walker that follows the PMD sees the zeroed table, not the page's previous contents",
                "mm/memory.c pmd_install (\"ensure all pte setup (eg. pte page lock and page clearing) are visible before the pte is made visible\")",
                "mm::memory::pmd_install",
                // I17: the walker may also see the table before its allocation (taken off the
                // free list before the zeroing) is visible: the old, freed table.
                Loom, &[Inv::I2IncOfZero, Inv::I17TableLifetime],
            ),
            Rule::SplitPmdInvalidateNotClear => (
                "split-pmd-invalidate-not-clear",
                "__split_huge_pmd_locked makes the huge PMD invalid (present and huge to a lockless reader on x86) and never none, until pmd_populate publishes the table: a zap that reads it none skips the range (I12), and so does fork's copy_pmd_range, whose child then lacks the range (I29, swapout-vs-fork: reclaim's TTU_SPLIT_HUGE_PMD)",
                "mm/huge_memory.c __split_huge_pmd_locked (long comment: the PMD must stay \"trans huge\" until the split completes); mm/pgtable-generic.c pmdp_invalidate; mm/memory.c copy_pmd_range (pmd_none_or_clear_bad)",
                "mm::huge_memory::__split_huge_pmd_locked",
                Any, &[Inv::I12PmdTransientlyNone, Inv::I29DataLost],
            ),
            Rule::ChangeHugePmdInvalidateNotClear => (
                "change-huge-pmd-invalidate-not-clear",
                "change_huge_pmd under mmap_lock or VMA read (NUMA hinting, UFFDIO_WRITEPROTECT; mprotect holds mmap_lock for write) changes a huge PMD by invalidate-then-set, never clear-then-set, so a lockless MADV_DONTNEED cannot skip it (the MADV_FREE form is rule madvise-free-invalidate-not-clear)",
                "mm/huge_memory.c change_huge_pmd (pmdp_invalidate_ad; \"critical to not clear pmd intermittently\"); historical race Z02 (ced108037c2a \"thp: fix MADV_DONTNEED vs. numa balancing race\")",
                "mm::huge_memory::change_huge_pmd",
                Any, &[Inv::I12PmdTransientlyNone],
            ),
            Rule::GupFastPmdPteRecheck => (
                "gup-fast-pmd-pte-recheck",
                "After grabbing the folio, GUP-fast re-reads the PMD (and the PTE) and backs off if it changed, so a pin never lands on a mapping a concurrent unmap already turned shared",
                "mm/gup.c gup_fast_pmd_leaf, gup_fast_pte_range (pmd_val(orig) == pmd_val(*pmdp)); historical race Z01 for the PTE/collapse half (70cbc3cc78a9)",
                "mm::gup::gup_fast",
                Any, &[Inv::I16PinnedNotExclusive],
            ),
            Rule::GupFastPinMb => (
                "gup-fast-pin-mb",
                "GUP-fast FOLL_PIN raises _pincount, then smp_mb__after_atomic, then re-reads the page table; paired with the smp_mb in folio_try_share_anon_rmap_* (the unmapper clears the entry, then reads the pin count), one of the two sees the other",
                "mm/gup.c try_grab_folio_fast; include/linux/rmap.h __folio_try_share_anon_rmap (comment A1-A4 / B1-B5)",
                "mm::gup::try_grab_folio_fast",
                Loom, &[Inv::I16PinnedNotExclusive],
            ),
            Rule::TryShareAnonRmapMb => (
                "try-share-anon-rmap-mb",
                "Before it reads the pin count and clears PageAnonExclusive, folio_try_share_anon_rmap_* issues smp_mb, so the clear or invalidation of the entry that precedes it is visible before the read (A1 before A2): a GUP-fast pinner then either sees the changed entry and backs off, or its pin is seen and the share refused. Needed wherever the clear is not itself a full barrier and no full barrier follows it: generic code (shown on --arch portable at PMD level, and at PTE level by KSM's write_protect_page, whose read-only pin then lands on a page the merge replaces: I15). x86's xchg and arm64's immediate flush_pmd_tlb_range (ending in dsb(ish)) order it by themselves; arm64's PTE clear with a deferred flush (xchg_relaxed, then arch_tlbbatch_add_pending's dsb(ishst)) is modelled without a barrier, so a folio split's unmap of read-only PTEs against a read-only pin (folio-split-vs-gup-fast-ro-pte) and a THP migration's unmap of writable PTEs against a write pin (thp-migration-pte-vs-gup-fast) show it there too: a generic-code result, since that dsb may order the clear on real arm64",
                "include/linux/rmap.h __folio_try_share_anon_rmap (comment A1-A4 / B1-B5, \"we assume that there might not be a memory barrier after clearing/invalidating the PTE\"); arch/arm64/include/asm/pgtable.h pmdp_establish (xchg_relaxed)",
                "mm::rmap::folio_try_share_anon_rmap",
                Loom, &[Inv::I16PinnedNotExclusive, Inv::I15GupFast],
            ),
            Rule::PteOffsetMapLockPmdSame => (
                "pte-offset-map-lock-pmd-same",
                "After taking the PTE lock of the table it mapped, __pte_offset_map_lock re-reads the PMD and retries unless it still points to that table, because the table can be unlinked (PT_RECLAIM) under mmap_lock read",
                "mm/pgtable-generic.c __pte_offset_map_lock (pmd_same); mm/pt_reclaim.c try_to_free_pte; Documentation/mm/process_addrs.rst \"Page table installation\"",
                "mm::pgtable_generic::pte_offset_map_lock",
                Any, &[Inv::I4MapcountMismatch, Inv::I17TableLifetime],
            ),
            Rule::SplitUnfreezeAfterMetadata => (
                "split-unfreeze-after-metadata",
                "A split unfreezes a new folio's refcount only after its flags are copied and its compound link cleared, so a speculative getter that succeeds never sees (or puts through) the old tail link",
                "mm/huge_memory.c __split_folio_to_order and __folio_split step 12; historical race Z15 (605ca5ede764, 4.17)",
                "mm::huge_memory::__split_folio_to_order, mm::huge_memory::__folio_split",
                Any, &[Inv::I6RefOnFrozen, Inv::I8UseAfterFree],
            ),
            Rule::TableFreeWaitsForGupFast => (
                "table-free-waits-for-gup-fast",
                "A PTE table unlinked under mmap_lock read (PT_RECLAIM) is freed only after a grace period that also waits for IRQs-off sections, because GUP-fast walks the table with IRQs off and no lock",
                "mm/mmu_gather.c tlb_remove_table (RCU table freeing; GUP-fast disables IRQs); mm/pt_reclaim.c; arch/x86/kernel/kvm.c kvm_flush_tlb_multi (the flush skips preempted vCPUs); invariant I17; historical race Z01 (2ba99c5e0881)",
                "mm::zap::tlb_remove_table",
                Any, &[Inv::I17TableLifetime],
            ),
            Rule::DeferredSplitScanTryGet => (
                "deferred-split-scan-try-get",
                "The deferred split shrinker references a queued folio with folio_try_get and, when that fails, only unlinks it, because a queued folio may be at refcount 0 on its way through the final folio_put",
                "mm/huge_memory.c deferred_split_scan (\"Take pin on all head pages to avoid freeing them under us\", \"We lost race with folio_put()\"); docs/protocol.md#deferred-split",
                "mm::huge_memory::deferred_split_scan",
                Any, &[Inv::I2IncOfZero, Inv::I8UseAfterFree],
            ),
            Rule::SplitUnqueueWithFreeze => (
                "split-unqueue-with-freeze",
                "A folio split unlinks the folio from the deferred split list in the same split_queue_lock section as its successful folio_ref_freeze, so the shrinker never finds an already split (order-0) folio on the queue",
                "mm/huge_memory.c __folio_split (list_del_init under split_queue_lock after folio_ref_freeze: \"prevent deferred_split_scan() touching ->_refcount\"); docs/protocol.md#folio-split step 8 and docs/protocol.md#deferred-split",
                "mm::huge_memory::__folio_split",
                Any, &[Inv::I14DeferredList],
            ),
            Rule::FolioPutUnqueuesDeferred => (
                "folio-put-unqueues-deferred",
                "The final put of a large folio unlinks it from the deferred split list (under split_queue_lock, at refcount 0) before the pages go back to the allocator",
                "mm/swap.c __folio_put; mm/internal.h folio_unqueue_deferred_split; mm/huge_memory.c __folio_unqueue_deferred_split; invariant I8",
                "mm::page_ref::folio_put_refs, mm::huge_memory::folio_unqueue_deferred_split",
                Any, &[Inv::I14DeferredList],
            ),
            Rule::CollapseIsolateRefCheck => (
                "collapse-isolate-ref-check",
                "khugepaged collapses a range only if every source folio's refcount equals its mappings, checked after the PMD was cleared, so a page pinned by GUP(-fast) is never replaced under the pin",
                "mm/khugepaged.c __collapse_huge_page_isolate (folio_expected_ref_count != folio_ref_count: SCAN_PAGE_COUNT). Not a historical revert but the check itself; Z01 is re-created by reverting its two fixes instead (gup-fast-pmd-pte-recheck with collapse-table-sync-one: see \"Rules kept but not switchable\")",
                "mm::khugepaged::__collapse_huge_page_isolate",
                Any, &[Inv::I15GupFast],
            ),
            Rule::CollapseTableSyncOne => (
                "collapse-table-sync-one",
                "After clearing the PMD, collapse waits for every IRQs-off GUP-fast walk (tlb_remove_table_sync_one) before it reuses the old PTE table as the deposited table, which a later zap frees at once",
                "mm/khugepaged.c collapse_huge_page (tlb_remove_table_sync_one); mm/huge_memory.c zap_deposited_table (pte_free, no RCU); historical race Z01 follow-up (2ba99c5e0881)",
                "mm::khugepaged::collapse_huge_page",
                Any, &[Inv::I17TableLifetime],
            ),
            Rule::CowReuseByRefcount => (
                "cow-reuse-by-refcount",
                "A write fault reuses a fork-shared THP in place only if, under the PMD lock and the folio lock, its refcount is exactly 1; a mapcount summed from several counters can be read while a PMD split in the other mm moves that mm's mapping between them",
                "mm/huge_memory.c do_huge_pmd_wp_page (folio_ref_count check, \"See do_wp_page()\"); historical race Z14 (CVE-2020-29368). Off re-creates the pre-5.7.5 protocol: reuse decided by a mapcount read page by page then entire (after page_trans_huge_mapcount) with no folio lock in __split_huge_pmd; 6.18's split takes no folio lock either, so the Z14 fix (c444eb564fb1, folio lock around the PMD split) is not separately switchable",
                "mm::huge_memory::do_huge_pmd_wp_page",
                Any, &[Inv::I21ExclusiveShared],
            ),
            Rule::ZapHugePmdNonPresent => (
                "zap-huge-pmd-non-present",
                "zap_huge_pmd (MADV_DONTNEED / munmap, which see huge and non-present PMDs alike) treats a PMD migration entry as non-present: no rmap, no reference, only the deposited table is freed",
                "mm/huge_memory.c zap_huge_pmd (pmd_present / is_pmd_migration_entry branch); historical race Z07 (CVE-2026-53108, bbcbf045d6c7). Off: the entry goes down the present-PMD path (the PMD mapping removed, a reference it never held put after the flush); the refcount checks catch the folio freed under the migration. This is the shape of a zap that assumes a present PMD, not the historical failure, which was the present assertion inside powerpc's get-and-clear helper (not modelled)",
                "mm::zap::zap_huge_pmd",
                Any, &[Inv::I8UseAfterFree],
            ),
            Rule::MigrateRemovePtesBeforeUnlock => (
                "migrate-remove-ptes-before-unlock",
                "THP migration replaces every migration entry by the new folio's mapping (remove_migration_ptes) before it unlocks the source, because a migration entry may only be decoded while its folio is locked",
                "mm/migrate.c migrate_folio_move (remove_migration_ptes, then folio_unlock(dst), folio_unlock(src)); include/linux/swapops.h pfn_swap_entry_folio (BUG_ON unlocked); invariant I10",
                "mm::migrate::migrate_huge_page",
                Any, &[Inv::I10MigrationEntryLocked],
            ),
            Rule::RmapWalkSkipsMigrationPmd => (
                "rmap-walk-skips-migration-pmd",
                "The rmap walk of a folio split (try_to_migrate, no PVMW_MIGRATION) treats a PMD migration entry as not found: the anon_vma only says where the folio may be, and a migration entry there belongs to another, locked folio that must not be decoded as a present PMD",
                "mm/page_vma_mapped.c page_vma_mapped_walk (!pmd_present: not_found without PVMW_MIGRATION); mm/rmap.c try_to_migrate_one; historical race Z19 (CVE-2025-37958, be6e843fc51a). Off: the walk compares its folio with pmd_folio() of the entry, whose pfn field holds swap-entry bits (type and offset), not the folio's pfn; the reported crash was a fault on a struct page that did not exist, the case the model takes (the decoded pfn lies beyond the memmap, which catches it). Where the bits happen to name a real, unrelated page the kernel reads that page instead, which the model does not explore",
                "mm::rmap::try_to_migrate_one",
                Any, &[Inv::I8UseAfterFree],
            ),
            Rule::PvmwCheckPmdPfn => (
                "pvmw-check-pmd-pfn",
                "An rmap walk reports a huge PMD only if, re-read under the PMD lock, it maps the folio being walked: the anon_vma says only where the folio may be mapped, and at that address another mm (a forked child that replaced its copy, or after a migration) may map a different folio, which a folio split would otherwise unmap and freeze behind migration entries it never removes",
                "mm/page_vma_mapped.c page_vma_mapped_walk (pmd_trans_huge under pmd_lock: check_pmd(pmd_pfn(pmde), pvmw), else not_found); mm/rmap.c try_to_migrate_one",
                "mm::rmap::try_to_migrate_one",
                Any, &[Inv::I11SplitEndsClean],
            ),
            Rule::RemoveMigrationPtePtl => (
                "remove-migration-pte-ptl",
                "remove_migration_ptes reads a PTE migration entry and replaces it by the new page's PTE (reference, rmap, set_pte_at) under the PTE lock, so that nobody who clears or replaces PTEs under that lock (a zap, a fault) acts on the entry between the read and the store",
                "mm/page_vma_mapped.c page_vma_mapped_walk (map_pte, then the PTE lock before a PTE is reported, with or without PVMW_SYNC); mm/migrate.c remove_migration_pte. Off: the walk maps the table under RCU only and reads and rewrites the entries without the lock; a zap that cleared the entry meanwhile is undone (the zapped page is mapped again), or the zap, having read the entry first, clears the new PTE as if it were the entry (its mapping and reference leak, the page is never freed)",
                "mm::migrate::remove_migration_ptes",
                Any, &[Inv::I11SplitEndsClean],
            ),
            Rule::ZeropageRemapSoftDirty => (
                "zeropage-remap-soft-dirty",
                "When a successful split of an anonymous folio maps a zero-filled sub-page to the shared zero page instead of restoring its migration entry, the zero-page PTE keeps the entry's soft-dirty bit: the page was written since the last clear_refs as far as a soft-dirty tracker (CRIU, a live migrator) knows, and a split must not make it look clean",
                "mm/migrate.c try_to_map_unused_to_zeropage (pte_swp_soft_dirty of the old entry, then pte_mksoft_dirty of the new one), reached from remove_migration_pte with RMP_USE_SHARED_ZEROPAGE (mm/huge_memory.c __folio_split: a successful anonymous split). Historical: the remap (Linux 6.12) first set the zero-page PTE with neither soft-dirty nor uffd-wp; the carry was added in 2025. Off: the zero-page PTE is built from the VMA's protection alone",
                "mm::migrate::try_to_map_unused_to_zeropage",
                Any, &[Inv::I27CarriedOver],
            ),
            Rule::ZeropageRemapSkipsHwpoison => (
                "zeropage-remap-skips-hwpoison",
                "Before comparing a sub-page with the zero page, the split's remap skips a page marked PG_hwpoison (memory_failure marked it, and its own split is remapping it now, or an earlier split of it failed): pages_identical is a plain read, and reading a poisoned frame in kernel mode is a machine check",
                "mm/migrate.c try_to_map_unused_to_zeropage (PageCompound or PageHWPoison: return false, before pages_identical); mm/memory-failure.c memory_failure (the mark stays when the THP cannot be split). Historical: the remap (Linux 6.12) compared every sub-page; the PageHWPoison test was added in 2025 after a split consumed a known memory error. Off: a poisoned zero-candidate sub-page is read",
                "mm::migrate::try_to_map_unused_to_zeropage",
                Any, &[Inv::I30HwPoisonConsumed],
            ),
            Rule::WpReuseLargeSharedBit => (
                "wp-reuse-large-shared-bit",
                "A write fault reuses a page of a PTE-mapped large anonymous folio in place only if the folio is not \"maybe mapped shared\" (FOLIO_MM_IDS_SHARED_BIT, tested without and again under the _mm_ids lock): its mappings in other mms hold references and mapcounts just like this mm's, so mapcount == refcount alone cannot tell them apart",
                "mm/memory.c __wp_can_reuse_large_anon_folio (test_bit(FOLIO_MM_IDS_SHARED_BITNUM) before and after folio_lock_large_mapcount); include/linux/rmap.h folio_add_return_large_mapcount (a second mm's mapping sets the bit). Before 6.15 a PTE-mapped THP was never reused. Off: reuse decided by the mapcount/refcount test alone",
                "mm::memory::__wp_can_reuse_large_anon_folio",
                Any, &[Inv::I21ExclusiveShared],
            ),
            Rule::WpReuseLargeRefcount => (
                "wp-reuse-large-refcount",
                "A write fault reuses a page of a PTE-mapped large anonymous folio in place only if every reference is a mapping (folio_large_mapcount == folio_ref_count, without and again under the _mm_ids lock): a reference another mm took through GUP while it shared the page (vmsplice, O_DIRECT) outlives that mm's mapping, and a reuse would let this mm's writes reach it",
                "mm/memory.c __wp_can_reuse_large_anon_folio (folio_large_mapcount(folio) != folio_ref_count(folio) before and after folio_lock_large_mapcount); the small-folio twin is wp_can_reuse_anon_folio's refcount test, the fix for CVE-2020-29374 (09854ba94c6a, 2020). Off: reuse decided by the shared bit alone",
                "mm::memory::__wp_can_reuse_large_anon_folio",
                Any, &[Inv::I21ExclusiveShared],
            ),
            Rule::SplitPmdInvalidatePresentOnly => (
                "split-pmd-invalidate-present-only",
                "__split_huge_pmd_locked invalidates a PMD only when it is present; a PMD migration entry is read and replaced as it is, because on arm64 pmd_mkinvalid sets PMD_PRESENT_INVALID and any value it is applied to then reads as a present huge PMD to lockless walkers",
                "mm/huge_memory.c __split_huge_pmd_locked (is_pmd_migration_entry tested before pmdp_invalidate); historical race Z12 (3a5a8d343e1c, 2024; bug since 84c3fc4e9c56)",
                "mm::huge_memory::__split_huge_pmd_locked",
                Any, &[Inv::I26NonPresentAsPresent],
            ),
            Rule::SplitLruFlagAtomic => (
                "split-lru-flag-atomic",
                "Once a new folio of a split is unfrozen (and its compound link cleared), the split changes its flags only with atomic bit operations (lru_add_split_folio's folio_set_lru): a CPU waiting for the new folio's lock may be setting PG_waiters in the same word, and a plain read-modify-write would erase it, so the unlock wakes nobody",
                "mm/huge_memory.c lru_add_split_folio (folio_set_lru); include/linux/page-flags.h (atomic vs __ non-atomic flag ops); historical race Z15 (Hugh Dickins 2018, \"__split_huge_page() use atomic ClearPageDirty()\")",
                "mm::huge_memory::__folio_split",
                Any, &[Inv::I20LostWakeup],
            ),
            Rule::PvmwSyncPmdLock => (
                "pvmw-sync-pmd-lock",
                "An rmap walk with PVMW_SYNC that finds a none PMD where a PMD-sized folio may be mapped takes and drops the PMD lock before going on, so it cannot return while a zap_huge_pmd that cleared the PMD under that lock is still finishing: that zap may be decoding the PMD migration entry it took, which requires the folio to stay locked until it is done",
                "mm/page_vma_mapped.c page_vma_mapped_walk (\"If PVMW_SYNC, take and drop THP pmd lock so that we cannot return prematurely, while zap_huge_pmd() has cleared *pmd ...\"); mm/migrate.c remove_migration_pte (PVMW_SYNC | PVMW_MIGRATION); mm/rmap.c try_to_migrate_one (PVMW_SYNC with TTU_SYNC); include/linux/swapops.h pfn_swap_entry_folio",
                "mm::page_vma_mapped::page_vma_mapped_walk_sync",
                Any, &[Inv::I10MigrationEntryLocked],
            ),
            Rule::PteOffsetMapSkipsHuge => (
                "pte-offset-map-skips-huge",
                "A walker under mmap_lock read that expects a page table treats a PMD that is none, a migration entry or huge as 'no table here right now' (and retries or skips), never as a corrupt PMD to clear: a huge fault (also under mmap_lock read) may have installed a huge PMD since the walker last looked",
                "mm/pgtable-generic.c ___pte_offset_map (pmd_none / is_pmd_migration_entry / pmd_trans_huge before pmd_bad + pmd_clear_bad); historical race Z20, 2012 form (1a5a9906d4e8, CVE-2012-1179: pmd_none_or_trans_huge_or_clear_bad)",
                "mm::pgtable_generic::pte_offset_map_lock",
                Any, &[Inv::I4MapcountMismatch, Inv::I13DepositBalance],
            ),
            Rule::RmapWalkParentBeforeChild => (
                "rmap-walk-parent-before-child",
                "An anon rmap walk visits a forked child's mapping after its parent's (the child's anon_vma chain is inserted after the parent's in the interval tree), so remove_migration_ptes cannot miss both the parent's migration entry and the copy fork makes of it: fork copies migration entries under the page-table locks only, without the anon_vma lock the walk holds",
                "mm/rmap.c anon_vma_fork / anon_vma_chain_link (interval-tree insertion order); mm/huge_memory.c copy_huge_pmd (is_swap_pmd: the migration entry is copied); mm/mremap.c move_ptes (\"only rmap traversal order guarantees that we won't miss both the old and new ptes\")",
                "mm::rmap::rmap_walk_order",
                Any, &[Inv::I11SplitEndsClean, Inv::I10MigrationEntryLocked],
            ),
            Rule::CollapseVmaStartWrite => (
                "collapse-vma-start-write",
                "khugepaged's collapse_huge_page write-locks the VMA (vma_start_write) after taking mmap_lock for write: page faults run under the per-VMA lock without mmap_lock, and one that found the PMD none while the collapse had it unlinked would install a new page table that the collapse's set_pmd_at then overwrites",
                "mm/khugepaged.c collapse_huge_page (vma_start_write; BUG_ON(!pmd_none(*pmd)) before set_pmd_at); mm/mmap_lock.c lock_vma_under_rcu / vma_start_read; Documentation/mm/process_addrs.rst (VMA locks)",
                "mm::khugepaged::collapse_huge_page, mm::mmap_lock::vma_start_write",
                Any, &[Inv::I5HugePmdStability, Inv::I13DepositBalance, Inv::I4MapcountMismatch],
            ),
            Rule::PtReclaimPmdTrylock => (
                "pt-reclaim-pmd-trylock",
                "PT_RECLAIM's direct path, which already holds the PTE lock, takes the PMD lock only with spin_trylock (and falls back to try_to_free_pte, PMD lock first, on failure): the usual order is PMD lock then PTE lock, and split page-table locks are one lockdep class",
                "mm/pt_reclaim.c try_get_and_clear_pmd (spin_trylock) and try_to_free_pte (spin_lock_nested); mm/memory.c zap_pte_range; include/linux/mm.h ptlock_init",
                "mm::zap::try_get_and_clear_pmd",
                Any, &[Inv::I19LockOrder],
            ),
            Rule::SplitPmdPopulateWmb => (
                "split-pmd-populate-wmb",
                "__split_huge_pmd_locked fills the withdrawn PTE table, then smp_wmb, then pmd_populate, so a walker that reaches the table through the new PMD (under the PTE lock only, or locklessly) sees the PTEs. On the present-PMD path folio_remove_rmap_pmd's fully ordered atomic also orders them; on the PMD-migration-entry path the smp_wmb is the only ordering, and a remove_migration_ptes that misses the entries leaves them behind",
                "mm/huge_memory.c __split_huge_pmd_locked (\"smp_wmb(); /* make pte visible before pmd */\"); mm/memory.c pmd_install (the same pairing with lockless walkers)",
                "mm::huge_memory::__split_huge_pmd_locked",
                Loom, &[Inv::I11SplitEndsClean, Inv::I10MigrationEntryLocked],
            ),
            Rule::SplitQueueUnlockBeforeLruLock => (
                "split-queue-unlock-before-lru-lock",
                "__folio_split drops split_queue_lock (taken for the freeze and the unqueue) before it takes the lruvec lock: the batched free folios_put_refs takes split_queue_lock (folio_unqueue_deferred_split) while it holds the lruvec lock of an earlier folio of the batch, so nesting them the other way round is an ABBA deadlock",
                "mm/huge_memory.c __folio_split (split_queue_unlock, then folio_lruvec_lock); mm/swap.c folios_put_refs (folio_unqueue_deferred_split, then __page_cache_release with the lruvec lock kept across the batch)",
                "mm::huge_memory::__folio_split, mm::swap::folios_put_refs",
                Any, &[Inv::I19LockOrder],
            ),
            Rule::MigrateSplitTestsDeferredList => (
                "migrate-split-tests-deferred-list",
                "Migration splits a partially mapped folio it finds on the deferred split list, testing the list without split_queue_lock and never unlinking the folio itself: the folio may be on deferred_split_scan's on-stack private list, which the scan walks without the lock while it holds the folio's reference, and only the split's freeze (under split_queue_lock, failing while the scan holds its reference) may take it off",
                "mm/migrate.c migrate_pages_batch (\"Only check it without removing it from the list\", before try_split_folio); mm/huge_memory.c __folio_unqueue_deferred_split (\"unsafe ... until folio refcount is zero\"). Off: the folio is unlinked under split_queue_lock first, as __folio_unqueue_deferred_split would at a raised refcount",
                "mm::migrate::migrate_pages_batch",
                Any, &[Inv::I14DeferredList],
            ),
            Rule::MadviseFreeInvalidateNotClear => (
                "madvise-free-invalidate-not-clear",
                "MADV_FREE of a whole huge PMD marks it old and clean by pmdp_invalidate then set_pmd_at under the PMD lock, never by clearing it and setting it back, so a lockless MADV_DONTNEED (zap_pmd_range under mmap_lock read) cannot skip the PMD and return with the range still mapped",
                "mm/huge_memory.c madvise_free_huge_pmd (pmdp_invalidate, pmd_mkold, pmd_mkclean, set_pmd_at); historical race Z02, MADV_FREE form (58ceeb6bec86 \"thp: fix MADV_DONTNEED vs. MADV_FREE race\")",
                "mm::huge_memory::madvise_free_huge_pmd",
                Any, &[Inv::I12PmdTransientlyNone],
            ),
            Rule::MadviseFreeGetBeforeUnlock => (
                "madvise-free-get-before-unlock",
                "MADV_FREE splits a large folio it covers only in part: under the page-table lock it trylocks the folio and takes a reference (folio_get), and only then drops the lock and calls split_folio. The folio lock does not keep the folio alive; without the reference a concurrent zap can drop the last mapping and free the folio while it is locked and about to be split. (Not a historical bug: no kernel is known to have dropped the lock first; the switch shows the reference is what keeps the folio alive)",
                "mm/huge_memory.c madvise_free_huge_pmd (folio_get, then spin_unlock, split_folio); mm/madvise.c madvise_free_pte_range (folio_get, then pte_unmap_unlock, split_folio)",
                "mm::madvise::madvise_free_split_folio",
                Any, &[Inv::I8UseAfterFree, Inv::I2IncOfZero],
            ),
            Rule::GupFastWriteProtectSeq => (
                "gup-fast-write-protect-seq",
                "GUP-fast with FOLL_PIN reads mm->write_protect_seq before its walk (odd: fork is copying, fall back to slow GUP) and re-reads it after (moved: unpin and fall back). fork's copy_page_range makes it odd around the copy. The fork reads the pin count before it write-protects the PMD, so GUP-fast's own pin-then-recheck cannot see a fork that shared the page between the two; without the seqcount the pin lands on a page the child now shares, and the parent's next write copies it away from the pin",
                "mm/gup.c gup_fast (raw_seqcount_try_begin, read_seqcount_retry on mm->write_protect_seq); mm/memory.c copy_page_range (raw_write_seqcount_begin / _end); 57efa1fe5957 \"mm/gup: prevent gup_fast from racing with COW during fork\"",
                "mm::gup::gup_fast, mm::mmap::copy_page_range",
                Any, &[Inv::I16PinnedNotExclusive],
            ),
            Rule::AnonExclusivePublishWmb => (
                "anon-exclusive-publish-wmb",
                "Candidate fix, not in 6.18.2 (finding F1): an smp_wmb between setting PageAnonExclusive on a page and the page-table store that maps it, so a lockless GUP-fast pinner that sees the entry also sees the bit. 6.18.2 sets the bit with an unordered set_bit and publishes the entry with a plain store; on arm64 (and under the LKMM) sanity_check_pinned_pages can then find a page it just pinned through a writable entry not AnonExclusive",
                "mm/rmap.c __folio_add_anon_rmap, folio_add_new_anon_rmap; mm/migrate.c remove_migration_pte; mm/huge_memory.c remove_migration_pmd, map_anon_folio_pmd; mm/memory.c do_anonymous_page; mm/gup.c sanity_check_pinned_pages (the reader)",
                "mm::rmap::anon_exclusive_publish_wmb",
                Loom, &[Inv::I16PinnedNotExclusive],
            ),
            Rule::ForkWriteProtectSeqMb => (
                "fork-write-protect-seq-mb",
                "Candidate fix, not in 6.18.2 (finding F2): a full barrier between fork's increment of write_protect_seq and its reads of the pin count, so that fork and a GUP-fast pinner cannot each miss the other (store buffering). 6.18.2 has smp_wmb there and then the page-table locks' ACQUIRE, which the LKMM does not order after the increment (x86-64 does, and arm64 does through the table allocation's UNLOCK before the LOCK)",
                "mm/memory.c copy_page_range (raw_write_seqcount_begin); mm/huge_memory.c copy_huge_pmd; include/linux/rmap.h __folio_try_dup_anon_rmap; mm/gup.c gup_fast (read_seqcount_retry)",
                "mm::mmap::copy_page_range",
                Loom, &[Inv::I16PinnedNotExclusive],
            ),
            Rule::DiscardPmdMb => (
                "discard-pmd-mb",
                "Reclaim's discard of a lazyfree PMD-mapped THP clears the PMD, issues smp_mb, and only then reads the refcount: paired with GUP-fast (grab the reference, then re-read the PMD), either the discard sees the GUP reference and restores the PMD, or GUP-fast sees the cleared PMD and backs off. Needed where neither the PMD exchange nor the TLB flush is a full barrier (shown on --arch portable)",
                "mm/huge_memory.c __discard_anon_folio_pmd_locked (\"Syncing against concurrent GUP-fast\"); mm/rmap.c try_to_unmap_one; mm/vmscan.c shrink_folio_list",
                "mm::huge_memory::unmap_huge_pmd_locked",
                Loom, &[Inv::I15GupFast],
            ),
            Rule::DiscardPmdRefCheck => (
                "discard-pmd-ref-check",
                "Reclaim discards a lazyfree PMD-mapped THP only if its refcount is its mapcount plus the isolation's reference; any other reference (a GUP pin, a speculative get) makes it restore the PMD and keep the folio",
                "mm/huge_memory.c __discard_anon_folio_pmd_locked (\"The only folio refs must be one from isolation plus the rmap(s)\")",
                "mm::huge_memory::unmap_huge_pmd_locked",
                Any, &[Inv::I15GupFast],
            ),
            Rule::DiscardPmdDirtyRecheck => (
                "discard-pmd-dirty-recheck",
                "Reclaim's discard tests the dirty bit of the PMD value its get-and-clear returned (and the folio's dirty flag) after the clear, so a write that dirtied the PMD after the first test and before the clear keeps the folio (restored, swap-backed again) instead of being thrown away",
                "mm/huge_memory.c __discard_anon_folio_pmd_locked (\"If the folio or its PMD is redirtied at this point\")",
                "mm::huge_memory::unmap_huge_pmd_locked",
                Any, &[Inv::I27CarriedOver],
            ),
            Rule::DiscardPmdRmb => (
                "discard-pmd-rmb",
                "Reclaim's discard issues smp_rmb between reading the refcount and re-testing the folio's dirty flag: a holder of a reference that wrote the folio, marked it dirty and then dropped the reference without the folio lock (KVM's kvm_release_page_dirty: SetPageDirty, then put_page) is seen by its reference or by the dirty flag, never by neither, the order __remove_mapping documents",
                "mm/huge_memory.c __discard_anon_folio_pmd_locked (smp_rmb after folio_ref_count / folio_mapcount); mm/vmscan.c __remove_mapping (the comment on testing the refcount before the dirty flag); virt/kvm/kvm_main.c kvm_release_page_dirty",
                "mm::huge_memory::unmap_huge_pmd_locked",
                Loom, &[Inv::I27CarriedOver],
            ),
            Rule::KsmWriteProtectClearFlush => (
                "ksm-write-protect-clear-flush",
                "KSM's write_protect_page clears the PTE and flushes the TLB before it compares the refcount with the mapcount: a GUP-fast (O_DIRECT, a pin) that read the old entry either took its reference before the comparison, which then fails, or re-reads the entry after its reference and backs off; compared with the PTE still mapped, a reference taken just after the comparison survives the merge",
                "mm/ksm.c write_protect_page (ptep_clear_flush before folio_mapcount + 1 + swapped != folio_ref_count; \"Ok this is tricky, when get_user_pages_fast() run it doesn't take any lock\")",
                "mm::ksm::write_protect_page",
                Any, &[Inv::I15GupFast, Inv::I16PinnedNotExclusive],
            ),
            Rule::KsmWriteProtectRefcountCheck => (
                "ksm-write-protect-refcount-check",
                "KSM's write_protect_page merges only if the folio's refcount is its mapcount plus KSM's own reference: any other reference (a FOLL_GET for O_DIRECT writing into the page) means the page may still change after the merge",
                "mm/ksm.c write_protect_page (\"Check that no O_DIRECT or similar I/O is in progress on the page\")",
                "mm::ksm::write_protect_page",
                Any, &[Inv::I15GupFast],
            ),
            Rule::GupMustUnshareRmb => (
                "gup-must-unshare-rmb",
                "A FOLL_PIN through a read-only anonymous entry reads PageAnonExclusive only after smp_rmb following its re-read of the entry: a writer that cleared the flag, issued smp_mb__after_atomic and then wrote the entry back (KSM restores the same read-only entry) is seen by the flag whenever its entry is seen",
                "include/linux/mm.h gup_must_unshare (smp_rmb, \"see folio_try_share_anon_rmap_*()\"); include/linux/rmap.h __folio_try_share_anon_rmap (B1-B5)",
                "mm::gup::gup_fast_anon_ok",
                Loom, &[Inv::I15GupFast, Inv::I16PinnedNotExclusive],
            ),
            Rule::TryShareAnonRmapAfterAtomic => (
                "try-share-anon-rmap-after-atomic",
                "folio_try_share_anon_rmap_* issues smp_mb__after_atomic after clearing PageAnonExclusive, so the clear is visible before the entry is written again: a GUP-fast pinner that reads the new entry then reads the flag cleared and does not pin through a read-only entry",
                "include/linux/rmap.h __folio_try_share_anon_rmap (smp_mb__after_atomic, paired with gup_must_unshare's smp_rmb)",
                "mm::rmap::folio_try_share_anon_rmap",
                Loom, &[Inv::I15GupFast, Inv::I16PinnedNotExclusive],
            ),
            Rule::DiscardPmdInvalidateNotClear => (
                "discard-pmd-invalidate-not-clear",
                "Candidate fix, not in 6.18.2 (finding F3): reclaim's discard of a lazyfree PMD-mapped THP invalidates the PMD (pmdp_invalidate, which keeps it huge and not none) instead of clearing it, then clears it only when it discards, so MADV_DONTNEED's lockless test in zap_pmd_range never sees none while the discard may still restore the PMD. 6.18.2 clears it with pmdp_huge_clear_flush and restores it with set_pmd_at when the folio was redirtied or is referenced, the transient none of historical race Z02",
                "mm/huge_memory.c __discard_anon_folio_pmd_locked (pmdp_huge_clear_flush, set_pmd_at); mm/memory.c zap_pmd_range (the lockless pmd_none / pmd_trans_huge tests); Z02 fixes ced108037c2a and 58ceeb6bec86 (pmdp_invalidate instead of a clear)",
                "mm::huge_memory::unmap_huge_pmd_locked",
                Any, &[Inv::I12PmdTransientlyNone],
            ),
            Rule::KsmWriteProtectMb => (
                "ksm-write-protect-mb",
                "Candidate fix, not in 6.18.2 (finding F4): KSM's write_protect_page issues smp_mb between clearing the PTE (ptep_clear_flush) and comparing the refcount with the mapcount, the pairing that reclaim's lazyfree discard states for the same check (clear; barrier; read refcount, against GUP-fast's inc refcount; barrier; read entry). 6.18.2 relies on the clear and the flush being a full barrier, which x86-64 (xchg) and arm64 (the flush's DSB) give but generic code does not assume (the comment of __folio_try_share_anon_rmap); without it a GUP-fast FOLL_GET reference and the count check can miss each other, and KSM merges a page with a reference through which it can still be written",
                "mm/ksm.c write_protect_page (ptep_clear_flush, then folio_mapcount + 1 + swapped != folio_ref_count); mm/huge_memory.c __discard_anon_folio_pmd_locked (the smp_mb the fix copies); include/linux/rmap.h __folio_try_share_anon_rmap (\"there might not be a memory barrier after clearing the PTE\"); mm/gup.c try_grab_folio_fast, gup_fast_pte_range",
                "mm::ksm::write_protect_page",
                Loom, &[Inv::I15GupFast],
            ),
            Rule::SplitTailFlagsSetMaskBits => (
                "split-tail-flags-set-mask-bits",
                "Candidate fix, not in 6.18.2 (finding F5): __split_folio_to_order updates each new folio's flags word with one atomic read-modify-write (set_mask_bits: clear PAGE_FLAGS_CHECK_AT_PREP, set the head's bits) instead of the plain &= and |=, so a PG_hwpoison that memory_failure sets on the raw page meanwhile, with an atomic TestSetPageHWPoison and no reference, is kept. 6.18.2's plain update reads the word and stores it back, and a set in between is lost",
                "mm/huge_memory.c __split_folio_to_order (new_folio->flags &= ~PAGE_FLAGS_CHECK_AT_PREP; |= the head's bits); mm/memory-failure.c memory_failure (TestSetPageHWPoison before get_hwpoison_page); include/linux/bitops.h set_mask_bits",
                "mm::huge_memory::__split_folio_to_order",
                Any, &[Inv::I28HwPoisonLost],
            ),
            Rule::VmemmapSplitPmdWmb => (
                "vmemmap-split-pmd-wmb",
                "vmemmap_split_pmd fills the new kernel PTE table, then smp_wmb, then pmd_populate_kernel, so a CPU that reaches a struct page through the new table never meets an empty PTE",
                "mm/hugetlb_vmemmap.c vmemmap_split_pmd (\"Make pte visible before pmd. See comment in pmd_install()\")",
                "mm::hugetlb_vmemmap::vmemmap_split_pmd",
                Loom, &[Inv::I22VmemmapUnmapped],
            ),
            Rule::VmemmapSplitPmdRecheck => (
                "vmemmap-split-pmd-recheck",
                "vmemmap_split_pmd re-tests that the vmemmap PMD is still a leaf under init_mm.page_table_lock, and frees its table if another CPU (a neighbour folio's HVO or batch pre-split) split it first, so a populated table, with the remaps already made in it, is never replaced",
                "mm/hugetlb_vmemmap.c vmemmap_split_pmd (pmd_leaf under init_mm.page_table_lock, else pte_free_kernel), vmemmap_pmd_entry",
                "mm::hugetlb_vmemmap::vmemmap_split_pmd",
                Any, &[Inv::I24HvoRollback, Inv::I23StructPageContent, Inv::I8UseAfterFree, Inv::I17TableLifetime],
            ),
            Rule::VmemmapRemapWmb => (
                "vmemmap-remap-wmb",
                "vmemmap_remap_pte issues smp_wmb after the head vmemmap page was copied into the new reuse page and before the set_pte_at that maps it, so no struct page is read from the copy before the copy is complete",
                "mm/hugetlb_vmemmap.c vmemmap_remap_pte (\"preceding stores to the page contents from vmemmap_remap_free() become visible before the set_pte_at() write\")",
                "mm::hugetlb_vmemmap::vmemmap_remap_pte",
                // I8: the walker may also reach the new page before its allocation (taken off
                // the free list before the copy) is visible: a page it sees as free.
                Loom, &[Inv::I23StructPageContent, Inv::I8UseAfterFree],
            ),
            Rule::VmemmapRestoreWmb => (
                "vmemmap-restore-wmb",
                "vmemmap_restore_pte fills a fresh vmemmap page (copy of the reuse page, reset_struct_pages), then smp_wmb, then set_pte_at, so no struct page is read from the fresh page before it is filled",
                "mm/hugetlb_vmemmap.c vmemmap_restore_pte (\"preceding stores to the page contents become visible before the set_pte_at() write\")",
                "mm::hugetlb_vmemmap::vmemmap_restore_pte",
                // I8: as for vmemmap-remap-wmb, the fresh page's allocation may not be visible yet.
                Loom, &[Inv::I23StructPageContent, Inv::I8UseAfterFree],
            ),
            Rule::HvoSynchronizeRcu => (
                "hvo-synchronize-rcu",
                "HVO turns the static key on, then synchronize_rcu, and only then remaps the tail struct pages read-only (refcount frozen at 0 throughout), so a speculative get_page_unless_zero that saw the key off has finished before any struct page becomes read-only",
                "mm/hugetlb_vmemmap.c __hugetlb_vmemmap_optimize_folio (VMEMMAP_SYNCHRONIZE_RCU); include/linux/page_ref.h page_ref_add_unless (rcu_read_lock); historical race Z09 (bd225530a4c7)",
                "mm::hugetlb_vmemmap::__hugetlb_vmemmap_optimize_folio",
                Any, &[Inv::I18WriteToReadOnlyVmemmap],
            ),
            Rule::PageCountWritableRefcountFirst => (
                "page-count-writable-refcount-first",
                "page_count_writable reads the refcount (acquire) before the fake-head check, so a walker that saw a real struct page before the remap and a non-zero count after the unfreeze (through the fake head) never attempts the atomic on the read-only alias",
                "include/linux/page-flags.h page_count_writable (comment: CPU 1 HVO / CPU 2 speculative PFN walker); historical race Z09",
                "mm::hugetlb_vmemmap::page_count_writable",
                Any, &[Inv::I18WriteToReadOnlyVmemmap],
            ),
            Rule::HvoRollback => (
                "hvo-rollback",
                "When vmemmap_remap_free fails part-way (-ENOMEM splitting a later vmemmap PMD), it walks the nr_walked PTEs it already remapped again with vmemmap_restore_pte, so a failed optimize leaves every struct page mapped read-write to its own page",
                "mm/hugetlb_vmemmap.c vmemmap_remap_free (ret && walk.nr_walked), __hugetlb_vmemmap_optimize_folio (static_branch_dec, clear the flag)",
                "mm::hugetlb_vmemmap::vmemmap_remap_free",
                Any, &[Inv::I24HvoRollback, Inv::I18WriteToReadOnlyVmemmap, Inv::I25TlbFlushOwed],
            ),
            Rule::HvoTlbFlush => (
                "hvo-tlb-flush",
                "vmemmap_remap_range flushes the kernel TLB over the remapped range (unless a batch caller flushes once for all) before the old vmemmap pages are freed",
                "mm/hugetlb_vmemmap.c vmemmap_remap_range (flush_tlb_kernel_range unless VMEMMAP_REMAP_NO_TLB_FLUSH), hugetlb_vmemmap_optimize_folio (free_vmemmap_page_list after)",
                "mm::hugetlb_vmemmap::vmemmap_remap_range",
                Any, &[Inv::I25TlbFlushOwed],
            ),
            Rule::FlushTlbBatchedPending => (
                "flush-tlb-batched-pending",
                "A zap (MADV_DONTNEED, munmap), and every other PTE walker that changes entries (MADV_FREE, mprotect, mremap), calls flush_tlb_batched_pending under the PTE lock before it scans the PTEs: if reclaim or migration cleared PTEs of this mm with their flush deferred (TTU_BATCH_FLUSH, mm->tlb_flush_batched pending) it flushes the mm first. Otherwise the zap finds the entry already gone, clears nothing, flushes nothing, and returns while a CPU still stores through the old translation into a page the zap was supposed to unmap: the store is lost when the batch's owner copies or frees the page",
                "mm/memory.c zap_pte_range (flush_tlb_batched_pending after pte_offset_map_lock); mm/madvise.c madvise_free_pte_range; mm/mprotect.c change_pte_range; mm/rmap.c flush_tlb_batched_pending, set_tlb_ubc_flush_pending; 3ea277194daa (mm, mprotect: flush TLB if potentially racing with a parallel reclaim leaving stale TLB entries). Off: the pre-3ea277194daa zap",
                "mm::tlb::flush_tlb_batched_pending, mm::zap::zap_pte_range, mm::madvise::madvise_free_pte_range",
                Any, &[Inv::I29DataLost, Inv::I8UseAfterFree],
            ),
            Rule::MigrateUnmapFlushBeforeMove => (
                "migrate-unmap-flush-before-move",
                "migrate_pages_batch unmaps the whole batch with its TLB flushes deferred (try_to_migrate with TTU_BATCH_FLUSH under MIGRATE_ASYNC), then pays them with try_to_unmap_flush before it moves any folio: a CPU that still caches a writable translation of the old folio may store into it until the flush, and a store after the copy is lost (or reaches a freed page)",
                "mm/migrate.c migrate_pages_batch (try_to_unmap_flush between the unmap and move loops), migrate_folio_unmap (try_to_migrate with TTU_BATCH_FLUSH for MIGRATE_ASYNC); mm/rmap.c try_to_unmap_flush (its comment: a dirty PTE's flush must come before the page is written out or freed); 7e12beb8ca2a (migrate_pages: batch flushing TLB, v6.3), before which migration flushed each PTE at once. Off: the step is missing (no released kernel lacked it: a hypothetical omission), and the batch's debt is not paid before the copy",
                "mm::migrate::migrate_pages_batch",
                Any, &[Inv::I29DataLost, Inv::I8UseAfterFree, Inv::I25TlbFlushOwed],
            ),
            Rule::ZapFlushBeforeFree => (
                "zap-flush-before-free",
                "A zap (MADV_DONTNEED, munmap) clears the entries under the page-table lock but frees the pages they mapped only at the end of its mmu_gather, after the TLB flush (tlb_flush_mmu: tlb_flush_mmu_tlbonly, then the page batch): until the flush another CPU may still store through a cached translation, and it must store into a page that is still allocated",
                "mm/mmu_gather.c tlb_flush_mmu, tlb_finish_mmu; include/asm-generic/tlb.h tlb_flush_mmu_tlbonly; mm/memory.c zap_present_folio_ptes (the page goes into the gather: __tlb_remove_folio_pages), zap_pte_range (force_flush for a dirty file page before the PTE lock is dropped); mm/huge_memory.c zap_huge_pmd (tlb_remove_page_size). Off: the gathered pages freed before the flush (a hypothetical order: the mmu_gather has always flushed first)",
                "mm::zap::zap_pte_range, mm::zap::zap_huge_pmd",
                Any, &[Inv::I8UseAfterFree, Inv::I25TlbFlushOwed],
            ),
            Rule::TryToUnmapFlushDirty => (
                "try-to-unmap-flush-dirty",
                "Reclaim clears a folio's PTEs with their TLB flush deferred (TTU_BATCH_FLUSH), but before it writes the folio out it pays that flush if one of the cleared PTEs was dirty: until then another CPU may still store through its cached writable translation, and a store that lands after the copy to swap is lost when the folio is freed",
                "mm/vmscan.c shrink_folio_list (try_to_unmap_flush_dirty before pageout), try_to_unmap_flush_dirty; mm/rmap.c set_tlb_ubc_flush_pending (tlb_ubc->writable for a dirty PTE), should_defer_flush; added with the deferred flush of writable TLB entries (v4.3). Off: the write goes ahead with the flush still owed; the flush is paid only before the free",
                "mm::vmscan::shrink_swapbacked",
                Any, &[Inv::I29DataLost],
            ),
            Rule::RemoveMappingRefFreeze => (
                "remove-mapping-ref-freeze",
                "Reclaim frees a folio that leaves the swap cache only after it froze the refcount (cmpxchg of the expected count, the isolation's and the cache's references, to 0) under the swap cluster lock: a lockless swap-cache lookup (swap_cache_get_folio's folio_try_get) either got its reference before, and the freeze fails, or finds the count 0 and waits for the slot to change",
                "mm/vmscan.c __remove_mapping (folio_ref_freeze, then the PG_dirty test); mm/swap_state.c swap_cache_get_folio; include/linux/page_ref.h folio_ref_freeze; the freeze came with speculative page references (the lockless page cache, 2.6.27). Off: the count is read and then set to 0 with a plain store, the get between the two is missed",
                "mm::vmscan::__remove_mapping",
                Any, &[Inv::I8UseAfterFree, Inv::I3RefsCoverMappings],
            ),
            Rule::SwapinPteSame => (
                "swapin-pte-same",
                "do_swap_page reads the swap PTE without the PTE lock, looks the folio up and locks it; under the PTE lock it maps the folio only if the PTE still holds the entry it faulted on (pte_same): a zap or another fault may have cleared or replaced it meanwhile, and mapping anyway leaves a mapping no swap count or page table accounts for",
                "mm/memory.c do_swap_page (pte_offset_map_lock, then pte_same against vmf->orig_pte; out_nomap). Off: the PTE is overwritten without the recheck",
                "mm::memory::do_swap_page",
                Any, &[Inv::I32SwapAccounting, Inv::I4MapcountMismatch, Inv::I3RefsCoverMappings],
            ),
        };
        RuleInfo {
            rule: self,
            id,
            statement,
            source,
            model_fn,
            engine,
            invariants,
        }
    }

    pub fn id(self) -> &'static str {
        self.info().id
    }

    /// Does the rule's broken form read the per-page mapcounts (`page_trans_huge_mapcount`),
    /// which exist only with CONFIG_PAGE_MAPCOUNT? The kernels that had that code had no
    /// other configuration.
    pub fn needs_page_mapcount(self) -> bool {
        self == Rule::CowReuseByRefcount
    }

    /// Look a rule (or a candidate fix) up by id.
    pub fn from_id(id: &str) -> Option<Rule> {
        Rule::ALL
            .iter()
            .chain(Rule::FIXES)
            .copied()
            .find(|r| r.id() == id)
    }
}

/// A set of rule switches: a kernel rule is on unless switched off; a candidate fix
/// ([`Rule::FIXES`]) is on only when applied and not switched off.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleSet {
    off: Vec<Rule>,
    fixes: Vec<Rule>,
}

impl RuleSet {
    /// The real protocol: every rule on.
    pub fn all_on() -> Self {
        RuleSet::default()
    }
    /// The real protocol with `rule` switched off.
    pub fn without(rule: Rule) -> Self {
        RuleSet {
            off: vec![rule],
            fixes: Vec::new(),
        }
    }
    /// The real protocol with every rule of `rules` switched off (a historical race may need
    /// two fixes reverted: see `collapse-vs-gup-fast`).
    pub fn without_all(rules: &[Rule]) -> Self {
        let mut off = rules.to_vec();
        off.sort();
        off.dedup();
        RuleSet {
            off,
            fixes: Vec::new(),
        }
    }
    /// This set with the candidate fixes `fixes` applied too (a fix also switched off stays
    /// off).
    pub fn with_fixes(mut self, fixes: &[Rule]) -> Self {
        for f in fixes {
            debug_assert!(f.is_candidate_fix(), "{f:?} is not a candidate fix");
            if !self.fixes.contains(f) {
                self.fixes.push(*f);
            }
        }
        self.fixes.sort();
        self
    }
    pub fn is_on(&self, rule: Rule) -> bool {
        !self.off.contains(&rule) && (!rule.is_candidate_fix() || self.fixes.contains(&rule))
    }
    pub fn off(&self) -> &[Rule] {
        &self.off
    }
    /// The candidate fixes applied.
    pub fn fixes(&self) -> &[Rule] {
        &self.fixes
    }
}
