//! Sequential unit tests with exact counts: huge fault, split_huge_pmd, walkers (N = 2, 4).
//! The model alone, no engine: they live with the model crate.
#![deny(warnings, rust_2018_idioms)]
// Tests build states outside the engines: std types allowed (clippy.toml).
#![allow(clippy::disallowed_types)]

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

mod folio_split {
    use thp_model::mm::compaction::{isolate_migratepages_block, Isolate};
    use thp_model::mm::filemap::{folio_lock, folio_unlock};
    use thp_model::mm::gup::{gup_fast, gup_put_folio, FastPage, Foll};
    use thp_model::mm::huge_memory::{
        __split_huge_pmd, do_huge_pmd_anonymous_page, split_huge_page, SplitError,
    };
    use thp_model::mm::memory_failure::__get_hwpoison_page;
    use thp_model::mm::page::{PG_ANON_EXCLUSIVE, PG_HEAD};
    use thp_model::mm::page_idle::page_idle_get_folio;
    use thp_model::mm::page_ref::{folio_get, folio_put, folio_try_get, get_page_unless_zero};
    use thp_model::mm::{check_quiescent, Machine, Pmd, Pte};

    fn machine(nr: usize, pte_mapped: bool) -> Machine {
        let m = Machine::new(nr, 1, 1, 1);
        {
            let _r = m.mms[0].mmap_lock.down_read();
            do_huge_pmd_anonymous_page(&m, 0, 0);
            if pte_mapped {
                __split_huge_pmd(&m, 0, false);
            }
        }
        m
    }

    /// The caller's side of split_huge_page: reference and lock, split, unlock, put.
    fn split(m: &Machine) -> Result<(), SplitError> {
        folio_get(&m.memmap, 0);
        folio_lock(&m.memmap, 0);
        let r = split_huge_page(m, 0);
        folio_unlock(&m.memmap, 0);
        folio_put(&m.memmap, 0, if r.is_ok() { 1 } else { m.nr });
        r
    }

    fn assert_split_into_small(m: &Machine) {
        let nr = m.nr;
        assert!(matches!(Pmd::decode(m.mms[0].pmd.read()), Pmd::Table(0)));
        for i in 0..nr {
            let p = m.memmap.page(i);
            assert_eq!(p.compound_head.read(), 0, "pfn {i} still a tail");
            assert!(!p.flags.test_bit(PG_HEAD));
            assert_eq!(p._refcount.read(), 1, "pfn {i}: one reference, its PTE");
            assert_eq!(p._mapcount.read(), 0);
            assert!(
                p.flags.test_bit(PG_ANON_EXCLUSIVE),
                "pfn {i} remapped exclusive"
            );
            assert!(
                matches!(Pte::decode(m.mms[0].tables[0].ptes[i].read()), Pte::Present { pfn, .. } if pfn == i)
            );
        }
        check_quiescent(m, &[]);
    }

    #[test]
    fn split_pmd_mapped_folio() {
        for nr in [2, 4] {
            let m = machine(nr, false);
            assert_eq!(split(&m), Ok(()));
            assert_split_into_small(&m);
        }
    }

    /// memory_failure on a tail: the poison mark on the raw page, the split with the lock and
    /// the reference left on that page, every other new folio unlocked and put; a second
    /// report finds the page poisoned already.
    #[test]
    fn memory_failure_on_a_tail_splits_and_keeps_the_mark() {
        use thp_model::mm::filemap::folio_test_locked;
        use thp_model::mm::memory_failure::{memory_failure, MemoryFailure};
        use thp_model::mm::page::PG_HWPOISON;
        for (nr, pte_mapped) in [(2, false), (4, false), (4, true)] {
            let m = machine(nr, pte_mapped);
            let p = nr - 1;
            assert_eq!(memory_failure(&m, p), MemoryFailure::Handled(p));
            for i in 0..nr {
                let pg = m.memmap.page(i);
                assert_eq!(pg.flags.test_bit(PG_HWPOISON), i == p, "pfn {i}");
                assert!(!folio_test_locked(&m.memmap, i), "pfn {i} left locked");
                assert_eq!(pg.compound_head.read(), 0);
                // the mapping's reference, and memory_failure's on p
                assert_eq!(pg._refcount.read(), 1 + (i == p) as i32, "pfn {i}");
            }
            assert_eq!(memory_failure(&m, p), MemoryFailure::AlreadyPoisoned);
            folio_put(&m.memmap, p, 1);
            assert_split_into_small(&m);
        }
    }

    /// memory_failure's own split refused (an extra reference): the reference is dropped, the
    /// folio stays large and mapped, the mark stays.
    #[test]
    fn memory_failure_unsplit_thp_keeps_the_mark() {
        use thp_model::mm::memory_failure::{memory_failure, MemoryFailure};
        use thp_model::mm::page::PG_HWPOISON;
        let m = machine(4, false);
        folio_get(&m.memmap, 0);
        assert_eq!(memory_failure(&m, 2), MemoryFailure::UnsplitThp);
        assert!(m.memmap.page(2).flags.test_bit(PG_HWPOISON));
        assert!(m.memmap.page(0).flags.test_bit(PG_HEAD));
        folio_put(&m.memmap, 0, 4);
        check_quiescent(&m, &[]);
    }

    #[test]
    fn split_pte_mapped_folio() {
        for nr in [2, 4] {
            let m = machine(nr, true);
            assert_eq!(split(&m), Ok(()));
            assert_split_into_small(&m);
        }
    }

    #[test]
    fn split_with_gup_pin_fails_and_restores() {
        for (nr, pte_mapped) in [(2, false), (4, false), (2, true), (4, true)] {
            let m = machine(nr, pte_mapped);
            let pin = gup_fast(&m, 0, 1, Foll::Pin, true).expect("gup-fast pins a mapped page");
            assert_eq!(
                pin,
                FastPage {
                    page: 1,
                    folio: 0,
                    via_pmd: !pte_mapped
                }
            );
            assert_eq!(m.memmap.meta[0]._pincount.read(), 1);
            assert_eq!(split(&m), Err(SplitError::Again));
            // can_split_folio sees the pin: nothing was changed (a pin that lands after the
            // pre-check is the concurrent case: folio-split-vs-gup-fast).
            assert!(m.memmap.page(0).flags.test_bit(PG_HEAD));
            if pte_mapped {
                assert!(matches!(Pmd::decode(m.mms[0].pmd.read()), Pmd::Table(0)));
                assert_eq!(m.memmap.meta[0]._large_mapcount.read(), nr as i32 - 1);
            } else {
                assert!(matches!(
                    Pmd::decode(m.mms[0].pmd.read()),
                    Pmd::Huge { pfn: 0, .. }
                ));
                assert_eq!(m.memmap.meta[0]._large_mapcount.read(), 0);
            }
            check_quiescent(&m, &[(0, 1)]);
            gup_put_folio(&m, 0, 1, Foll::Pin);
            check_quiescent(&m, &[]);
            // Unpinned, the next attempt succeeds.
            assert_eq!(split(&m), Ok(()));
            assert_split_into_small(&m);
        }
    }

    #[test]
    fn speculative_gets_on_tails_fail_and_succeed_after_split() {
        let m = machine(4, false);
        assert!(
            !get_page_unless_zero(&m.memmap, 2),
            "a tail's refcount is 0"
        );
        assert!(!folio_try_get(&m.memmap, 3));
        assert_eq!(page_idle_get_folio(&m, 2), None, "page_idle rejects tails");
        assert_eq!(isolate_migratepages_block(&m, 2), Isolate::SkippedCompound);
        assert_eq!(
            __get_hwpoison_page(&m, 2),
            Some(0),
            "hwpoison takes the head's reference"
        );
        assert_eq!(
            split(&m),
            Err(SplitError::Again),
            "the scanner's reference fails the split"
        );
        folio_put(&m.memmap, 0, 4);
        assert_eq!(split(&m), Ok(()));
        assert_eq!(page_idle_get_folio(&m, 2), Some(2));
        folio_put(&m.memmap, 2, 1);
        assert_eq!(isolate_migratepages_block(&m, 3), Isolate::Isolated);
        assert_eq!(__get_hwpoison_page(&m, 1), Some(1));
        folio_put(&m.memmap, 1, 1);
        check_quiescent(&m, &[]);
    }

    /// The zero-page remap of a successful split: zero-filled sub-pages (the head included)
    /// map the shared zero page, read-only, with the soft-dirty bit of their entry, and their
    /// folios are freed once the caller drops its reference; a zero-filled sub-page that
    /// memory_failure marked is not read and stays mapped; the data of the others stays.
    #[test]
    fn split_maps_zero_filled_sub_pages_to_the_zero_page_and_frees_them() {
        use thp_model::mm::page::ZERO_FILLED;
        use thp_model::mm::pgtable::{F_SOFT_DIRTY, F_YOUNG};
        use thp_model::mm::util::{clear_page_for_setup, mark_hwpoisoned_for_setup};
        for (nr, pte_mapped) in [(2, false), (4, false), (4, true)] {
            let m = machine(nr, pte_mapped);
            match Pmd::decode(m.mms[0].pmd.read()) {
                Pmd::Huge { pfn, flags } => m.mms[0].pmd.set(
                    Pmd::Huge {
                        pfn,
                        flags: flags | F_SOFT_DIRTY,
                    }
                    .encode(),
                ),
                Pmd::Table(t) => {
                    for pte in &m.mms[0].tables[t].ptes {
                        if let Pte::Present { pfn, flags } = Pte::decode(pte.read()) {
                            pte.set(
                                Pte::Present {
                                    pfn,
                                    flags: flags | F_SOFT_DIRTY,
                                }
                                .encode(),
                            );
                        }
                    }
                }
                v => panic!("unexpected {v:?}"),
            }
            let last = nr - 1;
            for p in [0, last] {
                clear_page_for_setup(&m, p);
            }
            let poisoned = if nr == 4 { Some(1) } else { None };
            if let Some(p) = poisoned {
                clear_page_for_setup(&m, p);
                mark_hwpoisoned_for_setup(&m, p);
            }
            assert_eq!(split(&m), Ok(()));
            for i in 0..nr {
                let pte = Pte::decode(m.mms[0].tables[0].ptes[i].read());
                let pg = m.memmap.page(i);
                if i == 0 || i == last {
                    assert_eq!(
                        pte,
                        Pte::Zero {
                            flags: F_YOUNG | F_SOFT_DIRTY
                        },
                        "pfn {i}"
                    );
                    assert!(!m.memmap.is_allocated(i), "pfn {i} freed");
                    assert_eq!(pg._refcount.read(), 0);
                    assert_eq!(pg._mapcount.read(), -1);
                } else {
                    assert!(
                        matches!(pte, Pte::Present { pfn, flags } if pfn == i && flags & F_SOFT_DIRTY != 0),
                        "pfn {i}: {pte:?}"
                    );
                    assert_eq!(pg._refcount.read(), 1, "pfn {i}");
                    assert_eq!(pg._mapcount.read(), 0, "pfn {i}");
                    let data = pg.content.read() & !thp_model::mm::page::CONTENT_ORACLE_BITS;
                    assert_eq!(
                        data == ZERO_FILLED,
                        Some(i) == poisoned,
                        "pfn {i} keeps its data"
                    );
                }
            }
            check_quiescent(&m, &[]);
            // The zero-page PTEs: a walker gets the zero page, GUP-fast leaves it to the slow
            // path, a zap clears them and touches no struct page.
            {
                use thp_model::mm::gup::{follow_pmd_mask, Follow};
                let _r = m.mms[0].mmap_lock.down_read();
                assert_eq!(follow_pmd_mask(&m, 0, last), Follow::ZeroPage);
            }
            assert!(gup_fast(&m, 0, last, Foll::Get, false).is_none());
            assert!(gup_fast(&m, 0, last, Foll::Pin, false).is_none());
            let z = {
                use thp_model::mm::zap::{zap_pmd_range, ZapRange};
                let _r = m.mms[0].mmap_lock.down_read();
                zap_pmd_range(&m, 0, ZapRange::Full)
            };
            assert_eq!(z.zero_ptes, 2);
            assert_eq!(z.present_ptes, nr - 2);
            for i in 0..nr {
                assert!(!m.memmap.is_allocated(i), "pfn {i} freed by the zap");
            }
            check_quiescent(&m, &[]);
        }
    }

