//! Models the parts of mm/page_vma_mapped.c (Linux 6.18.2) the protocol depends on:
//! `page_vma_mapped_walk` with PVMW_SYNC on a none PMD. (The walk itself, a lockless PMD read
//! then the PMD or PTE lock, is inlined in its callers in `rmap` and `migrate`.) Paraphrased.

/// `page_vma_mapped_walk` with PVMW_SYNC (`remove_migration_ptes`, and
/// `try_to_migrate` with TTU_SYNC) that read a none PMD for a PMD-sized folio: take and drop
/// the PMD lock, so that the walk cannot return while a `zap_huge_pmd` that cleared the PMD
/// under that lock is still finishing with what it took (its mapcount, or the migration entry
/// it decodes, whose folio must stay locked until then). Rule `pvmw-sync-pmd-lock`.
pub fn page_vma_mapped_walk_sync(m: &crate::mm::Machine, mm: &crate::mm::Mm, nr_pages: usize) {
    if nr_pages >= m.nr && crate::kernel::rule_on(crate::rules::Rule::PvmwSyncPmdLock) {
        drop(mm.pmd_lock.lock());
    }
}
