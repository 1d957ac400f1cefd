//! PMD and PTE encodings and the classifiers of x86-64 and arm64
//! (arch/x86/include/asm/pgtable.h, arch/arm64/include/asm/pgtable.h, include/linux/pgtable.h,
//! include/linux/swapops.h).
//!
//! # PMD state table (one `atomic_long_t`)
//!
//! | kind | meaning | `pmd_none` | `pmd_present` | `pmd_trans_huge` | `pmd_access_permitted` | `is_pmd_migration_entry` | who writes it, under what |
//! |---|---|---|---|---|---|---|---|
//! | 0 none | no mapping | yes | no | no | no | no | zap (PMD lock), fault recheck |
//! | 1 table | points to PTE table `payload` | no | yes | no | (n/a) | no | `pmd_install`, `pmd_populate` after split (PMD lock) |
//! | 2 huge | maps folio at pfn `payload` | no | yes | yes | yes | no | `set_pmd_at` in fault / collapse (PMD lock) |
//! | 3 huge-invalid | `pmdp_invalidate`d huge: present bit clear, PSE kept | no | **yes** | **yes** | no | no | `pmdp_invalidate` (PMD lock) |
//! | 4 migration | PMD migration entry for pfn `payload` | no | no | no | no | yes | `set_pmd_migration_entry` (PMD lock) |
//! | 5 migration-invalid | arm64 only: `pmd_mkinvalid` applied to a migration entry (PMD_PRESENT_INVALID set) | no | **yes** (I26) | **yes** (I26) | no | **no** | the pre-3a5a8d343e1c split (rule `split-pmd-invalidate-present-only` off; PMD lock) |
//!
//! x86's `pmd_present` tests PRESENT|PROTNONE|PSE, so an invalidated huge PMD still reads as
//! present and huge to a lockless reader; only `pmd_access_permitted` rejects it
//! (docs/protocol.md#pmd-states). arm64 agrees on kinds 0-4 (its PMD_PRESENT_INVALID keeps an
//! invalidated huge PMD present). Kind 5 exists only on arm64: there `pmd_mkinvalid` sets
//! PMD_PRESENT_INVALID whatever the value was, so an invalidated migration entry reads as a
//! present leaf whose "pfn" is swap-entry bits (historical race Z12). On x86 `pmd_mkinvalid`
//! of a non-present entry leaves it non-present, so invalidating a migration entry writes kind
//! 4 back (the model does not track which bits x86's `pmd_mkinvalid` changes in a swap entry;
//! it stays non-present, which is what matters to lockless walkers). The real protocol never
//! writes kind 5; classifying it as present is invariant I26, checked where a reader asks.
//!
//! Flag bits (huge / huge-invalid / migration): 3 write, 4 young, 5 dirty, 6 soft-dirty,
//! 7 exclusive (migration entries: readable-exclusive).
//!
//! # PTE state table
//!
//! | kind | meaning |
//! |---|---|
//! | 0 none | no mapping |
//! | 1 present | maps pfn `payload`, flags as above |
//! | 2 migration | migration entry for pfn `payload`: writable if F_WRITE, else readable-exclusive if F_EXCLUSIVE, else readable; young/dirty/soft-dirty carried |
//! | 3 zero | `pte_mkspecial` mapping of the shared zero page (`my_zero_pfn`): present, read-only, no struct page the mm holds (`vm_normal_page` is NULL), young and soft-dirty as set |
//! | 4 swap | swap entry for slot `payload` of the one swap device (`swp_entry_to_pte`): not present; F_EXCLUSIVE is `pte_swp_exclusive`, F_SOFT_DIRTY `pte_swp_soft_dirty`; counted by the slot's swap count, not by any mapcount |

pub const KIND_BITS: u32 = 3;
pub const FLAG_BITS: u32 = 5;
pub const PAYLOAD_SHIFT: u32 = 16;
const KIND_MASK: i64 = (1 << KIND_BITS) - 1;

pub const F_WRITE: i64 = 1 << 3;
pub const F_YOUNG: i64 = 1 << 4;
pub const F_DIRTY: i64 = 1 << 5;
pub const F_SOFT_DIRTY: i64 = 1 << 6;
/// Migration entries only: readable-exclusive (SWP_MIGRATION_READ_EXCLUSIVE) when set and
/// F_WRITE is clear.
pub const F_EXCLUSIVE: i64 = 1 << 7;
pub const F_MASK: i64 = F_WRITE | F_YOUNG | F_DIRTY | F_SOFT_DIRTY | F_EXCLUSIVE;

