//! Models the batched free of mm/swap.c (Linux 6.18.2): `folios_put_refs`, as the mmu_gather
//! of a zap calls it after the TLB flush. Paraphrased.

use crate::invariants::Inv;
use crate::mm::page::PG_LRU;
use crate::mm::Machine;
use crate::{trace, vm_bug_on};

/// `folios_put_refs(folios, refs)` (mm/swap.c): drop one reference per entry (`(folio,
/// nr_pages)`, a folio once per zapped mapping); for each folio whose count reaches 0:
/// `folio_unqueue_deferred_split`, then `__page_cache_release`, which takes the lruvec lock
/// (kept across the following folios of the batch: `folio_lruvec_relock_irqsave`) and clears
/// PG_lru; the folios are freed together after the lock is dropped (`free_unref_folios`). So a
/// later folio's `folio_unqueue_deferred_split` takes `split_queue_lock` inside the lruvec lock.
pub fn folios_put_refs(m: &Machine, batch: &[(usize, usize)]) {
    let mm = &m.memmap;
    let mut lruvec = None;
    let mut free = Vec::new();
    for &(folio, nr_pages) in batch {
        vm_bug_on!(
            !mm.is_allocated(folio),
            Inv::I8UseAfterFree,
            "folios_put_refs on freed folio {folio}"
        );
        let v = mm.page(folio)._refcount.sub_return(1); // folio_ref_sub_and_test
        trace!("folios_put_refs", "folio {folio} _refcount -1 -> {v}");
        vm_bug_on!(
            v < 0,
            Inv::I8UseAfterFree,
            "folio {folio} refcount underflow to {v}"
        );
        if v != 0 {
            continue;
        }
        if nr_pages > 1 && crate::kernel::rule_on(crate::rules::Rule::FolioPutUnqueuesDeferred) {
            if lruvec.is_some() && mm.deferred[folio].read() != 0 {
                m.observe("unqueue-under-lru-lock");
            }
            crate::mm::huge_memory::folio_unqueue_deferred_split(mm, folio);
        }
        // __page_cache_release: off the LRU under the lruvec lock, which stays held.
        if mm.page(folio).flags.test_bit(PG_LRU) {
            if lruvec.is_none() {
                lruvec = Some(m.lru_lock.lock());
            }
            mm.page(folio).flags.clear_bit(PG_LRU);
        }
        free.push((folio, nr_pages));
    }
    drop(lruvec);
    for (folio, nr_pages) in free {
        mm.free_folio(folio, nr_pages); // free_unref_folios
    }
}
