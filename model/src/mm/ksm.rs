//! Models the merge step of mm/ksm.c (Linux 6.18.2): `try_to_merge_one_page` (folio trylock,
//! the split of a large folio, `write_protect_page`, `replace_page`). The scanner around it
//! (`ksm_do_scan`, the stable and unstable trees, checksums, `pages_identical`) is left out:
//! the caller names the page and the KSM page it merges into, and their contents are taken to
//! be equal. Paraphrased; no kernel code is reproduced.
//!
//! What the merge must guarantee against GUP-fast: once `write_protect_page` succeeded, nobody
//! holds a reference through which the page can still be written (O_DIRECT, a FOLL_WRITE
//! get) or a pin, because `replace_page` then maps the KSM page instead and drops the old
//! one; a write through such a reference, or a pinned read, would no longer be what the
//! process sees (I15).

use crate::invariants::Inv;
use crate::kernel::rule_on;
use crate::mm::page::{PG_ANON_EXCLUSIVE, PG_DIRTY};
use crate::mm::pgtable::{Pmd, Pte, F_DIRTY, F_WRITE, F_YOUNG};
use crate::mm::pgtable_generic::{pmdp_get_lockless, pte_offset_map, pte_offset_map_lock};
use crate::mm::Machine;
use crate::rules::Rule;
use crate::{trace, vm_bug_on};

/// Why a merge did not happen (the kernel's `try_to_merge_one_page` returns -EFAULT for all).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KsmFail {
    /// `folio_trylock` failed: KSM comes back later.
    Locked,
    /// The large folio could not be split.
    SplitFailed,
    /// `write_protect_page`: the page is not mapped here (any more), or not by a present PTE.
    NotMapped,
    /// `write_protect_page`: `folio_mapcount + 1 + swapped != folio_ref_count` (I/O in
    /// flight, e.g. a GUP reference).
    RefCount,
    /// `write_protect_page`: `folio_try_share_anon_rmap_pte` refused (the folio may be pinned).
    Pinned,
    /// `replace_page`: the PMD is no longer a table, or the PTE changed since it was
    /// write-protected.
    Changed,
}

/// `try_to_merge_one_page(vma, page, kpage)` for the one VMA of `mm_id`, where `page` is mapped
/// by the PTE at `idx` (the address `page_address_in_vma` gives) and `kpage` is a KSM page of
/// the same content. The caller holds `mmap_lock` for read and a reference on `page` (the
/// scan's `folio_walk` took it) and on `kpage`. Not anonymous, or a folio lock taken by
/// someone else: give up. A large folio is split first (`split_huge_page(page)`, with the
/// folio lock and the caller's reference, both of which the split leaves on `page`'s new
/// folio). Then `write_protect_page` and, if it succeeded, `replace_page`.
pub fn try_to_merge_one_page(
    m: &Machine,
    mm_id: usize,
    idx: usize,
    page: usize,
    kpage: usize,
) -> Result<(), KsmFail> {
    use crate::mm::filemap::{folio_trylock, folio_unlock};
    let mm = &m.mms[mm_id];
    mm.mmap_lock.assert_held("try_to_merge_one_page");
    let folio = m.memmap.page_folio(page);
    if m.memmap.mapping[folio].read() != crate::mm::ANON_VMA_ID {
        return Err(KsmFail::NotMapped); // !folio_test_anon
    }
    if !folio_trylock(&m.memmap, folio) {
        trace!("try_to_merge_one_page", "folio {folio} locked: skip");
        return Err(KsmFail::Locked);
    }
    if crate::mm::gup::folio_test_large(m, folio)
        && crate::mm::huge_memory::split_huge_page(m, page).is_err()
    {
        folio_unlock(&m.memmap, folio);
        return Err(KsmFail::SplitFailed);
    }
    let folio = m.memmap.page_folio(page);
    let r = write_protect_page(m, mm_id, idx, folio).and_then(|orig| {
        // pages_identical: the model's pages have no content; taken as equal.
        replace_page(m, mm_id, idx, page, kpage, orig)
    });
    folio_unlock(&m.memmap, folio);
    r
}