/// The bits of a migration entry by the names of its swap-entry encoding
/// (`SWP_MIGRATION_WRITE` / `SWP_MIGRATION_READ_EXCLUSIVE` / `SWP_MIGRATION_READ` type,
/// `SWP_MIG_YOUNG`, `SWP_MIG_DIRTY`, `_PAGE_SWP_SOFT_DIRTY`).
pub fn migration_flag_names(flags: i64) -> String {
    let ty = if flags & F_WRITE != 0 {
        "WRITE"
    } else if flags & F_EXCLUSIVE != 0 {
        "READ_EXCLUSIVE"
    } else {
        "READ"
    };
    let mut v = vec![ty];
    for (b, n) in [
        (F_YOUNG, "YOUNG"),
        (F_DIRTY, "DIRTY"),
        (F_SOFT_DIRTY, "SOFT_DIRTY"),
    ] {
        if flags & b != 0 {
            v.push(n);
        }
    }
    v.join("|")
}

/// The flag bits of `flags` by their x86 names (`_PAGE_RW`, `_PAGE_ACCESSED`, `_PAGE_DIRTY`,
/// `_PAGE_SOFT_DIRTY`; `EXCLUSIVE` is a migration entry's readable-exclusive type) after the
/// `fixed` bits of the entry's kind, joined with `|`; `-` when there is nothing to name.
pub fn flag_names(fixed: &[&'static str], flags: i64) -> String {
    const NAMES: [(i64, &str); 5] = [
        (F_WRITE, "RW"),
        (F_YOUNG, "ACCESSED"),
        (F_DIRTY, "DIRTY"),
        (F_SOFT_DIRTY, "SOFT_DIRTY"),
        (F_EXCLUSIVE, "EXCLUSIVE"),
    ];
    let v: Vec<&str> = fixed
        .iter()
        .copied()
        .chain(
            NAMES
                .iter()
                .filter(|(b, _)| flags & b != 0)
                .map(|(_, n)| *n),
        )
        .collect();
    if v.is_empty() {
        "-".to_string()
    } else {
        v.join("|")
    }
}

/// A decoded PMD value. Its `Debug` form, used in traces and messages, names the kind the way
/// the kernel's classifiers see it and the flag bits by name, e.g.
/// `huge(pfn 0, PRESENT|PSE|RW|ACCESSED|DIRTY)`: x86 sets PRESENT and PSE on a huge PMD, keeps
/// PSE without PRESENT after `pmdp_invalidate`, and a migration entry has neither.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Pmd {
    None,
    Table(usize),
    Huge {
        pfn: usize,
        flags: i64,
    },
    HugeInvalid {
        pfn: usize,
        flags: i64,
    },
    Migration {
        pfn: usize,
        flags: i64,
    },
    /// arm64 only: a migration entry after `pmd_mkinvalid` (see the state table).
    MigrationInvalid {
        pfn: usize,
        flags: i64,
    },
}

impl std::fmt::Debug for Pmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Pmd::None => write!(f, "none"),
            Pmd::Table(t) => write!(f, "table({t}, PRESENT)"),
            Pmd::Huge { pfn, flags } => {
                write!(
                    f,
                    "huge(pfn {pfn}, {})",
                    flag_names(&["PRESENT", "PSE"], flags)
                )
            }
            Pmd::HugeInvalid { pfn, flags } => {
                write!(
                    f,
                    "invalidated-huge(pfn {pfn}, {})",
                    flag_names(&["PSE"], flags)
                )
            }
            Pmd::Migration { pfn, flags } => {
                write!(f, "migration(pfn {pfn}, {})", migration_flag_names(flags))
            }
            Pmd::MigrationInvalid { pfn, flags } => write!(
                f,
                "invalidated-migration(pfn {pfn}, PRESENT_INVALID|{})",
                migration_flag_names(flags)
            ),
        }
    }
}

impl Pmd {
    pub fn decode(v: i64) -> Pmd {
        let payload = (v >> PAYLOAD_SHIFT) as usize;
        let flags = v & F_MASK;
        match v & KIND_MASK {
            0 => Pmd::None,
            1 => Pmd::Table(payload),
            2 => Pmd::Huge {
                pfn: payload,
                flags,
            },
            3 => Pmd::HugeInvalid {
                pfn: payload,
                flags,
            },
            4 => Pmd::Migration {
                pfn: payload,
                flags,
            },
            5 => Pmd::MigrationInvalid {
                pfn: payload,
                flags,
            },
            k => panic!("[model bug] PMD kind {k}"),
        }
    }

    pub fn encode(self) -> i64 {
        let (kind, payload, flags) = match self {
            Pmd::None => (0, 0, 0),
            Pmd::Table(t) => (1, t, 0),
            Pmd::Huge { pfn, flags } => (2, pfn, flags),
            Pmd::HugeInvalid { pfn, flags } => (3, pfn, flags),
            Pmd::Migration { pfn, flags } => (4, pfn, flags),
            Pmd::MigrationInvalid { pfn, flags } => (5, pfn, flags),
        };
        ((payload as i64) << PAYLOAD_SHIFT) | (flags & F_MASK) | kind
    }