    /// I29 bites: a page whose data changed under its mapping, and a data page replaced by the
    /// zero page, are both reported (what a lost copy or a remap without `pages_identical`
    /// would leave).
    #[test]
    fn the_data_oracle_reports_changed_data_and_a_wrong_zero_page() {
        use thp_model::mm::oracle::{check_carried_over, Carry, MappingSnapshot};
        let m = machine(2, true);
        let before = MappingSnapshot::take(&m);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let c = m.memmap.page(1).content.read();
            m.memmap.page(1).content.set(c + 100);
            check_carried_over(&m, &before, Carry::ALL);
        }));
        let msg = r.expect_err("changed data must be reported");
        let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.starts_with("[I29 "), "{msg}");
        let m = machine(2, true);
        let before = MappingSnapshot::take(&m);
        m.mms[0].tables[0].ptes[1].set(Pte::Zero { flags: 0 }.encode());
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            check_carried_over(&m, &before, Carry::MOVE);
        }));
        let msg = r.expect_err("a data page mapped as the zero page must be reported");
        let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.starts_with("[I29 "), "{msg}");
    }

    /// Collapse over what such a split left: the zero-page PTEs count as none, the new THP's
    /// sub-pages get the data of the pages mapped there (zeroes where the zero page was), and
    /// every old PTE is cleared.
    #[test]
    fn collapse_copies_the_data_and_zeroes_for_the_zero_page() {
        use thp_model::mm::khugepaged::{collapse_huge_page, ScanResult};
        use thp_model::mm::page::ZERO_FILLED;
        use thp_model::mm::util::clear_page_for_setup;
        let nr = 4;
        let m = Machine::new(nr, 2, 1, 1);
        {
            let _r = m.mms[0].mmap_lock.down_read();
            do_huge_pmd_anonymous_page(&m, 0, 0);
        }
        clear_page_for_setup(&m, 2);
        assert_eq!(split(&m), Ok(()));
        assert!(matches!(
            Pte::decode(m.mms[0].tables[0].ptes[2].read()),
            Pte::Zero { .. }
        ));
        let data: Vec<i32> = (0..nr).map(|i| m.memmap.page(i).content.read()).collect();
        assert_eq!(collapse_huge_page(&m, 0, 1), ScanResult::Succeed);
        assert!(matches!(Pmd::decode(m.mms[0].pmd.read()), Pmd::Huge { pfn, .. } if pfn == nr));
        for (i, d) in data.iter().enumerate() {
            assert_eq!(m.memmap.page(nr + i).content.read(), *d, "sub-page {i}");
            assert!(!m.memmap.is_allocated(i), "old pfn {i} freed");
        }
        assert_eq!(data[2], ZERO_FILLED);
        for pte in &m.mms[0].tables[0].ptes {
            assert_eq!(
                Pte::decode(pte.read()),
                Pte::None,
                "the deposited table is clear"
            );
        }
        check_quiescent(&m, &[]);
    }

    #[test]
    fn split_of_unmapped_folio_is_ebusy() {
        let m = Machine::new(2, 1, 1, 1);
        m.memmap.alloc_large_folio(0);
        folio_lock(&m.memmap, 0);
        assert_eq!(split_huge_page(&m, 0), Err(SplitError::Busy));
        folio_unlock(&m.memmap, 0);
    }
}

mod pte_fault {
    use thp_model::mm::gup::{follow_pmd_mask, Follow};
    use thp_model::mm::huge_memory::{do_huge_pmd_anonymous_page, FaultResult};
    use thp_model::mm::memory::{do_anonymous_page, PteFault};
    use thp_model::mm::{check_quiescent, Machine, Pmd, Pte};

    #[test]
    fn pte_fault_installs_table_and_page_then_huge_fault_backs_off() {
        for nr in [2, 4] {
            let m = Machine::new(nr, 2, 1, 2);
            let _r = m.mms[0].mmap_lock.down_read();
            assert_eq!(do_anonymous_page(&m, 0, 1, nr), PteFault::Mapped);
            assert!(matches!(Pmd::decode(m.mms[0].pmd.read()), Pmd::Table(0)));
            assert_eq!(m.mms[0].nr_ptes.read(), 1);
            assert_eq!(
                Pte::decode(m.mms[0].tables[0].ptes[1].read()),
                Pte::Present {
                    pfn: nr,
                    flags: 0x38
                }
            );
            assert_eq!(m.memmap.page(nr)._refcount.read(), 1);
            assert_eq!(m.memmap.page(nr)._mapcount.read(), 0);
            check_quiescent(&m, &[]);
            // A second fault on the same PTE finds it populated and refaults.
            assert_eq!(do_anonymous_page(&m, 0, 1, nr + 1), PteFault::Refault);
            assert!(!m.memmap.is_allocated(nr + 1));
            // The huge fault finds a table under the PMD lock and backs off with no side effect.
            assert_eq!(do_huge_pmd_anonymous_page(&m, 0, 0), FaultResult::Refault);
            assert!(!m.memmap.is_allocated(0));
            assert!(!m.mms[0].tables[1].allocated.read());
            assert_eq!(follow_pmd_mask(&m, 0, 1), Follow::PtePage(nr));
            assert_eq!(follow_pmd_mask(&m, 0, 0), Follow::NoPage);
            check_quiescent(&m, &[(nr, 1)]);
        }
    }
}

mod gup {
    use thp_model::mm::gup::{
        follow_pmd_mask_split, gup_fast, gup_put_folio, FastPage, Foll, Follow,
        GUP_PIN_COUNTING_BIAS,
    };
    use thp_model::mm::huge_memory::{__split_huge_pmd, do_huge_pmd_anonymous_page};
    use thp_model::mm::migrate::{migration_entry_wait, EntryWait};
    use thp_model::mm::pgtable::F_WRITE;
    use thp_model::mm::{check_quiescent, Machine, Pmd, Pte};

    fn machine(nr: usize) -> Machine {
        let m = Machine::new(nr, 1, 1, 1);
        let _r = m.mms[0].mmap_lock.down_read();
        do_huge_pmd_anonymous_page(&m, 0, 0);
        drop(_r);
        m
    }

    #[test]
    fn gup_fast_on_huge_pmd_gets_and_pins_exactly() {
        for nr in [2, 4] {
            let m = machine(nr);
            assert_eq!(
                gup_fast(&m, 0, nr - 1, Foll::Get, false),
                Some(FastPage {
                    page: nr - 1,
                    folio: 0,
                    via_pmd: true
                })
            );
            assert_eq!(m.memmap.page(0)._refcount.read(), 2);
            assert_eq!(m.memmap.meta[0]._pincount.read(), 0);
            gup_put_folio(&m, 0, 1, Foll::Get);
            assert_eq!(
                gup_fast(&m, 0, 0, Foll::Pin, true),
                Some(FastPage {
                    page: 0,
                    folio: 0,
                    via_pmd: true
                })
            );
            assert_eq!(
                m.memmap.page(0)._refcount.read(),
                2,
                "a large folio pin adds one reference"
            );
            assert_eq!(m.memmap.meta[0]._pincount.read(), 1);
            gup_put_folio(&m, 0, 1, Foll::Pin);
            assert_eq!(m.memmap.meta[0]._pincount.read(), 0);
            check_quiescent(&m, &[]);
        }
    }

    #[test]
    fn gup_fast_rejects_invalidated_and_migration_entries() {
        let m = machine(2);
        let v = Pmd::decode(m.mms[0].pmd.read());
        let Pmd::Huge { pfn, flags } = v else {
            panic!()
        };
        // An invalidated huge PMD: still present and huge on x86, but not access-permitted.
        m.mms[0].pmd.set(Pmd::HugeInvalid { pfn, flags }.encode());
        assert!(Pmd::decode(m.mms[0].pmd.read()).present());
        assert!(Pmd::decode(m.mms[0].pmd.read()).trans_huge());
        assert_eq!(gup_fast(&m, 0, 0, Foll::Get, false), None);
        m.mms[0].pmd.set(v.encode());
        // A write GUP on a read-only PMD falls back too.
        m.mms[0].pmd.set(
            Pmd::Huge {
                pfn,
                flags: flags & !F_WRITE,
            }
            .encode(),
        );
        assert_eq!(gup_fast(&m, 0, 0, Foll::Get, true), None);
        m.mms[0].pmd.set(v.encode());
        assert_eq!(
            m.memmap.page(0)._refcount.read(),
            1,
            "fallbacks leave no reference behind"
        );
    }

    #[test]
    fn gup_fast_pte_path_and_small_folio_pin_bias() {
        let m = machine(2);
        {
            let _r = m.mms[0].mmap_lock.down_read();
            __split_huge_pmd(&m, 0, false);
        }
        assert_eq!(
            gup_fast(&m, 0, 1, Foll::Get, true),
            Some(FastPage {
                page: 1,
                folio: 0,
                via_pmd: false
            })
        );
        assert_eq!(m.memmap.page(0)._refcount.read(), 3);
        gup_put_folio(&m, 0, 1, Foll::Get);
        // A migration entry is not present: GUP-fast fails and falls back. (Waiting on one is
        // exercised with its folio locked, in folio-split-vs-migration-wait.)
        let pte = Pte::decode(m.mms[0].tables[0].ptes[1].read());
        let Pte::Present { pfn, flags } = pte else {
            panic!()
        };
        m.mms[0].tables[0].ptes[1].set(Pte::Migration { pfn, flags }.encode());
        assert_eq!(gup_fast(&m, 0, 1, Foll::Get, false), None);
        m.mms[0].tables[0].ptes[1].set(pte.encode());
        let _r = m.mms[0].mmap_lock.down_read();
        assert_eq!(migration_entry_wait(&m, 0, 1), EntryWait::NotMigration);
        drop(_r);
        assert_eq!(GUP_PIN_COUNTING_BIAS, 1024);
        check_quiescent(&m, &[]);
    }

    #[test]
    fn foll_split_pmd_splits_then_walks_ptes() {
        for nr in [2, 4] {
            let m = machine(nr);
            let _r = m.mms[0].mmap_lock.down_read();
            assert_eq!(
                follow_pmd_mask_split(&m, 0, 1, Foll::Pin),
                Follow::PtePage(1)
            );
            assert!(matches!(Pmd::decode(m.mms[0].pmd.read()), Pmd::Table(0)));
            assert_eq!(m.memmap.meta[0]._pincount.read(), 1);
            assert_eq!(m.memmap.page(0)._refcount.read(), nr as i32 + 1);
            drop(_r);
            check_quiescent(&m, &[(0, 1)]);
            gup_put_folio(&m, 0, 1, Foll::Pin);
            check_quiescent(&m, &[]);
        }
    }
}

mod pmd_migration {
    use thp_model::mm::huge_memory::{__split_huge_pmd, do_huge_pmd_anonymous_page};
    use thp_model::mm::migrate::{migrate_folio_move, migrate_folio_unmap, try_to_unmap_flush};
    use thp_model::mm::page::PG_ANON_EXCLUSIVE;
    use thp_model::mm::page_ref::folio_get;
    use thp_model::mm::pgtable::F_WRITE;
    use thp_model::mm::{check_quiescent, Machine, Pmd, Pte};

    /// THP migration installs a PMD migration entry; a PMD split turns it into N PTE
    /// migration entries without touching any count; the migration then finishes at PTE level
    /// and the new folio is mapped by N PTEs.
    #[test]
    fn split_of_a_pmd_migration_entry_moves_no_counts() {
        for nr in [2usize, 4] {
            let m = Machine::new(nr, 2, 1, 1);
            {
                let _r = m.mms[0].mmap_lock.down_read();
                do_huge_pmd_anonymous_page(&m, 0, 0);
            }
            folio_get(&m.memmap, 0); // the migration caller's (isolation) reference
            let u = migrate_folio_unmap(&m, 0, 1).expect("unmap");
            assert!(
                matches!(Pmd::decode(m.mms[0].pmd.read()), Pmd::Migration { pfn: 0, flags } if flags & F_WRITE != 0)
            );
            assert_eq!(
                m.memmap.page(0)._refcount.read(),
                1,
                "only the caller's reference"
            );
            assert_eq!(m.memmap.meta[0]._large_mapcount.read(), -1);
            assert_eq!(m.memmap.meta[0]._entire_mapcount.read(), -1);
            assert_eq!(m.memmap.meta[0]._nr_pages_mapped.read(), 0);
            assert_eq!(
                m.mms[0].pmd_huge_pte.read(),
                1,
                "the deposit stays with the migration entry"
            );

            {
                let _r = m.mms[0].mmap_lock.down_read();
                __split_huge_pmd(&m, 0, false);
            }
            assert_eq!(Pmd::decode(m.mms[0].pmd.read()), Pmd::Table(0));
            assert_eq!(m.mms[0].pmd_huge_pte.read(), 0);
            assert_eq!(m.mms[0].nr_ptes.read(), 1);
            for i in 0..nr {
                assert!(
                    matches!(Pte::decode(m.mms[0].tables[0].ptes[i].read()), Pte::Migration { pfn, .. } if pfn == i)
                );
                assert_eq!(m.memmap.page(i)._mapcount.read(), -1);
            }
            assert_eq!(
                m.memmap.page(0)._refcount.read(),
                1,
                "a split of a migration entry moves no reference"
            );

            try_to_unmap_flush(&m, &u);
            assert_eq!(migrate_folio_move(&m, u), Ok(nr));
            let dst = nr;
            for pfn in 0..nr {
                assert!(!m.memmap.is_allocated(pfn), "the source was freed");
            }
            assert_eq!(m.memmap.page(dst)._refcount.read(), nr as i32);
            assert_eq!(m.memmap.meta[dst]._large_mapcount.read(), nr as i32 - 1);
            assert_eq!(m.memmap.meta[dst]._entire_mapcount.read(), -1);
            assert_eq!(m.memmap.meta[dst]._nr_pages_mapped.read(), nr as i32);
            for i in 0..nr {
                assert!(
                    matches!(Pte::decode(m.mms[0].tables[0].ptes[i].read()), Pte::Present { pfn, flags } if pfn == dst + i && flags & F_WRITE != 0)
                );
                assert_eq!(m.memmap.page(dst + i)._mapcount.read(), 0);
                assert!(
                    m.memmap.page(dst + i).flags.test_bit(PG_ANON_EXCLUSIVE),
                    "writable entry remaps exclusive"
                );
            }
            check_quiescent(&m, &[]);
        }
    }
}

