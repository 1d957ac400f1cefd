//! Litmus tests that show the primitive layer (`thp_model::kernel`) is faithful to the Linux
//! kernel memory model (LKMM, tools/memory-model), and where the engines fall short of it.
//!
//! Each test names one "target" outcome, its LKMM verdict (allowed / forbidden), and what each
//! engine is expected to do with it:
//! * a forbidden outcome must never be observed (observing it is invariant L1);
//! * an allowed outcome must be observed by loom (the run fails if loom cannot find it), so
//!   the engine is shown to explore weak behaviours — except where loom is known not to
//!   (load buffering: loom never explores it), where the expectation pins loom's actual
//!   behaviour and docs/memory-model.md states the limit;
//! * shuttle runs every atomic sequentially consistently, so it reaches no weak outcome;
//!   std threads on x86 may or may not, so nothing is asserted about reachability there.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use thp_model::kernel::{
    atomic_t, cpu_relax, local_irq_save, rcu_read_lock, smp_load_acquire, smp_mb,
    smp_mb__after_spinlock, smp_mb__after_unlock_lock, smp_rmb, smp_store_mb, smp_store_release,
    smp_wmb, spawn, spinlock_t, LockClass, RcuState, READ_ONCE, WRITE_ONCE,
};

use crate::engine::{run, EngineSpec, RunConfig, RunResult, Verdict};

/// The LKMM verdict for the target outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lkmm {
    Allowed,
    Forbidden,
}

/// One litmus test.
#[derive(Clone, Copy, Debug)]
pub struct Litmus {
    pub name: &'static str,
    pub description: &'static str,
    /// The outcome the test is about, as printed by `body`.
    pub target: &'static str,
    pub lkmm: Lkmm,
    /// Does loom reach the target? (Equal to `lkmm == Allowed` except for documented limits.)
    pub loom_reaches: bool,
    /// Is the target reachable under sequential consistency (by shuttle's exhaustive DFS)?
    /// False for the weak-memory outcomes.
    pub sc: bool,
    /// Why loom differs from the LKMM here, when it does.
    pub loom_limit: Option<&'static str>,
    /// One execution: returns the observed outcome.
    pub body: fn() -> String,
}

fn two<A, B>(a: A, b: B) -> (String, String)
where
    A: FnOnce() -> String + Send + 'static,
    B: FnOnce() -> String + Send + 'static,
{
    let ta = spawn(a);
    let tb = spawn(b);
    (ta.join(), tb.join())
}

