#![allow(deprecated)]

use crate::rt::Execution;

use generator::{self, Generator, Gn};
use scoped_tls::scoped_thread_local;
use std::cell::RefCell;
use std::collections::VecDeque;

pub(crate) struct Scheduler {
    max_threads: usize,
    /// Coroutines of earlier executions, each parked where it waits for its next body, with
    /// the stack size it was made with. Reusing them spares a stack `mmap` / `munmap` per
    /// thread per execution; in a multi-threaded process every `munmap` also shoots down the
    /// other threads' TLBs.
    idle: Vec<(Option<usize>, Thread)>,
}

type Thread = Generator<'static, Option<Box<dyn FnOnce()>>, ()>;

scoped_thread_local! {
    static STATE: RefCell<State<'_>>
}

struct QueuedSpawn {
    f: Box<dyn FnOnce()>,
    stack_size: Option<usize>,
}

struct State<'a> {
    execution: &'a mut Execution,
    queued_spawn: &'a mut VecDeque<QueuedSpawn>,
}

impl Scheduler {
    /// Create an execution
    pub(crate) fn new(capacity: usize) -> Scheduler {
        Scheduler {
            max_threads: capacity,
            idle: Vec::new(),
        }
    }

    /// Access the execution
    pub(crate) fn with_execution<F, R>(f: F) -> R
    where
        F: FnOnce(&mut Execution) -> R,
    {
        Self::with_state(|state| f(state.execution))
    }

    /// Perform a context switch
    pub(crate) fn switch() {
        use std::future::Future;
        use std::pin::Pin;
        use std::ptr;
        use std::task::{Context, RawWaker, RawWakerVTable, Waker};

        unsafe fn noop_clone(_: *const ()) -> RawWaker {
            unreachable!()
        }
        unsafe fn noop(_: *const ()) {}

        // Wrapping with an async block deals with the thread-local context
        // `std` uses to manage async blocks
        let mut switch = async { generator::yield_with(()) };
        let switch = unsafe { Pin::new_unchecked(&mut switch) };

        let raw_waker = RawWaker::new(
            ptr::null(),
            &RawWakerVTable::new(noop_clone, noop, noop, noop),
        );
        let waker = unsafe { Waker::from_raw(raw_waker) };
        let mut cx = Context::from_waker(&waker);

        assert!(switch.poll(&mut cx).is_ready());
    }

    pub(crate) fn spawn(stack_size: Option<usize>, f: Box<dyn FnOnce()>) {
        Self::with_state(|state| state.queued_spawn.push_back(QueuedSpawn { stack_size, f }));
    }

    pub(crate) fn run<F>(&mut self, execution: &mut Execution, f: F)
    where
        F: FnOnce() + Send + 'static,
    {
        let mut threads = Vec::new();
        let mut sizes = Vec::new();
        threads.push(self.thread(Box::new(f), None));
        sizes.push(None);
        threads[0].resume();

        loop {
            if execution.threads.is_complete() {
                // Every body has returned and its coroutine waits for the next one: keep them.
                for (thread, size) in threads.into_iter().zip(sizes) {
                    assert!(!thread.is_done());
                    self.idle.push((size, thread));
                }
                return;
            }

            let active = execution.threads.active_id();

            let mut queued_spawn = Self::tick(&mut threads[active.as_usize()], execution);

            while let Some(th) = queued_spawn.pop_front() {
                assert!(threads.len() < self.max_threads);

                let thread_id = threads.len();
                let QueuedSpawn { f, stack_size } = th;

                threads.push(self.thread(f, stack_size));
                sizes.push(stack_size);
                threads[thread_id].resume();
            }
        }
    }

    /// A coroutine that will run `f` once resumed: an idle one of the same stack size, or a
    /// new one.
    fn thread(&mut self, f: Box<dyn FnOnce()>, stack_size: Option<usize>) -> Thread {
        match self.idle.iter().position(|(size, _)| *size == stack_size) {
            Some(i) => {
                let (_, mut g) = self.idle.swap_remove(i);
                g.set_para(Some(f));
                g
            }
            None => spawn_thread(f, stack_size),
        }
    }

