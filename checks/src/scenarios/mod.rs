//! Model scenarios: an initial state, CPUs running kernel operations, a final oracle, the
//! outcomes each run must reach (so no scenario passes vacuously), and default bounds.
//!
//! One file per family, each scenario's declaration right above its body; this file holds the
//! `Scenario` type, the ordered catalogue and the runner:
//! - [`catching`] — which scenarios must catch each locking rule
//! - [`setup`] — shared initial states, outcomes and oracles
//! - [`split_pmd`] — `split_huge_pmd` against walkers and GUP-fast
//! - [`folio_split`] — `split_huge_page` against scanners, GUP-fast, waiters and zaps
//! - [`fault`] — the huge and the small-page fault
//! - [`zap`] — MADV_DONTNEED, MADV_FREE and PT_RECLAIM
//! - [`deferred_split`] — the deferred split shrinker
//! - [`khugepaged`] — collapse
//! - [`fork`] — fork and COW of a fork-shared THP
//! - [`migrate`] — THP migration (against zaps, faults, walkers, splits, fork and GUP-fast)
//! - [`hvo`] — HugeTLB vmemmap optimization
//! - [`reclaim`] — reclaim's discard of a lazyfree THP against GUP-fast, writes, reference
//!   holders and MADV_DONTNEED
//! - [`ksm`] — KSM's merge step against GUP-fast (the read-only pin, O_DIRECT, a THP split first)
//! - [`memory_failure`] — memory_failure's poison mark and split against another split
//! - [`swap`] — swap-out of an anonymous THP by reclaim and the swap-in fault, against
//!   GUP-fast, a store through a cached translation and MADV_DONTNEED
//! - [`tlb`] — deferred TLB flushes: a migration's batched flush against a store through a
//!   cached translation, alone or after MADV_DONTNEED
//! - [`zeropage`] — the split's remap of zero-filled sub-pages to the shared zero page against
//!   a scanner, GUP-fast and MADV_DONTNEED
//!
//! Adding a scenario: its declaration (a `const` filled from [`DEFAULT`]), its body and its
//! outcome constants in its family's file (and that file's `SCENARIOS`), and its place in
//! [`SCENARIOS`] here.

use std::collections::BTreeSet;
use std::sync::Arc;
#[allow(clippy::disallowed_types)] // harness state outside the engines (clippy.toml)
use std::sync::Mutex;

use thp_model::kernel::{Arch, KernelConfig};
use thp_model::rules::RuleSet;

use crate::engine::{run, EngineSpec, RunConfig, RunResult, Verdict};

pub mod catching;
pub mod deferred_split;
pub mod fault;
pub mod folio_split;
pub mod fork;
pub mod hvo;
pub mod khugepaged;
pub mod ksm;
pub mod memory_failure;
pub mod migrate;
pub mod reclaim;
pub mod setup;
pub mod split_pmd;
pub mod swap;
pub mod tlb;
pub mod zap;
pub mod zeropage;

pub use setup::setup_forked_huge_pmd;

/// Outcomes observed across the executions of one run (std: invisible to the engines).
#[allow(clippy::disallowed_types)] // harness state outside the engines (clippy.toml)
pub type Outcomes = Arc<Mutex<BTreeSet<&'static str>>>;

