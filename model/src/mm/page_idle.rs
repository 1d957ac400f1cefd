//! Models mm/page_idle.c `page_idle_get_folio`: a physical-memory scanner that takes a
//! speculative reference on the folio of a pfn. Paraphrased.

use crate::kernel::rule_on;
use crate::mm::page::PG_LRU;
use crate::mm::page_ref::{folio_put_small_or_large, folio_try_get};
use crate::mm::Machine;
use crate::rules::Rule;
use crate::trace;

/// `page_idle_get_folio(pfn)`: reject tails; `folio_test_lru`; `folio_try_get`; re-check that
/// the page still belongs to the folio and that it is on the LRU. Returns the folio with a
/// reference held.
pub fn page_idle_get_folio(m: &Machine, pfn: usize) -> Option<usize> {
    let mm = &m.memmap;
    let page = mm.page(pfn);
    let link = page.compound_head.read();
    crate::kernel::trace::load(page.compound_head.loc(), link);
    trace!(
        "page_idle_get_folio",
        "PageTail: READ_ONCE(page[{pfn}].compound_head) = {link:#x}"
    );
    if link & 1 != 0 {
        trace!("page_idle_get_folio", "pfn {pfn} is a tail: skip");
        return None;
    }
    let folio = mm.page_folio(pfn);
    if !mm.test_flag_lockless(folio, PG_LRU, "page_idle_get_folio", "folio_test_lru") {
        return None;
    }
    if rule_on(Rule::ScannerAddUnlessZero) {
        if !folio_try_get(mm, folio) {
            return None;
        }
    } else {
        // Defect: a plain increment, as if the scanner already owned a reference.
        mm.page(folio)._refcount.inc();
        trace!("page_idle_get_folio", "folio {folio} _refcount++ (plain)");
    }
    if mm.page_folio(pfn) != folio
        || !mm.test_flag_lockless(folio, PG_LRU, "page_idle_get_folio", "folio_test_lru")
    {
        trace!("page_idle_get_folio", "folio {folio} changed: put");
        folio_put_small_or_large(m, folio);
        return None;
    }
    Some(folio)
}
