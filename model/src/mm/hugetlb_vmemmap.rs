//! HugeTLB vmemmap optimization, HVO (mm/hugetlb_vmemmap.c; include/linux/page-flags.h
//! `page_fixed_fake_head`, `page_count_writable`; include/linux/page_ref.h
//! `page_ref_add_unless`; docs/protocol.md#hvo; historical race Z09). Paraphrased from Linux
//! 6.18.2; no kernel code is reproduced.
//!
//! Self-contained: one HugeTLB folio of `nr` struct pages (pfn 0 is the head), whose struct pages
//! live in `nr / STRUCT_PAGES_PER_VMEMMAP_PAGE` vmemmap pages. The vmemmap is mapped by kernel
//! page tables (`init_mm`): one PMD per [`PTRS_PER_PTE`] vmemmap pages, each initially a leaf
//! over a physically contiguous block, which HVO splits into a kernel PTE table. Every struct
//! page access by a CPU goes through that mapping ([`Hvo::access`]): a lockless MMU walk
//! (PMD, then PTE, with address dependencies), so a write through a read-only PTE is detected
//! at the moment it is attempted (I18), a walk that meets an empty PTE is a kernel oops (I22),
//! and a read of a struct page that was never written (poison) is lost content (I23).
//!
//! # Encodings
//!
//! | word | 0 | bit 0 set | bit 1 set |
//! |---|---|---|---|
//! | vmemmap PMD | none | leaf over physical block `v >> 2` | table `v >> 2` |
//! | vmemmap PTE | none | present, physical vmemmap page `v >> 2` | read-only (with bit 0) |
//!
//! Physical vmemmap pages `0..nr_vmemmap` hold the folio's struct pages at the start; the rest
//! are free pages the allocator hands out (copies of the head page, restore pages), filled with
//! the poison pattern `page_init_poison` writes (`PAGE_POISON_PATTERN`, all ones).
//!
//! # What is coarser than the kernel
//!
//! * One folio. Of the batch form (`__hugetlb_vmemmap_optimize_folios`) only its first pass,
//!   `vmemmap_remap_split`, is modelled, as a neighbouring folio's pre-split of the shared
//!   vmemmap PMD; `VMEMMAP_REMAP_NO_TLB_FLUSH` and the one-RCU-sync-per-batch are not.
//! * Struct page numbers are tiny: 2 struct pages per vmemmap page, 2 PTEs per vmemmap PMD, so
//!   a 4-page folio has one vmemmap PMD and an 8-page one (the gigantic-page case, where a
//!   failed split leaves PTEs to roll back) has two.
//! * The TLB is not simulated: a stale translation is a recorded debt ([`Hvo::tlb_owed`]) that
//!   `flush_tlb_kernel_range` pays; freeing a page a stale translation may still reach is I25.
//!   A CPU reads through the page tables on every access (no TLB hit), and a flush waits for
//!   every access in flight ([`Hvo::access`]).
//! * Memory-hotplug self-hosted vmemmap (`-ENOTSUPP`) and `PageReserved` bootmem pages are left
//!   out; `split_page` is a trace event.
//! * A struct page has three fields (flags, `_refcount`, `compound_head`); `reset_struct_pages`
//!   resets one struct page (the head-looking first slot of a copied page) instead of four.
//! * `static_branch_inc/dec` (text patching, serializing on every CPU) is a fully ordered RMW
//!   and its readers use an acquire load: weaker than the kernel, where no CPU runs the old
//!   code once the patch is done. Only counterexamples notice: with rule `hvo-synchronize-rcu`
//!   off, loom may show the walker reading the key as off after the whole optimize; shuttle
//!   finds the same race in a sequentially consistent order.
//! * `hugetlb_vmemmap_restore_folio`'s `synchronize_rcu` is kept but not a switch: in the
//!   model a getter racing with a restore reads a frozen (0) count or a fake head either way.

use crate::invariants::Inv;
use crate::kernel::rule_on;
use crate::kernel::{
    atomic_long_t, atomic_t, local_irq_save, rcu_read_lock, rw_semaphore, smp_wmb, spinlock_t,
    synchronize_rcu, tlb_remove_table_sync_one, AtomicFlag, LockClass, RcuState,
};
use crate::rules::Rule;
use crate::{trace, vm_bug_on};

/// Struct pages per vmemmap page (the kernel has 64; two keep the model small and still give
/// aligned fake heads and a `page[1]` that sits in the same page).
pub const STRUCT_PAGES_PER_VMEMMAP_PAGE: usize = 2;
/// Vmemmap PTEs per vmemmap PMD (the kernel has 512).
pub const PTRS_PER_PTE: usize = 2;
/// `HUGETLB_VMEMMAP_RESERVE_SIZE`: the first vmemmap page (head and first tails) stays.
pub const HUGETLB_VMEMMAP_RESERVE_PAGES: usize = 1;

/// Page flag bits of a vmemmap struct page.
pub const PG_HEAD: u32 = 2;
/// The HugeTLB flag `HPG_vmemmap_optimized` (kept in the head struct page).
pub const HPG_VMEMMAP_OPTIMIZED: u32 = 8;
/// `PAGE_POISON_PATTERN`: what `page_init_poison` fills a struct page with.
pub const PAGE_POISON_PATTERN: i64 = -1;

static_assertions::const_assert!(STRUCT_PAGES_PER_VMEMMAP_PAGE >= 2);
static_assertions::const_assert!(PTRS_PER_PTE.is_power_of_two());

/// Lock classes of `init_mm`.
pub const INIT_MM_MMAP_LOCK: LockClass = LockClass::new("init_mm.mmap_lock");
pub const INIT_MM_PAGE_TABLE_LOCK: LockClass = LockClass::new("init_mm.page_table_lock");

const PTE_PRESENT: i64 = 1;
const PTE_RDONLY: i64 = 2;

/// A decoded vmemmap PMD.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VPmd {
    None,
    /// A leaf over physical vmemmap pages `base..base + PTRS_PER_PTE`.
    Leaf(usize),
    /// A kernel PTE table.
    Table(usize),
}

