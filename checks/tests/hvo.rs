//! HugeTLB vmemmap optimization (mm/hugetlb_vmemmap.c), sequentially, with exact states:
//! optimize and restore of a folio whose vmemmap spans one or two vmemmap PMDs (leaf or
//! already split), `-ENOMEM` injected at every allocation point of both, and the speculative
//! getter's answers before and after.

use thp_model::mm::hugetlb_vmemmap::{
    check_folio_view, check_mapping, get_page_unless_zero, hugetlb_vmemmap_optimize_folio,
    hugetlb_vmemmap_restore_folio, vmemmap_remap_split, AllocFail, Hvo, HvoError, NotWritable,
    PmdSplit, SpecGet, VPmd, PTRS_PER_PTE, STRUCT_PAGES_PER_VMEMMAP_PAGE,
};

/// (struct pages, presplit) shapes: one vmemmap PMD, two vmemmap PMDs; leaf or already split.
const SHAPES: &[(usize, bool)] = &[(4, false), (4, true), (8, false), (8, true)];

fn nv(nr: usize) -> usize {
    nr / STRUCT_PAGES_PER_VMEMMAP_PAGE
}

fn allocated(hv: &Hvo, p: usize) -> bool {
    hv.phys[p].allocated.read()
}

/// Allocations an optimize makes: the new head vmemmap page, then one PTE table per leaf PMD.
fn optimize_allocs(nr: usize, presplit: bool) -> usize {
    1 + if presplit { 0 } else { nv(nr) / PTRS_PER_PTE }
}

/// The state of a folio whose optimize failed before touching a PTE, or never ran.
fn assert_unoptimized_original(hv: &Hvo, split_pmds: usize) {
    for v in 0..nv(hv.nr) {
        assert_eq!(hv.translate(v), (v, false), "vmemmap page {v}");
        assert!(allocated(hv, v), "original vmemmap page {v} freed");
    }
    for (k, pmd) in hv.pmds.iter().enumerate() {
        let want = if k < split_pmds {
            VPmd::Table(k)
        } else {
            VPmd::Leaf(k * PTRS_PER_PTE)
        };
        assert_eq!(VPmd::decode(pmd.read()), want, "pmd {k}");
    }
    assert_eq!(hv.key.read(), 0);
    assert!(!hv.folio_test_hugetlb_vmemmap_optimized());
    check_folio_view(hv, 0);
    check_mapping(hv);
}

/// The state after a successful optimize: the head vmemmap page is `reuse` (read-write), every
/// tail vmemmap page maps it read-only, every PMD is split, the old pages are freed.
fn assert_optimized(hv: &Hvo, reuse: usize) {
    let n = nv(hv.nr);
    assert_eq!(hv.translate(0), (reuse, false));
    for v in 1..n {
        assert_eq!(hv.translate(v), (reuse, true), "vmemmap page {v}");
    }
    for v in 0..n {
        assert_eq!(allocated(hv, v), v == reuse, "original vmemmap page {v}");
    }
    for (k, pmd) in hv.pmds.iter().enumerate() {
        assert_eq!(VPmd::decode(pmd.read()), VPmd::Table(k), "pmd {k}");
    }
    assert_eq!(hv.key.read(), 1);
    assert!(hv.folio_test_hugetlb_vmemmap_optimized());
    assert!(hv.tlb_owed().is_empty());
    check_folio_view(hv, 0);
    check_mapping(hv);
}

