//! The litmus tests' bodies: one execution each, returning the observed outcome (e.g.
//! `r0=1 r1=0`). Declared in [`super::catalogue`].

use std::sync::Arc;

use thp_model::kernel::{
    atomic_t, cpu_relax, local_irq_save, rcu_read_lock, smp_load_acquire, smp_mb,
    smp_mb__after_spinlock, smp_mb__after_unlock_lock, smp_rmb, smp_store_release, smp_wmb, spawn,
    spinlock_t, LockClass, RcuState, READ_ONCE, WRITE_ONCE,
};

pub(super) fn two<A, B>(a: A, b: B) -> (String, String)
where
    A: FnOnce() -> String + Send + 'static,
    B: FnOnce() -> String + Send + 'static,
{
    let ta = spawn(a);
    let tb = spawn(b);
    (ta.join(), tb.join())
}

pub(super) fn mp(wmb: bool, rmb: bool, rel_acq: bool) -> String {
    let x = Arc::new(atomic_t::new(0));
    let y = Arc::new(atomic_t::new(0));
    let (x1, y1) = (x.clone(), y.clone());
    let (_, r) = two(
        move || {
            WRITE_ONCE(&*x1, 1);
            if wmb {
                smp_wmb();
            }
            if rel_acq {
                smp_store_release(&*y1, 1);
            } else {
                WRITE_ONCE(&*y1, 1);
            }
            String::new()
        },
        move || {
            let r0 = if rel_acq {
                smp_load_acquire(&*y)
            } else {
                READ_ONCE(&*y)
            };
            if rmb {
                smp_rmb();
            }
            let r1 = READ_ONCE(&*x);
            format!("r0={r0} r1={r1}")
        },
    );
    r
}

pub(super) fn sb(mb: bool, xchg: bool) -> String {
    let x = Arc::new(atomic_t::new(0));
    let y = Arc::new(atomic_t::new(0));
    let (x1, y1) = (x.clone(), y.clone());
    let (a, b) = two(
        move || {
            if xchg {
                x1.xchg(1);
            } else {
                WRITE_ONCE(&*x1, 1);
            }
            if mb {
                smp_mb();
            }
            format!("{}", READ_ONCE(&*y1))
        },
        move || {
            if xchg {
                y.xchg(1);
            } else {
                WRITE_ONCE(&*y, 1);
            }
            if mb {
                smp_mb();
            }
            format!("{}", READ_ONCE(&*x))
        },
    );
    format!("r0={a} r1={b}")
}

/// Store buffering where one side's only ordering between its store and its load is
/// `smp_wmb` and a `spin_lock` acquisition (the shape of fork's `write_protect_seq` store,
/// then the page-table locks, then the pin-count read in `folio_try_dup_anon_rmap_*`), the
/// other side `smp_mb` (GUP-fast: the pin, `smp_mb__after_atomic`, the seqcount re-read).
/// `smp_wmb` orders stores only, and an ACQUIRE orders only what follows it after the lock
/// word's read: the earlier store may still be in flight (hence `smp_mb__after_spinlock`).
pub(super) fn sb_wmb_lock() -> String {
    use thp_model::kernel::{spinlock_t, LockClass};
    const LITMUS_LOCK: LockClass = LockClass::new("litmus_lock");
    let x = Arc::new(atomic_t::new(0));
    let y = Arc::new(atomic_t::new(0));
    let l = Arc::new(spinlock_t::new(LITMUS_LOCK));
    let (x1, y1) = (x.clone(), y.clone());
    let (a, b) = two(
        move || {
            WRITE_ONCE(&*x1, 1);
            smp_wmb();
            let g = l.lock();
            let r0 = READ_ONCE(&*y1);
            drop(g);
            format!("{r0}")
        },
        move || {
            WRITE_ONCE(&*y, 1);
            smp_mb();
            format!("{}", READ_ONCE(&*x))
        },
    );
    format!("r0={a} r1={b}")
}

pub(super) fn lb() -> String {
    let x = Arc::new(atomic_t::new(0));
    let y = Arc::new(atomic_t::new(0));
    let (x1, y1) = (x.clone(), y.clone());
    let (a, b) = two(
        move || {
            let r0 = READ_ONCE(&*x1);
            WRITE_ONCE(&*y1, 1);
            format!("{r0}")
        },
        move || {
            let r1 = READ_ONCE(&*y);
            WRITE_ONCE(&*x, 1);
            format!("{r1}")
        },
    );
    format!("r0={a} r1={b}")
}

