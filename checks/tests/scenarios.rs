//! Every model scenario holds with the real protocol under loom (its default bound), shuttle
//! PCT and shuttle random, and reaches every outcome it declares (no vacuous pass): one test
//! per scenario, `scenarios::each::<name with underscores>`.

use thp_checks::bounds;
use thp_checks::engine::{EngineSpec, RunResult, Verdict};
use thp_checks::scenarios::{config, default_loom, run_scenario, Scenario};
use thp_model::rules::RuleSet;

/// Run `s` with the real protocol under `engine` and require that it holds (and, if
/// `reach_all`, that it reached every declared outcome).
fn holds(
    s: &'static Scenario,
    engine: EngineSpec,
    nr: Option<usize>,
    reach_all: bool,
) -> RunResult {
    let r = run_scenario(s, &config(engine.clone(), RuleSet::all_on()), nr);
    assert!(
        matches!(r.run.verdict, Verdict::Holds),
        "{} under {} ({}): {:?}",
        s.name,
        engine.name(),
        engine.bound(),
        r.run.message()
    );
    if reach_all {
        assert!(r.vacuous.is_none(), "{:?}", r.vacuous);
    }
    r.run
}

/// One scenario with the real protocol: its default loom run (shared with docs/bounds.md and
/// the audit, one run per process; or the smaller one of its `test_loom_bound`), shuttle PCT at the default bounds with seeds 0 and 1 (every
/// declared outcome reached), and shuttle's random scheduler (fixed seed).
fn scenario_holds(s: &'static Scenario) {
    if thp_checks::scenarios::default_loom_in_tests(s) {
        let r = &thp_checks::scenarios::default_loom_run(s).0;
        assert!(
            matches!(r.run.verdict, Verdict::Holds),
            "{} under loom ({}): {:?}",
            s.name,
            default_loom(s).bound(),
            r.run.message()
        );
        assert!(r.vacuous.is_none(), "{:?}", r.vacuous);
        eprintln!("{}", r.run.line(s.name));
    } else {
        // The suite's smaller search (Scenario::test_loom_bound): it must hold and reach every
        // declared outcome too.
        let e = thp_checks::scenarios::test_loom(s);
        eprintln!("{}", holds(s, e, None, true).line(s.name));
    }
    for seed in [0, 1] {
        let pct = EngineSpec::ShuttlePct {
            seed,
            depth: bounds::PCT_DEPTH,
            iterations: bounds::PCT_ITERATIONS,
        };
        eprintln!("{}", holds(s, pct, None, true).line(s.name));
    }
    let random = EngineSpec::ShuttleRandom {
        seed: 7,
        iterations: 500,
    };
    eprintln!("{}", holds(s, random, None, false).line(s.name));
    no_page_mapcount_holds(s);
}

/// The scenario with CONFIG_NO_PAGE_MAPCOUNT: shuttle PCT (seed 0, every declared outcome
/// reached) and, if its CONFIG_PAGE_MAPCOUNT loom run explored at most
/// [`thp_checks::scenarios::SECOND_CONFIG_TEST_LOOM_MAX`] executions, its default loom run
/// (shared with docs/bounds.md).
fn no_page_mapcount_holds(s: &'static Scenario) {
    use thp_model::kernel::KernelConfig;
    let kconfig = KernelConfig::NoPageMapcount;
    let pct = EngineSpec::ShuttlePct {
        seed: 0,
        depth: bounds::PCT_DEPTH,
        iterations: bounds::PCT_ITERATIONS,
    };
    let mut cfg = config(pct.clone(), RuleSet::all_on());
    cfg.config = kconfig;
    let r = run_scenario(s, &cfg, None);
    assert!(
        matches!(r.run.verdict, Verdict::Holds) && r.vacuous.is_none(),
        "{} under {} ({}) with {}: {:?} {:?}",
        s.name,
        pct.name(),
        pct.bound(),
        kconfig.name(),
        r.run.message(),
        r.vacuous
    );
    eprintln!("{} {}", r.run.line(s.name), kconfig.name());
    if thp_checks::scenarios::second_config_loom_in_tests(s) {
        let r = &thp_checks::scenarios::default_loom_run_in(s, kconfig).0;
        assert!(
            matches!(r.run.verdict, Verdict::Holds) && r.vacuous.is_none(),
            "{} under loom ({}) with {}: {:?} {:?}",
            s.name,
            default_loom(s).bound(),
            kconfig.name(),
            r.run.message(),
            r.vacuous
        );
        eprintln!("{} {}", r.run.line(s.name), kconfig.name());
    }
}