/// A scenario of the catalogue.
#[derive(Clone, Copy, Debug)]
pub struct Scenario {
    pub name: &'static str,
    pub description: &'static str,
    /// The CPUs and what each runs.
    pub threads: &'static [&'static str],
    /// Default sub-pages per THP under loom and under shuttle.
    pub loom_nr: usize,
    pub shuttle_nr: usize,
    /// The fewest sub-pages (struct pages, for HVO) the scenario's state can be built with;
    /// `--subpages` below it is a usage error.
    pub min_subpages: usize,
    /// Default loom preemption bound (None = unbounded) and measured cost.
    pub loom_bound: Option<usize>,
    /// The hardware: x86 (a TLB flush is an IPI that waits for IRQs-off sections) or arm64
    /// (broadcast TLBI, a superset of x86's interleavings for IRQs-off walkers; and
    /// `pmd_mkinvalid` makes any value read as present, historical race Z12). The PMD and PTE
    /// classifiers agree on both for every value the real protocol writes.
    pub arch: Arch,
    /// Candidate fixes of findings this scenario runs with (docs/findings.md): without them
    /// 6.18.2 fails it. `--break` of a fix runs the kernel as released. Empty for almost
    /// every scenario.
    pub fixes: &'static [thp_model::rules::Rule],
    /// Outcomes every holding run must have reached.
    pub must_reach: &'static [&'static str],
    /// With CONFIG_NO_PAGE_MAPCOUNT, the outcomes a holding run must reach instead of
    /// `must_reach` (None: the same). For a scenario whose result the configuration decides.
    pub must_reach_no_page_mapcount: Option<&'static [&'static str]>,
    /// Outcomes of `must_reach` that only loom (every interleaving within its bound) is
    /// required to reach; shuttle's randomized schedulers record them when they happen, but a
    /// run that misses them is not vacuous. Empty for almost every scenario.
    pub shuttle_may_miss: &'static [&'static str],
    /// The test suite's loom search, when it is not the default one (None: the default). A
    /// scenario whose default search explores hundreds of thousands of executions or more is
    /// run by `cargo test` at this preemption bound instead, to keep the suite within its time
    /// budget. Its default search is `thpcheck docs`' (the rows of docs/bounds.md) and `thpcheck
    /// check`'s; the comparison of an unbounded one with shuttle is `thpcheck audit`'s (the
    /// suite's audit, and so docs/bounds.md's audit section, skips it). Never set on a scenario
    /// a finding cites (docs/findings.md quotes its default search); below the default bound
    /// (checks/tests/catalogue.rs).
    pub test_loom_bound: Option<usize>,
    /// One execution.
    pub body: fn(nr: usize, outcomes: &Outcomes),
}

/// What a declaration leaves out: two sub-pages under loom, four under shuttle, unbounded loom,
/// arm64, every outcome required of shuttle too. `name`, `description`, `threads`,
/// `must_reach` and `body` are always given.
pub const DEFAULT: Scenario = Scenario {
    name: "",
    description: "",
    threads: &[],
    loom_nr: 2,
    shuttle_nr: 4,
    min_subpages: 2,
    loom_bound: None,
    arch: Arch::Arm64,
    fixes: &[],
    must_reach: &[],
    must_reach_no_page_mapcount: None,
    shuttle_may_miss: &[],
    test_loom_bound: None,
    body: no_body,
};

/// The ordered catalogue index: each scenario's family and constant, and the name of its
/// `#[test]` (its name with underscores). Defines [`SCENARIOS`] and the exported
/// `for_each_scenario!`.
macro_rules! catalogue {
    ($d:tt $($family:ident :: $konst:ident => $test:ident),* $(,)?) => {
        /// The catalogue of model scenarios, in order (`thpcheck list`, `check --all`, the
        /// docs).
        pub const SCENARIOS: &[Scenario] = &[$($family::$konst),*];

        /// Calls `callback!` with `test_name => path::TO::SCENARIO` for every catalogue
        /// scenario, in order: the tests make one `#[test]` per scenario with it, so
        /// `cargo test NAME_WITH_UNDERSCORES` selects one.
        #[macro_export]
        macro_rules! for_each_scenario {
            ($d callback:ident) => {
                $d callback! { $($test => $d crate::scenarios::$family::$konst),* }
            };
        }
    };
}

