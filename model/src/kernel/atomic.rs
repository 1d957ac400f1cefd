//! `atomic_t`, `atomic_long_t`, bit operations, `READ_ONCE`/`WRITE_ONCE` and the `smp_*`
//! barriers, with the ordering rules of Documentation/atomic_t.txt and
//! Documentation/memory-barriers.txt mapped onto the C11 model that loom checks.
//!
//! # Mapping (docs/protocol.md#memory-ordering)
//!
//! | kernel | here | why |
//! |---|---|---|
//! | `atomic_read`, `READ_ONCE` | Relaxed load | plain marked access |
//! | `atomic_set`, `WRITE_ONCE` | Relaxed store | |
//! | `atomic_read_acquire`, `smp_load_acquire` | Acquire load | |
//! | `atomic_set_release`, `smp_store_release` | Release store | |
//! | `atomic_inc/dec/add/sub/or`, `set_bit`, `clear_bit` | Relaxed RMW | non-value-returning RMWs are unordered |
//! | value-returning RMW (`*_return`, `*_and_test`, `xchg`, `fetch_*`, `test_and_set_bit`) | `fence(SeqCst)`; Relaxed RMW; `fence(SeqCst)` | fully ordered |
//! | `cmpxchg`, `add_unless` | Relaxed pre-load; on the success path `fence(SeqCst)`; Relaxed CAS; `fence(SeqCst)` | fully ordered on success, unordered on failure |
//! | `*_relaxed` RMW variants (`xchg_relaxed`, `cmpxchg_relaxed`, `fetch_add_relaxed`, ...) | Relaxed RMW | |
//! | `*_acquire` / `*_release` RMW variants | Acquire / Release RMW (a conditional one: only on success) | |
//! | `try_cmpxchg` | as `cmpxchg`, updating the expected value on failure | |
//! | `smp_mb__after_spinlock`, `smp_mb__after_unlock_lock`, `smp_store_mb` | `fence(SeqCst)` (after the store, for `smp_store_mb`) | |
//! | `test_and_set_bit_lock` | Acquire RMW | lock acquire |
//! | `clear_bit_unlock`, `clear_bit_unlock_is_negative_byte` | Release RMW | lock release |
//! | `smp_mb`, `smp_mb__before_atomic`, `smp_mb__after_atomic` | `fence(SeqCst)` | |
//! | `smp_wmb` | `fence(Release)` | stronger than the kernel's store-store barrier: it also orders earlier loads before later stores |
//! | `smp_rmb` | `fence(Acquire)` | stronger: it also orders earlier loads before later stores |
//!
//! Full ordering is expressed with SeqCst *fences* around a Relaxed RMW, never with SeqCst
//! accesses: loom treats SeqCst loads, stores and RMWs as AcqRel (loom README, "Unsupported
//! features"), which would make the store-buffering pattern a false alarm, but it models SeqCst
//! fences. A failed conditional RMW must be unordered (atomic_t.txt), and loom gives a failed
//! `compare_exchange(SeqCst, SeqCst)` acquire semantics, so the failure path here goes through a
//! Relaxed load that may read any coherent value; the CAS that follows the leading fence may
//! also fail, which is a stronger (allowed) behaviour, never a weaker one.
//!
//! Address dependencies (a lockless page-table walker reading a table through the PMD value it
//! just read) have no C11 counterpart; such reads use [`atomic_long_t::read_dep`], an Acquire
//! load, and say so where they are used.
//!
//! Under shuttle every atomic is sequentially consistent: barrier-only rules can only be
//! caught by loom (docs/contributing.md#engine-limits).

use std::sync::atomic::Ordering;

use crate::kernel::engine::{current_engine, Engine};
use crate::kernel::oplog::Op;