impl VPmd {
    pub fn encode(self) -> i64 {
        match self {
            VPmd::None => 0,
            VPmd::Leaf(b) => ((b as i64) << 2) | 1,
            VPmd::Table(t) => ((t as i64) << 2) | 2,
        }
    }
    pub fn decode(v: i64) -> VPmd {
        match v & 3 {
            0 => VPmd::None,
            1 => VPmd::Leaf((v >> 2) as usize),
            2 => VPmd::Table((v >> 2) as usize),
            _ => crate::model_bug!("bad vmemmap pmd {v:#x}"),
        }
    }
}

/// A decoded vmemmap PTE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VPte {
    None,
    /// `mk_pte(page, PAGE_KERNEL)` or, with `ro`, `PAGE_KERNEL_RO`.
    Present {
        phys: usize,
        ro: bool,
    },
}

impl VPte {
    pub fn encode(self) -> i64 {
        match self {
            VPte::None => 0,
            VPte::Present { phys, ro } => {
                ((phys as i64) << 2) | PTE_PRESENT | if ro { PTE_RDONLY } else { 0 }
            }
        }
    }
    pub fn decode(v: i64) -> VPte {
        if v & PTE_PRESENT == 0 {
            VPte::None
        } else {
            VPte::Present {
                phys: (v >> 2) as usize,
                ro: v & PTE_RDONLY != 0,
            }
        }
    }
}

/// One struct page as it sits in a physical vmemmap page.
pub struct VStructPage {
    pub flags: atomic_long_t,
    pub _refcount: atomic_t,
    pub compound_head: atomic_long_t,
}

/// One physical vmemmap page: its struct pages, and whether it is allocated (the allocator
/// takes it with an acquire and frees it with a release, [`AtomicFlag`]).
pub struct VmemmapPage {
    pub sp: Vec<VStructPage>,
    pub allocated: AtomicFlag,
}

/// A kernel PTE table for the vmemmap; `allocated` as for [`VmemmapPage`].
pub struct KernelPteTable {
    pub ptes: Vec<atomic_long_t>,
    pub allocated: AtomicFlag,
}

/// Which allocation fails (fault injection).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocFail {
    /// Every allocation succeeds.
    None,
    /// The `n`-th allocation (0-based, counted from the start of the execution) fails.
    Nth(usize),
}

/// Errors of the vmemmap walks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HvoError {
    /// `-ENOMEM`.
    NoMem,
}

/// The HVO state: the folio's vmemmap, `init_mm`'s vmemmap page tables, the static key, RCU.
pub struct Hvo {
    /// Struct pages of the folio (pfn 0 is the head).
    pub nr: usize,
    /// Physical vmemmap pages (the folio's first, then the free pool).
    pub phys: Vec<VmemmapPage>,
    /// Kernel PTE tables the splits may allocate (two per vmemmap PMD: two CPUs may race to
    /// split one PMD, each with its own table).
    pub tables: Vec<KernelPteTable>,
    /// The vmemmap PMDs covering the folio.
    pub pmds: Vec<atomic_long_t>,
    /// `init_mm.mmap_lock` (the kernel page-table walk holds it for read).
    pub init_mm_mmap_lock: rw_semaphore,
    /// `init_mm.page_table_lock`.
    pub page_table_lock: spinlock_t,
    /// `hugetlb_optimize_vmemmap_key`.
    pub key: atomic_t,
    pub rcu: RcuState,
    /// Which allocation fails (fault injection; fixed per execution).
    fail: AllocFail,
    /// Model-only: allocations so far (vmemmap pages and PTE tables), counted with a relaxed
    /// RMW, which orders nothing (the kernel's allocations of distinct pages are unordered).
    nr_allocs: atomic_t,
    /// Model-only: the next never-used spare physical vmemmap page (a fresh page holds
    /// poison, so lost copies show), taken with a relaxed RMW.
    next_spare: atomic_t,
    /// Model-only: stale translations a TLB may still hold, as bits: bit `p % 64` of word
    /// `v * tlb_words + p / 64` set = vmemmap page `v` may still translate to physical page `p`.
    /// Set by `set_pte_at`, cleared by `flush_tlb_kernel_range` (both by the remapping CPU),
    /// read by `free_vmemmap_page`'s I25 check ([`Hvo::tlb_owed`]).
    tlb_debt: Vec<atomic_long_t>,
    /// Words per vmemmap page in `tlb_debt`.
    tlb_words: usize,
}

/// The walk state (`struct vmemmap_remap_walk`).
struct RemapWalk<'a> {
    restore: bool,
    nr_walked: usize,
    reuse_page: Option<usize>,
    reuse_addr: usize,
    vmemmap_pages: &'a mut Vec<usize>,
}