#[test]
fn optimize_then_restore_exact_state() {
    for &(nr, presplit) in SHAPES {
        let hv = Hvo::new(nr, 2 * nr, AllocFail::None, presplit);
        assert_unoptimized_original(&hv, if presplit { nv(nr) / PTRS_PER_PTE } else { 0 });
        assert_eq!(hugetlb_vmemmap_optimize_folio(&hv), Ok(()));
        assert_eq!(hv.nr_allocs(), optimize_allocs(nr, presplit));
        let copy = nv(nr); // the first never-used page
        assert_optimized(&hv, copy);
        // Optimizing again is a no-op.
        assert_eq!(hugetlb_vmemmap_optimize_folio(&hv), Ok(()));
        assert_eq!(hv.nr_allocs(), optimize_allocs(nr, presplit));

        assert_eq!(hugetlb_vmemmap_restore_folio(&hv), Ok(()));
        assert_eq!(hv.nr_allocs(), optimize_allocs(nr, presplit) + nv(nr) - 1);
        assert_eq!(hv.key.read(), 0);
        assert!(!hv.folio_test_hugetlb_vmemmap_optimized());
        assert_eq!(hv.translate(0), (copy, false), "the head copy stays");
        let mut seen = vec![copy];
        for v in 1..nv(nr) {
            let (p, ro) = hv.translate(v);
            assert!(
                !ro && p > copy && !seen.contains(&p),
                "vmemmap page {v} -> {p}"
            );
            seen.push(p);
        }
        check_folio_view(&hv, 0);
        check_mapping(&hv);
        // Restoring again is a no-op.
        assert_eq!(hugetlb_vmemmap_restore_folio(&hv), Ok(()));
    }
}

/// `-ENOMEM` at every allocation point of `vmemmap_remap_free`.
#[test]
fn optimize_with_enomem_at_every_allocation_point() {
    for &(nr, presplit) in SHAPES {
        for fail in 0..optimize_allocs(nr, presplit) {
            let hv = Hvo::new(nr, 2 * nr, AllocFail::Nth(fail), presplit);
            let r = hugetlb_vmemmap_optimize_folio(&hv);
            let what = format!("nr {nr} presplit {presplit} fail #{fail}");
            if fail == 0 {
                // No new head page: the head vmemmap page is reused in place.
                assert_eq!(r, Ok(()), "{what}");
                assert_optimized(&hv, 0);
                continue;
            }
            assert_eq!(r, Err(HvoError::NoMem), "{what}");
            let failed_pmd = fail - 1;
            let copy = nv(nr);
            if failed_pmd == 0 {
                // Nothing walked: the mapping is untouched, the head copy freed.
                assert!(!allocated(&hv, copy), "{what}: the head copy must be freed");
                assert_unoptimized_original(&hv, 0);
            } else {
                // PMD 0 was split and its PTEs remapped, then rolled back: the head vmemmap page
                // stays on the copy (same contents), every other page is its own again.
                assert_eq!(hv.translate(0), (copy, false), "{what}");
                assert!(
                    !allocated(&hv, 0),
                    "{what}: the old head vmemmap page is freed"
                );
                for v in 1..nv(nr) {
                    assert_eq!(hv.translate(v), (v, false), "{what}: vmemmap page {v}");
                    assert!(allocated(&hv, v));
                }
                for k in 0..hv.pmds.len() {
                    let want = if k < failed_pmd {
                        VPmd::Table(k)
                    } else {
                        VPmd::Leaf(k * PTRS_PER_PTE)
                    };
                    assert_eq!(VPmd::decode(hv.pmds[k].read()), want, "{what}: pmd {k}");
                }
                assert_eq!(hv.key.read(), 0);
                assert!(!hv.folio_test_hugetlb_vmemmap_optimized());
                assert!(hv.tlb_owed().is_empty());
                check_folio_view(&hv, 0);
                check_mapping(&hv);
            }
            // A later optimize (no failure left) succeeds.
            assert_eq!(hugetlb_vmemmap_optimize_folio(&hv), Ok(()), "{what}: retry");
            check_folio_view(&hv, 0);
            check_mapping(&hv);
        }
    }
}