mod deferred_split {
    use thp_model::mm::filemap::{folio_lock, folio_unlock};
    use thp_model::mm::huge_memory::{
        __split_huge_pmd, do_huge_pmd_anonymous_page, split_huge_page,
    };
    use thp_model::mm::page::PG_PARTIALLY_MAPPED;
    use thp_model::mm::page_ref::{folio_get, folio_put};
    use thp_model::mm::zap::{zap_pmd_range, ZapRange};
    use thp_model::mm::{check_quiescent, Machine};

    fn pte_mapped(nr: usize) -> Machine {
        let m = Machine::new(nr, 1, 1, 1);
        let _r = m.mms[0].mmap_lock.down_read();
        do_huge_pmd_anonymous_page(&m, 0, 0);
        __split_huge_pmd(&m, 0, false);
        drop(_r);
        m
    }

    /// A partial unmap queues the folio (PG_partially_mapped); a split unlinks it; a full
    /// unmap frees it and the final put unlinks it.
    #[test]
    fn partial_unmap_queues_split_and_free_unqueue() {
        for nr in [2usize, 4] {
            let m = pte_mapped(nr);
            let q = |m: &Machine| m.memmap.split_queue.quiescent().clone();
            {
                let _r = m.mms[0].mmap_lock.down_read();
                let z = zap_pmd_range(&m, 0, ZapRange::Page(1));
                assert_eq!(z.present_ptes, 1);
            }
            assert_eq!(q(&m), vec![0]);
            assert!(m.memmap.page(0).flags.test_bit(PG_PARTIALLY_MAPPED));
            assert_eq!(m.memmap.meta[0]._nr_pages_mapped.read(), nr as i32 - 1);
            check_quiescent(&m, &[]);

            folio_get(&m.memmap, 0);
            folio_lock(&m.memmap, 0);
            assert_eq!(split_huge_page(&m, 0), Ok(()));
            folio_unlock(&m.memmap, 0);
            folio_put(&m.memmap, 0, 1);
            assert!(q(&m).is_empty(), "the split unlinked it");
            assert!(
                !m.memmap.is_allocated(1),
                "the zapped sub-page was freed by the split"
            );
            check_quiescent(&m, &[]);

            // Full unmap of another folio that was queued: the last put unqueues it.
            let m = pte_mapped(nr);
            let _r = m.mms[0].mmap_lock.down_read();
            zap_pmd_range(&m, 0, ZapRange::Page(0));
            assert_eq!(q(&m), vec![0]);
            zap_pmd_range(&m, 0, ZapRange::Full);
            drop(_r);
            assert!(q(&m).is_empty(), "freed folios leave the queue");
            assert!(!m.memmap.is_allocated(0));
            check_quiescent(&m, &[]);
        }
    }

    /// `deferred_split_scan` with exact outcomes: a queued partially mapped folio is split
    /// (every sub-page becomes an order-0 folio, the zapped one freed); a locked one is put
    /// back on the queue with its reference dropped; one whose trylock succeeds but whose
    /// split fails (-EAGAIN, extra reference) is put back too; an unqueued one is not touched.
    #[test]
    fn deferred_split_scan_exact() {
        use thp_model::mm::filemap::folio_trylock;
        use thp_model::mm::huge_memory::{deferred_split_scan, DeferredScan};
        use thp_model::mm::page::{DEFERRED_NONE, DEFERRED_QUEUED, PG_HEAD};
        for nr in [2usize, 4] {
            let partial = |nr| {
                let m = pte_mapped(nr);
                let _r = m.mms[0].mmap_lock.down_read();
                zap_pmd_range(&m, 0, ZapRange::Page(1));
                drop(_r);
                m
            };
            let q = |m: &Machine| m.memmap.split_queue.quiescent().clone();

            // Split by the shrinker.
            let m = partial(nr);
            let s = deferred_split_scan(&m, 8);
            assert_eq!(
                s,
                DeferredScan {
                    split: 1,
                    ..Default::default()
                }
            );
            assert!(q(&m).is_empty());
            assert_eq!(m.memmap.deferred[0].read(), DEFERRED_NONE);
            assert!(!m.memmap.page(0).flags.test_bit(PG_HEAD));
            assert!(!m.memmap.is_allocated(1), "the unmapped sub-page was freed");
            for pfn in (0..nr).filter(|p| *p != 1) {
                assert_eq!(
                    m.memmap.page(pfn)._refcount.read(),
                    1,
                    "pfn {pfn}: its PTE only"
                );
            }
            check_quiescent(&m, &[]);

            // Folio locked by somebody else: trylock fails, requeued, reference dropped.
            let m = partial(nr);
            assert!(folio_trylock(&m.memmap, 0));
            let s = deferred_split_scan(&m, 8);
            assert_eq!(
                s,
                DeferredScan {
                    requeued: 1,
                    ..Default::default()
                }
            );
            assert_eq!(q(&m), vec![0]);
            assert_eq!(m.memmap.deferred[0].read(), DEFERRED_QUEUED);
            assert_eq!(m.memmap.page(0)._refcount.read(), nr as i32 - 1);
            folio_unlock(&m.memmap, 0);
            check_quiescent(&m, &[]);

            // An extra reference: the shrinker's split fails with -EAGAIN, requeued.
            folio_get(&m.memmap, 0);
            let s = deferred_split_scan(&m, 8);
            assert_eq!(s.requeued, 1);
            assert_eq!(s.split, 0);
            assert_eq!(q(&m), vec![0]);
            assert!(m.memmap.page(0).flags.test_bit(PG_HEAD));
            check_quiescent(&m, &[(0, 1)]);
            folio_put(&m.memmap, 0, nr);

            // nr_to_scan = 0 looks at nothing.
            assert_eq!(deferred_split_scan(&m, 0), DeferredScan::default());
            // The huge fault queued every new THP (split_underused_thp); one that is fully
            // mapped is not underused in this model (every page holds data), so the shrinker
            // unlinks it without the lock (it holds the reference) and drops its reference.
            let m = pte_mapped(nr);
            assert_eq!(q(&m), vec![0], "queued at the huge fault");
            assert!(!m
                .memmap
                .page(0)
                .flags
                .test_bit(thp_model::mm::page::PG_PARTIALLY_MAPPED));
            assert_eq!(
                deferred_split_scan(&m, 8),
                DeferredScan {
                    removed: 1,
                    ..Default::default()
                }
            );
            assert!(q(&m).is_empty());
            assert_eq!(m.memmap.deferred[0].read(), DEFERRED_NONE);
            assert_eq!(m.memmap.page(0)._refcount.read(), nr as i32);
            assert_eq!(
                deferred_split_scan(&m, 8),
                DeferredScan::default(),
                "empty queue"
            );
            check_quiescent(&m, &[]);
        }
    }
}

/// Fork of a PMD-mapped THP (`copy_huge_pmd`), the COW write fault (`do_huge_pmd_wp_page`)
/// while shared and after the other mm unmapped, and a folio split walking both mms.
mod fork {
    use super::setup_forked_huge_pmd;
    use thp_model::mm::filemap::{folio_lock, folio_unlock};
    use thp_model::mm::gup::{gup_fast, gup_put_folio, Foll};
    use thp_model::mm::huge_memory::{
        copy_huge_pmd, do_huge_pmd_anonymous_page, do_huge_pmd_wp_page, split_huge_page,
        FaultResult, WpResult,
    };
    use thp_model::mm::page::{ENTIRELY_MAPPED, PG_ANON_EXCLUSIVE};
    use thp_model::mm::page_ref::{folio_get, folio_put};
    use thp_model::mm::pgtable::F_WRITE;
    use thp_model::mm::zap::{zap_pmd_range, ZapRange};
    use thp_model::mm::{check_quiescent, Machine, Pmd, Pte};

    fn huge_flags(m: &Machine, mm: usize) -> Option<(usize, i64)> {
        match Pmd::decode(m.mms[mm].pmd.read()) {
            Pmd::Huge { pfn, flags } => Some((pfn, flags)),
            _ => None,
        }
    }

    #[test]
    fn fork_shares_the_pmd_exact_counts() {
        for nr in [2usize, 4] {
            let m = setup_forked_huge_pmd(nr);
            let meta = &m.memmap.meta[0];
            assert_eq!(m.memmap.page(0)._refcount.read(), 2);
            assert_eq!(meta._entire_mapcount.read(), 1, "two PMD mappings");
            assert_eq!(meta._large_mapcount.read(), 1);
            assert_eq!(meta._nr_pages_mapped.read(), ENTIRELY_MAPPED);
            assert!(!m.memmap.page(0).flags.test_bit(PG_ANON_EXCLUSIVE));
            for mm in 0..2 {
                let (pfn, flags) = huge_flags(&m, mm).expect("huge");
                assert_eq!(pfn, 0);
                assert_eq!(flags & F_WRITE, 0, "mm{mm} is write-protected");
                assert_eq!(m.mms[mm].nr_ptes.read(), 1, "mm{mm}: one deposited table");
            }
            check_quiescent(&m, &[]);

            // Shared: the write fault splits mm0's PMD and falls back to the PTE-level copy.
            {
                let _r = m.mms[0].mmap_lock.down_read();
                assert_eq!(do_huge_pmd_wp_page(&m, 0), WpResult::Fallback);
            }
            assert!(matches!(Pmd::decode(m.mms[0].pmd.read()), Pmd::Table(_)));
            assert_eq!(m.memmap.page(0)._refcount.read(), 1 + nr as i32);
            assert_eq!(meta._entire_mapcount.read(), 0, "mm1's PMD only");
            assert_eq!(meta._large_mapcount.read(), nr as i32);
            assert_eq!(meta._nr_pages_mapped.read(), ENTIRELY_MAPPED + nr as i32);
            check_quiescent(&m, &[]);
        }
    }

    #[test]
    fn cow_reuses_once_the_other_mm_unmapped() {
        for nr in [2usize, 4] {
            let m = setup_forked_huge_pmd(nr);
            {
                let _r = m.mms[1].mmap_lock.down_read();
                let z = zap_pmd_range(&m, 1, ZapRange::Full);
                assert!(z.huge_pmd);
            }
            assert_eq!(m.memmap.page(0)._refcount.read(), 1);
            let _r = m.mms[0].mmap_lock.down_read();
            assert_eq!(do_huge_pmd_wp_page(&m, 0), WpResult::Reused);
            let (pfn, flags) = huge_flags(&m, 0).expect("still huge");
            assert_eq!(pfn, 0);
            assert_ne!(flags & F_WRITE, 0, "reused: writable");
            assert!(m.memmap.page(0).flags.test_bit(PG_ANON_EXCLUSIVE));
            assert_eq!(m.memmap.page(0)._refcount.read(), 1);
            // Exclusive now: the next write fault reuses at once, without the folio lock.
            assert_eq!(do_huge_pmd_wp_page(&m, 0), WpResult::Reused);
            drop(_r);
            check_quiescent(&m, &[]);
        }
    }

