//! Findings: counterexamples of the Linux 6.18.2 protocol that no historical fix explains, each
//! with its candidate fix (a rule of [`Rule::FIXES`], off in 6.18.2), the scenario that shows
//! it, and the case that it is not a model artefact. `docs/findings.md` is generated from here
//! ([`findings_md`]); a test runs every finding both ways: without the fix the scenario must
//! fail with the finding's invariant, with it the scenario must hold.

use std::fmt::Write;

use thp_model::rules::{Rule, RuleSet};

use crate::engine::Verdict;
use crate::scenarios::{catching::catching, config, default_loom, run_scenario, SCENARIOS};

/// One finding.
pub struct Finding {
    pub id: &'static str,
    pub title: &'static str,
    /// The candidate fix; [`catching`] names the scenario that shows the finding.
    pub fix: Rule,
    /// Where it can happen and what it costs.
    pub impact: &'static str,
    /// The two paths and the window between them.
    pub race: &'static [&'static str],
    /// The kernel lines in 6.18.2 (file, function, line).
    pub kernel: &'static [&'static str],
    /// Why each modelled step is the kernel's (the case against a model artefact).
    pub faithful: &'static [&'static str],
    /// Why no historical fix explains it, and what the kernel says about it.
    pub history: &'static str,
    /// The candidate fix in kernel terms.
    pub candidate: &'static str,
}

