//! RCU read sections and `synchronize_rcu`, IRQs-off sections, TLB-flush IPIs and
//! `tlb_remove_table_sync_one` (kernel/rcu, arch/x86/mm/tlb.c, mm/mmu_gather.c).
//!
//! Neither `rcu_read_lock` nor `local_irq_save` is a memory barrier in the kernel, so a reader
//! section here touches only its own CPU's counter: an Acquire RMW to enter, a Release RMW to
//! leave. Sections of different CPUs never synchronize with each other (the litmus test
//! `litmus-mp-irq-sections` shows message passing through them stays weak).
//! A grace period or an IPI that must wait for readers does, for every other CPU, an AcqRel
//! RMW on that CPU's counter; if the CPU is inside a section, the waiter sets its bit in that
//! counter (another AcqRel RMW) and sleeps until the section's last exit, which reads the bit,
//! wakes it. That gives exactly the grace-period guarantee: a reader whose entry is ordered
//! after the waiter's RMW sees everything before the wait (its Acquire entry reads from the
//! waiter's Release), and a reader seen inside its section is waited for, its Release exit then
//! ordering the whole section before the waiter goes on. Only sections open when the wait
//! starts are waited for, as in the kernel; a section the reader opens later is not.
//! The waiter sleeps rather than spins so that the engines do not explore idle spin
//! iterations (loom's `yield_now` forbids the spinner to run again before another CPU has run
//! a step, which is harmless only for a spin that waits for another CPU's progress).
//! Since the RCU flavour consolidation (4.20) an IRQs-off region is also an RCU read-side
//! critical section, so `synchronize_rcu` waits for both.
//! A TLB flush waits for IRQs-off sections only on hardware that flushes by IPI
//! ([`crate::kernel::Hardware::tlb_flush_waits_for_irqs_off`]); `tlb_remove_table_sync_one`
//! always sends an IPI and always waits.

use std::sync::atomic::Ordering;

use crate::kernel::atomic::atomic_long_t;
use crate::kernel::engine::current;
use crate::kernel::lockdep;
use crate::kernel::sync::{ECondvar, EMutex};
use crate::kernel::thread::{about_to_sleep, woken_from};

/// Per-CPU reader counters (CPU 0..MAX_CPUS).
const MAX_CPUS: usize = 8;

/// A counter word holds the section depth in its low 32 bits and, above them, one bit per CPU
/// waiting for this CPU to leave its section.
const WAITER_SHIFT: u32 = 32;
const DEPTH_MASK: i64 = (1 << WAITER_SHIFT) - 1;

struct Sections {
    per_cpu: Vec<atomic_long_t>,
    /// Per reader CPU, where the CPUs waiting for it sleep until its section ends (a
    /// modelling device: the kernel's waiter spins or sleeps in the grace-period machinery;
    /// sleeping instead of spinning keeps the engines from exploring idle spin iterations).
    /// The guarded word is the set of waiting CPUs the reader's last exit has woken.
    wake: Vec<(EMutex<u64>, ECondvar)>,
    what: &'static str,
    waiting: &'static str,
}

impl Sections {
    fn new(what: &'static str, waiting: &'static str) -> Self {
        Sections {
            per_cpu: (0..MAX_CPUS).map(|_| atomic_long_t::new(0)).collect(),
            wake: (0..MAX_CPUS)
                .map(|_| (EMutex::new(0), ECondvar::new()))
                .collect(),
            what,
            waiting,
        }
    }
    fn enter(&self) -> usize {
        let cpu = current().cpu();
        if cpu >= MAX_CPUS {
            crate::model_bug!("cpu{cpu} exceeds the {MAX_CPUS} CPUs of RcuState");
        }
        self.per_cpu[cpu].fetch_add_ordered(1, Ordering::Acquire);
        lockdep::atomic_enter(self.what);
        cpu
    }
    fn exit(&self, cpu: usize) {
        if std::thread::panicking() {
            // Unwinding a counterexample: under shuttle the atomic below is a scheduling point
            // (see SpinGuard's drop); the execution is over, leave the section open.
            if crate::kernel::engine::current_engine() == crate::kernel::engine::Engine::Shuttle {
                return;
            }
        } else {
            lockdep::atomic_exit(self.what);
        }
        let old = self.per_cpu[cpu].fetch_add_ordered(-1, Ordering::Release);
        let waiters = (old >> WAITER_SHIFT) as u64;
        if old & DEPTH_MASK == 1 && waiters != 0 && !std::thread::panicking() {
            // The last exit while CPUs wait for this one: wake them. A waiter holds the lock
            // from setting its bit until it sleeps, so this cannot fall between the two.
            let (lock, cv) = &self.wake[cpu];
            let mut g = lock.lock();
            *g |= waiters;
            let cpus: Vec<usize> = (0..MAX_CPUS).filter(|c| waiters & (1 << c) != 0).collect();
            woken_from(&current(), &cpus, &self.waiting_for(cpu));
            cv.notify_all();
        }
    }
    fn waiting_for(&self, cpu: usize) -> String {
        format!("{} of cpu{cpu}", self.waiting)
    }
    /// Wait until every other CPU has been outside its section at least once: a section open
    /// when the wait starts has ended when it returns.
    fn wait_for_readers(&self) {
        let me = current().cpu();
        for (cpu, c) in self.per_cpu.iter().enumerate() {
            if cpu == me {
                continue;
            }
            if c.fetch_add_ordered(0, Ordering::AcqRel) & DEPTH_MASK == 0 {
                continue;
            }
            // Slow path: announce ourselves in the reader's word, then sleep until its last
            // exit wakes us. Setting the bit and the reader's exit are RMWs on one word, so
            // either we see the section closed or the reader sees our bit.
            let bit = 1i64 << (WAITER_SHIFT + me as u32);
            let (lock, cv) = &self.wake[cpu];
            let mut g = lock.lock();
            // A wake-up left by an exit that read a bit of an earlier wait of ours (set after
            // we saw the section closed, before we cleared the bit) is stale.
            *g &= !(1 << me);
            if c.fetch_or(bit, Ordering::AcqRel) & DEPTH_MASK != 0 {
                about_to_sleep(&current(), me, self.waiting_for(cpu), None);
                while *g & (1 << me) == 0 {
                    g = cv.wait(g);
                }
                *g &= !(1 << me);
            }
            // The exit that woke us (or that we saw) released the section; this RMW reads from
            // it or a later RMW of the word and so acquires it.
            c.fetch_and(!bit, Ordering::AcqRel);
            drop(g);
        }
    }
}

