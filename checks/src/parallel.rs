//! Independent runs on several worker threads (`--jobs`), and deterministic slices of the work
//! for CI sharding (`--shard`).
//!
//! Running checks concurrently in one process is sound because every piece of per-run state is
//! per run or per OS thread: the execution context and its trace (`thp_model::kernel::engine`,
//! `thp_model::trace`) and the panic-message capture (`engine::CAPTURE`) are thread-locals;
//! loom's and shuttle's schedulers keep their state in scoped thread-locals and run a model's
//! threads as coroutines on the calling OS thread; the lock-order graph is an `Arc` in each
//! `RunConfig`. The process-wide pieces are the panic hook (installed once, then replaced in one
//! step, see `engine`) and counters that only hand out unique ids (lockdep instance ids, loom's
//! execution ids), which never appear in results.
#![allow(clippy::disallowed_types)] // worker threads and their counters sit outside the engines (clippy.toml)

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde::Serialize;

/// Stack of a worker thread: as large as the main thread's, which runs the checks when
/// `--jobs 1`.
const WORKER_STACK: usize = 8 << 20;

/// Apply `f` to every item, on `jobs` worker threads (inline on the calling thread when `jobs`
/// is 1 or there is at most one item), and hand the results to `emit` in item order, each as
/// soon as it and every item before it are done. If `emit` returns an error no further item is
/// started, and that error is returned once the running ones have finished.
pub fn run_ordered<T, R, E>(
    items: &[T],
    jobs: usize,
    f: impl Fn(&T) -> R + Sync,
    emit: impl FnMut(R) -> Result<(), E>,
) -> Result<(), E>
where
    T: Sync,
    R: Send,
{
    run_ordered_by_cost(items, jobs, |_| 0, f, emit)
}

/// [`run_ordered`], with the workers taking the items of highest `cost` first (ties in item
/// order): the longest-processing-time-first rule, so that a long run does not start last and
/// leave the other workers idle at the end. The results are still handed to `emit` in item
/// order, so the output is the same as with one job.
pub fn run_ordered_by_cost<T, R, E>(
    items: &[T],
    jobs: usize,
    cost: impl Fn(&T) -> u64,
    f: impl Fn(&T) -> R + Sync,
    mut emit: impl FnMut(R) -> Result<(), E>,
) -> Result<(), E>
where
    T: Sync,
    R: Send,
{
    let workers = jobs.min(items.len());
    if workers <= 1 {
        for it in items {
            emit(f(it))?;
        }
        return Ok(());
    }
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(cost(&items[i])));
    let order = &order;
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (tx, rx) = crossbeam::channel::unbounded::<(usize, R)>();
    std::thread::scope(|s| {
        for w in 0..workers {
            let tx = tx.clone();
            let (next, stop, f) = (&next, &stop, &f);
            std::thread::Builder::new()
                .name(format!("thpcheck-job-{w}"))
                .stack_size(WORKER_STACK)
                .spawn_scoped(s, move || {
                    while !stop.load(Ordering::Relaxed) {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&i) = order.get(k) else { break };
                        let it = &items[i];
                        if tx.send((i, f(it))).is_err() {
                            break;
                        }
                    }
                })
                .expect("cannot spawn a worker thread");
        }
        // Every worker holds a sender; the channel disconnects when the last one exits (or
        // unwinds, in which case the scope re-raises its panic).
        drop(tx);
        let mut done: Vec<Option<R>> = items.iter().map(|_| None).collect();
        let mut first = 0;
        let mut result = Ok(());
        for (i, r) in rx.iter() {
            done[i] = Some(r);
            while result.is_ok() && first < done.len() {
                let Some(r) = done[first].take() else { break };
                first += 1;
                if let Err(e) = emit(r) {
                    stop.store(true, Ordering::Relaxed);
                    result = Err(e);
                }
            }
        }
        result
    })
}

/// Slice `index` (1-based) of `count`: every `count`-th unit of work, round-robin over the
/// catalogue order, starting with the `index`-th.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// Does unit `i` (0-based, catalogue order) belong to this shard?
    pub fn has(&self, i: usize) -> bool {
        i % self.count == self.index - 1
    }

    /// The units of `items` in this shard (all of them for `None`).
    pub fn select<T: Clone>(shard: Option<Shard>, items: &[T]) -> Vec<T> {
        items
            .iter()
            .enumerate()
            .filter(|(i, _)| shard.is_none_or(|s| s.has(*i)))
            .map(|(_, t)| t.clone())
            .collect()
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Parse `I/N` (1 <= I <= N).
pub fn parse_shard(s: &str) -> Result<Shard, String> {
    let bad = || format!("'{s}' is not a shard: expected I/N with 1 <= I <= N, e.g. 1/2");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (Ok(index), Ok(count)) = (i.trim().parse::<usize>(), n.trim().parse::<usize>()) else {
        return Err(bad());
    };
    if count == 0 || index == 0 || index > count {
        return Err(bad());
    }
    Ok(Shard { index, count })
}