catalogue! { $
    split_pmd::SPLIT_PMD_VS_AWARE_WALKER => split_pmd_vs_aware_walker,
    folio_split::FOLIO_SPLIT_VS_SCANNER => folio_split_vs_scanner,
    folio_split::FOLIO_SPLIT_VS_COMPACTION => folio_split_vs_compaction,
    folio_split::FOLIO_SPLIT_VS_PAGE_IDLE => folio_split_vs_page_idle,
    folio_split::FOLIO_SPLIT_VS_PFN_WALKER => folio_split_vs_pfn_walker,
    folio_split::FOLIO_SPLIT_VS_GUP_FAST => folio_split_vs_gup_fast,
    folio_split::FOLIO_SPLIT_VS_GUP_FAST_PMD => folio_split_vs_gup_fast_pmd,
    folio_split::FOLIO_SPLIT_VS_GUP_FAST_PMD_PORTABLE => folio_split_vs_gup_fast_pmd_portable,
    folio_split::FOLIO_SPLIT_VS_GUP_FAST_X86 => folio_split_vs_gup_fast_x86,
    folio_split::FOLIO_SPLIT_VS_MIGRATION_WAIT => folio_split_vs_migration_wait,
    folio_split::FOLIO_SPLIT_VS_SCANNER_NR4 => folio_split_vs_scanner_nr4,
    folio_split::FOLIO_SPLIT_VS_PFN_WALKER_NR4 => folio_split_vs_pfn_walker_nr4,
    folio_split::FOLIO_SPLIT_VS_GUP_FAST_NR4 => folio_split_vs_gup_fast_nr4,
    folio_split::FOLIO_SPLIT_VS_MIGRATION_WAIT_NR4 => folio_split_vs_migration_wait_nr4,
    fault::HUGE_FAULT_VS_PTE_FAULT => huge_fault_vs_pte_fault,
    fault::PTE_FAULT_VS_WALKER => pte_fault_vs_walker,
    zap::PTE_FAULT_VS_DONTNEED_RECLAIM => pte_fault_vs_dontneed_reclaim,
    zap::PMD_INSTALL_VS_DONTNEED_RECLAIM => pmd_install_vs_dontneed_reclaim,
    zap::GUP_FAST_VS_DONTNEED_RECLAIM => gup_fast_vs_dontneed_reclaim,
    zap::SPLIT_PMD_VS_DONTNEED => split_pmd_vs_dontneed,
    zap::DONTNEED_VS_CHANGE_HUGE_PMD => dontneed_vs_change_huge_pmd,
    zap::MADVISE_FREE_VS_DONTNEED => madvise_free_vs_dontneed,
    zap::MADVISE_FREE_SPLIT_VS_ZAP => madvise_free_split_vs_zap,
    deferred_split::MADVISE_FREE_SPLIT_VS_DEFERRED_SPLIT_SCAN => madvise_free_split_vs_deferred_split_scan,
    folio_split::FOLIO_SPLIT_VS_ZAP => folio_split_vs_zap,
    deferred_split::DEFERRED_SPLIT_SCAN_VS_ZAP => deferred_split_scan_vs_zap,
    deferred_split::DEFERRED_SPLIT_SCAN_VS_ZAP_BATCH => deferred_split_scan_vs_zap_batch,
    deferred_split::DEFERRED_SPLIT_SCAN_VS_FOLIO_SPLIT => deferred_split_scan_vs_folio_split,
    deferred_split::PARTIAL_UNMAP_IN_BOTH_MMS => partial_unmap_in_both_mms,
    deferred_split::DEFERRED_SPLIT_SCAN_VS_THP_MIGRATION => deferred_split_scan_vs_thp_migration,
    khugepaged::COLLAPSE_VS_GUP_FAST => collapse_vs_gup_fast,
    khugepaged::COLLAPSE_THEN_ZAP_VS_GUP_FAST => collapse_then_zap_vs_gup_fast,
    fork::COW_REUSE_VS_SPLIT_PMD_OTHER_MM => cow_reuse_vs_split_pmd_other_mm,
    fork::COW_REUSE_PTE_VS_ZAP_OTHER_MM => cow_reuse_pte_vs_zap_other_mm,
    fork::COW_REUSE_PTE_VS_GUP_REF_OTHER_MM => cow_reuse_pte_vs_gup_ref_other_mm,
    fork::COW_REUSE_PTE_VS_PARTIAL_ZAP_OTHER_MM => cow_reuse_pte_vs_partial_zap_other_mm,
    fork::COW_PTE_VS_FOLIO_SPLIT => cow_pte_vs_folio_split,
    fork::COW_REUSE_PTE_VS_GUP_FAST_OTHER_MM => cow_reuse_pte_vs_gup_fast_other_mm,
    fork::COW_REUSE_PTE_VS_FORK => cow_reuse_pte_vs_fork,
    migrate::THP_MIGRATION_VS_ZAP => thp_migration_vs_zap,
    fork::FORK_VS_GUP_FAST_PIN => fork_vs_gup_fast_pin,
    fork::FORK_VS_GUP_FAST_PIN_PORTABLE => fork_vs_gup_fast_pin_portable,
    fork::FORK_VS_GUP_FAST_RO_PIN_PTE => fork_vs_gup_fast_ro_pin_pte,
    migrate::THP_MIGRATION_RETRY_VS_SCANNER => thp_migration_retry_vs_scanner,
    migrate::THP_MIGRATION_VS_FAULT => thp_migration_vs_fault,
    migrate::FOLIO_SPLIT_VS_THP_MIGRATION_OTHER_MM => folio_split_vs_thp_migration_other_mm,
    folio_split::FOLIO_SPLIT_VS_GUP_FAST_VS_SCANNER => folio_split_vs_gup_fast_vs_scanner,
    folio_split::FOLIO_SPLIT_VS_GUP_FAST_RO_PTE => folio_split_vs_gup_fast_ro_pte,
    split_pmd::SPLIT_PMD_VS_GUP_FAST => split_pmd_vs_gup_fast,
    split_pmd::SPLIT_PMD_MIGRATION_ENTRY_VS_GUP_FAST => split_pmd_migration_entry_vs_gup_fast,
    migrate::THP_MIGRATION_VS_SPLIT_PMD => thp_migration_vs_split_pmd,
    migrate::FORK_VS_THP_MIGRATION => fork_vs_thp_migration,
    migrate::THP_MIGRATION_VS_GUP_FAST => thp_migration_vs_gup_fast,
    migrate::THP_MIGRATION_PTE_VS_GUP_FAST => thp_migration_pte_vs_gup_fast,
    khugepaged::COLLAPSE_VS_PTE_FAULT => collapse_vs_pte_fault,
    reclaim::LAZYFREE_DISCARD_VS_GUP_FAST => lazyfree_discard_vs_gup_fast,
    reclaim::LAZYFREE_DISCARD_VS_GUP_FAST_PORTABLE => lazyfree_discard_vs_gup_fast_portable,
    reclaim::LAZYFREE_DISCARD_VS_WRITE => lazyfree_discard_vs_write,
    reclaim::LAZYFREE_DISCARD_VS_PUT_DIRTY => lazyfree_discard_vs_put_dirty,
    reclaim::LAZYFREE_DISCARD_VS_DONTNEED => lazyfree_discard_vs_dontneed,
    ksm::KSM_MERGE_VS_GUP_FAST_RO_PIN => ksm_merge_vs_gup_fast_ro_pin,
    ksm::KSM_MERGE_VS_GUP_FAST_RO_PIN_PORTABLE => ksm_merge_vs_gup_fast_ro_pin_portable,
    ksm::KSM_MERGE_VS_GUP_FAST_WRITE => ksm_merge_vs_gup_fast_write,
    ksm::KSM_MERGE_VS_GUP_FAST_WRITE_PORTABLE => ksm_merge_vs_gup_fast_write_portable,
    ksm::KSM_MERGE_THP_VS_GUP_FAST_WRITE => ksm_merge_thp_vs_gup_fast_write,
    memory_failure::MEMORY_FAILURE_VS_SPLIT => memory_failure_vs_split,
    zeropage::SPLIT_ZEROPAGE_VS_SCANNER => split_zeropage_vs_scanner,
    zeropage::SPLIT_ZEROPAGE_VS_GUP_FAST => split_zeropage_vs_gup_fast,
    zeropage::SPLIT_ZEROPAGE_VS_ZAP => split_zeropage_vs_zap,
    hvo::HVO_OPTIMIZE_VS_PFN_WALKER => hvo_optimize_vs_pfn_walker,
    hvo::HVO_OPTIMIZE_VS_NEIGHBOUR_SPLIT => hvo_optimize_vs_neighbour_split,
    hvo::HVO_OPTIMIZE_PRESPLIT_VS_PFN_WALKER => hvo_optimize_presplit_vs_pfn_walker,
    hvo::HVO_OPTIMIZE_NOCOPY_VS_PFN_WALKER => hvo_optimize_nocopy_vs_pfn_walker,
    hvo::HVO_OPTIMIZE_ENOMEM_SPLIT_VS_PFN_WALKER => hvo_optimize_enomem_split_vs_pfn_walker,
    hvo::HVO_OPTIMIZE_ENOMEM_VS_PFN_WALKER => hvo_optimize_enomem_vs_pfn_walker,
    hvo::HVO_RESTORE_VS_PFN_WALKER => hvo_restore_vs_pfn_walker,
    hvo::HVO_RESTORE_ENOMEM_VS_PFN_WALKER => hvo_restore_enomem_vs_pfn_walker,
    tlb::THP_MIGRATION_DEFERRED_FLUSH_VS_STORE => thp_migration_deferred_flush_vs_store,
    tlb::THP_MIGRATION_DEFERRED_FLUSH_VS_DONTNEED_STORE => thp_migration_deferred_flush_vs_dontneed_store,
    tlb::FOLIO_SPLIT_DEFERRED_FLUSH_VS_DONTNEED_STORE => folio_split_deferred_flush_vs_dontneed_store,
    tlb::THP_MIGRATION_DEFERRED_FLUSH_VS_DONTNEED_REMOTE_STORE => thp_migration_deferred_flush_vs_dontneed_remote_store,
    tlb::DONTNEED_VS_CACHED_STORE => dontneed_vs_cached_store,
    swap::SWAPOUT_VS_GUP_FAST => swapout_vs_gup_fast,
    swap::SWAPOUT_VS_STORE => swapout_vs_store,
    swap::SWAPOUT_VS_DONTNEED => swapout_vs_dontneed,
    swap::SWAPOUT_VS_FORK => swapout_vs_fork,
    swap::SWAPIN_VS_DONTNEED => swapin_vs_dontneed,
    swap::SWAPIN_CACHED_VS_DONTNEED => swapin_cached_vs_dontneed,
}

