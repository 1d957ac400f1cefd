//! Models mm/memory-failure.c (Linux 6.18.2): the speculative-reference core
//! `__get_hwpoison_page`, a physical scanner that starts from a raw pfn, and `memory_failure`
//! up to the split of a THP, which marks the raw page poisoned before it holds any reference.
//! Paraphrased.

use crate::kernel::rule_on;
use crate::mm::page_ref::{folio_put_small_or_large, folio_try_get};
use crate::mm::Machine;
use crate::rules::Rule;
use crate::trace;

/// `__get_hwpoison_page(page)`: `folio = page_folio(page)`; `folio_try_get(folio)` (rule
/// `scanner-add-unless-zero`); re-check `folio == page_folio(page)` ("cannot catch tail";
/// rule `scanner-recheck-folio`). Returns the folio with a reference held.
///
/// Left out: `HWPoisonHandlable`, a lockless test of the folio's PG_lru before the get
/// (-EBUSY without it). It only refuses more (a new folio between its unfreeze and
/// `lru_add_split_folio`), and its extra load of a much-written flags word multiplies the
/// scanner scenarios' state space tenfold (folio-split-vs-scanner at loom bound 4: 13,053
/// executions without it, 151,551 with it).
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

/// What `memory_failure` did, as far as the model follows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryFailure {
    /// `TestSetPageHWPoison` found the raw page poisoned already (`MF_MSG_ALREADY_POISONED`).
    AlreadyPoisoned,
    /// `get_hwpoison_page` took no reference (the folio was frozen or free): nothing more is
    /// done; the page stays marked.
    NoReference,
    /// The THP could not be split (`MF_MSG_UNSPLIT_THP`): the reference is dropped.
    UnsplitThp,
    /// A reference is held on the order-0 folio `p` belongs to (returned), which is `p` itself
    /// after a split. The kernel keeps it (the page never returns to use); the caller drops it
    /// so the counts can be checked.
    Handled(usize),
}

/// `memory_failure(pfn, 0)` (mm/memory-failure.c) on a raw pfn, up to the split of a THP:
/// `TestSetPageHWPoison(p)`, an atomic RMW on the raw page's flags, *before* any reference
/// is held; `get_hwpoison_page` (one pass of `get_any_page`: [`__get_hwpoison_page`]); the
/// filter's `folio_lock` / `folio_unlock`; for a large folio, `try_to_split_thp_page(p)`:
/// `lock_page(p)`, `split_huge_page(p)` (which leaves the reference and the lock on `p`'s new
/// folio), `unlock_page(p)`; on failure `put_page(p)`.
///
/// Not modelled: `mf_mutex` (one memory_failure per scenario), the hugetlb and dev_pagemap
/// paths, `get_any_page`'s retries (up to three more passes of the same get, after the
/// poison is already set), `folio_set_has_hwpoisoned` (read only by splits to a non-zero
/// order and by the fault path), and everything after the split (`hwpoison_user_mappings`,
/// the `me_*` actions, the kill).
pub fn memory_failure(m: &Machine, pfn: usize) -> MemoryFailure {
    use crate::mm::filemap::{folio_lock, folio_unlock};
    use crate::mm::page::{PG_HEAD, PG_HWPOISON};
    let mm = &m.memmap;
    if mm.page(pfn).flags.test_and_set_bit(PG_HWPOISON) {
        return MemoryFailure::AlreadyPoisoned;
    }
    crate::mm::util::note_hwpoison_marked(m, pfn); // oracle only (I30)
    trace!("memory_failure", "pfn {pfn}: TestSetPageHWPoison");
    let Some(folio) = __get_hwpoison_page(m, pfn) else {
        trace!("memory_failure", "pfn {pfn}: no reference: ignored");
        return MemoryFailure::NoReference;
    };
    // hwpoison_filter under the folio lock (no filter is configured)
    folio_lock(mm, folio);
    folio_unlock(mm, folio);
    if !mm.page(folio).flags.test_bit(PG_HEAD) {
        return MemoryFailure::Handled(folio);
    }
    // try_to_split_thp_page(p, false); the reference pins the folio, so page_folio(p) is
    // `folio` until the split succeeds.
    folio_lock(mm, folio); // lock_page(p)
    let r = crate::mm::huge_memory::split_huge_page(m, pfn);
    let now = mm.page_folio(pfn);
    folio_unlock(mm, now); // unlock_page(p)
    match r {
        Ok(()) => {
            trace!("memory_failure", "pfn {pfn}: split, reference on {now}");
            MemoryFailure::Handled(now)
        }
        Err(e) => {
            trace!("memory_failure", "pfn {pfn}: split failed ({e:?}): put");
            folio_put_small_or_large(m, folio);
            MemoryFailure::UnsplitThp
        }
    }
}
