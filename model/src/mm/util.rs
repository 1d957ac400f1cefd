//! Page contents (mm/util.c, include/linux/mm.h; Linux 6.18.2): `pages_identical` /
//! `memcmp_pages`, `folio_mc_copy` and `copy_mc_highpage`. Paraphrased.
//!
//! A frame's contents are one value ([`crate::mm::page::Page::content`]): zero-filled or a
//! tag for the user's data. That is all the zero-page remap of a split needs ("is this
//! sub-page all zeroes?") and all the data oracle (I29) needs ("does this virtual page still
//! read what it read before?"). The model's allocations do not zero a frame: a fault stands
//! for the fault and the user's stores that follow it, so a faulted page holds data unless a
//! scenario's setup says it was left zero-filled ([`clear_page_for_setup`]).

use crate::invariants::Inv;
use crate::mm::page::{
    CONTENT_KNOWN_POISONED, CONTENT_MARKED_BY_CPU, CONTENT_ORACLE_BITS, ZERO_FILLED,
};
use crate::mm::Machine;
use crate::{trace, vm_bug_on};

/// The oracle bits of a content word that make its memory error known to the current CPU:
/// reported before the run, or by memory_failure on this CPU. A mark another CPU set during
/// the run is not counted, even where a lock ordered it before the read (an under-report:
/// I30 then misses, it never fires falsely), because a mark that lands between a reader's
/// PG_hwpoison test and its read is the inherent hazard of an asynchronous error report.
fn known_to_this_cpu() -> i32 {
    CONTENT_KNOWN_POISONED | (1 << (CONTENT_MARKED_BY_CPU + this_cpu_bit()))
}

fn this_cpu_bit() -> u32 {
    let cpu = crate::kernel::current_cpu();
    if cpu >= 8 {
        crate::model_bug!("CPU {cpu}: the content word has oracle bits for 8 CPUs");
    }
    cpu as u32
}

/// `pages_identical(page, ZERO_PAGE(0))` (`!memcmp_pages`): does `pfn` hold only zeroes? A
/// plain read of the frame (one relaxed load of its content). I30 if the frame holds a memory
/// error this CPU knows of.
pub fn pages_identical_zero(m: &Machine, pfn: usize, func: &'static str) -> bool {
    let raw = m.memmap.page(pfn).content.read();
    vm_bug_on!(
        raw & known_to_this_cpu() != 0,
        Inv::I30HwPoisonConsumed,
        "{func} reads the contents of pfn {pfn}, which memory_failure had marked PG_hwpoison: the read consumes the memory error"
    );
    let c = raw & !CONTENT_ORACLE_BITS;
    trace!(
        func,
        "pages_identical(pfn {pfn}, ZERO_PAGE): {}",
        if c == ZERO_FILLED {
            "zero-filled"
        } else {
            "holds data"
        }
    );
    c == ZERO_FILLED
}

/// Oracle instrumentation for I30, called by `memory_failure` right after its
/// `TestSetPageHWPoison` succeeded: this CPU knows of the error in `pfn` from now on. One
/// relaxed RMW of the content word's oracle bits (the data bits are untouched).
pub fn note_hwpoison_marked(m: &Machine, pfn: usize) {
    m.memmap
        .page(pfn)
        .content
        .or(1 << (CONTENT_MARKED_BY_CPU + this_cpu_bit()));
}

/// `copy_mc_highpage(dst, src)` (include/linux/highmem.h): `dst`'s frame gets `src`'s
/// contents (a plain load and store; the caller publishes `dst` afterwards). The `_mc` copy
/// survives a memory error (it returns -EHWPOISON instead of a machine check), so it is not
/// an I30 read; that failure path is not modelled (no scenario migrates or collapses a
/// poisoned page).
pub fn copy_mc_highpage(m: &Machine, dst: usize, src: usize) {
    let c = m.memmap.page(src).content.read() & !CONTENT_ORACLE_BITS;
    m.memmap.page(dst).content.set(c);
}

/// `copy_mc_user_highpage(dst, src)` (include/linux/highmem.h, for a COW copy): like
/// [`copy_mc_highpage`], but reports the memory error (false: -EHWPOISON, `dst` not written)
/// when `src`'s frame is one memory_failure marked (the oracle bits of its content word;
/// one load either way).
pub fn copy_mc_user_highpage(m: &Machine, dst: usize, src: usize) -> bool {
    let c = m.memmap.page(src).content.read();
    if c & CONTENT_ORACLE_BITS != 0 {
        return false;
    }
    m.memmap.page(dst).content.set(c);
    true
}

/// `folio_mc_copy(dst, src)` (mm/util.c) of `nr` pages, page by page.
pub fn folio_mc_copy(m: &Machine, dst: usize, src: usize, nr: usize) {
    for i in 0..nr {
        copy_mc_highpage(m, dst + i, src + i);
    }
}

/// Setup only, before the CPUs start: the user never wrote `pfn` after the zeroing
/// allocation, so it still holds only zeroes.
pub fn clear_page_for_setup(m: &Machine, pfn: usize) {
    let c = &m.memmap.page(pfn).content;
    c.set((c.read() & CONTENT_ORACLE_BITS) | ZERO_FILLED);
}

/// Setup only, before the CPUs start: memory_failure marked `pfn` (its `TestSetPageHWPoison`)
/// and could not handle it then (e.g. its split of the THP failed on a pin since released).
/// The mark stays; I30 watches the page for the rest of the run.
pub fn mark_hwpoisoned_for_setup(m: &Machine, pfn: usize) {
    let p = m.memmap.page(pfn);
    p.flags.test_and_set_bit(crate::mm::page::PG_HWPOISON);
    let c = p.content.read();
    p.content.set(c | CONTENT_KNOWN_POISONED);
}
