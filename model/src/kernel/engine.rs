//! The per-execution context: which engine runs this execution, the rule switches, the
//! hardware switches, the thread table, the trace log and the lock-order graph.
//!
//! The context lives in an OS thread-local. loom and shuttle run every model thread as a
//! coroutine on the OS thread that started the check, so one slot serves all CPUs of an
//! execution; for std threads, [`crate::kernel::spawn`] copies the context into the child.
//! The slot is per OS thread, never process-wide, so cargo's parallel tests do not share it.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use crate::kernel::lockdep::{HeldLock, LockGraph};
use crate::kernel::trace::RawEvent;
use crate::rules::RuleSet;

/// The checker running the current execution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Engine {
    /// loom: exhaustive DPOR under the C11 memory model (weak memory).
    Loom,
    /// shuttle: randomized / PCT / DFS schedules, sequentially consistent atomics.
    Shuttle,
    /// Plain std threads on real hardware (stress runs, benchmarks, sequential unit tests).
    Std,
}

/// Hardware behaviour that the protocol must not depend on (docs/protocol.md#gup-fast-against-split).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hardware {
    /// x86: a TLB flush is an IPI and cannot complete while another CPU has IRQs off.
    /// false: arm64 / broadcast TLBI, the flush does not wait for IRQs-off sections.
    pub tlb_flush_waits_for_irqs_off: bool,
    /// arm64: `pmd_mkinvalid` sets PMD_PRESENT_INVALID (and clears the valid bit), so
    /// whatever value `pmdp_invalidate` is applied to reads as present afterwards, a swap /
    /// migration entry included (historical race Z12). x86: `pmd_mkinvalid` clears
    /// PRESENT | PROTNONE, which leaves a non-present entry non-present.
    pub pmd_mkinvalid_sets_present: bool,
    /// x86: `spin_lock` is a LOCK-prefixed cmpxchg, a full barrier (every earlier store is
    /// visible before any later load). arm64 (and the LKMM): an ACQUIRE only, which orders
    /// nothing that came before it (hence `smp_mb__after_spinlock`). The model's arm64 leaves
    /// out that an arm64 load-acquire is ordered after an earlier store-release of the same
    /// CPU, so that an UNLOCK then a LOCK is a full barrier there (not under the LKMM).
    pub spin_lock_is_full_barrier: bool,
    /// x86: the page-table read-modify-writes (`ptep_get_and_clear`,
    /// `pmdp_huge_get_and_clear`, `pmdp_establish`) are `xchg`, a full barrier on SMP. arm64
    /// (arch/arm64/include/asm/pgtable.h `__ptep_get_and_clear_anysz`, `pmdp_establish`):
    /// `xchg_relaxed`, which orders nothing.
    pub pt_rmw_fully_ordered: bool,
    /// x86 and arm64: `flush_pmd_tlb_range` / `flush_tlb_range` after a page-table clear is a
    /// full barrier (x86: `flush_tlb_mm_range` starts with `inc_mm_tlb_gen`, a value-returning
    /// atomic, whatever it then sends or skips; arm64: the closing `dsb(ish)` of
    /// `__flush_tlb_range`). Generic code may not rely on it: the LKMM
    /// has no TLB, and `__folio_try_share_anon_rmap` assumes "there might not be a memory
    /// barrier after clearing/invalidating the PTE".
    pub tlb_flush_is_full_barrier: bool,
    /// x86: the atomic bit operations (`set_bit`, `clear_bit`) are LOCK-prefixed
    /// instructions, a full barrier (and x86 never reorders two stores anyway). arm64 (and the LKMM, Documentation/atomic_bitops.txt):
    /// the non-value-returning bit operations are unordered.
    pub atomic_bitops_fully_ordered: bool,
}

