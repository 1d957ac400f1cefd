//! Which scenarios must catch each locking rule when it is off: declared once, typed, and
//! checked by the compiler (a new `Rule` does not build until it is given its scenarios here; a
//! misspelt scenario is an unknown constant). `thpcheck defects`, `thpcheck list`, the docs and
//! the audit read it.

use thp_model::rules::Rule;

use super::Scenario;
use super::{
    deferred_split, fault, folio_split, fork, hvo, khugepaged, ksm, memory_failure, migrate,
    reclaim, split_pmd, swap, tlb, zap, zeropage,
};

/// The scenarios that must catch `rule` when it is off, each with one of the rule's
/// invariants (`RuleInfo::invariants`).
pub fn catching(rule: Rule) -> &'static [Scenario] {
    match rule {
        Rule::FlushTlbBatchedPending => &[
            tlb::THP_MIGRATION_DEFERRED_FLUSH_VS_DONTNEED_STORE,
            tlb::FOLIO_SPLIT_DEFERRED_FLUSH_VS_DONTNEED_STORE,
            tlb::THP_MIGRATION_DEFERRED_FLUSH_VS_DONTNEED_REMOTE_STORE,
        ],
        Rule::ZapFlushBeforeFree => &[tlb::DONTNEED_VS_CACHED_STORE],
        Rule::TryToUnmapFlushDirty => &[swap::SWAPOUT_VS_STORE],
        Rule::RemoveMappingRefFreeze => &[swap::SWAPOUT_VS_STORE],
        Rule::SwapinPteSame => &[swap::SWAPIN_VS_DONTNEED, swap::SWAPIN_CACHED_VS_DONTNEED],
        Rule::MigrateUnmapFlushBeforeMove => &[tlb::THP_MIGRATION_DEFERRED_FLUSH_VS_STORE],
        Rule::PmdTransHugeLockRecheck => &[split_pmd::SPLIT_PMD_VS_AWARE_WALKER],
        Rule::SplitPmdRefBeforeTableVisible => &[split_pmd::SPLIT_PMD_VS_AWARE_WALKER],
        Rule::GupFastRecheckFolio => &[folio_split::FOLIO_SPLIT_VS_GUP_FAST],
        Rule::ScannerAddUnlessZero => &[folio_split::FOLIO_SPLIT_VS_SCANNER],
        Rule::ScannerRecheckFolio => &[folio_split::FOLIO_SPLIT_VS_SCANNER],
        Rule::FolioRefFreezeCas => &[folio_split::FOLIO_SPLIT_VS_SCANNER],
        Rule::SplitUnfreezeRelease => &[folio_split::FOLIO_SPLIT_VS_SCANNER],
        Rule::SplitFlagsWmb => &[folio_split::FOLIO_SPLIT_VS_MIGRATION_WAIT],
        Rule::MigrationEntryDecodeRmb => &[folio_split::FOLIO_SPLIT_VS_MIGRATION_WAIT],
        Rule::RemapBeforeUnlock => &[folio_split::FOLIO_SPLIT_VS_MIGRATION_WAIT],
        Rule::HugeFaultPmdNoneRecheck => &[fault::HUGE_FAULT_VS_PTE_FAULT],
        Rule::PmdInstallPmdNoneRecheck => &[fault::HUGE_FAULT_VS_PTE_FAULT],
        Rule::PmdInstallWmb => &[fault::PTE_FAULT_VS_WALKER],
        Rule::SplitPmdInvalidateNotClear => &[zap::SPLIT_PMD_VS_DONTNEED, swap::SWAPOUT_VS_FORK],
        Rule::ChangeHugePmdInvalidateNotClear => &[zap::DONTNEED_VS_CHANGE_HUGE_PMD],
        Rule::GupFastPmdPteRecheck => &[
            folio_split::FOLIO_SPLIT_VS_GUP_FAST_PMD,
            migrate::THP_MIGRATION_VS_GUP_FAST,
        ],
        Rule::GupFastPinMb => &[
            folio_split::FOLIO_SPLIT_VS_GUP_FAST_PMD,
            migrate::THP_MIGRATION_VS_GUP_FAST,
            migrate::THP_MIGRATION_PTE_VS_GUP_FAST,
        ],
        Rule::TryShareAnonRmapMb => &[
            folio_split::FOLIO_SPLIT_VS_GUP_FAST_PMD_PORTABLE,
            folio_split::FOLIO_SPLIT_VS_GUP_FAST_RO_PTE,
            migrate::THP_MIGRATION_PTE_VS_GUP_FAST,
            ksm::KSM_MERGE_VS_GUP_FAST_RO_PIN_PORTABLE,
        ],
        Rule::PteOffsetMapLockPmdSame => &[zap::PTE_FAULT_VS_DONTNEED_RECLAIM],
        Rule::SplitUnfreezeAfterMetadata => &[folio_split::FOLIO_SPLIT_VS_PFN_WALKER],
        Rule::TableFreeWaitsForGupFast => &[zap::GUP_FAST_VS_DONTNEED_RECLAIM],
        Rule::DeferredSplitScanTryGet => &[deferred_split::DEFERRED_SPLIT_SCAN_VS_ZAP],
        Rule::MigrateSplitTestsDeferredList => {
            &[deferred_split::DEFERRED_SPLIT_SCAN_VS_THP_MIGRATION]
        }
        Rule::SplitUnqueueWithFreeze => &[
            deferred_split::DEFERRED_SPLIT_SCAN_VS_FOLIO_SPLIT,
            deferred_split::DEFERRED_SPLIT_SCAN_VS_THP_MIGRATION,
        ],
        Rule::FolioPutUnqueuesDeferred => &[deferred_split::DEFERRED_SPLIT_SCAN_VS_ZAP],
        Rule::CollapseIsolateRefCheck => &[khugepaged::COLLAPSE_VS_GUP_FAST],
        Rule::CollapseTableSyncOne => &[khugepaged::COLLAPSE_THEN_ZAP_VS_GUP_FAST],
        Rule::CowReuseByRefcount => &[fork::COW_REUSE_VS_SPLIT_PMD_OTHER_MM],
        Rule::WpReuseLargeSharedBit => &[
            fork::COW_REUSE_PTE_VS_PARTIAL_ZAP_OTHER_MM,
            fork::COW_REUSE_PTE_VS_GUP_FAST_OTHER_MM,
            fork::COW_REUSE_PTE_VS_FORK,
        ],
        Rule::WpReuseLargeRefcount => &[
            fork::COW_REUSE_PTE_VS_GUP_REF_OTHER_MM,
            fork::COW_REUSE_PTE_VS_GUP_FAST_OTHER_MM,
        ],
        Rule::ZapHugePmdNonPresent => &[migrate::THP_MIGRATION_VS_ZAP],
        Rule::MigrateRemovePtesBeforeUnlock => &[
            migrate::THP_MIGRATION_VS_FAULT,
            migrate::THP_MIGRATION_VS_ZAP,
        ],
        Rule::RmapWalkSkipsMigrationPmd => &[migrate::FOLIO_SPLIT_VS_THP_MIGRATION_OTHER_MM],
        Rule::PvmwCheckPmdPfn => &[migrate::FOLIO_SPLIT_VS_THP_MIGRATION_OTHER_MM],
        Rule::RemoveMigrationPtePtl => &[folio_split::FOLIO_SPLIT_VS_ZAP],
        Rule::ZeropageRemapSoftDirty => &[zeropage::SPLIT_ZEROPAGE_VS_SCANNER],
        Rule::ZeropageRemapSkipsHwpoison => &[
            zeropage::SPLIT_ZEROPAGE_VS_ZAP,
            memory_failure::MEMORY_FAILURE_VS_SPLIT,
        ],
        Rule::SplitPmdInvalidatePresentOnly => &[split_pmd::SPLIT_PMD_MIGRATION_ENTRY_VS_GUP_FAST],
        Rule::SplitLruFlagAtomic => &[folio_split::FOLIO_SPLIT_VS_MIGRATION_WAIT],
        Rule::PvmwSyncPmdLock => &[migrate::THP_MIGRATION_VS_ZAP],
        Rule::PteOffsetMapSkipsHuge => &[fault::HUGE_FAULT_VS_PTE_FAULT],
        Rule::RmapWalkParentBeforeChild => &[migrate::FORK_VS_THP_MIGRATION],
        Rule::CollapseVmaStartWrite => &[khugepaged::COLLAPSE_VS_PTE_FAULT],
        Rule::PtReclaimPmdTrylock => &[
            zap::PTE_FAULT_VS_DONTNEED_RECLAIM,
            zap::PMD_INSTALL_VS_DONTNEED_RECLAIM,
        ],
        Rule::SplitPmdPopulateWmb => &[migrate::THP_MIGRATION_VS_SPLIT_PMD],
        Rule::SplitQueueUnlockBeforeLruLock => &[deferred_split::DEFERRED_SPLIT_SCAN_VS_ZAP_BATCH],
        Rule::MadviseFreeInvalidateNotClear => &[zap::MADVISE_FREE_VS_DONTNEED],
        Rule::MadviseFreeGetBeforeUnlock => &[zap::MADVISE_FREE_SPLIT_VS_ZAP],
        Rule::GupFastWriteProtectSeq => &[
            fork::FORK_VS_GUP_FAST_PIN,
            fork::FORK_VS_GUP_FAST_RO_PIN_PTE,
        ],
        Rule::DiscardPmdMb => &[reclaim::LAZYFREE_DISCARD_VS_GUP_FAST_PORTABLE],
        Rule::DiscardPmdRefCheck => &[reclaim::LAZYFREE_DISCARD_VS_GUP_FAST],
        Rule::DiscardPmdDirtyRecheck => &[
            reclaim::LAZYFREE_DISCARD_VS_WRITE,
            reclaim::LAZYFREE_DISCARD_VS_PUT_DIRTY,
        ],
        Rule::DiscardPmdRmb => &[reclaim::LAZYFREE_DISCARD_VS_PUT_DIRTY],
        Rule::KsmWriteProtectClearFlush => &[
            ksm::KSM_MERGE_VS_GUP_FAST_RO_PIN,
            ksm::KSM_MERGE_VS_GUP_FAST_WRITE,
            ksm::KSM_MERGE_THP_VS_GUP_FAST_WRITE,
        ],
        Rule::KsmWriteProtectRefcountCheck => &[
            ksm::KSM_MERGE_VS_GUP_FAST_WRITE,
            ksm::KSM_MERGE_THP_VS_GUP_FAST_WRITE,
        ],
        Rule::KsmWriteProtectMb => &[ksm::KSM_MERGE_VS_GUP_FAST_WRITE_PORTABLE],
        Rule::SplitTailFlagsSetMaskBits => &[memory_failure::MEMORY_FAILURE_VS_SPLIT],
        Rule::GupMustUnshareRmb => &[ksm::KSM_MERGE_VS_GUP_FAST_RO_PIN_PORTABLE],
        Rule::TryShareAnonRmapAfterAtomic => &[ksm::KSM_MERGE_VS_GUP_FAST_RO_PIN_PORTABLE],
        Rule::DiscardPmdInvalidateNotClear => &[reclaim::LAZYFREE_DISCARD_VS_DONTNEED],
        Rule::VmemmapSplitPmdWmb => &[
            hvo::HVO_OPTIMIZE_VS_PFN_WALKER,
            hvo::HVO_OPTIMIZE_NOCOPY_VS_PFN_WALKER,
        ],
        Rule::VmemmapSplitPmdRecheck => &[hvo::HVO_OPTIMIZE_VS_NEIGHBOUR_SPLIT],
        Rule::VmemmapRemapWmb => &[hvo::HVO_OPTIMIZE_PRESPLIT_VS_PFN_WALKER],
        Rule::VmemmapRestoreWmb => &[hvo::HVO_RESTORE_VS_PFN_WALKER],
        Rule::HvoSynchronizeRcu => &[
            hvo::HVO_OPTIMIZE_VS_PFN_WALKER,
            hvo::HVO_OPTIMIZE_NOCOPY_VS_PFN_WALKER,
        ],
        Rule::PageCountWritableRefcountFirst => &[
            hvo::HVO_OPTIMIZE_VS_PFN_WALKER,
            hvo::HVO_OPTIMIZE_NOCOPY_VS_PFN_WALKER,
        ],
        Rule::HvoRollback => &[hvo::HVO_OPTIMIZE_ENOMEM_VS_PFN_WALKER],
        // Candidate fixes: their scenario fails without them, in 6.18.2 (docs/findings.md).
        Rule::AnonExclusivePublishWmb => &[folio_split::FOLIO_SPLIT_VS_GUP_FAST],
        Rule::ForkWriteProtectSeqMb => &[fork::FORK_VS_GUP_FAST_PIN_PORTABLE],
        Rule::HvoTlbFlush => &[
            hvo::HVO_OPTIMIZE_VS_PFN_WALKER,
            hvo::HVO_OPTIMIZE_NOCOPY_VS_PFN_WALKER,
        ],
    }
}

/// The names of [`catching`]'s scenarios.
pub fn catching_names(rule: Rule) -> Vec<&'static str> {
    catching(rule).iter().map(|s| s.name).collect()
}