/// `write_protect_page` (mm/ksm.c) for the small `folio` mapped by the PTE at `idx`: find the
/// mapping (`page_vma_mapped_walk` without PVMW_SYNC: a lockless PMD read, a lockless skip of
/// a non-present PTE, then the PTE lock and `check_pte`). If the entry is writable, dirty or
/// AnonExclusive: clear it and flush the TLB (`ptep_clear_flush`, rule
/// `ksm-write-protect-clear-flush`) so that no GUP-fast can take a reference after the count
/// check; compare the refcount with the mapcount plus the caller's reference (rule
/// `ksm-write-protect-refcount-check`; `swapped` is 0, the model has no swap cache); share
/// AnonExclusive (`folio_try_share_anon_rmap_pte`); move the dirty bit to the folio; set the
/// entry clean and read-only. On a refusal the cleared entry is restored as it was. Returns
/// the entry left in place (`orig_pte`). `mm_tlb_flush_pending` is false: the model keeps no
/// TLB state.
pub fn write_protect_page(
    m: &Machine,
    mm_id: usize,
    idx: usize,
    folio: usize,
) -> Result<i64, KsmFail> {
    let mm = &m.mms[mm_id];
    if crate::mm::gup::folio_test_large(m, folio) {
        return Err(KsmFail::NotMapped); // WARN_ON_ONCE(folio_test_large): -EFAULT
    }
    // mmu_notifier_invalidate_range_start: no secondary MMU in the model.
    // page_vma_mapped_walk: a huge PMD cannot map this small folio ("Unexpected PMD mapping?").
    if !matches!(
        Pmd::decode(pmdp_get_lockless(mm, "page_vma_mapped_walk")),
        Pmd::Table(_)
    ) {
        return Err(KsmFail::NotMapped);
    }
    {
        // map_pte without PVMW_SYNC: a PTE that is not present is skipped before locking.
        let map = pte_offset_map(m, mm).ok_or(KsmFail::NotMapped)?;
        let table = m.table(mm, map.table, "map_pte");
        let v = table.ptes[idx].read();
        crate::kernel::trace::load(table.ptes[idx].loc(), v);
        // pte_present: the zero page's special entry is present; the locked check_pte below
        // then finds another pfn.
        if !Pte::decode(v).present() {
            trace!(
                "map_pte",
                "pte[{idx}] = {:?}: not present, skip",
                Pte::decode(v)
            );
            return Err(KsmFail::NotMapped);
        }
    }
    let map = pte_offset_map_lock(m, mm).ok_or(KsmFail::NotMapped)?;
    let table = m.table(mm, map.table, "write_protect_page");
    let slot = &table.ptes[idx];
    let cur = slot.read();
    let Pte::Present { pfn, flags } = Pte::decode(cur) else {
        return Err(KsmFail::NotMapped); // check_pte: none, or the zero page (not this pfn)
    };
    if pfn != folio {
        return Err(KsmFail::NotMapped); // check_pte: another page is mapped here now
    }
    let anon_exclusive = m.memmap.page(folio).flags.test_bit(PG_ANON_EXCLUSIVE);
    if flags & (F_WRITE | F_DIRTY) == 0 && !anon_exclusive {
        trace!(
            "write_protect_page",
            "pte[{idx}] already read-only, clean and shared"
        );
        return Ok(cur);
    }
    let entry = if rule_on(Rule::KsmWriteProtectClearFlush) {
        let old = crate::mm::pgtable::ptep_get_and_clear(slot);
        crate::mm::pgtable_generic::flush_tlb_page(m, mm, idx);
        trace!("write_protect_page", "ptep_clear_flush(pte[{idx}])");
        old
    } else {
        // Defect: the count is compared while the PTE still maps the page, so a GUP-fast
        // that read the entry can take its reference after the comparison.
        cur
    };
    // The bits that count are those of the value the clear returned: a hardware dirty-bit
    // store may have landed between the first read and the clear.
    let flags = match Pte::decode(entry) {
        Pte::Present { flags, .. } => flags,
        _ => flags,
    };
    let cleared = rule_on(Rule::KsmWriteProtectClearFlush);
    let restore = |why: KsmFail| {
        if cleared {
            slot.set(entry); // set_pte_at(entry): put back what was cleared
        }
        trace!(
            "write_protect_page",
            "refused ({why:?}): pte[{idx}] restored"
        );
        Err(why)
    };
    if rule_on(Rule::KsmWriteProtectMb) {
        // Candidate fix F4: clear the entry; barrier; read the refcount (GUP-fast: raise the
        // refcount; barrier; re-read the entry). 6.18.2 has nothing here but what the clear
        // and the flush happen to order on the architecture.
        crate::kernel::smp_mb();
    }
    if rule_on(Rule::KsmWriteProtectRefcountCheck) {
        let mapcount = crate::mm::rmap::small_folio_mapcount(&m.memmap, folio);
        let refs = crate::mm::page_ref::folio_ref_count(&m.memmap, folio);
        trace!(
            "write_protect_page",
            "folio_mapcount {mapcount} + 1 vs folio_ref_count {refs}"
        );
        if mapcount + 1 != refs {
            return restore(KsmFail::RefCount);
        }
    }
    if anon_exclusive && !crate::mm::rmap::folio_try_share_anon_rmap(m, folio, folio) {
        return restore(KsmFail::Pinned);
    }
    if flags & F_DIRTY != 0 {
        m.memmap.page(folio).flags.set_bit(PG_DIRTY); // folio_mark_dirty
    }
    let new = Pte::Present {
        pfn,
        flags: flags & !(F_DIRTY | F_WRITE),
    }
    .encode();
    slot.set(new); // set_pte_at
    trace!(
        "write_protect_page",
        "pte[{idx}] = {:?}: clean, read-only",
        Pte::decode(new)
    );
    Ok(new)
}

