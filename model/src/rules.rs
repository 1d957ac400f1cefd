//! The catalogue of locking rules. Each rule can be switched off; code that keeps a rule asks
//! the current execution whether it is on, and switching it off re-creates the broken protocol
//! exactly (the pre-fix kernel, or the protocol with that one step missing).

use crate::kernel::engine::current;

/// Which engine must catch a rule when it is off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CatchingEngine {
    /// A missing barrier: only loom's weak-memory model can see it.
    Loom,
    /// A schedule-level rule: shuttle (and loom) can see it.
    Any,
}

/// A locking rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    /// `__pmd_trans_huge_lock` (and `follow_pmd_mask`) re-test the PMD under the PMD lock
    /// after a lockless test saw it huge.
    PmdTransHugeLockRecheck,
}

/// What the catalogue says about a rule.
#[derive(Clone, Copy, Debug)]
pub struct RuleInfo {
    pub rule: Rule,
    /// Kebab-case id, as on the command line (`--break`).
    pub id: &'static str,
    /// One sentence.
    pub statement: &'static str,
    /// Kernel file and function, or seed document.
    pub source: &'static str,
    /// The model function that keeps it.
    pub model_fn: &'static str,
    /// Which engine must catch it when it is off.
    pub engine: CatchingEngine,
    /// The invariant whose violation shows the rule is off.
    pub invariant: crate::invariants::Inv,
    /// Scenarios that must catch it.
    pub scenarios: &'static [&'static str],
}

impl Rule {
    /// Every rule, in catalogue order.
    pub const ALL: &'static [Rule] = &[Rule::PmdTransHugeLockRecheck];

    /// The catalogue entry.
    pub fn info(self) -> RuleInfo {
        use crate::invariants::Inv;
        match self {
            Rule::PmdTransHugeLockRecheck => RuleInfo {
                rule: self,
                id: "pmd-trans-huge-lock-recheck",
                statement: "A walker that saw a huge PMD without the PMD lock must re-test it after taking the lock, because a split may have turned it into a table meanwhile",
                source: "mm/huge_memory.c __pmd_trans_huge_lock; mm/gup.c follow_pmd_mask; Documentation/mm/transhuge.rst (seed 000) \"Locking in hugepage aware code\"",
                model_fn: "thp_model::mm::huge_memory::__pmd_trans_huge_lock, thp_model::mm::gup::follow_pmd_mask",
                engine: CatchingEngine::Any,
                invariant: Inv::I5HugePmdStability,
                scenarios: &["split-pmd-vs-aware-walker"],
            },
        }
    }

    pub fn id(self) -> &'static str {
        self.info().id
    }

    /// Look a rule up by id.
    pub fn from_id(id: &str) -> Option<Rule> {
        Rule::ALL.iter().copied().find(|r| r.id() == id)
    }
}

/// A set of rule switches; a rule is on unless switched off.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleSet {
    off: Vec<Rule>,
}

impl RuleSet {
    /// The real protocol: every rule on.
    pub fn all_on() -> Self {
        RuleSet { off: Vec::new() }
    }
    /// The real protocol with `rule` switched off.
    pub fn without(rule: Rule) -> Self {
        RuleSet { off: vec![rule] }
    }
    pub fn is_on(&self, rule: Rule) -> bool {
        !self.off.contains(&rule)
    }
    pub fn off(&self) -> &[Rule] {
        &self.off
    }
}

/// Is `rule` on in the current execution?
pub fn rule_on(rule: Rule) -> bool {
    current().options.rules.is_on(rule)
}