/// Every finding, in order.
pub const FINDINGS: &[Finding] = &[
    Finding {
        id: "F1",
        title: "GUP-fast's debug check can see a just-mapped anonymous page without PageAnonExclusive (arm64, LKMM)",
        fix: Rule::AnonExclusivePublishWmb,
        impact: "CONFIG_DEBUG_VM kernels on weakly ordered CPUs (arm64; generic code under the LKMM): a spurious one-time warning from sanity_check_pinned_pages (a crash with panic_on_warn) when pin_user_pages_fast pins a page that remove_migration_pte has just mapped again after a split or a migration. No pin is wrong: the page is exclusive, the reader sees the bit late. Without CONFIG_DEBUG_VM the only reader that can see the stale bit is gup_must_unshare on a read-only entry, and there it only sends GUP-fast to the slow path. x86-64 is not affected (SetPageAnonExclusive is a LOCK-prefixed `bts`, a full barrier)",
        race: &[
            "CPU 1, restoring a mapping (split_huge_page's remap_page, or migration): remove_migration_pte calls folio_add_anon_rmap_pte with RMAP_EXCLUSIVE, whose __folio_add_anon_rmap sets PageAnonExclusive with set_bit; then set_pte_at stores the present, writable PTE. Nothing orders the two stores",
            "CPU 2, pin_user_pages_fast: gup_fast_pte_range reads the PTE locklessly and sees it present and writable, grabs the folio (a fully ordered RMW), re-reads the PMD and the PTE (unchanged); after the walk gup_fast calls sanity_check_pinned_pages, which reads the page's flags and finds neither the head nor the page AnonExclusive",
            "The window: between CPU 1's set_bit and the moment its store becomes visible to CPU 2, which arm64 allows to come after the PTE store (message passing with no barrier on the writer's side; the reader's side is ordered by the address dependency and the RMW)",
        ],
        kernel: &[
            "mm/migrate.c remove_migration_pte (line 345): folio_add_anon_rmap_pte at line 431, set_pte_at at line 435",
            "mm/rmap.c __folio_add_anon_rmap (line 1412): SetPageAnonExclusive at line 1429 (PTE level) and 1432 (PMD level), after __folio_add_rmap; folio_add_new_anon_rmap the same (line 1571)",
            "mm/huge_memory.c remove_migration_pmd and map_anon_folio_pmd; mm/memory.c do_anonymous_page: the same order (the bit, then set_pmd_at / set_ptes), unmodelled there as GUP-fast scenarios",
            "mm/gup.c sanity_check_pinned_pages (line 31), called from gup_fast (line 3140) for every page it pinned; the VM_WARN_ON_ONCE_PAGE at line 65",
            "arch/arm64/include/asm/pgtable.h __set_pte_complete: a barrier only for valid kernel entries, none for a user PTE",
        ],
        faithful: &[
            "the bit: SetPageAnonExclusive is the atomic set_bit, unordered in Documentation/atomic_bitops.txt; the model makes it a relaxed RMW on arm64 and a full barrier on x86-64 (Hardware::atomic_bitops_fully_ordered), and the x86-64 scenario folio-split-vs-gup-fast-x86 holds without the fix",
            "the store: set_pte_at of a user PTE is a plain store on arm64 (__set_pte_nosync, WRITE_ONCE); the model stores it relaxed",
            "what comes between in remove_migration_pte (folio_get, the rmap counters, the statistics) is relaxed atomics and per-CPU counters; the PTE lock was taken before the bit and is released after the store, so its RELEASE orders both before the unlock, not the bit before the PTE; the model keeps each of these steps",
            "the reader: ptep_get_lockless, try_grab_folio_fast (folio_ref_try_add: a fully ordered RMW), the PMD and PTE re-reads, then folio_test_anon and PageAnonExclusive with plain reads, in that order, as the model does; folio->mapping was published before the refcount's release-unfreeze, so the anon test passes and the check reaches the AnonExclusive reads",
            "the page's earlier state: the split's freeze cleared PageAnonExclusive (folio_try_share_anon_rmap_pte in try_to_migrate_one), so the stale value the reader can see is a clear bit",
        ],
        history: "sanity_check_pinned_pages came with the PageAnonExclusive work; in 6.18.2 it is a VM_WARN_ON_ONCE under CONFIG_DEBUG_VM. No commit up to 6.18.2 orders PageAnonExclusive before the entry that publishes the page: the kernel's barriers on these paths order the page contents (the smp_wmb inside __folio_mark_uptodate, taken before the bit is set in the fault paths) and the split's metadata (the unfreeze RELEASE), not the bit. The historical races this project re-creates (docs/race-history.md) do not include it",
        candidate: "An smp_wmb() after setting PageAnonExclusive in __folio_add_anon_rmap and folio_add_new_anon_rmap (or before set_pte_at / set_pmd_at in their callers), and in the write-fault reuse paths that set the bit before making the entry writable. It costs a store barrier per exclusive mapping (a no-op on x86-64). Alternatively, accept it and document that the check can fire spuriously on a page mapped concurrently",
    },
    Finding {
        id: "F2",
        title: "fork and a concurrent GUP-fast FOLL_PIN can each miss the other on arm64 (store buffering on write_protect_seq)",
        fix: Rule::ForkWriteProtectSeqMb,
        impact: "Kernels on CPUs whose spin_lock is an ACQUIRE only (arm64; generic code under the LKMM): a thread pins an anonymous page with pin_user_pages_fast (FOLL_PIN|FOLL_WRITE: DMA) while another thread of the process forks. fork shares the page with the child (it read no pin), and GUP-fast returns the pin (it read the old, even write_protect_seq). The parent's next write copies the page away from the pin, so the device and the process see different pages: the loss of coherency 57efa1fe5957 closed. x86-64 is not affected (spin_lock is a LOCK-prefixed cmpxchg, a full barrier)",
        race: &[
            "CPU 1, fork: copy_page_range increments src_mm->write_protect_seq (odd) and issues smp_wmb (raw_write_seqcount_begin); copy_huge_pmd takes the PMD locks (ACQUIRE) and folio_try_dup_anon_rmap_pmd reads the pin count (folio_needs_cow_for_dma: MMF_HAS_PINNED, then folio_maybe_dma_pinned), finds none, clears PageAnonExclusive and shares the folio; then it write-protects the parent's PMD",
            "CPU 2, GUP-fast FOLL_PIN: raw_seqcount_try_begin reads write_protect_seq (even), walks, pins (the pin-count add, then smp_mb__after_atomic), re-reads the PMD (still writable), and read_seqcount_retry (smp_rmb, then a re-read) finds write_protect_seq unchanged",
            "The window: store buffering. CPU 1 stores the count and then loads the pin count with only a store barrier and an ACQUIRE between; CPU 2 stores the pin count, has a full barrier, and loads the count. The LKMM (and arm64) allow both loads to return the old values",
        ],
        kernel: &[
            "mm/memory.c copy_page_range (line 1491): raw_write_seqcount_begin at line 1529; include/linux/seqlock.h do_raw_write_seqcount_begin (line 428): the increment, then smp_wmb",
            "mm/huge_memory.c copy_huge_pmd (line 1658): spin_lock_nested(src_ptl) at line 1698, folio_try_dup_anon_rmap_pmd at line 1753",
            "include/linux/mm.h folio_needs_cow_for_dma (line 1973); include/linux/rmap.h __folio_try_dup_anon_rmap",
            "mm/gup.c try_grab_folio_fast (smp_mb__after_atomic at line 576); gup_fast (line 3140): raw_seqcount_try_begin at line 3152, read_seqcount_retry at line 3176",
        ],
        faithful: &[
            "fork side: the increment, smp_wmb (the model's is a release fence, stronger), the PMD locks (an ACQUIRE on arm64; the model adds smp_mb only on x86-64), the pin-count read: in the kernel's order with nothing else between. The model reads the pin count without first testing MMF_HAS_PINNED; in a process that has pinned before, the flag is set and the kernel reads the pin count too; if it was not, GUP-fast's mm_set_has_pinned_flag before its walk is one more store in the same store-buffering shape",
            "GUP-fast side: the acquire read of the count, IRQs off, the lockless PMD read, the grab (fully ordered), the pin-count add and smp_mb__after_atomic, the PMD re-read, IRQs on, smp_rmb and the re-read of the count, as mm/gup.c does",
            "the checked property is the one 57efa1fe5957 established and the test in the scenario checks at the end, with every CPU joined: a page GUP-fast returned pinned is AnonExclusive in the parent and not mapped by the child (I16)",
            "on x86-64 the same scenario (fork-vs-gup-fast-pin) holds under loom with no preemption bound, so the counterexample needs the weaker lock, as the analysis says",
        ],
        history: "57efa1fe5957 (\"mm/gup: prevent gup_fast from racing with COW during fork\", 5.13) added write_protect_seq and relies on the seqcount write side being ordered before fork's pin-count reads; raw_write_seqcount_begin orders only stores (smp_wmb), and the read side it pairs with needs the count's store ordered before a later load. In 6.18.2 the write side is still the increment and smp_wmb. No fix up to 6.18.2 adds a full barrier there, and none of the historical races re-created here (docs/race-history.md) is this one",
        candidate: "An smp_mb() after raw_write_seqcount_begin(&src_mm->write_protect_seq) in copy_page_range (one full barrier per COW VMA copied, a no-op cost next to the copy), or smp_mb__after_spinlock() after copy_huge_pmd / copy_pte_range take the source page-table lock",
    },
];