/// `replace_page` (mm/ksm.c): map `kpage` where `page` was. The PMD is read locklessly and
/// must be a table (not none, not huge); under the PTE lock the entry must still be the one
/// `write_protect_page` left (`pte_same`), and `page` is no longer AnonExclusive
/// (`VM_BUG_ON_PAGE`). Take a reference on the KSM folio and add its rmap, clear and flush the
/// old entry, map `kpage` read-only (`mk_pte` with the VMA's private protection: not writable,
/// accessed), remove the old page's rmap and drop the mapping's reference on it.
pub fn replace_page(
    m: &Machine,
    mm_id: usize,
    idx: usize,
    page: usize,
    kpage: usize,
    orig: i64,
) -> Result<(), KsmFail> {
    let mm = &m.mms[mm_id];
    if !matches!(
        Pmd::decode(pmdp_get_lockless(mm, "replace_page")),
        Pmd::Table(_)
    ) {
        return Err(KsmFail::Changed);
    }
    let map = pte_offset_map_lock(m, mm).ok_or(KsmFail::Changed)?;
    let table = m.table(mm, map.table, "replace_page");
    let slot = &table.ptes[idx];
    if slot.read() != orig {
        trace!("replace_page", "pte[{idx}] changed: give up");
        return Err(KsmFail::Changed);
    }
    vm_bug_on!(
        m.memmap.page(page).flags.test_bit(PG_ANON_EXCLUSIVE),
        Inv::I16PinnedNotExclusive,
        "replace_page: page {page} is still AnonExclusive"
    );
    let kfolio = m.memmap.page_folio(kpage);
    crate::mm::page_ref::folio_get(&m.memmap, kfolio);
    crate::mm::rmap::folio_add_anon_rmap_pte(&m.memmap, kfolio, kpage, false, false, mm.mm_id);
    crate::mm::pgtable::ptep_get_and_clear(slot);
    crate::mm::pgtable_generic::flush_tlb_page(m, mm, idx);
    slot.set(
        Pte::Present {
            pfn: kpage,
            flags: F_YOUNG,
        }
        .encode(),
    );
    trace!("replace_page", "pte[{idx}] = KSM page {kpage}");
    let folio = m.memmap.page_folio(page);
    crate::mm::rmap::folio_remove_rmap_pte(&m.memmap, folio, page, false, mm.mm_id);
    // !folio_mapped → folio_free_swap: no swap cache in the model.
    crate::mm::page_ref::folio_put(&m.memmap, folio, 1);
    drop(map);
    m.observe("ksm-merged");
    Ok(())
}
