//! The catalogue of litmus tests: each one's target outcome, its LKMM verdict and what the
//! engines do with it.

use thp_model::kernel::{atomic_t, smp_store_mb, smp_wmb, READ_ONCE, WRITE_ONCE};

use super::bodies::*;
use super::{Litmus, Lkmm};

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
