//! The replay token, `thp1:<scenario>[@<arch>][/<config>]:<broken rules, comma-separated, or
//! empty; an applied candidate fix as `+<id>`>:<sub-pages or empty>:<schedule>`: printed with a shuttle counterexample
//! ([`Display`](fmt::Display)) and read back by `thpcheck replay` ([`FromStr`]).

use std::fmt;
use std::str::FromStr;

use anyhow::Result;
use thp_model::kernel::{Arch, KernelConfig};

use super::parse_subpages;
use crate::engine::decode_schedule;

/// A replay token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub scenario: String,
    /// `--arch` the run had, if it overrode the scenario's own.
    pub arch: Option<Arch>,
    /// The kernel configuration (written only when it is not the default).
    pub config: KernelConfig,
    /// Rule ids switched off, and candidate fixes applied as `+<id>` (resolved by the
    /// replay, which names an unknown one).
    pub rules: Vec<String>,
    /// Sub-pages of a model scenario (None for a litmus test).
    pub subpages: Option<usize>,
    /// shuttle's encoded schedule.
    pub schedule: String,
}

/// Parse and validate a replay token (`token.parse::<Token>()`).
pub fn parse_token(token: &str) -> Result<Token> {
    token.parse()
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "thp1:{}", self.scenario)?;
        if let Some(a) = self.arch {
            write!(f, "@{}", a.name())?;
        }
        if self.config != KernelConfig::default() {
            write!(f, "/{}", self.config.name())?;
        }
        write!(f, ":{}:", self.rules.join(","))?;
        if let Some(n) = self.subpages {
            write!(f, "{n}")?;
        }
        write!(f, ":{}", self.schedule)
    }
}

impl FromStr for Token {
    type Err = anyhow::Error;

    fn from_str(token: &str) -> Result<Token> {
        let bad = |why: &str| anyhow::anyhow!("malformed replay token '{token}': {why}");
        let rest = token
            .strip_prefix("thp1:")
            .ok_or_else(|| bad("it must start with 'thp1:'"))?;
        let mut it = rest.splitn(4, ':');
        let (Some(scenario), Some(rule), Some(nr), Some(schedule)) =
            (it.next(), it.next(), it.next(), it.next())
        else {
            return Err(bad("expected thp1:<scenario>:<rule>:<subpages>:<schedule>"));
        };
        let (scenario, config) = match scenario.split_once('/') {
            Some((rest, c)) => (
                rest,
                KernelConfig::from_name(c)
                    .ok_or_else(|| bad(&format!("unknown kernel configuration '{c}'")))?,
            ),
            None => (scenario, KernelConfig::default()),
        };
        let (scenario, arch) = match scenario.split_once('@') {
            Some((name, a)) => (
                name,
                Some(
                    Arch::from_name(a)
                        .ok_or_else(|| bad(&format!("unknown architecture '{a}'")))?,
                ),
            ),
            None => (scenario, None),
        };
        let subpages = if nr.is_empty() {
            None
        } else {
            Some(parse_subpages(nr).map_err(|e| bad(&e))?)
        };
        if decode_schedule(schedule).is_none() {
            return Err(bad("the schedule part does not decode"));
        }
        Ok(Token {
            scenario: scenario.to_string(),
            arch,
            config,
            rules: if rule.is_empty() {
                Vec::new()
            } else {
                rule.split(',').map(str::to_string).collect()
            },
            subpages,
            schedule: schedule.to_string(),
        })
    }
}
