//! Historical races (../shared/historical-races.md) that need more than one rule reverted.

use thp_checks::engine::Verdict;
use thp_checks::scenarios::{config, default_loom, find, run_scenario};
use thp_model::invariants::Inv;
use thp_model::rules::{Rule, RuleSet};

/// Z01 (GUP-fast vs khugepaged collapse): the stale pin needs both fixes reverted — the
/// PMD re-check on GUP-fast's PTE path (70cbc3cc78a9) and the IRQs-off sync before the old
/// table is reused (2ba99c5e0881). With either one in place, loom (unbounded) finds no
/// counterexample; with both out it finds I15 (a pinned page replaced).
#[test]
fn z01_stale_pin_needs_both_fixes_reverted() {
    let s = find("collapse-vs-gup-fast").expect("scenario");
    let run = |rules: RuleSet| run_scenario(s, &config(default_loom(s), rules), None);
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