/// The architectures whose page-table and TLB behaviour the model distinguishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    /// x86-64: IPI TLB flush, `pmd_mkinvalid` keeps a non-present entry non-present.
    X86,
    /// arm64: broadcast TLBI (a superset of x86's interleavings for IRQs-off walkers) and
    /// PMD_PRESENT_INVALID.
    Arm64,
    /// x86-64 as a KVM guest with paravirtual TLB flush (arch/x86/kernel/kvm.c,
    /// `kvm_flush_tlb_multi`): a preempted vCPU is not sent the flush IPI, it flushes when it
    /// next runs, so the flush does not wait for that vCPU's IRQs-off section. Page tables and
    /// locks are x86's. This is why freeing a page table must wait for a grace period
    /// (`tlb_remove_table`) rather than lean on the flush IPI.
    X86Kvm,
    /// Not a CPU: the guarantees generic mm code may rely on, and no more. Page-table RMWs
    /// relaxed, a TLB flush that orders no memory access and does not wait for IRQs-off
    /// sections, `spin_lock` an ACQUIRE only, arm64's `pmd_mkinvalid`. Each is the weaker of
    /// x86's and arm64's behaviour, or weaker than both (the flush), so a scenario that holds
    /// here holds on both, and a counterexample here may be one that a given CPU's stronger
    /// instructions rule out: it shows what generic code must order by itself.
    Portable,
}

impl Arch {
    pub fn hardware(self) -> Hardware {
        match self {
            Arch::X86 => Hardware {
                tlb_flush_waits_for_irqs_off: true,
                pmd_mkinvalid_sets_present: false,
                spin_lock_is_full_barrier: true,
                pt_rmw_fully_ordered: true,
                tlb_flush_is_full_barrier: true,
                atomic_bitops_fully_ordered: true,
            },
            Arch::Arm64 => Hardware {
                tlb_flush_waits_for_irqs_off: false,
                pmd_mkinvalid_sets_present: true,
                spin_lock_is_full_barrier: false,
                pt_rmw_fully_ordered: false,
                tlb_flush_is_full_barrier: true,
                atomic_bitops_fully_ordered: false,
            },
            Arch::Portable => Hardware {
                tlb_flush_is_full_barrier: false,
                ..Arch::Arm64.hardware()
            },
            Arch::X86Kvm => Hardware {
                tlb_flush_waits_for_irqs_off: false,
                ..Arch::X86.hardware()
            },
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86 => "x86-64",
            Arch::Arm64 => "arm64",
            Arch::X86Kvm => "x86-64-kvm",
            Arch::Portable => "portable",
        }
    }
    /// Every architecture, in the order the CLI lists them.
    pub const ALL: [Arch; 4] = [Arch::X86, Arch::Arm64, Arch::X86Kvm, Arch::Portable];
    /// The architecture called `name` (as [`Arch::name`] prints it).
    pub fn from_name(name: &str) -> Option<Arch> {
        Arch::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// The kernel configuration options whose code paths the model distinguishes (mm/Kconfig).
/// Like the architecture, a run-time choice of the check, carried in its replay token.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum KernelConfig {
    /// CONFIG_PAGE_MAPCOUNT=y: every page of a large folio has its own `_mapcount`, and the
    /// folio counts its mapped pages in `_nr_pages_mapped` (exact partial-mapping detection).
    #[default]
    PageMapcount,
    /// CONFIG_NO_PAGE_MAPCOUNT=y: a large folio keeps only `_large_mapcount` and
    /// `_entire_mapcount` (and the owner slots); its pages' `_mapcount` stay -1 and partial
    /// mapping is detected from the average mapcount per page (mm/rmap.c
    /// `__folio_remove_rmap`).
    NoPageMapcount,
}

impl KernelConfig {
    /// Does struct page carry a per-page `_mapcount` for pages of large folios?
    pub fn page_mapcount(self) -> bool {
        self == KernelConfig::PageMapcount
    }
    pub fn name(self) -> &'static str {
        match self {
            KernelConfig::PageMapcount => "page-mapcount",
            KernelConfig::NoPageMapcount => "no-page-mapcount",
        }
    }
    /// Every configuration, the default first.
    pub const ALL: [KernelConfig; 2] = [KernelConfig::PageMapcount, KernelConfig::NoPageMapcount];
    /// The configuration called `name` (as [`KernelConfig::name`] prints it).
    pub fn from_name(name: &str) -> Option<KernelConfig> {
        KernelConfig::ALL.into_iter().find(|c| c.name() == name)
    }
}

