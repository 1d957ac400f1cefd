//! Engine regression tests: small programs over the model's own primitives whose outcomes the
//! loom engine must reach, exactly. Each failed on loom 0.7.3 as released, whose DPOR skipped
//! them or whose modification order broke RMW atomicity (third_party/loom/PATCHES.md); each
//! also runs with partial-order reduction switched off, which is the reference the reduced
//! search must match.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use thp_checks::engine::{run, EngineSpec, RunConfig, Verdict, LOOM_MAX_BRANCHES};
use thp_model::kernel::{atomic_t, spawn, spinlock_t, LockClass};

const TEST_LOCK: LockClass = LockClass::new("engine_regression_lock");

/// The outcomes `body` returns over every execution loom explores (with or without
/// partial-order reduction), and the number of executions.
fn loom_outcomes<T>(dpor: bool, body: fn() -> T) -> (BTreeSet<T>, u64)
where
    T: Ord + Send + 'static,
{
    let seen = Arc::new(Mutex::new(BTreeSet::new()));
    let s = seen.clone();
    let mut cfg = RunConfig::new(EngineSpec::Loom {
        preemption_bound: None,
        max_branches: LOOM_MAX_BRANCHES,
    });
    cfg.loom_dpor = dpor;
    let r = run(
        &cfg,
        Arc::new(move || {
            let o = body();
            s.lock().unwrap().insert(o);
        }),
    );
    assert!(matches!(r.verdict, Verdict::Holds), "{:?}", r.verdict);
    let out = std::mem::take(&mut *seen.lock().unwrap());
    (out, r.executions)
}

/// Every outcome in `want`, with DPOR, and exactly what the search without reduction finds.
fn reaches_all<T>(body: fn() -> T, want: &[T])
where
    T: Ord + Send + Clone + std::fmt::Debug + 'static,
{
    let (dpor, _) = loom_outcomes(true, body);
    let (full, _) = loom_outcomes(false, body);
    let want: BTreeSet<T> = want.iter().cloned().collect();
    assert_eq!(
        full, want,
        "the full search (no reduction) disagrees with the test"
    );
    assert_eq!(
        dpor, full,
        "loom's DPOR missed outcomes the full search reaches"
    );
}

/// A `spin_trylock` that runs while another CPU holds the lock fails. loom 0.7.3 never
/// explored it: a mutex release was no scheduling point, and a thread about to try_lock was
/// blocked like one about to lock.
fn trylock_while_held() -> bool {
    let l = Arc::new(spinlock_t::new(TEST_LOCK));
    let v = Arc::new(atomic_t::new(0));
    let (l1, v1) = (l.clone(), v.clone());
    let t = spawn(move || {
        let g = l1.lock();
        v1.set(1);
        drop(g);
    });
    let got = l.trylock().is_some();
    t.join();
    got
}

#[test]
fn spin_trylock_fails_while_another_cpu_holds_the_lock() {
    reaches_all(trylock_while_held, &[false, true]);
}

/// tokio-rs/loom#392: a CPU whose first operation is a load of the word another CPU reads; its
/// own load hid the race of its store with the other CPU's load.
fn first_load_hides_race() -> i32 {
    let a = Arc::new(atomic_t::new(0));
    let a1 = a.clone();
    let t = spawn(move || {
        let _ = a1.read();
        a1.set(1);
    });
    let r = a.read();
    t.join();
    r
}

#[test]
fn a_cpus_own_earlier_load_does_not_hide_a_race() {
    reaches_all(first_load_hides_race, &[0, 1]);
}

/// tokio-rs/loom#166: a writer's extra load of `key` must not change what a reader sees.
fn key_value(extra_load: bool) -> (i32, i32) {
    let key = Arc::new(atomic_t::new(0));
    let value = Arc::new(atomic_t::new(0));
    let (k1, v1) = (key.clone(), value.clone());
    let t1 = spawn(move || {
        k1.set(1);
        v1.set(1);
        v1.set(0);
        if extra_load {
            let _ = k1.read();
        }
        k1.set(0);
    });
    let (k2, v2) = (key.clone(), value.clone());
    let t2 = spawn(move || (v2.read(), k2.read()));
    t1.join();
    t2.join()
}

