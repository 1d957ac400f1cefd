//! Models the small-page fault of mm/memory.c (Linux 6.18.2): `do_anonymous_page`,
//! `__pte_alloc`, `pmd_install`. Paraphrased.

use crate::mm::pgtable::Pmd;
use crate::mm::pgtable_generic::pte_offset_map_lock;
use crate::mm::{Machine, Mm};
use crate::trace;

/// `pmd_install` (mm/memory.c): under the PMD lock, if the PMD is still none, account the
/// table, `smp_wmb` (rule `pmd-install-wmb`: the zeroed table visible before the PMD points to
/// it, paired with the lockless walkers' dependency), `pmd_populate`; otherwise the loser frees
/// its table (rule `pmd-install-pmd-none-recheck`).
pub fn pmd_install(_m: &Machine, mm: &Mm, t: usize) {
    use crate::kernel::rule_on;
    use crate::rules::Rule;
    let ptl = mm.pmd_lock.lock();
    let cur = Pmd::decode(mm.pmd.read());
    if !rule_on(Rule::PmdInstallPmdNoneRecheck) || cur.none() {
        mm.nr_ptes.inc();
        if rule_on(Rule::PmdInstallWmb) {
            crate::kernel::smp_wmb();
        }
        mm.pmd.set(Pmd::Table(t).encode()); // pmd_populate
        trace!("pmd_install", "pmd = table({t}, PRESENT)");
        drop(ptl);
    } else {
        trace!("pmd_install", "pmd {cur:?} not none: free table {t}");
        drop(ptl);
        crate::mm::huge_memory::pte_free(mm, t);
    }
}

/// `__pte_alloc`: allocate a zeroed table and install it (`pte_alloc` calls this only when
/// the lockless test saw the PMD none).
pub fn __pte_alloc(m: &Machine, mm: &Mm) -> bool {
    let Some(t) = crate::mm::huge_memory::pte_alloc_one(mm) else {
        return false;
    };
    pmd_install(m, mm, t);
    true
}

/// What a small-page fault did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PteFault {
    /// Mapped a new page at the PTE.
    Mapped,
    /// The PMD is (or became) huge, or the PTE was already populated: return 0, refault.
    Refault,
    /// No memory.
    Oom,
}

/// `do_anonymous_page` (mm/memory.c, write fault, order 0) for sub-page `idx`, reached from
/// `__handle_mm_fault` when the lockless PMD test did not take the huge path: `pte_alloc`,
/// allocate the page (memmap `pfn`, free), `pte_offset_map_lock` (NULL if the PMD became huge
/// meanwhile: refault), recheck `pte_none`, rmap, `set_pte_at`.
pub fn do_anonymous_page(m: &Machine, mm_id: usize, idx: usize, pfn: usize) -> PteFault {
    use crate::mm::pgtable::{Pte, F_DIRTY, F_WRITE, F_YOUNG};
    let mm = &m.mms[mm_id];
    crate::mm::mmap_lock::assert_mmap_or_vma_locked(mm, "do_anonymous_page");
    if Pmd::decode(mm.pmd.read()).none() && !__pte_alloc(m, mm) {
        return PteFault::Oom;
    }
    m.memmap.alloc_small_folio(pfn);
    crate::kernel::smp_wmb(); // __folio_mark_uptodate
    let Some(map) = pte_offset_map_lock(m, mm) else {
        crate::mm::page_ref::folio_put(&m.memmap, pfn, 1);
        return PteFault::Refault;
    };
    let table = m.table(mm, map.table, "do_anonymous_page");
    if Pte::decode(table.ptes[idx].read()) != Pte::None {
        drop(map);
        crate::mm::page_ref::folio_put(&m.memmap, pfn, 1);
        return PteFault::Refault;
    }
    crate::mm::rmap::folio_add_new_anon_rmap_pte(&m.memmap, pfn);
    m.memmap.page(pfn).flags.set_bit(crate::mm::page::PG_LRU); // folio_add_lru_vma
    table.ptes[idx].set(
        Pte::Present {
            pfn,
            flags: F_WRITE | F_YOUNG | F_DIRTY,
        }
        .encode(),
    ); // set_pte_at
    trace!("do_anonymous_page", "pte[{idx}] = present pfn {pfn}");
    drop(map);
    PteFault::Mapped
}

/// A user store through a huge PMD, as the MMU does it (no kernel function): the page walk
/// reads the PMD; if it is present, huge and writable, the hardware sets the accessed and
/// dirty bits in one atomic update (x86's locked A/D update, arm64's hardware DBM update) and
/// the store reaches the folio. Returns the folio written, or None if the walk found no
/// writable huge mapping (the store would fault; the model stops there). A cached translation
/// is not modelled: every store walks, which is what a clean (not yet dirty) translation needs
/// before its first write.
pub fn hw_write_huge_pmd(m: &Machine, mm_id: usize) -> Option<usize> {
    use crate::mm::pgtable::{F_DIRTY, F_WRITE, F_YOUNG};
    let mm = &m.mms[mm_id];
    loop {
        let v = crate::mm::pgtable_generic::pmdp_get_lockless(mm, "mmu: write walk");
        let Pmd::Huge { pfn, flags } = Pmd::decode(v) else {
            return None;
        };
        if flags & F_WRITE == 0 {
            return None;
        }
        let new = Pmd::Huge {
            pfn,
            flags: flags | F_YOUNG | F_DIRTY,
        }
        .encode();
        if mm.pmd.cmpxchg_relaxed(v, new) == v {
            trace!(
                "mmu: write",
                "pmd {:?} -> {:?}",
                Pmd::decode(v),
                Pmd::decode(new)
            );
            return Some(pfn);
        }
    }
}