impl Default for Hardware {
    fn default() -> Self {
        Arch::X86.hardware()
    }
}

/// What an execution is run with.
#[derive(Clone, Debug)]
pub struct ExecutionOptions {
    pub engine: Engine,
    pub rules: RuleSet,
    pub hardware: Hardware,
    /// The kernel configuration (CONFIG_PAGE_MAPCOUNT or CONFIG_NO_PAGE_MAPCOUNT).
    pub config: KernelConfig,
    /// The lock-order graph shared by every execution of one check.
    pub lockdep: Arc<LockGraph>,
    /// Record trace events (on for checks; benchmarks may turn it off).
    pub trace: bool,
    /// Fingerprint the final state of every execution (`thpcheck audit`): the model state's
    /// owner hashes it when it is dropped, after every CPU was joined.
    pub audit: bool,
    /// Log the synchronisation operations (`thpcheck bench`'s bare program, kernel/oplog.rs).
    pub record_ops: bool,
}

impl ExecutionOptions {
    pub fn new(engine: Engine) -> Self {
        ExecutionOptions {
            engine,
            rules: RuleSet::all_on(),
            hardware: Hardware::default(),
            config: KernelConfig::default(),
            lockdep: Arc::new(LockGraph::new()),
            trace: true,
            audit: false,
            record_ops: false,
        }
    }
}

/// Thread table and sleep accounting of one execution (std types: invisible to the engines).
#[derive(Debug, Default)]
pub(crate) struct Threads {
    /// engine thread key -> CPU number (0 = the thread that started the execution).
    pub cpus: HashMap<u64, usize>,
    pub next_cpu: usize,
    /// CPUs that are running model code (not finished).
    pub alive: usize,
    /// CPUs asleep in a primitive of this layer (rwsem, wait queue, join) and not yet woken.
    pub asleep: usize,
    /// CPUs that finished.
    pub exited: std::collections::HashSet<usize>,
    /// CPUs currently in join(), keyed by the CPU they wait for.
    pub joining: HashMap<usize, usize>,
    /// What each sleeping CPU waits for, for the deadlock message.
    pub sleeping_on: HashMap<usize, String>,
    /// Held locks per CPU, innermost last (lockdep).
    pub held: HashMap<usize, Vec<HeldLock>>,
    /// Depth of atomic context (spinlocks, RCU, IRQs off) per CPU.
    pub atomic_depth: HashMap<usize, Vec<&'static str>>,
    /// Each CPU's engine thread, to unpark it (grace-period waits, `kernel::rcu`).
    pub handles: HashMap<usize, crate::kernel::thread::EngineThread>,
    /// Grace-period waits in progress, by waiting CPU (`kernel::rcu`).
    pub rcu_waits: HashMap<usize, crate::kernel::rcu::RcuWait>,
    /// The generation of each CPU's last grace-period wait (`kernel::rcu`).
    pub rcu_generation: HashMap<usize, i64>,
}

/// The context of one execution.
#[derive(Debug)]
pub struct Execution {
    pub options: ExecutionOptions,
    pub(crate) threads: Mutex<Threads>,
    pub(crate) trace: Mutex<Vec<RawEvent>>,
    /// The fingerprint of the final state (audit instrumentation: written once, at the end,
    /// read by the checker after the execution).
    final_state: Mutex<Option<u64>>,
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<Execution>>> = const { RefCell::new(None) };
}

