//! Historical races (docs/race-history.md) that need more than one rule reverted.

use thp_checks::engine::Verdict;
use thp_checks::scenarios::{config, default_loom, find, run_scenario};
use thp_model::invariants::Inv;
use thp_model::rules::{Rule, RuleSet};

/// Z01 (GUP-fast vs khugepaged collapse): the stale pin needs both fixes reverted — the
/// PMD re-check on GUP-fast's PTE path (70cbc3cc78a9) and the IRQs-off sync before the old
/// table is reused (2ba99c5e0881). With either one in place, loom within preemption bound 4
/// finds no counterexample (38,753 executions with the sync reverted); with both out it finds
/// I15 (a pinned page replaced). Bound 4, not unbounded: since loom's DPOR was fixed
/// (third_party/loom/PATCHES.md) the unbounded search with one fix reverted no longer ends in
/// the test budget (over 740,000 executions, no counterexample, after 150 s).
#[test]
fn z01_stale_pin_needs_both_fixes_reverted() {
    let s = find("collapse-vs-gup-fast").expect("scenario");
    let loom = thp_checks::engine::EngineSpec::Loom {
        preemption_bound: Some(4),
        max_branches: thp_checks::engine::LOOM_MAX_BRANCHES,
    };
    let run = |rules: RuleSet| run_scenario(s, &config(loom.clone(), rules), None);
    for one in [Rule::GupFastPmdPteRecheck, Rule::CollapseTableSyncOne] {
        let r = run(RuleSet::without(one));
        assert!(
            matches!(r.run.verdict, Verdict::Holds),
            "{:?} alone: {:?}",
            one,
            r.run.message()
        );
    }
    let r = run(RuleSet::without_all(&[
        Rule::GupFastPmdPteRecheck,
        Rule::CollapseTableSyncOne,
    ]));
    let msg = r.run.message().unwrap_or("").to_string();
    assert!(
        matches!(r.run.verdict, Verdict::Counterexample { .. }) && Inv::I15GupFast.matches(&msg),
        "both reverted: {:?} {msg}",
        r.run.verdict
    );
}

/// Z12 (split_huge_pmd invalidates a PMD migration entry). With the fix reverted the split
/// hands the migration entry to `pmdp_invalidate`, whose 6.18 precondition
/// (`VM_WARN_ON_ONCE(!pmd_present)`) catches it on every architecture: loom (unbounded) finds
/// I26 at `pmdp_invalidate` on arm64 and on x86-64 alike. What follows the warning differs (on
/// arm64 the entry then reads as present, on x86 it stays non-present), but no modelled
/// lockless reader is harmed by it: GUP-fast is stopped by `pmd_access_permitted`. So the
/// model shows the rule necessary by the precondition, not by a walker's damage
/// (docs/race-history.md#z12).
#[test]
fn z12_is_caught_by_pmdp_invalidates_precondition_on_both_architectures() {
    use thp_model::kernel::Arch;
    let s = find("split-pmd-migration-entry-vs-gup-fast").expect("scenario");
    assert_eq!(s.arch, Arch::Arm64);
    let rules = RuleSet::without(Rule::SplitPmdInvalidatePresentOnly);
    let x86: &'static thp_checks::scenarios::Scenario = Box::leak(Box::new({
        let mut x = *s;
        x.arch = Arch::X86;
        x
    }));
    for s in [s, x86] {
        let r = run_scenario(s, &config(default_loom(s), rules.clone()), None);
        let msg = r.run.message().unwrap_or("").to_string();
        assert!(
            matches!(r.run.verdict, Verdict::Counterexample { .. })
                && Inv::I26NonPresentAsPresent.matches(&msg)
                && msg.contains("pmdp_invalidate of the non-present PMD"),
            "{}: {:?} {msg}",
            s.arch.name(),
            r.run.verdict
        );
    }
}