    #[test]
    fn fork_of_a_pinned_thp_splits_the_parent_and_does_not_share() {
        for nr in [2usize, 4] {
            let m = Machine::new(nr, 1, 2, 1);
            {
                let _r = m.mms[0].mmap_lock.down_read();
                assert_eq!(do_huge_pmd_anonymous_page(&m, 0, 0), FaultResult::Done);
            }
            let pin = gup_fast(&m, 0, 1, Foll::Pin, false).expect("pinned via the PMD");
            {
                let _w0 = m.mms[0].mmap_lock.down_write();
                let _w1 = m.mms[1].mmap_lock.down_write_nested(1);
                assert_eq!(
                    copy_huge_pmd(&m, 0, 1),
                    thp_model::mm::huge_memory::CopyHuge::Again,
                    "-EAGAIN: maybe pinned"
                );
            }
            assert!(matches!(Pmd::decode(m.mms[0].pmd.read()), Pmd::Table(_)));
            assert_eq!(Pmd::decode(m.mms[1].pmd.read()), Pmd::None);
            assert_eq!(m.mms[1].nr_ptes.read(), 0, "the child's table was freed");
            assert!(m.memmap.page(0).flags.test_bit(PG_ANON_EXCLUSIVE));
            check_quiescent(&m, &[(0, 1)]);
            gup_put_folio(&m, pin.folio, 1, Foll::Pin);
            check_quiescent(&m, &[]);
        }
    }

    /// The whole fork of a pinned PMD-mapped THP (`copy_pmd_range`): `copy_huge_pmd` refuses and
    /// splits the parent's PMD, and the fall-through `copy_pte_range` gives the child its own
    /// copy of every page (each needs a preallocated page: one -EAGAIN round per page), young,
    /// dirty, writable and AnonExclusive; the parent keeps the pinned folio, its PTEs writable.
    #[test]
    fn fork_of_a_pinned_thp_copies_every_page_for_the_child() {
        use thp_model::mm::gup::{gup_fast, gup_put_folio, Foll};
        use thp_model::mm::mmap::dup_mmap_prealloc;
        use thp_model::mm::page::PG_ANON_EXCLUSIVE;
        use thp_model::mm::pgtable::{F_DIRTY, F_WRITE, F_YOUNG};
        for nr in [2usize, 4] {
            let m = Machine::new(nr, 2, 2, 1);
            {
                let _r = m.mms[0].mmap_lock.down_read();
                assert_eq!(do_huge_pmd_anonymous_page(&m, 0, 0), FaultResult::Done);
            }
            let pin = gup_fast(&m, 0, 1, Foll::Pin, true).expect("pinned via the PMD");
            let pool: Vec<usize> = (nr..2 * nr).collect();
            assert!(dup_mmap_prealloc(&m, 0, 1, &pool));
            assert!(m.observed("fork-copied-pinned-page"));
            assert!(!m.observed("fork-prealloc-unused"));
            let pte = |mm: usize, k: usize| {
                let Pmd::Table(t) = Pmd::decode(m.mms[mm].pmd.read()) else {
                    panic!("mm{mm} has no PTE table");
                };
                Pte::decode(m.mms[mm].tables[t].ptes[k].read())
            };
            for k in 0..nr {
                match pte(0, k) {
                    Pte::Present { pfn, flags } => {
                        assert_eq!(pfn, k, "parent pte[{k}]");
                        assert_ne!(flags & F_WRITE, 0, "parent pte[{k}] stays writable");
                    }
                    other => panic!("parent pte[{k}] is {other:?}"),
                }
                assert!(m.memmap.page(k).flags.test_bit(PG_ANON_EXCLUSIVE));
                match pte(1, k) {
                    Pte::Present { pfn, flags } => {
                        assert_eq!(pfn, nr + k, "child pte[{k}]: the k-th preallocated page");
                        assert_eq!(
                            flags & (F_WRITE | F_DIRTY | F_YOUNG),
                            F_WRITE | F_DIRTY | F_YOUNG
                        );
                        assert!(m.memmap.page(pfn).flags.test_bit(PG_ANON_EXCLUSIVE));
                        assert_eq!(
                            m.memmap.page(pfn).content.read(),
                            m.memmap.page(k).content.read(),
                            "child page {pfn} is a copy of {k}"
                        );
                    }
                    other => panic!("child pte[{k}] is {other:?}"),
                }
            }
            check_quiescent(&m, &[(0, 1)]);
            gup_put_folio(&m, pin.folio, 1, Foll::Pin);
            check_quiescent(&m, &[]);
        }
    }

    /// `write_protect_seq`: fork (`dup_mmap` → `copy_page_range`) moves it by 2 (odd inside
    /// the copy); GUP-fast FOLL_PIN fails while it is odd and pins nothing; FOLL_GET ignores
    /// it. After the fork the parent's PMD is read-only, so a write pin fails anyway and a read
    /// pin of the now shared page is refused (gup_must_unshare).
    #[test]
    fn write_protect_seq_fences_gup_fast_pins_off_a_fork() {
        use thp_model::mm::mmap::dup_mmap;
        for nr in [2usize, 4] {
            let m = Machine::new(nr, 1, 2, 1);
            {
                let _r = m.mms[0].mmap_lock.down_read();
                assert_eq!(do_huge_pmd_anonymous_page(&m, 0, 0), FaultResult::Done);
            }
            let seq = &m.mms[0].write_protect_seq;
            assert_eq!(seq.read(), 0);
            // Inside the copy (odd): FOLL_PIN backs off and leaves no reference or pin.
            seq.set(1);
            assert_eq!(gup_fast(&m, 0, 1, Foll::Pin, true), None);
            assert!(m.observed("gup-fast-fork-in-progress"));
            assert_eq!(m.memmap.page(0)._refcount.read(), 1);
            assert_eq!(m.memmap.meta[0]._pincount.read(), 0);
            let got = gup_fast(&m, 0, 1, Foll::Get, false).expect("FOLL_GET ignores the seqcount");
            folio_put(&m.memmap, got.folio, nr);
            seq.set(0);
            assert!(dup_mmap(&m, 0, 1));
            assert_eq!(seq.read(), 2, "begin and end: +2");
            assert_eq!(
                m.mms[1].write_protect_seq.read(),
                0,
                "the child's is untouched"
            );
            assert_eq!(gup_fast(&m, 0, 1, Foll::Pin, true), None, "write-protected");
            assert_eq!(
                gup_fast(&m, 0, 1, Foll::Pin, false),
                None,
                "shared: must unshare"
            );
            assert_eq!(m.memmap.page(0)._refcount.read(), 2);
            assert_eq!(m.memmap.meta[0]._pincount.read(), 0);
            check_quiescent(&m, &[]);
        }
    }

    /// A folio split of a fork-shared PMD-mapped THP, as 6.18.2 does it: `try_to_migrate_one`
    /// returns false after splitting the first mm's PMD frozen, which ends the whole rmap walk
    /// (fixed after 6.18 by 939080834fef, "fix early failure try_to_migrate() when split huge
    /// pmd for shared THP"), so the second mm still maps the folio, the freeze fails and the
    /// first attempt returns -EAGAIN with mm0 now PTE-mapped. The retry walks mm0's PTEs and
    /// mm1's PMD and succeeds; every page ends mapped by a PTE in both mms.
    #[test]
    fn folio_split_of_a_fork_shared_thp_needs_two_walks_in_6_18() {
        use thp_model::mm::huge_memory::SplitError;
        for nr in [2usize, 4] {
            let m = setup_forked_huge_pmd(nr);
            folio_get(&m.memmap, 0);
            folio_lock(&m.memmap, 0);
            assert_eq!(split_huge_page(&m, 0), Err(SplitError::Again));
            assert!(matches!(Pmd::decode(m.mms[0].pmd.read()), Pmd::Table(_)));
            assert!(matches!(
                Pmd::decode(m.mms[1].pmd.read()),
                Pmd::Huge { pfn: 0, .. }
            ));
            assert_eq!(m.memmap.page(0)._refcount.read(), 2 + nr as i32);
            folio_unlock(&m.memmap, 0);
            check_quiescent(&m, &[(0, 1)]);
            folio_lock(&m.memmap, 0);
            assert_eq!(split_huge_page(&m, 0), Ok(()));
            folio_unlock(&m.memmap, 0);
            folio_put(&m.memmap, 0, 1);
            for mm in 0..2 {
                let Pmd::Table(t) = Pmd::decode(m.mms[mm].pmd.read()) else {
                    panic!("mm{mm}: not a table");
                };
                for i in 0..nr {
                    assert!(matches!(
                        Pte::decode(m.mms[mm].tables[t].ptes[i].read()),
                        Pte::Present { pfn, .. } if pfn == i
                    ));
                }
            }
            for pfn in 0..nr {
                assert_eq!(m.memmap.page(pfn)._refcount.read(), 2, "pfn {pfn}");
                assert_eq!(m.memmap.page(pfn)._mapcount.read(), 1, "pfn {pfn}");
            }
            check_quiescent(&m, &[]);
        }
    }
}

/// THP migration with PMD migration entries: success (one and two mms), and the failure paths
/// (a GUP pin refuses the unmap; an extra reference fails the freeze), each restoring exactly.
mod thp_migration {
    use thp_model::mm::gup::{gup_fast, gup_put_folio, Foll};
    use thp_model::mm::huge_memory::{do_huge_pmd_anonymous_page, FaultResult};
    use thp_model::mm::migrate::{migrate_huge_page, MigrateError};
    use thp_model::mm::page::{ENTIRELY_MAPPED, PG_ANON_EXCLUSIVE};
    use thp_model::mm::page_ref::{folio_get, folio_put};
    use thp_model::mm::{check_quiescent, Machine, Pmd};

    fn huge(nr: usize) -> Machine {
        let m = Machine::new(nr, 2, 1, 1);
        let _r = m.mms[0].mmap_lock.down_read();
        assert_eq!(do_huge_pmd_anonymous_page(&m, 0, 0), FaultResult::Done);
        drop(_r);
        m
    }

    #[test]
    fn migrate_moves_the_pmd_to_the_new_folio() {
        for nr in [2usize, 4] {
            let m = huge(nr);
            folio_get(&m.memmap, 0);
            assert_eq!(migrate_huge_page(&m, 0, 1), Ok(nr));
            assert!(matches!(
                Pmd::decode(m.mms[0].pmd.read()),
                Pmd::Huge { pfn, .. } if pfn == nr
            ));
            for pfn in 0..nr {
                assert!(!m.memmap.is_allocated(pfn), "the source was freed");
                assert_eq!(
                    m.memmap.page(nr + pfn).content.read(),
                    m.memmap.page(pfn).content.read(),
                    "folio_mc_copy: page {pfn} copied"
                );
            }
            let meta = &m.memmap.meta[nr];
            assert_eq!(m.memmap.page(nr)._refcount.read(), 1);
            assert_eq!(meta._entire_mapcount.read(), 0);
            assert_eq!(meta._nr_pages_mapped.read(), ENTIRELY_MAPPED);
            assert!(m.memmap.page(nr).flags.test_bit(PG_ANON_EXCLUSIVE));
            assert_eq!(m.mms[0].nr_ptes.read(), 1, "the deposit stays");
            check_quiescent(&m, &[]);
        }
    }

    #[test]
    fn migrate_of_a_fork_shared_thp_remaps_both_mms_read_only() {
        for nr in [2usize, 4] {
            // A huge fault in mm0, forked into mm1; a second folio slot for the destination.
            let m = Machine::new(nr, 2, 2, 1);
            {
                let _r = m.mms[0].mmap_lock.down_read();
                assert_eq!(do_huge_pmd_anonymous_page(&m, 0, 0), FaultResult::Done);
            }
            {
                let _w0 = m.mms[0].mmap_lock.down_write();
                let _w1 = m.mms[1].mmap_lock.down_write_nested(1);
                assert_eq!(
                    thp_model::mm::huge_memory::copy_huge_pmd(&m, 0, 1),
                    thp_model::mm::huge_memory::CopyHuge::Copied
                );
            }
            folio_get(&m.memmap, 0);
            assert_eq!(migrate_huge_page(&m, 0, 1), Ok(nr));
            for mm in 0..2 {
                assert!(matches!(
                    Pmd::decode(m.mms[mm].pmd.read()),
                    Pmd::Huge { pfn, flags } if pfn == nr && flags & thp_model::mm::pgtable::F_WRITE == 0
                ));
            }
            assert_eq!(m.memmap.page(nr)._refcount.read(), 2);
            assert_eq!(m.memmap.meta[nr]._entire_mapcount.read(), 1);
            assert!(!m.memmap.page(nr).flags.test_bit(PG_ANON_EXCLUSIVE));
            assert!(!m.memmap.is_allocated(0));
            check_quiescent(&m, &[]);
        }
    }

