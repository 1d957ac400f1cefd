//! Deferred TLB flushes: a THP migration that unmaps with its flushes batched
//! (TTU_BATCH_FLUSH, `try_to_unmap_flush` before the move) against a user store on a CPU that
//! still caches a writable translation of the old folio, alone or after its own MADV_DONTNEED
//! (whose `zap_pte_range` must pay the batch's flush first: `flush_tlb_batched_pending`).
//! The machine keeps per-CPU TLB state for the user's CPU (mm/tlb.rs, x86's IPI flush); the
//! store oracle is I29 (what the user stored last is what the page reads), I8 at the store and
//! I25 at the end (no translation the page tables no longer hold).

use std::sync::Arc;

use thp_model::kernel::{atomic_t, cpu_relax, spawn, Arch};
use thp_model::mm::huge_memory::{__split_huge_pmd, do_huge_pmd_anonymous_page, FaultResult};
use thp_model::mm::memory::{user_store, UserStore};
use thp_model::mm::migrate::{migrate_pages_batch, MigrateError};
use thp_model::mm::page_ref::folio_get;
use thp_model::mm::tlb::tlb_fill_for_setup;
use thp_model::mm::vmscan::{folio_isolate_lru, folio_putback_lru};
use thp_model::mm::zap::{zap_pmd_range, ZapRange};
use thp_model::mm::{check_carried_over, check_quiescent, check_store_visible, Carry};
use thp_model::mm::{Machine, MappingSnapshot, Pmd};

use super::migrate::{MIGRATED, MIGRATION_EAGAIN};
use super::setup::*;
use super::{Outcomes, Scenario, DEFAULT};

/// This family's scenarios, in catalogue order.
pub const SCENARIOS: &[Scenario] = &[
    THP_MIGRATION_DEFERRED_FLUSH_VS_STORE,
    THP_MIGRATION_DEFERRED_FLUSH_VS_DONTNEED_STORE,
    FOLIO_SPLIT_DEFERRED_FLUSH_VS_DONTNEED_STORE,
    THP_MIGRATION_DEFERRED_FLUSH_VS_DONTNEED_REMOTE_STORE,
    DONTNEED_VS_CACHED_STORE,
];

pub const STORE_CACHED: &str = "store-through-cached-translation";
pub const STORE_WALKED: &str = "store-walked";
pub const STORE_FAULTED_IN: &str = "store-faulted-in-new-page";
pub const STORE_WAITED_ON_MIGRATION_ENTRY: &str = "store-waited-on-migration-entry";
pub const FLUSH_BATCHED_PENDING_FLUSHED: &str = "flush-tlb-batched-pending-flushed";
pub const MIGRATION_SPLIT_FOLIO: &str = "migration-split-queued-folio";

/// The user's CPU: the second one spawned (the migration or split is the first).
const USER_CPU: usize = 2;
/// The storing CPU of the three-CPU scenario (cpu2 runs the MADV_DONTNEED there).
const REMOTE_CPU: usize = 3;

/// What the user stores (a data tag no frame holds before: frames start with pfn + 1).
const STORE_TAG: i32 = 0x5a5a;

/// A PTE-mapped THP in mm0 at memmap slot 0 of `folios`, with CPU `cpu` still caching the
/// writable, dirty translation of page 0 from an earlier store. A second PTE table is free for
/// a fault after PT_RECLAIM took the first one away.
fn setup_pte_mapped_with_cached_translation(nr: usize, folios: usize, cpu: usize) -> Arc<Machine> {
    let m = Arc::new(Machine::new(nr, folios, 1, 2).with_tlb(&[cpu]));
    {
        let _r = m.mms[0].mmap_lock.down_read();
        assert_eq!(
            do_huge_pmd_anonymous_page(&m, 0, 0),
            FaultResult::Done,
            "[model bug] initial huge fault failed"
        );
        __split_huge_pmd(&m, 0, false);
    }
    assert!(
        matches!(Pmd::decode(m.mms[0].pmd.read()), Pmd::Table(_)),
        "[model bug] the initial PMD split failed"
    );
    tlb_fill_for_setup(&m, 0, cpu, 0);
    m
}