/// `-ENOMEM` at every allocation point of `alloc_vmemmap_page_list` (restore): the folio stays
/// optimized, exactly as before, and the pages taken are given back.
#[test]
fn restore_with_enomem_at_every_allocation_point() {
    for &(nr, presplit) in SHAPES {
        let base = optimize_allocs(nr, presplit);
        for i in 0..nv(nr) - 1 {
            let hv = Hvo::new(nr, 2 * nr, AllocFail::Nth(base + i), presplit);
            assert_eq!(hugetlb_vmemmap_optimize_folio(&hv), Ok(()));
            let copy = nv(nr);
            assert_eq!(hugetlb_vmemmap_restore_folio(&hv), Err(HvoError::NoMem));
            assert_optimized(&hv, copy);
            for p in copy + 1..hv.phys.len() {
                assert!(
                    !allocated(&hv, p),
                    "restore page {p} leaked after -ENOMEM #{i}"
                );
            }
            assert_eq!(hugetlb_vmemmap_restore_folio(&hv), Ok(()), "retry");
            assert_eq!(hv.key.read(), 0);
            check_folio_view(&hv, 0);
            check_mapping(&hv);
        }
    }
}

/// What `get_page_unless_zero` answers on each struct page before HVO, after HVO with the folio
/// in use (refcount 1), and after restore.
#[test]
fn speculative_getter_answers() {
    for &(nr, presplit) in SHAPES {
        let hv = Hvo::new(nr, 2 * nr, AllocFail::None, presplit);
        for pfn in 0..nr {
            assert_eq!(get_page_unless_zero(&hv, pfn).what, SpecGet::KeyOffReadZero);
        }
        assert_eq!(hugetlb_vmemmap_optimize_folio(&hv), Ok(()));
        hv.folio_ref_unfreeze(1);
        for pfn in 0..nr {
            let got = get_page_unless_zero(&hv, pfn).what;
            let want = if pfn == 0 {
                SpecGet::Got
            } else if pfn % STRUCT_PAGES_PER_VMEMMAP_PAGE == 0 {
                SpecGet::NotWritable(NotWritable::FakeHead) // aliases the head: count 1
            } else {
                SpecGet::NotWritable(NotWritable::Count)
            };
            assert_eq!(got, want, "nr {nr} pfn {pfn}");
        }
        check_folio_view(&hv, 1);
        assert!(hv.folio_ref_freeze(1));
        assert_eq!(hugetlb_vmemmap_restore_folio(&hv), Ok(()));
        for pfn in 0..nr {
            assert_eq!(get_page_unless_zero(&hv, pfn).what, SpecGet::KeyOffReadZero);
        }
        check_folio_view(&hv, 0);
        check_mapping(&hv);
    }
}

/// Historical race Z09 (bd225530a4c7, "mm/hugetlb_vmemmap: fix race with speculative PFN
/// walkers"): without `synchronize_rcu` a walker that saw the static key off goes straight to
/// `atomic_add_unless`, and after the remap and the unfreeze it reads the head's count through
/// the read-only fake head and writes to it. Both engines find it; with the fix it holds.
#[test]
fn z09_hvo_vs_speculative_get_page_unless_zero() {
    use thp_checks::docs::DOC_PCT;
    use thp_checks::engine::Verdict;
    use thp_checks::scenarios::{config, default_loom, find, run_scenario};
    use thp_model::invariants::Inv;
    use thp_model::rules::{Rule, RuleSet};

    let s = find("hvo-optimize-vs-pfn-walker").unwrap();
    for e in [default_loom(s), DOC_PCT] {
        let r = run_scenario(
            s,
            &config(e.clone(), RuleSet::without(Rule::HvoSynchronizeRcu)),
            None,
        );
        match &r.run.verdict {
            Verdict::Counterexample { message, trace, .. } => {
                assert!(Inv::I18WriteToReadOnlyVmemmap.matches(message), "{message}");
                let text: Vec<String> = trace.iter().map(|ev| ev.to_string()).collect();
                // The walker took the key-off path; the remap and the unfreeze happened. (Under
                // loom the log is in execution order, and the walker's relaxed view of the key
                // may be stale, so only the events are asserted, not their order.)
                for what in ["static key off", "ro: true", "folio_ref_unfreeze"] {
                    assert!(
                        text.iter().any(|l| l.contains(what)),
                        "{}: no `{what}` in {text:#?}",
                        e.name()
                    );
                }
            }
            v => panic!("{} did not find Z09: {}", e.name(), v.label()),
        }
        let fixed = run_scenario(s, &config(e, RuleSet::all_on()), None);
        assert!(matches!(fixed.run.verdict, Verdict::Holds));
        assert!(fixed.vacuous.is_none(), "{:?}", fixed.vacuous);
    }
}