    #[test]
    fn migrate_fails_and_restores_with_a_pin_or_an_extra_reference() {
        for nr in [2usize, 4] {
            // A pin: set_pmd_migration_entry cannot share the AnonExclusive head.
            let m = huge(nr);
            let pin = gup_fast(&m, 0, 1, Foll::Pin, false).expect("pin");
            folio_get(&m.memmap, 0);
            assert_eq!(migrate_huge_page(&m, 0, 1), Err(MigrateError::Again));
            assert!(matches!(
                Pmd::decode(m.mms[0].pmd.read()),
                Pmd::Huge { pfn: 0, .. }
            ));
            assert!(!m.memmap.is_allocated(nr), "the new folio was freed");
            check_quiescent(&m, &[(0, 2)]);
            gup_put_folio(&m, pin.folio, 1, Foll::Pin);
            folio_put(&m.memmap, 0, nr);
            check_quiescent(&m, &[]);

            // An extra (non-pin) reference: unmapped, then the freeze fails; remapped.
            let m = huge(nr);
            folio_get(&m.memmap, 0);
            folio_get(&m.memmap, 0);
            assert_eq!(migrate_huge_page(&m, 0, 1), Err(MigrateError::Again));
            assert!(matches!(
                Pmd::decode(m.mms[0].pmd.read()),
                Pmd::Huge { pfn: 0, .. }
            ));
            assert!(
                m.memmap.page(0).flags.test_bit(PG_ANON_EXCLUSIVE),
                "exclusive restored"
            );
            assert!(!m.memmap.is_allocated(nr));
            check_quiescent(&m, &[(0, 2)]);
        }
    }

    /// `migrate_pages_batch`: a failed freeze does not undo. The folio stays unmapped behind
    /// its PMD migration entry, both folios locked, the new one allocated, until the next
    /// pass; once the extra reference is gone that pass succeeds. With the reference held
    /// through every pass, the last one remaps the source.
    #[test]
    fn a_failed_move_stays_unmapped_for_the_next_pass() {
        use thp_model::mm::filemap::folio_test_locked;
        use thp_model::mm::migrate::{
            migrate_folio_move, migrate_folio_unmap, migrate_pages_batch, try_to_unmap_flush,
            NR_MAX_MIGRATE_PAGES_RETRY,
        };
        for nr in [2usize, 4] {
            let m = huge(nr);
            folio_get(&m.memmap, 0); // isolation
            let u = migrate_folio_unmap(&m, 0, 1).expect("unmap");
            try_to_unmap_flush(&m, &u);
            folio_get(&m.memmap, 0); // a speculative reference arrives
            let u = migrate_folio_move(&m, u).expect_err("freeze must fail");
            assert!(matches!(
                Pmd::decode(m.mms[0].pmd.read()),
                Pmd::Migration { pfn: 0, .. }
            ));
            assert!(folio_test_locked(&m.memmap, 0) && folio_test_locked(&m.memmap, nr));
            assert!(m.memmap.is_allocated(nr));
            assert_eq!(m.memmap.page(0)._refcount.read(), 2);
            assert_eq!(m.memmap.meta[0]._entire_mapcount.read(), -1);
            folio_put(&m.memmap, 0, nr); // ... and goes
            assert_eq!(migrate_folio_move(&m, u), Ok(nr));
            assert!(matches!(
                Pmd::decode(m.mms[0].pmd.read()),
                Pmd::Huge { pfn, .. } if pfn == nr
            ));
            assert!(!m.memmap.is_allocated(0));
            check_quiescent(&m, &[]);

            // The reference held throughout: every pass fails, then the source is remapped.
            let m = huge(nr);
            folio_get(&m.memmap, 0);
            folio_get(&m.memmap, 0);
            assert_eq!(
                migrate_pages_batch(&m, 0, 1, NR_MAX_MIGRATE_PAGES_RETRY),
                Err(MigrateError::Again)
            );
            assert!(matches!(
                Pmd::decode(m.mms[0].pmd.read()),
                Pmd::Huge { pfn: 0, .. }
            ));
            assert!(m.memmap.page(0).flags.test_bit(PG_ANON_EXCLUSIVE));
            assert!(!m.memmap.is_allocated(nr), "the new folio was freed once");
            assert!(!folio_test_locked(&m.memmap, 0));
            check_quiescent(&m, &[(0, 2)]);
            // A busy folio lock fails every unmap pass: nothing was unmapped.
            let m = huge(nr);
            folio_get(&m.memmap, 0);
            thp_model::mm::filemap::folio_lock(&m.memmap, 0);
            assert_eq!(migrate_pages_batch(&m, 0, 1, 3), Err(MigrateError::Again));
            assert!(!m.memmap.is_allocated(nr));
            thp_model::mm::filemap::folio_unlock(&m.memmap, 0);
            assert_eq!(migrate_pages_batch(&m, 0, 1, 3), Ok(nr));
            check_quiescent(&m, &[]);
        }
    }

    /// A THP whose PMD was split before the migration (PTE-mapped): `try_to_migrate(src, 0)`
    /// replaces each PTE by a migration entry (one reference and one mapping dropped per
    /// PTE), the freeze succeeds at the caller's reference, and `remove_migration_ptes(src,
    /// dst)` maps each page of the new folio by its PTE.
    #[test]
    fn migrate_of_a_pte_mapped_thp_maps_the_new_folio_by_ptes() {
        use thp_model::mm::huge_memory::__split_huge_pmd;
        use thp_model::mm::migrate::migrate_folio_unmap;
        use thp_model::mm::Pte;
        for nr in [2usize, 4] {
            let m = huge(nr);
            {
                let _r = m.mms[0].mmap_lock.down_read();
                __split_huge_pmd(&m, 0, false);
            }
            assert_eq!(m.memmap.page(0)._refcount.read(), nr as i32);
            folio_get(&m.memmap, 0);
            let u = migrate_folio_unmap(&m, 0, 1).expect("unmap");
            for i in 0..nr {
                assert!(matches!(
                    Pte::decode(m.mms[0].tables[0].ptes[i].read()),
                    Pte::Migration { pfn, flags } if pfn == i && flags & thp_model::mm::pgtable::F_WRITE != 0
                ));
                assert_eq!(m.memmap.page(i)._mapcount.read(), -1);
            }
            assert_eq!(
                m.memmap.page(0)._refcount.read(),
                1,
                "the isolation reference"
            );
            assert_eq!(m.memmap.meta[0]._large_mapcount.read(), -1);
            assert_eq!(m.memmap.meta[0]._nr_pages_mapped.read(), 0);
            thp_model::mm::migrate::try_to_unmap_flush(&m, &u);
            assert_eq!(thp_model::mm::migrate::migrate_folio_move(&m, u), Ok(nr));
            for i in 0..nr {
                assert!(matches!(
                    Pte::decode(m.mms[0].tables[0].ptes[i].read()),
                    Pte::Present { pfn, .. } if pfn == nr + i
                ));
                assert_eq!(m.memmap.page(nr + i)._mapcount.read(), 0);
                assert!(m.memmap.page(nr + i).flags.test_bit(PG_ANON_EXCLUSIVE));
                assert!(!m.memmap.is_allocated(i));
            }
            assert_eq!(m.memmap.page(nr)._refcount.read(), nr as i32);
            assert_eq!(m.memmap.meta[nr]._large_mapcount.read(), nr as i32 - 1);
            assert_eq!(m.memmap.meta[nr]._nr_pages_mapped.read(), nr as i32);
            check_quiescent(&m, &[]);
        }
    }

    /// `migrate_pages_batch` of a partially mapped THP on the deferred split list: it is
    /// split instead (`try_split_folio`, `split_folio_to_list`): the head keeps the isolation
    /// reference, every other page becomes an order-0 folio on the caller's list with a
    /// reference of its own and no PG_lru, the unmapped page's only reference is the list's.
    /// Without the partial mapping (a whole THP, queued as underused) it is migrated whole.
    #[test]
    fn migrate_of_a_queued_partially_mapped_thp_splits_it_to_the_list() {
        use thp_model::mm::migrate::migrate_pages_batch;
        use thp_model::mm::page::{DEFERRED_NONE, DEFERRED_QUEUED, PG_LRU, PG_PARTIALLY_MAPPED};
        use thp_model::mm::vmscan::{folio_isolate_lru, folio_putback_lru};
        use thp_model::mm::zap::{zap_pmd_range, ZapRange};
        for nr in [2usize, 4] {
            // whole: queued (underused), not partially mapped
            let m = huge(nr);
            assert_eq!(m.memmap.deferred[0].read(), DEFERRED_QUEUED);
            assert!(folio_isolate_lru(&m, 0));
            assert_eq!(migrate_pages_batch(&m, 0, 1, 1), Ok(nr));
            assert!(!m.memmap.is_allocated(0));
            assert_eq!(m.memmap.deferred[nr].read(), DEFERRED_NONE);
            check_quiescent(&m, &[]);

            let m = huge(nr);
            {
                let _r = m.mms[0].mmap_lock.down_read();
                zap_pmd_range(&m, 0, ZapRange::Page(1));
            }
            assert_eq!(m.memmap.deferred[0].read(), DEFERRED_QUEUED);
            assert!(m.memmap.page(0).flags.test_bit(PG_PARTIALLY_MAPPED));
            assert!(folio_isolate_lru(&m, 0));
            assert_eq!(migrate_pages_batch(&m, 0, 1, 1), Err(MigrateError::Split));
            assert!(!m.memmap.is_allocated(nr), "no new folio was allocated");
            assert_eq!(m.memmap.deferred[0].read(), DEFERRED_NONE);
            assert!(!m.memmap.page(0).flags.test_bit(PG_PARTIALLY_MAPPED));
            for p in 0..nr {
                assert_eq!(m.memmap.page_folio(p), p);
                assert!(!m.memmap.page(p).flags.test_bit(PG_LRU));
                assert!(!thp_model::mm::filemap::folio_test_locked(&m.memmap, p));
                let mapped = p != 1;
                assert_eq!(
                    m.memmap.page(p)._mapcount.read(),
                    if mapped { 0 } else { -1 }
                );
                // a mapping's reference and the list's (the head: the isolation one)
                assert_eq!(m.memmap.page(p)._refcount.read(), 1 + mapped as i32);
            }
            // the unmapped piece is "freed from under us", the others put back
            thp_model::mm::page_ref::folio_put(&m.memmap, 1, 1);
            assert!(!m.memmap.is_allocated(1));
            for p in (0..nr).filter(|&p| p != 1) {
                folio_putback_lru(&m, p);
            }
            check_quiescent(&m, &[]);
        }
    }

    /// Fork while the THP is migrating: `copy_huge_pmd` copies the PMD migration entry
    /// (no reference, no mapcount), making both entries readable; the migration then maps
    /// the new folio read-only and shared in both mms.
    #[test]
    fn fork_of_a_pmd_migration_entry_is_remapped_in_both_mms() {
        use thp_model::mm::huge_memory::copy_huge_pmd;
        use thp_model::mm::migrate::{migrate_folio_move, migrate_folio_unmap, try_to_unmap_flush};
        use thp_model::mm::pgtable::{F_EXCLUSIVE, F_WRITE};
        for nr in [2usize, 4] {
            let m = Machine::new(nr, 2, 2, 1);
            {
                let _r = m.mms[0].mmap_lock.down_read();
                assert_eq!(do_huge_pmd_anonymous_page(&m, 0, 0), FaultResult::Done);
            }
            folio_get(&m.memmap, 0);
            let u = migrate_folio_unmap(&m, 0, 1).expect("unmap");
            assert!(matches!(
                Pmd::decode(m.mms[0].pmd.read()),
                Pmd::Migration { pfn: 0, flags } if flags & F_WRITE != 0
            ));
            {
                let _w0 = m.mms[0].mmap_lock.down_write();
                let _w1 = m.mms[1].mmap_lock.down_write_nested(1);
                assert_eq!(
                    copy_huge_pmd(&m, 0, 1),
                    thp_model::mm::huge_memory::CopyHuge::Copied
                );
            }
            for mm in 0..2 {
                assert!(matches!(
                    Pmd::decode(m.mms[mm].pmd.read()),
                    Pmd::Migration { pfn: 0, flags } if flags & (F_WRITE | F_EXCLUSIVE) == 0
                ));
                assert_eq!(m.mms[mm].nr_ptes.read(), 1, "mm{mm} has its deposit");
            }
            assert_eq!(m.memmap.page(0)._refcount.read(), 1, "no reference copied");
            assert_eq!(m.memmap.meta[0]._entire_mapcount.read(), -1);
            try_to_unmap_flush(&m, &u);
            assert_eq!(migrate_folio_move(&m, u), Ok(nr));
            for mm in 0..2 {
                assert!(matches!(
                    Pmd::decode(m.mms[mm].pmd.read()),
                    Pmd::Huge { pfn, flags } if pfn == nr && flags & F_WRITE == 0
                ));
            }
            assert_eq!(m.memmap.page(nr)._refcount.read(), 2);
            assert_eq!(m.memmap.meta[nr]._entire_mapcount.read(), 1);
            assert_eq!(m.memmap.meta[nr]._large_mapcount.read(), 1);
            assert!(!m.memmap.page(nr).flags.test_bit(PG_ANON_EXCLUSIVE));
            assert!(!m.memmap.is_allocated(0), "the source was freed");
            check_quiescent(&m, &[]);
        }
    }

