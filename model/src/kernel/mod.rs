//! Kernel primitives over the engine chosen at run time.
//!
//! Every primitive here is an enum over the three engines (loom, shuttle, std) and fixes its
//! engine when it is built, from the [`Execution`] that is current on the calling thread. Model
//! code above this layer uses kernel names only and never names an engine
//! (docs/design.md#one-build, docs/contributing.md#primitives).
//!
//! Instrumentation (lockdep graph, trace log, thread table, deadlock accounting) uses std types
//! only, so it adds no interleavings: loom and shuttle cannot see it.
//!
//! # What may be a std type
//!
//! Only instrumentation: state that no model code reads back during the run, so nothing the
//! model does depends on it — the trace log, lockdep's graph and held-lock lists, the outcome
//! events a scenario reads after every CPU has been joined ([`trace::Observed`]) — and
//! the thread table, which this layer's sleep accounting does read to report a deadlock or lost
//! wake-up (I20, which depends on which CPUs sleep, not on the order of those reads).
//! Everything else — kernel state,
//! and model-only state that steers what the model does or what a check decides (which table
//! or page is allocated, allocation counters and fault injection, list membership, TLB debts)
//! — is built from the primitives of this layer: an atomic ([`atomic_t`], [`AtomicFlag`]) or
//! data under a [`spinlock_t`] ([`LockedBy`]). Two reasons. loom's and shuttle's exploration
//! only sees dependencies through engine objects: a decision taken on a std value read
//! behind the engine's back is a dependency DPOR does not know, so it may skip the
//! interleavings where it matters. And under loom only engine objects carry the memory model:
//! ordering between two CPUs comes from their release/acquire, so a std value shared by them
//! (say a free-table pool) lets one CPU act on another's update with none of that update's
//! earlier stores visible — a false alarm, or a missed one. `checks/tests/engine_visible.rs`
//! rejects std synchronization and cell types in `mm/`, `rules.rs` and `invariants.rs`.
//!
//! One file per primitive family:
//! * [`atomic`] — `atomic_t`, `atomic_long_t`, bit operations, `READ_ONCE`/`WRITE_ONCE`,
//!   `smp_*` barriers, acquire/release (Documentation/atomic_t.txt,
//!   Documentation/memory-barriers.txt).
//! * [`spinlock`] — `spinlock_t`.
//! * [`locked`] — `LockedBy<T>`: data protected by a `spinlock_t` kept elsewhere.
//! * [`rwsem`] — `rw_semaphore` with the kernel's writer preference.
//! * [`wait`] — wait queues and the sleeping bit lock used for `PG_locked` (mm/filemap.c).
//! * [`rcu`] — RCU read sections, `synchronize_rcu`, IRQs-off sections and TLB-flush IPIs.
//! * [`lockdep`] — lock classes and the cross-execution lock-order graph.
//! * [`oplog`] — the synchronisation operations of one execution, for `thpcheck bench`'s
//!   bare program.
//! * [`thread`] — CPUs (model threads): spawn, join, `cpu_relax`.
//! * [`trace`] — the per-execution event log printed with counterexamples, and the outcome
//!   events a scenario reads (`Observed`); with `rule_on`, it sits beside the execution context
//!   it reads (`engine`), so no module outside `kernel/` is both imported by and importing it.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // the engine layer: clippy.toml

pub mod atomic;
pub(crate) mod engine;
pub mod lockdep;
pub mod locked;
pub mod oplog;
pub mod rcu;
pub mod rwsem;
pub mod spinlock;
mod sync;
pub use sync::{InstructionBoundary, InstructionGuard};
pub mod thread;
pub mod trace;
pub mod wait;

pub use atomic::*;
pub use engine::{
    audit_enabled, current_engine, record_final_state, rule_on, take_final_state, with_execution,
    Arch, Engine, Execution, ExecutionOptions, Hardware, KernelConfig,
};
pub use lockdep::{LockClass, LockGraph};
pub use locked::{LockedBy, LockedRef};
pub use rcu::{
    flush_tlb_ipi, local_irq_save, rcu_read_lock, synchronize_rcu, tlb_remove_table_sync_one,
    IrqGuard, RcuReadGuard, RcuState,
};
pub use rwsem::{rw_semaphore, RwsemReadGuard, RwsemWriteGuard};
pub use spinlock::{spin_unlock, spinlock_t, SpinGuard};
pub use thread::{cpu_relax, current_cpu, spawn, JoinHandle};
pub use wait::wait_queue_head;

// Compile-time facts: the primitives can be shared between CPUs (Arc'd model state).
static_assertions::assert_impl_all!(atomic_t: Send, Sync);
static_assertions::assert_impl_all!(atomic_long_t: Send, Sync);
static_assertions::assert_impl_all!(spinlock_t: Send, Sync);
static_assertions::assert_impl_all!(AtomicFlag: Send, Sync);
static_assertions::assert_impl_all!(LockedBy<Vec<usize>>: Send, Sync);
static_assertions::assert_impl_all!(rw_semaphore: Send, Sync);
static_assertions::assert_impl_all!(wait_queue_head: Send, Sync);
static_assertions::assert_impl_all!(RcuState: Send, Sync);
