//! Mapcount accounting (mm/rmap.c `__folio_add_rmap`, `__folio_remove_rmap`,
//! `folio_add_new_anon_rmap`), CONFIG_PAGE_MAPCOUNT=y. `_large_mapcount` is updated under the
//! `_mm_ids` bit lock in the kernel; nothing in this model reads it locklessly against a
//! concurrent update of the same folio except the final-state check, so single RMWs stand in.

use crate::kernel::smp_mb;
use crate::mm::page::{Memmap, ENTIRELY_MAPPED, PG_ANON_EXCLUSIVE};
use crate::trace;

/// `folio_add_new_anon_rmap(folio, vma, addr, RMAP_EXCLUSIVE)` for a PMD-mapped new folio.
pub fn folio_add_new_anon_rmap_pmd(mm: &Memmap, folio: usize) {
    let m = &mm.meta[folio];
    m._entire_mapcount.set(0);
    m._large_mapcount.set(0);
    m._nr_pages_mapped.set(ENTIRELY_MAPPED);
    mm.page(folio).flags.set_bit(PG_ANON_EXCLUSIVE);
    trace!(
        "folio_add_new_anon_rmap",
        "folio {folio}: entire 0, large 0, nr_pages_mapped ENTIRELY_MAPPED, head AnonExclusive"
    );
}

/// `folio_add_anon_rmap_ptes(folio, page, nr, vma, addr, flags)` (PTE level).
pub fn folio_add_anon_rmap_ptes(
    mm: &Memmap,
    folio: usize,
    first: usize,
    nr: usize,
    exclusive: bool,
) {
    let mut newly = 0;
    for i in 0..nr {
        let p = mm.page(first + i);
        if p._mapcount.inc_return() == 0 {
            newly += 1;
        }
        if exclusive {
            p.flags.set_bit(PG_ANON_EXCLUSIVE);
        }
    }
    let m = &mm.meta[folio];
    m._large_mapcount.add(nr as i32);
    m._nr_pages_mapped.add(newly);
    trace!(
        "folio_add_anon_rmap_ptes",
        "folio {folio}: {nr} PTE mappings, large_mapcount += {nr}"
    );
}

/// `folio_remove_rmap_pmd(folio, page, vma)`.
pub fn folio_remove_rmap_pmd(mm: &Memmap, folio: usize) {
    let m = &mm.meta[folio];
    m._large_mapcount.dec();
    let last = m._entire_mapcount.add_return(-1) < 0;
    if last {
        m._nr_pages_mapped.sub(ENTIRELY_MAPPED);
    }
    smp_mb(); // value-returning RMW above is fully ordered; keep the accounting before what follows
    trace!(
        "folio_remove_rmap_pmd",
        "folio {folio}: entire_mapcount -1 (last PMD mapping: {last})"
    );
}

/// `folio_mapcount`: total mappings (`_large_mapcount + 1` for a large folio).
pub fn folio_mapcount(mm: &Memmap, folio: usize) -> i32 {
    mm.meta[folio]._large_mapcount.read() + 1
}