fn mp(wmb: bool, rmb: bool, rel_acq: bool) -> String {
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

fn sb(mb: bool, xchg: bool) -> String {
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
fn sb_wmb_lock() -> String {
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

fn lb() -> String {
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

fn wrc(rel_acq: bool) -> String {
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
fn mp_sections() -> String {
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
fn mp_failed_cmpxchg() -> String {
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
fn mp_cmpxchg_success() -> String {
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

fn add_unless_vs_unfreeze() -> String {
    add_unless_vs_unfreeze_with(|v| v.add_unless(1, 0))
}

const ENGINE_LOCK: LockClass = LockClass::new("litmus_engine_lock");

/// A `spin_trylock` while another CPU holds the lock fails. (loom 0.7.3's DPOR never explored
/// it: a release was no branch point, a thread about to try_lock was blocked like a `lock`.)
fn trylock_while_held() -> String {
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
fn first_load() -> String {
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
fn extra_load() -> String {
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
fn rmw_after_cpu_relax() -> String {
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
fn mp_with(publish: fn(&atomic_t), observe: fn(&atomic_t) -> i32) -> String {
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
fn sb_with(store: fn(&atomic_t)) -> String {
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
fn sb_after_spinlock() -> String {
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
fn mp_unlock_lock(after_unlock_lock: bool) -> String {
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
fn rmw_after_cpu_relax_three_cpus() -> String {
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
fn mp_failed(rmw: fn(&atomic_t) -> bool) -> String {
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

/// The catalogue of litmus tests.
pub const LITMUS: &[Litmus] = &[
    Litmus {
        name: "litmus-mp",
        description: "message passing, plain WRITE_ONCE/READ_ONCE",
        target: "r0=1 r1=0",
        lkmm: Lkmm::Allowed,
        loom_reaches: true,
        sc: false,
        loom_limit: None,
        body: || mp(false, false, false),
    },
    Litmus {
        name: "litmus-mp-wmb",
        description: "message passing with smp_wmb only (no reader barrier)",
        target: "r0=1 r1=0",
        lkmm: Lkmm::Allowed,
        loom_reaches: true,
        sc: false,
        loom_limit: None,
        body: || mp(true, false, false),
    },
    Litmus {
        name: "litmus-mp-wmb-rmb",
        description: "message passing with smp_wmb / smp_rmb",
        target: "r0=1 r1=0",
        lkmm: Lkmm::Forbidden,
        loom_reaches: false,
        sc: false,
        loom_limit: None,
        body: || mp(true, true, false),
    },
    Litmus {
        name: "litmus-mp-release-acquire",
        description: "message passing with smp_store_release / smp_load_acquire",
        target: "r0=1 r1=0",
        lkmm: Lkmm::Forbidden,
        loom_reaches: false,
        sc: false,
        loom_limit: None,
        body: || mp(false, false, true),
    },
    Litmus {
        name: "litmus-mp-failed-cmpxchg",
        description: "message passing where the reader's only barrier is a failed cmpxchg (unordered)",
        target: "r0=1 r1=0 cmpxchg_failed=true",
        lkmm: Lkmm::Allowed,
        loom_reaches: true,
        sc: false,
        loom_limit: None,
        body: mp_failed_cmpxchg,
    },
    Litmus {
        name: "litmus-mp-cmpxchg",
        description: "message passing where the reader's barrier is a successful cmpxchg (fully ordered)",
        target: "r0=1 r1=0 cmpxchg_ok=true",
        lkmm: Lkmm::Forbidden,
        loom_reaches: false,
        sc: false,
        loom_limit: None,
        body: mp_cmpxchg_success,
    },
    Litmus {
        name: "litmus-mp-irq-sections",
        description: "message passing with an IRQs-off and an RCU read section (not barriers) between the accesses",
        target: "r0=1 r1=0",
        lkmm: Lkmm::Allowed,
        loom_reaches: true,
        sc: false,
        loom_limit: None,
        body: mp_sections,
    },
    Litmus {
        name: "litmus-sb",
        description: "store buffering, no barriers",
        target: "r0=0 r1=0",
        lkmm: Lkmm::Allowed,
        loom_reaches: true,
        sc: false,
        loom_limit: None,
        body: || sb(false, false),
    },
    Litmus {
        name: "litmus-sb-mb",
        description: "store buffering with smp_mb on both sides",
        target: "r0=0 r1=0",
        lkmm: Lkmm::Forbidden,
        loom_reaches: false,
        sc: false,
        loom_limit: None,
        body: || sb(true, false),
    },
    Litmus {
        name: "litmus-sb-xchg",
        description: "store buffering where the stores are xchg (value-returning RMW: fully ordered)",
        target: "r0=0 r1=0",
        lkmm: Lkmm::Forbidden,
        loom_reaches: false,
        sc: false,
        loom_limit: None,
        body: || sb(false, true),
    },
    Litmus {
        name: "litmus-sb-wmb-lock",
        description: "store buffering where one side has smp_wmb then spin_lock between its store and its load, the other smp_mb (fork's write_protect_seq vs GUP-fast's pin)",
        target: "r0=0 r1=0",
        lkmm: Lkmm::Allowed,
        loom_reaches: true,
        sc: false,
        loom_limit: None,
        body: sb_wmb_lock,
    },
    Litmus {
        name: "litmus-lb",
        description: "load buffering, no dependencies or barriers",
        target: "r0=1 r1=1",
        lkmm: Lkmm::Allowed,
        loom_reaches: false,
        sc: false,
        loom_limit: Some(
            "loom never lets a load read from a store that is later in program order of another \
             thread's po-later store (no load buffering); a rule whose only counterexample is an \
             LB cycle cannot be caught by loom",
        ),
        body: lb,
    },
    Litmus {
        name: "litmus-wrc",
        description: "write-to-read causality, no barriers",
        target: "r0=1 r1=1 r2=0",
        lkmm: Lkmm::Allowed,
        loom_reaches: true,
        sc: false,
        loom_limit: None,
        body: || wrc(false),
    },
    Litmus {
        name: "litmus-wrc-release-acquire",
        description: "write-to-read causality with smp_store_release / smp_load_acquire (cumulative release)",
        target: "r0=1 r1=1 r2=0",
        lkmm: Lkmm::Forbidden,
        loom_reaches: false,
        sc: false,
        loom_limit: None,
        body: || wrc(true),
    },
    Litmus {
        name: "litmus-add-unless-vs-unfreeze",
        description: "atomic_add_unless(v,1,0) vs atomic_set_release(v,1) of a frozen count: never stores on 0, never loses an update",
        target: "added=true final=2",
        lkmm: Lkmm::Allowed,
        loom_reaches: true,
        sc: true,
        loom_limit: None,
        body: add_unless_vs_unfreeze,
    },
    Litmus {
        name: "litmus-sb-xchg-relaxed",
        description: "store buffering through xchg_relaxed (arm64's page-table xchg): unordered",
        target: "r0=0 r1=0",
        lkmm: Lkmm::Allowed,
        loom_reaches: true,
        sc: false,
        loom_limit: None,
        body: || {
            sb_with(|v| {
                v.xchg_relaxed(1);
            })
        },
    },
    Litmus {
        name: "litmus-sb-xchg-release",
        description: "store buffering through xchg_release: a release orders what precedes the store, not the store before later loads",
        target: "r0=0 r1=0",
        lkmm: Lkmm::Allowed,
        loom_reaches: true,
        sc: false,
        loom_limit: None,
        body: || {
            sb_with(|v| {
                v.xchg_release(1);
            })
        },
    },
    Litmus {
        name: "litmus-mp-failed-cmpxchg-acquire",
        description: "a failed cmpxchg_acquire is unordered: it cannot stand in for smp_rmb",
        target: "r0=1 r1=0 failed=true",
        lkmm: Lkmm::Allowed,
        loom_reaches: true,
        sc: false,
        loom_limit: None,
        body: || mp_failed(|z| z.cmpxchg_acquire(5, 6) == 5),
    },
    Litmus {
        name: "litmus-mp-failed-try-cmpxchg",
        description: "a failed try_cmpxchg is unordered: it cannot stand in for smp_rmb",
        target: "r0=1 r1=0 failed=true",
        lkmm: Lkmm::Allowed,
        loom_reaches: true,
        sc: false,
        loom_limit: None,
        body: || {
            mp_failed(|z| {
                let mut old = 5;
                z.try_cmpxchg(&mut old, 6)
            })
        },
    },
    Litmus {
        name: "litmus-mp-cmpxchg-relaxed",
        description: "message passing through cmpxchg_relaxed on both sides: unordered",
        target: "r0=1 r1=0",
        lkmm: Lkmm::Allowed,
        loom_reaches: true,
        sc: false,
        loom_limit: None,
        body: || {
            mp_with(
                |y| {
                    y.cmpxchg_relaxed(0, 1);
                },
                |y| y.cmpxchg_relaxed(1, 1),
            )
        },
    },
    Litmus {
        name: "litmus-mp-cmpxchg-release-acquire",
        description: "message passing through cmpxchg_release / cmpxchg_acquire (both succeed when the message is seen)",
        target: "r0=1 r1=0",
        lkmm: Lkmm::Forbidden,
        loom_reaches: false,
        sc: false,
        loom_limit: None,
        body: || {
            mp_with(
                |y| {
                    y.cmpxchg_release(0, 1);
                },
                |y| y.cmpxchg_acquire(1, 1),
            )
        },
    },
    Litmus {
        name: "litmus-mp-xchg-release-acquire",
        description: "message passing through xchg_release / xchg_acquire",
        target: "r0=1 r1=0",
        lkmm: Lkmm::Forbidden,
        loom_reaches: false,
        sc: false,
        loom_limit: None,
        body: || {
            mp_with(
                |y| {
                    y.xchg_release(1);
                },
                |y| y.xchg_acquire(0),
            )
        },
    },
    Litmus {
        name: "litmus-mp-add-return-release-acquire",
        description: "message passing through atomic_add_return_release / atomic_add_return_acquire",
        target: "r0=1 r1=0",
        lkmm: Lkmm::Forbidden,
        loom_reaches: false,
        sc: false,
        loom_limit: None,
        body: || {
            mp_with(
                |y| {
                    y.add_return_release(1);
                },
                |y| y.add_return_acquire(0),
            )
        },
    },
    Litmus {
        name: "litmus-mp-fetch-add-relaxed",
        description: "message passing through atomic_fetch_add_relaxed on both sides: unordered",
        target: "r0=1 r1=0",
        lkmm: Lkmm::Allowed,
        loom_reaches: true,
        sc: false,
        loom_limit: None,
        body: || {
            mp_with(
                |y| {
                    y.fetch_add_relaxed(1);
                },
                |y| y.fetch_add_relaxed(0),
            )
        },
    },
    Litmus {
        name: "litmus-mp-try-cmpxchg",
        description: "message passing with smp_wmb, the reader ordered by a successful try_cmpxchg (fully ordered)",
        target: "r0=1 r1=0",
        lkmm: Lkmm::Forbidden,
        loom_reaches: false,
        sc: false,
        loom_limit: None,
        body: || {
            mp_with(
                |y| {
                    smp_wmb();
                    WRITE_ONCE(y, 1);
                },
                |y| {
                    let r0 = READ_ONCE(y);
                    let z = atomic_t::new(0);
                    let mut old = 0;
                    assert!(z.try_cmpxchg(&mut old, 1));
                    r0
                },
            )
        },
    },
    Litmus {
        name: "litmus-sb-store-mb",
        description: "store buffering with smp_store_mb",
        target: "r0=0 r1=0",
        lkmm: Lkmm::Forbidden,
        loom_reaches: false,
        sc: false,
        loom_limit: None,
        body: || sb_with(|v| smp_store_mb(v, 1)),
    },
    Litmus {
        name: "litmus-sb-after-spinlock",
        description: "store buffering where one CPU's load follows spin_lock + smp_mb__after_spinlock",
        target: "r0=0 r1=0",
        lkmm: Lkmm::Forbidden,
        loom_reaches: false,
        sc: false,
        loom_limit: None,
        body: sb_after_spinlock,
    },
    Litmus {
        name: "litmus-mp-unlock-lock",
        description: "message passing through two critical sections of one lock on the writer, smp_rmb on the reader",
        target: "r0=1 r1=0",
        lkmm: Lkmm::Forbidden,
        loom_reaches: true,
        sc: false,
        loom_limit: Some(
            "the LKMM orders a CPU's stores before an unlock against its stores after a later \
             lock for every observer (po-unlock-lock-po is a cumulative fence); the model's \
             spin_lock / spin_unlock are acquire / release only (arm64), which C11 does not \
             order for a third party. The model reaches an outcome the kernel cannot: a \
             possible false alarm, never a missed behaviour",
        ),
        body: || mp_unlock_lock(false),
    },
    Litmus {
        name: "litmus-mp-unlock-lock-after-unlock-lock",
        description: "as litmus-mp-unlock-lock, with smp_mb__after_unlock_lock after the second lock",
        target: "r0=1 r1=0",
        lkmm: Lkmm::Forbidden,
        loom_reaches: false,
        sc: false,
        loom_limit: None,
        body: || mp_unlock_lock(true),
    },
    Litmus {
        name: "litmus-trylock-fails-while-held",
        description: "spin_trylock while another CPU holds the lock (engine audit: loom 0.7.3 never explored the failure)",
        target: "trylock=fail",
        lkmm: Lkmm::Allowed,
        loom_reaches: true,
        sc: true,
        loom_limit: None,
        body: trylock_while_held,
    },
    Litmus {
        name: "litmus-first-load",
        description: "a CPU loads then stores a word another CPU loads (engine audit: tokio-rs/loom#392)",
        target: "r=1",
        lkmm: Lkmm::Allowed,
        loom_reaches: true,
        sc: true,
        loom_limit: None,
        body: first_load,
    },
    Litmus {
        name: "litmus-extra-load",
        description: "key/value stores with an extra load of key in the writer (engine audit: tokio-rs/loom#166)",
        target: "value=1 key=0",
        lkmm: Lkmm::Allowed,
        loom_reaches: true,
        sc: true,
        loom_limit: None,
        body: extra_load,
    },
    Litmus {
        name: "litmus-rmw-after-cpu-relax",
        description: "the RMW a CPU runs right after cpu_relax, between another CPU's two RMWs (engine audit: loom's yield_now backtracking)",
        target: "a=1 b=0,2",
        lkmm: Lkmm::Allowed,
        loom_reaches: true,
        sc: true,
        loom_limit: None,
        body: rmw_after_cpu_relax,
    },
    Litmus {
        name: "litmus-rmw-after-cpu-relax-three-cpus",
        description: "the RMW right after cpu_relax racing with a third CPU's store, while another CPU runs (engine audit: loom's yield_now backtracking, three threads)",
        target: "a=0 b=0",
        lkmm: Lkmm::Allowed,
        loom_reaches: true,
        sc: true,
        loom_limit: None,
        body: rmw_after_cpu_relax_three_cpus,
    },
];

/// Look a litmus test up by name.
pub fn find(name: &str) -> Option<&'static Litmus> {
    LITMUS.iter().find(|l| l.name == name)
}

/// The result of running one litmus test under one engine.
#[derive(Debug, Clone)]
pub struct LitmusResult {
    pub run: RunResult,
    pub observed: BTreeSet<String>,
    /// Did the engine agree with its expectation for the target outcome?
    pub agrees: Result<(), String>,
}

/// Is the target expected to be reached under this engine?
pub fn expected_reach(l: &Litmus, engine: &EngineSpec) -> Option<bool> {
    match engine {
        EngineSpec::Loom { .. } => Some(l.loom_reaches),
        // Sequentially consistent: no weak outcome; an SC-reachable target is reached by the
        // exhaustive DFS.
        EngineSpec::ShuttleDfs {
            max_iterations: None,
        } => Some(l.sc),
        EngineSpec::ShuttleRandom { .. }
        | EngineSpec::ShuttlePct { .. }
        | EngineSpec::ShuttleDfs { .. }
        | EngineSpec::ShuttleReplay { .. } => {
            if l.sc {
                None // reachable, but a random run need not hit it
            } else {
                Some(false)
            }
        }
        EngineSpec::Stress { .. } => None,
    }
}

/// Run one litmus test: the body under the engine, a forbidden target as invariant L1, then
/// compare what was observed with the expectation.
pub fn run_litmus(l: &'static Litmus, cfg: &RunConfig) -> LitmusResult {
    let observed = Arc::new(Mutex::new(BTreeSet::new()));
    let obs = observed.clone();
    let body = Arc::new(move || {
        let o = (l.body)();
        // A forbidden target the model reaches by a documented limit (`loom_limit`) is pinned
        // by the expectation below, not reported as a violation.
        if l.lkmm == Lkmm::Forbidden && !l.loom_reaches && o == l.target {
            panic!(
                "[{}] {}: observed {o}, which the Linux kernel memory model forbids",
                thp_model::invariants::Inv::L1LitmusForbidden.tag(),
                l.name
            );
        }
        obs.lock().unwrap_or_else(|e| e.into_inner()).insert(o);
    });
    // The LKMM is no architecture: run with the weakest hardware the model has (arm64, whose
    // spin_lock is an ACQUIRE only, not x86's full-barrier LOCK cmpxchg).
    let mut cfg = cfg.clone();
    cfg.hardware = thp_model::kernel::Arch::Arm64.hardware();
    let cfg = &cfg;
    let run = run(cfg, body);
    let observed = observed.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let reached = observed.contains(l.target);
    let agrees = match (&run.verdict, expected_reach(l, &cfg.engine)) {
        (Verdict::Counterexample { message, .. }, _) | (Verdict::ModelBug { message, .. }, _) => {
            Err(message.clone())
        }
        (Verdict::Incomplete { reason }, _) => Err(format!("incomplete: {reason}")),
        (Verdict::Holds, Some(true)) if !reached => Err(format!(
            "{}: the {:?} outcome {} was never reached by {}",
            l.name,
            l.lkmm,
            l.target,
            cfg.engine.name()
        )),
        (Verdict::Holds, Some(false)) if reached => Err(format!(
            "{}: {} reached {} although it is expected not to (update the expectation and docs/memory-model.md)",
            l.name,
            cfg.engine.name(),
            l.target
        )),
        _ => Ok(()),
    };
    LitmusResult {
        run,
        observed,
        agrees,
    }
}

/// The outcomes litmus test `l` reaches under loom with `preemption_bound` (None: unbounded),
/// with or without partial-order reduction (None unless the run held to its end), and the
/// executions explored (`thpcheck audit`: unbounded, the two sets must be equal).
pub fn outcomes_under_loom(
    l: &'static Litmus,
    dpor: bool,
    preemption_bound: Option<usize>,
) -> (Option<BTreeSet<String>>, u64) {
    let mut cfg = RunConfig::new(EngineSpec::Loom {
        preemption_bound,
        max_branches: crate::engine::LOOM_MAX_BRANCHES,
    });
    cfg.loom_dpor = dpor;
    let r = run_litmus(l, &cfg);
    let held = matches!(r.run.verdict, Verdict::Holds);
    (held.then_some(r.observed), r.run.executions)
}
