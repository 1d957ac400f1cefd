//! Findings: counterexamples of the Linux 6.18.2 protocol that no historical fix explains, each
//! with its candidate fix (a rule of [`Rule::FIXES`], off in 6.18.2), the scenario that shows
//! it, and the case that it is not a model artefact. `docs/findings.md` is generated from here
//! ([`findings_md`]); a test runs every finding both ways: without the fix the scenario must
//! fail with the finding's invariant, with it the scenario must hold.

use std::fmt::Write;

use thp_model::rules::{Rule, RuleSet};

use crate::engine::Verdict;
use crate::scenarios::{catching::catching, config, default_loom, run_scenario, SCENARIOS};

/// One finding.
pub struct Finding {
    pub id: &'static str,
    pub title: &'static str,
    /// The candidate fix; [`catching`] names the scenario that shows the finding.
    pub fix: Rule,
    /// Where it can happen and what it costs.
    pub impact: &'static str,
    /// The two paths and the window between them.
    pub race: &'static [&'static str],
    /// The kernel lines in 6.18.2 (file, function, line).
    pub kernel: &'static [&'static str],
    /// Why each modelled step is the kernel's (the case against a model artefact).
    pub faithful: &'static [&'static str],
    /// Why no historical fix explains it, and what the kernel says about it.
    pub history: &'static str,
    /// The candidate fix in kernel terms.
    pub candidate: &'static str,
}