/// `write_protect_seq` (57efa1fe5957) orders fork's seqcount store before its pin-count read
/// with `smp_wmb` and the PMD locks' acquisition only. On x86-64 the lock is a LOCK cmpxchg
/// (a full barrier): `fork-vs-gup-fast-pin` holds under loom at preemption bound 5 (the
/// catalogue run).
/// Under the LKMM's weaker ordering (the model's arm64: the lock an ACQUIRE only) loom finds
/// the store-buffering execution: fork reads no pin, GUP-fast reads the old seqcount, and the
/// pin lands on a page the child shares (I16) — the shape of `litmus-sb-wmb-lock`, which the
/// LKMM allows. This test pins both verdicts; docs/memory-model.md says what it does and
/// does not claim about the kernel.
#[test]
fn write_protect_seq_store_buffering_needs_a_full_barrier_on_the_fork_side() {
    use thp_model::kernel::Arch;
    let s = find("fork-vs-gup-fast-pin").expect("scenario");
    assert_eq!(s.arch, Arch::X86);
    let arm64: &'static thp_checks::scenarios::Scenario = Box::leak(Box::new({
        let mut x = *s;
        x.arch = Arch::Arm64;
        x
    }));
    let r = run_scenario(arm64, &config(default_loom(arm64), RuleSet::all_on()), None);
    let msg = r.run.message().unwrap_or("").to_string();
    assert!(
        matches!(r.run.verdict, Verdict::Counterexample { .. })
            && Inv::I16PinnedNotExclusive.matches(&msg),
        "arm64: {:?} {msg}",
        r.run.verdict
    );
    // That it is a weak-memory execution, not a schedule, is proved by the catalogue's x86
    // run (loom, preemption bound 5): the model's x86 only adds barriers, so every
    // sequentially consistent interleaving within that bound is among those it explores. shuttle (sequentially
    // consistent) on arm64 agrees, as a quick extra check.
    let pct = thp_checks::bounds::PCT;
    let r = run_scenario(arm64, &config(pct, RuleSet::all_on()), None);
    assert!(
        matches!(r.run.verdict, Verdict::Holds),
        "{:?}",
        r.run.message()
    );
}

/// PT_RECLAIM's table free (`tlb_remove_table`, rule `table-free-waits-for-gup-fast`) must wait
/// for a grace period that covers IRQs-off sections. On bare x86-64 the TLB flush before it is
/// an IPI, which cannot complete while GUP-fast has IRQs off, so the rule off still holds
/// (loom, unbounded); in a KVM guest the paravirtual flush skips preempted vCPUs, and loom
/// (unbounded) finds GUP-fast reading the freed table (I17).
#[test]
fn pt_reclaim_table_free_needs_the_grace_period_in_a_kvm_guest() {
    use thp_model::kernel::Arch;
    let s = find("gup-fast-vs-dontneed-reclaim").expect("scenario");
    assert_eq!(s.arch, Arch::X86Kvm);
    let rules = RuleSet::without(Rule::TableFreeWaitsForGupFast);
    let r = run_scenario(s, &config(default_loom(s), rules.clone()), None);
    let msg = r.run.message().unwrap_or("").to_string();
    assert!(
        matches!(r.run.verdict, Verdict::Counterexample { .. })
            && Inv::I17TableLifetime.matches(&msg),
        "x86-64-kvm: {:?} {msg}",
        r.run.verdict
    );
    let bare: &'static thp_checks::scenarios::Scenario = Box::leak(Box::new({
        let mut x = *s;
        x.arch = Arch::X86;
        x
    }));
    let r = run_scenario(bare, &config(default_loom(bare), rules), None);
    assert!(
        matches!(r.run.verdict, Verdict::Holds) && r.vacuous.is_none(),
        "x86-64: {:?} {:?} {:?}",
        r.run.verdict,
        r.run.message(),
        r.vacuous
    );
}

/// The `smp_mb` of `__folio_try_share_anon_rmap` (rule `try-share-anon-rmap-mb`) orders the
/// unmapper's clear of the entry before its pin-count read. Generic code may assume no other
/// barrier there (`--arch portable`: relaxed exchange, a flush that orders nothing), and loom
/// finds the pin on a page the split made non-exclusive (I16). At PMD level x86's
/// `pmdp_establish` is an `xchg`, and arm64's `pmdp_invalidate` flushes with a closing
/// `dsb(ish)`: on both the rule off holds at the same bound (docs/memory-model.md).
#[test]
fn try_share_mb_is_needed_only_where_nothing_else_orders() {
    use thp_model::kernel::Arch;
    let rules = RuleSet::without(Rule::TryShareAnonRmapMb);
    let caught = |name: &str| {
        let s = find(name).expect("scenario");
        let r = run_scenario(s, &config(default_loom(s), rules.clone()), None);
        let msg = r.run.message().unwrap_or("").to_string();
        assert!(
            matches!(r.run.verdict, Verdict::Counterexample { .. })
                && Inv::I16PinnedNotExclusive.matches(&msg),
            "{name} ({}): {:?} {msg}",
            s.arch.name(),
            r.run.verdict
        );
        s
    };
    let s = caught("folio-split-vs-gup-fast-pmd-portable");
    assert_eq!(s.arch, Arch::Portable);
    for arch in [Arch::Arm64, Arch::X86] {
        let on: &'static thp_checks::scenarios::Scenario = Box::leak(Box::new({
            let mut x = *s;
            x.arch = arch;
            x
        }));
        let r = run_scenario(on, &config(default_loom(on), rules.clone()), None);
        assert!(
            matches!(r.run.verdict, Verdict::Holds),
            "{}: {:?} {:?}",
            arch.name(),
            r.run.verdict,
            r.run.message()
        );
    }
}
