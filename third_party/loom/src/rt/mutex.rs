use crate::rt::object;
use crate::rt::{thread, Access, Accesses, Location, Synchronize, VersionVec};

use std::sync::atomic::Ordering::{Acquire, Release};

use tracing::trace;
#[derive(Debug, Copy, Clone)]
pub(crate) struct Mutex {
    state: object::Ref<State>,
}

/// Operations on a mutex. Only a thread about to `Lock` blocks while the
/// mutex is held; one about to `TryLock` runs and fails.
#[derive(Debug, Copy, Clone, PartialEq)]
pub(super) enum Action {
    Lock,
    TryLock,
    Unlock,
}

#[derive(Debug)]
pub(super) struct State {
    /// If the mutex should establish sequential consistency.
    seq_cst: bool,

    /// `Some` when the mutex is in the locked state. The `thread::Id`
    /// references the thread that currently holds the mutex.
    lock: Option<thread::Id>,

    /// Tracks access to the mutex
    last_access: Accesses,

    /// The last `Lock` or `TryLock` of each thread.
    last_acquire: Accesses,

    /// The last `TryLock` of each thread.
    last_try_lock: Accesses,

    /// Causality transfers between threads
    synchronize: Synchronize,
}

impl Mutex {
    pub(crate) fn new(seq_cst: bool) -> Mutex {
        super::execution(|execution| {
            let state = execution.objects.insert(State {
                seq_cst,
                lock: None,
                last_access: Accesses::default(),
                last_acquire: Accesses::default(),
                last_try_lock: Accesses::default(),
                synchronize: Synchronize::new(),
            });

            trace!(?state, ?seq_cst, "Mutex::new");

            Mutex { state }
        })
    }

    pub(crate) fn acquire_lock(&self, location: Location) {
        self.state
            .branch_disable(Action::Lock, self.is_locked(), location);
        assert!(self.post_acquire(), "expected to be able to acquire lock");
    }

    pub(crate) fn try_acquire_lock(&self, location: Location) -> bool {
        self.state.branch_action(Action::TryLock, location);
        self.post_acquire()
    }

    pub(crate) fn release_lock(&self) {
        // The release is an operation on the mutex like the acquisition: a
        // `try_lock` that runs before it fails, one that runs after it
        // succeeds. Make it a branch point, so that DPOR records it as an
        // access and can schedule other threads' operations on this mutex
        // while it is still held. (Not while unwinding or after a deadlock:
        // the execution is over then.)
        if !std::thread::panicking() && super::execution(|execution| execution.threads.is_active())
        {
            self.state
                .branch_action(Action::Unlock, Location::disabled());
        }

        super::execution(|execution| {
            let state = self.state.get_mut(&mut execution.objects);

            // Release the lock flag
            state.lock = None;

            // Execution has deadlocked, cleanup does not matter.
            if !execution.threads.is_active() {
                return;
            }

            state
                .synchronize
                .sync_store(&mut execution.threads, Release);

            if state.seq_cst {
                // Establish sequential consistency between the lock's operations.
                execution.threads.seq_cst();
            }

            let thread_id = execution.threads.active_id();

            for (id, thread) in execution.threads.iter_mut() {
                if id == thread_id {
                    continue;
                }

                let obj = thread
                    .operation
                    .as_ref()
                    .map(|operation| operation.object());

                if obj == Some(self.state.erase()) {
                    trace!(state = ?self.state, thread = ?id,
                        "Mutex::release_lock");
                    thread.set_runnable();
                }
            }
        });
    }

    fn post_acquire(&self) -> bool {
        super::execution(|execution| {
            let state = self.state.get_mut(&mut execution.objects);
            let thread_id = execution.threads.active_id();

            if state.lock.is_some() {
                return false;
            }

            // Set the lock to the current thread
            state.lock = Some(thread_id);

            dbg!(state.synchronize.sync_load(&mut execution.threads, Acquire));

            if state.seq_cst {
                // Establish sequential consistency between locks
                execution.threads.seq_cst();
            }

            // Block all **other** threads attempting to acquire the mutex
            for (id, thread) in execution.threads.iter_mut() {
                if id == thread_id {
                    continue;
                }

                if let Some(operation) = thread.operation.as_ref() {
                    if operation.object() == self.state.erase()
                        && operation.action() == object::Action::Mutex(Action::Lock)
                    {
                        let location = operation.location();
                        trace!(state = ?self.state, thread = ?id,
                            "Mutex::post_acquire");
                        thread.set_blocked(location);
                    }
                }
            }

            true
        })
    }

    /// Returns `true` if the mutex is currently locked
    fn is_locked(&self) -> bool {
        super::execution(|execution| {
            let is_locked = self.state.get(&execution.objects).lock.is_some();

            trace!(state = ?self.state, ?is_locked, "Mutex::is_locked");

            is_locked
        })
    }
}

impl State {
    pub(crate) fn last_dependent_accesses(&self) -> impl Iterator<Item = &Access> + '_ {
        self.last_access.iter()
    }

    /// The accesses DPOR may need to reorder with `action`: the dependent ones that can be
    /// enabled at the same time. A blocking `Lock` is never enabled while another thread can
    /// `Unlock`, so the two are not reordered (the release still orders them, through
    /// `last_dependent_accesses`).
    pub(crate) fn race_candidates(&self, action: Action) -> impl Iterator<Item = &Access> + '_ {
        match action {
            Action::Lock => self.last_acquire.iter(),
            Action::TryLock => self.last_access.iter(),
            Action::Unlock => self.last_try_lock.iter(),
        }
    }

    pub(crate) fn set_last_access(
        &mut self,
        action: Action,
        thread: usize,
        path_id: usize,
        version: &VersionVec,
    ) {
        self.last_access.set(thread, path_id, version);
        if action != Action::Unlock {
            self.last_acquire.set(thread, path_id, version);
        }
        if action == Action::TryLock {
            self.last_try_lock.set(thread, path_id, version);
        }
    }
}
