//! thp-model: an executable model of the Linux kernel's Transparent Huge Page locking
//! protocol, at the granularity of single locks, atomics and barriers.
//!
//! * [`kernel`] — the kernel primitives (atomic_t, barriers, spinlock_t, rw_semaphore, the
//!   PG_locked bit lock with waiters, RCU, IRQs-off sections and TLB-flush IPIs, threads,
//!   lockdep) over the engine chosen at run time for the current execution: loom, shuttle or
//!   std threads. It is the only module that names an engine. Beside the execution context:
//!   `rule_on` (is a rule on in this execution?) and [`kernel::trace`], the per-execution
//!   event log printed with counterexamples.
//! * [`mm`] — the memory-management state and operations, in modules named after kernel files.
//! * [`rules`] — the catalogue of locking rules; each can be switched off (a defect).
//! * [`invariants`] — invariant ids and the `vm_bug_on!` family of checks.
//!
//! Paraphrased from Linux 6.18.2; no kernel code is reproduced.
#![forbid(unsafe_code)]

pub mod invariants;
pub mod kernel;
pub mod mm;
pub mod rules;