pub(super) fn wrc(rel_acq: bool) -> String {
    let x = Arc::new(atomic_t::new(0));
    let y = Arc::new(atomic_t::new(0));
    let x0 = x.clone();
    let t0 = spawn(move || {
        WRITE_ONCE(&*x0, 1);
        String::new()
    });
    let (x1, y1) = (x.clone(), y.clone());
    let t1 = spawn(move || {
        let r0 = READ_ONCE(&*x1);
        if rel_acq {
            smp_store_release(&*y1, 1);
        } else {
            WRITE_ONCE(&*y1, 1);
        }
        format!("{r0}")
    });
    let t2 = spawn(move || {
        let r1 = if rel_acq {
            smp_load_acquire(&*y)
        } else {
            READ_ONCE(&*y)
        };
        let r2 = READ_ONCE(&*x);
        format!("{r1} {r2}")
    });
    t0.join();
    let r0 = t1.join();
    let r12 = t2.join();
    let mut it = r12.split(' ');
    format!(
        "r0={r0} r1={} r2={}",
        it.next().unwrap_or("?"),
        it.next().unwrap_or("?")
    )
}

/// Message passing with an IRQs-off section and an RCU read section between the accesses on
/// both sides: neither is a barrier in the kernel, so the weak outcome stays allowed.
pub(super) fn mp_sections() -> String {
    let st = Arc::new(RcuState::new());
    let x = Arc::new(atomic_t::new(0));
    let y = Arc::new(atomic_t::new(0));
    let (x1, y1, s1) = (x.clone(), y.clone(), st.clone());
    let (_, r) = two(
        move || {
            WRITE_ONCE(&*x1, 1);
            drop(local_irq_save(&s1));
            drop(rcu_read_lock(&s1));
            WRITE_ONCE(&*y1, 1);
            String::new()
        },
        move || {
            let r0 = READ_ONCE(&*y);
            drop(local_irq_save(&st));
            drop(rcu_read_lock(&st));
            let r1 = READ_ONCE(&*x);
            format!("r0={r0} r1={r1}")
        },
    );
    r
}

/// A failed cmpxchg is unordered: it cannot stand in for the `smp_rmb` of message passing.
pub(super) fn mp_failed_cmpxchg() -> String {
    let x = Arc::new(atomic_t::new(0));
    let y = Arc::new(atomic_t::new(0));
    let z = Arc::new(atomic_t::new(0));
    let (x1, y1) = (x.clone(), y.clone());
    let (_, r) = two(
        move || {
            WRITE_ONCE(&*x1, 1);
            smp_wmb();
            WRITE_ONCE(&*y1, 1);
            String::new()
        },
        move || {
            let r0 = READ_ONCE(&*y);
            let seen = z.cmpxchg(5, 6); // fails: z is 0
            let r1 = READ_ONCE(&*x);
            format!("r0={r0} r1={r1} cmpxchg_failed={}", seen != 5)
        },
    );
    r
}

/// A successful cmpxchg is fully ordered: message passing through it is forbidden to fail.
pub(super) fn mp_cmpxchg_success() -> String {
    let x = Arc::new(atomic_t::new(0));
    let y = Arc::new(atomic_t::new(0));
    let z = Arc::new(atomic_t::new(0));
    let (x1, y1) = (x.clone(), y.clone());
    let (_, r) = two(
        move || {
            WRITE_ONCE(&*x1, 1);
            smp_wmb();
            WRITE_ONCE(&*y1, 1);
            String::new()
        },
        move || {
            let r0 = READ_ONCE(&*y);
            let seen = z.cmpxchg(0, 1); // succeeds: z is 0 and nobody else writes it
            let r1 = READ_ONCE(&*x);
            format!("r0={r0} r1={r1} cmpxchg_ok={}", seen == 0)
        },
    );
    r
}

