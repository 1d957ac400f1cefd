//! RCU read sections and `synchronize_rcu`, IRQs-off sections, TLB-flush IPIs and
//! `tlb_remove_table_sync_one` (kernel/rcu, arch/x86/mm/tlb.c, mm/mmu_gather.c).
//!
//! Readers (an RCU read section, or a CPU with IRQs off) hold the read side of an engine
//! reader-writer lock; a grace period or an IPI that must wait for them takes and drops the
//! write side. Since the RCU flavour consolidation (4.20) an IRQs-off region is also an RCU
//! read-side critical section, so `synchronize_rcu` waits for both.
//! A TLB flush waits for IRQs-off sections only on hardware that flushes by IPI
//! ([`crate::kernel::Hardware::tlb_flush_waits_for_irqs_off`]); `tlb_remove_table_sync_one`
//! always sends an IPI and always waits.

use crate::kernel::engine::current;
use crate::kernel::lockdep;
use crate::kernel::sync::{EReadGuard, ERwLock};

/// The machine-wide RCU and IRQ state (one per execution).
pub struct RcuState {
    rcu: ERwLock,
    irqs: ERwLock,
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
            rcu: ERwLock::new(),
            irqs: ERwLock::new(),
        }
    }
}

/// An RCU read-side critical section; dropping it is `rcu_read_unlock`.
#[must_use = "dropping the guard is rcu_read_unlock"]
pub struct RcuReadGuard<'a>(#[allow(dead_code)] EReadGuard<'a>);

/// An IRQs-off section; dropping it is `local_irq_restore`.
#[must_use = "dropping the guard is local_irq_restore"]
pub struct IrqGuard<'a>(#[allow(dead_code)] EReadGuard<'a>);

/// `rcu_read_lock`.
pub fn rcu_read_lock(s: &RcuState) -> RcuReadGuard<'_> {
    let g = s.rcu.read();
    lockdep::atomic_enter("rcu_read_lock");
    RcuReadGuard(g)
}

impl Drop for RcuReadGuard<'_> {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            lockdep::atomic_exit("rcu_read_lock");
        }
    }
}

/// `local_irq_save` / `local_irq_disable`.
pub fn local_irq_save(s: &RcuState) -> IrqGuard<'_> {
    let g = s.irqs.read();
    lockdep::atomic_enter("irqs_disabled");
    IrqGuard(g)
}

impl Drop for IrqGuard<'_> {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            lockdep::atomic_exit("irqs_disabled");
        }
    }
}

/// `synchronize_rcu`: waits for every RCU read section and IRQs-off section that started
/// before it.
pub fn synchronize_rcu(s: &RcuState) {
    lockdep::might_sleep("synchronize_rcu");
    s.rcu.write_barrier();
    s.irqs.write_barrier();
}

/// A TLB flush (`flush_tlb_range`, `flush_pmd_tlb_range`): on IPI hardware it cannot complete
/// while another CPU has IRQs off.
pub fn flush_tlb_ipi(s: &RcuState) {
    if current().options.hardware.tlb_flush_waits_for_irqs_off {
        lockdep::assert_irqs_enabled("flush_tlb (IPI)");
        s.irqs.write_barrier();
    }
}

/// `tlb_remove_table_sync_one` (mm/mmu_gather.c): an IPI to every CPU; returns once every
/// IRQs-off section (GUP-fast walk) that started before it has finished.
pub fn tlb_remove_table_sync_one(s: &RcuState) {
    lockdep::assert_irqs_enabled("tlb_remove_table_sync_one");
    s.irqs.write_barrier();
}