/// Every finding, in order.
pub const FINDINGS: &[Finding] = &[
    Finding {
        id: "F1",
        title: "GUP-fast's debug check can see a just-mapped anonymous page without PageAnonExclusive (arm64, LKMM)",
        fix: Rule::AnonExclusivePublishWmb,
        impact: "CONFIG_DEBUG_VM kernels on weakly ordered CPUs (arm64; generic code under the LKMM): a spurious one-time warning from sanity_check_pinned_pages (a crash with panic_on_warn) when pin_user_pages_fast pins a page that remove_migration_pte has just mapped again after a split or a migration. No pin is wrong: the page is exclusive, the reader sees the bit late. The invariant reported is I16 because that is what the debug check asserts; here it is the check's false positive, not a lost exclusivity. Where the path between the bit and the store happens to contain a barrier it does not arise: with page_table_check enabled (page_table_check_set's atomic_inc_return before the PTE store), possibly for executable or MTE-tagged mappings (__sync_cache_and_tags) and mlocked VMAs. Without CONFIG_DEBUG_VM the GUP-fast reader of the bit that we know of is gup_must_unshare on a read-only entry, where a stale bit only sends GUP-fast to the slow path. x86-64 is not affected (it never reorders two stores, and its set_bit is LOCK-prefixed)",
        race: &[
            "CPU 1, restoring a mapping (split_huge_page's remap_page, or migration): remove_migration_pte calls folio_add_anon_rmap_pte with RMAP_EXCLUSIVE, whose __folio_add_anon_rmap sets PageAnonExclusive with set_bit after the rmap counters; then set_pte_at stores the present, writable PTE. Nothing orders the two stores",
            "CPU 2, pin_user_pages_fast: gup_fast_pte_range reads the PTE locklessly and sees it present and writable, grabs the folio (a fully ordered RMW), re-reads the PMD and the PTE (unchanged); after the walk gup_fast calls sanity_check_pinned_pages, which reads the page's flags and finds it not AnonExclusive (after the split the page is an order-0 folio, so the check is the one on the folio's own page)",
            "The window: between CPU 1's set_bit and the moment its store becomes visible to CPU 2, which arm64 and the LKMM allow to come after the PTE store (message passing with no barrier on the writer's side; the reader's side is ordered by the RMW and by the address dependency)",
        ],
        kernel: &[
            "mm/migrate.c remove_migration_pte (line 345): folio_get at line 377, folio_add_anon_rmap_pte at line 431, set_pte_at at line 435",
            "mm/rmap.c __folio_add_anon_rmap (line 1412): __folio_add_rmap first, then SetPageAnonExclusive at line 1429 (PTE level) and 1432 (PMD level); folio_add_new_anon_rmap (line 1538) the same (lines 1559, 1571, 1585)",
            "mm/huge_memory.c remove_migration_pmd and map_anon_folio_pmd; mm/memory.c do_anonymous_page: the same order (the bit, then set_pmd_at / set_ptes); not raced against GUP-fast in a scenario here",
            "mm/gup.c sanity_check_pinned_pages (line 31), called from gup_fast (line 3140) for every page it pinned: VM_WARN_ON_ONCE_FOLIO at line 62 for an order-0 folio, VM_WARN_ON_ONCE_PAGE at line 65 for a large one",
            "arch/arm64/include/asm/pgtable.h __set_pte_complete: a barrier only for valid kernel entries, none for a user PTE",
        ],
        faithful: &[
            "the bit: SetPageAnonExclusive is the atomic set_bit, unordered in Documentation/atomic_bitops.txt; the model makes it a relaxed RMW on arm64 and a full barrier on x86-64 (Hardware::atomic_bitops_fully_ordered), and the x86-64 scenario folio-split-vs-gup-fast-x86 holds without the fix",
            "the store: set_pte_at of a user PTE is a plain store on arm64 (__set_pte_nosync, WRITE_ONCE); the model stores it relaxed",
            "before the bit (folio_get, the rmap counters, the statistics): relaxed atomics and per-CPU counters, which order nothing after them. Between the bit and the store: the VM_WARN reads of __folio_add_anon_rmap, mlock_vma_folio for a VM_LOCKED VMA (not the scenario's), and set_ptes' own work (page_table_check and __sync_cache_and_tags, which add barriers only in the configurations named above). The PTE lock is taken before the bit and released after the store: its RELEASE orders both before the unlock, not the bit before the PTE",
            "the reader: ptep_get_lockless, try_grab_folio_fast (folio_ref_try_add: a fully ordered RMW), the PMD and PTE re-reads, then folio_test_anon and PageAnonExclusive with plain reads, in that order, as the model does; folio->mapping was published before the refcount's release-unfreeze, so the anon test passes and the check reaches the AnonExclusive read",
            "the page's earlier state: the split's freeze cleared PageAnonExclusive (folio_try_share_anon_rmap_pte in try_to_migrate_one) before several full barriers, so the stale value the reader can see is a clear bit",
        ],
        history: "In 6.18.2 sanity_check_pinned_pages is a VM_WARN_ON_ONCE under CONFIG_DEBUG_VM. No commit up to 6.18.2 orders PageAnonExclusive before the entry that publishes the page: the barriers on these paths order the page contents (the smp_wmb inside __folio_mark_uptodate, issued before the bit is set in the fault paths) and the split's metadata (the unfreeze RELEASE), not the bit. None of the historical races this project re-creates (docs/race-history.md) is this one",
        candidate: "An smp_wmb() after setting PageAnonExclusive in __folio_add_anon_rmap and folio_add_new_anon_rmap (or before set_pte_at / set_pmd_at in their callers), and in the write-fault reuse paths that set the bit before making the entry writable. It costs a store barrier per exclusive mapping (nothing on x86-64). The model's fix is at each place it sets the bit (a release fence, which also orders the earlier rmap stores: slightly more than smp_wmb). Alternatively, accept it and document that the debug check can fire on a page mapped concurrently",
    },
    Finding {
        id: "F2",
        title: "Under the LKMM, fork and a concurrent GUP-fast FOLL_PIN of a PMD-mapped THP can each miss the other (store buffering on write_protect_seq)",
        fix: Rule::ForkWriteProtectSeqMb,
        impact: "A question for generic code, not a failure seen on a CPU we model exactly. A thread pins an anonymous THP page with pin_user_pages_fast (FOLL_PIN|FOLL_WRITE: DMA) while another thread of the process forks. If fork reads no pin and shares the folio with the child, and GUP-fast reads the old, even write_protect_seq and keeps its pin, the parent's next write copies the page away from the pin: the device and the process see different pages, the loss of coherency 57efa1fe5957 closed. The LKMM allows it. x86-64 does not (spin_lock is a LOCK-prefixed cmpxchg, a full barrier). arm64 does not on this path either: copy_huge_pmd allocates the child's page table (pte_alloc_one, whose per-CPU list lock is released with a store-release) before taking the PMD lock (a load-acquire), and arm64 orders a load-acquire after an earlier store-release of the same CPU; the model's arm64 leaves that rule out. An architecture whose UNLOCK followed by LOCK is not a full barrier (the reason smp_mb__after_unlock_lock exists) would be exposed; we model none. Only large folios: for a small folio fork's folio_get and the pin both update _refcount, and that RMW chain orders them",
        race: &[
            "CPU 1, fork: copy_page_range increments src_mm->write_protect_seq (odd) and issues smp_wmb (raw_write_seqcount_begin); copy_huge_pmd allocates the child's table, takes the PMD locks (ACQUIRE), takes a folio reference, and folio_try_dup_anon_rmap_pmd reads the pin count (folio_needs_cow_for_dma: MMF_HAS_PINNED, then folio_maybe_dma_pinned), finds none, clears PageAnonExclusive and shares the folio; then it write-protects the parent's PMD",
            "CPU 2, GUP-fast FOLL_PIN: raw_seqcount_try_begin reads write_protect_seq (even), walks, pins (the pin-count add, then smp_mb__after_atomic), re-reads the PMD (still writable), and read_seqcount_retry (smp_rmb, then a re-read) finds write_protect_seq unchanged",
            "The window: store buffering. CPU 1 stores the count and later loads the pin count with a store barrier, an UNLOCK and LOCK pair and an ACQUIRE between, none of which orders an earlier store before a later load under the LKMM; CPU 2 stores the pin count, has a full barrier, and loads the count. The LKMM allows both loads to return the old values",
        ],
        kernel: &[
            "mm/memory.c copy_page_range (line 1491): raw_write_seqcount_begin at line 1529; include/linux/seqlock.h do_raw_write_seqcount_begin (line 428): the increment, then smp_wmb",
            "mm/huge_memory.c copy_huge_pmd (line 1658): pte_alloc_one at line 1694, pmd_lock and spin_lock_nested(src_ptl) at lines 1696-1698, folio_get at line 1752, folio_try_dup_anon_rmap_pmd at line 1753",
            "include/linux/mm.h folio_needs_cow_for_dma (line 1973); include/linux/rmap.h __folio_try_dup_anon_rmap",
            "mm/gup.c try_grab_folio_fast (smp_mb__after_atomic at line 576); gup_fast (line 3140): raw_seqcount_try_begin at line 3152, read_seqcount_retry at line 3176",
        ],
        faithful: &[
            "fork side: the increment, smp_wmb (the model's is a release fence, stronger), the PMD locks (an ACQUIRE; the model adds smp_mb only on x86-64), folio_get (an unordered atomic add on _refcount, which the pin of a large folio does not touch), the pin-count read. The model does not allocate the child's table there (its tables are preallocated): under the LKMM the allocator's UNLOCK and the PMD lock's LOCK order no earlier store before a later load, so leaving them out removes no ordering the LKMM gives; on arm64 they do order it, which is why the scenario runs on --arch portable (the LKMM's guarantees) and not arm64",
            "the model reads the pin count without first testing MMF_HAS_PINNED: in a process that has pinned before, the flag is set and the kernel reads the pin count too; if it was not, GUP-fast's mm_set_has_pinned_flag before its walk is one more store in the same store-buffering shape",
            "GUP-fast side: the acquire read of the count, IRQs off, the lockless PMD read, the grab (fully ordered), the pin-count add and smp_mb__after_atomic, the PMD re-read, IRQs on, smp_rmb and the re-read of the count, as mm/gup.c does",
            "the checked property is the one 57efa1fe5957 established, checked at the end with every CPU joined: a page GUP-fast returned pinned is AnonExclusive in the parent and not mapped by the child (I16)",
            "on x86-64 the same scenario (fork-vs-gup-fast-pin) holds under loom at preemption bound 5 (and with no bound while the model stopped fork at copy_huge_pmd's refusal), so the counterexample needs the weaker lock",
        ],
        history: "57efa1fe5957 (\"mm/gup: prevent gup_fast from racing with COW during fork\") added write_protect_seq; its write side, raw_write_seqcount_begin, orders only stores (smp_wmb), while the pairing needs the count's store ordered before fork's later pin-count loads. In 6.18.2 the write side is still the increment and smp_wmb. No fix up to 6.18.2 adds a full barrier there, and none of the historical races re-created here (docs/race-history.md) is this one",
        candidate: "An smp_mb() after raw_write_seqcount_begin(&src_mm->write_protect_seq) in copy_page_range (one full barrier per COW VMA copied, nothing next to the copy), or smp_mb__after_spinlock() after copy_huge_pmd / copy_pte_range take the source page-table lock",
    },
    Finding {
        id: "F3",
        title: "MADV_DONTNEED can miss a lazyfree THP that reclaim is discarding, and return with the range still mapped (historical race Z02, reintroduced by the PMD discard)",
        fix: Rule::DiscardPmdInvalidateNotClear,
        impact: "Any architecture. A process MADV_FREEs a PMD-aligned range backed by a THP (madvise_free_huge_pmd keeps the PMD mapping, clean and old), and reclaim later tries to discard it whole. If the folio is redirtied (another thread writes any page of the 2 MiB, so the PMD's dirty bit comes back in the exchange) or anyone holds a reference (a long-term FOLL_PIN user such as io_uring, vfio or RDMA: the discard tests no pin before clearing, so a pinned lazyfree THP is cleared and restored on every reclaim pass; or a speculative getter: GUP-fast, compaction, a pfn scanner), __discard_anon_folio_pmd_locked clears the PMD, sees it cannot discard, and writes the old value back. A MADV_DONTNEED of the range, or of any part of the 2 MiB (zap_pmd_range splits a huge PMD only after its lockless test saw one), from another thread that tests the PMD in that window skips it and returns success, and the range is then mapped again with its old contents: the next read sees stale data where MADV_DONTNEED promises zero-fill (private anonymous memory), and the THP stays resident. With a writer thread no third party is needed, which is ordinary allocator behaviour (MADV_FREE, reuse, MADV_DONTNEED). munmap and exit reach the same lockless test in zap_pmd_range; what follows there (free_pgtables meeting a huge entry) is not modelled and not claimed. This is the pattern of historical race Z02, whose fixes made the other paths that may write a PMD back without the mmap_lock held for write keep it non-none",
        race: &[
            "CPU 1, reclaim (shrink_folio_list of the isolated lazyfree THP, folio locked): try_to_unmap's rmap walk (anon_vma lock, no mmap_lock) takes the PMD lock; try_to_unmap_one calls unmap_huge_pmd_locked, whose __discard_anon_folio_pmd_locked finds the PMD and the folio clean, clears the PMD with pmdp_huge_clear_flush (the PMD is now none), issues smp_mb, reads refcount and mapcount, and finding a reference beyond the mapping's and the isolation's (or the folio redirtied) writes the old PMD back with set_pmd_at and gives up",
            "CPU 2, MADV_DONTNEED of the range (mmap_lock or VMA lock for read): zap_pmd_range tests the PMD without its lock (is_swap_pmd / pmd_trans_huge, then pmd_none), finds it none, and skips the whole PMD range; madvise returns 0",
            "The window: from CPU 1's clear to its set_pmd_at, both under the PMD lock that CPU 2 only takes when its lockless test saw a huge PMD",
        ],
        kernel: &[
            "mm/huge_memory.c __discard_anon_folio_pmd_locked (line 3137): pmdp_huge_clear_flush at line 3152, set_pmd_at at lines 3181 (redirtied) and 3186 (unexpected references); called from unmap_huge_pmd_locked (line 3200)",
            "mm/rmap.c try_to_unmap_one: unmap_huge_pmd_locked for an anonymous folio that is not swap-backed (line 1951)",
            "mm/memory.c zap_pmd_range (line 1913): the lockless tests at lines 1924 and 1943; mm/madvise.c madvise_dontneed_single_vma (line 860) passes no single_folio, so the take-and-drop of the PMD lock for a none PMD (lines 1932-1940) does not apply",
        ],
        faithful: &[
            "reclaim: folio_trylock, the rmap walk's PMD lock, the first dirty tests, the clear (pmdp_huge_clear_flush: an exchange and a TLB flush), smp_mb, the refcount and mapcount reads, smp_rmb, the second dirty tests, the restore with set_pmd_at, all in the kernel's order; the rmap walk and the discard take neither the mmap_lock nor any lock MADV_DONTNEED takes",
            "MADV_DONTNEED: under the mmap_lock for read, zap_pmd_range reads the PMD without the PMD lock twice (the huge test, then pmd_none), as the kernel does, and takes the PMD lock only through zap_huge_pmd when it saw a huge or swap PMD",
            "the reference that makes the discard restore: held by a third party from before MADV_FREE (madvise_free_huge_pmd does not look at references, only at sharing and the folio lock); a write through the PMD between the first dirty test and the clear restores the PMD the same way (rule discard-pmd-dirty-recheck). The scenario zaps the whole PMD with a reference held; the partial zap and the writer forms are the same window and are not separate scenarios",
            "coarser than the kernel but without effect here: the model reads the PMD once for is_swap_pmd || pmd_trans_huge (the kernel loads it twice, which only widens the window), and leaves out VM_DROPPABLE, folio_check_references and the mmu_notifier calls, none of which serialises the two paths",
            "the check: once MADV_DONTNEED has returned, nothing may map the range (I12, the invariant of the Z02 scenarios); it is checked in the main thread after both CPUs finished, and shuttle (sequentially consistent) finds the interleaving, so it needs no weak-memory behaviour",
        ],
        history: "Z02 (ced108037c2a, 58ceeb6bec86, and the soft-dirty and page_mkclean forms) established that a path which may write a PMD back must not make it transiently none while MADV_DONTNEED can test it without the lock; the fixes use pmdp_invalidate. The PMD-level discard of lazyfree THPs in reclaim came later (\"mm/vmscan: avoid split lazyfree THP during shrink_folio_list()\", 2024) and clears and may restore. We found no fix up to 6.18.2 and no report of this interleaving",
        candidate: "Invalidate instead of clearing: orig_pmd = pmdp_invalidate(vma, addr, pmdp), taking the old value from its return (the PMD stays huge and is still pmd_present and pmd_trans_huge on x86 and arm64, so zap_pmd_range goes to zap_huge_pmd and waits for the PMD lock; GUP-fast fails pmd_access_permitted on it, and a grab taken before fails the re-check, so the pairing with GUP-fast is kept; the smp_mb stays, since arm64's exchange is relaxed), then set_pmd_at(orig_pmd) when giving up and pmd_clear (pmdp_huge_get_and_clear) once the discard is decided. With it the finding's scenario holds, and so do the other discard scenarios run with --fix (lazyfree-discard-vs-gup-fast, -portable, -vs-write, -vs-put-dirty)",
    },
    Finding {
        id: "F4",
        title: "Under the LKMM, KSM's write_protect_page and a GUP-fast FOLL_GET reference can each miss the other (store buffering on the PTE and the refcount)",
        fix: Rule::KsmWriteProtectMb,
        impact: "A question for generic code, like F2, not a failure seen on a CPU we model exactly: x86-64 does not allow it (ptep_get_and_clear is an xchg, a full barrier) and arm64 does not (flush_tlb_page ends with dsb(ish)); we did not audit the other architectures with GUP-fast. Where clearing the PTE and flushing the TLB is not a full barrier, which the comment of __folio_try_share_anon_rmap says generic code must not assume, KSM can merge a page while a GUP-fast FOLL_GET|FOLL_WRITE reference on it is live (get_user_pages_fast used for DMA into user memory, without FOLL_PIN): the process then maps the KSM page, and what the device writes through the reference goes to the old page and is lost. A FOLL_PIN is not exposed on this path: the page is AnonExclusive, and folio_try_share_anon_rmap_pte's own smp_mb before reading the pin count sees the pin and refuses. Reclaim's discard of a lazyfree THP performs the same check with an explicit smp_mb and a comment naming the GUP-fast pairing; write_protect_page has none",
        race: &[
            "CPU 1, KSM (ksm_do_scan, mmap_lock read, folio lock): write_protect_page finds the writable, dirty, AnonExclusive PTE, clears it with ptep_clear_flush (a relaxed exchange and a TLB flush that generic code may not count as a barrier), then reads folio_mapcount and folio_ref_count and finds them equal (mapcount + the scan's reference); it shares AnonExclusive (smp_mb, no pin), writes back the clean read-only entry, and replace_page maps the KSM page and drops the old page",
            "CPU 2, GUP-fast FOLL_GET|FOLL_WRITE: gup_fast_pte_range reads the PTE (still present and writable), try_get_folio raises the refcount with a fully ordered RMW, re-reads the PTE and finds it unchanged, and returns the page",
            "The window: store buffering. CPU 1 stores the cleared PTE and loads the refcount with no full barrier between; CPU 2 stores the refcount and, after a full barrier, loads the PTE. The LKMM allows both loads to return the old values: KSM sees no extra reference, GUP-fast sees no change",
        ],
        kernel: &[
            "mm/ksm.c write_protect_page (line 1245): ptep_clear_flush at line 1299, the count check at line 1304, folio_try_share_anon_rmap_pte at line 1311; its comment: clearing the PTE and flushing the TLB before the check assures that no O_DIRECT can happen after or in the middle of the check",
            "mm/pgtable-generic.c ptep_clear_flush (line 94): ptep_get_and_clear, then flush_tlb_page; arch/arm64/include/asm/pgtable.h: ptep_get_and_clear is xchg_relaxed (line 1372); arch/arm64/include/asm/tlbflush.h flush_tlb_page (line 304) ends with dsb(ish)",
            "include/linux/rmap.h __folio_try_share_anon_rmap: \"we assume that there might not be a memory barrier after clearing/invalidating the PTE\" (line 824), hence its explicit smp_mb",
            "mm/huge_memory.c __discard_anon_folio_pmd_locked: \"Syncing against concurrent GUP-fast\", smp_mb at line 3159 between the clear and the refcount read",
            "mm/rmap.c try_to_unmap_one, the MADV_FREE check: smp_mb at line 2126 (\"clear PTE; barrier; read refcount\" against \"inc refcount; barrier; read PTE\"), after the same kind of PTE clear",
            "mm/gup.c gup_fast_pte_range (line 2840): try_grab_folio_fast at line 2875 (FOLL_GET: try_get_folio, line 74, folio_ref_try_add), the PTE re-check at line 2880",
        ],
        faithful: &[
            "KSM side: the lockless PMD read and PTE skip of page_vma_mapped_walk without PVMW_SYNC, the PTE lock, the clear (the model's portable exchange is relaxed and its flush orders nothing, as __folio_try_share_anon_rmap assumes), folio_mapcount + 1 against folio_ref_count (swapped is 0: no swap cache), then __folio_try_share_anon_rmap with its smp_mb and the pin-count read, in the kernel's order; the PTE lock orders nothing against GUP-fast, which takes no lock",
            "GUP-fast side: ptep_get_lockless, try_get_folio (folio_ref_try_add: fully ordered on success), the PMD and PTE re-reads, as mm/gup.c does; the scenario's reference is FOLL_GET|FOLL_WRITE, so no pin count is involved",
            "the check: I15, a reference GUP-fast returned must be on the page the process maps while it is held, checked in the main thread after both CPUs joined; the same scenario holds on x86-64 (ksm-merge-vs-gup-fast-write, loom unbounded) and on --arch arm64 (loom unbounded, 273,804 executions), where the flush's DSB orders the clear before the count",
            "left out, without effect on the window: the mmu_notifier calls, flush_cache_page, mm_tlb_flush_pending (the entry is writable, so the branch is taken anyway), the scanner's checksum and stable-tree lookups before the merge",
        ],
        history: "The clear-then-check order of write_protect_page dates from KSM's first version (2009); its comment argues that the clear and the flush shut out O_DIRECT, and names no barrier. The explicit barriers added since for the same pairing are elsewhere: __folio_try_share_anon_rmap (2022, pins only) and the lazyfree discards in try_to_unmap_one and __discard_anon_folio_pmd_locked. We found no fix up to 6.18.2 that adds one to write_protect_page, and none of the historical races re-created here (docs/race-history.md) is this one",
        candidate: "An smp_mb() after ptep_clear_flush() in write_protect_page, before the refcount check (one full barrier per page KSM write-protects), or documenting that ptep_clear_flush of an accessible entry must be a full barrier on every architecture with GUP-fast",
    },
    Finding {
        id: "F5",
        title: "A split of a THP can erase the PG_hwpoison that memory_failure sets on one of its tail pages at the same time",
        fix: Rule::SplitTailFlagsSetMaskBits,
        impact: "Every architecture, every kernel with CONFIG_MEMORY_FAILURE, for a memory error reported by a path that holds no reference on the page: a machine check (the MCE handler, GHES), the hwpoison-inject debugfs file, or hard_offline_page; madvise(MADV_HWPOISON) is not one, since it takes a GUP reference first (MF_COUNT_INCREASED), which makes the split's freeze fail or comes after the unfreeze. The error must hit a sub-page of an anonymous THP while another CPU splits that THP (the deferred split shrinker, reclaim, migration, KSM, MADV_PAGEOUT, debugfs). The window is one plain read-modify-write of a tail's flags word, so it is narrow. When the bit is lost there are two outcomes, read from the code and not reproduced on a machine. (a) Every pass of get_any_page fails while the folio is frozen: memory_failure gives up (MF_MSG_GET_HWPOISON, -EBUSY) and leaves the page mapped, in use and unmarked, so nothing keeps it from being freed and, as an order-0 page, handed out again (free_pages_prepare quarantines only a marked page), and its next consumer meets the memory error again, which may be fatal where the first was recoverable. (b) A later pass gets a reference after the split: memory_failure handles an unmarked page; try_to_unmap_one does not take its hwpoison branch (mm/rmap.c line 2081), so the process gets no hwpoison entry (no SIGBUS on its next access), and for an anonymous swap-backed page outside the swap cache it warns once and aborts the walk (lines 2111-2114): the unmap fails. A second report of the same error would set the bit again; unpoison_memory is disabled after a real hardware error and so is no way out",
        race: &[
            "CPU 1, a split (split_huge_page with a reference and the folio lock): __folio_split unmaps the folio to migration entries, freezes the refcount at the expected value, and with IRQs off and the lruvec lock held __split_folio_to_order rewrites each tail's flags with new_folio->flags &= ~PAGE_FLAGS_CHECK_AT_PREP then |= the head's bits: plain loads and stores, made on the premise that nobody else writes the flags of a frozen tail (PAGE_FLAGS_CHECK_AT_PREP leaves __PG_HWPOISON out precisely so that a poison bit set earlier survives)",
            "CPU 2, memory_failure(pfn of that tail), from a path without a reference: under mf_mutex only, TestSetPageHWPoison(p), an atomic RMW on the raw page's flags, before get_hwpoison_page takes any reference; then the get fails on the frozen folio (or succeeds after the split), and memory_failure carries on",
            "The window: CPU 1 loads the tail's flags word (no PG_hwpoison yet), CPU 2 sets PG_hwpoison atomically, CPU 1 stores the word it computed from its load: the bit is gone. Nothing CPU 1 holds (the folio lock, the anon_vma lock, the lruvec lock, the frozen refcount) is something CPU 2 takes or checks first",
        ],
        kernel: &[
            "mm/huge_memory.c __split_folio_to_order (line 3279): the plain update of new_folio->flags.f at lines 3321-3322, inside __folio_split (line 3598) after the freeze",
            "include/linux/page-flags.h PAGE_FLAGS_CHECK_AT_PREP (line 1223): all page flags but __PG_HWPOISON, \"exceptional because it needs to be kept beyond page's alloc-free cycle\"",
            "mm/memory-failure.c memory_failure (line 2172): TestSetPageHWPoison at line 2215, get_hwpoison_page at line 2237 (get_any_page, line 1379, __get_hwpoison_page, line 1341), try_to_split_thp_page (line 1656) at line 2291",
            "mm/page_alloc.c free_pages_prepare: a PageHWPoison order-0 page is kept off the free lists (line 1335)",
            "mm/rmap.c try_to_unmap_one: the hwpoison entry only for a PageHWPoison page (line 2081); the anonymous branch's WARN_ON_ONCE and walk_abort (lines 2111-2114)",
        ],
        faithful: &[
            "memory_failure: TestSetPageHWPoison on the raw pfn first, then __get_hwpoison_page (folio_try_get and the folio re-check), the filter's folio_lock and folio_unlock, and for a large folio lock_page, split_huge_page(p) and unlock_page, in the kernel's order. Left out: get_any_page's further passes and shake_page between them (they come after the bit is set), mf_mutex (one memory_failure per scenario), and HWPoisonHandlable's lockless PG_lru test before the get, without which the model takes references the kernel would refuse (more behaviours, not fewer; the counterexample does not take a reference)",
            "the split: the 6.18.2 __folio_split steps of the model's split core (anon_vma write lock, unmap to migration entries, freeze under split_queue_lock, the lru lock, __split_folio_to_order, unfreeze, remap, unlock), with the tail's flags update as one load and one store (the kernel's &= and |= are two plain RMWs, whose window is at least as wide; even where the compiler emits one and/or instruction on memory, without a LOCK prefix it is not atomic against another CPU's locked bts)",
            "the check: I28, the main thread tests PG_hwpoison of the pfn after both CPUs finished, whenever memory_failure's TestSetPageHWPoison was the one that set it; shuttle (sequentially consistent) finds it after 316 PCT iterations and loom (bound 4) after 5,854 executions, so it needs no weak-memory behaviour. Before the loom patch of third_party/loom/PATCHES.md section 6, loom's first report on this scenario was a false one (a lost PG_dirty: loom let the atomic set, which had read the old word, win over the split's later store)",
            "with the candidate fix the scenario holds under loom (bound 4, 150,139 executions; bound 5, 796,672) and shuttle-pct, and reaches every outcome: the split first, memory_failure's own split, its split refused, and its get refused by the frozen count",
        ],
        history: "Z15 (2018, Konstantin Khlebnikov and Hugh Dickins) made every flag operation on a new folio after its refcount is unfrozen atomic, and ordered the plain flag copy before the unfreeze, on the premise that nobody can reach a frozen tail. memory_failure does not need to reach the folio: it marks the raw page before any get, by design (\"we need/can do nothing about count=0 pages\"), and the comment of its later folio_set_has_hwpoisoned (\"must be set after the refcount is bumped otherwise it may race with THP split\") guards the head's flag only. HugeTLB met the same class of race and closed it by testing and setting the poison flag under hugetlb_lock, the lock the flag's other writers take (mm/memory-failure.c, the comment before try_memory_failure_hugetlb at lines 2005-2009; __get_huge_page_for_hwpoison); THP has no such lock around the split's flag copy. We found no fix up to 6.18.2 and no report of this interleaving",
        candidate: "Make the tail's update one atomic RMW that keeps bits it does not own: set_mask_bits(&new_folio->flags.f, PAGE_FLAGS_CHECK_AT_PREP, head bits) (a try_cmpxchg loop, one fully ordered RMW per tail in the common case). Setting the bit again in memory_failure is no substitute: after a reference is held it does not run in outcome (a) above, and right after a failed get it can still land before the split's store",
    },
];