/// One `#[test]` per catalogue scenario, named after it with underscores
/// (`cargo test --release -p thp-checks --test main folio_split_vs_gup_fast`).
macro_rules! scenario_tests {
    ($($test:ident => $scenario:path),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                scenario_holds(&$scenario);
            }
        )*
    };
}

mod each {
    use super::scenario_holds;
    thp_checks::for_each_scenario!(scenario_tests);
}

/// shuttle DFS (every schedule, sequentially consistent) where it finishes. shuttle's DFS has
/// no partial-order reduction, so it exceeds 200,000 schedules for every model scenario but
/// the smallest (measured: huge-fault-vs-pte-fault and collapse-vs-pte-fault at nr=2 do not
/// finish in 200,000); loom is the exhaustive engine. The smallest, at nr=2, takes 845,034
/// schedules (32 s) since the allocated/free bits are engine atomics and the allocators take a
/// `zone->lock` (270,199 before; 61,227 before GUP-fast FOLL_PIN read `write_protect_seq`).
/// The one that finishes must hold and reach every declared outcome, and must finish (the cap
/// is not a silent skip).
#[test]
fn smallest_scenario_holds_under_shuttle_dfs() {
    const CAP: usize = 1_200_000;
    let s = thp_checks::scenarios::find("split-pmd-migration-entry-vs-gup-fast").unwrap();
    let e = EngineSpec::ShuttleDfs {
        max_iterations: Some(CAP),
    };
    let run = holds(s, e, Some(2), true);
    assert!(
        (run.executions as usize) < CAP,
        "DFS did not finish within {CAP} schedules"
    );
    eprintln!("{}", run.line(s.name));
}

/// Traces are recorded only for a failing execution, which is run again traced
/// (`engine::Tracing::OnFailure`): that is sound only if tracing changes nothing loom explores.
/// Every execution traced, or none: the same executions, and for a rule switched off, the same
/// first counterexample as when the failing execution alone is traced.
#[test]
fn tracing_changes_nothing_loom_explores() {
    use thp_checks::engine::Tracing;
    use thp_model::rules::Rule;
    let s = thp_checks::scenarios::find("folio-split-vs-pfn-walker").unwrap();
    let mut cfg = config(default_loom(s), RuleSet::all_on());
    let mut runs = Vec::new();
    for t in [Tracing::Every, Tracing::Off, Tracing::OnFailure] {
        cfg.trace = t;
        let r = run_scenario(s, &cfg, None);
        assert!(matches!(r.run.verdict, Verdict::Holds), "{t:?}");
        runs.push(r.run.executions);
    }
    assert!(runs.iter().all(|n| *n == runs[0]), "{runs:?}");
    let s = thp_checks::scenarios::find("folio-split-vs-scanner").unwrap();
    let mut cfg = config(
        default_loom(s),
        RuleSet::without_all(&[Rule::ScannerRecheckFolio]),
    );
    let mut found = Vec::new();
    for t in [Tracing::Every, Tracing::OnFailure] {
        cfg.trace = t;
        let r = run_scenario(s, &cfg, None);
        let Verdict::Counterexample { message, trace, .. } = r.run.verdict else {
            panic!("{t:?}: {:?}", r.run.verdict)
        };
        assert!(!trace.is_empty(), "{t:?}: no trace");
        found.push((r.run.executions, message, trace));
    }
    assert_eq!(found[0], found[1]);
}
