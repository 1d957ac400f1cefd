//! The engines check each other (`thpcheck audit`, docs/bounds.md "Engine audit").

use thp_checks::audit::{compare_states, AuditBudget};
use thp_checks::engine::{EngineSpec, LOOM_MAX_BRANCHES};
use thp_checks::scenarios::find;

/// At the test suite's budget: no final state, rule-off counterexample or litmus outcome that
/// one engine reaches and the other misses.
#[test]
fn the_engines_agree_on_every_scenario_rule_and_litmus_test() {
    let r = thp_checks::docs::ci_audit();
    let bad: Vec<String> = r
        .states
        .iter()
        .filter(|s| !s.ok())
        .map(|s| {
            format!(
                "{}: {} missed, e.g. {:?}; {:?}",
                s.scenario, s.missed, s.example, s.engines
            )
        })
        .chain(
            r.rules
                .iter()
                .filter(|c| c.miss)
                .map(|c| format!("{} in {}: {:?}", c.rule, c.scenario, c)),
        )
        .chain(
            r.litmus
                .iter()
                .filter(|l| !l.missed.is_empty())
                .map(|l| format!("{l:?}")),
        )
        .collect();
    assert!(bad.is_empty(), "engine misses:\n{}", bad.join("\n"));
    assert!(r.states.iter().filter(|s| s.skipped.is_none()).count() >= 20);
}

/// The comparison can fail: loom with preemption bound 0 (one schedule per choice of who
/// starts) misses final states shuttle reaches, and the audit says so.
#[test]
fn the_audit_finds_states_a_weaker_search_misses() {
    let s = find("split-pmd-vs-aware-walker").expect("scenario");
    let bounded = EngineSpec::Loom {
        preemption_bound: Some(0),
        max_branches: LOOM_MAX_BRANCHES,
    };
    let a = compare_states(
        s,
        bounded,
        AuditBudget {
            iterations: 500,
            dfs_cap: 2_000,
        },
    );
    assert!(a.missed > 0, "{a:?}");
    assert!(!a.ok());
}