/// The machine-wide RCU and IRQ state (one per execution).
pub struct RcuState {
    rcu: Sections,
    irqs: Sections,
}

impl std::fmt::Debug for RcuState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RcuState")
    }
}

impl Default for RcuState {
    fn default() -> Self {
        Self::new()
    }
}

impl RcuState {
    pub fn new() -> Self {
        RcuState {
            rcu: Sections::new("rcu_read_lock", "a grace period (rcu_read_lock sections)"),
            irqs: Sections::new("irqs_disabled", "an IPI (IRQs-off sections)"),
        }
    }
}

/// An RCU read-side critical section; dropping it is `rcu_read_unlock`.
#[must_use = "dropping the guard is rcu_read_unlock"]
pub struct RcuReadGuard<'a>(&'a RcuState, usize);

/// An IRQs-off section; dropping it is `local_irq_restore`.
#[must_use = "dropping the guard is local_irq_restore"]
pub struct IrqGuard<'a>(&'a RcuState, usize);

/// `rcu_read_lock`.
pub fn rcu_read_lock(s: &RcuState) -> RcuReadGuard<'_> {
    let cpu = s.rcu.enter();
    RcuReadGuard(s, cpu)
}

impl Drop for RcuReadGuard<'_> {
    fn drop(&mut self) {
        self.0.rcu.exit(self.1);
    }
}

/// `local_irq_save` / `local_irq_disable`.
pub fn local_irq_save(s: &RcuState) -> IrqGuard<'_> {
    let cpu = s.irqs.enter();
    IrqGuard(s, cpu)
}

impl Drop for IrqGuard<'_> {
    fn drop(&mut self) {
        self.0.irqs.exit(self.1);
    }
}

/// `synchronize_rcu`: waits for every RCU read section and IRQs-off section that started
/// before it.
pub fn synchronize_rcu(s: &RcuState) {
    lockdep::might_sleep("synchronize_rcu");
    s.rcu.wait_for_readers();
    s.irqs.wait_for_readers();
}

/// A grace period that waits only for `rcu_read_lock` sections, not for IRQs-off sections:
/// the defect of rule `table-free-waits-for-gup-fast` (a page table freed while a GUP-fast
/// walk with IRQs off may still read it).
pub fn synchronize_rcu_readers_only(s: &RcuState) {
    lockdep::might_sleep("synchronize_rcu");
    s.rcu.wait_for_readers();
}

/// A TLB flush (`flush_tlb_range`, `flush_pmd_tlb_range`): on IPI hardware it cannot complete
/// while another CPU has IRQs off.
pub fn flush_tlb_ipi(s: &RcuState) {
    if current().options.hardware.tlb_flush_waits_for_irqs_off {
        lockdep::assert_irqs_enabled("flush_tlb (IPI)");
        s.irqs.wait_for_readers();
    }
}

/// `tlb_remove_table_sync_one` (mm/mmu_gather.c): an IPI to every CPU; returns once every
/// IRQs-off section (GUP-fast walk) that started before it has finished.
pub fn tlb_remove_table_sync_one(s: &RcuState) {
    lockdep::assert_irqs_enabled("tlb_remove_table_sync_one");
    s.irqs.wait_for_readers();
}