impl Hvo {
    /// A frozen HugeTLB folio of `nr` struct pages (`alloc_fresh_hugetlb_folio`: every
    /// refcount 0, tails linked to the head), its vmemmap mapped by leaf PMDs (or, with
    /// `presplit`, already split into PTE tables, as `hugetlb_vmemmap_split_folio` leaves them in
    /// the batch form, or an earlier HVO of a neighbour), `spare` free physical vmemmap pages and
    /// one kernel PTE table per PMD.
    pub fn new(nr: usize, spare: usize, fail: AllocFail, presplit: bool) -> Hvo {
        let sp = STRUCT_PAGES_PER_VMEMMAP_PAGE;
        assert!(
            nr.is_multiple_of(sp * PTRS_PER_PTE) && nr >= 2 * sp,
            "[model bug] HVO folio of {nr} struct pages"
        );
        let nv = nr / sp;
        let page = |content: &dyn Fn(usize) -> (i64, i32, i64), allocated| VmemmapPage {
            sp: (0..sp)
                .map(|i| {
                    let (f, r, c) = content(i);
                    VStructPage {
                        flags: atomic_long_t::new(f),
                        _refcount: atomic_t::new(r),
                        compound_head: atomic_long_t::new(c),
                    }
                })
                .collect(),
            allocated: AtomicFlag::new(allocated),
        };
        let mut phys = Vec::new();
        for v in 0..nv {
            phys.push(page(
                &|i| {
                    let pfn = v * sp + i;
                    if pfn == 0 {
                        (1 << PG_HEAD, 0, 0)
                    } else {
                        (0, 0, 1) // tail of pfn 0: compound_head = head | 1
                    }
                },
                true,
            ));
        }
        for _ in 0..spare {
            phys.push(page(
                &|_| {
                    (
                        PAGE_POISON_PATTERN,
                        PAGE_POISON_PATTERN as i32,
                        PAGE_POISON_PATTERN,
                    )
                },
                false,
            ));
        }
        let npmd = nv / PTRS_PER_PTE;
        let tlb_words = phys.len().div_ceil(64);
        Hvo {
            nr,
            phys,
            tables: (0..2 * npmd)
                .map(|k| KernelPteTable {
                    ptes: (0..PTRS_PER_PTE)
                        .map(|i| {
                            let pte = VPte::Present {
                                phys: k * PTRS_PER_PTE + i,
                                ro: false,
                            };
                            atomic_long_t::new(if presplit { pte.encode() } else { 0 })
                        })
                        .collect(),
                    allocated: AtomicFlag::new(presplit && k < npmd),
                })
                .collect(),
            pmds: (0..npmd)
                .map(|k| {
                    atomic_long_t::new(if presplit {
                        VPmd::Table(k).encode()
                    } else {
                        VPmd::Leaf(k * PTRS_PER_PTE).encode()
                    })
                })
                .collect(),
            init_mm_mmap_lock: rw_semaphore::new(INIT_MM_MMAP_LOCK),
            page_table_lock: spinlock_t::new(INIT_MM_PAGE_TABLE_LOCK),
            key: atomic_t::new(0),
            rcu: RcuState::new(),
            fail,
            nr_allocs: atomic_t::new(0),
            next_spare: atomic_t::new(nv as i32),
            tlb_debt: (0..nv * tlb_words).map(|_| atomic_long_t::new(0)).collect(),
            tlb_words,
        }
    }

    /// Vmemmap pages of the folio.
    pub fn nr_vmemmap(&self) -> usize {
        self.nr / STRUCT_PAGES_PER_VMEMMAP_PAGE
    }

    /// Allocations made so far (model-only; at a quiescent point).
    pub fn nr_allocs(&self) -> usize {
        self.nr_allocs.read() as usize
    }

    /// Stale translations a TLB may still hold: (vmemmap page, physical page), in order (each
    /// word read once, relaxed).
    pub fn tlb_owed(&self) -> Vec<(usize, usize)> {
        let mut owed = Vec::new();
        for (i, w) in self.tlb_debt.iter().enumerate() {
            let bits = w.read();
            for b in 0..64 {
                if bits & (1i64 << b) != 0 {
                    owed.push((i / self.tlb_words, (i % self.tlb_words) * 64 + b));
                }
            }
        }
        owed
    }

    /// Record that vmemmap page `v` may still be translated to physical page `p`.
    fn tlb_owe(&self, v: usize, p: usize) {
        self.tlb_debt[v * self.tlb_words + p / 64].__set_bit((p % 64) as u32); // model bookkeeping, no kernel barrier
    }

    /// One allocation point: true if it fails (fault injection).
    fn alloc_fails(&self, what: &str) -> bool {
        let n = (self.nr_allocs.add_return_relaxed(1) - 1) as usize;
        let fail = self.fail == AllocFail::Nth(n);
        trace!(
            "alloc",
            "{what} (allocation #{n}){}",
            if fail { ": injected -ENOMEM" } else { "" }
        );
        fail
    }

    /// `alloc_pages_node(.., 0)` for a vmemmap page; None on (injected) failure.
    fn alloc_vmemmap_page(&self, what: &str) -> Option<usize> {
        if self.alloc_fails(what) {
            return None;
        }
        let p = (self.next_spare.add_return_relaxed(1) - 1) as usize;
        if p >= self.phys.len() {
            crate::model_bug!("no never-used physical vmemmap page left");
        }
        if !self.phys[p].allocated.test_and_set_acquire() {
            crate::model_bug!("never-used vmemmap page {p} is allocated");
        }
        Some(p)
    }

    /// `free_vmemmap_page`: I25 if a stale translation may still reach it; then back to the
    /// allocator (I8 on a double free).
    fn free_vmemmap_page(&self, p: usize) {
        if let Some((v, _)) = self.tlb_owed().iter().find(|(_, q)| *q == p) {
            panic!(
                "[{}] freeing vmemmap page {p} while vmemmap page {v} may still be translated to it (TLB flush owed)",
                Inv::I25TlbFlushOwed.tag()
            );
        }
        let was = self.phys[p].allocated.test_and_clear_release();
        vm_bug_on!(!was, Inv::I8UseAfterFree, "double free of vmemmap page {p}");
        trace!("free_vmemmap_page", "physical vmemmap page {p}");
    }

    /// The MMU: translate vmemmap page `v` (lockless walk with address dependencies, hence
    /// `read_dep`). An empty PTE is a kernel oops (I22).
    pub fn translate(&self, v: usize) -> (usize, bool) {
        let pmd = VPmd::decode(self.pmds[v / PTRS_PER_PTE].read_dep());
        match pmd {
            VPmd::Leaf(base) => (base + v % PTRS_PER_PTE, false),
            VPmd::Table(t) => match VPte::decode(self.tables[t].ptes[v % PTRS_PER_PTE].read_dep()) {
                VPte::Present { phys, ro } => (phys, ro),
                VPte::None => panic!(
                    "[{}] vmemmap page {v}: the PMD points to table {t} but its PTE is empty (a struct page access faults)",
                    Inv::I22VmemmapUnmapped.tag()
                ),
            },
            VPmd::None => panic!(
                "[{}] vmemmap page {v}: PMD is none",
                Inv::I22VmemmapUnmapped.tag()
            ),
        }
    }