    /// `pmd_none`.
    pub fn none(self) -> bool {
        matches!(self, Pmd::None)
    }
    /// `pmd_present` (x86: PRESENT | PROTNONE | PSE; arm64: valid | PMD_PRESENT_INVALID) —
    /// true for an invalidated huge PMD. For an invalidated migration entry (arm64) it is
    /// true as well, and the reader is misled: I26.
    pub fn present(self) -> bool {
        self.check_not_migration_invalid("pmd_present");
        matches!(
            self,
            Pmd::Table(_) | Pmd::Huge { .. } | Pmd::HugeInvalid { .. }
        )
    }
    /// `pmd_trans_huge` (x86: PSE set; arm64: present and not a table) — true for an
    /// invalidated huge PMD (and, misleadingly, for an invalidated migration entry: I26).
    pub fn trans_huge(self) -> bool {
        self.check_not_migration_invalid("pmd_trans_huge");
        matches!(self, Pmd::Huge { .. } | Pmd::HugeInvalid { .. })
    }
    /// I26 at classification: a reader (without the PMD lock, which the writer of kind 5
    /// holds) asked whether an invalidated migration entry is present and was told yes, so for
    /// it the entry is no longer a swap entry (`is_swap_pmd` false) but a present huge PMD
    /// whose "pfn" is swap-entry bits (historical race Z12; the fix's stated invariant: a
    /// non-present entry must never look present to a lockless walker). GUP-fast on arm64
    /// would still be stopped later by `pmd_access_permitted` (the valid bit is clear); a
    /// walker that trusts `pmd_present` / `pmd_trans_huge` and calls `pmd_page` is not.
    fn check_not_migration_invalid(self, what: &str) {
        if let Pmd::MigrationInvalid { pfn, .. } = self {
            crate::vm_bug_on!(
                true,
                crate::invariants::Inv::I26NonPresentAsPresent,
                "{what}() is true for the PMD migration entry of pfn {pfn} after pmd_mkinvalid (arm64 PMD_PRESENT_INVALID): a lockless walker sees swap-entry bits as a present huge PMD"
            );
        }
    }
    /// `pmd_leaf` (same as `pmd_trans_huge` for anonymous THP on x86).
    pub fn leaf(self) -> bool {
        self.trans_huge()
    }
    /// `pmd_access_permitted`: needs the hardware present bit.
    pub fn access_permitted(self, write: bool) -> bool {
        match self {
            Pmd::Huge { flags, .. } => !write || flags & F_WRITE != 0,
            _ => false,
        }
    }
    /// `is_pmd_migration_entry` / `is_swap_pmd` (the only swap PMD in this model).
    pub fn migration(self) -> bool {
        matches!(self, Pmd::Migration { .. })
    }
    /// `pmd_pfn` applied to whatever the PMD holds, as code that has not checked
    /// `pmd_present` does. For a swap (migration) entry the pfn field holds swap-entry bits
    /// (type and offset), not the folio's pfn. The model takes the case of the reported Z19
    /// crash: the struct page they name does not exist (a pfn beyond the memmap). Where they
    /// happen to name a real, unrelated page the kernel reads that instead; not explored.
    /// Only a broken protocol calls this on a non-present entry.
    pub fn pfn_as_if_present(self) -> Option<usize> {
        const PFN_BITS: u32 = 40;
        match self {
            Pmd::Huge { pfn, .. } | Pmd::HugeInvalid { pfn, .. } => Some(pfn),
            Pmd::Migration { pfn, .. } | Pmd::MigrationInvalid { pfn, .. } => {
                Some(!pfn & ((1usize << PFN_BITS) - 1))
            }
            Pmd::None | Pmd::Table(_) => None,
        }
    }
    /// `pmd_page` of a huge PMD: the head pfn. A table or none PMD has no page: decoding one
    /// as huge is what a missing recheck does (I5).
    pub fn huge_pfn(self) -> Option<usize> {
        match self {
            Pmd::Huge { pfn, .. } | Pmd::HugeInvalid { pfn, .. } => Some(pfn),
            _ => None,
        }
    }
}

