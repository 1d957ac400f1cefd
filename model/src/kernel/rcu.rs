//! RCU read sections and `synchronize_rcu`, IRQs-off sections, TLB-flush IPIs and
//! `tlb_remove_table_sync_one` (kernel/rcu, arch/x86/mm/tlb.c, mm/mmu_gather.c).
//!
//! Neither `rcu_read_lock` nor `local_irq_save` is a memory barrier in the kernel, so a reader
//! section here touches only its own CPU's counter: an Acquire RMW to enter, a Release RMW to
//! leave. Sections of different CPUs never synchronize with each other (the litmus test
//! `litmus-mp-irq-sections` shows message passing through them stays weak).
//! A grace period or an IPI that must wait for readers does, for every other CPU, an AcqRel
//! RMW on that CPU's counter until it reads 0. That gives exactly the grace-period guarantee:
//! a reader whose entry is ordered after the waiter's RMW sees everything before the wait
//! (its Acquire entry reads from the waiter's Release), and a reader seen inside its section
//! is waited for, its Release exit then ordering the whole section before the waiter goes on.
//! Since the RCU flavour consolidation (4.20) an IRQs-off region is also an RCU read-side
//! critical section, so `synchronize_rcu` waits for both.
//! A TLB flush waits for IRQs-off sections only on hardware that flushes by IPI
//! ([`crate::kernel::Hardware::tlb_flush_waits_for_irqs_off`]); `tlb_remove_table_sync_one`
//! always sends an IPI and always waits.

use crate::kernel::atomic::atomic_long_t;
use crate::kernel::engine::current;
use crate::kernel::lockdep;

/// Per-CPU reader counters (CPU 0..MAX_CPUS).
const MAX_CPUS: usize = 8;

struct Sections {
    per_cpu: Vec<atomic_long_t>,
    what: &'static str,
}

impl Sections {
    fn new(what: &'static str) -> Self {
        Sections {
            per_cpu: (0..MAX_CPUS).map(|_| atomic_long_t::new(0)).collect(),
            what,
        }
    }
    fn enter(&self) -> usize {
        let cpu = current().cpu();
        if cpu >= MAX_CPUS {
            crate::model_bug!("cpu{cpu} exceeds the {MAX_CPUS} CPUs of RcuState");
        }
        self.per_cpu[cpu].fetch_add_ordered(1, std::sync::atomic::Ordering::Acquire);
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
        self.per_cpu[cpu].fetch_add_ordered(-1, std::sync::atomic::Ordering::Release);
    }
    /// Wait until every other CPU is outside its section (at least once).
    fn wait_for_readers(&self) {
        let me = current().cpu();
        for (cpu, c) in self.per_cpu.iter().enumerate() {
            if cpu == me {
                continue;
            }
            while c.fetch_add_ordered(0, std::sync::atomic::Ordering::AcqRel) != 0 {
                crate::kernel::cpu_relax();
            }
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
            rcu: Sections::new("rcu_read_lock"),
            irqs: Sections::new("irqs_disabled"),
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