macro_rules! kernel_atomic {
    ($name:ident, $t:ty, $loom:ty, $shuttle:ty, $std:ty, $kname:literal) => {
        #[doc = concat!("The kernel's `", $kname, "`. Built with the engine of the current execution.")]
        pub struct $name(Impl, Option<crate::kernel::trace::Loc>);

        #[allow(clippy::large_enum_variant)]
        enum Impl {
            Loom($loom),
            Shuttle($shuttle),
            Std($std),
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}(..)", $kname)
            }
        }

        macro_rules! dispatch {
            ($self:expr, $a:ident => $e:expr) => {
                match &$self.0 {
                    Impl::Loom($a) => $e,
                    Impl::Shuttle($a) => $e,
                    Impl::Std($a) => $e,
                }
            };
        }

        impl $name {
            /// `ATOMIC_INIT(v)`.
            pub fn new(v: $t) -> Self {
                $name(match current_engine() {
                    Engine::Loom => Impl::Loom(<$loom>::new(v)),
                    Engine::Shuttle => Impl::Shuttle(<$shuttle>::new(v)),
                    Engine::Std => Impl::Std(<$std>::new(v)),
                }, None)
            }

            /// The shared word this is, for traces: a traced execution logs every store to it
            /// (every write: plain, exchange, successful compare-and-swap, arithmetic and bit
            /// RMWs, with the value written) so that a lockless read of it can name the store it
            /// saw ([`crate::kernel::trace::load`]). Fixed at construction: not model state.
            pub fn watched(mut self, loc: crate::kernel::trace::Loc) -> Self {
                self.1 = Some(loc);
                self
            }
            /// The word, if [`Self::watched`].
            pub fn loc(&self) -> Option<crate::kernel::trace::Loc> {
                self.1
            }
            #[inline]
            fn stored(&self, v: $t) {
                if let Some(l) = self.1 {
                    crate::kernel::trace::store(l, v as i64);
                }
            }

            #[inline]
            fn load(&self, o: Ordering) -> $t {
                self.op(Op::Load, o);
                dispatch!(self, a => a.load(o))
            }
            #[inline]
            fn cas_op(&self, r: &Result<$t, $t>, o: Ordering) {
                if r.is_ok() {
                    self.op(Op::Rmw, o)
                } else {
                    self.op(Op::CasFailed, Ordering::Relaxed)
                }
            }
            /// Log the operation for `thpcheck bench` (kernel/oplog.rs).
            #[inline]
            fn op(&self, k: fn(crate::kernel::oplog::Obj, Ordering) -> Op, o: Ordering) {
                crate::kernel::oplog::note(k(self as *const Self as usize, o));
            }
            #[inline]
            fn store(&self, v: $t, o: Ordering) {
                self.op(Op::Store, o);
                dispatch!(self, a => a.store(v, o));
                self.stored(v);
            }

            /// `atomic_read` / `READ_ONCE`: relaxed.
            #[inline]
            pub fn read(&self) -> $t {
                self.load(Ordering::Relaxed)
            }
            /// `atomic_set` / `WRITE_ONCE`: relaxed.
            #[inline]
            pub fn set(&self, v: $t) {
                self.store(v, Ordering::Relaxed)
            }
            /// `atomic_read_acquire` / `smp_load_acquire`.
            #[inline]
            pub fn read_acquire(&self) -> $t {
                self.load(Ordering::Acquire)
            }
            /// A lockless read whose users rely on an address dependency (e.g. a walker that
            /// dereferences the table the PMD value points to). C11 has no dependency
            /// ordering; Acquire stands in for it (docs/protocol.md#memory-ordering).
            #[inline]
            pub fn read_dep(&self) -> $t {
                self.load(Ordering::Acquire)
            }
            /// `atomic_set_release` / `smp_store_release`.
            #[inline]
            pub fn set_release(&self, v: $t) {
                self.store(v, Ordering::Release)
            }

            /// One `fetch_add` with ordering `o`, logged; the old value.
            #[inline]
            fn rmw_add(&self, i: $t, o: Ordering) -> $t {
                self.op(Op::Rmw, o);
                let old = dispatch!(self, a => a.fetch_add(i, o));
                self.stored(old.wrapping_add(i));
                old
            }
            /// One `fetch_sub` with ordering `o`, logged; the old value.
            #[inline]
            fn rmw_sub(&self, i: $t, o: Ordering) -> $t {
                self.op(Op::Rmw, o);
                let old = dispatch!(self, a => a.fetch_sub(i, o));
                self.stored(old.wrapping_sub(i));
                old
            }

            /// `atomic_add` (relaxed, no return value).
            #[inline]
            pub fn add(&self, i: $t) {
                self.rmw_add(i, Ordering::Relaxed);
            }
            /// `atomic_sub` (relaxed).
            #[inline]
            pub fn sub(&self, i: $t) {
                self.rmw_sub(i, Ordering::Relaxed);
            }
            /// `atomic_or` (relaxed, no return value).
            #[inline]
            pub fn or(&self, m: $t) {
                self.fetch_or(m, Ordering::Relaxed);
            }
            /// `atomic_inc` (relaxed).
            #[inline]
            pub fn inc(&self) {
                self.add(1)
            }
            /// `atomic_dec` (relaxed).
            #[inline]
            pub fn dec(&self) {
                self.sub(1)
            }
            /// `atomic_fetch_add`: fully ordered, returns the old value.
            pub fn fetch_add(&self, i: $t) -> $t {
                smp_mb();
                let old = self.rmw_add(i, Ordering::Relaxed);
                smp_mb();
                old
            }
            /// `atomic_add_return`: fully ordered, returns the new value.
            pub fn add_return(&self, i: $t) -> $t {
                self.fetch_add(i) + i
            }
            /// `atomic_sub_return`: fully ordered.
            pub fn sub_return(&self, i: $t) -> $t {
                self.fetch_add(-i) - i
            }
            /// `atomic_add_return_relaxed`.
            pub fn add_return_relaxed(&self, i: $t) -> $t {
                self.rmw_add(i, Ordering::Relaxed) + i
            }
            /// `atomic_sub_return_relaxed`.
            pub fn sub_return_relaxed(&self, i: $t) -> $t {
                self.rmw_sub(i, Ordering::Relaxed) - i
            }
            /// `atomic_inc_return`: fully ordered.
            pub fn inc_return(&self) -> $t {
                self.add_return(1)
            }
            /// `atomic_dec_return`: fully ordered.
            pub fn dec_return(&self) -> $t {
                self.sub_return(1)
            }
            /// `atomic_inc_and_test`: fully ordered; true if the result is 0.
            pub fn inc_and_test(&self) -> bool {
                self.add_return(1) == 0
            }
            /// `atomic_dec_and_test`: fully ordered; true if the result is 0.
            pub fn dec_and_test(&self) -> bool {
                self.sub_return(1) == 0
            }
            /// `atomic_sub_and_test`: fully ordered; true if the result is 0.
            pub fn sub_and_test(&self, i: $t) -> bool {
                self.sub_return(i) == 0
            }
            /// `atomic_xchg`: fully ordered.
            pub fn xchg(&self, v: $t) -> $t {
                smp_mb();
                self.op(Op::Rmw, Ordering::Relaxed);
                let old = dispatch!(self, a => a.swap(v, Ordering::Relaxed));
                self.stored(v);
                smp_mb();
                old
            }
            /// `atomic_cmpxchg`: returns the value read; fully ordered if it equals `old`
            /// (success), unordered otherwise.
            pub fn cmpxchg(&self, old: $t, new: $t) -> $t {
                let seen = self.load(Ordering::Relaxed);
                if seen != old {
                    return seen; // failure: unordered, no store
                }
                smp_mb();
                let r = dispatch!(self, a => a.compare_exchange(old, new, Ordering::Relaxed, Ordering::Relaxed));
                self.cas_op(&r, Ordering::Relaxed);
                match r {
                    Ok(v) => {
                        self.stored(new);
                        smp_mb();
                        v
                    }
                    Err(v) => v,
                }
            }
            /// `atomic_xchg_relaxed`: unordered (arm64's page-table `xchg_relaxed`).
            pub fn xchg_relaxed(&self, v: $t) -> $t {
                self.op(Op::Rmw, Ordering::Relaxed);
                let old = dispatch!(self, a => a.swap(v, Ordering::Relaxed));
                self.stored(v);
                old
            }
            /// `atomic_xchg_acquire`.
            pub fn xchg_acquire(&self, v: $t) -> $t {
                self.op(Op::Rmw, Ordering::Acquire);
                let old = dispatch!(self, a => a.swap(v, Ordering::Acquire));
                self.stored(v);
                old
            }
            /// `atomic_xchg_release`.
            pub fn xchg_release(&self, v: $t) -> $t {
                self.op(Op::Rmw, Ordering::Release);
                let old = dispatch!(self, a => a.swap(v, Ordering::Release));
                self.stored(v);
                old
            }
            /// `atomic_cmpxchg_relaxed`: returns the value read; unordered.
            pub fn cmpxchg_relaxed(&self, old: $t, new: $t) -> $t {
                self.cmpxchg_with(old, new, Ordering::Relaxed)
            }
            /// `atomic_cmpxchg_acquire`: returns the value read; acquire on success, unordered
            /// on failure.
            pub fn cmpxchg_acquire(&self, old: $t, new: $t) -> $t {
                self.cmpxchg_with(old, new, Ordering::Acquire)
            }
            /// `atomic_cmpxchg_release`: returns the value read; release on success, unordered
            /// on failure.
            pub fn cmpxchg_release(&self, old: $t, new: $t) -> $t {
                self.cmpxchg_with(old, new, Ordering::Release)
            }
            /// One compare-and-swap, `o` on success, unordered on failure (a failed conditional
            /// RMW is unordered: a Relaxed pre-load decides failure, as in [`Self::cmpxchg`]).
            fn cmpxchg_with(&self, old: $t, new: $t, o: Ordering) -> $t {
                let seen = self.load(Ordering::Relaxed);
                if seen != old {
                    return seen;
                }
                let r = dispatch!(self, a => a.compare_exchange(old, new, o, Ordering::Relaxed));
                self.cas_op(&r, o);
                match r {
                    Ok(v) => {
                        self.stored(new);
                        v
                    }
                    Err(v) => v,
                }
            }
            /// `atomic_try_cmpxchg(v, &old, new)`: true on success (fully ordered); on failure
            /// `old` is updated to the value read (unordered).
            pub fn try_cmpxchg(&self, old: &mut $t, new: $t) -> bool {
                let seen = self.cmpxchg(*old, new);
                let ok = seen == *old;
                *old = seen;
                ok
            }
            /// `atomic_add_return_acquire`.
            pub fn add_return_acquire(&self, i: $t) -> $t {
                self.rmw_add(i, Ordering::Acquire) + i
            }
            /// `atomic_add_return_release`.
            pub fn add_return_release(&self, i: $t) -> $t {
                self.rmw_add(i, Ordering::Release) + i
            }
            /// `atomic_fetch_add_relaxed`.
            pub fn fetch_add_relaxed(&self, i: $t) -> $t {
                self.rmw_add(i, Ordering::Relaxed)
            }
            /// `atomic_add_unless(v, a, u)`: add `a` unless the value is `u`; true if it added.
            /// Never stores when the value read is `u` — what makes `get_page_unless_zero` safe
            /// on a read-only struct page (include/linux/page_ref.h, docs/protocol.md#hvo).
            /// Fully ordered on success, unordered on failure.
            pub fn add_unless(&self, a: $t, u: $t) -> bool {
                self.add_unless_seen(a, u).is_ok()
            }
            /// [`Self::add_unless`], returning the value it read: Ok(value it added to), or
            /// Err(`u`).
            pub fn add_unless_seen(&self, a: $t, u: $t) -> Result<$t, $t> {
                loop {
                    let c = self.load(Ordering::Relaxed);
                    if c == u {
                        return Err(c);
                    }
                    smp_mb();
                    let r = dispatch!(self, x => x.compare_exchange(c, c + a, Ordering::Relaxed, Ordering::Relaxed));
                    self.cas_op(&r, Ordering::Relaxed);
                    if r.is_ok() {
                        self.stored(c.wrapping_add(a));
                        smp_mb();
                        return Ok(c);
                    }
                }
            }
            /// `atomic_inc_not_zero`.
            pub fn inc_not_zero(&self) -> bool {
                self.add_unless(1, 0)
            }

            /// A single RMW with an explicit C11 ordering, for primitives of this layer that
            /// are not kernel atomics (RCU reader counters).
            #[allow(dead_code)]
            pub(crate) fn fetch_add_ordered(&self, i: $t, o: Ordering) -> $t {
                self.rmw_add(i, o)
            }

            /// A single swap with an explicit C11 ordering (the allocator's [`AtomicFlag`]).
            #[allow(dead_code)]
            pub(crate) fn swap_ordered(&self, v: $t, o: Ordering) -> $t {
                self.op(Op::Rmw, o);
                let old = dispatch!(self, a => a.swap(v, o));
                self.stored(v);
                old
            }

            /// A single compare-and-swap with an explicit C11 ordering on success (relaxed on
            /// failure, which stores nothing): the allocator's [`AtomicFlag`].
            #[allow(dead_code)]
            pub(crate) fn compare_exchange_ordered(&self, old: $t, new: $t, o: Ordering) -> Result<$t, $t> {
                let r = dispatch!(self, a => a.compare_exchange(old, new, o, Ordering::Relaxed));
                self.cas_op(&r, o);
                if r.is_ok() {
                    self.stored(new);
                }
                r
            }

            /// `atomic_fetch_or` with the given ordering (bit operations below).
            #[inline]
            pub(crate) fn fetch_or(&self, m: $t, o: Ordering) -> $t {
                self.op(Op::Rmw, o);
                let old = dispatch!(self, a => a.fetch_or(m, o));
                self.stored(old | m);
                old
            }
            #[inline]
            pub(crate) fn fetch_and(&self, m: $t, o: Ordering) -> $t {
                self.op(Op::Rmw, o);
                let old = dispatch!(self, a => a.fetch_and(m, o));
                self.stored(old & m);
                old
            }

            /// `set_bit`: atomic; unordered in the LKMM and on arm64, a full barrier on x86
            /// (LOCK-prefixed; [`crate::kernel::Hardware::atomic_bitops_fully_ordered`]).
            pub fn set_bit(&self, nr: u32) {
                let full = bitops_fully_ordered();
                if full {
                    smp_mb();
                }
                self.fetch_or(1 << nr, Ordering::Relaxed);
                if full {
                    smp_mb();
                }
            }
            /// `clear_bit`: atomic; ordered as [`Self::set_bit`].
            pub fn clear_bit(&self, nr: u32) {
                let full = bitops_fully_ordered();
                if full {
                    smp_mb();
                }
                self.fetch_and(!(1 << nr), Ordering::Relaxed);
                if full {
                    smp_mb();
                }
            }
            /// `__set_bit`: the kernel's non-atomic form (a plain read-modify-write, no
            /// barrier on any architecture); modelled as one relaxed RMW, so it cannot lose a
            /// concurrent update: the kernel uses it only where none can happen.
            pub fn __set_bit(&self, nr: u32) {
                self.fetch_or(1 << nr, Ordering::Relaxed);
            }
            /// `test_bit` (relaxed read).
            pub fn test_bit(&self, nr: u32) -> bool {
                self.read() & (1 << nr) != 0
            }
            /// `test_and_set_bit`: fully ordered; returns the old bit.
            pub fn test_and_set_bit(&self, nr: u32) -> bool {
                smp_mb();
                let old = self.fetch_or(1 << nr, Ordering::Relaxed);
                smp_mb();
                old & (1 << nr) != 0
            }
            /// `test_and_clear_bit`: fully ordered; returns the old bit.
            pub fn test_and_clear_bit(&self, nr: u32) -> bool {
                smp_mb();
                let old = self.fetch_and(!(1 << nr), Ordering::Relaxed);
                smp_mb();
                old & (1 << nr) != 0
            }
            /// `test_and_set_bit_lock`: acquire; returns the old bit.
            pub fn test_and_set_bit_lock(&self, nr: u32) -> bool {
                self.fetch_or(1 << nr, Ordering::Acquire) & (1 << nr) != 0
            }
            /// `clear_bit_unlock`: release.
            pub fn clear_bit_unlock(&self, nr: u32) {
                self.fetch_and(!(1 << nr), Ordering::Release);
            }
            /// `clear_bit_unlock_is_negative_byte` generalised: release-clear `nr` and report
            /// whether bit `waiters` was set in the old value (mm/filemap.c `folio_unlock`).
            pub fn clear_bit_unlock_test(&self, nr: u32, waiters: u32) -> bool {
                self.fetch_and(!(1 << nr), Ordering::Release) & (1 << waiters) != 0
            }
        }
    };
}