#[test]
fn an_extra_load_does_not_lose_outcomes() {
    let (without, _) = loom_outcomes(true, || key_value(false));
    let (with, _) = loom_outcomes(true, || key_value(true));
    assert!(without.contains(&(1, 0)), "{without:?}");
    assert_eq!(with, without, "the extra load lost outcomes");
    let (full, _) = loom_outcomes(false, || key_value(true));
    assert_eq!(
        with, full,
        "loom's DPOR missed outcomes the full search reaches"
    );
}

/// The step a CPU runs right after `cpu_relax` (loom's `yield_now`) races with another CPU's
/// second RMW; loom 0.7.3's DPOR dropped that backtracking point. (The relaxing CPU never runs
/// first under loom: a yield means "not before another CPU has run a step".)
fn rmw_after_cpu_relax() -> (i32, i32, i32) {
    let x = Arc::new(atomic_t::new(0));
    let x1 = x.clone();
    let t = spawn(move || {
        thp_model::kernel::cpu_relax();
        x1.fetch_add(1)
    });
    let b0 = x.fetch_add(1);
    let b1 = x.fetch_add(1);
    (t.join(), b0, b1)
}

#[test]
fn the_step_after_cpu_relax_races() {
    reaches_all(rmw_after_cpu_relax, &[(1, 0, 2), (2, 0, 1)]);
}

/// A plain read-modify-write of a flags word (read, then `set`) against another CPU's
/// `test_and_set_bit`, then the first CPU re-reads the word: loom 0.7.3 let the atomic RMW's
/// write, which read the initial value, win over the plain store made after it, so the store
/// was lost (final 0b10) and the first CPU could read 0b10 back instead of its own store
/// (third_party/loom/PATCHES.md, section 6). The split's tail flags update against
/// memory_failure's TestSetPageHWPoison is this program.
fn plain_rmw_vs_test_and_set_bit() -> (i64, i64) {
    use thp_model::kernel::atomic_long_t;
    let x = Arc::new(atomic_long_t::new(0));
    let x1 = x.clone();
    let t = spawn(move || {
        let old = x1.read();
        x1.set(old | 1);
        x1.read()
    });
    x.test_and_set_bit(1);
    let reread = t.join();
    (reread, x.read())
}

#[test]
fn a_plain_store_after_the_value_an_rmw_read_is_not_lost() {
    reaches_all(plain_rmw_vs_test_and_set_bit, &[(1, 1), (1, 3), (3, 3)]);
}

/// A CPU that panics while it unwinds through a scheduling point (a lock guard's drop) is left
/// half-unwound when shuttle stops the execution at once. Every CPU shares the panic count of
/// the OS thread that drives the run, so that thread then reported `std::thread::panicking()`
/// for good: the next `set_hook` panicked (`thpcheck docs` and the audit exited 101, silently,
/// after this very cell), and shuttle's early return would fire at the next run's first yield.
/// Each shuttle run has its own OS thread now. The cell: folio-split-vs-migration-wait with
/// split-lru-flag-atomic off, PCT seed 13, 2 sub-pages (its first counterexample is a lost
/// wakeup found while the splitter unwinds).
#[test]
fn a_panic_that_switches_out_while_unwinding_leaves_the_caller_clean() {
    use thp_checks::scenarios::{config, find, run_scenario};
    use thp_model::rules::{Rule, RuleSet};
    let s = find("folio-split-vs-migration-wait").expect("scenario");
    let pct = EngineSpec::ShuttlePct {
        seed: 13,
        depth: 3,
        iterations: 5000,
    };
    for _ in 0..2 {
        let r = run_scenario(
            s,
            &config(pct.clone(), RuleSet::without(Rule::SplitLruFlagAtomic)),
            Some(2),
        );
        assert!(
            matches!(r.run.verdict, Verdict::Counterexample { .. }),
            "{:?}",
            r.run.verdict
        );
        assert!(
            !std::thread::panicking(),
            "the caller's thread still unwinds"
        );
        let r = run_scenario(s, &config(pct.clone(), RuleSet::all_on()), Some(2));
        assert!(
            matches!(r.run.verdict, Verdict::Holds),
            "{:?}",
            r.run.verdict
        );
    }
}
