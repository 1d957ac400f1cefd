#![deny(warnings, rust_2018_idioms)]
//! Read-modify-write atomicity against a plain store: a store that is ordered after the value
//! an RMW read must also be ordered after the RMW itself, since nothing can come between the
//! read and the write of an RMW in modification order. loom 0.7.3 placed such a store between
//! them, so the RMW's write could win over a store it never saw (the store was lost), or the
//! storing thread could read the RMW's write instead of its own later store.

use loom::sync::atomic::AtomicUsize;
use loom::sync::atomic::Ordering::Relaxed;
use loom::sync::Arc;
use loom::thread;

use std::collections::BTreeSet;

/// Thread A: a non-atomic read-modify-write (load, then store of `old | 1`), then a re-read of
/// its own store. Thread B: `fetch_or(2)`. Returns (A's re-read, the final value).
fn plain_rmw_vs_fetch_or() -> (usize, usize) {
    let x = Arc::new(AtomicUsize::new(0));
    let x2 = x.clone();
    let a = thread::spawn(move || {
        let old = x2.load(Relaxed);
        x2.store(old | 1, Relaxed);
        x2.load(Relaxed)
    });
    x.fetch_or(2, Relaxed);
    let reread = a.join().unwrap();
    (reread, x.load(Relaxed))
}

#[test]
fn store_after_the_value_an_rmw_read_is_after_the_rmw() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(BTreeSet::new()));
    let seen2 = seen.clone();
    loom::model(move || {
        seen2.lock().unwrap().insert(plain_rmw_vs_fetch_or());
    });
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    // Possible: A's store last (B's bit lost: 1), or B's RMW last and reading A's store (3).
    // A's re-read sees its own store or B's later RMW. A final value of 2 (A's store lost
    // although B's RMW read 0 before it) is impossible, as is a re-read of 2.
    let expected: BTreeSet<(usize, usize)> = [(1, 1), (1, 3), (3, 3)].into_iter().collect();
    assert_eq!(seen, expected);
}