/// `atomic_add_unless(v, 1, 0)` racing with the unfreeze `atomic_set_release(v, 1)` of a
/// count frozen at 0 (include/linux/page_ref.h; Documentation/atomic_t.txt): either the
/// add-unless read 0 and stored nothing (final 1), or it read 1 and added (final 2). A lost
/// update or a store on zero gives any other pair.
pub fn add_unless_vs_unfreeze_with(add_unless: fn(&atomic_t) -> bool) -> String {
    let v = Arc::new(atomic_t::new(0));
    let v1 = v.clone();
    let v2 = v.clone();
    let (_, ok) = two(
        move || {
            v1.set_release(1);
            String::new()
        },
        move || format!("{}", add_unless(&v2)),
    );
    let fin = v.read();
    let ok = ok == "true";
    let consistent = (ok && fin == 2) || (!ok && fin == 1);
    if !consistent {
        panic!(
            "[{}] add_unless returned {ok} but the count ended at {fin}",
            thp_model::invariants::Inv::L2AddUnlessStoredOnU.tag()
        );
    }
    format!("added={ok} final={fin}")
}

pub(super) fn add_unless_vs_unfreeze() -> String {
    add_unless_vs_unfreeze_with(|v| v.add_unless(1, 0))
}

pub(super) const ENGINE_LOCK: LockClass = LockClass::new("litmus_engine_lock");

/// A `spin_trylock` while another CPU holds the lock fails. (loom 0.7.3's DPOR never explored
/// it: a release was no branch point, a thread about to try_lock was blocked like a `lock`.)
pub(super) fn trylock_while_held() -> String {
    let l = Arc::new(spinlock_t::new(ENGINE_LOCK));
    let x = Arc::new(atomic_t::new(0));
    let (l1, x1) = (l.clone(), x.clone());
    let t = spawn(move || {
        let g = l1.lock();
        WRITE_ONCE(&*x1, 1);
        drop(g);
    });
    let ok = l.trylock().is_some();
    t.join();
    format!("trylock={}", if ok { "ok" } else { "fail" })
}

/// A CPU whose first access is a load of the word it then stores races with another CPU's
/// load of it (tokio-rs/loom#392: the first load hid the race).
pub(super) fn first_load() -> String {
    let a = Arc::new(atomic_t::new(0));
    let a1 = a.clone();
    let t = spawn(move || {
        let _ = READ_ONCE(&*a1);
        WRITE_ONCE(&*a1, 1);
    });
    let r = READ_ONCE(&*a);
    t.join();
    format!("r={r}")
}

/// A writer stores key=1, value=1, value=0, loads key, stores key=0; a reader loads value then
/// key (tokio-rs/loom#166: the writer's extra load lost the outcome value=1 key=0).
pub(super) fn extra_load() -> String {
    let key = Arc::new(atomic_t::new(0));
    let value = Arc::new(atomic_t::new(0));
    let (k1, v1) = (key.clone(), value.clone());
    let (k2, v2) = (key.clone(), value.clone());
    let (_, r) = two(
        move || {
            WRITE_ONCE(&*k1, 1);
            WRITE_ONCE(&*v1, 1);
            WRITE_ONCE(&*v1, 0);
            let _ = READ_ONCE(&*k1);
            WRITE_ONCE(&*k1, 0);
            String::new()
        },
        move || {
            let v = READ_ONCE(&*v2);
            let k = READ_ONCE(&*k2);
            format!("value={v} key={k}")
        },
    );
    r
}

/// A CPU runs `cpu_relax` and then an RMW; another CPU runs two. The step right after the
/// yield races with the other CPU's second RMW (loom 0.7.3's DPOR dropped that backtracking
/// point). Under loom the relaxing CPU never goes first: a yield means "not before another CPU
/// has run a step" (docs/memory-model.md), so `a=0` is not explored.
pub(super) fn rmw_after_cpu_relax() -> String {
    let x = Arc::new(atomic_t::new(0));
    let x1 = x.clone();
    let t = spawn(move || {
        cpu_relax();
        x1.fetch_add(1)
    });
    let b0 = x.fetch_add(1);
    let b1 = x.fetch_add(1);
    let a = t.join();
    format!("a={a} b={b0},{b1}")
}

/// Message passing: the writer stores x then publishes y with `publish`; the reader reads y
/// with `observe`, then x.
pub(super) fn mp_with(publish: fn(&atomic_t), observe: fn(&atomic_t) -> i32) -> String {
    let x = Arc::new(atomic_t::new(0));
    let y = Arc::new(atomic_t::new(0));
    let (x1, y1) = (x.clone(), y.clone());
    let (_, r) = two(
        move || {
            WRITE_ONCE(&*x1, 1);
            publish(&y1);
            String::new()
        },
        move || {
            let r0 = observe(&y);
            let r1 = READ_ONCE(&*x);
            format!("r0={r0} r1={r1}")
        },
    );
    r
}