/// `copy_pte_range` (mm/memory.c) at fork for the parent's one PTE table, both mmap_locks held
/// for write and the parent's VMA write-locked: allocate and lock the child's table
/// (`pte_alloc_map_lock`), map the parent's (`pte_offset_map_rw_nolock`) and take its lock
/// nested; then entry by entry: none is skipped; a migration entry is copied
/// (`copy_nonpresent_pte`: a writable one becomes readable in both, no reference or
/// mapcount); the zero page is copied as is; a present PTE of a large folio is copied with the
/// rest of its batch (`copy_present_ptes`), a small folio's alone. A maybe-pinned AnonExclusive
/// page cannot be shared: `copy_present_ptes` says -EAGAIN, the copy drops both PTE locks,
/// takes a page from the allocator (`folio_prealloc`: the next of `prealloc_pool`), and starts
/// again at that PTE (`goto again`), where `copy_present_page` gives the child a copy. A
/// preallocated page left unused (the pin went away meanwhile) is put. Returns false if the
/// copy stopped (-ENOMEM); an empty pool when a page is needed is a model bug (the teardown of
/// the half-built child is not modelled).
pub fn copy_pte_range(m: &Machine, src: usize, dst: usize, prealloc_pool: &[usize]) -> bool {
    use crate::mm::pgtable::{Pte, F_EXCLUSIVE, F_WRITE};
    let (smm, dmm) = (&m.mms[src], &m.mms[dst]);
    smm.mmap_lock.assert_held("copy_pte_range (src)");
    dmm.mmap_lock.assert_held("copy_pte_range (dst)");
    let mut pool = prealloc_pool.iter();
    let mut prealloc: Option<usize> = None;
    let mut start = 0;
    loop {
        // again:
        if Pmd::decode(dmm.pmd.read()).none() && !__pte_alloc(m, dmm) {
            return false; // -ENOMEM
        }
        let Some(dmap) = pte_offset_map_lock(m, dmm) else {
            return false;
        };
        let Some(smap) = crate::mm::pgtable_generic::pte_offset_map(m, smm) else {
            drop(dmap);
            return true; // the parent's table went away: nothing to copy
        };
        let stable = m.table(smm, smap.table, "copy_pte_range (src)");
        let src_ptl = stable.ptl.lock_nested(1);
        let dtable = m.table(dmm, dmap.table, "copy_pte_range (dst)");
        let mut i = start;
        let mut eagain = false;
        while i < m.nr {
            let v = Pte::decode(stable.ptes[i].read());
            match v {
                Pte::None => {}
                Pte::Migration { pfn, flags } => {
                    let readable = Pte::Migration {
                        pfn,
                        flags: flags & !(F_WRITE | F_EXCLUSIVE),
                    };
                    if readable != v {
                        stable.ptes[i].set(readable.encode());
                    }
                    dtable.ptes[i].set(readable.encode());
                }
                Pte::Swap { offset, flags } => {
                    // copy_nonpresent_pte: one more swap PTE names the slot; an exclusive entry
                    // becomes shared in the parent and the child (pte_swp_clear_exclusive).
                    crate::mm::swapfile::swap_duplicate(m, offset);
                    m.observe("fork-copied-swap-entry");
                    let shared = Pte::Swap {
                        offset,
                        flags: flags & !F_EXCLUSIVE,
                    };
                    if shared != v {
                        stable.ptes[i].set(shared.encode());
                    }
                    dtable.ptes[i].set(shared.encode());
                }
                Pte::Zero { flags } => {
                    // __copy_present_ptes: never writable; made old in the child
                    let old = flags & !crate::mm::pgtable::F_YOUNG;
                    dtable.ptes[i].set(Pte::Zero { flags: old }.encode());
                }
                Pte::Present { .. } => {
                    match copy_present_ptes(m, src, dst, stable, dtable, i, &mut prealloc) {
                        Some(nr) => {
                            if let Some(unused) = prealloc.take() {
                                // the pinned PTE changed (the pin went away) meanwhile
                                m.observe("fork-prealloc-unused");
                                crate::mm::page_ref::folio_put(&m.memmap, unused, 1);
                            }
                            i += nr;
                            continue;
                        }
                        None => {
                            eagain = true;
                            break;
                        }
                    }
                }
            }
            i += 1;
        }
        drop(src_ptl);
        drop(smap);
        drop(dmap);
        if !eagain {
            break;
        }
        // -EAGAIN: folio_prealloc outside the page table locks, then again from pte[i].
        let Some(&pfn) = pool.next() else {
            crate::model_bug!(
                "copy_pte_range: pte[{i}] needs a page copy and the scenario gave fork no page (-ENOMEM teardown is not modelled)"
            );
        };
        m.memmap.alloc_small_folio(pfn);
        trace!(
            "folio_prealloc",
            "page {pfn} for the copy of mm{src}'s pte[{i}]"
        );
        prealloc = Some(pfn);
        start = i;
    }
    if let Some(unused) = prealloc {
        crate::mm::page_ref::folio_put(&m.memmap, unused, 1);
    }
    trace!("copy_pte_range", "mm{src} -> mm{dst}: table copied");
    true
}

