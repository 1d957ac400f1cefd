//! Models the swap cache of mm/swap_state.c (Linux 6.18.2) over the swap table of the one
//! cluster ([`crate::mm::swapfile::SwapInfo::table`]): the lockless lookup
//! `swap_cache_get_folio`, `swap_cache_add_folio`, `__swap_cache_del_folio` and
//! `swap_cache_del_folio`. Paraphrased; no kernel code is reproduced.

use crate::mm::page::PG_SWAPCACHE;
use crate::mm::Machine;
use crate::trace;

/// `swap_cache_get_folio(entry)`: lockless (RCU) read of the slot; a folio there is returned
/// with a reference taken by `folio_try_get` (add unless zero). A frozen folio (refcount 0: a
/// split or `__remove_mapping` owns it) makes the lookup read the slot again until it changes.
/// There is no recheck after the get: the caller locks the folio and checks that it is still
/// in the swap cache with this entry (`folio_matches_swap_entry`).
pub fn swap_cache_get_folio(m: &Machine, offset: usize) -> Option<usize> {
    loop {
        let v = m.swap.table[offset].read();
        if v == 0 {
            trace!("swap_cache_get_folio", "slot {offset}: no folio");
            return None;
        }
        let folio = v as usize - 1;
        if crate::mm::page_ref::folio_try_get(&m.memmap, folio) {
            trace!("swap_cache_get_folio", "slot {offset}: folio {folio}, got");
            return Some(folio);
        }
        // the folio is frozen: wait for its owner to change the slot
        crate::kernel::cpu_relax();
    }
}

/// `swap_cache_add_folio(folio, entry)`: under `ci->lock`, point the folio's slots at it, take
/// one reference per page for the cache, set PG_swapcache and `folio->swap`.
pub fn swap_cache_add_folio(m: &Machine, folio: usize, offset: usize) {
    let nr = crate::mm::page_ref::folio_nr_pages(m, folio);
    let si = &m.swap;
    let _ci = si.ci_lock.lock();
    for o in offset..offset + nr {
        si.table[o].xchg(folio as i64 + 1);
    }
    crate::mm::page_ref::folio_ref_add(&m.memmap, folio, nr as i32);
    m.memmap.page(folio).flags.set_bit(PG_SWAPCACHE);
    m.memmap.swap[folio].set(offset as i64 + 1);
    trace!(
        "swap_cache_add_folio",
        "folio {folio} in the swap cache at slots {offset}..{}",
        offset + nr
    );
}

/// `__swap_cache_del_folio(ci, folio, entry, shadow)`, `ci->lock` held: clear the folio's
/// slots (the shadow is not modelled), `folio->swap` and PG_swapcache. The cache's references
/// are the caller's to drop (or were consumed by a freeze). Returns the first slot.
pub fn __swap_cache_del_folio(m: &Machine, folio: usize) -> usize {
    let nr = crate::mm::page_ref::folio_nr_pages(m, folio);
    let si = &m.swap;
    si.ci_lock.assert_held("__swap_cache_del_folio");
    let offset = m.memmap.swap[folio].read() as usize - 1;
    for o in offset..offset + nr {
        let old = si.table[o].xchg(0);
        crate::vm_bug_on!(
            old != folio as i64 + 1,
            crate::invariants::Inv::I32SwapAccounting,
            "swap table slot {o} held {old} when folio {folio} left the swap cache"
        );
    }
    m.memmap.swap[folio].set(0);
    m.memmap.page(folio).flags.clear_bit(PG_SWAPCACHE);
    trace!(
        "__swap_cache_del_folio",
        "folio {folio} out of the swap cache (slots {offset}..{})",
        offset + nr
    );
    offset
}

/// `swap_cache_del_folio(folio)`: `__swap_cache_del_folio` under `ci->lock`, then
/// `put_swap_folio` and the cache's references (`folio_ref_sub(nr)`). The folio is locked and
/// the caller holds a reference.
pub fn swap_cache_del_folio(m: &Machine, folio: usize) {
    let nr = crate::mm::page_ref::folio_nr_pages(m, folio);
    let offset = {
        let _ci = m.swap.ci_lock.lock();
        __swap_cache_del_folio(m, folio)
    };
    crate::mm::swapfile::put_swap_folio(m, offset, nr);
    crate::mm::page_ref::folio_put_refs(&m.memmap, folio, nr as i32, nr);
}

/// `free_swap_cache(folio)`: a folio in the swap cache that nothing maps any more leaves it,
/// if it can be locked without sleeping (`folio_free_swap`). The caller holds a reference.
pub fn free_swap_cache(m: &Machine, folio: usize) {
    use crate::mm::filemap::{folio_trylock, folio_unlock};
    let mm = &m.memmap;
    if mm.page(folio).flags.test_bit(PG_SWAPCACHE)
        && crate::mm::rmap::folio_mapcount(mm, folio) == 0
        && folio_trylock(mm, folio)
    {
        if crate::mm::swapfile::folio_free_swap(m, folio) {
            m.observe("swap-cache-freed-by-zap");
        }
        folio_unlock(mm, folio);
    }
}

/// `free_pages_and_swap_cache(encoded_pages, nr)`: the mmu_gather's page batch after the
/// flush: each folio first leaves the swap cache if nothing maps it (`free_swap_cache`), then
/// the mappings' references go in one batch (`folios_put_refs`).
pub fn free_pages_and_swap_cache(m: &Machine, batch: &[(usize, usize)]) {
    for &(folio, _) in batch {
        free_swap_cache(m, folio);
    }
    crate::mm::swap::folios_put_refs(m, batch);
}
