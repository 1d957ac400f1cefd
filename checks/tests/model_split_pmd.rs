//! split-pmd-vs-aware-walker: holds under loom (unbounded, N=2) and shuttle (N=4), reaches both
//! walker outcomes, and fails with I5 when `pmd-trans-huge-lock-recheck` is off.

use thp_checks::engine::{EngineSpec, Verdict, LOOM_MAX_BRANCHES};
use thp_checks::scenarios::{config, find, run_scenario};
use thp_model::rules::{Rule, RuleSet};

fn engines() -> Vec<EngineSpec> {
    vec![
        EngineSpec::Loom {
            preemption_bound: None,
            max_branches: LOOM_MAX_BRANCHES,
        },
        EngineSpec::ShuttlePct {
            seed: 1,
            depth: 3,
            iterations: 2000,
        },
        EngineSpec::ShuttleRandom {
            seed: 1,
            iterations: 2000,
        },
    ]
}

#[test]
fn holds_with_other_subpage_counts() {
    let s = find("split-pmd-vs-aware-walker").unwrap();
    for nr in [2, 4, 8] {
        let r = run_scenario(
            s,
            &config(
                EngineSpec::ShuttlePct {
                    seed: 2,
                    depth: 3,
                    iterations: 500,
                },
                RuleSet::all_on(),
            ),
            Some(nr),
        );
        assert!(
            matches!(r.run.verdict, Verdict::Holds),
            "nr={nr}: {:?}",
            r.run.message()
        );
    }
}

#[test]
fn without_pmd_trans_huge_lock_recheck_is_caught() {
    let s = find("split-pmd-vs-aware-walker").unwrap();
    for e in engines() {
        let r = run_scenario(
            s,
            &config(e.clone(), RuleSet::without(Rule::PmdTransHugeLockRecheck)),
            None,
        );
        let m = r
            .run
            .message()
            .unwrap_or_else(|| panic!("{}: not caught", e.name()));
        assert!(
            m.starts_with("[I5 huge-pmd-stability]"),
            "{}: {m}",
            e.name()
        );
        match r.run.verdict {
            Verdict::Counterexample { trace, .. } => {
                assert!(
                    trace.iter().any(|ev| ev.func == "pmd_populate"),
                    "trace lacks the split"
                );
                assert!(trace.iter().any(|ev| ev.func == "follow_pmd_mask"));
            }
            _ => unreachable!(),
        }
    }
}
