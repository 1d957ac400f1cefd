//! Kernel primitives over the engine chosen at run time.
//!
//! Every primitive here is an enum over the three engines (loom, shuttle, std) and fixes its
//! engine when it is built, from the [`Execution`] that is current on the calling thread. Model
//! code above this layer uses kernel names only and never names an engine (DESIGN.md, "One
//! build, engine chosen at run time"; CONVENTIONS.md §3.1).
//!
//! Instrumentation (lockdep graph, trace log, thread table, deadlock accounting) uses std types
//! only, so it adds no interleavings: loom and shuttle cannot see it.
//!
//! One file per primitive family:
//! * [`atomic`] — `atomic_t`, `atomic_long_t`, bit operations, `READ_ONCE`/`WRITE_ONCE`,
//!   `smp_*` barriers, acquire/release (Documentation/atomic_t.txt,
//!   Documentation/memory-barriers.txt).
//! * [`spinlock`] — `spinlock_t`.
//! * [`rwsem`] — `rw_semaphore` with the kernel's writer preference.
//! * [`wait`] — wait queues and the sleeping bit lock used for `PG_locked` (mm/filemap.c).
//! * [`rcu`] — RCU read sections, `synchronize_rcu`, IRQs-off sections and TLB-flush IPIs.
//! * [`lockdep`] — lock classes and the cross-execution lock-order graph.
//! * [`thread`] — CPUs (model threads): spawn, join, `cpu_relax`.
#![allow(clippy::disallowed_types)]

pub mod atomic;
pub(crate) mod engine;
pub mod lockdep;
pub mod rcu;
pub mod rwsem;
pub mod spinlock;
mod sync;
pub mod thread;
pub mod wait;

pub use atomic::*;
pub use engine::{
    current_engine, with_execution, Arch, Engine, Execution, ExecutionOptions, Hardware,
};
pub use lockdep::{LockClass, LockGraph};
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
static_assertions::assert_impl_all!(rw_semaphore: Send, Sync);
static_assertions::assert_impl_all!(wait_queue_head: Send, Sync);
static_assertions::assert_impl_all!(RcuState: Send, Sync);
