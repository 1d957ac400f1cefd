//! The fingerprint of the whole model state at the end of an execution (`thpcheck audit`).
//!
//! Two engines that explore the same interleavings must end in the same final states; the audit
//! compares them by this hash. It covers every value a later operation could read or a check
//! could judge: struct pages and folio metadata, the deferred split queue, every mm's PMD,
//! deposit, counters and PTE tables, the anon_vma, which pages and tables are allocated, and
//! the branches the execution recorded (`Machine::observe`). Locks are not hashed: at the end
//! of a holding execution every lock is free (lockdep checks it).
//!
//! The state's owner is hashed when it is dropped, after every CPU was joined, so every read
//! returns the last value written; only when the execution asked for it
//! ([`crate::kernel::audit_enabled`]) and never while unwinding from a failure.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use crate::mm::Machine;

impl Machine {
    /// The fingerprint of the whole state. Call only at a quiescent point.
    pub fn fingerprint(&self) -> u64 {
        let mut h = DefaultHasher::new();
        self.nr.hash(&mut h);
        let mm = &self.memmap;
        for p in &mm.pages {
            (
                p.flags.read(),
                p._refcount.read(),
                p._mapcount.read(),
                p.compound_head.read(),
                p.allocated.read(),
            )
                .hash(&mut h);
        }
        for f in &mm.meta {
            (
                f._large_mapcount.read(),
                f._entire_mapcount.read(),
                f._nr_pages_mapped.read(),
                f._pincount.read(),
            )
                .hash(&mut h);
        }
        for (a, d) in mm.mapping.iter().zip(&mm.deferred) {
            (a.read(), d.read()).hash(&mut h);
        }
        mm.split_queue.quiescent().hash(&mut h);
        for s in &mm.swap {
            s.read().hash(&mut h);
        }
        let si = &self.swap;
        for ((c, t), d) in si.swap_map.iter().zip(&si.table).zip(&si.data) {
            (c.read(), t.read(), d.read()).hash(&mut h);
        }
        for m in &self.mms {
            (
                m.pmd.read(),
                m.pmd_huge_pte.read(),
                m.nr_ptes.read(),
                m.write_protect_seq.read(),
            )
                .hash(&mut h);
            for t in &m.tables {
                hash_table(t.allocated.read(), &t.ptes, &mut h);
            }
        }
        self.anon_vma.refcount.read().hash(&mut h);
        self.observed.events().hash(&mut h);
        h.finish()
    }
}

/// Hash a page table: whether it is allocated, then its entries.
fn hash_table(allocated: bool, entries: &[crate::kernel::atomic_long_t], h: &mut DefaultHasher) {
    allocated.hash(h);
    for e in entries {
        e.read().hash(h);
    }
}

/// Record the state's fingerprint as the execution's final state, when the audit asks for it
/// and the execution is not unwinding from a failure.
fn record_at_drop(fingerprint: impl FnOnce() -> u64) {
    if !std::thread::panicking() && crate::kernel::audit_enabled() {
        crate::kernel::record_final_state(fingerprint());
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        record_at_drop(|| self.fingerprint());
    }
}

impl crate::mm::hugetlb_vmemmap::Hvo {
    /// The fingerprint of the HVO state: every struct page of every physical vmemmap page,
    /// which pages and kernel PTE tables are allocated, the vmemmap PMDs and PTEs, the static
    /// key. Call only at a quiescent point.
    pub fn fingerprint(&self) -> u64 {
        let mut h = DefaultHasher::new();
        self.nr.hash(&mut h);
        for p in &self.phys {
            p.allocated.read().hash(&mut h);
            for sp in &p.sp {
                (
                    sp.flags.read(),
                    sp._refcount.read(),
                    sp.compound_head.read(),
                )
                    .hash(&mut h);
            }
        }
        for t in &self.tables {
            hash_table(t.allocated.read(), &t.ptes, &mut h);
        }
        for p in &self.pmds {
            p.read().hash(&mut h);
        }
        self.key.read().hash(&mut h);
        h.finish()
    }
}

impl Drop for crate::mm::hugetlb_vmemmap::Hvo {
    fn drop(&mut self) {
        record_at_drop(|| self.fingerprint());
    }
}
