//! Models the speculative-reference core of mm/memory-failure.c `__get_hwpoison_page`: a
//! physical scanner that starts from a raw pfn. Paraphrased.

use crate::kernel::rule_on;
use crate::mm::page_ref::{folio_put_small_or_large, folio_try_get};
use crate::mm::Machine;
use crate::rules::Rule;
use crate::trace;

/// `__get_hwpoison_page(page)`: `folio = page_folio(page)`; `folio_try_get(folio)` (rule
/// `scanner-add-unless-zero`); re-check `folio == page_folio(page)` ("cannot catch tail";
/// rule `scanner-recheck-folio`). Returns the folio with a reference held.
pub fn __get_hwpoison_page(m: &Machine, pfn: usize) -> Option<usize> {
    let mm = &m.memmap;
    let folio = mm.page_folio(pfn);
    if rule_on(Rule::ScannerAddUnlessZero) {
        if !folio_try_get(mm, folio) {
            return None;
        }
    } else {
        // Defect: a plain increment, as if the scanner already owned a reference.
        mm.page(folio)._refcount.inc();
        trace!("__get_hwpoison_page", "folio {folio} _refcount++ (plain)");
    }
    if rule_on(Rule::ScannerRecheckFolio) && mm.page_folio(pfn) != folio {
        trace!("__get_hwpoison_page", "pfn {pfn} left folio {folio}: put");
        folio_put_small_or_large(m, folio);
        return None;
    }
    trace!(
        "__get_hwpoison_page",
        "pfn {pfn}: reference on folio {folio}"
    );
    Some(folio)
}