/// The mapping before the run, without page 0, which the user unmaps and faults in again (its
/// data is the store oracle's); [`check_still_mapped_but_page_0`] keeps the others mapped.
fn mapping_before_but_page_0(m: &Machine) -> MappingSnapshot {
    let mut before = MappingSnapshot::take(m);
    before.views[0][0] = None;
    before
}

/// I27: only page 0 was zapped: every other page of mm0 is still mapped at the end (the
/// scenario's `Carry::UNMAP` is for page 0 alone).
fn check_still_mapped_but_page_0(m: &Machine) {
    let after = MappingSnapshot::take(m);
    for (k, v) in after.views[0].iter().enumerate().skip(1) {
        assert!(
            v.is_some(),
            "[{}] mm0 page {k} is unmapped at the end, but only page 0 was zapped",
            thp_model::invariants::Inv::I27CarriedOver.tag()
        );
    }
}

/// MADV_DONTNEED of page 0 under the mmap read lock, then a store to page 0 (a new page from
/// the fault at `new_pfn` if the translation is gone): the user's CPU.
fn spawn_dontneed_then_store(
    m: &Arc<Machine>,
    new_pfn: usize,
) -> thp_model::kernel::JoinHandle<(thp_model::mm::zap::Zapped, UserStore)> {
    let m2 = m.clone();
    spawn_on(USER_CPU, move || {
        let z = {
            let _r = m2.mms[0].mmap_lock.down_read();
            zap_pmd_range(&m2, 0, ZapRange::Page(0))
        };
        (z, user_store(&m2, 0, 0, STORE_TAG, new_pfn))
    })
}

/// A PTE-mapped THP in mm0 (slot 0; slot 1 free for the migration's destination, slot 2 for
/// a page the user's fault may map), isolated from the LRU by the migration caller (its
/// reference), with the user's CPU still caching the writable, dirty translation of page 0
/// from an earlier store. The mapping before.
fn setup_migration_with_cached_translation(nr: usize, cpu: usize) -> Arc<Machine> {
    let m = setup_pte_mapped_with_cached_translation(nr, 3, cpu);
    assert!(
        folio_isolate_lru(&m, 0),
        "[model bug] the THP is not on the LRU"
    );
    m
}

/// The end of a scenario where the user zapped page 0 and then stored into it, the other
/// operation done and its references put back: the outcomes, the store oracle, the quiescent
/// state, and I27 with page 0 unmapped (and whatever `carry` the other operation needs).
fn check_dontneed_then_store(
    m: &Machine,
    before: &MappingSnapshot,
    z: &thp_model::mm::zap::Zapped,
    s: &UserStore,
    carry: Carry,
    outcomes: &Outcomes,
) {
    record_zap(outcomes, z);
    record_store(outcomes, s);
    record_observed(outcomes, m, &[FLUSH_BATCHED_PENDING_FLUSHED]);
    check_store_visible(m, 0, 0, STORE_TAG);
    check_quiescent(m, &[]);
    check_carried_over(m, before, carry.and(Carry::UNMAP));
    check_still_mapped_but_page_0(m);
}

/// The migration's result, its outcome, and the put-back of what it leaves isolated.
fn finish_migration(m: &Machine, nr: usize, r: Result<usize, MigrateError>, outcomes: &Outcomes) {
    match r {
        Ok(_) => record(outcomes, MIGRATED),
        Err(MigrateError::Again) => {
            record(outcomes, MIGRATION_EAGAIN);
            folio_putback_lru(m, 0);
        }
        Err(MigrateError::Split) => {
            // The user's zap made the folio partially mapped and queued it first.
            record(outcomes, MIGRATION_SPLIT_FOLIO);
            put_back_split_pieces(m, nr);
        }
    }
}

fn record_store(outcomes: &Outcomes, s: &UserStore) {
    if s.cached {
        record(outcomes, STORE_CACHED);
    } else {
        record(outcomes, STORE_WALKED);
    }
    if s.anon_faults > 0 {
        record(outcomes, STORE_FAULTED_IN);
    }
    if s.migration_waits > 0 {
        record(outcomes, STORE_WAITED_ON_MIGRATION_ENTRY);
    }
}

