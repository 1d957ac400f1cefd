//! Swap-out and swap-in, sequentially: the exact state after each step (mm/vmscan.c
//! `shrink_folio_list`, mm/memory.c `do_swap_page`, `zap_nonpresent_ptes`,
//! `copy_nonpresent_pte`), checked field by field and by `check_quiescent` (I32).

use thp_model::mm::filemap::{folio_trylock, folio_unlock};
use thp_model::mm::huge_memory::{do_huge_pmd_anonymous_page, FaultResult};
use thp_model::mm::memory::{handle_swap_fault, Swapin};
use thp_model::mm::mmap::dup_mmap;
use thp_model::mm::page::{PG_ANON_EXCLUSIVE, PG_DIRTY, PG_SWAPCACHE};
use thp_model::mm::pgtable::{F_DIRTY, F_EXCLUSIVE, F_WRITE, F_YOUNG};
use thp_model::mm::rmap::{folio_mapcount, try_to_unmap};
use thp_model::mm::swapfile::{folio_alloc_swap, SWAP_HAS_CACHE};
use thp_model::mm::tlb::arch_tlbbatch_flush;
use thp_model::mm::vmscan::{folio_isolate_lru, folio_putback_lru, shrink_folio_list, Reclaim};
use thp_model::mm::zap::{zap_pmd_range, ZapRange};
use thp_model::mm::{check_quiescent, Machine, Pmd, Pte};

const NR: usize = 4;

/// A PMD-mapped THP in mm0 at slot 0 of `folios` slots, on a machine of `mms` mms.
fn thp(folios: usize, mms: usize) -> Machine {
    let m = Machine::new(NR, folios, mms, 1);
    let _r = m.mms[0].mmap_lock.down_read();
    assert_eq!(do_huge_pmd_anonymous_page(&m, 0, 0), FaultResult::Done);
    drop(_r);
    m
}

fn pte(m: &Machine, mm: usize, idx: usize) -> Pte {
    let Pmd::Table(t) = Pmd::decode(m.mms[mm].pmd.read()) else {
        panic!("mm{mm}: no PTE table");
    };
    Pte::decode(m.mms[mm].tables[t].ptes[idx].read())
}

/// Reclaim of an isolated, exclusive, PMD-mapped THP: the PMD split, every PTE a swap entry
/// (exclusive, as the pages were), each slot counted once, the data on the device, the folio
/// out of the swap cache and freed.
fn swapped_out(folios: usize, mms: usize) -> Machine {
    let m = thp(folios, mms);
    assert!(folio_isolate_lru(&m, 0));
    assert_eq!(shrink_folio_list(&m, 0), Reclaim::Freed);
    m
}

#[test]
fn swapout_exact_state() {
    let m = swapped_out(2, 1);
    for i in 0..NR {
        assert_eq!(
            pte(&m, 0, i),
            Pte::Swap {
                offset: i,
                flags: F_EXCLUSIVE
            },
            "pte[{i}]"
        );
        assert_eq!(m.swap.swap_map[i].read(), 1, "slot {i} count");
        assert_eq!(m.swap.table[i].read(), 0, "slot {i} not cached");
        assert_eq!(m.swap.data[i].read(), i as i32 + 1, "slot {i} data");
    }
    assert!(!m.memmap.is_allocated(0), "the folio is freed");
    assert!(m.observed("swapout-split-pmd"));
    check_quiescent(&m, &[]);
}

#[test]
fn swapin_from_device_exact_state() {
    let m = swapped_out(2, 1);
    let r = handle_swap_fault(&m, 0, 1, true, NR);
    assert_eq!(r, Some(Swapin::Mapped { nr: 1 }));
    assert_eq!(
        pte(&m, 0, 1),
        Pte::Present {
            pfn: NR,
            flags: F_WRITE | F_YOUNG | F_DIRTY
        }
    );
    assert_eq!(
        m.memmap.page(NR).content.read(),
        2,
        "page 1's data read back"
    );
    assert!(m.memmap.page(NR).flags.test_bit(PG_ANON_EXCLUSIVE));
    assert_eq!(m.swap.swap_map[1].read(), 0, "slot 1 freed");
    assert_eq!(m.swap.data[1].read(), -1, "slot 1 holds nothing");
    assert_eq!(m.swap.swap_map[0].read(), 1, "slot 0 still named");
    check_quiescent(&m, &[]);
    // the same page again: no swap entry any more
    assert_eq!(handle_swap_fault(&m, 0, 1, true, NR), None);
}