/// The batch form's pre-split (`vmemmap_remap_split`, e.g. for a neighbour sharing the vmemmap
/// PMD) splits every leaf PMD once, with one table each; a later optimize finds them split and
/// allocates only the head copy; `-ENOMEM` in the pre-split leaves the PMD a leaf.
#[test]
fn presplit_then_optimize_exact_state() {
    for nr in [4usize, 8] {
        let npmd = nv(nr) / PTRS_PER_PTE;
        let hv = Hvo::new(nr, 2 * nr, AllocFail::None, false);
        assert_eq!(
            vmemmap_remap_split(&hv),
            Ok(vec![PmdSplit::Populated; npmd])
        );
        assert_eq!(
            vmemmap_remap_split(&hv),
            Ok(vec![PmdSplit::AlreadySplit; npmd])
        );
        assert_unoptimized_original(&hv, npmd);
        let allocated_tables = |hv: &Hvo| hv.tables.iter().filter(|t| t.allocated.read()).count();
        assert_eq!(allocated_tables(&hv), npmd);
        assert_eq!(hv.nr_allocs(), npmd);
        assert_eq!(hugetlb_vmemmap_optimize_folio(&hv), Ok(()));
        assert_eq!(hv.nr_allocs(), npmd + 1);
        assert_eq!(allocated_tables(&hv), npmd);
        assert_optimized(&hv, nv(nr));

        let hv = Hvo::new(nr, 2 * nr, AllocFail::Nth(0), false);
        assert_eq!(vmemmap_remap_split(&hv), Err(HvoError::NoMem));
        assert_unoptimized_original(&hv, 0);
        assert_eq!(allocated_tables(&hv), 0);
    }
}

/// A shuttle counterexample of an HVO rule replays from its token to the same invariant and the
/// same trace (rule `page-count-writable-refcount-first` off: the walker checks for a fake head
/// before the remap and reads the unfrozen count through it after).
#[test]
fn hvo_counterexample_replays() {
    use thp_checks::docs::DOC_PCT;
    use thp_checks::engine::{EngineSpec, Verdict};
    use thp_checks::scenarios::{config, find, run_scenario};
    use thp_model::invariants::Inv;
    use thp_model::rules::{Rule, RuleSet};

    let s = find("hvo-optimize-vs-pfn-walker").unwrap();
    let rules = RuleSet::without(Rule::PageCountWritableRefcountFirst);
    let found = run_scenario(s, &config(DOC_PCT, rules.clone()), None);
    let Verdict::Counterexample {
        message,
        trace,
        schedule: Some(token),
        ..
    } = found.run.verdict
    else {
        panic!(
            "no replayable counterexample: {}",
            found.run.verdict.label()
        );
    };
    assert!(
        Inv::I18WriteToReadOnlyVmemmap.matches(&message),
        "{message}"
    );
    let replayed = run_scenario(
        s,
        &config(EngineSpec::ShuttleReplay { schedule: token }, rules),
        None,
    );
    match replayed.run.verdict {
        Verdict::Counterexample {
            message: m,
            trace: t,
            ..
        } => {
            assert_eq!(m, message);
            assert_eq!(t, trace);
        }
        v => panic!("replay did not reproduce it: {}", v.label()),
    }
}