    /// One access by a CPU to the struct page of `pfn` through the vmemmap: `f` runs on the
    /// struct page the MMU reaches; returns its result and the physical vmemmap page. `write`
    /// names a writer (or a locked RMW, which writes even when its compare fails): I18 if the
    /// mapping is read-only. The access is an in-flight translation: a kernel TLB flush waits
    /// for it (modelled as an IRQs-off section, [`flush_tlb_kernel_range`]), so after a flush
    /// no CPU still uses the old translation, and reaching a freed vmemmap page is I8.
    pub fn access<R>(
        &self,
        pfn: usize,
        write: Option<&str>,
        f: impl FnOnce(&VStructPage) -> R,
    ) -> (R, usize) {
        let sp = STRUCT_PAGES_PER_VMEMMAP_PAGE;
        let irq = local_irq_save(&self.rcu);
        let (p, ro) = self.translate(pfn / sp);
        if let (Some(who), true) = (write, ro) {
            panic!(
                "[{}] {who}: write to the struct page of pfn {pfn} through a read-only vmemmap mapping",
                Inv::I18WriteToReadOnlyVmemmap.tag()
            );
        }
        vm_bug_on!(
            !self.phys[p].allocated.read(),
            Inv::I8UseAfterFree,
            "pfn {pfn}: struct page access reaches freed vmemmap page {p}"
        );
        let r = f(&self.phys[p].sp[pfn % sp]);
        drop(irq);
        (r, p)
    }

    /// `PF_POISONED_CHECK`: a struct page read as the poison pattern was never initialized
    /// (its contents were lost by a remap).
    fn check_not_poisoned(&self, pfn: usize, flags: i64, who: &str) {
        if flags == PAGE_POISON_PATTERN {
            panic!(
                "[{}] {who}: the struct page of pfn {pfn} reads as poison: its contents were lost in a remap",
                Inv::I23StructPageContent.tag()
            );
        }
    }

    /// `static_branch_unlikely(&hugetlb_optimize_vmemmap_key)`.
    fn key_enabled(&self) -> bool {
        self.key.read_acquire() > 0
    }

    /// Is the folio's `HPG_vmemmap_optimized` set?
    pub fn folio_test_hugetlb_vmemmap_optimized(&self) -> bool {
        self.access(0, None, |s| s.flags.test_bit(HPG_VMEMMAP_OPTIMIZED))
            .0
    }

    /// `folio_ref_count(folio)`.
    pub fn folio_ref_count(&self) -> i32 {
        self.access(0, None, |s| s._refcount.read()).0
    }

    /// `folio_ref_unfreeze(folio, count)` (e.g. when the folio leaves the free pool):
    /// release store to the head's `_refcount`.
    pub fn folio_ref_unfreeze(&self, count: i32) {
        self.access(0, Some("folio_ref_unfreeze"), |s| {
            s._refcount.set_release(count);
            // Logged with the store, before the access ends (a scheduling point), so the trace
            // shows it before whatever another CPU does with the new count.
            trace!("folio_ref_unfreeze", "hugetlb folio 0 -> {count}");
        });
    }

    /// `folio_ref_freeze(folio, count)`: one cmpxchg on the head.
    pub fn folio_ref_freeze(&self, count: i32) -> bool {
        let (ok, _) = self.access(0, Some("folio_ref_freeze"), |s| {
            s._refcount.cmpxchg(count, 0) == count
        });
        trace!("folio_ref_freeze", "hugetlb folio 0 {count} -> 0: {ok}");
        ok
    }

    /// `folio_put` by a holder (the last reference is not dropped in the model's scenarios).
    pub fn folio_put_ref(&self, pfn: usize) {
        let (v, _) = self.access(pfn, Some("put_page"), |s| s._refcount.sub_return(1));
        vm_bug_on!(v < 0, Inv::I8UseAfterFree, "pfn {pfn} refcount underflow");
    }
}

// ---------------------------------------------------------------------------------------------
// Speculative users (include/linux/page-flags.h, include/linux/page_ref.h).

/// `page_fixed_fake_head(page)`: with HVO on, an aligned struct page with PG_head whose
/// `page[1]` has a tail link is a fake head (an alias of the real head in the reuse page);
/// returns the real head's pfn, else `pfn`.
pub fn page_fixed_fake_head(hv: &Hvo, pfn: usize) -> usize {
    if !hv.key_enabled() {
        return pfn;
    }
    if pfn.is_multiple_of(STRUCT_PAGES_PER_VMEMMAP_PAGE) {
        let (flags, _) = hv.access(pfn, None, |s| s.flags.read());
        hv.check_not_poisoned(pfn, flags, "page_fixed_fake_head");
        if flags & (1 << PG_HEAD) != 0 {
            // page[1] is in the same vmemmap page: the folio has at least two pages.
            let (head, _) = hv.access(pfn + 1, None, |s| s.compound_head.read());
            if head & 1 != 0 {
                return (head >> 1) as usize;
            }
        }
    }
    pfn
}

/// Why `page_count_writable` said no.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotWritable {
    /// The refcount read `u`.
    Count,
    /// A fake head (an alias of the head in the reuse page).
    FakeHead,
}

/// `page_count_writable(page, u)`: may a speculative `atomic_add_unless` touch this struct
/// page? The refcount is read (acquire) before the fake-head check (rule
/// `page-count-writable-refcount-first`; the defect checks the fake head first). `count_phys`
/// gets the physical vmemmap page the refcount was read from.
pub fn page_count_writable_why(
    hv: &Hvo,
    pfn: usize,
    u: i32,
    count_phys: &mut Option<usize>,
) -> Result<(), NotWritable> {
    if !hv.key_enabled() {
        trace!(
            "page_count_writable",
            "pfn {pfn}: static key off -> writable"
        );
        return Ok(());
    }
    let count_first = rule_on(Rule::PageCountWritableRefcountFirst);
    let mut count_is_u = || {
        let (c, p) = hv.access(pfn, None, |s| s._refcount.read_acquire());
        *count_phys = Some(p);
        trace!(
            "page_count_writable",
            "pfn {pfn}: _refcount {c} (physical page {p})"
        );
        c == u
    };
    if count_first && count_is_u() {
        return Err(NotWritable::Count);
    }
    let fake = page_fixed_fake_head(hv, pfn) != pfn;
    trace!("page_count_writable", "pfn {pfn}: fake head {fake}");
    if fake {
        return Err(NotWritable::FakeHead);
    }
    if !count_first && count_is_u() {
        return Err(NotWritable::Count);
    }
    Ok(())
}