/// Store buffering: each CPU stores its flag with `store`, then reads the other's.
pub(super) fn sb_with(store: fn(&atomic_t)) -> String {
    let x = Arc::new(atomic_t::new(0));
    let y = Arc::new(atomic_t::new(0));
    let (x1, y1) = (x.clone(), y.clone());
    let (a, b) = two(
        move || {
            store(&x1);
            format!("{}", READ_ONCE(&*y1))
        },
        move || {
            store(&y);
            format!("{}", READ_ONCE(&*x))
        },
    );
    format!("r0={a} r1={b}")
}

/// A CPU stores x=1, then under a lock with `smp_mb__after_spinlock` reads y; the other CPU
/// stores y=1, `smp_mb`, reads x.
pub(super) fn sb_after_spinlock() -> String {
    let l = Arc::new(spinlock_t::new(ENGINE_LOCK));
    let x = Arc::new(atomic_t::new(0));
    let y = Arc::new(atomic_t::new(0));
    let (x1, y1) = (x.clone(), y.clone());
    let (a, b) = two(
        move || {
            WRITE_ONCE(&*x1, 1);
            let g = l.lock();
            smp_mb__after_spinlock();
            let r0 = READ_ONCE(&*y1);
            drop(g);
            format!("{r0}")
        },
        move || {
            WRITE_ONCE(&*y, 1);
            smp_mb();
            format!("{}", READ_ONCE(&*x))
        },
    );
    format!("r0={a} r1={b}")
}

/// A CPU stores x=1 in one critical section and y=1 in the next one of the same lock
/// (optionally with `smp_mb__after_unlock_lock` after the second lock); the other CPU reads y,
/// `smp_rmb`, reads x.
pub(super) fn mp_unlock_lock(after_unlock_lock: bool) -> String {
    let l = Arc::new(spinlock_t::new(ENGINE_LOCK));
    let x = Arc::new(atomic_t::new(0));
    let y = Arc::new(atomic_t::new(0));
    let (x1, y1) = (x.clone(), y.clone());
    let (_, r) = two(
        move || {
            let g = l.lock();
            WRITE_ONCE(&*x1, 1);
            drop(g);
            let g = l.lock();
            if after_unlock_lock {
                smp_mb__after_unlock_lock();
            }
            WRITE_ONCE(&*y1, 1);
            drop(g);
            String::new()
        },
        move || {
            let r0 = READ_ONCE(&*y);
            smp_rmb();
            let r1 = READ_ONCE(&*x);
            format!("r0={r0} r1={r1}")
        },
    );
    r
}

/// Three CPUs: one reads x, runs `cpu_relax`, then an RMW on x; one stores an unrelated y; the
/// main CPU stores x=10. The RMW right after the yield racing with the main CPU's store needs
/// another CPU's step where the relaxing CPU waits (loom's yield_now backtracking, three-thread
/// case).
pub(super) fn rmw_after_cpu_relax_three_cpus() -> String {
    let x = Arc::new(atomic_t::new(0));
    let y = Arc::new(atomic_t::new(0));
    let (x2, y1) = (x.clone(), y.clone());
    let t1 = spawn(move || WRITE_ONCE(&*y1, 1));
    let t2 = spawn(move || {
        let a = READ_ONCE(&*x2);
        cpu_relax();
        let b = x2.fetch_add(1);
        format!("a={a} b={b}")
    });
    WRITE_ONCE(&*x, 10);
    t1.join();
    t2.join()
}

/// Message passing whose reader runs a failed conditional RMW between its two loads.
pub(super) fn mp_failed(rmw: fn(&atomic_t) -> bool) -> String {
    let x = Arc::new(atomic_t::new(0));
    let y = Arc::new(atomic_t::new(0));
    let z = Arc::new(atomic_t::new(0));
    let (x1, y1) = (x.clone(), y.clone());
    let (_, r) = two(
        move || {
            WRITE_ONCE(&*x1, 1);
            smp_wmb();
            WRITE_ONCE(&*y1, 1);
            String::new()
        },
        move || {
            let r0 = READ_ONCE(&*y);
            let ok = rmw(&z);
            let r1 = READ_ONCE(&*x);
            format!("r0={r0} r1={r1} failed={}", !ok)
        },
    );
    r
}