/// `copy_present_ptes` (mm/memory.c) from `pte[i]` of the parent's table, both PTE locks held.
/// Without a preallocated page, a large folio's batch (`folio_pte_batch_flags`: the following
/// PTEs that map the next pages of the same folio with the same dirty bit, FPB_RESPECT_DIRTY,
/// and the same soft-dirty bit — FPB_RESPECT_SOFT_DIRTY, as with soft-dirty tracking on; the
/// write bit is merged) is copied at once: `folio_ref_add(nr)` BEFORE
/// `folio_try_dup_anon_rmap_ptes` (the "reference before mapcount" order COW reuse relies on);
/// if that refuses (maybe pinned), -EAGAIN. Otherwise (a small folio, the last PTE, or a
/// preallocated page in hand: "if we likely have to copy, don't bother batching") one PTE:
/// `folio_get`, `folio_try_dup_anon_rmap_pte`, and on refusal `folio_put` and
/// `copy_present_page`. A shared batch is installed by `__copy_present_ptes`: if writable,
/// `wrprotect_ptes` clears the write bit of every parent PTE (an atomic clear per entry), then
/// `set_ptes` installs the first entry, write-protected and old, for every page of the batch
/// in the child. Returns the number of PTEs copied, or None for -EAGAIN.
fn copy_present_ptes(
    m: &Machine,
    src: usize,
    dst: usize,
    stable: &crate::mm::PteTable,
    dtable: &crate::mm::PteTable,
    i: usize,
    prealloc: &mut Option<usize>,
) -> Option<usize> {
    use crate::mm::pgtable::{Pte, F_DIRTY, F_SOFT_DIRTY, F_WRITE, F_YOUNG};
    let Pte::Present { pfn, flags } = Pte::decode(stable.ptes[i].read()) else {
        crate::model_bug!("copy_present_ptes of a non-present pte[{i}]");
    };
    let folio = m.memmap.page_folio(pfn);
    let large = crate::mm::gup::folio_test_large(m, folio);
    let max_nr = m.nr - i;
    let mut nr = 1;
    let mut write = flags & F_WRITE;
    if prealloc.is_none() && large && max_nr != 1 {
        let same = F_DIRTY | F_SOFT_DIRTY;
        while i + nr < m.nr {
            match Pte::decode(stable.ptes[i + nr].read()) {
                Pte::Present { pfn: p, flags: f }
                    if p == pfn + nr
                        && m.memmap.page_folio_quiet(p) == folio
                        && f & same == flags & same =>
                {
                    write |= f & F_WRITE; // FPB_MERGE_WRITE
                    nr += 1
                }
                _ => break,
            }
        }
        crate::mm::page_ref::folio_ref_add(&m.memmap, folio, nr as i32);
        if !crate::mm::rmap::folio_try_dup_anon_rmap_ptes(m, folio, pfn, nr, m.mms[dst].mm_id) {
            crate::mm::page_ref::folio_ref_add(&m.memmap, folio, -(nr as i32)); // folio_ref_sub
            return None; // -EAGAIN: one preallocated page needed
        }
    } else {
        crate::mm::page_ref::folio_ref_add(&m.memmap, folio, 1); // folio_get
        if !crate::mm::rmap::folio_try_dup_anon_rmap_ptes(m, folio, pfn, 1, m.mms[dst].mm_id) {
            // Page may be pinned: copy it for the child now (folio_put first: the parent's
            // mapping still holds the folio).
            crate::mm::page_ref::folio_ref_add(&m.memmap, folio, -1);
            return copy_present_page(m, dst, dtable, i, pfn, prealloc).then_some(1);
        }
    }
    if write != 0 {
        for k in i..i + nr {
            stable.ptes[k].clear_bit(F_WRITE.trailing_zeros()); // ptep_set_wrprotect
        }
    }
    let child = flags & !(F_WRITE | F_YOUNG); // pte_wrprotect, pte_mkold
    for k in 0..nr {
        dtable.ptes[i + k].set(
            Pte::Present {
                pfn: pfn + k,
                flags: child,
            }
            .encode(),
        ); // set_ptes
    }
    trace!(
        "copy_present_ptes",
        "pte[{i}..{}] (folio {folio}) shared: mm{src} and mm{dst} map it read-only",
        i + nr
    );
    m.observe("fork-copied-present-ptes");
    Some(nr)
}

/// `copy_present_page` (mm/memory.c): the parent's `page` may be pinned and is AnonExclusive,
/// so the child gets its own copy in the preallocated page (none yet: false, -EAGAIN): copy
/// the contents (`copy_mc_user_highpage`), `__folio_mark_uptodate`,
/// `folio_add_new_anon_rmap(RMAP_EXCLUSIVE)`, `folio_add_lru_vma`, and install it in the
/// child young, dirty and writable (`maybe_mkwrite(pte_mkdirty)` in the model's writable VMA),
/// the parent's PTE untouched. The preallocated page's reference becomes the mapping's.
fn copy_present_page(
    m: &Machine,
    dst: usize,
    dtable: &crate::mm::PteTable,
    i: usize,
    page: usize,
    prealloc: &mut Option<usize>,
) -> bool {
    use crate::mm::page::PG_LRU;
    use crate::mm::pgtable::{Pte, F_DIRTY, F_WRITE, F_YOUNG};
    let Some(new) = *prealloc else {
        return false;
    };
    if !crate::mm::util::copy_mc_user_highpage(m, new, page) {
        crate::model_bug!("copy_present_page of poisoned page {page}: -EHWPOISON is not modelled");
    }
    *prealloc = None;
    crate::kernel::smp_wmb(); // __folio_mark_uptodate
    crate::mm::rmap::folio_add_new_anon_rmap_pte(&m.memmap, new);
    m.memmap.page(new).flags.set_bit(PG_LRU); // folio_add_lru_vma
    dtable.ptes[i].set(
        Pte::Present {
            pfn: new,
            flags: F_WRITE | F_YOUNG | F_DIRTY,
        }
        .encode(),
    ); // set_pte_at
    trace!(
        "copy_present_page",
        "mm{dst} pte[{i}] = new page {new} (copy of maybe-pinned page {page})"
    );
    m.observe("fork-copied-pinned-page");
    true
}

