//! The rule catalogue, the scenarios and the docs stay in step: every rule has catching
//! scenarios (`scenarios::catching`), each of them catches the rule (with the rule's invariant) under the engine the
//! rule names, and docs/locking-rules.md has a section for it.

use thp_checks::scenarios::catching::catching;
use thp_model::rules::Rule;

/// The rule-off matrix (`thpcheck defects`): every rule is caught, with one of its expected
/// invariants, by every engine that must catch it, in every scenario it names, and never only by
/// an assertion behind its own switch (`thp_checks::own_switch`).
#[test]
fn every_rule_is_caught_by_its_scenarios() {
    let rows = thp_checks::defects::matrix().unwrap();
    for r in Rule::ALL {
        assert!(!catching(*r).is_empty(), "{}: no catching scenario", r.id());
        assert!(
            rows.iter().any(|row| row.rule == r.id() && row.caught),
            "{} is never caught",
            r.id()
        );
    }
    for row in &rows {
        // Where the catch was raised must be known, or "not behind its own switch" is unchecked.
        if row.caught {
            let rule = Rule::ALL.iter().find(|r| r.id() == row.rule).expect("rule");
            assert!(
                thp_checks::own_switch::catch_is_behind_own_switch(&row.site, *rule).is_some(),
                "{} in {} under {}: the catch's site {:?} cannot be read",
                row.rule,
                row.scenario,
                row.engine,
                row.site
            );
        }
        assert!(
            row.ok(),
            "{} not caught by {} under {} ({}): {:?}",
            row.rule,
            row.scenario,
            row.engine,
            row.bound,
            row.message
        );
    }
}

#[test]
fn docs_cover_every_rule() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/locking-rules.md"
    ))
    .unwrap();
    for r in Rule::ALL {
        let info = r.info();
        assert!(
            doc.contains(&format!("## {}", info.id)),
            "docs/locking-rules.md lacks a section for {}",
            info.id
        );
        for s in catching(*r) {
            let s = s.name;
            assert!(
                doc.contains(s),
                "docs/locking-rules.md does not name scenario {s} for {}",
                info.id
            );
        }
    }
}

/// The generated docs are committed up to date (rust-analyzer's `ensure_file_contents` style).
#[test]
fn generated_docs_are_fresh() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for (path, gen) in thp_checks::docs::GENERATED {
        let have = std::fs::read_to_string(root.join(path)).unwrap_or_default();
        let want = thp_checks::docs::generate_for_tests(path, *gen, &have);
        assert!(
            have == want,
            "{path} is stale: run `cargo run --release -- docs --write` and commit the result"
        );
    }
}

/// Every historical race the docs say the model re-creates: its scenario holds with the real
/// protocol (the scenario tests) and fails under loom, at its default bound, with all the named
/// rules switched off together.
#[test]
fn historical_races_are_recreated() {
    use thp_checks::docs::HISTORICAL_RACES;
    use thp_checks::engine::Verdict;
    use thp_checks::scenarios::{config, default_loom, find, run_scenario};
    use thp_model::rules::RuleSet;
    for h in HISTORICAL_RACES {
        let Some(name) = h.scenario else {
            assert!(h.rules.is_empty(), "{}", h.id);
            continue;
        };
        let s = find(name).unwrap_or_else(|| panic!("{}: no scenario {name}", h.id));
        let rules: Vec<Rule> = h
            .rules
            .iter()
            .map(|r| Rule::from_id(r).unwrap_or_else(|| panic!("{}: no rule {r}", h.id)))
            .collect();
        assert!(!rules.is_empty(), "{}", h.id);
        let r = run_scenario(
            s,
            &config(default_loom(s), RuleSet::without_all(&rules)),
            None,
        );
        assert!(
            matches!(r.run.verdict, Verdict::Counterexample { .. }),
            "{} ({name} without {:?}): {:?}",
            h.id,
            h.rules,
            r.run.verdict
        );
    }
}

/// Every scenario a family declares is in the ordered catalogue, once, and nothing else is.
#[test]
fn families_make_up_the_catalogue() {
    use thp_checks::scenarios::{FAMILIES, SCENARIOS};
    let mut declared: Vec<&str> = FAMILIES
        .iter()
        .flat_map(|f| f.iter().map(|s| s.name))
        .collect();
    let mut listed: Vec<&str> = SCENARIOS.iter().map(|s| s.name).collect();
    declared.sort_unstable();
    listed.sort_unstable();
    assert_eq!(declared, listed);
    let n = listed.len();
    listed.dedup();
    assert_eq!(listed.len(), n, "a scenario is listed twice");
}

/// The test suite's smaller searches (`Scenario::test_loom_bound`) keep their promises: below
/// the scenario's default bound, never on a scenario a finding cites (docs/findings.md quotes
/// its default search), never inherited by a scenario built from another (`..X`) unless its
/// own search is as large.
#[test]
fn test_loom_bounds_are_smaller_and_not_on_findings() {
    use thp_checks::scenarios::SCENARIOS;
    for s in SCENARIOS {
        let Some(tb) = s.test_loom_bound else {
            continue;
        };
        if let Some(b) = s.loom_bound {
            assert!(
                tb < b,
                "{}: test_loom_bound {tb} is not below its default bound {b}",
                s.name
            );
        }
        for f in thp_checks::findings::FINDINGS {
            assert!(
                !thp_checks::scenarios::catching::catching(f.fix)
                    .iter()
                    .any(|c| c.name == s.name),
                "{}: a finding ({}) cites it, so the suite must run its default search",
                s.name,
                f.id
            );
        }
    }
}