/// Every family's own list; together, exactly the catalogue (a test keeps them equal, so a
/// scenario declared in a family but missing from [`SCENARIOS`] fails it).
pub const FAMILIES: &[&[Scenario]] = &[
    split_pmd::SCENARIOS,
    folio_split::SCENARIOS,
    fault::SCENARIOS,
    zap::SCENARIOS,
    deferred_split::SCENARIOS,
    khugepaged::SCENARIOS,
    fork::SCENARIOS,
    migrate::SCENARIOS,
    reclaim::SCENARIOS,
    ksm::SCENARIOS,
    memory_failure::SCENARIOS,
    zeropage::SCENARIOS,
    hvo::SCENARIOS,
    tlb::SCENARIOS,
    swap::SCENARIOS,
];

/// Scenarios that `find` knows but the catalogue does not list (`thpcheck list`, `check --all`
/// and the docs leave them out): self-tests of the harness.
pub const HIDDEN: &[Scenario] = &[SELFTEST_MODEL_BUG];

/// A body that reports an inconsistency of the model (`model_bug!`): its verdict must be
/// `model-bug`, exit code 4, never a counterexample (the CLI tests run it).
pub const SELFTEST_MODEL_BUG: Scenario = Scenario {
    name: "selftest-model-bug",
    description: "harness self-test: a body that panics with [model bug]; never in the catalogue",
    threads: &["(main) model_bug!"],
    body: selftest_model_bug,
    ..DEFAULT
};
fn selftest_model_bug(_nr: usize, _outcomes: &Outcomes) {
    thp_model::model_bug!("selftest: the harness must report this as a model bug");
}