/// What a write fault on a read-only PTE did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PteWp {
    /// The page was reused in place: the PTE is writable now.
    Reused,
    /// The page was copied to a new exclusive page (`wp_page_copy`).
    Copied,
    /// The PTE changed under the fault (or no table, or no memory): return, refault.
    Retry,
}

/// A write fault on sub-page `idx` of `mm_id` reaching `do_wp_page` (mm/memory.c), mmap_lock
/// or VMA lock read held: `handle_pte_fault` finds a present, read-only PTE under the PTE lock
/// (the model reads `orig_pte` with the lock held, where the kernel reads it before and
/// compares under the lock: the same entries pass). Private anonymous mapping: an
/// AnonExclusive page, or one `wp_can_reuse_anon_folio` proves exclusive, is reused
/// (`wp_page_reuse`: young, dirty, writable); otherwise take a reference, drop the lock and
/// copy into the page at `new_pfn` (`wp_page_copy`).
pub fn do_wp_page(m: &Machine, mm_id: usize, idx: usize, new_pfn: usize) -> PteWp {
    use crate::mm::page::PG_ANON_EXCLUSIVE;
    use crate::mm::pgtable::{Pte, F_DIRTY, F_WRITE, F_YOUNG};
    let mm = &m.mms[mm_id];
    crate::mm::mmap_lock::assert_mmap_or_vma_locked(mm, "do_wp_page");
    let Some(map) = pte_offset_map_lock(m, mm) else {
        return PteWp::Retry;
    };
    let table = m.table(mm, map.table, "do_wp_page");
    let orig = table.ptes[idx].read();
    let Pte::Present { pfn: page, flags } = Pte::decode(orig) else {
        return PteWp::Retry; // none, migration entry or zero page: not this path in the model
    };
    if flags & F_WRITE != 0 {
        // Already writable: handle_pte_fault only makes it young and dirty, not do_wp_page's
        // business (the model's callers fault on read-only entries).
        return PteWp::Retry;
    }
    let folio = m.memmap.page_folio(page);
    let anon = m.memmap.mapping[folio].read() == crate::mm::ANON_VMA_ID;
    if anon
        && (m.memmap.page(page).flags.test_bit(PG_ANON_EXCLUSIVE)
            || wp_can_reuse_anon_folio(m, mm_id, folio))
    {
        if !m.memmap.page(page).flags.test_bit(PG_ANON_EXCLUSIVE) {
            m.memmap.page(page).flags.set_bit(PG_ANON_EXCLUSIVE);
            crate::mm::rmap::anon_exclusive_publish_wmb();
        }
        // wp_page_reuse: ptep_set_access_flags with the entry young, dirty and writable
        let v = Pte::Present {
            pfn: page,
            flags: flags | F_YOUNG | F_DIRTY | F_WRITE,
        };
        table.ptes[idx].set(v.encode());
        trace!("wp_page_reuse", "pte[{idx}] = {v:?}");
        drop(map);
        m.observe("cow-pte-reused");
        return PteWp::Reused;
    }
    crate::mm::page_ref::folio_get(&m.memmap, folio);
    drop(map);
    wp_page_copy(m, mm_id, idx, orig, folio, page, new_pfn)
}

/// `wp_can_reuse_anon_folio` (mm/memory.c), the PTE lock held, the page not AnonExclusive. A
/// small folio: only with the one reference of this mapping, checked again under the folio
/// lock (`folio_trylock`; a KSM page never gets here in the model: its `folio->mapping` is not
/// the anon_vma's, so `do_wp_page` copies; the swap cache and `lru_add_drain` are not
/// modelled). A large folio:
/// `__wp_can_reuse_large_anon_folio`.
fn wp_can_reuse_anon_folio(m: &Machine, mm_id: usize, folio: usize) -> bool {
    use crate::mm::filemap::{folio_trylock, folio_unlock};
    use crate::mm::page_ref::folio_ref_count;
    if crate::mm::gup::folio_test_large(m, folio) {
        return __wp_can_reuse_large_anon_folio(m, mm_id, folio);
    }
    if folio_ref_count(&m.memmap, folio) > 3 {
        return false;
    }
    if folio_ref_count(&m.memmap, folio) > 1 {
        return false;
    }
    if !folio_trylock(&m.memmap, folio) {
        return false;
    }
    let ok = folio_ref_count(&m.memmap, folio) == 1;
    folio_unlock(&m.memmap, folio); // folio_move_anon_rmap first: one anon_vma in the model
    ok
}