/// A decoded PTE value (`Debug`: `present(pfn 1, PRESENT|RW|DIRTY)`, `migration(pfn 1, RW)`,
/// `zero-page(PRESENT|SPECIAL|ACCESSED)`, `none`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Pte {
    None,
    Present {
        pfn: usize,
        flags: i64,
    },
    Migration {
        pfn: usize,
        flags: i64,
    },
    /// The shared zero page, mapped special and read-only (`try_to_map_unused_to_zeropage`).
    /// It has no pfn in the memmap: the zero page is never freed, and nobody counts its
    /// references or mappings (`vm_normal_page` returns NULL for it).
    Zero {
        flags: i64,
    },
    /// A swap entry (`swp_entry_to_pte`) for slot `offset` of the swap device
    /// ([`crate::mm::swapfile`]): written by reclaim's `try_to_unmap_one`, read by
    /// `do_swap_page`, dropped by zap (`free_swap_and_cache_nr`), duplicated by fork.
    Swap {
        offset: usize,
        flags: i64,
    },
}

impl std::fmt::Debug for Pte {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Pte::None => write!(f, "none"),
            Pte::Present { pfn, flags } => {
                write!(f, "present(pfn {pfn}, {})", flag_names(&["PRESENT"], flags))
            }
            Pte::Migration { pfn, flags } => {
                write!(f, "migration(pfn {pfn}, {})", migration_flag_names(flags))
            }
            Pte::Zero { flags } => {
                write!(
                    f,
                    "zero-page({})",
                    flag_names(&["PRESENT", "SPECIAL"], flags)
                )
            }
            Pte::Swap { offset, flags } => {
                write!(f, "swap(offset {offset}, {})", flag_names(&[], flags))
            }
        }
    }
}

impl Pte {
    pub fn decode(v: i64) -> Pte {
        let payload = (v >> PAYLOAD_SHIFT) as usize;
        let flags = v & F_MASK;
        match v & KIND_MASK {
            0 => Pte::None,
            1 => Pte::Present {
                pfn: payload,
                flags,
            },
            2 => Pte::Migration {
                pfn: payload,
                flags,
            },
            3 => Pte::Zero { flags },
            4 => Pte::Swap {
                offset: payload,
                flags,
            },
            k => panic!("[model bug] PTE kind {k}"),
        }
    }
    pub fn encode(self) -> i64 {
        let (kind, payload, flags) = match self {
            Pte::None => (0, 0, 0),
            Pte::Present { pfn, flags } => (1, pfn, flags),
            Pte::Migration { pfn, flags } => (2, pfn, flags),
            Pte::Zero { flags } => (3, 0, flags),
            Pte::Swap { offset, flags } => (4, offset, flags),
        };
        ((payload as i64) << PAYLOAD_SHIFT) | (flags & F_MASK) | kind
    }
    /// `pte_present`: true for the zero page's special entry too.
    pub fn present(self) -> bool {
        matches!(self, Pte::Present { .. } | Pte::Zero { .. })
    }
}

/// The bits of a migration entry made from a present entry with `flags`: writable if the entry
/// was writable, else readable-exclusive if the page was AnonExclusive, else readable; young,
/// dirty and soft-dirty carried (`try_to_migrate_one`, `set_pmd_migration_entry`,
/// `__split_huge_pmd_locked` freeze).
pub fn migration_entry_flags(flags: i64, anon_exclusive: bool) -> i64 {
    let mut f = flags & (F_YOUNG | F_DIRTY | F_SOFT_DIRTY);
    if flags & F_WRITE != 0 {
        f |= F_WRITE;
    } else if anon_exclusive {
        f |= F_EXCLUSIVE;
    }
    f
}

/// The architecture's page-table exchange: x86's `native_ptep_get_and_clear`,
/// `native_pmdp_get_and_clear` and `pmdp_establish` are an `xchg` on SMP (fully ordered);
/// arm64's `__ptep_get_and_clear_anysz` and `pmdp_establish` are `xchg_relaxed`
/// ([`crate::kernel::Hardware::pt_rmw_fully_ordered`]).
fn pt_xchg(entry: &crate::kernel::atomic_long_t, v: i64) -> i64 {
    if crate::kernel::engine::current()
        .options
        .hardware
        .pt_rmw_fully_ordered
    {
        entry.xchg(v)
    } else {
        entry.xchg_relaxed(v)
    }
}

/// `pmdp_huge_get_and_clear` (and its `_full` form): swap the PMD for none in one RMW,
/// ordered as the architecture orders it.
pub fn pmdp_huge_get_and_clear(mm: &crate::mm::Mm) -> i64 {
    pt_xchg(&mm.pmd, 0)
}

/// `pmdp_establish`: swap in `new` in one RMW, ordered as the architecture orders it.
pub fn pmdp_establish(mm: &crate::mm::Mm, new: i64) -> i64 {
    pt_xchg(&mm.pmd, new)
}

/// `ptep_get_and_clear` (and its `_full` form): swap the PTE for none in one RMW, ordered as
/// the architecture orders it.
pub fn ptep_get_and_clear(pte: &crate::kernel::atomic_long_t) -> i64 {
    pt_xchg(pte, 0)
}