/// `page_count_writable(page, u)`.
pub fn page_count_writable(hv: &Hvo, pfn: usize, u: i32) -> bool {
    page_count_writable_why(hv, pfn, u, &mut None).is_ok()
}

/// What a speculative `get_page_unless_zero` saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpecGet {
    /// The static key was off: it went straight to `atomic_add_unless`, which read 0.
    KeyOffReadZero,
    /// `page_count_writable` said no.
    NotWritable(NotWritable),
    /// It took a reference (dropped again by the walker).
    Got,
}

/// The walker's result and the physical vmemmap page its first refcount read went to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpecGetResult {
    pub what: SpecGet,
    pub count_phys: Option<usize>,
}

/// A speculative PFN walker: `get_page_unless_zero(pfn_to_page(pfn))` (=
/// `page_ref_add_unless(page, 1, 0)`: `rcu_read_lock`, `page_count_writable`,
/// `atomic_add_unless`, `rcu_read_unlock`), then `put_page` if it got one.
pub fn get_page_unless_zero(hv: &Hvo, pfn: usize) -> SpecGetResult {
    let guard = rcu_read_lock(&hv.rcu);
    let mut count_phys = None;
    let what = match page_count_writable_why(hv, pfn, 0, &mut count_phys) {
        Err(why) => SpecGet::NotWritable(why),
        Ok(()) => {
            // atomic_add_unless: a plain read, then (unless it read u) a locked cmpxchg, which
            // on x86 writes the line even when the compare fails.
            let key_off = count_phys.is_none(); // page_count_writable read no count
            let (c, p) = hv.access(pfn, None, |s| s._refcount.read());
            count_phys.get_or_insert(p);
            hv.check_not_poisoned(pfn, c as i64, "atomic_add_unless");
            if c == 0 {
                trace!("atomic_add_unless", "pfn {pfn}: read 0, no store");
                if key_off {
                    SpecGet::KeyOffReadZero
                } else {
                    SpecGet::NotWritable(NotWritable::Count)
                }
            } else {
                let (got, _) =
                    hv.access(pfn, Some("get_page_unless_zero (atomic_add_unless)"), |s| {
                        s._refcount.add_unless(1, 0)
                    });
                if got {
                    trace!("atomic_add_unless", "pfn {pfn}: {c} -> {}", c + 1);
                    SpecGet::Got
                } else {
                    SpecGet::NotWritable(NotWritable::Count)
                }
            }
        }
    };
    drop(guard);
    if what == SpecGet::Got {
        hv.folio_put_ref(pfn);
    }
    SpecGetResult { what, count_phys }
}

// ---------------------------------------------------------------------------------------------
// The remap walks.

/// `flush_tlb_kernel_range(start, end)` over vmemmap pages `[start, end)`: pays the debt of
/// every stale translation in the range (rule `hvo-tlb-flush`).
pub fn flush_tlb_kernel_range(hv: &Hvo, start: usize, end: usize) {
    // Broadcast TLBI + DSB, or IPIs on x86: completes only once no CPU is in the middle of an
    // access through the old translation (see `Hvo::access`).
    tlb_remove_table_sync_one(&hv.rcu);
    for v in start..end.min(hv.nr_vmemmap()) {
        for w in &hv.tlb_debt[v * hv.tlb_words..(v + 1) * hv.tlb_words] {
            w.set(0);
        }
    }
    trace!("flush_tlb_kernel_range", "vmemmap pages [{start}, {end})");
}

/// `set_pte_at(&init_mm, ..)` on vmemmap page `v`'s PTE in table `t`, recording the old
/// translation as a TLB debt.
fn set_pte_at(hv: &Hvo, t: usize, v: usize, new: VPte) {
    let pte = &hv.tables[t].ptes[v % PTRS_PER_PTE];
    if let VPte::Present { phys, .. } = VPte::decode(pte.read()) {
        hv.tlb_owe(v, phys);
    }
    pte.set(new.encode());
    trace!("set_pte_at", "vmemmap page {v}: {new:?}");
}

/// `copy_page(to, from)`: `from` is read through the vmemmap (vmemmap page `from_v`), `to` is
/// written through the linear map.
fn copy_page(hv: &Hvo, to: usize, from_v: usize) {
    let sp = STRUCT_PAGES_PER_VMEMMAP_PAGE;
    let mut from = 0;
    for (i, d) in hv.phys[to].sp.iter().enumerate() {
        (_, from) = hv.access(from_v * sp + i, None, |s| {
            d.flags.set(s.flags.read());
            d._refcount.set(s._refcount.read());
            d.compound_head.set(s.compound_head.read());
        });
    }
    trace!(
        "copy_page",
        "physical page {from} (vmemmap page {from_v}) -> physical page {to}"
    );
}

/// `reset_struct_pages`: a copy of the head vmemmap page starts with the head's struct page;
/// overwrite it with the next (tail) one, so the restored page holds tails only.
fn reset_struct_pages(hv: &Hvo, page: usize) {
    let p = &hv.phys[page].sp;
    p[0].flags.set(p[1].flags.read());
    p[0]._refcount.set(p[1]._refcount.read());
    p[0].compound_head.set(p[1].compound_head.read());
}

/// How `vmemmap_pmd_entry` left a vmemmap PMD.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PmdSplit {
    /// It was already a table.
    AlreadySplit,
    /// This CPU populated it with its table.
    Populated,
    /// Another CPU split it between the lockless look and the lock: the table was freed.
    LostRace,
}