/// `__wp_can_reuse_large_anon_folio` (mm/memory.c): a large folio is exclusive to this mm
/// when it is not "maybe mapped shared" and every reference is a mapping
/// (`folio_large_mapcount == folio_ref_count`; each mapping holds one reference, taken
/// before its mapcount and dropped after it). Tested without the `_mm_ids` lock first (one
/// mapping only: no reuse, let the copy free the folio), then under it, where neither the
/// mapcount nor the shared bit can change. Rules `wp-reuse-large-shared-bit` and
/// `wp-reuse-large-refcount` are the two tests.
fn __wp_can_reuse_large_anon_folio(m: &Machine, mm_id: usize, folio: usize) -> bool {
    use crate::kernel::rule_on;
    use crate::mm::page_ref::folio_ref_count;
    use crate::mm::rmap::folio_mapcount;
    use crate::rules::Rule;
    let meta = &m.memmap.meta[folio];
    if folio_mapcount(&m.memmap, folio) <= 1 {
        return false;
    }
    let shared_test = rule_on(Rule::WpReuseLargeSharedBit);
    let ref_test = rule_on(Rule::WpReuseLargeRefcount);
    if shared_test && meta.mm_ids_shared.read() != 0 {
        return false;
    }
    if ref_test && folio_mapcount(&m.memmap, folio) != folio_ref_count(&m.memmap, folio) {
        return false;
    }
    // Stabilize the mapcount against the refcount and recheck, in the kernel's order: the
    // shared bit, then the mapcount against the refcount. (The kernel's debug check that the
    // mapcount is not above the refcount reads both before the bit; here it uses the values
    // of the comparison.)
    let lock = meta.mm_ids_lock.lock();
    let mut counts = None;
    let exclusive = if shared_test && meta.mm_ids_shared.read() != 0 {
        false
    } else {
        let mapcount = folio_mapcount(&m.memmap, folio);
        let refs = folio_ref_count(&m.memmap, folio);
        counts = Some((mapcount, refs));
        crate::vm_warn_on!(
            mapcount > refs,
            crate::invariants::Inv::I3RefsCoverMappings,
            "folio {folio}: large mapcount {mapcount} above refcount {refs} (a mapping without its reference)"
        );
        !(ref_test && mapcount != refs)
    };
    if exclusive {
        let slots = meta.mm_id_slots.access(&lock);
        crate::vm_warn_on!(
            !slots.mm_id.contains(&m.mms[mm_id].mm_id),
            crate::invariants::Inv::I31MmIdSlots,
            "folio {folio}: reused by mm{mm_id}, which owns no slot ({:?})",
            slots.mm_id
        );
    }
    trace!(
        "__wp_can_reuse_large_anon_folio",
        "folio {folio}: (mapcount, refcount) {counts:?} under the lock: {}",
        if exclusive {
            "exclusive"
        } else {
            "maybe shared"
        }
    );
    drop(lock);
    exclusive
}

/// `wp_page_copy` (mm/memory.c): with a reference on the old folio and no lock, allocate the
/// page at `new_pfn` and copy the old page into it (`__wp_page_copy_user`, `_mc`); then under
/// the PTE lock, if the PTE is still `orig`: clear and flush it, `folio_add_new_anon_rmap`
/// (RMAP_EXCLUSIVE), install the new page young, dirty and writable, and remove the old
/// page's rmap; after the lock, drop the old mapping's reference and the fault's.
fn wp_page_copy(
    m: &Machine,
    mm_id: usize,
    idx: usize,
    orig: i64,
    old_folio: usize,
    old_page: usize,
    new_pfn: usize,
) -> PteWp {
    use crate::mm::page_ref::{folio_put, folio_put_small_or_large};
    use crate::mm::pgtable::{Pte, F_DIRTY, F_WRITE, F_YOUNG};
    let mm = &m.mms[mm_id];
    m.memmap.alloc_small_folio(new_pfn);
    if !crate::mm::util::copy_mc_user_highpage(m, new_pfn, old_page) {
        // copy_mc met the memory error: VM_FAULT_HWPOISON, the PTE left alone.
        crate::model_bug!(
            "wp_page_copy of poisoned page {old_page}: the -EHWPOISON path is not modelled"
        );
    }
    crate::kernel::smp_wmb(); // __folio_mark_uptodate
    let Some(map) = pte_offset_map_lock(m, mm) else {
        folio_put(&m.memmap, new_pfn, 1);
        folio_put_small_or_large(m, old_folio);
        return PteWp::Retry;
    };
    let table = m.table(mm, map.table, "wp_page_copy");
    if table.ptes[idx].read() != orig {
        drop(map);
        folio_put(&m.memmap, new_pfn, 1);
        folio_put_small_or_large(m, old_folio);
        return PteWp::Retry;
    }
    crate::mm::pgtable::ptep_get_and_clear(&table.ptes[idx]); // ptep_clear_flush
    crate::mm::pgtable_generic::flush_tlb_page(m, mm, idx);
    crate::mm::rmap::folio_add_new_anon_rmap_pte(&m.memmap, new_pfn);
    m.memmap
        .page(new_pfn)
        .flags
        .set_bit(crate::mm::page::PG_LRU); // folio_add_lru_vma
    table.ptes[idx].set(
        Pte::Present {
            pfn: new_pfn,
            flags: F_WRITE | F_YOUNG | F_DIRTY,
        }
        .encode(),
    ); // set_pte_at
    let large = crate::mm::gup::folio_test_large(m, old_folio);
    crate::mm::rmap::folio_remove_rmap_pte(&m.memmap, old_folio, old_page, large, mm.mm_id);
    trace!(
        "wp_page_copy",
        "pte[{idx}] = new page {new_pfn} (copy of {old_page})"
    );
    drop(map);
    folio_put_small_or_large(m, old_folio); // the old mapping's reference
    folio_put_small_or_large(m, old_folio); // do_wp_page's
    m.observe("cow-pte-copied");
    PteWp::Copied
}

/// How a user store completed ([`user_store`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserStore {
    /// The store went through a translation the CPU had cached before it started.
    pub cached: bool,
    /// Faults taken on an empty PTE (`do_anonymous_page` mapped a new page).
    pub anon_faults: usize,
    /// Faults taken on a migration entry (`migration_entry_wait`).
    pub migration_waits: usize,
    /// Faults on a swap entry that mapped the page again (`do_swap_page`).
    pub swapin_faults: usize,
    /// The page the store reached.
    pub pfn: usize,
}

