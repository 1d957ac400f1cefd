//! Reference counting (include/linux/page_ref.h, include/linux/mm.h, mm/swap.c).

use crate::invariants::Inv;
use crate::mm::page::Memmap;
use crate::{trace, vm_bug_on};

/// `folio_ref_count`.
pub fn folio_ref_count(mm: &Memmap, folio: usize) -> i32 {
    mm.page(folio)._refcount.read()
}

/// `folio_ref_add(folio, nr)`: the caller already holds a reference or the ptl of a present
/// mapping, so a plain (relaxed) add is allowed (I2).
pub fn folio_ref_add(mm: &Memmap, folio: usize, nr: i32) {
    let p = mm.page(folio);
    vm_bug_on!(
        !mm.is_allocated(folio),
        Inv::I8UseAfterFree,
        "folio_ref_add on freed folio {folio}"
    );
    p._refcount.add(nr);
    trace!("folio_ref_add", "folio {folio} _refcount += {nr}");
}

/// `folio_put`: drop a reference; the last one frees the folio.
pub fn folio_put(mm: &Memmap, folio: usize, nr_pages: usize) {
    folio_put_refs(mm, folio, 1, nr_pages)
}

/// `folio_put_refs`: drop `refs` references; the last one frees the folio (`nr_pages` pages).
pub fn folio_put_refs(mm: &Memmap, folio: usize, refs: i32, nr_pages: usize) {
    vm_bug_on!(
        !mm.is_allocated(folio),
        Inv::I8UseAfterFree,
        "folio_put on freed folio {folio}"
    );
    let v = mm.page(folio)._refcount.sub_return(refs);
    trace!("folio_put", "folio {folio} _refcount -{refs} -> {v}");
    vm_bug_on!(
        v < 0,
        Inv::I8UseAfterFree,
        "folio {folio} refcount underflow to {v}"
    );
    if v == 0 {
        if nr_pages > 1 && crate::kernel::rule_on(crate::rules::Rule::FolioPutUnqueuesDeferred) {
            crate::mm::huge_memory::folio_unqueue_deferred_split(mm, folio); // __folio_put
        }
        mm.free_folio(folio, nr_pages);
    }
}

/// `page_ref_add_unless(page, nr, u)` without the HVO writability check (no HVO state yet):
/// add unless the count is `u`; never stores when it reads `u`. The value read: Ok(count it
/// added to) or Err(`u`). A lockless read of `_refcount`: logged for the trace.
pub fn page_ref_add_unless(mm: &Memmap, pfn: usize, nr: i32, u: i32) -> Result<i32, i32> {
    let r = &mm.page(pfn)._refcount;
    let seen = r.add_unless_seen(nr, u);
    crate::kernel::trace::load(r.loc(), i64::from(seen.unwrap_or_else(|c| c)));
    seen
}

/// The text of a speculative get's step: the count read and what became of it.
fn spec_get_text(seen: Result<i32, i32>) -> String {
    match seen {
        Ok(c) => format!("_refcount {c} -> {}: true", c + 1),
        Err(c) => format!("_refcount {c}: false"),
    }
}

/// `get_page_unless_zero(page)`.
pub fn get_page_unless_zero(mm: &Memmap, pfn: usize) -> bool {
    let seen = page_ref_add_unless(mm, pfn, 1, 0);
    trace!("get_page_unless_zero", "pfn {pfn} {}", spec_get_text(seen));
    seen.is_ok()
}

/// `folio_try_get(folio)`.
pub fn folio_try_get(mm: &Memmap, folio: usize) -> bool {
    let seen = page_ref_add_unless(mm, folio, 1, 0);
    trace!("folio_try_get", "folio {folio} {}", spec_get_text(seen));
    seen.is_ok()
}

/// `folio_nr_pages` (include/linux/mm.h): `nr` for a large folio (PG_head), else 1. One read
/// of the head's flags.
pub fn folio_nr_pages(m: &crate::mm::Machine, folio: usize) -> usize {
    if m.memmap
        .page(folio)
        .flags
        .test_bit(crate::mm::page::PG_HEAD)
    {
        m.nr
    } else {
        1
    }
}

/// `folio_put` for a folio whose size the caller does not track (small or large).
pub fn folio_put_small_or_large(m: &crate::mm::Machine, folio: usize) {
    folio_put(&m.memmap, folio, folio_nr_pages(m, folio));
}

/// `folio_get`: the caller already holds a reference (or the ptl of a mapping).
pub fn folio_get(mm: &Memmap, folio: usize) {
    let c = mm.page(folio)._refcount.read();
    vm_bug_on!(
        c <= 0,
        Inv::I2IncOfZero,
        "folio_get on folio {folio} with refcount {c}"
    );
    mm.page(folio)._refcount.inc();
    trace!("folio_get", "folio {folio} _refcount {c} -> {}", c + 1);
}

/// `folio_ref_freeze(folio, count)`: one fully ordered cmpxchg `count -> 0` (rule
/// `folio-ref-freeze-cas`; the defect reads and then sets, two steps).
pub fn folio_ref_freeze(mm: &Memmap, folio: usize, count: i32) -> bool {
    use crate::kernel::rule_on;
    use crate::rules::Rule;
    let r = &mm.page(folio)._refcount;
    let ok = if rule_on(Rule::FolioRefFreezeCas) {
        r.cmpxchg(count, 0) == count
    } else {
        let seen = r.read();
        if seen == count {
            r.set(0);
            true
        } else {
            false
        }
    };
    trace!("folio_ref_freeze", "folio {folio} {count} -> 0: {ok}");
    ok
}

/// `folio_ref_unfreeze(folio, count)`: `atomic_set_release` after asserting the count is 0
/// (rule `split-unfreeze-release`).
pub fn folio_ref_unfreeze(mm: &Memmap, folio: usize, count: i32) {
    use crate::kernel::rule_on;
    use crate::rules::Rule;
    let r = &mm.page(folio)._refcount;
    let c = r.read();
    vm_bug_on!(c != 0, Inv::I6RefOnFrozen, "folio_ref_unfreeze of folio {folio}: refcount is {c}, not 0 (a reference was taken on a frozen folio)");
    if rule_on(Rule::SplitUnfreezeRelease) {
        r.set_release(count);
    } else {
        r.set(count);
    }
    trace!("folio_ref_unfreeze", "folio {folio} 0 -> {count}");
}

/// A speculative PFN walker's reference (transhuge.rst "get_page_unless_zero"; the
/// `get_page_unless_zero(page)` ... `put_page(page)` pattern of historical race Z15): a
/// successful get can only be on a head or small page, so `page_folio(page)` must be the page
/// itself (I6), and `put_page` drops the reference through that same compound link.
pub fn pfn_walker_get_put(m: &crate::mm::Machine, pfn: usize) -> bool {
    let mm = &m.memmap;
    if !get_page_unless_zero(mm, pfn) {
        return false;
    }
    let folio = mm.page_folio(pfn); // put_page → page_folio(page)
    vm_bug_on!(
        folio != pfn,
        Inv::I6RefOnFrozen,
        "get_page_unless_zero({pfn}) succeeded while its compound link still says tail of {folio}"
    );
    folio_put_small_or_large(m, folio);
    true
}