/// `vmemmap_split_pmd`: build a PTE table mapping the leaf's pages, then under
/// `init_mm.page_table_lock` re-check that the PMD is still a leaf (rule
/// `vmemmap-split-pmd-recheck`), `smp_wmb` (rule `vmemmap-split-pmd-wmb`) and populate; else
/// free the table.
fn vmemmap_split_pmd(hv: &Hvo, k: usize, base: usize, flush: bool) -> Result<PmdSplit, HvoError> {
    // pte_alloc_one_kernel: the table comes zeroed.
    if hv.alloc_fails("pte_alloc_one_kernel") {
        return Err(HvoError::NoMem);
    }
    let t = hv
        .tables
        .iter()
        .position(|t| t.allocated.test_and_set_acquire())
        .unwrap_or_else(|| crate::model_bug!("no free vmemmap PTE table"));
    for i in 0..PTRS_PER_PTE {
        hv.tables[t].ptes[i].set(
            VPte::Present {
                phys: base + i,
                ro: false,
            }
            .encode(),
        );
    }
    let ptl = hv.page_table_lock.lock();
    let still_leaf = matches!(VPmd::decode(hv.pmds[k].read()), VPmd::Leaf(_));
    let r = if still_leaf || !rule_on(Rule::VmemmapSplitPmdRecheck) {
        trace!("split_page", "physical vmemmap block {base}");
        if rule_on(Rule::VmemmapSplitPmdWmb) {
            smp_wmb(); // PTEs visible before the PMD (as pmd_install)
        }
        hv.pmds[k].set(VPmd::Table(t).encode());
        trace!("pmd_populate_kernel", "vmemmap pmd {k} -> table {t}");
        // The old leaf translation maps the same physical pages: nothing is owed, but the
        // kernel flushes (unless the batch form's VMEMMAP_SPLIT_NO_TLB_FLUSH).
        if flush {
            flush_tlb_kernel_range(hv, k * PTRS_PER_PTE, (k + 1) * PTRS_PER_PTE);
        }
        PmdSplit::Populated
    } else {
        hv.tables[t].allocated.test_and_clear_release(); // pte_free_kernel
        trace!(
            "pte_free_kernel",
            "vmemmap pmd {k} was split meanwhile: table {t} freed"
        );
        PmdSplit::LostRace
    };
    drop(ptl);
    Ok(r)
}

/// `vmemmap_pmd_entry`: under `init_mm.page_table_lock`, is the PMD a leaf? Then split it.
fn vmemmap_pmd_entry(hv: &Hvo, k: usize, flush: bool) -> Result<PmdSplit, HvoError> {
    let ptl = hv.page_table_lock.lock();
    let head = match VPmd::decode(hv.pmds[k].read()) {
        VPmd::Leaf(b) => Some(b),
        _ => None,
    };
    drop(ptl);
    match head {
        Some(base) => vmemmap_split_pmd(hv, k, base, flush),
        None => Ok(PmdSplit::AlreadySplit),
    }
}

/// `vmemmap_remap_split` (`hugetlb_vmemmap_split_folio`, the batch form's first pass): split
/// every vmemmap PMD of the range, with `VMEMMAP_SPLIT_NO_TLB_FLUSH`, remapping nothing. Run
/// for a neighbouring folio whose vmemmap shares the PMD, it races with this folio's HVO.
pub fn vmemmap_remap_split(hv: &Hvo) -> Result<Vec<PmdSplit>, HvoError> {
    let lock = hv.init_mm_mmap_lock.down_read();
    let mut r = Vec::new();
    for k in 0..hv.pmds.len() {
        r.push(vmemmap_pmd_entry(hv, k, false)?);
    }
    drop(lock);
    Ok(r)
}

/// `vmemmap_remap_pte`: remap a tail vmemmap page read-only to the reuse page, or the reuse
/// address itself read-write to the fresh copy after an `smp_wmb` (rule `vmemmap-remap-wmb`).
fn vmemmap_remap_pte(hv: &Hvo, t: usize, v: usize, walk: &mut RemapWalk<'_>) {
    let pte = VPte::decode(hv.tables[t].ptes[v % PTRS_PER_PTE].read());
    let VPte::Present { phys: page, .. } = pte else {
        crate::model_bug!("vmemmap_remap_pte on an empty PTE");
    };
    let reuse = walk
        .reuse_page
        .unwrap_or_else(|| crate::model_bug!("no reuse page"));
    let mut ro = true;
    if v == walk.reuse_addr {
        ro = false;
        walk.vmemmap_pages.retain(|p| *p != reuse); // list_del(&reuse_page->lru)
        if rule_on(Rule::VmemmapRemapWmb) {
            smp_wmb(); // the copy's contents before the PTE that maps it
        }
    }
    walk.vmemmap_pages.insert(0, page); // list_add
    set_pte_at(hv, t, v, VPte::Present { phys: reuse, ro });
}

/// `vmemmap_restore_pte`: map a fresh page holding a copy of the reuse page (reset to tails),
/// read-write, after an `smp_wmb` (rule `vmemmap-restore-wmb`).
fn vmemmap_restore_pte(hv: &Hvo, t: usize, v: usize, walk: &mut RemapWalk<'_>) {
    let pte = VPte::decode(hv.tables[t].ptes[v % PTRS_PER_PTE].read());
    let reuse = walk
        .reuse_page
        .unwrap_or_else(|| crate::model_bug!("no reuse page"));
    if !matches!(pte, VPte::Present { phys, .. } if phys == reuse) {
        crate::model_bug!(
            "vmemmap_restore_pte: vmemmap page {v} is {pte:?}, not the reuse page {reuse}"
        );
    }
    if walk.vmemmap_pages.is_empty() {
        crate::model_bug!("vmemmap_restore_pte: the page list is empty");
    }
    let page = walk.vmemmap_pages.remove(0); // list_first_entry + list_del
    copy_page(hv, page, walk.reuse_addr);
    reset_struct_pages(hv, page);
    if rule_on(Rule::VmemmapRestoreWmb) {
        smp_wmb();
    }
    set_pte_at(
        hv,
        t,
        v,
        VPte::Present {
            phys: page,
            ro: false,
        },
    );
}