kernel_atomic!(
    atomic_t,
    i32,
    loom::sync::atomic::AtomicI32,
    shuttle::sync::atomic::AtomicI32,
    std::sync::atomic::AtomicI32,
    "atomic_t"
);

mod long {
    use super::*;
    kernel_atomic!(
        atomic_long_t,
        i64,
        loom::sync::atomic::AtomicI64,
        shuttle::sync::atomic::AtomicI64,
        std::sync::atomic::AtomicI64,
        "atomic_long_t"
    );
}
pub use long::atomic_long_t;

/// A `bool` the kernel reads with `READ_ONCE` and writes with `WRITE_ONCE` (or under a lock),
/// stored in an [`atomic_t`] (0 / 1) so that the engines see every access. Model state such
/// as "this page is allocated" uses it, so that a check which reads it depends, for loom's and
/// shuttle's exploration, on the CPU that wrote it. The page allocator takes and frees with
/// [`AtomicFlag::test_and_set_acquire`] / [`AtomicFlag::test_and_clear_release`]: a free is
/// ordered before the next allocation of the same page and of nothing else, which is all the
/// kernel's `zone->lock` and per-CPU list locks give two CPUs that meet at one page.
pub struct AtomicFlag(atomic_t);

impl std::fmt::Debug for AtomicFlag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AtomicFlag(..)")
    }
}

