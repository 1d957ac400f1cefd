//! The sleeping and waiting primitives: the bit lock excludes, a lost wake-up is reported as
//! I20 (not a process abort), rw_semaphore recursion is reported, and grace periods / IPIs wait
//! for the readers that started before them. Each property is shown to fail when broken.

use std::sync::Arc;

use thp_checks::engine::{run, EngineSpec, RunConfig, LOOM_MAX_BRANCHES};
use thp_model::kernel::wait::{bit_lock, bit_unlock};
use thp_model::kernel::{
    atomic_long_t, atomic_t, local_irq_save, rcu_read_lock, rw_semaphore, spawn, synchronize_rcu,
    tlb_remove_table_sync_one, wait_queue_head, LockClass, RcuState,
};

const LOCKED: u32 = 0;
const WAITERS: u32 = 7;

fn engines() -> Vec<EngineSpec> {
    vec![
        EngineSpec::Loom {
            preemption_bound: None,
            max_branches: LOOM_MAX_BRANCHES,
        },
        EngineSpec::ShuttlePct {
            seed: 7,
            depth: 3,
            iterations: 300,
        },
        EngineSpec::ShuttleRandom {
            seed: 7,
            iterations: 300,
        },
    ]
}

/// Two CPUs do a non-atomic read-modify-write under the bit lock; with `erase_waiters` the
/// holder overwrites the flags word with a plain store (historical race Z15's shape).
fn bit_lock_body(erase_waiters: bool) -> Arc<dyn Fn() + Send + Sync> {
    Arc::new(move || {
        let word = Arc::new(atomic_long_t::new(0));
        let wq = Arc::new(wait_queue_head::new());
        let counter = Arc::new(atomic_t::new(0));
        let mk = |w: Arc<atomic_long_t>, q: Arc<wait_queue_head>, c: Arc<atomic_t>| {
            move || {
                bit_lock(&w, LOCKED, WAITERS, &q, 1, "folio_lock");
                let v = c.read();
                c.set(v + 1);
                if erase_waiters {
                    let f = w.read();
                    w.set(f & !(1 << WAITERS)); // plain store erases PG_waiters
                }
                bit_unlock(&w, LOCKED, WAITERS, &q, 1);
            }
        };
        let t1 = spawn(mk(word.clone(), wq.clone(), counter.clone()));
        let t2 = spawn(mk(word.clone(), wq.clone(), counter.clone()));
        t1.join();
        t2.join();
        assert_eq!(counter.read(), 2, "[model bug] bit lock did not exclude");
    })
}

#[test]
fn bit_lock_excludes_and_wakes() {
    for e in engines() {
        let r = run(&RunConfig::new(e.clone()), bit_lock_body(false));
        assert!(r.message().is_none(), "{}: {:?}", e.name(), r.message());
    }
}

#[test]
fn erased_waiters_bit_is_a_reported_lost_wakeup() {
    for e in engines() {
        let r = run(&RunConfig::new(e.clone()), bit_lock_body(true));
        let m = r
            .message()
            .unwrap_or_else(|| panic!("{}: lost wake-up not found", e.name()));
        assert!(m.starts_with("[I20 lost-wakeup]"), "{}: {m}", e.name());
    }
}

#[test]
fn recursive_down_read_is_reported() {
    let body = Arc::new(|| {
        let sem = rw_semaphore::new(LockClass::new("mmap_lock"));
        let _a = sem.down_read();
        let _b = sem.down_read();
    });
    let r = run(&RunConfig::new(EngineSpec::Stress { iterations: 1 }), body);
    assert!(r
        .message()
        .unwrap()
        .starts_with("[I19 lock-order] cpu0: recursive acquisition"));
}