/// The scenarios that run with `fix` applied.
fn carriers(fix: Rule) -> Vec<&'static str> {
    SCENARIOS
        .iter()
        .filter(|s| s.fixes.contains(&fix))
        .map(|s| s.name)
        .collect()
}

/// docs/findings.md: every finding, with its shortest trace found now (loom at the scenario's
/// default bound, the fix off) and the scenario's verdict with the fix on.
pub fn findings_md() -> String {
    let mut o = String::new();
    o.push_str("<!-- Generated by `cargo run --release -- docs --write` from checks/src/findings.rs and the scenario catalogue; do not edit by hand. -->\n\n");
    o.push_str("# Findings in Linux 6.18.2\n\n");
    o.push_str(
        "A finding is a counterexample of the 6.18.2 protocol, as modelled, that no historical fix explains. \
Each has a candidate fix: a rule that is off in 6.18.2 and that a run applies with `--fix`, or that a scenario \
applies by declaring it. The scenario that shows a finding runs with its fix (so the catalogue holds); \
`--break` of the fix runs the kernel as released. A test (`checks/tests/findings.rs`) keeps both verdicts: \
without the fix the scenario fails with the finding's invariant, with it the scenario holds. \
Before a counterexample is called a finding, every step of its trace was re-read in the 6.18.2 source; \
what each step is, and why the model's step is the kernel's, is listed with it. A model artefact found that way was \
fixed in the model instead (for F1: the model made x86-64's `set_bit` unordered, which it is not).\n\n\
The bounds are loom's (a preemption bound, two CPUs, the sizes stated), on the model's memory model \
([memory-model.md](memory-model.md)): a finding says the LKMM, or the architecture named, allows the interleaving, \
not that it has been seen on hardware.\n\n",
    );
    o.push_str("| finding | candidate fix | scenario | invariant |\n|---|---|---|---|\n");
    for f in FINDINGS {
        let i = f.fix.info();
        let _ = writeln!(
            o,
            "| [{}](#{}) {} | `{}` | {} | {} |",
            f.id,
            f.id.to_lowercase(),
            f.title,
            i.id,
            catching(f.fix)
                .iter()
                .map(|s| format!("`{}`", s.name))
                .collect::<Vec<_>>()
                .join(", "),
            i.invariants
                .iter()
                .map(|v| v.tag())
                .collect::<Vec<_>>()
                .join(" / ")
        );
    }
    o.push('\n');
    for f in FINDINGS {
        let i = f.fix.info();
        let _ = writeln!(o, "## {}\n\n**{}**\n", f.id, f.title);
        let _ = writeln!(o, "**Impact.** {}.\n", f.impact);
        o.push_str("**The race.**\n\n");
        for (n, r) in f.race.iter().enumerate() {
            let _ = writeln!(o, "{}. {}.", n + 1, r);
        }
        o.push_str("\n**Kernel lines (Linux 6.18.2).**\n\n");
        for k in f.kernel {
            let _ = writeln!(o, "- {k}.");
        }
        o.push_str("\n**Why the model's steps are the kernel's.**\n\n");
        for k in f.faithful {
            let _ = writeln!(o, "- {k}.");
        }
        let _ = writeln!(o, "\n**History.** {}.\n", f.history);
        let _ = writeln!(
            o,
            "**Candidate fix** (rule `{}`, model `thp_model::{}`). {}.\n",
            i.id, i.model_fn, f.candidate
        );
        for s in catching(f.fix) {
            // A barrier finding's trace comes from loom; a schedule-level one from shuttle PCT,
            // whose trace is an interleaving of sequentially consistent steps.
            let e = crate::docs::showcase_engine(f.fix, s);
            let without = run_scenario(s, &config(e.clone(), RuleSet::without(f.fix)), None);
            let _ = writeln!(
                o,
                "**Shortest trace found** (`thpcheck check {} --break {} --engine {}`; {} {}, nr={}, found after {} executions):\n",
                s.name,
                i.id,
                e.name(),
                e.name(),
                e.bound(),
                without.nr,
                without.run.executions
            );
            match &without.run.verdict {
                Verdict::Counterexample { message, trace, .. } => {
                    o.push_str("```\n");
                    for ev in trace {
                        let _ = writeln!(o, "{ev}");
                    }
                    let _ = writeln!(o, "{message}");
                    o.push_str("```\n\n");
                }
                v => {
                    let _ = writeln!(o, "NOT REPRODUCED: {}.\n", v.label());
                }
            }
            let e = default_loom(s);
            let with = &crate::scenarios::default_loom_run(s).0;
            let _ = writeln!(
                o,
                "**With the fix** (`thpcheck check {}`): {} under {} {}, nr={}, {} executions.\n",
                s.name,
                match (&with.run.verdict, &with.vacuous) {
                    (Verdict::Holds, None) => "holds".to_string(),
                    (Verdict::Holds, Some(_)) => "VACUOUS".to_string(),
                    (v, _) => v.label().to_uppercase(),
                },
                e.name(),
                e.bound(),
                with.nr,
                with.run.executions
            );
        }
        let _ = writeln!(
            o,
            "**Scenarios that run with this fix** (each fails in 6.18.2 as released, with `--break {}`, in at least one of the two kernel configurations): {}.\n",
            i.id,
            carriers(f.fix)
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    o
}