/// `vmemmap_pte_entry`: the first PTE supplies the reuse page if none was allocated; every
/// other goes to the walk's remap function.
fn vmemmap_pte_entry(hv: &Hvo, t: usize, v: usize, walk: &mut RemapWalk<'_>) {
    if walk.reuse_page.is_none() {
        match VPte::decode(hv.tables[t].ptes[v % PTRS_PER_PTE].read()) {
            VPte::Present { phys, .. } => walk.reuse_page = Some(phys),
            VPte::None => crate::model_bug!("vmemmap_pte_entry: reuse PTE empty"),
        }
    } else if walk.restore {
        vmemmap_restore_pte(hv, t, v, walk);
    } else {
        vmemmap_remap_pte(hv, t, v, walk);
    }
    walk.nr_walked += 1;
}

/// `vmemmap_remap_range(reuse, end, walk)`: `mmap_read_lock(&init_mm)`, walk PMDs (split) and
/// PTEs, unlock; then flush unless the caller batches (rule `hvo-tlb-flush`).
fn vmemmap_remap_range(
    hv: &Hvo,
    start: usize,
    end: usize,
    walk: &mut RemapWalk<'_>,
) -> Result<(), HvoError> {
    let lock = hv.init_mm_mmap_lock.down_read();
    let mut ret = Ok(());
    'pmds: for k in start / PTRS_PER_PTE..end.div_ceil(PTRS_PER_PTE) {
        if let Err(e) = vmemmap_pmd_entry(hv, k, true) {
            ret = Err(e);
            break 'pmds;
        }
        let t = match VPmd::decode(hv.pmds[k].read()) {
            VPmd::Table(t) => t,
            other => crate::model_bug!("vmemmap pmd {k} is {other:?} after the split"),
        };
        for v in (k * PTRS_PER_PTE).max(start)..((k + 1) * PTRS_PER_PTE).min(end) {
            vmemmap_pte_entry(hv, t, v, walk);
        }
    }
    drop(lock);
    ret?;
    // VMEMMAP_REMAP_NO_TLB_FLUSH belongs to the batch form, not modelled: always flush here.
    if rule_on(Rule::HvoTlbFlush) {
        flush_tlb_kernel_range(hv, start, end);
    }
    Ok(())
}

/// `vmemmap_remap_free(start, end, reuse, list)`: copy the head vmemmap page into a fresh page
/// (fallback: reuse it in place), remap; on failure after `nr_walked` entries, walk those again
/// with `vmemmap_restore_pte` (rule `hvo-rollback`).
fn vmemmap_remap_free(
    hv: &Hvo,
    start: usize,
    end: usize,
    reuse: usize,
    list: &mut Vec<usize>,
) -> Result<(), HvoError> {
    let mut walk = RemapWalk {
        restore: false,
        nr_walked: 0,
        reuse_page: None,
        reuse_addr: reuse,
        vmemmap_pages: list,
    };
    if let Some(p) = hv.alloc_vmemmap_page("alloc_pages_node (new head vmemmap page)") {
        copy_page(hv, p, reuse);
        walk.reuse_page = Some(p);
        walk.vmemmap_pages.insert(0, p);
    }
    if start != reuse + 1 {
        crate::model_bug!("the reuse page must directly precede the range");
    }
    let ret = vmemmap_remap_range(hv, reuse, end, &mut walk);
    if ret.is_err() && walk.nr_walked > 0 {
        let end = reuse + walk.nr_walked;
        trace!(
            "vmemmap_remap_free",
            "-ENOMEM after {} PTEs: roll back [{reuse}, {end})",
            walk.nr_walked
        );
        if rule_on(Rule::HvoRollback) {
            let mut back = RemapWalk {
                restore: true,
                nr_walked: 0,
                reuse_page: None,
                reuse_addr: reuse,
                vmemmap_pages: walk.vmemmap_pages,
            };
            // Cannot fail: the tables exist and the pages come from the list.
            let _ = vmemmap_remap_range(hv, reuse, end, &mut back);
        }
    }
    ret
}

/// `alloc_vmemmap_page_list`: one page per vmemmap page to restore; on failure free what was
/// taken.
fn alloc_vmemmap_page_list(hv: &Hvo, n: usize, list: &mut Vec<usize>) -> Result<(), HvoError> {
    for _ in 0..n {
        match hv.alloc_vmemmap_page("alloc_pages_node (restore)") {
            Some(p) => list.insert(0, p),
            None => {
                for p in list.drain(..) {
                    hv.free_vmemmap_page(p);
                }
                return Err(HvoError::NoMem);
            }
        }
    }
    Ok(())
}

/// `free_vmemmap_page_list`.
fn free_vmemmap_page_list(hv: &Hvo, list: &mut Vec<usize>) {
    for p in list.drain(..) {
        hv.free_vmemmap_page(p);
    }
}

/// The folio's vmemmap range: (reuse, start, end) in vmemmap pages.
fn range(hv: &Hvo) -> (usize, usize, usize) {
    (0, HUGETLB_VMEMMAP_RESERVE_PAGES, hv.nr_vmemmap())
}

/// `__hugetlb_vmemmap_optimize_folio` with `VMEMMAP_SYNCHRONIZE_RCU`: refcount frozen,
/// `static_branch_inc`, `synchronize_rcu` (rule `hvo-synchronize-rcu`), set the optimized flag,
/// `vmemmap_remap_free`; on error `static_branch_dec` and clear the flag.
pub fn __hugetlb_vmemmap_optimize_folio(hv: &Hvo, list: &mut Vec<usize>) -> Result<(), HvoError> {
    let c = hv.folio_ref_count();
    vm_bug_on!(
        c != 0,
        Inv::I6RefOnFrozen,
        "HVO of a folio with refcount {c}"
    );
    if hv.folio_test_hugetlb_vmemmap_optimized() {
        return Ok(());
    }
    hv.key.inc_return(); // static_branch_inc
    trace!("static_branch_inc", "hugetlb_optimize_vmemmap_key");
    if rule_on(Rule::HvoSynchronizeRcu) {
        synchronize_rcu(&hv.rcu);
        trace!("synchronize_rcu", "speculative walkers drained");
    }
    // Set before the copy, so the new head page carries it ("Very Subtle").
    hv.access(0, Some("folio_set_hugetlb_vmemmap_optimized"), |s| {
        s.flags.set_bit(HPG_VMEMMAP_OPTIMIZED)
    });
    let (reuse, start, end) = range(hv);
    let r = vmemmap_remap_free(hv, start, end, reuse, list);
    if r.is_err() {
        hv.key.dec_return(); // static_branch_dec
        hv.access(0, Some("folio_clear_hugetlb_vmemmap_optimized"), |s| {
            s.flags.clear_bit(HPG_VMEMMAP_OPTIMIZED)
        });
        trace!("__hugetlb_vmemmap_optimize_folio", "failed: {r:?}");
    }
    r
}