/// Spawn the next CPU, which must be `cpu` (the one whose TLB the setup filled).
fn spawn_on<T: Send + 'static>(
    cpu: usize,
    f: impl FnOnce() -> T + Send + 'static,
) -> thp_model::kernel::JoinHandle<T> {
    let h = spawn(f);
    assert_eq!(
        h.cpu(),
        cpu,
        "[model bug] the CPU spawned is cpu{}, not cpu{cpu}",
        h.cpu()
    );
    h
}

pub const THP_MIGRATION_DEFERRED_FLUSH_VS_STORE: Scenario = Scenario {
    name: "thp-migration-deferred-flush-vs-store",
    description: "THP migration of a PTE-mapped THP whose PTE clears defer their TLB flush (TTU_BATCH_FLUSH; try_to_unmap_flush before the move) vs a user store on a CPU that still caches a writable translation of the old folio",
    threads: &["cpu1: migrate_pages_batch(nr_pass = 1): try_to_migrate (batched flush), try_to_unmap_flush, copy, remove_migration_ptes", "cpu2: user store to page 0 (cached translation, else walk; migration_entry_wait, retry)"],
    must_reach: &[MIGRATED, STORE_CACHED, STORE_WALKED, STORE_WAITED_ON_MIGRATION_ENTRY],
    arch: Arch::X86,
    body: thp_migration_deferred_flush_vs_store,
    ..DEFAULT
};
/// Migration ∥ a store through a translation the user's CPU cached before the migration
/// started. Until `try_to_unmap_flush` the store may still reach the old folio, which is why
/// the flush comes before the copy: at the end page 0 must read what the user stored, in the
/// new folio if the migration succeeded.
fn thp_migration_deferred_flush_vs_store(nr: usize, outcomes: &Outcomes) {
    let m = setup_migration_with_cached_translation(nr, USER_CPU);
    // Page 0 keeps everything but its data, which becomes the user's.
    let mut before = MappingSnapshot::take(&m);
    if let Some(v) = before.views[0][0].as_mut() {
        v.content = STORE_TAG;
    }
    let m1 = m.clone();
    let migrator = spawn(move || migrate_pages_batch(&m1, 0, 1, 1));
    let m2 = m.clone();
    let user = spawn_on(USER_CPU, move || {
        user_store(&m2, 0, 0, STORE_TAG, 2 * m2.nr)
    });
    let r = migrator.join();
    let s = user.join();
    record_store(outcomes, &s);
    finish_migration(&m, nr, r, outcomes);
    check_store_visible(&m, 0, 0, STORE_TAG);
    check_quiescent(&m, &[]);
    check_carried_over(&m, &before, Carry::MOVE);
}

pub const THP_MIGRATION_DEFERRED_FLUSH_VS_DONTNEED_STORE: Scenario = Scenario {
    name: "thp-migration-deferred-flush-vs-dontneed-store",
    description: "THP migration of a PTE-mapped THP with its TLB flushes deferred (TTU_BATCH_FLUSH) vs MADV_DONTNEED of page 0 and then a store to page 0 by a CPU that cached its translation before: the zap must pay the pending flush (flush_tlb_batched_pending) even when it finds only the migration entry",
    threads: &["cpu1: migrate_pages_batch(nr_pass = 1): try_to_migrate (batched flush), try_to_unmap_flush, copy, remove_migration_ptes", "cpu2: mmap_read_lock; zap_pmd_range(page 0) (flush_tlb_batched_pending); unlock; user store to page 0 (cached translation, else walk; do_anonymous_page, retry)"],
    loom_bound: Some(4), // 44,011 executions; bound 3: 7,571
    must_reach: &[MIGRATED, ZAPPED_PRESENT_PTES, ZAPPED_MIGRATION_ENTRY, STORE_WALKED, STORE_FAULTED_IN, FLUSH_BATCHED_PENDING_FLUSHED],
    arch: Arch::X86,
    body: thp_migration_deferred_flush_vs_dontneed_store,
    ..DEFAULT
};
/// Migration ∥ MADV_DONTNEED of page 0 followed by a store to it on the CPU that cached the
/// old translation. The store comes after the zap returned, so it must land in a page mapped
/// afterwards (a new zero-filled page from the fault): at the end page 0 reads it. A zap that
/// meets the migration entry clears it with nothing to flush of its own; only
/// `flush_tlb_batched_pending` removes the cached translation the migration's batch still
/// owes a flush for.
fn thp_migration_deferred_flush_vs_dontneed_store(nr: usize, outcomes: &Outcomes) {
    let m = setup_migration_with_cached_translation(nr, USER_CPU);
    let before = mapping_before_but_page_0(&m);
    let m1 = m.clone();
    let migrator = spawn(move || migrate_pages_batch(&m1, 0, 1, 1));
    let user = spawn_dontneed_then_store(&m, 2 * nr);
    let r = migrator.join();
    let (z, s) = user.join();
    finish_migration(&m, nr, r, outcomes);
    check_dontneed_then_store(&m, &before, &z, &s, Carry::MOVE, outcomes);
}

