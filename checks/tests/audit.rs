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
            tests_only: false,
        },
    );
    assert!(a.missed > 0, "{a:?}");
    assert!(!a.ok());
}

/// The rule-off comparison can fail: loom with preemption bound 0 cannot interleave the PT
/// reclaim's PMD trylock with a CPU inside `pmd_install`, so it misses the counterexample of
/// `pt-reclaim-pmd-trylock` that shuttle finds, and the audit says so.
#[test]
fn the_audit_finds_a_rule_off_counterexample_a_weaker_search_misses() {
    let s = find("pmd-install-vs-dontneed-reclaim").expect("scenario");
    let rule = thp_model::rules::Rule::from_id("pt-reclaim-pmd-trylock").expect("rule");
    let bounded = EngineSpec::Loom {
        preemption_bound: Some(0),
        max_branches: LOOM_MAX_BRANCHES,
    };
    let a = thp_checks::audit::compare_rule(
        rule,
        s,
        bounded,
        AuditBudget {
            iterations: 1_000,
            dfs_cap: 0,
            tests_only: false,
        },
    );
    // The weakened loom ran to its end and found nothing; shuttle's catch is the rule's own
    // invariant, not an unrelated failure.
    assert!(
        !a.loom_caught && a.loom_verdict == "holds" && a.miss && a.expected_catches,
        "{a:?}"
    );
    let unbounded = thp_checks::audit::audit_rule(
        rule,
        s,
        AuditBudget {
            iterations: 1_000,
            dfs_cap: 0,
            tests_only: false,
        },
    );
    assert!(
        unbounded.loom_caught && !unbounded.miss && unbounded.expected_catches,
        "{unbounded:?}"
    );
}

/// The reduction comparison can fail: a reduced search that cannot preempt (bound 0) never
/// runs a `spin_trylock` while another CPU holds the lock, and the comparison with the full
/// search reports the outcome it missed.
#[test]
fn the_audit_finds_litmus_outcomes_a_weaker_search_misses() {
    let t = thp_checks::litmus::find("litmus-trylock-fails-while-held").expect("litmus test");
    let a = thp_checks::audit::compare_litmus(t, Some(0));
    assert_eq!(a.missed, vec!["trylock=fail".to_string()], "{a:?}");
    assert!(thp_checks::audit::audit_litmus(t).missed.is_empty());
}