/// `hugetlb_vmemmap_optimize_folio`: optimize, then free the vmemmap pages collected.
pub fn hugetlb_vmemmap_optimize_folio(hv: &Hvo) -> Result<(), HvoError> {
    let mut list = Vec::new();
    let r = __hugetlb_vmemmap_optimize_folio(hv, &mut list);
    free_vmemmap_page_list(hv, &mut list);
    r
}

/// `vmemmap_remap_alloc`: allocate the pages, then walk with `vmemmap_restore_pte`.
fn vmemmap_remap_alloc(hv: &Hvo, start: usize, end: usize, reuse: usize) -> Result<(), HvoError> {
    let mut list = Vec::new();
    alloc_vmemmap_page_list(hv, end - start, &mut list)?;
    let mut walk = RemapWalk {
        restore: true,
        nr_walked: 0,
        reuse_page: None,
        reuse_addr: reuse,
        vmemmap_pages: &mut list,
    };
    vmemmap_remap_range(hv, reuse, end, &mut walk)
}

/// `hugetlb_vmemmap_restore_folio` (`__hugetlb_vmemmap_restore_folio` with
/// `VMEMMAP_SYNCHRONIZE_RCU`): refcount 0; `synchronize_rcu`; `vmemmap_remap_alloc`; on success
/// clear the flag and `static_branch_dec`. `-ENOMEM` leaves the folio optimized.
pub fn hugetlb_vmemmap_restore_folio(hv: &Hvo) -> Result<(), HvoError> {
    let c = hv.folio_ref_count();
    vm_bug_on!(
        c != 0,
        Inv::I6RefOnFrozen,
        "HVO restore of a folio with refcount {c}"
    );
    if !hv.folio_test_hugetlb_vmemmap_optimized() {
        return Ok(());
    }
    synchronize_rcu(&hv.rcu);
    let (reuse, start, end) = range(hv);
    vmemmap_remap_alloc(hv, start, end, reuse)?;
    hv.access(0, Some("folio_clear_hugetlb_vmemmap_optimized"), |s| {
        s.flags.clear_bit(HPG_VMEMMAP_OPTIMIZED)
    });
    hv.key.dec_return(); // static_branch_dec
    trace!("hugetlb_vmemmap_restore_folio", "restored");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Oracles.

/// The whole-folio view every struct page must keep across optimize / restore (I23): nothing
/// reads as poison, through `compound_head()` (with the fake-head fix) every pfn belongs to the
/// head, the head's refcount is `head_refcount` and every real tail's is 0.
pub fn check_folio_view(hv: &Hvo, head_refcount: i32) {
    for pfn in 0..hv.nr {
        let ((flags, ch, refs), _) = hv.access(pfn, None, |s| {
            (s.flags.read(), s.compound_head.read(), s._refcount.read())
        });
        hv.check_not_poisoned(pfn, flags, "check_folio_view");
        if pfn == 0 {
            vm_bug_on!(
                ch != 0 || flags & (1 << PG_HEAD) == 0 || refs != head_refcount,
                Inv::I23StructPageContent,
                "head: compound_head {ch:#x} flags {flags:#x} refcount {refs} (expected {head_refcount})"
            );
        } else if ch & 1 != 0 {
            vm_bug_on!(
                ch >> 1 != 0 || refs != 0,
                Inv::I23StructPageContent,
                "tail pfn {pfn}: compound_head {ch:#x} refcount {refs}"
            );
        } else {
            let head = page_fixed_fake_head(hv, pfn);
            vm_bug_on!(
                head != 0,
                Inv::I23StructPageContent,
                "pfn {pfn} reads as a head (flags {flags:#x}) but is no fake head of the folio: compound_head() gives {head}"
            );
        }
    }
    let opt = hv.folio_test_hugetlb_vmemmap_optimized();
    vm_bug_on!(
        opt != (hv.key.read() > 0),
        Inv::I24HvoRollback,
        "optimized flag {opt} but static key {}",
        hv.key.read()
    );
}

/// The mapping state after optimize/restore: optimized ⇒ every tail vmemmap page maps the
/// reuse page read-only; not optimized ⇒ every vmemmap page maps its own page read-write (I24:
/// a failed optimize must leave the mapping exactly as before). Also: no TLB debt left (I25).
pub fn check_mapping(hv: &Hvo) {
    let (reuse_phys, reuse_ro) = hv.translate(0);
    vm_bug_on!(
        reuse_ro,
        Inv::I24HvoRollback,
        "the reuse vmemmap page is read-only"
    );
    let opt = hv.folio_test_hugetlb_vmemmap_optimized();
    let mut seen = vec![reuse_phys];
    for v in 1..hv.nr_vmemmap() {
        let (p, ro) = hv.translate(v);
        if opt {
            vm_bug_on!(
                p != reuse_phys || !ro,
                Inv::I24HvoRollback,
                "optimized folio: vmemmap page {v} maps physical page {p} (ro {ro}), not the reuse page {reuse_phys} read-only"
            );
        } else {
            vm_bug_on!(
                ro || seen.contains(&p),
                Inv::I24HvoRollback,
                "folio not optimized: vmemmap page {v} maps physical page {p} (ro {ro}), shared or read-only"
            );
            seen.push(p);
        }
        vm_bug_on!(
            !hv.phys[p].allocated.read(),
            Inv::I8UseAfterFree,
            "vmemmap page {v} maps freed physical page {p}"
        );
    }
    let owed = hv.tlb_owed();
    vm_bug_on!(
        !owed.is_empty(),
        Inv::I25TlbFlushOwed,
        "TLB flushes still owed at the end: {owed:?}"
    );
}