pub const FOLIO_SPLIT_DEFERRED_FLUSH_VS_DONTNEED_STORE: Scenario = Scenario {
    name: "folio-split-deferred-flush-vs-dontneed-store",
    description: "split_huge_page of a PTE-mapped THP, whose unmap_folio defers its TLB flushes (TTU_BATCH_FLUSH, try_to_unmap_flush before the freeze) vs MADV_DONTNEED of page 0 and then a store to page 0 by a CPU that cached its translation before",
    threads: &["cpu1: folio_lock; split_huge_page (unmap_folio: batched flush; try_to_unmap_flush; freeze; remap_page); unlock; put", "cpu2: mmap_read_lock; zap_pmd_range(page 0) (flush_tlb_batched_pending); unlock; user store to page 0 (cached translation, else walk; do_anonymous_page, retry)"],
    loom_bound: Some(4), // 28,191 executions; bound 3: 5,832
    must_reach: &[SPLIT_OK, ZAPPED_PRESENT_PTES, ZAPPED_MIGRATION_ENTRY, STORE_WALKED, STORE_FAULTED_IN, FLUSH_BATCHED_PENDING_FLUSHED],
    arch: Arch::X86,
    body: folio_split_deferred_flush_vs_dontneed_store,
    ..DEFAULT
};
/// A folio split ∥ MADV_DONTNEED of page 0 followed by a store to it on the CPU that cached
/// the old translation: the split's `unmap_folio` batches its flushes like migration, and a
/// zap that meets its migration entry must pay them (`flush_tlb_batched_pending`), or the
/// store reaches page 0 of the folio, which the split no longer maps and frees.
fn folio_split_deferred_flush_vs_dontneed_store(nr: usize, outcomes: &Outcomes) {
    let m = setup_pte_mapped_with_cached_translation(nr, 2, USER_CPU);
    folio_get(&m.memmap, 0); // the split caller's reference
    let before = mapping_before_but_page_0(&m);
    let m1 = m.clone();
    let splitter = spawn(move || split_caller(&m1));
    let user = spawn_dontneed_then_store(&m, nr);
    let split = splitter.join();
    let (z, s) = user.join();
    record_split(outcomes, &split);
    check_dontneed_then_store(&m, &before, &z, &s, Carry::ALL, outcomes);
}

