//! The lock-order graph: an AB/BA inversion is reported even when no explored schedule
//! deadlocked, and consistent nesting is not.

use std::sync::Arc;

use thp_checks::engine::{run, EngineSpec, RunConfig, LOOM_MAX_BRANCHES};
use thp_model::kernel::{spawn, spinlock_t, LockClass, LockGraph};

const A: LockClass = LockClass::new("lock_a");
const B: LockClass = LockClass::new("lock_b");

fn loom() -> RunConfig {
    RunConfig::new(EngineSpec::Loom {
        preemption_bound: None,
        max_branches: LOOM_MAX_BRANCHES,
    })
}

/// cpu1 takes A then B and finishes; only then cpu2 takes B then A. The two never overlap, so
/// no schedule can deadlock; lockdep still reports the inversion.
#[test]
fn ab_ba_inversion_reported_without_a_deadlock() {
    let body = Arc::new(|| {
        let a = Arc::new(spinlock_t::new(A));
        let b = Arc::new(spinlock_t::new(B));
        let (a1, b1) = (a.clone(), b.clone());
        spawn(move || {
            let _ga = a1.lock();
            let _gb = b1.lock();
        })
        .join();
        spawn(move || {
            let _gb = b.lock();
            let _ga = a.lock();
        })
        .join();
    });
    for engine in [
        EngineSpec::Loom {
            preemption_bound: None,
            max_branches: LOOM_MAX_BRANCHES,
        },
        EngineSpec::ShuttleRandom {
            seed: 1,
            iterations: 10,
        },
        EngineSpec::Stress { iterations: 1 },
    ] {
        let r = run(&RunConfig::new(engine.clone()), body.clone());
        let m = r
            .message()
            .unwrap_or_else(|| panic!("{}: no report", engine.name()));
        assert!(
            m.starts_with("[I19 lock-order] possible circular locking dependency"),
            "{m}"
        );
        assert!(
            m.contains("lock_b -> lock_a") && m.contains("lock_a -> lock_b"),
            "{m}"
        );
    }
}

/// The graph spans executions: one run sees only A -> B, a second run with the same graph
/// sees only B -> A, and the second run reports the cycle.
#[test]
fn graph_spans_runs() {
    let graph = Arc::new(LockGraph::new());
    let mut cfg = loom();
    cfg.lockdep = graph.clone();
    let ab = Arc::new(|| {
        let a = spinlock_t::new(A);
        let b = spinlock_t::new(B);
        let _ga = a.lock();
        let _gb = b.lock();
    });
    let r = run(&cfg, ab);
    assert!(r.message().is_none());
    assert_eq!(graph.edges(), vec![(A, B)]);
    let ba = Arc::new(|| {
        let a = spinlock_t::new(A);
        let b = spinlock_t::new(B);
        let _gb = b.lock();
        let _ga = a.lock();
    });
    let r = run(&cfg, ba);
    assert!(r.message().unwrap().starts_with("[I19 lock-order]"));
}

#[test]
fn consistent_nesting_holds() {
    let body = Arc::new(|| {
        let a = Arc::new(spinlock_t::new(A));
        let b = Arc::new(spinlock_t::new(B));
        let (a1, b1) = (a.clone(), b.clone());
        let t = spawn(move || {
            let _ga = a1.lock();
            let _gb = b1.lock();
        });
        {
            let _ga = a.lock();
            let _gb = b.lock();
        }
        t.join();
    });
    let r = run(&loom(), body);
    assert!(r.message().is_none(), "{:?}", r.message());
    assert!(r.executions > 1);
}