/// Writer preference: a reader arriving while a writer waits queues behind it, so
/// down_read_trylock fails in that window; loom reaches the window.
#[test]
fn rwsem_has_writer_preference() {
    let seen = Arc::new(std::sync::Mutex::new(std::collections::BTreeSet::new()));
    let s2 = seen.clone();
    let body = Arc::new(move || {
        let sem = Arc::new(rw_semaphore::new(LockClass::new("anon_vma->rwsem")));
        let r = sem.down_read();
        let s = sem.clone();
        let w = spawn(move || {
            let _w = s.down_write();
        });
        let s = sem.clone();
        let t = spawn(move || s.down_read_trylock().is_some());
        let got = t.join();
        drop(r);
        w.join();
        s2.lock().unwrap().insert(got);
    });
    let r = run(
        &RunConfig::new(EngineSpec::Loom {
            preemption_bound: None,
            max_branches: LOOM_MAX_BRANCHES,
        }),
        body,
    );
    assert!(r.message().is_none(), "{:?}", r.message());
    let seen = seen.lock().unwrap();
    assert!(seen.contains(&false) && seen.contains(&true), "{seen:?}");
}

/// A reader inside an RCU section (or with IRQs off) that saw the pointer never sees the
/// object freed; without the grace period (or IPI) it does.
fn grace_period_body(irqs: bool, wait: bool) -> Arc<dyn Fn() + Send + Sync> {
    Arc::new(move || {
        let st = Arc::new(RcuState::new());
        let ptr = Arc::new(atomic_t::new(1));
        let freed = Arc::new(atomic_t::new(0));
        let (s1, p1, f1) = (st.clone(), ptr.clone(), freed.clone());
        let reader = spawn(move || {
            let _g1;
            let _g2;
            if irqs {
                _g1 = Some(local_irq_save(&s1));
            } else {
                _g2 = Some(rcu_read_lock(&s1));
            }
            if p1.read_dep() == 1 {
                let f = f1.read();
                assert!(
                    f == 0,
                    "[I17 table-use-after-free] reader saw a freed object"
                );
            }
        });
        ptr.set(0);
        if wait {
            if irqs {
                tlb_remove_table_sync_one(&st);
            } else {
                synchronize_rcu(&st);
            }
        }
        freed.set(1);
        reader.join();
    })
}

#[test]
fn grace_periods_and_ipis_wait_for_readers() {
    for irqs in [false, true] {
        let e = EngineSpec::Loom {
            preemption_bound: None,
            max_branches: LOOM_MAX_BRANCHES,
        };
        let r = run(&RunConfig::new(e.clone()), grace_period_body(irqs, true));
        assert!(r.message().is_none(), "irqs={irqs}: {:?}", r.message());
        let r = run(&RunConfig::new(e), grace_period_body(irqs, false));
        assert!(
            r.message().unwrap().starts_with("[I17"),
            "irqs={irqs}: {:?}",
            r.message()
        );
    }
}

/// Sleeping inside an atomic section is reported.
#[test]
fn sleeping_in_atomic_is_reported() {
    let body = Arc::new(|| {
        let st = RcuState::new();
        let sem = rw_semaphore::new(LockClass::new("mmap_lock"));
        let _r = rcu_read_lock(&st);
        let _g = sem.down_read();
    });
    let r = run(&RunConfig::new(EngineSpec::Stress { iterations: 1 }), body);
    assert!(
        r.message().unwrap().starts_with("[I19 sleep-in-atomic]"),
        "{:?}",
        r.message()
    );
}

/// A shuttle counterexample replays to the same failure and the same trace.
#[test]
fn shuttle_replay_round_trip() {
    let body = bit_lock_body(true);
    let r = run(
        &RunConfig::new(EngineSpec::ShuttlePct {
            seed: 3,
            depth: 3,
            iterations: 300,
        }),
        body.clone(),
    );
    let (m1, t1, s) = match r.verdict {
        thp_checks::engine::Verdict::Counterexample {
            message,
            trace,
            schedule,
            ..
        } => (message, trace, schedule.unwrap()),
        v => panic!("expected a counterexample, got {v:?}"),
    };
    let r2 = run(
        &RunConfig::new(EngineSpec::ShuttleReplay { schedule: s }),
        body,
    );
    match r2.verdict {
        thp_checks::engine::Verdict::Counterexample { message, trace, .. } => {
            assert_eq!(message, m1);
            assert_eq!(trace, t1);
        }
        v => panic!("replay did not fail: {v:?}"),
    }
    assert_eq!(r2.executions, 1);
}