/// Look a scenario up by name (the catalogue, then [`HIDDEN`]).
pub fn find(name: &str) -> Option<&'static Scenario> {
    SCENARIOS
        .iter()
        .chain(HIDDEN.iter())
        .find(|s| s.name == name)
}

/// The result of one scenario run.
#[derive(Clone, Debug)]
pub struct ScenarioResult {
    pub run: RunResult,
    pub nr: usize,
    pub reached: BTreeSet<&'static str>,
    /// A holding run that missed a declared outcome is vacuous: reported here.
    pub vacuous: Option<String>,
}

/// The default loom run of a scenario (`bounds::loom`).
pub fn default_loom(s: &Scenario) -> EngineSpec {
    crate::bounds::loom(s)
}

/// Run a scenario with `rules` under `engine` with `nr` sub-pages (None = its default).
/// `s` need not be in the catalogue: `check --arch` runs a copy on other hardware.
pub fn run_scenario(s: &Scenario, cfg: &RunConfig, nr: Option<usize>) -> ScenarioResult {
    run_scenario_with(s, cfg, nr, None)
}

/// Where an execution ended (`thpcheck audit`): the fingerprint of the whole model state after
/// every CPU was joined, and the outcomes the execution recorded.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FinalState {
    pub fingerprint: u64,
    pub outcomes: Vec<&'static str>,
}