/// A user store of `value` into virtual page `idx` of mm `mm_id` on the current CPU, with the
/// kernel's handling of the faults it may take until it completes (no kernel function: the
/// store instruction, [`crate::mm::tlb::mmu_store`], and `handle_mm_fault` for an
/// order-0 anonymous VMA): an empty PTE → `do_anonymous_page` with the free memmap page
/// `new_pfn`; a PTE migration entry → `migration_entry_wait`; a swap entry → `do_swap_page`
/// (a synchronous read goes to `new_pfn`); all under the mmap read lock,
/// then the store is retried. The machine must keep TLB state for this CPU.
pub fn user_store(m: &Machine, mm_id: usize, idx: usize, value: i32, new_pfn: usize) -> UserStore {
    use crate::mm::pgtable::Pte;
    use crate::mm::tlb::{mmu_store, MmuStore};
    let mut r = UserStore::default();
    loop {
        match mmu_store(m, mm_id, idx, value) {
            MmuStore::Cached { pfn } => {
                r.cached = true;
                r.pfn = pfn;
                return r;
            }
            MmuStore::Walked { pfn } => {
                r.pfn = pfn;
                return r;
            }
            MmuStore::Fault(Pte::None) | MmuStore::FaultPmd(Pmd::None) => {
                let _r = m.mms[mm_id].mmap_lock.down_read();
                match do_anonymous_page(m, mm_id, idx, new_pfn) {
                    PteFault::Mapped => r.anon_faults += 1,
                    PteFault::Refault => {}
                    PteFault::Oom => crate::model_bug!("user_store: no PTE table for the fault"),
                }
            }
            MmuStore::Fault(Pte::Migration { .. }) => {
                let _r = m.mms[mm_id].mmap_lock.down_read();
                crate::mm::migrate::migration_entry_wait(m, mm_id, idx);
                r.migration_waits += 1;
            }
            MmuStore::Fault(Pte::Swap { .. }) => {
                // handle_pte_fault reads the PTE again itself (vmf->orig_pte)
                if let Some(Swapin::Mapped { .. }) = handle_swap_fault(m, mm_id, idx, true, new_pfn)
                {
                    r.swapin_faults += 1;
                }
            }
            other => crate::model_bug!("user_store: the fault on {other:?} is not modelled"),
        }
    }
}

/// What a swap-in fault did ([`do_swap_page`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Swapin {
    /// Mapped `nr` pages (the whole large folio at once, or the faulting page).
    Mapped { nr: usize },
    /// Nothing mapped (the PTE changed, the folio left the swap cache, or another fault owns
    /// the slot): return to the user, who faults again.
    Retry,
}

/// `do_swap_page` (mm/memory.c) for a fault at virtual page `idx` of mm `mm_id` on the swap
/// PTE value `orig` (read without the PTE lock), with the mmap or VMA read lock held. The
/// folio comes from the swap cache (`swap_cache_get_folio`: a lockless lookup and
/// `folio_try_get`), or, if the cache has none, is read synchronously from the device into the
/// free memmap page `new_pfn` (SWP_SYNCHRONOUS_IO with a swap count of 1: the swap cache is
/// skipped and the slot pinned with `swapcache_prepare`). Then, the folio locked: it must
/// still be in the swap cache with this entry (`folio_matches_swap_entry`); under the PTE lock
/// the PTE must still hold `orig` (rule `swapin-pte-same`); a large folio whose every page
/// this PTE table still names, in order, is mapped whole; the swap counts are dropped
/// (`swap_free_nr`); a write fault may take the folio out of the swap cache
/// (`should_try_to_free_swap`); an exclusive entry (or a folio nobody else holds) is mapped
/// writable, AnonExclusive; the lookup's reference becomes the first mapping's.
///
/// Coarser than the kernel: `folio_lock_or_retry` sleeps for the folio lock here, where the
/// kernel may drop the mmap lock, wait and return VM_FAULT_RETRY (the refault then reaches
/// the same checks). Not modelled: a write fault on a non-exclusive entry (`do_wp_page` after
/// the swap-in), readahead into the swap cache (a swap count above 1 with no cached folio),
/// the swap-in of a large folio from the device.
pub fn do_swap_page(
    m: &Machine,
    mm_id: usize,
    idx: usize,
    orig: i64,
    write: bool,
    new_pfn: usize,
) -> Swapin {
    use crate::mm::pgtable::Pte;
    let mm = &m.mms[mm_id];
    crate::mm::mmap_lock::assert_mmap_or_vma_locked(mm, "do_swap_page");
    let Pte::Swap { offset, .. } = Pte::decode(orig) else {
        crate::model_bug!("do_swap_page on {:?}", Pte::decode(orig))
    };
    match crate::mm::swap_state::swap_cache_get_folio(m, offset) {
        Some(folio) => swapin_cached(m, mm_id, idx, orig, write, folio),
        None => swapin_sync(m, mm_id, idx, orig, write, new_pfn),
    }
}