    /// A PTE-mapped THP with its last page pinned: the walk replaces the PTEs before it and
    /// stops at the pinned one (AnonExclusive cannot be shared); the folio is still mapped,
    /// so `migrate_folio_unmap` undoes: the migration entries become the same PTEs again,
    /// with the same counts and AnonExclusive bits.
    #[test]
    fn migrate_of_a_pte_mapped_thp_with_a_pin_restores_every_pte() {
        use thp_model::mm::huge_memory::__split_huge_pmd;
        use thp_model::mm::Pte;
        for nr in [2usize, 4] {
            let m = huge(nr);
            {
                let _r = m.mms[0].mmap_lock.down_read();
                __split_huge_pmd(&m, 0, false);
            }
            let pin = gup_fast(&m, 0, nr - 1, Foll::Pin, true).expect("pin");
            assert!(!pin.via_pmd);
            folio_get(&m.memmap, 0);
            assert_eq!(migrate_huge_page(&m, 0, 1), Err(MigrateError::Again));
            for i in 0..nr {
                assert!(matches!(
                    Pte::decode(m.mms[0].tables[0].ptes[i].read()),
                    Pte::Present { pfn, flags } if pfn == i && flags & thp_model::mm::pgtable::F_WRITE != 0
                ));
                assert_eq!(m.memmap.page(i)._mapcount.read(), 0);
                assert!(m.memmap.page(i).flags.test_bit(PG_ANON_EXCLUSIVE));
            }
            assert_eq!(m.memmap.page(0)._refcount.read(), nr as i32 + 2);
            assert_eq!(m.memmap.meta[0]._pincount.read(), 1);
            assert!(!m.memmap.is_allocated(nr), "the new folio was freed");
            check_quiescent(&m, &[(0, 2)]);
            gup_put_folio(&m, pin.folio, 1, Foll::Pin);
            folio_put(&m.memmap, 0, nr);
            check_quiescent(&m, &[]);
        }
    }
}

/// MADV_FREE (mm/madvise.c `madvise_free_pte_range`, mm/huge_memory.c `madvise_free_huge_pmd`)
/// with exact counts, N = 2 and 4, one and two mms.
mod madvise_free {
    use super::setup_forked_huge_pmd;
    use thp_model::mm::huge_memory::{__split_huge_pmd, do_huge_pmd_anonymous_page};
    use thp_model::mm::madvise::madvise_free_pte_range;
    use thp_model::mm::page::{PG_DIRTY, PG_HEAD, PG_LRU};
    use thp_model::mm::page_ref::{folio_get, folio_put};
    use thp_model::mm::pgtable::{F_DIRTY, F_WRITE, F_YOUNG};
    use thp_model::mm::zap::{zap_pmd_range, ZapRange};
    use thp_model::mm::{check_quiescent, Machine, Pmd, Pte};

    fn huge(nr: usize) -> Machine {
        let m = Machine::new(nr, 1, 1, 1);
        let _r = m.mms[0].mmap_lock.down_read();
        do_huge_pmd_anonymous_page(&m, 0, 0);
        drop(_r);
        m
    }

    fn madv_free(m: &Machine, mm: usize, range: ZapRange) -> usize {
        let _r = m.mms[mm].mmap_lock.down_read();
        madvise_free_pte_range(m, mm, range)
    }

    fn pte(m: &Machine, t: usize, i: usize) -> Pte {
        Pte::decode(m.mms[0].tables[t].ptes[i].read())
    }

    fn q(m: &Machine) -> Vec<usize> {
        m.memmap.split_queue.quiescent().clone()
    }

    /// The whole PMD: still huge, now old and clean (invalidate, then set), same counts.
    #[test]
    fn whole_pmd_is_marked_old_and_clean_in_place() {
        for nr in [2usize, 4] {
            let m = huge(nr);
            assert_eq!(madv_free(&m, 0, ZapRange::Full), 1);
            assert_eq!(
                Pmd::decode(m.mms[0].pmd.read()),
                Pmd::Huge {
                    pfn: 0,
                    flags: F_WRITE
                }
            );
            assert_eq!(m.memmap.page(0)._refcount.read(), 1);
            assert_eq!(m.memmap.meta[0]._entire_mapcount.read(), 0);
            assert_eq!(m.mms[0].pmd_huge_pte.read(), 1, "deposit kept");
            assert!(m.observed("madv-free-lazyfree-pmd"));
            assert!(
                !m.memmap.page(0).flags.test_bit(PG_DIRTY),
                "folio_clear_dirty"
            );
            check_quiescent(&m, &[]);
            // Again: clean already, nothing to invalidate; still one folio marked.
            assert_eq!(madv_free(&m, 0, ZapRange::Full), 1);
            check_quiescent(&m, &[]);
        }
    }

    /// One sub-page of a PMD-mapped THP: the folio is split (not just the PMD) into N order-0
    /// folios, each mapped once with one reference; only the covered PTE is old and clean.
    #[test]
    fn part_of_a_pmd_splits_the_folio() {
        for nr in [2usize, 4] {
            let m = huge(nr);
            assert_eq!(madv_free(&m, 0, ZapRange::Page(1)), 1);
            assert!(m.observed("madv-free-split-ok"));
            let Pmd::Table(t) = Pmd::decode(m.mms[0].pmd.read()) else {
                panic!("PMD not split");
            };
            for i in 0..nr {
                assert!(!m.memmap.page(i).flags.test_bit(PG_HEAD), "pfn {i} small");
                assert_eq!(m.memmap.page_folio(i), i);
                assert_eq!(m.memmap.page(i)._refcount.read(), 1, "pfn {i}");
                assert_eq!(m.memmap.page(i)._mapcount.read(), 0, "pfn {i}");
                let Pte::Present { pfn, flags } = pte(&m, t, i) else {
                    panic!("pte[{i}] not present");
                };
                assert_eq!(pfn, i);
                let want = if i == 1 {
                    F_WRITE
                } else {
                    F_WRITE | F_YOUNG | F_DIRTY
                };
                assert_eq!(flags & (F_WRITE | F_YOUNG | F_DIRTY), want, "pte[{i}]");
                // The split copies the head's PG_dirty to every piece; only the marked one is
                // cleaned.
                assert_eq!(m.memmap.page(i).flags.test_bit(PG_DIRTY), i != 1, "pfn {i}");
            }
            assert!(
                q(&m).is_empty(),
                "the split unlinked it from the deferred queue"
            );
            check_quiescent(&m, &[]);
        }
    }

    /// A reference the split cannot account for (a pin, say): -EAGAIN, the PMD is untouched
    /// (young and dirty kept) and MADV_FREE marks nothing.
    #[test]
    fn part_of_a_pmd_with_an_extra_reference_is_left_alone() {
        for nr in [2usize, 4] {
            let m = huge(nr);
            folio_get(&m.memmap, 0);
            assert_eq!(madv_free(&m, 0, ZapRange::Page(1)), 0);
            assert!(m.observed("madv-free-split-failed"));
            assert_eq!(
                Pmd::decode(m.mms[0].pmd.read()),
                Pmd::Huge {
                    pfn: 0,
                    flags: F_WRITE | F_YOUNG | F_DIRTY
                }
            );
            assert_eq!(m.memmap.page(0)._refcount.read(), 2);
            assert!(m.memmap.page(0).flags.test_bit(PG_HEAD));
            check_quiescent(&m, &[(0, 1)]);
            folio_put(&m.memmap, 0, nr);
            check_quiescent(&m, &[]);
        }
    }

    /// A PTE-mapped THP wholly in range is not split: its N PTEs are made old and clean and
    /// the folio is marked once. One sub-page of it is split.
    #[test]
    fn pte_mapped_thp_whole_is_kept_part_is_split() {
        for nr in [2usize, 4] {
            let m = huge(nr);
            {
                let _r = m.mms[0].mmap_lock.down_read();
                __split_huge_pmd(&m, 0, false);
            }
            let Pmd::Table(t) = Pmd::decode(m.mms[0].pmd.read()) else {
                panic!("PMD not split");
            };
            // pte[0] old and clean, the others young and dirty: the batch merges their bits
            // (FPB_MERGE_YOUNG_DIRTY), so every PTE of it is cleaned.
            m.mms[0].tables[t].ptes[0].set(
                Pte::Present {
                    pfn: 0,
                    flags: F_WRITE,
                }
                .encode(),
            );
            assert_eq!(madv_free(&m, 0, ZapRange::Full), 1);
            assert!(!m.observed("madv-free-split-ok"));
            assert!(m.memmap.page(0).flags.test_bit(PG_LRU), "still on the LRU");
            assert!(m.memmap.page(0).flags.test_bit(PG_HEAD), "still one folio");
            assert_eq!(m.memmap.page(0)._refcount.read(), nr as i32);
            for i in 0..nr {
                let Pte::Present { flags, .. } = pte(&m, t, i) else {
                    panic!("pte[{i}]");
                };
                assert_eq!(flags & (F_YOUNG | F_DIRTY), 0, "pte[{i}] old and clean");
            }
            check_quiescent(&m, &[]);
            assert_eq!(madv_free(&m, 0, ZapRange::Page(0)), 1);
            assert!(m.observed("madv-free-split-ok"));
            for i in 0..nr {
                assert_eq!(m.memmap.page_folio(i), i);
                assert_eq!(m.memmap.page(i)._refcount.read(), 1);
            }
            check_quiescent(&m, &[]);
        }
    }

    /// A partially mapped THP (one sub-page zapped, queued for deferred split) under a
    /// whole-range MADV_FREE: no batch covers the folio, so it is split; the zapped sub-page is
    /// freed, the other N-1 become small folios, each marked.
    #[test]
    fn partially_mapped_thp_is_split_and_unqueued() {
        for nr in [2usize, 4] {
            let m = huge(nr);
            {
                let _r = m.mms[0].mmap_lock.down_read();
                zap_pmd_range(&m, 0, ZapRange::Page(1));
            }
            assert_eq!(q(&m), vec![0]);
            assert_eq!(madv_free(&m, 0, ZapRange::Full), nr - 1);
            assert!(m.observed("madv-free-split-ok"));
            assert!(q(&m).is_empty());
            assert!(!m.memmap.is_allocated(1), "the unmapped sub-page was freed");
            for i in (0..nr).filter(|&i| i != 1) {
                assert_eq!(m.memmap.page_folio(i), i);
                assert_eq!(m.memmap.page(i)._refcount.read(), 1);
                assert_eq!(m.memmap.page(i)._mapcount.read(), 0);
            }
            check_quiescent(&m, &[]);
        }
    }

    /// Two mms (fork): the folio may be mapped by the other mm, so MADV_FREE skips it in both,
    /// whole or in part; nothing changes.
    #[test]
    fn fork_shared_thp_is_skipped() {
        for nr in [2usize, 4] {
            let m = setup_forked_huge_pmd(nr);
            let before: Vec<i64> = (0..2).map(|i| m.mms[i].pmd.read()).collect();
            for mm in 0..2 {
                assert_eq!(madv_free(&m, mm, ZapRange::Full), 0);
                assert_eq!(madv_free(&m, mm, ZapRange::Page(1)), 0);
            }
            assert!(m.observed("madv-free-skipped"));
            assert!(!m.observed("madv-free-split-ok"));
            let after: Vec<i64> = (0..2).map(|i| m.mms[i].pmd.read()).collect();
            assert_eq!(before, after);
            assert_eq!(m.memmap.page(0)._refcount.read(), 2);
            check_quiescent(&m, &[]);
        }
    }
}