/// The state reclaim leaves when something kept it from freeing the folio after the unmap:
/// in the swap cache, unmapped, dirty, on the LRU.
fn swapped_out_cached() -> Machine {
    let m = thp(2, 1);
    assert!(folio_isolate_lru(&m, 0));
    assert!(folio_trylock(&m.memmap, 0));
    assert!(folio_alloc_swap(&m, 0));
    m.memmap.page(0).flags.set_bit(PG_DIRTY);
    let ubc = try_to_unmap(&m, 0);
    assert!(ubc.flush_required);
    arch_tlbbatch_flush(&m);
    folio_unlock(&m.memmap, 0);
    folio_putback_lru(&m, 0);
    m
}

#[test]
fn swapout_cached_exact_state() {
    let m = swapped_out_cached();
    assert_eq!(folio_mapcount(&m.memmap, 0), 0);
    assert_eq!(
        m.memmap.page(0)._refcount.read(),
        NR as i32,
        "the cache's references"
    );
    assert!(m.memmap.page(0).flags.test_bit(PG_SWAPCACHE));
    for i in 0..NR {
        assert_eq!(m.swap.swap_map[i].read(), SWAP_HAS_CACHE + 1, "slot {i}");
        assert_eq!(m.swap.table[i].read(), 1, "slot {i} -> folio 0");
        assert!(!m.memmap.page(i).flags.test_bit(PG_ANON_EXCLUSIVE));
    }
    check_quiescent(&m, &[]);
}

#[test]
fn swapin_from_cache_maps_whole_folio_and_frees_the_cache() {
    let m = swapped_out_cached();
    assert_eq!(
        handle_swap_fault(&m, 0, 1, true, NR),
        Some(Swapin::Mapped { nr: NR })
    );
    for i in 0..NR {
        let Pte::Present { pfn, flags } = pte(&m, 0, i) else {
            panic!("pte[{i}] not present");
        };
        assert_eq!(pfn, i);
        // an exclusive entry is mapped writable; dirty where the write fault is not needed
        assert!(flags & F_WRITE != 0, "pte[{i}]");
        assert!(m.memmap.page(i).flags.test_bit(PG_ANON_EXCLUSIVE));
        assert_eq!(m.swap.swap_map[i].read(), 0, "slot {i} freed");
    }
    // the write fault was the only user: folio_free_swap took it out of the cache
    assert!(!m.memmap.page(0).flags.test_bit(PG_SWAPCACHE));
    assert_eq!(m.memmap.page(0)._refcount.read(), NR as i32);
    check_quiescent(&m, &[]);
}

#[test]
fn zap_of_swap_entries_frees_the_slots() {
    let m = swapped_out(1, 1);
    {
        let _r = m.mms[0].mmap_lock.down_read();
        zap_pmd_range(&m, 0, ZapRange::Full);
    }
    for i in 0..NR {
        assert_eq!(m.swap.swap_map[i].read(), 0, "slot {i}");
        assert_eq!(m.swap.data[i].read(), -1, "slot {i}");
    }
    check_quiescent(&m, &[]);
}

#[test]
fn zap_of_cached_swap_entries_takes_the_folio_out_of_the_cache() {
    let m = swapped_out_cached();
    {
        let _r = m.mms[0].mmap_lock.down_read();
        zap_pmd_range(&m, 0, ZapRange::Full);
    }
    assert!(m.observed("swap-cache-reclaimed-by-zap"));
    assert!(
        !m.memmap.is_allocated(0),
        "the cache's references were the last"
    );
    for i in 0..NR {
        assert_eq!(m.swap.swap_map[i].read(), 0, "slot {i}");
        assert_eq!(m.swap.table[i].read(), 0, "slot {i}");
    }
    check_quiescent(&m, &[]);
}

#[test]
fn fork_duplicates_swap_entries_and_shares_them() {
    let m = swapped_out(1, 2);
    assert!(dup_mmap(&m, 0, 1));
    for i in 0..NR {
        let shared = Pte::Swap {
            offset: i,
            flags: 0,
        };
        assert_eq!(pte(&m, 0, i), shared, "parent pte[{i}]");
        assert_eq!(pte(&m, 1, i), shared, "child pte[{i}]");
        assert_eq!(m.swap.swap_map[i].read(), 2, "slot {i}");
    }
    check_quiescent(&m, &[]);
    {
        let _r = m.mms[1].mmap_lock.down_read();
        zap_pmd_range(&m, 1, ZapRange::Full);
    }
    for i in 0..NR {
        assert_eq!(
            m.swap.swap_map[i].read(),
            1,
            "slot {i} after the child's zap"
        );
    }
    check_quiescent(&m, &[]);
}
