#![deny(warnings, rust_2018_idioms)]
//! Interleavings loom 0.7.3's DPOR skipped. Each test collects the outcome of
//! every execution (in a std collection outside the model) and asserts that
//! every outcome the program can produce was seen.

use loom::sync::atomic::AtomicBool;
use loom::sync::atomic::AtomicUsize;
use loom::sync::atomic::Ordering::{Relaxed, SeqCst};
use loom::sync::{Arc, Mutex, RwLock};
use loom::thread;

use std::collections::BTreeSet;

/// Runs `f` under loom, with or without partial-order reduction, and returns
/// the set of its results.
fn outcomes_with<T, F>(dpor: bool, f: F) -> BTreeSet<T>
where
    T: Ord + Send + 'static,
    F: Fn() -> T + Send + Sync + 'static,
{
    let seen = std::sync::Arc::new(std::sync::Mutex::new(BTreeSet::new()));
    let seen2 = seen.clone();
    let mut builder = loom::model::Builder::new();
    builder.dpor = dpor;
    builder.check(move || {
        let r = f();
        seen2.lock().unwrap().insert(r);
    });
    let out = std::mem::take(&mut *seen.lock().unwrap());
    out
}

/// The outcomes with DPOR, after checking that the search without reduction
/// finds no other.
fn outcomes<T, F>(f: F) -> BTreeSet<T>
where
    T: Ord + Send + std::fmt::Debug + 'static,
    F: Fn() -> T + Send + Sync + Clone + 'static,
{
    let with = outcomes_with(true, f.clone());
    let without = outcomes_with(false, f);
    assert_eq!(with, without, "DPOR lost outcomes the full search finds");
    with
}

/// A `try_lock` that runs while another thread holds the mutex fails. The
/// release of the mutex was not a branch point, and a thread waiting at its
/// `try_lock` was blocked like one waiting at `lock`, so the failure was
/// never explored.
#[test]
fn try_lock_fails_while_held() {
    let seen = outcomes(|| {
        let m = Arc::new(Mutex::new(0));
        let m2 = m.clone();
        let th = thread::spawn(move || {
            let mut g = m2.lock().unwrap();
            *g += 1;
            drop(g);
        });
        let ok = m.try_lock().is_ok();
        th.join().unwrap();
        ok
    });
    assert_eq!(seen, [false, true].into_iter().collect());
}

/// The same with an atomic access inside the critical section.
#[test]
fn try_lock_fails_while_held_with_store_inside() {
    let seen = outcomes(|| {
        let m = Arc::new(Mutex::new(()));
        let a = Arc::new(AtomicBool::new(false));
        let (m2, a2) = (m.clone(), a.clone());
        let th = thread::spawn(move || {
            let g = m2.lock().unwrap();
            a2.store(true, Relaxed);
            drop(g);
        });
        let ok = m.try_lock().is_ok();
        th.join().unwrap();
        ok
    });
    assert_eq!(seen, [false, true].into_iter().collect());
}

/// `try_write` / `try_read` fail while the other side holds the lock.
#[test]
fn rwlock_try_fails_while_held() {
    let seen = outcomes(|| {
        let l = Arc::new(RwLock::new(0));
        let l2 = l.clone();
        let th = thread::spawn(move || {
            let g = l2.read().unwrap();
            drop(g);
        });
        let ok = l.try_write().is_ok();
        th.join().unwrap();
        ok
    });
    assert_eq!(seen, [false, true].into_iter().collect());

    let seen = outcomes(|| {
        let l = Arc::new(RwLock::new(0));
        let l2 = l.clone();
        let th = thread::spawn(move || {
            let mut g = l2.write().unwrap();
            *g += 1;
            drop(g);
        });
        let ok = l.try_read().is_ok();
        th.join().unwrap();
        ok
    });
    assert_eq!(seen, [false, true].into_iter().collect());
}

/// tokio-rs/loom#392: a spawned thread whose first operation is a load. Its
/// own load was the last access to `a`, so its store saw no race with the
/// main thread's load.
#[test]
fn first_operation_load_hides_race() {
    let seen = outcomes(|| {
        let a = Arc::new(AtomicBool::new(false));
        let a2 = a.clone();
        let th = thread::spawn(move || {
            let _ = a2.load(Relaxed);
            a2.store(true, Relaxed);
        });
        let r = a.load(Relaxed);
        th.join().unwrap();
        r
    });
    assert_eq!(seen, [false, true].into_iter().collect());
}

/// tokio-rs/loom#166: an extra load by the writer must not change the
/// outcomes a reader can see.
#[test]
fn extra_load_keeps_outcomes() {
    fn run(extra_load: bool) -> BTreeSet<(usize, usize)> {
        outcomes(move || {
            let key = Arc::new(AtomicUsize::new(0));
            let value = Arc::new(AtomicUsize::new(0));
            let (k1, v1) = (key.clone(), value.clone());
            let t1 = thread::spawn(move || {
                k1.store(1, SeqCst);
                v1.store(1, SeqCst);
                v1.store(0, SeqCst);
                if extra_load {
                    k1.load(SeqCst);
                }
                k1.store(0, SeqCst);
            });
            let (k2, v2) = (key.clone(), value.clone());
            let t2 = thread::spawn(move || (v2.load(SeqCst), k2.load(SeqCst)));
            t1.join().unwrap();
            t2.join().unwrap()
        })
    }
    let without = run(false);
    assert!(without.contains(&(1, 0)), "{:?}", without);
    assert_eq!(run(true), without);
}