impl AtomicFlag {
    pub fn new(v: bool) -> Self {
        AtomicFlag(atomic_t::new(v as i32))
    }
    /// `READ_ONCE`: relaxed.
    #[inline]
    pub fn read(&self) -> bool {
        self.0.read() != 0
    }
    /// `WRITE_ONCE`: relaxed.
    #[inline]
    pub fn set(&self, v: bool) {
        self.0.set(v as i32)
    }
    /// Oracle only, no kernel counterpart: the latest value in the flag's modification order
    /// (a relaxed read-modify-write that changes nothing), for a check about what is true now,
    /// not what this CPU has been told (a hardware access through a stale translation).
    pub fn read_latest(&self) -> bool {
        self.0.fetch_add_relaxed(0) != 0
    }
    /// The allocator taking the page off the free lists (`rmqueue` under the zone / per-CPU
    /// list lock): false → true, acquire; true if it took it. A failed attempt stores nothing.
    pub fn test_and_set_acquire(&self) -> bool {
        self.0
            .compare_exchange_ordered(0, 1, Ordering::Acquire)
            .is_ok()
    }
    /// The allocator putting the page back (`free_one_page` / the per-CPU list, under its lock):
    /// → false, release; returns whether it was set (false: a double free).
    pub fn test_and_clear_release(&self) -> bool {
        self.0.swap_ordered(0, Ordering::Release) != 0
    }
}