/// mm0 took a huge anonymous fault and forked: mm1's PMD maps the same folio, both read-only,
/// AnonExclusive cleared, refcount 2, entire mapcount 2 (as the checks crate's fork scenarios
/// start).
fn setup_forked_huge_pmd(nr: usize) -> std::sync::Arc<Machine> {
    let m = std::sync::Arc::new(Machine::new(nr, 1, 2, 1));
    {
        let _r = m.mms[0].mmap_lock.down_read();
        assert_eq!(do_huge_pmd_anonymous_page(&m, 0, 0), FaultResult::Done);
    }
    assert!(thp_model::mm::mmap::dup_mmap(&m, 0, 1), "fork failed");
    m
}

/// Reclaim's discard of a lazyfree PMD-mapped THP, sequentially: clean and unreferenced, it is
/// unmapped and freed with its deposited table; stored to after MADV_FREE, it is kept, the PMD
/// left dirty and the folio swap-backed again.
#[test]
fn lazyfree_discard_exact_state() {
    use thp_model::mm::madvise::madvise_free_pte_range;
    use thp_model::mm::memory::hw_write_huge_pmd;
    use thp_model::mm::page::{PG_DIRTY, PG_LRU, PG_SWAPBACKED};
    use thp_model::mm::pgtable::F_DIRTY;
    use thp_model::mm::vmscan::{folio_isolate_lru, shrink_folio_list, Reclaim};
    use thp_model::mm::zap::ZapRange;
    for nr in [2usize, 4] {
        for store in [false, true] {
            let m = Machine::new(nr, 1, 1, 1);
            {
                let _r = m.mms[0].mmap_lock.down_read();
                assert_eq!(do_huge_pmd_anonymous_page(&m, 0, 0), FaultResult::Done);
                assert!(m.memmap.page(0).flags.test_bit(PG_SWAPBACKED));
                assert_eq!(madvise_free_pte_range(&m, 0, ZapRange::Full), 1);
            }
            let flags = &m.memmap.page(0).flags;
            assert!(
                !flags.test_bit(PG_SWAPBACKED),
                "MADV_FREE clears PG_swapbacked"
            );
            assert!(flags.test_bit(PG_LRU));
            if store {
                assert_eq!(hw_write_huge_pmd(&m, 0), Some(0));
            }
            assert!(folio_isolate_lru(&m, 0));
            assert_eq!(m.memmap.page(0)._refcount.read(), 2);
            let r = shrink_folio_list(&m, 0);
            if store {
                assert_eq!(r, Reclaim::Activated);
                assert!(matches!(
                    Pmd::decode(m.mms[0].pmd.read()),
                    Pmd::Huge { pfn: 0, flags } if flags & F_DIRTY != 0
                ));
                assert!(flags.test_bit(PG_DIRTY) && flags.test_bit(PG_SWAPBACKED));
                assert!(flags.test_bit(PG_LRU));
                assert_eq!(m.memmap.page(0)._refcount.read(), 1);
                assert_eq!(m.mms[0].nr_ptes.read(), 1);
            } else {
                assert_eq!(r, Reclaim::Freed);
                assert_eq!(Pmd::decode(m.mms[0].pmd.read()), Pmd::None);
                assert_eq!(m.mms[0].pmd_huge_pte.read(), 0);
                assert_eq!(m.mms[0].nr_ptes.read(), 0);
                for pfn in 0..nr {
                    assert!(!m.memmap.is_allocated(pfn), "pfn {pfn} freed");
                }
            }
            check_quiescent(&m, &[]);
        }
    }
}

/// Reclaim's discard of a lazyfree PMD-mapped THP with a reference held elsewhere (a FOLL_GET
/// user such as KVM): referenced, it restores the PMD and the folio is activated; once the
/// holder marked it dirty and dropped the reference, the dirty flag keeps it (restored, swap-
/// backed again); a holder that dirties the folio after the discard unmapped it keeps it from
/// being freed (the dirty test after the unmap). Exact state after each.
#[test]
fn lazyfree_discard_with_a_reference_exact_state() {
    use thp_model::mm::madvise::madvise_free_pte_range;
    use thp_model::mm::page::{PG_DIRTY, PG_LRU, PG_SWAPBACKED};
    use thp_model::mm::page_ref::{folio_get, folio_put_small_or_large};
    use thp_model::mm::vmscan::{folio_isolate_lru, shrink_folio_list, Reclaim};
    use thp_model::mm::zap::ZapRange;
    for nr in [2usize, 4] {
        for case in ["referenced", "dirtied-then-put"] {
            let m = Machine::new(nr, 1, 1, 1);
            {
                let _r = m.mms[0].mmap_lock.down_read();
                assert_eq!(do_huge_pmd_anonymous_page(&m, 0, 0), FaultResult::Done);
            }
            folio_get(&m.memmap, 0); // the holder's reference
            {
                let _r = m.mms[0].mmap_lock.down_read();
                assert_eq!(madvise_free_pte_range(&m, 0, ZapRange::Full), 1);
            }
            let flags = &m.memmap.page(0).flags;
            assert!(!flags.test_bit(PG_SWAPBACKED) && !flags.test_bit(PG_DIRTY));
            if case == "dirtied-then-put" {
                flags.set_bit(PG_DIRTY); // kvm_release_page_dirty
                folio_put_small_or_large(&m, 0);
            }
            assert!(folio_isolate_lru(&m, 0));
            let refs = m.memmap.page(0)._refcount.read();
            assert_eq!(refs, if case == "referenced" { 3 } else { 2 });
            assert_eq!(shrink_folio_list(&m, 0), Reclaim::Activated, "{case}");
            assert!(
                matches!(Pmd::decode(m.mms[0].pmd.read()), Pmd::Huge { pfn: 0, .. }),
                "{case}: the PMD is restored"
            );
            assert!(flags.test_bit(PG_LRU), "{case}: back on the LRU");
            assert_eq!(m.memmap.page(0)._refcount.read(), refs - 1, "{case}");
            assert_eq!(m.mms[0].nr_ptes.read(), 1, "{case}: deposited table kept");
            if case == "referenced" {
                assert!(!flags.test_bit(PG_SWAPBACKED), "{case}: still lazyfree");
                folio_put_small_or_large(&m, 0);
            } else {
                assert!(flags.test_bit(PG_SWAPBACKED), "{case}: swap-backed again");
            }
            check_quiescent(&m, &[]);
        }
    }
}

/// KSM's merge step on a quiescent machine (mm/ksm.c `try_to_merge_one_page`): a small
/// anonymous page, writable and dirty or read-only and clean (AnonExclusive either way), is
/// write-protected, cleaned (PG_dirty keeps the dirt), shared and replaced by the KSM page; the
/// old page is freed once the scan drops its reference. An extra reference (O_DIRECT) or a pin
/// makes `write_protect_page` refuse and restore the entry exactly.
#[test]
fn ksm_merge_exact_state() {
    use thp_model::mm::gup::{try_grab_folio_flags, Foll};
    use thp_model::mm::ksm::{try_to_merge_one_page, KsmFail};
    use thp_model::mm::memory::{do_anonymous_page, PteFault};
    use thp_model::mm::page::{PG_ANON_EXCLUSIVE, PG_DIRTY};
    use thp_model::mm::page_ref::folio_get;
    use thp_model::mm::pgtable::{F_DIRTY, F_WRITE, F_YOUNG};
    for nr in [2usize, 4] {
        for case in ["writable", "read-only", "extra-ref", "pinned"] {
            let m = Machine::new(nr, 2, 1, 1);
            let _r = m.mms[0].mmap_lock.down_read();
            assert_eq!(do_anonymous_page(&m, 0, 0, 0), PteFault::Mapped);
            let Pmd::Table(t) = Pmd::decode(m.mms[0].pmd.read()) else {
                panic!("no table")
            };
            let pte = &m.mms[0].tables[t].ptes[0];
            if case == "read-only" {
                pte.set(
                    Pte::Present {
                        pfn: 0,
                        flags: F_YOUNG,
                    }
                    .encode(),
                );
            }
            let before = pte.read();
            let kpage = nr;
            m.memmap.alloc_small_folio(kpage);
            m.memmap.mapping[kpage].set(thp_model::mm::ANON_VMA_ID);
            m.memmap.page(kpage).flags.set_bit(PG_DIRTY);
            folio_get(&m.memmap, 0); // the scan's reference
            match case {
                "extra-ref" => folio_get(&m.memmap, 0),
                "pinned" => try_grab_folio_flags(&m, 0, 1, Foll::Pin),
                _ => {}
            }
            let r = try_to_merge_one_page(&m, 0, 0, 0, kpage);
            match case {
                "writable" | "read-only" => {
                    assert_eq!(r, Ok(()), "{case}");
                    assert_eq!(
                        Pte::decode(pte.read()),
                        Pte::Present {
                            pfn: kpage,
                            flags: F_YOUNG
                        },
                        "{case}: the KSM page mapped read-only, clean"
                    );
                    let p = m.memmap.page(0);
                    assert!(!p.flags.test_bit(PG_ANON_EXCLUSIVE), "{case}: shared");
                    assert_eq!(p.flags.test_bit(PG_DIRTY), case == "writable", "{case}");
                    assert_eq!(p._mapcount.read(), -1, "{case}: old page unmapped");
                    assert_eq!(p._refcount.read(), 1, "{case}: the scan's reference");
                    assert_eq!(m.memmap.page(kpage)._mapcount.read(), 0);
                    assert_eq!(m.memmap.page(kpage)._refcount.read(), 2);
                    folio_put(&m.memmap, 0, 1);
                    assert!(!m.memmap.is_allocated(0), "{case}: old page freed");
                    folio_put(&m.memmap, kpage, 1);
                    assert_eq!(m.memmap.page(kpage)._refcount.read(), 1);
                }
                _ => {
                    // A pin on a small folio adds GUP_PIN_COUNTING_BIAS to the refcount: the
                    // count check refuses it before folio_try_share_anon_rmap_pte is asked.
                    assert_eq!(r, Err(KsmFail::RefCount), "{case}");
                    assert_eq!(pte.read(), before, "{case}: entry restored exactly");
                    assert!(m.memmap.page(0).flags.test_bit(PG_ANON_EXCLUSIVE));
                    assert_eq!(before & (F_WRITE | F_DIRTY), F_WRITE | F_DIRTY);
                }
            }
        }
    }
}