/// Run `body` as one execution with `options` (call it inside the engine's closure).
/// The calling thread becomes CPU 0.
pub fn with_execution<R>(options: &ExecutionOptions, body: impl FnOnce() -> R) -> R {
    let exec = Arc::new(Execution {
        options: options.clone(),
        threads: Mutex::new(Threads::default()),
        trace: Mutex::new(Vec::new()),
        final_state: Mutex::new(None),
    });
    struct Reset(Option<Arc<Execution>>);
    impl Drop for Reset {
        fn drop(&mut self) {
            let prev = self.0.take();
            CURRENT.with(|c| *c.borrow_mut() = prev);
        }
    }
    let prev = CURRENT.with(|c| c.borrow_mut().replace(exec.clone()));
    let _reset = Reset(prev);
    {
        let mut t = exec.threads.lock().unwrap_or_else(|e| e.into_inner());
        let key = engine_thread_key(options.engine);
        t.cpus.insert(key, 0);
        t.handles.insert(
            0,
            crate::kernel::thread::EngineThread::current(options.engine),
        );
        t.next_cpu = 1;
        t.alive = 1;
    }
    crate::kernel::trace::clear_last();
    body()
}

/// The current execution; a sequential caller outside any check gets a fresh std execution.
pub fn current() -> Arc<Execution> {
    if let Some(e) = CURRENT.with(|c| c.borrow().clone()) {
        return e;
    }
    // Outside a check (sequential unit tests, the std engine's helpers): make one.
    let exec = Arc::new(Execution {
        options: ExecutionOptions::new(Engine::Std),
        threads: Mutex::new(Threads::default()),
        trace: Mutex::new(Vec::new()),
        final_state: Mutex::new(None),
    });
    {
        let mut t = exec.threads.lock().unwrap_or_else(|e| e.into_inner());
        t.cpus.insert(engine_thread_key(Engine::Std), 0);
        t.handles
            .insert(0, crate::kernel::thread::EngineThread::current(Engine::Std));
        t.next_cpu = 1;
        t.alive = 1;
    }
    CURRENT.with(|c| *c.borrow_mut() = Some(exec.clone()));
    exec
}

/// Install `exec` as the current execution of this OS thread (std children).
pub(crate) fn set_current(exec: Arc<Execution>) {
    CURRENT.with(|c| *c.borrow_mut() = Some(exec));
}

/// The engine of the current execution.
#[inline]
pub fn current_engine() -> Engine {
    CURRENT.with(|c| {
        c.borrow()
            .as_ref()
            .map(|e| e.options.engine)
            .unwrap_or(Engine::Std)
    })
}

/// A stable key for the engine's notion of "current thread".
pub(crate) fn engine_thread_key(engine: Engine) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    match engine {
        Engine::Loom => loom::thread::current().id().hash(&mut h),
        Engine::Shuttle => shuttle::thread::current().id().hash(&mut h),
        Engine::Std => std::thread::current().id().hash(&mut h),
    }
    h.finish()
}

impl Execution {
    pub(crate) fn lock_threads(&self) -> std::sync::MutexGuard<'_, Threads> {
        self.threads.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The CPU number of the calling model thread.
    pub fn cpu(&self) -> usize {
        let key = engine_thread_key(self.options.engine);
        let t = self.lock_threads();
        match t.cpus.get(&key) {
            Some(c) => *c,
            None => panic!("[model bug] a thread not started by kernel::spawn runs model code"),
        }
    }
}

/// Is the current execution fingerprinting its final state (`thpcheck audit`)?
pub fn audit_enabled() -> bool {
    CURRENT.with(|c| c.borrow().as_ref().is_some_and(|e| e.options.audit))
}

/// Record the fingerprint of the current execution's final state (audit only).
pub fn record_final_state(fingerprint: u64) {
    if audit_enabled() {
        *current()
            .final_state
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(fingerprint);
    }
}

/// Take the fingerprint recorded by [`record_final_state`] in the current execution.
pub fn take_final_state() -> Option<u64> {
    current()
        .final_state
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
}

/// Is `rule` on in the current execution? (Code that keeps a rule asks; switching it off runs
/// the broken protocol.)
pub fn rule_on(rule: crate::rules::Rule) -> bool {
    current().options.rules.is_on(rule)
}