/// Whether the current execution's hardware makes `set_bit` / `clear_bit` full barriers.
fn bitops_fully_ordered() -> bool {
    crate::kernel::engine::current()
        .options
        .hardware
        .atomic_bitops_fully_ordered
}

#[inline]
fn fence(o: Ordering) {
    crate::kernel::oplog::note(Op::Fence(o));
    match current_engine() {
        Engine::Loom => loom::sync::atomic::fence(o),
        Engine::Shuttle => shuttle::sync::atomic::fence(o),
        Engine::Std => std::sync::atomic::fence(o),
    }
}

/// `smp_mb()`: full barrier.
#[inline]
pub fn smp_mb() {
    fence(Ordering::SeqCst)
}
/// `smp_wmb()`: store-store barrier, mapped to a release fence (stronger; see module doc).
#[inline]
pub fn smp_wmb() {
    fence(Ordering::Release)
}
/// `smp_rmb()`: load-load barrier, mapped to an acquire fence (stronger; see module doc).
#[inline]
pub fn smp_rmb() {
    fence(Ordering::Acquire)
}
/// `smp_mb__before_atomic()`: full barrier before a non-value-returning RMW.
#[inline]
pub fn smp_mb__before_atomic() {
    smp_mb()
}
/// `smp_mb__after_atomic()`: full barrier after a non-value-returning RMW.
#[inline]
pub fn smp_mb__after_atomic() {
    smp_mb()
}
/// `smp_mb__after_spinlock()`: after a lock acquisition, a full barrier (x86's locked RMW
/// already is one; arm64 issues `smp_mb`). Modelled as a full fence on every architecture.
#[inline]
pub fn smp_mb__after_spinlock() {
    smp_mb()
}
/// `smp_mb__after_unlock_lock()`: makes an unlock followed by a lock (same lock, or same CPU) a
/// full barrier. A no-op except on PowerPC in the kernel, because the LKMM already orders much
/// of it; the model's locks are acquire/release only, so here it is a full fence
/// (docs/memory-model.md, "Where the model is stronger or weaker than the LKMM").
#[inline]
pub fn smp_mb__after_unlock_lock() {
    smp_mb()
}
/// `smp_store_mb(x, v)`: `WRITE_ONCE(x, v)` then a full barrier.
#[inline]
pub fn smp_store_mb<A: OnceAccess>(x: &A, v: A::Value) {
    x.write_once(v);
    smp_mb()
}

