//! Sequential unit tests with exact counts: huge fault, split_huge_pmd, walkers (N = 2, 4).

use thp_model::mm::gup::{follow_pmd_mask, Follow};
use thp_model::mm::huge_memory::{__split_huge_pmd, do_huge_pmd_anonymous_page, FaultResult};
use thp_model::mm::page::ENTIRELY_MAPPED;
use thp_model::mm::page_ref::folio_put;
use thp_model::mm::{check_quiescent, Machine, Pmd, Pte};

#[test]
fn huge_fault_then_split_exact_counts() {
    for nr in [2usize, 4] {
        {
            // A second fault on the populated PMD backs off with no side effect.
            let m2 = Machine::new(nr, 2, 1, 2);
            let _r2 = m2.mms[0].mmap_lock.down_read();
            assert_eq!(do_huge_pmd_anonymous_page(&m2, 0, 0), FaultResult::Done);
            assert_eq!(do_huge_pmd_anonymous_page(&m2, 0, 1), FaultResult::Refault);
            assert!(!m2.memmap.is_allocated(nr));
        }
        let m = Machine::new(nr, 1, 1, 1);
        let _r = m.mms[0].mmap_lock.down_read();
        assert_eq!(do_huge_pmd_anonymous_page(&m, 0, 0), FaultResult::Done);
        let meta = &m.memmap.meta[0];
        assert_eq!(m.memmap.page(0)._refcount.read(), 1);
        assert_eq!(meta._entire_mapcount.read(), 0);
        assert_eq!(meta._large_mapcount.read(), 0);
        assert_eq!(meta._nr_pages_mapped.read(), ENTIRELY_MAPPED);
        assert!(matches!(
            Pmd::decode(m.mms[0].pmd.read()),
            Pmd::Huge { pfn: 0, .. }
        ));
        assert_eq!(m.mms[0].pmd_huge_pte.read(), 1);
        for i in 1..nr {
            assert_eq!(m.memmap.page(i)._refcount.read(), 0, "tail refcount");
            assert_eq!(m.memmap.page_folio(i), 0);
        }
        check_quiescent(&m, &[]);

        assert_eq!(follow_pmd_mask(&m, 0, 1), Follow::HugePage(1));
        assert_eq!(m.memmap.page(0)._refcount.read(), 2);
        folio_put(&m.memmap, 0, nr);

        __split_huge_pmd(&m, 0, false);
        assert_eq!(Pmd::decode(m.mms[0].pmd.read()), Pmd::Table(0));
        assert_eq!(m.mms[0].pmd_huge_pte.read(), 0);
        assert_eq!(m.memmap.page(0)._refcount.read(), nr as i32);
        assert_eq!(meta._entire_mapcount.read(), -1);
        assert_eq!(meta._large_mapcount.read(), nr as i32 - 1);
        assert_eq!(meta._nr_pages_mapped.read(), nr as i32);
        for i in 0..nr {
            assert_eq!(m.memmap.page(i)._mapcount.read(), 0);
            assert!(
                matches!(Pte::decode(m.mms[0].tables[0].ptes[i].read()), Pte::Present { pfn, flags } if pfn == i && flags != 0)
            );
        }
        check_quiescent(&m, &[]);
        // Splitting again finds a table: nothing happens.
        __split_huge_pmd(&m, 0, false);
        check_quiescent(&m, &[]);
        // The walker now takes the PTE path.
        assert_eq!(follow_pmd_mask(&m, 0, nr - 1), Follow::PtePage(nr - 1));
        assert_eq!(m.memmap.page(0)._refcount.read(), nr as i32 + 1);
    }
}
