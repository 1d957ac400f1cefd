//! Findings (docs/findings.md): each candidate fix has a finding; without the fix (Linux 6.18.2
//! as released) the finding's scenario, and every scenario that carries the fix, fails under
//! loom at its default bound with the fix's invariant, raised by a check that does not sit
//! behind the fix's switch. With the fix each holds: the scenario tests run them as declared.

use thp_checks::findings::FINDINGS;
use thp_checks::scenarios::catching::catching;
use thp_checks::scenarios::{config, default_loom, run_scenario, SCENARIOS};
use thp_model::rules::{Rule, RuleSet};

#[test]
fn every_candidate_fix_has_one_finding_and_is_not_a_kernel_rule() {
    for fix in Rule::FIXES {
        assert!(!Rule::ALL.contains(fix), "{fix:?} is in Rule::ALL");
        assert!(fix.is_candidate_fix());
        assert_eq!(
            FINDINGS.iter().filter(|f| f.fix == *fix).count(),
            1,
            "{}: one finding",
            fix.id()
        );
        assert!(!catching(*fix).is_empty(), "{}: no scenario", fix.id());
        // A candidate fix is off in the real protocol and on when applied.
        assert!(!RuleSet::all_on().is_on(*fix));
        assert!(RuleSet::all_on().with_fixes(&[*fix]).is_on(*fix));
        assert!(!RuleSet::without(*fix).with_fixes(&[*fix]).is_on(*fix));
        assert_eq!(Rule::from_id(fix.id()), Some(*fix));
    }
    for f in FINDINGS {
        assert!(f.fix.is_candidate_fix(), "{}", f.id);
        for s in catching(f.fix) {
            assert!(
                s.fixes.contains(&f.fix),
                "{}: scenario {} must run with the fix",
                f.id,
                s.name
            );
        }
    }
}

#[test]
fn without_its_fix_every_carrier_fails_as_the_finding_says() {
    for f in FINDINGS {
        let info = f.fix.info();
        for s in SCENARIOS.iter().filter(|s| s.fixes.contains(&f.fix)) {
            // In the default kernel configuration, else in the other one (a carrier must fail
            // in at least one).
            let mut res = run_scenario(s, &config(default_loom(s), RuleSet::without(f.fix)), None);
            if matches!(res.run.verdict, thp_checks::engine::Verdict::Holds) {
                let mut cfg = config(default_loom(s), RuleSet::without(f.fix));
                cfg.config = thp_model::kernel::KernelConfig::NoPageMapcount;
                res = run_scenario(s, &cfg, None);
            }
            let message = res.run.message().unwrap_or("").to_string();
            assert!(
                info.invariants.iter().any(|i| i.matches(&message)),
                "{} ({}): {} without the fix: {} ({message})",
                f.id,
                info.id,
                s.name,
                res.run.verdict.label()
            );
            let site = res.run.site().unwrap_or("");
            assert_eq!(
                thp_checks::own_switch::catch_is_behind_own_switch(site, f.fix),
                Some(false),
                "{}: {} caught at {site}, behind the fix's own switch (or unreadable)",
                f.id,
                s.name
            );
        }
    }
}