/// [`run_scenario`], also returning the final state of every execution that kept every
/// invariant.
#[allow(clippy::disallowed_types)] // harness state outside the engines (clippy.toml)
pub fn run_scenario_states(
    s: &Scenario,
    cfg: &RunConfig,
    nr: Option<usize>,
) -> (ScenarioResult, BTreeSet<FinalState>) {
    let states = Arc::new(Mutex::new(BTreeSet::new()));
    let r = run_scenario_with(s, cfg, nr, Some(states.clone()));
    let states = std::mem::take(&mut *states.lock().unwrap_or_else(|e| e.into_inner()));
    (r, states)
}

/// The default loom run of scenario `s` (every rule on, its default bound and size) with the
/// final state of every execution, run once per process: the scenario tests, docs/bounds.md
/// and the audit share it.
pub fn default_loom_run(s: &'static Scenario) -> &'static (ScenarioResult, BTreeSet<FinalState>) {
    default_loom_run_in(s, KernelConfig::default())
}

/// The test suite runs a scenario's default loom search in the second kernel configuration
/// (CONFIG_NO_PAGE_MAPCOUNT) only when its CONFIG_PAGE_MAPCOUNT run explored at most this many
/// executions: running every scenario twice does not fit the suite's time budget. `thpcheck
/// docs` and `thpcheck check --all --config no-page-mapcount` run them all.
pub const SECOND_CONFIG_TEST_LOOM_MAX: u64 = 100_000;

/// Whether the test suite runs scenario `s`'s default loom search in the second configuration
/// (see [`SECOND_CONFIG_TEST_LOOM_MAX`]).
pub fn second_config_loom_in_tests(s: &'static Scenario) -> bool {
    default_loom_in_tests(s) && default_loom_run(s).0.run.executions <= SECOND_CONFIG_TEST_LOOM_MAX
}

/// Whether the test suite runs scenario `s`'s default loom search at all (in the default
/// configuration), rather than the one at its [`Scenario::test_loom_bound`].
pub fn default_loom_in_tests(s: &Scenario) -> bool {
    s.test_loom_bound.is_none()
}

/// The loom search the test suite runs for scenario `s`: its default one, or the one at its
/// [`Scenario::test_loom_bound`].
pub fn test_loom(s: &Scenario) -> EngineSpec {
    match s.test_loom_bound {
        None => default_loom(s),
        Some(b) => EngineSpec::Loom {
            preemption_bound: Some(b),
            max_branches: crate::engine::LOOM_MAX_BRANCHES,
        },
    }
}

/// [`default_loom_run`] with kernel configuration `kconfig`, run once per process.
#[allow(clippy::disallowed_types)] // harness state outside the engines (clippy.toml)
pub fn default_loom_run_in(
    s: &'static Scenario,
    kconfig: KernelConfig,
) -> &'static (ScenarioResult, BTreeSet<FinalState>) {
    type Cell = std::sync::OnceLock<(ScenarioResult, BTreeSet<FinalState>)>;
    static RUNS: std::sync::OnceLock<Vec<Cell>> = std::sync::OnceLock::new();
    let runs = RUNS.get_or_init(|| {
        (0..SCENARIOS.len() * KernelConfig::ALL.len())
            .map(|_| Cell::new())
            .collect()
    });
    let i = SCENARIOS
        .iter()
        .position(|x| x.name == s.name)
        .unwrap_or_else(|| panic!("[model bug] {} is not in the catalogue", s.name));
    let k = KernelConfig::ALL
        .iter()
        .position(|c| *c == kconfig)
        .unwrap_or(0);
    runs[i * KernelConfig::ALL.len() + k].get_or_init(|| {
        let mut cfg = config(default_loom(s), RuleSet::all_on());
        cfg.config = kconfig;
        run_scenario_states(s, &cfg, None)
    })
}

