//! The rule catalogue, the scenarios and the docs stay in step: every rule names scenarios
//! that exist, each of them catches the rule (with the rule's invariant) under the engine the
//! rule names, and docs/locking-rules.md has a section for it.

use thp_checks::engine::{EngineSpec, LOOM_MAX_BRANCHES};
use thp_checks::scenarios::{config, find, run_scenario};
use thp_model::rules::{CatchingEngine, Rule, RuleSet};

#[test]
fn every_rule_is_caught_by_its_scenarios() {
    for r in Rule::ALL {
        let info = r.info();
        assert!(
            !info.scenarios.is_empty(),
            "{}: no catching scenario",
            info.id
        );
        for name in info.scenarios {
            let s = find(name).unwrap_or_else(|| panic!("{}: unknown scenario {name}", info.id));
            let mut engines = vec![EngineSpec::Loom {
                preemption_bound: s.loom_bound,
                max_branches: LOOM_MAX_BRANCHES,
            }];
            if info.engine == CatchingEngine::Any {
                engines.push(EngineSpec::ShuttlePct {
                    seed: 0,
                    depth: 3,
                    iterations: 2000,
                });
            }
            for e in engines {
                let res = run_scenario(s, &config(e.clone(), RuleSet::without(*r)), None);
                let m = res.run.message().unwrap_or_else(|| {
                    panic!("{} not caught by {name} under {}", info.id, e.name())
                });
                assert!(
                    info.invariants.iter().any(|i| i.matches(m)),
                    "{} under {}: expected one of {:?}, got {m}",
                    info.id,
                    e.name(),
                    info.invariants.iter().map(|i| i.tag()).collect::<Vec<_>>()
                );
            }
        }
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
        for s in info.scenarios {
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
        let want = gen();
        let have = std::fs::read_to_string(root.join(path)).unwrap_or_default();
        assert!(
            have == want,
            "{path} is stale: run `cargo run --release -- docs --write` and commit the result"
        );
    }
}