pub const THP_MIGRATION_DEFERRED_FLUSH_VS_DONTNEED_REMOTE_STORE: Scenario = Scenario {
    name: "thp-migration-deferred-flush-vs-dontneed-remote-store",
    description: "THP migration of a PTE-mapped THP with its TLB flushes deferred (TTU_BATCH_FLUSH) vs MADV_DONTNEED of page 0 on one CPU and, once it returned (user-space message passing), a store to page 0 on a third CPU that cached its translation before: flush_tlb_batched_pending's flush must reach the other CPU",
    threads: &["cpu1: migrate_pages_batch(nr_pass = 1): try_to_migrate (batched flush), try_to_unmap_flush, copy, remove_migration_ptes", "cpu2: mmap_read_lock; zap_pmd_range(page 0) (flush_tlb_batched_pending); unlock; done = 1 (release)", "cpu3: wait for done (acquire); user store to page 0 (cached translation, else walk; do_anonymous_page, retry)"],
    loom_bound: Some(2), // 13,548 executions; bound 3: 353,491 (about a minute)
    arch: Arch::X86,
    must_reach: &[MIGRATED, ZAPPED_PRESENT_PTES, ZAPPED_MIGRATION_ENTRY, STORE_WALKED, STORE_FAULTED_IN, FLUSH_BATCHED_PENDING_FLUSHED],
    body: thp_migration_deferred_flush_vs_dontneed_remote_store,
    ..DEFAULT
};
/// [`THP_MIGRATION_DEFERRED_FLUSH_VS_DONTNEED_STORE`] with the MADV_DONTNEED and the store on
/// two CPUs: the thread that called madvise tells another one it returned (a store-release
/// and a load-acquire in user space), and that one, which still caches page 0's translation,
/// stores. The pending flush is an IPI to the storing CPU.
fn thp_migration_deferred_flush_vs_dontneed_remote_store(nr: usize, outcomes: &Outcomes) {
    let m = setup_migration_with_cached_translation(nr, REMOTE_CPU);
    let before = mapping_before_but_page_0(&m);
    let done = Arc::new(atomic_t::new(0));
    let m1 = m.clone();
    let migrator = spawn(move || migrate_pages_batch(&m1, 0, 1, 1));
    let (m2, d2) = (m.clone(), done.clone());
    let zapper = spawn_on(USER_CPU, move || {
        let z = {
            let _r = m2.mms[0].mmap_lock.down_read();
            zap_pmd_range(&m2, 0, ZapRange::Page(0))
        };
        d2.set_release(1);
        z
    });
    let m3 = m.clone();
    let storer = spawn_on(REMOTE_CPU, move || {
        while done.read_acquire() == 0 {
            cpu_relax();
        }
        user_store(&m3, 0, 0, STORE_TAG, 2 * m3.nr)
    });
    let r = migrator.join();
    let z = zapper.join();
    let s = storer.join();
    finish_migration(&m, nr, r, outcomes);
    check_dontneed_then_store(&m, &before, &z, &s, Carry::MOVE, outcomes);
}

pub const DONTNEED_VS_CACHED_STORE: Scenario = Scenario {
    name: "dontneed-vs-cached-store",
    description: "MADV_DONTNEED of a whole PTE-mapped THP vs a store to page 0 by a CPU that caches its translation: the zap's mmu_gather frees the folio only after its TLB flush, so a store through the cached translation reaches a page still allocated",
    threads: &["cpu1: mmap_read_lock; zap_pmd_range(full): clear the PTEs, tlb_finish_mmu (flush, then free the pages; PT_RECLAIM frees the table)", "cpu2: user store to page 0 (cached translation, else walk; do_anonymous_page, retry)"],
    arch: Arch::X86,
    must_reach: &[ZAPPED_PRESENT_PTES, STORE_CACHED, STORE_FAULTED_IN],
    body: dontneed_vs_cached_store,
    ..DEFAULT
};
/// MADV_DONTNEED of the whole PMD ∥ a store through a translation the storing CPU cached
/// before. The store races with the zap, so it may be lost (the user asked for both at once);
/// what may not happen is a store into a freed page (I8 at the store) or a translation left
/// cached at the end (I25). The folio's last reference is the zap's gathered one.
fn dontneed_vs_cached_store(nr: usize, outcomes: &Outcomes) {
    let m = setup_pte_mapped_with_cached_translation(nr, 2, USER_CPU);
    let before = mapping_before_but_page_0(&m);
    let m1 = m.clone();
    let zapper = spawn(move || {
        let _r = m1.mms[0].mmap_lock.down_read();
        zap_pmd_range(&m1, 0, ZapRange::Full)
    });
    let m2 = m.clone();
    let user = spawn_on(USER_CPU, move || user_store(&m2, 0, 0, STORE_TAG, nr));
    let z = zapper.join();
    let s = user.join();
    record_zap(outcomes, &z);
    record_store(outcomes, &s);
    check_quiescent(&m, &[]);
    check_carried_over(&m, &before, Carry::UNMAP);
}