/// The scenarios that run with `fix` applied.
fn carriers(fix: Rule) -> Vec<&'static str> {
    SCENARIOS
        .iter()
        .filter(|s| s.fixes.contains(&fix))
        .map(|s| s.name)
        .collect()
}

/// docs/findings.md: every finding, with its shortest trace found now (loom at the scenario's
/// default bound, the fix off) and the scenario's verdict with the fix on.
pub fn findings_md() -> String {
    let mut o = String::new();
    o.push_str("<!-- Generated by `cargo run --release -- docs --write` from checks/src/findings.rs and the scenario catalogue; do not edit by hand. -->\n\n");
    o.push_str("# Findings in Linux 6.18.2\n\n");
    o.push_str(
        "A finding is a counterexample of the 6.18.2 protocol, as modelled, that no historical fix explains. \
Each has a candidate fix: a rule that is off in 6.18.2 and that a run applies with `--fix`, or that a scenario \
applies by declaring it. The scenario that shows a finding runs with its fix (so the catalogue holds); \
`--break` of the fix runs the kernel as released. A test (`checks/tests/findings.rs`) keeps both verdicts: \
without the fix the scenario fails with the finding's invariant, with it the scenario holds. \
Before a counterexample is called a finding, every step of its trace was re-read in the 6.18.2 source; \
what each step is, and why the model's step is the kernel's, is listed with it. A model artefact found that way was \
fixed in the model instead (for F1: the model made x86-64's `set_bit` unordered, which it is not).\n\n\
The bounds are loom's (a preemption bound, two CPUs, the sizes stated), on the model's memory model \
([memory-model.md](memory-model.md)): a finding says the LKMM, or the architecture named, allows the interleaving, \
not that it has been seen on hardware.\n\n",
    );
    o.push_str("| finding | candidate fix | scenario | invariant |\n|---|---|---|---|\n");
    for f in FINDINGS {
        let i = f.fix.info();
        let _ = writeln!(
            o,
            "| [{}](#{}) {} | `{}` | {} | {} |",
            f.id,
            f.id.to_lowercase(),
            f.title,
            i.id,
            catching(f.fix)
                .iter()
                .map(|s| format!("`{}`", s.name))
                .collect::<Vec<_>>()
                .join(", "),
            i.invariants
                .iter()
                .map(|v| v.tag())
                .collect::<Vec<_>>()
                .join(" / ")
        );
    }
    o.push('\n');
    for f in FINDINGS {
        let i = f.fix.info();
        let _ = writeln!(o, "## {}\n\n**{}**\n", f.id, f.title);
        let _ = writeln!(o, "**Impact.** {}.\n", f.impact);
        o.push_str("**The race.**\n\n");
        for (n, r) in f.race.iter().enumerate() {
            let _ = writeln!(o, "{}. {}.", n + 1, r);
        }
        o.push_str("\n**Kernel lines (Linux 6.18.2).**\n\n");
        for k in f.kernel {
            let _ = writeln!(o, "- {k}.");
        }
        o.push_str("\n**Why the model's steps are the kernel's.**\n\n");
        for k in f.faithful {
            let _ = writeln!(o, "- {k}.");
        }
        let _ = writeln!(o, "\n**History.** {}.\n", f.history);
        let _ = writeln!(
            o,
            "**Candidate fix** (rule `{}`, model `thp_model::{}`). {}.\n",
            i.id, i.model_fn, f.candidate
        );
        for s in catching(f.fix) {
            let e = default_loom(s);
            let without = run_scenario(s, &config(e.clone(), RuleSet::without(f.fix)), None);
            let _ = writeln!(
                o,
                "**Shortest trace found** (`thpcheck check {} --break {} --engine loom`; {} {}, nr={}, found after {} executions):\n",
                s.name,
                i.id,
                e.name(),
                e.bound(),
                without.nr,
                without.run.executions
            );
            match &without.run.verdict {
                Verdict::Counterexample { message, trace, .. } => {
                    o.push_str("```\n");
                    for ev in trace {
                        let _ = writeln!(o, "{ev}");
                    }
                    let _ = writeln!(o, "{message}");
                    o.push_str("```\n\n");
                }
                v => {
                    let _ = writeln!(o, "NOT REPRODUCED: {}.\n", v.label());
                }
            }
            let with = &crate::scenarios::default_loom_run(s).0;
            let _ = writeln!(
                o,
                "**With the fix** (`thpcheck check {}`): {} under {} {}, nr={}, {} executions.\n",
                s.name,
                match (&with.run.verdict, &with.vacuous) {
                    (Verdict::Holds, None) => "holds".to_string(),
                    (Verdict::Holds, Some(_)) => "VACUOUS".to_string(),
                    (v, _) => v.label().to_uppercase(),
                },
                e.name(),
                e.bound(),
                with.nr,
                with.run.executions
            );
        }
        let _ = writeln!(
            o,
            "**Scenarios that run with this fix** (each fails in 6.18.2 as released, with `--break {}`): {}.\n",
            i.id,
            carriers(f.fix)
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    o
}