/// [`do_swap_page`] with the folio found in the swap cache (a reference held).
fn swapin_cached(
    m: &Machine,
    mm_id: usize,
    idx: usize,
    orig: i64,
    write: bool,
    folio: usize,
) -> Swapin {
    use crate::mm::filemap::{folio_lock, folio_unlock};
    use crate::mm::page::PG_SWAPCACHE;
    use crate::mm::page_ref::{
        folio_nr_pages, folio_put_small_or_large, folio_ref_add, folio_ref_count,
    };
    use crate::mm::pgtable::{Pte, F_DIRTY, F_EXCLUSIVE, F_SOFT_DIRTY, F_WRITE, F_YOUNG};
    let mm = &m.mms[mm_id];
    let mem = &m.memmap;
    let Pte::Swap { offset, flags } = Pte::decode(orig) else {
        crate::model_bug!("swapin_cached")
    };
    folio_lock(mem, folio); // folio_lock_or_retry
    let nr = folio_nr_pages(m, folio);
    // folio_matches_swap_entry: still in the swap cache, at the slots of this entry
    let first = mem.swap[folio].read() as usize;
    if !mem.page(folio).flags.test_bit(PG_SWAPCACHE)
        || first == 0
        || offset < first - 1
        || offset >= first - 1 + nr
    {
        trace!("do_swap_page", "folio {folio} left the swap cache: retry");
        folio_unlock(mem, folio);
        folio_put_small_or_large(m, folio);
        return Swapin::Retry;
    }
    let first = first - 1;
    let page_idx = offset - first;
    let page = folio + page_idx;
    // BUG_ON(folio_test_anon(folio) && PageAnonExclusive(page)): a page in the swap cache was
    // shared by the unmap (folio_try_share_anon_rmap_pte) or mapped by nobody since
    crate::vm_bug_on!(
        mem.page(page)
            .flags
            .test_bit(crate::mm::page::PG_ANON_EXCLUSIVE),
        crate::invariants::Inv::I21ExclusiveShared,
        "do_swap_page: page {page} of swap-cache folio {folio} is AnonExclusive"
    );
    let Some(map) = pte_offset_map_lock(m, mm) else {
        folio_unlock(mem, folio);
        folio_put_small_or_large(m, folio);
        return Swapin::Retry;
    };
    let table = m.table(mm, map.table, "do_swap_page");
    if crate::kernel::rule_on(crate::rules::Rule::SwapinPteSame) && table.ptes[idx].read() != orig {
        trace!("do_swap_page", "pte[{idx}] changed: out_nomap");
        m.observe("swapin-pte-changed");
        drop(map);
        folio_unlock(mem, folio);
        folio_put_small_or_large(m, folio);
        return Swapin::Retry;
    }
    // The whole large folio at once if this table names all of its pages, in order, with
    // the same swap bits (swap_pte_batch).
    let start = idx as isize - page_idx as isize;
    let whole = nr > 1
        && mem.page(folio).flags.test_bit(PG_SWAPCACHE)
        && start >= 0
        && start as usize + nr <= m.nr
        && (0..nr).all(|k| {
            table.ptes[start as usize + k].read()
                == Pte::Swap {
                    offset: first + k,
                    flags,
                }
                .encode()
        });
    let (nr_pages, page, entry, at) = if whole {
        (nr, folio, first, start as usize)
    } else {
        (1, page, offset, idx)
    };
    let exclusive = flags & F_EXCLUSIVE != 0;
    crate::mm::swapfile::swap_free_nr(m, entry, nr_pages);
    // should_try_to_free_swap: a write fault, and nobody but the cache and this fault holds it
    if write
        && mem.page(folio).flags.test_bit(PG_SWAPCACHE)
        && folio_ref_count(mem, folio) == 1 + nr as i32
    {
        crate::mm::swapfile::folio_free_swap(m, folio);
    }
    let mut pflags = F_YOUNG | (flags & F_SOFT_DIRTY);
    let mut write_pending = write;
    let excl = exclusive || folio_ref_count(mem, folio) == 1;
    if excl {
        pflags |= F_WRITE;
        if write {
            pflags |= F_DIRTY;
            write_pending = false;
        }
    }
    folio_ref_add(mem, folio, nr_pages as i32 - 1);
    if nr > 1 {
        crate::mm::rmap::folio_add_anon_rmap_ptes(mem, folio, page, nr_pages, excl, mm.mm_id);
    } else {
        crate::mm::rmap::folio_add_anon_rmap_pte(mem, folio, page, excl, false, mm.mm_id);
    }
    for k in 0..nr_pages {
        table.ptes[at + k].set(
            Pte::Present {
                pfn: page + k,
                flags: pflags,
            }
            .encode(),
        ); // set_ptes
    }
    trace!(
        "do_swap_page",
        "pte[{at}..{}] = folio {folio} pages {page}..{} from the swap cache (exclusive {excl})",
        at + nr_pages,
        page + nr_pages
    );
    m.observe(if whole {
        "swapin-mapped-whole-folio"
    } else {
        "swapin-mapped-page"
    });
    folio_unlock(mem, folio);
    if write_pending {
        crate::model_bug!(
            "do_swap_page: the write fault on a shared swap entry (do_wp_page) is not modelled"
        );
    }
    drop(map);
    Swapin::Mapped { nr: nr_pages }
}

