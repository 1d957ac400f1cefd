//! RCU read sections and `synchronize_rcu`, IRQs-off sections, TLB-flush IPIs and
//! `tlb_remove_table_sync_one` (kernel/rcu, arch/x86/mm/tlb.c, mm/mmu_gather.c).
//!
//! Neither `rcu_read_lock` nor `local_irq_save` is a memory barrier in the kernel, so a reader
//! section here touches only its own CPU's counter: an Acquire RMW to enter, a Release RMW to
//! leave. Sections of different CPUs never synchronize with each other (the litmus test
//! `litmus-mp-irq-sections` shows message passing through them stays weak).
//! A grace period or an IPI that must wait for readers does, for every other CPU, an AcqRel
//! RMW on that CPU's counter; if the CPU is inside a section, the waiter writes the generation
//! of its wait into its field of that counter (another AcqRel RMW) and sleeps (parks) until the
//! section's last exit, which reads the generation, unparks it. That gives exactly the grace-period guarantee: a reader whose entry is ordered
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
use crate::kernel::thread::{about_to_sleep_if, park};

/// Per-CPU reader counters (CPU 0..MAX_CPUS).
const MAX_CPUS: usize = 8;

/// A counter word holds the section depth in its low 16 bits and, above them, one 6-bit field
/// per CPU: the generation (1..=63) of that CPU's wait for this reader, 0 when it does not
/// wait. The generation tells a reader's exit which wait it saw, so a late exit cannot end a
/// later wait.
const DEPTH_MASK: i64 = 0xffff;
const GEN_SHIFT: u32 = 16;
const GEN_BITS: u32 = 6;
const GEN_MASK: i64 = (1 << GEN_BITS) - 1;

fn gen_field(word: i64, cpu: usize) -> i64 {
    (word >> (GEN_SHIFT + GEN_BITS * cpu as u32)) & GEN_MASK
}

/// A CPU waiting for a reader's section to end (kept in the execution's thread table, which the
/// engines do not see: it only tells the reader's exit whom to wake).
#[derive(Debug)]
pub(crate) struct RcuWait {
    sections: usize,
    reader: usize,
    generation: i64,
    woken: bool,
}

struct Sections {
    per_cpu: Vec<atomic_long_t>,
    what: &'static str,
    waiting: &'static str,
}

impl Sections {
    fn new(what: &'static str, waiting: &'static str) -> Self {
        Sections {
            per_cpu: (0..MAX_CPUS).map(|_| atomic_long_t::new(0)).collect(),
            what,
            waiting,
        }
    }
    /// Identifies this set of sections in the wait records (RCU and IRQs-off both exist).
    fn id(&self) -> usize {
        self as *const Sections as usize
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
        if old & DEPTH_MASK != 1 || old >> GEN_SHIFT == 0 || std::thread::panicking() {
            return;
        }
        // The last exit while CPUs wait for this one: wake the waits whose generation this
        // exit read. Waking takes nothing from the waiter (unpark orders the reader before the
        // waiter only), so the reader acquires nothing the kernel would not give it.
        let exec = current();
        let mut t = exec.lock_threads();
        // Unparked after the lock is dropped: shuttle's unpark is a scheduling point, and a
        // CPU switched in while this std mutex is held would block the one OS thread every
        // coroutine runs on (a hang no time budget ends). Marking `woken` under the lock is
        // what the waiter reads; the token it parks for arrives just after.
        let mut wake = Vec::new();
        for waiter in 0..MAX_CPUS {
            let g = gen_field(old, waiter);
            if g == 0 {
                continue;
            }
            let matches = t.rcu_waits.get(&waiter).is_some_and(|w| {
                w.sections == self.id() && w.reader == cpu && w.generation == g && !w.woken
            });
            if !matches {
                continue; // a wait that already saw the section closed
            }
            if let Some(w) = t.rcu_waits.get_mut(&waiter) {
                w.woken = true;
            }
            if t.sleeping_on.remove(&waiter).is_some() {
                t.asleep -= 1;
            }
            if let Some(h) = t.handles.get(&waiter) {
                wake.push(h.clone());
            }
        }
        drop(t);
        for h in wake {
            h.unpark();
        }
    }
    /// Wait until every other CPU has been outside its section at least once: a section open
    /// when the wait looks at that CPU has ended when it returns.
    fn wait_for_readers(&self) {
        let exec = current();
        let me = exec.cpu();
        for (cpu, c) in self.per_cpu.iter().enumerate() {
            if cpu == me {
                continue;
            }
            if c.fetch_add_ordered(0, Ordering::AcqRel) & DEPTH_MASK == 0 {
                continue;
            }
            // Slow path: announce this wait in the reader's word (its generation in our
            // field), then sleep until the exit that reads it wakes us. The announcement and
            // the reader's exit are RMWs on one word, so either we see the section closed or
            // the exit sees our generation.
            let generation = {
                let mut t = exec.lock_threads();
                let g = t
                    .rcu_generation
                    .entry(me)
                    .and_modify(|g| *g = *g % GEN_MASK + 1)
                    .or_insert(1);
                let g = *g;
                t.rcu_waits.insert(
                    me,
                    RcuWait {
                        sections: self.id(),
                        reader: cpu,
                        generation: g,
                        woken: false,
                    },
                );
                g
            };
            let field = generation << (GEN_SHIFT + GEN_BITS * me as u32);
            let woken =
                |t: &crate::kernel::engine::Threads| t.rcu_waits.get(&me).is_some_and(|w| w.woken);
            let slept = c.fetch_add_ordered(field, Ordering::AcqRel) & DEPTH_MASK != 0;
            if slept {
                // Asleep unless the exit already woke us (checked under the thread table's
                // lock, where the exit marks us woken; it unparks just after dropping it).
                about_to_sleep_if(
                    &exec,
                    me,
                    format!("{} of cpu{cpu}", self.waiting),
                    None,
                    |t| !woken(t),
                );
            }
            // Every wake-up is one unpark, marked under the lock. A wait re-checks its own
            // `woken` mark after each park, so a token left over (shuttle parks may return
            // spuriously) costs a later wait one more loop, never an early return; the
            // not-slept branch's park needs no waiting at all.
            if slept {
                loop {
                    park();
                    let mut t = exec.lock_threads();
                    if woken(&t) {
                        t.rcu_waits.remove(&me);
                        break;
                    }
                }
            } else {
                let w = {
                    let mut t = exec.lock_threads();
                    let w = woken(&t);
                    t.rcu_waits.remove(&me);
                    w
                };
                if w {
                    park(); // an exit between our announcement and now: its token
                }
            }
            // The exit that woke us (or that we saw) released the section; this RMW reads from
            // it or a later RMW of the word and so acquires it.
            c.fetch_add_ordered(-field, Ordering::AcqRel);
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