/// The CONFIG_MM_ID owner slots and COW of a PTE-mapped THP, step by step: a huge fault
/// claims slot 0; the PMD split keeps it; a PTE-level fork claims slot 1 and marks the folio
/// "maybe mapped shared"; mm0's write fault then copies; mm1's unmap frees its slot and
/// clears the bit; mm0's next write fault reuses the folio in place when mm0 maps more than
/// one of its pages (with one page left it copies, and the copy frees the folio).
#[test]
fn owner_slots_follow_fork_cow_and_unmap() {
    use thp_model::mm::memory::{do_wp_page, PteWp};
    use thp_model::mm::mmap::dup_mmap;
    use thp_model::mm::page::{MmIdSlots, MM_ID_DUMMY, PG_ANON_EXCLUSIVE};
    use thp_model::mm::pgtable::{F_DIRTY, F_WRITE};
    use thp_model::mm::zap::{zap_pmd_range, ZapRange};
    for nr in [2usize, 4] {
        let m = Machine::new(nr, 2, 2, 1);
        let meta = &m.memmap.meta[0];
        let slots = |m: &Machine| -> MmIdSlots { *m.memmap.meta[0].mm_id_slots.quiescent() };
        {
            let _r = m.mms[0].mmap_lock.down_read();
            assert_eq!(do_huge_pmd_anonymous_page(&m, 0, 0), FaultResult::Done);
        }
        let s = slots(&m);
        assert_eq!(
            (s.mm_id, s.mapcount, s.shared),
            ([1, MM_ID_DUMMY], [0, -1], false)
        );
        {
            let _r = m.mms[0].mmap_lock.down_read();
            __split_huge_pmd(&m, 0, false);
        }
        let s = slots(&m);
        assert_eq!(
            (s.mm_id, s.mapcount, s.shared),
            ([1, MM_ID_DUMMY], [nr as i32 - 1, -1], false)
        );
        check_quiescent(&m, &[]);

        assert!(dup_mmap(&m, 0, 1));
        let s = slots(&m);
        assert_eq!(
            (s.mm_id, s.mapcount, s.shared),
            ([1, 2], [nr as i32 - 1, nr as i32 - 1], true)
        );
        assert_eq!(meta.mm_ids_shared.read(), 1);
        assert_eq!(meta._large_mapcount.read(), 2 * nr as i32 - 1);
        assert_eq!(m.memmap.page(0)._refcount.read(), 2 * nr as i32);
        for i in 0..nr {
            assert_eq!(m.memmap.page(i)._mapcount.read(), 1);
            assert!(!m.memmap.page(i).flags.test_bit(PG_ANON_EXCLUSIVE));
            for mm in &m.mms {
                assert!(
                    matches!(Pte::decode(mm.tables[0].ptes[i].read()), Pte::Present { pfn, flags } if pfn == i && flags & F_WRITE == 0)
                );
            }
        }
        check_quiescent(&m, &[]);

        // Shared: mm0's write fault copies sub-page 0 into the page at pfn nr.
        {
            let _r = m.mms[0].mmap_lock.down_read();
            assert_eq!(do_wp_page(&m, 0, 0, nr), PteWp::Copied);
        }
        assert!(
            matches!(Pte::decode(m.mms[0].tables[0].ptes[0].read()), Pte::Present { pfn, flags } if pfn == nr && flags & (F_WRITE | F_DIRTY) == F_WRITE | F_DIRTY)
        );
        assert!(m.memmap.page(nr).flags.test_bit(PG_ANON_EXCLUSIVE));
        assert_eq!(
            m.memmap.page(nr).content.read(),
            m.memmap.page(0).content.read()
        );
        let s = slots(&m);
        assert_eq!(
            (s.mm_id, s.mapcount, s.shared),
            ([1, 2], [nr as i32 - 2, nr as i32 - 1], true)
        );
        check_quiescent(&m, &[]);

        // mm1 unmaps everything: its slot is freed, mm0's owns every mapping: exclusive.
        {
            let _r = m.mms[1].mmap_lock.down_read();
            zap_pmd_range(&m, 1, ZapRange::Full);
        }
        let s = slots(&m);
        assert_eq!(
            (s.mm_id, s.mapcount, s.shared),
            ([1, MM_ID_DUMMY], [nr as i32 - 2, -1], false)
        );
        assert_eq!(m.memmap.page(0)._refcount.read(), nr as i32 - 1);
        check_quiescent(&m, &[]);

        // mm0 writes sub-page 1: with other pages of the folio still mapped here, reuse; with
        // only this one, "free up the large folio": copy (into the page of the first copy's
        // slot, pfn nr + 1) and the folio is freed.
        let r = {
            let _r = m.mms[0].mmap_lock.down_read();
            do_wp_page(&m, 0, 1, nr + 1)
        };
        if nr == 2 {
            assert_eq!(r, PteWp::Copied);
            assert!(!m.memmap.is_allocated(0), "the copied-from folio is freed");
        } else {
            assert_eq!(r, PteWp::Reused);
            assert!(m.memmap.page(1).flags.test_bit(PG_ANON_EXCLUSIVE));
            assert!(
                matches!(Pte::decode(m.mms[0].tables[0].ptes[1].read()), Pte::Present { pfn: 1, flags } if flags & F_WRITE != 0)
            );
        }
        check_quiescent(&m, &[]);
    }
}

/// The I31 oracle fires on owner slots that disagree with the page tables: a slot count off
/// by one, and a "maybe mapped shared" bit that is clear while two mms map the folio.
#[test]
fn the_owner_slot_oracle_reports_wrong_slots() {
    use thp_model::mm::mmap::dup_mmap;
    let build = || {
        let m = Machine::new(2, 1, 2, 1);
        {
            let _r = m.mms[0].mmap_lock.down_read();
            assert_eq!(do_huge_pmd_anonymous_page(&m, 0, 0), FaultResult::Done);
            __split_huge_pmd(&m, 0, false);
        }
        assert!(dup_mmap(&m, 0, 1));
        check_quiescent(&m, &[]);
        m
    };
    let expect_i31 = |f: &dyn Fn(&Machine)| {
        let m = build();
        f(&m);
        quiescent_reports(&m, "[I31 mm-id-slots]");
    };
    expect_i31(&|m| m.memmap.meta[0].mm_id_slots.quiescent().mapcount[1] -= 1);
    expect_i31(&|m| {
        m.memmap.meta[0].mm_id_slots.quiescent().shared = false;
        m.memmap.meta[0].mm_ids_shared.set(0);
    });
}

/// The I14 oracle fires on a folio marked partially mapped that is not on the deferred split
/// queue, and on a folio left on a shrinker's private list.
#[test]
fn the_deferred_list_oracle_reports_an_unqueued_partially_mapped_folio() {
    use thp_model::mm::page::{deferred_private_of, DEFERRED_NONE, PG_PARTIALLY_MAPPED};
    let build = || {
        let m = Machine::new(2, 1, 1, 1);
        {
            let _r = m.mms[0].mmap_lock.down_read();
            assert_eq!(do_huge_pmd_anonymous_page(&m, 0, 0), FaultResult::Done);
        }
        // queued as underused by the fault: taken off, as a split or a scan would
        m.memmap.split_queue.quiescent().clear();
        m.memmap.deferred[0].set(DEFERRED_NONE);
        check_quiescent(&m, &[]);
        m
    };
    let expect_i14 = |f: &dyn Fn(&Machine)| {
        let m = build();
        f(&m);
        quiescent_reports(&m, "[I14 deferred-list]");
    };
    expect_i14(&|m| m.memmap.page(0).flags.set_bit(PG_PARTIALLY_MAPPED));
    expect_i14(&|m| m.memmap.deferred[0].set(deferred_private_of(1)));
}

/// `check_quiescent` of `m` fails with a message naming invariant `tag`.
fn quiescent_reports(m: &Machine, tag: &str) {
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check_quiescent(m, &[])))
        .expect_err("the oracle accepted a broken state");
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains(tag), "{msg}");
}

/// Per-CPU TLB state (mm/tlb.rs): a cached translation outlives its PTE until a flush; the
/// batched unmap flush and `flush_tlb_batched_pending`; the user store's faults; the store
/// oracle. The test's CPU is cpu0.
mod tlb {
    use thp_model::mm::huge_memory::{__split_huge_pmd, do_huge_pmd_anonymous_page, FaultResult};
    use thp_model::mm::memory::user_store;
    use thp_model::mm::migrate::{migrate_folio_move, migrate_folio_unmap, try_to_unmap_flush};
    use thp_model::mm::page::CONTENT_ORACLE_BITS;
    use thp_model::mm::pgtable::Pte;
    use thp_model::mm::tlb::TLB_FLUSH_BATCH_FLUSHED_SHIFT;
    use thp_model::mm::tlb::{mmu_store, tlb_fill_for_setup, MmuStore};
    use thp_model::mm::zap::{zap_pmd_range, ZapRange};
    use thp_model::mm::{check_quiescent, check_store_visible, Machine, Pmd};

    const TAG: i32 = 0x5a5a;

    /// A PTE-mapped THP at slot 0 of `folios`, cpu0 caching page 0's writable translation.
    fn machine(nr: usize, folios: usize) -> Machine {
        let m = Machine::new(nr, folios, 1, 1).with_tlb(&[0]);
        {
            let _r = m.mms[0].mmap_lock.down_read();
            assert_eq!(do_huge_pmd_anonymous_page(&m, 0, 0), FaultResult::Done);
            __split_huge_pmd(&m, 0, false);
        }
        assert!(matches!(Pmd::decode(m.mms[0].pmd.read()), Pmd::Table(0)));
        tlb_fill_for_setup(&m, 0, 0, 0);
        m
    }

    fn content(m: &Machine, pfn: usize) -> i32 {
        m.memmap.page(pfn).content.read() & !CONTENT_ORACLE_BITS
    }

    /// The unmap of a migration defers its flush: the cached translation still stores into the
    /// old page (which the copy then carries over), the mm records one pending generation per
    /// cleared PTE, and after `try_to_unmap_flush` the store meets the migration entry. A
    /// store to a page nobody cached walks, sets the accessed and dirty bits and caches it.
    #[test]
    fn a_cached_translation_outlives_the_pte_until_the_batched_flush() {
        for nr in [2usize, 4] {
            let m = machine(nr, 2);
            assert_eq!(mmu_store(&m, 0, 0, TAG), MmuStore::Cached { pfn: 0 });
            assert_eq!(mmu_store(&m, 0, 1, TAG + 1), MmuStore::Walked { pfn: 1 });
            assert_eq!(mmu_store(&m, 0, 1, TAG + 2), MmuStore::Cached { pfn: 1 });
            m.memmap.page(0)._refcount.inc(); // the migration caller's reference
            let u = migrate_folio_unmap(&m, 0, 1).expect("unmapped");
            assert_eq!(
                m.mms[0].tlb_flush_batched.read(),
                nr as i32,
                "one pending per PTE"
            );
            assert!(matches!(
                Pte::decode(m.mms[0].tables[0].ptes[0].read()),
                Pte::Migration { pfn: 0, .. }
            ));
            assert_eq!(mmu_store(&m, 0, 0, TAG + 3), MmuStore::Cached { pfn: 0 });
            try_to_unmap_flush(&m, &u);
            assert!(matches!(
                mmu_store(&m, 0, 0, TAG + 4),
                MmuStore::Fault(Pte::Migration { pfn: 0, .. })
            ));
            assert_eq!(migrate_folio_move(&m, u), Ok(nr));
            assert_eq!(
                content(&m, nr),
                TAG + 3,
                "the store before the flush was copied"
            );
            assert_eq!(content(&m, nr + 1), TAG + 2);
            assert_eq!(mmu_store(&m, 0, 0, TAG + 5), MmuStore::Walked { pfn: nr });
            check_store_visible(&m, 0, 0, TAG + 5);
            check_quiescent(&m, &[]);
        }
    }

    /// A zap that meets the migration entry pays the pending batch (`flush_tlb_batched_pending`:
    /// flush the mm, record the generation as flushed); the store after it faults in a new page.
    /// With nothing pending, a zap that clears only a migration entry flushes nothing.
    #[test]
    fn zap_pays_the_pending_batch_and_the_store_faults_in_a_new_page() {
        for nr in [2usize, 4] {
            let m = machine(nr, 3);
            m.memmap.page(0)._refcount.inc();
            let u = migrate_folio_unmap(&m, 0, 1).expect("unmapped");
            {
                let _r = m.mms[0].mmap_lock.down_read();
                let z = zap_pmd_range(&m, 0, ZapRange::Page(0));
                assert_eq!((z.migration_entries, z.present_ptes), (1, 0));
            }
            let pending = nr as i32;
            assert_eq!(
                m.mms[0].tlb_flush_batched.read(),
                pending | (pending << TLB_FLUSH_BATCH_FLUSHED_SHIFT)
            );
            assert!(m.observed("flush-tlb-batched-pending-flushed"));
            let s = user_store(&m, 0, 0, TAG, 2 * nr);
            assert!(!s.cached);
            assert_eq!((s.anon_faults, s.pfn), (1, 2 * nr));
            try_to_unmap_flush(&m, &u);
            assert_eq!(migrate_folio_move(&m, u), Ok(nr));
            check_store_visible(&m, 0, 0, TAG);
            // Page 1 (now in the new folio) cached, then its migration entry gone by a zap
            // with nothing pending: the zap clears a present PTE, so it flushes.
            assert_eq!(mmu_store(&m, 0, 1, TAG), MmuStore::Walked { pfn: nr + 1 });
            {
                let _r = m.mms[0].mmap_lock.down_read();
                zap_pmd_range(&m, 0, ZapRange::Page(1));
            }
            assert!(matches!(
                mmu_store(&m, 0, 1, TAG),
                MmuStore::Fault(Pte::None)
            ));
        }
    }

    /// The store oracle: the page must read the last value stored; a lost store is I29, and a
    /// store through a translation to a free page is I8 at the store.
    #[test]
    fn the_store_oracles_report_a_lost_store_and_a_store_to_a_free_page() {
        let m = machine(2, 1);
        assert_eq!(mmu_store(&m, 0, 0, TAG), MmuStore::Cached { pfn: 0 });
        check_store_visible(&m, 0, 0, TAG);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            check_store_visible(&m, 0, 0, TAG + 1);
        }));
        let msg = r.expect_err("a lost store must be reported");
        let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.starts_with("[I29 "), "{msg}");
        // Page 0 back in the allocator with no flush at all (its allocated flag cleared as the
        // allocator does): the cached translation reaches a free page.
        let m = machine(2, 1);
        assert!(m.memmap.pages[0].allocated.test_and_clear_release());
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            mmu_store(&m, 0, 0, TAG);
        }));
        let msg = r.expect_err("a store to a free page must be reported");
        let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.starts_with("[I8 "), "{msg}");
    }
}