/// Store buffering: the search without reduction is the reference.
#[test]
fn store_buffering_matches_full_search() {
    let seen = outcomes(|| {
        let x = Arc::new(AtomicUsize::new(0));
        let y = Arc::new(AtomicUsize::new(0));
        let (x1, y1) = (x.clone(), y.clone());
        let th = thread::spawn(move || {
            x1.store(1, Relaxed);
            y1.load(Relaxed)
        });
        y.store(1, Relaxed);
        let r0 = x.load(Relaxed);
        let r1 = th.join().unwrap();
        (r0, r1)
    });
    assert_eq!(seen, [(0, 0), (0, 1), (1, 0), (1, 1)].into_iter().collect());
}

/// Locks, a trylock and atomics inside critical sections: the reduced search (which does not
/// reorder a blocking `lock` with another thread's `unlock`) reaches what the full search
/// reaches.
#[test]
fn locks_and_trylock_match_full_search() {
    let seen = outcomes(|| {
        let m = Arc::new(Mutex::new(()));
        let x = Arc::new(AtomicUsize::new(0));
        let (m1, x1) = (m.clone(), x.clone());
        let t1 = thread::spawn(move || {
            let g = m1.lock().unwrap();
            x1.store(1, Relaxed);
            x1.store(2, Relaxed);
            drop(g);
        });
        let (m2, x2) = (m.clone(), x.clone());
        let t2 = thread::spawn(move || match m2.try_lock() {
            Ok(_g) => x2.load(Relaxed),
            Err(_) => 9,
        });
        let g = m.lock().unwrap();
        let r0 = x.load(Relaxed);
        drop(g);
        t1.join().unwrap();
        (r0, t2.join().unwrap())
    });
    // The main thread's critical section runs before or after t1's (never sees 1); t2's
    // trylock fails while t1 or main holds the lock.
    assert_eq!(
        seen,
        [(0, 0), (0, 2), (0, 9), (2, 0), (2, 2), (2, 9)]
            .into_iter()
            .collect()
    );
}

/// A race with the operation a thread runs right after `yield_now`. The
/// backtracking point for it landed on a schedule where the thread was
/// yielding and was dropped, so DPOR found only the order where the yielder
/// goes last. (The yielder never goes first: `yield_now` means "not before
/// another thread has run a step", in either search.)
#[test]
fn race_after_yield_now() {
    let seen = outcomes(|| {
        let x = Arc::new(AtomicUsize::new(0));
        let x1 = x.clone();
        let th = thread::spawn(move || {
            thread::yield_now();
            x1.fetch_add(1, Relaxed)
        });
        let a = x.fetch_add(1, Relaxed);
        let b = x.fetch_add(1, Relaxed);
        (a, b, th.join().unwrap())
    });
    assert_eq!(seen, [(0, 1, 2), (0, 2, 1)].into_iter().collect());
}

/// Three threads: the race of a yielding thread's next operation with a
/// store of a third thread needs some other thread to take a step where the
/// yielder waits; walking back alone missed `(0, 0)`.
#[test]
fn race_after_yield_now_with_three_threads() {
    let seen = outcomes(|| {
        let x = Arc::new(AtomicUsize::new(0));
        let y = Arc::new(AtomicUsize::new(0));
        let (x2, y1) = (x.clone(), y.clone());
        let t1 = thread::spawn(move || y1.store(1, SeqCst));
        let t2 = thread::spawn(move || {
            let a = x2.load(SeqCst);
            thread::yield_now();
            (a, x2.fetch_add(1, SeqCst))
        });
        x.store(10, SeqCst);
        t1.join().unwrap();
        t2.join().unwrap()
    });
    assert_eq!(seen, [(0, 0), (0, 10), (10, 10)].into_iter().collect());
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Yield,
    FetchAdd(usize),
    Load(usize),
    Store(usize),
}

fn run_ops(ops: &[Op], vars: &[AtomicUsize]) -> Vec<usize> {
    let mut out = vec![];
    for (i, op) in ops.iter().enumerate() {
        match *op {
            Op::Yield => thread::yield_now(),
            Op::FetchAdd(x) => out.push(vars[x].fetch_add(1, SeqCst)),
            Op::Load(x) => out.push(vars[x].load(SeqCst)),
            Op::Store(x) => vars[x].store(10 + i, SeqCst),
        }
    }
    out
}

/// Random programs of two or three threads over two atomics, with yields:
/// the reduced search reaches what the full search reaches. (An independent
/// review found mismatches in 4 of the first 300 programs of this generator
/// with the walk-back fix alone.)
#[test]
fn random_programs_with_yields_match_full_search() {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C16;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..300 {
        let threads = 2 + (next() % 2) as usize;
        let prog: Vec<Vec<Op>> = (0..threads)
            .map(|_| {
                let len = 1 + (next() % 3) as usize;
                (0..len)
                    .map(|_| match next() % 6 {
                        0 | 1 => Op::Yield,
                        2 => Op::FetchAdd((next() % 2) as usize),
                        3 => Op::Load((next() % 2) as usize),
                        _ => Op::Store((next() % 2) as usize),
                    })
                    .collect()
            })
            .collect();
        let run = move |dpor: bool, prog: Vec<Vec<Op>>| {
            outcomes_with(dpor, move || {
                let vars: Arc<Vec<AtomicUsize>> =
                    Arc::new((0..2).map(|_| AtomicUsize::new(0)).collect());
                let handles: Vec<_> = prog[1..]
                    .iter()
                    .map(|ops| {
                        let (ops, v) = (ops.clone(), vars.clone());
                        thread::spawn(move || run_ops(&ops, &v))
                    })
                    .collect();
                let mut out = run_ops(&prog[0], &vars);
                for h in handles {
                    out.extend(h.join().unwrap());
                }
                out
            })
        };
        let with = run(true, prog.clone());
        let without = run(false, prog.clone());
        assert_eq!(with, without, "DPOR lost outcomes of {prog:?}");
    }
}