/// [`do_swap_page`] with no folio in the swap cache: the synchronous swap-in of one page
/// into the free memmap page `new_pfn`, skipping the swap cache (SWP_SYNCHRONOUS_IO, swap
/// count 1): `swapcache_prepare` sets SWAP_HAS_CACHE on the slot (another holder of the bit
/// makes this fault back off and retry), `swap_read_folio`, then under the PTE lock the
/// `pte_same` recheck, `swap_free_nr`, `folio_add_new_anon_rmap`, `set_pte_at`; after the PTE
/// lock is dropped, `swapcache_clear` drops the bit (freeing the slot if nothing else names it).
fn swapin_sync(
    m: &Machine,
    mm_id: usize,
    idx: usize,
    orig: i64,
    write: bool,
    new_pfn: usize,
) -> Swapin {
    use crate::mm::page::{PG_ANON_EXCLUSIVE, PG_LRU, PG_SWAPBACKED};
    use crate::mm::pgtable::{Pte, F_DIRTY, F_SOFT_DIRTY, F_WRITE, F_YOUNG};
    use crate::mm::swapfile::{swap_count, SWAP_HAS_CACHE};
    let mm = &m.mms[mm_id];
    let mem = &m.memmap;
    let si = &m.swap;
    let Pte::Swap { offset, flags } = Pte::decode(orig) else {
        crate::model_bug!("swapin_sync")
    };
    let count = swap_count(si.swap_map[offset].read()); // __swap_count, a racy read
    if count > 1 {
        crate::model_bug!("do_swap_page: swap-in of a shared entry (readahead into the swap cache) is not modelled");
    }
    // swapcache_prepare
    let prepared = {
        let _ci = si.ci_lock.lock();
        let v = si.swap_map[offset].read();
        if v & SWAP_HAS_CACHE != 0 || swap_count(v) == 0 {
            false // -EEXIST (someone else swaps it in, or the cache has it) or -ENOENT
        } else {
            si.swap_map[offset].set(v | SWAP_HAS_CACHE);
            true
        }
    };
    if !prepared {
        trace!(
            "do_swap_page",
            "swapcache_prepare(slot {offset}) failed: back off"
        );
        crate::kernel::cpu_relax(); // schedule_timeout_uninterruptible(1)
        return Swapin::Retry;
    }
    mem.alloc_small_folio(new_pfn);
    let p = mem.page(new_pfn);
    p.flags.set_bit(crate::mm::page::PG_LOCKED); // __folio_set_locked (a new folio)
    p.flags.set_bit(PG_SWAPBACKED);
    p.flags.set_bit(PG_LRU); // folio_add_lru
    let data = si.data[offset].read();
    crate::vm_bug_on!(
        data < 0,
        crate::invariants::Inv::I29DataLost,
        "swap-in of slot {offset}, which was never written: the page's data is lost"
    );
    p.content.set(data); // swap_read_folio (synchronous)
    crate::kernel::smp_wmb(); // folio_mark_uptodate
                              // the read's completion unlocks the folio; do_swap_page locks it again
    p.flags.clear_bit(crate::mm::page::PG_LOCKED);
    crate::mm::filemap::folio_lock(mem, new_pfn);
    let clear_cache = |m: &Machine| {
        // swapcache_clear
        let _ci = si.ci_lock.lock();
        let v = si.swap_map[offset].read();
        si.swap_map[offset].set(v & !SWAP_HAS_CACHE);
        if v == SWAP_HAS_CACHE {
            m.swap.data[offset].set(-1); // the slot is free: swap_entries_free
        }
    };
    let unlock_new = || crate::mm::filemap::folio_unlock(mem, new_pfn);
    let Some(map) = pte_offset_map_lock(m, mm) else {
        unlock_new();
        crate::mm::page_ref::folio_put(mem, new_pfn, 1);
        clear_cache(m);
        return Swapin::Retry;
    };
    let table = m.table(mm, map.table, "do_swap_page");
    if crate::kernel::rule_on(crate::rules::Rule::SwapinPteSame) && table.ptes[idx].read() != orig {
        trace!("do_swap_page", "pte[{idx}] changed: out_nomap");
        m.observe("swapin-pte-changed");
        drop(map);
        unlock_new();
        crate::mm::page_ref::folio_put(mem, new_pfn, 1);
        clear_cache(m);
        return Swapin::Retry;
    }
    crate::mm::swapfile::swap_free_nr(m, offset, 1);
    // a new folio nobody else holds: exclusive, writable (dirty on a write fault)
    let mut pflags = F_YOUNG | F_WRITE | (flags & F_SOFT_DIRTY);
    if write {
        pflags |= F_DIRTY;
    }
    // folio_add_new_anon_rmap(RMAP_EXCLUSIVE), folio_add_lru_vma
    p._mapcount.set(0);
    p.flags.set_bit(PG_ANON_EXCLUSIVE);
    crate::mm::rmap::anon_exclusive_publish_wmb();
    mem.mapping[new_pfn].set(crate::mm::ANON_VMA_ID);
    table.ptes[idx].set(
        Pte::Present {
            pfn: new_pfn,
            flags: pflags,
        }
        .encode(),
    );
    trace!(
        "do_swap_page",
        "pte[{idx}] = new page {new_pfn} read from slot {offset}"
    );
    m.observe("swapin-read-from-device");
    unlock_new();
    drop(map);
    clear_cache(m);
    Swapin::Mapped { nr: 1 }
}

/// A fault at virtual page `idx` of mm `mm_id` whose PTE holds a swap entry, as
/// `handle_mm_fault` reaches `do_swap_page` (no kernel function of its own): under the mmap
/// read lock, `pte_offset_map` (RCU, no lock) and a lockless read of the PTE
/// (`vmf->orig_pte`); a swap entry goes to [`do_swap_page`]. None if the PTE held no swap entry
/// (nothing to swap in: it was mapped again or zapped).
pub fn handle_swap_fault(
    m: &Machine,
    mm_id: usize,
    idx: usize,
    write: bool,
    new_pfn: usize,
) -> Option<Swapin> {
    use crate::mm::pgtable::Pte;
    let mm = &m.mms[mm_id];
    let _r = mm.mmap_lock.down_read();
    let orig = {
        let map = crate::mm::pgtable_generic::pte_offset_map(m, mm)?;
        let v = m.table(mm, map.table, "handle_pte_fault").ptes[idx].read();
        trace!("handle_pte_fault", "pte[{idx}] = {:?}", Pte::decode(v));
        v
    };
    if !matches!(Pte::decode(orig), Pte::Swap { .. }) {
        return None;
    }
    Some(do_swap_page(m, mm_id, idx, orig, write, new_pfn))
}
