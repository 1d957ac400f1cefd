//! Models the per-pfn core of mm/compaction.c `isolate_migratepages_block`: lockless
//! compound / LRU tests, `folio_get_nontail_page`, the racy pinned-anon skip,
//! `folio_test_clear_lru` under the LRU lock, then put back (the model does not migrate).
//! Paraphrased.

use crate::invariants::Inv;
use crate::mm::page::{PG_HEAD, PG_LRU};
use crate::mm::page_ref::{folio_put_small_or_large, get_page_unless_zero};
use crate::mm::Machine;
use crate::{trace, vm_bug_on};

/// What the scanner did with the pfn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isolate {
    SkippedCompound,
    SkippedNotLru,
    GetFailed,
    Isolated,
    Raced,
}

/// `PageCompound(page)`: head flag or tail link (lockless).
fn page_compound(m: &Machine, pfn: usize) -> bool {
    let p = m.memmap.page(pfn);
    if m.memmap
        .test_flag_lockless(pfn, PG_HEAD, "PageCompound", "PG_head")
    {
        return true;
    }
    let link = p.compound_head.read();
    crate::kernel::trace::load(p.compound_head.loc(), link);
    trace!(
        "PageCompound",
        "PageTail: READ_ONCE(page[{pfn}].compound_head) = {link:#x}"
    );
    link & 1 != 0
}

/// One pfn of `isolate_migratepages_block` (THPs are not compacted for a small-order
/// allocation, so a compound page is skipped).
pub fn isolate_migratepages_block(m: &Machine, pfn: usize) -> Isolate {
    let mm = &m.memmap;
    if page_compound(m, pfn) {
        return Isolate::SkippedCompound;
    }
    if !mm.test_flag_lockless(pfn, PG_LRU, "isolate_migratepages_block", "PageLRU") {
        return Isolate::SkippedNotLru;
    }
    // folio_get_nontail_page: a tail's refcount is 0, so this can only succeed on a head or
    // small page, which is then used as a folio. Once it succeeds the page must read as
    // non-compound (I6; split's release unfreeze after clearing the compound link).
    if !get_page_unless_zero(mm, pfn) {
        return Isolate::GetFailed;
    }
    let folio = pfn;
    let link = mm.page(pfn).compound_head.read();
    crate::kernel::trace::load(mm.page(pfn).compound_head.loc(), link);
    trace!(
        "isolate_migratepages_block",
        "after the get: READ_ONCE(page[{pfn}].compound_head) = {link:#x}"
    );
    vm_bug_on!(
        link & 1 != 0,
        Inv::I6RefOnFrozen,
        "folio_get_nontail_page got a reference on pfn {pfn} whose compound link still says tail of {}",
        link >> 1
    );
    // Racy pinned-anon skip is irrelevant here (no pins in scanner scenarios); isolate:
    if !mm.page(folio).flags.test_and_clear_bit(PG_LRU) {
        folio_put_small_or_large(m, folio);
        return Isolate::Raced;
    }
    {
        let _lru = m.lru_lock.lock();
        trace!("isolate_migratepages_block", "folio {folio} isolated");
    }
    // putback_movable_pages: back on the LRU, drop the isolation reference.
    {
        let _lru = m.lru_lock.lock();
        mm.page(folio).flags.set_bit(PG_LRU);
    }
    folio_put_small_or_large(m, folio);
    Isolate::Isolated
}