#[allow(clippy::disallowed_types)] // harness state outside the engines (clippy.toml)
fn run_scenario_with(
    s: &Scenario,
    cfg: &RunConfig,
    nr: Option<usize>,
    states: Option<Arc<Mutex<BTreeSet<FinalState>>>>,
) -> ScenarioResult {
    let s = *s; // the body closure owns its copy

    let nr = nr.unwrap_or(match cfg.engine {
        EngineSpec::Loom { .. } => s.loom_nr,
        _ => s.shuttle_nr,
    });
    let outcomes: Outcomes = Arc::new(Mutex::new(BTreeSet::new()));
    let o = outcomes.clone();
    let mut cfg = cfg.clone();
    cfg.hardware = s.arch.hardware();
    cfg.rules = cfg.rules.clone().with_fixes(s.fixes);
    cfg.audit = states.is_some();
    let body: Arc<dyn Fn() + Send + Sync> = match states {
        None => Arc::new(move || (s.body)(nr, &o)),
        Some(states) => Arc::new(move || {
            // This execution's own outcomes, then merged into the run's.
            let mine: Outcomes = Arc::new(Mutex::new(BTreeSet::new()));
            (s.body)(nr, &mine);
            let mine = std::mem::take(&mut *mine.lock().unwrap_or_else(|e| e.into_inner()));
            let fingerprint = thp_model::kernel::take_final_state().unwrap_or_else(|| {
                panic!("[model bug] {}: no final state was fingerprinted", s.name)
            });
            o.lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(mine.iter().copied());
            states
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(FinalState {
                    fingerprint,
                    outcomes: mine.into_iter().collect(),
                });
        }),
    };
    let run = run(&cfg, body);
    let reached = outcomes.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let is_loom = matches!(cfg.engine, EngineSpec::Loom { .. });
    let must_reach = match s.must_reach_no_page_mapcount {
        Some(o) if !cfg.config.page_mapcount() => o,
        _ => s.must_reach,
    };
    let missing: Vec<_> = must_reach
        .iter()
        .filter(|o| !reached.contains(*o))
        .filter(|o| is_loom || !s.shuttle_may_miss.contains(*o))
        .collect();
    let vacuous = match (&run.verdict, missing.is_empty()) {
        (Verdict::Holds, false) => Some(format!(
            "{}: holds but never reached {:?} under {} ({}) — the race did not happen",
            s.name,
            missing,
            cfg.engine.name(),
            cfg.engine.bound()
        )),
        _ => None,
    };
    ScenarioResult {
        run,
        nr,
        reached,
        vacuous,
    }
}

/// A config for `rules` under `engine`.
pub fn config(engine: EngineSpec, rules: RuleSet) -> RunConfig {
    let mut c = RunConfig::new(engine);
    c.rules = rules;
    c
}

/// [`DEFAULT`]'s body: a declaration that forgot its own.
fn no_body(_nr: usize, _outcomes: &Outcomes) {
    thp_model::model_bug!("a scenario without a body");
}
