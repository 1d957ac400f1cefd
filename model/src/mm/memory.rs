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
    // folio_add_new_anon_rmap (order 0): _mapcount 0, AnonExclusive, mapping.
    let p = m.memmap.page(pfn);
    p._mapcount.set(0);
    p.flags.set_bit(crate::mm::page::PG_ANON_EXCLUSIVE);
    crate::mm::rmap::anon_exclusive_publish_wmb();
    m.memmap.mapping[pfn].set(crate::mm::ANON_VMA_ID);
    p.flags.set_bit(crate::mm::page::PG_LRU); // folio_add_lru_vma
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
/// rest of its batch (`copy_present_ptes`), a small folio's alone. Returns false if the copy
/// stopped (-ENOMEM, or a maybe-pinned page: `copy_present_page` into a preallocated page is
/// not modelled and stops the copy with a model bug).
pub fn copy_pte_range(m: &Machine, src: usize, dst: usize) -> bool {
    use crate::mm::pgtable::{Pte, F_EXCLUSIVE, F_WRITE};
    let (smm, dmm) = (&m.mms[src], &m.mms[dst]);
    smm.mmap_lock.assert_held("copy_pte_range (src)");
    dmm.mmap_lock.assert_held("copy_pte_range (dst)");
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
    let mut i = 0;
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
            Pte::Zero { flags } => {
                // __copy_present_ptes: never writable; made old in the child
                let old = flags & !crate::mm::pgtable::F_YOUNG;
                dtable.ptes[i].set(Pte::Zero { flags: old }.encode());
            }
            Pte::Present { .. } => {
                let Some(nr) = copy_present_ptes(m, src, dst, stable, dtable, i) else {
                    crate::model_bug!(
                        "copy_pte_range: pte[{i}] maps a maybe-pinned AnonExclusive page: copy_present_page is not modelled"
                    );
                };
                i += nr;
                continue;
            }
        }
        i += 1;
    }
    trace!("copy_pte_range", "mm{src} -> mm{dst}: table copied");
    drop(src_ptl);
    drop(smap);
    drop(dmap);
    true
}

/// `copy_present_ptes` (mm/memory.c) from `pte[i]` of the parent's table, both PTE locks held.
/// A large folio's batch (`folio_pte_batch_flags`: the following PTEs that map the next
/// pages of the same folio with the same dirty bit, FPB_RESPECT_DIRTY, and the same
/// soft-dirty bit — FPB_RESPECT_SOFT_DIRTY, as with soft-dirty tracking on; the write bit is
/// merged) is copied at once: `folio_ref_add(nr)` BEFORE `folio_try_dup_anon_rmap_ptes` (the
/// "reference before mapcount" order COW reuse relies on), then `__copy_present_ptes`: if the
/// batch is writable, `wrprotect_ptes` clears the write bit of every parent PTE (an atomic
/// clear per entry), then `set_ptes` installs the first entry, write-protected and old, for
/// every page of the batch in the child. Returns the batch size, or None when the folio may be
/// pinned (-EAGAIN / -EBUSY: the page must be copied).
fn copy_present_ptes(
    m: &Machine,
    src: usize,
    dst: usize,
    stable: &crate::mm::PteTable,
    dtable: &crate::mm::PteTable,
    i: usize,
) -> Option<usize> {
    use crate::mm::pgtable::{Pte, F_DIRTY, F_SOFT_DIRTY, F_WRITE, F_YOUNG};
    let Pte::Present { pfn, flags } = Pte::decode(stable.ptes[i].read()) else {
        crate::model_bug!("copy_present_ptes of a non-present pte[{i}]");
    };
    let folio = m.memmap.page_folio(pfn);
    let large = crate::mm::gup::folio_test_large(m, folio);
    let mut nr = 1;
    let mut write = flags & F_WRITE;
    if large {
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
    }
    crate::mm::page_ref::folio_ref_add(&m.memmap, folio, nr as i32);
    if !crate::mm::rmap::folio_try_dup_anon_rmap_ptes(m, folio, pfn, nr, m.mms[dst].mm_id) {
        crate::mm::page_ref::folio_ref_add(&m.memmap, folio, -(nr as i32)); // folio_ref_sub
        return None;
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
    Some(nr)
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
    use crate::mm::page::{PG_ANON_EXCLUSIVE, PG_LRU};
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
    // folio_add_new_anon_rmap(new, RMAP_EXCLUSIVE) of a small folio, folio_add_lru_vma
    let p = m.memmap.page(new_pfn);
    p.flags.__set_bit(crate::mm::page::PG_SWAPBACKED);
    m.memmap.mapping[new_pfn].set(crate::mm::ANON_VMA_ID);
    p._mapcount.set(0);
    p.flags.set_bit(PG_ANON_EXCLUSIVE);
    crate::mm::rmap::anon_exclusive_publish_wmb();
    p.flags.set_bit(PG_LRU);
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
    /// The page the store reached.
    pub pfn: usize,
}

/// A user store of `value` into virtual page `idx` of mm `mm_id` on the current CPU, with the
/// kernel's handling of the faults it may take until it completes (no kernel function: the
/// store instruction, [`crate::mm::tlb::mmu_store`], and `handle_mm_fault` for an
/// order-0 anonymous VMA): an empty PTE → `do_anonymous_page` with the free memmap page
/// `new_pfn`; a PTE migration entry → `migration_entry_wait`; both under the mmap read lock,
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
            other => crate::model_bug!("user_store: the fault on {other:?} is not modelled"),
        }
    }
}