    fn tick(thread: &mut Thread, execution: &mut Execution) -> VecDeque<QueuedSpawn> {
        let mut queued_spawn = VecDeque::new();
        let state = RefCell::new(State {
            execution,
            queued_spawn: &mut queued_spawn,
        });

        STATE.set(unsafe { transmute_lt(&state) }, || {
            thread.resume();
        });
        queued_spawn
    }

    fn with_state<F, R>(f: F) -> R
    where
        F: FnOnce(&mut State<'_>) -> R,
    {
        if !STATE.is_set() {
            panic!("cannot access Loom execution state from outside a Loom model. \
            are you accessing a Loom synchronization primitive from outside a Loom test (a call to `model` or `check`)?")
        }
        STATE.with(|state| f(&mut state.borrow_mut()))
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        // Let the idle coroutines return (a resume without a body ends their loop). While
        // panicking, dropping them unwinds their stacks instead, as for any unfinished one.
        if !std::thread::panicking() {
            for (_, thread) in &mut self.idle {
                thread.resume();
                assert!(thread.is_done());
            }
        }
    }
}

#[cfg(test)]
thread_local! {
    static CREATED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn spawn_thread(f: Box<dyn FnOnce()>, stack_size: Option<usize>) -> Thread {
    #[cfg(test)]
    CREATED.with(|c| c.set(c.get() + 1));
    let body = move || {
        loop {
            let f: Option<Option<Box<dyn FnOnce()>>> = generator::yield_(());

            if let Some(f) = f {
                generator::yield_with(());
                f.unwrap()();
            } else {
                break;
            }
        }

        generator::done!();
    };
    let mut g = match stack_size {
        Some(stack_size) => Gn::new_opt(stack_size, body),
        None => Gn::new(body),
    };
    g.resume();
    g.set_para(Some(f));
    g
}

unsafe fn transmute_lt<'a, 'b>(state: &'a RefCell<State<'b>>) -> &'a RefCell<State<'static>> {
    ::std::mem::transmute(state)
}

#[cfg(test)]
mod tests {
    use super::CREATED;
    use crate::sync::atomic::AtomicUsize;
    use crate::sync::Arc;
    use crate::thread;
    use std::sync::atomic::Ordering::Relaxed;

    /// Runs a model with a main thread and one spawned thread that race on an atomic, and
    /// returns (executions, coroutines created). `deep` is called in the spawned thread with
    /// the execution's index.
    fn run(deep: fn(usize)) -> (usize, usize) {
        CREATED.with(|c| c.set(0));
        let executions = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let e = executions.clone();
        crate::model(move || {
            let n = e.fetch_add(1, Relaxed);
            let a = Arc::new(AtomicUsize::new(0));
            let a1 = a.clone();
            let t = thread::spawn(move || {
                deep(n);
                a1.store(1, Relaxed);
            });
            a.store(2, Relaxed);
            t.join().unwrap();
        });
        (executions.load(Relaxed), CREATED.with(|c| c.get()))
    }

    #[test]
    fn coroutines_are_reused_across_executions() {
        let (executions, created) = run(|_| {});
        assert!(executions >= 2, "{executions}");
        assert_eq!(created, 2, "one coroutine per thread, not per thread per execution");
    }

    fn recurse(depth: usize) -> usize {
        let pad = [depth as u8; 512];
        if depth == 0 {
            return pad[0] as usize;
        }
        recurse(depth - 1) + std::hint::black_box(pad)[1] as usize
    }

    #[test]
    fn stack_overflow_in_a_reused_coroutine_is_caught() {
        // The first execution runs shallow on fresh stacks; a later one overflows the stack
        // of a reused coroutine, whose guard page must still be there.
        let r = std::panic::catch_unwind(|| {
            run(|n| {
                if n > 0 {
                    std::hint::black_box(recurse(1 << 20));
                }
            })
        });
        assert!(r.is_err(), "the overflow went unnoticed");
    }
}
