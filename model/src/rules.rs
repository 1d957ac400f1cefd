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
pub enum Rule {}

impl Rule {
    /// Every rule, in catalogue order.
    pub const ALL: &'static [Rule] = &[];

    pub fn id(self) -> &'static str {
        match self {}
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
