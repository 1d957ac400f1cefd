//! Every model scenario holds with the real protocol under loom (its default bound) and
//! shuttle PCT, and reaches every outcome it declares (no vacuous pass).

use thp_checks::engine::{EngineSpec, Verdict};
use thp_checks::scenarios::{config, default_loom, run_scenario, SCENARIOS};
use thp_model::rules::RuleSet;

#[test]
fn every_scenario_holds_under_loom_at_its_default_bound() {
    for s in SCENARIOS {
        let r = run_scenario(s, &config(default_loom(s), RuleSet::all_on()), None);
        assert!(
            matches!(r.run.verdict, Verdict::Holds),
            "{}: {:?}",
            s.name,
            r.run.message()
        );
        assert!(r.vacuous.is_none(), "{:?}", r.vacuous);
        eprintln!("{}", r.run.line(s.name));
    }
}

#[test]
fn every_scenario_holds_under_shuttle_pct() {
    for s in SCENARIOS {
        for seed in [0, 1] {
            let e = EngineSpec::ShuttlePct {
                seed,
                depth: 3,
                iterations: 2000,
            };
            let r = run_scenario(s, &config(e, RuleSet::all_on()), None);
            assert!(
                matches!(r.run.verdict, Verdict::Holds),
                "{} seed {seed}: {:?}",
                s.name,
                r.run.message()
            );
            assert!(r.vacuous.is_none(), "{:?}", r.vacuous);
        }
    }
}