/// A location read with `READ_ONCE` / written with `WRITE_ONCE`.
pub trait OnceAccess {
    type Value;
    fn read_once(&self) -> Self::Value;
    fn write_once(&self, v: Self::Value);
    fn load_acquire(&self) -> Self::Value;
    fn store_release(&self, v: Self::Value);
}

macro_rules! once_access {
    ($ty:ty, $v:ty) => {
        impl OnceAccess for $ty {
            type Value = $v;
            fn read_once(&self) -> $v {
                self.read()
            }
            fn write_once(&self, v: $v) {
                self.set(v)
            }
            fn load_acquire(&self) -> $v {
                self.read_acquire()
            }
            fn store_release(&self, v: $v) {
                self.set_release(v)
            }
        }
    };
}
once_access!(atomic_t, i32);
once_access!(atomic_long_t, i64);

/// `READ_ONCE(x)`.
#[allow(non_snake_case)]
#[inline]
pub fn READ_ONCE<A: OnceAccess>(x: &A) -> A::Value {
    x.read_once()
}
/// `WRITE_ONCE(x, v)`.
#[allow(non_snake_case)]
#[inline]
pub fn WRITE_ONCE<A: OnceAccess>(x: &A, v: A::Value) {
    x.write_once(v)
}
/// `smp_load_acquire(x)`.
#[inline]
pub fn smp_load_acquire<A: OnceAccess>(x: &A) -> A::Value {
    x.load_acquire()
}
/// `smp_store_release(x, v)`.
#[inline]
pub fn smp_store_release<A: OnceAccess>(x: &A, v: A::Value) {
    x.store_release(v)
}
