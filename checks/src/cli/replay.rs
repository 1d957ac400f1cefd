//! `thpcheck replay`: re-run one recorded shuttle schedule.

use anyhow::Result;

use crate::engine::EngineSpec;
use crate::status::Status;

use super::check::{resolve, resolve_fix, resolve_rule};
use super::*;

pub(super) fn run(token: String, html: Option<std::path::PathBuf>) -> Result<Status> {
    let t: Token = token.parse()?;
    resolve(&t.scenario)?;
    let extra = Extra {
        arch: t.arch,
        config: t.config,
        budget: None,
        rules: t
            .rules
            .iter()
            .filter(|r| !r.starts_with('+'))
            .map(|r| resolve_rule(r))
            .collect::<Result<_>>()?,
        fixes: t
            .rules
            .iter()
            .filter_map(|r| r.strip_prefix('+'))
            .map(resolve_fix)
            .collect::<Result<_>>()?,
        subpages: t.subpages,
    };
    let spec = EngineSpec::ShuttleReplay {
        schedule: t.schedule.clone(),
    };
    let row = check_one(&t.scenario, spec, &extra)?;
    print_table(std::slice::from_ref(&row));
    if let Some(p) = &html {
        write_html(p, &[&row])?;
    }
    Ok(row.verdict)
}
