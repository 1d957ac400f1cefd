//! `thpcheck list`: the scenarios, the litmus tests and the locking rules, as text or JSON.

use anyhow::Result;

use crate::litmus::LITMUS;
use crate::scenarios;
use crate::scenarios::catching::catching_names;
use crate::status::Status;
use thp_model::rules::Rule;

pub(super) fn run(json: bool) -> Result<Status> {
    if json {
        let v: Vec<_> = LITMUS
            .iter()
            .map(|l| {
                serde_json::json!({
                    "name": l.name, "kind": "litmus", "description": l.description,
                    "target": l.target, "lkmm": format!("{:?}", l.lkmm).to_lowercase(),
                    "loom_reaches": l.loom_reaches,
                })
            })
            .collect();
        let mut v = v;
        for s in scenarios::SCENARIOS {
            v.push(serde_json::json!({
                "name": s.name, "kind": "model", "description": s.description,
                "threads": s.threads, "must_reach": s.must_reach,
                "must_reach_no_page_mapcount": s.must_reach_no_page_mapcount,
                "shuttle_may_miss": s.shuttle_may_miss,
                "loom_nr": s.loom_nr, "shuttle_nr": s.shuttle_nr,
                "loom_bound": s.loom_bound, "arch": s.arch.name(),
                "fixes": s.fixes.iter().map(|r| r.id()).collect::<Vec<_>>(),
            }));
        }
        let rules: Vec<_> = Rule::ALL
            .iter()
            .chain(Rule::FIXES)
            .map(|r| {
                let i = r.info();
                serde_json::json!({
                    "id": i.id, "statement": i.statement, "source": i.source,
                    "model_fn": i.model_fn,
                    "engine": format!("{:?}", i.engine).to_lowercase(),
                    "invariants": i.invariants.iter().map(|v| v.tag()).collect::<Vec<_>>(),
                    "scenarios": catching_names(*r),
                    "candidate_fix": r.is_candidate_fix(),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"scenarios": v, "rules": rules}))?
        );
    } else {
        println!("scenarios:");
        for s in scenarios::SCENARIOS {
            let mut loom_only = if s.shuttle_may_miss.is_empty() {
                String::new()
            } else {
                format!("; loom only: {}", s.shuttle_may_miss.join(", "))
            };
            if let Some(o) = s.must_reach_no_page_mapcount {
                loom_only.push_str(&format!("; with no-page-mapcount: {}", o.join(", ")));
            }
            println!(
                "  {:<36} {} [must reach: {}{loom_only}]",
                s.name,
                s.description,
                s.must_reach.join(", ")
            );
        }
        for l in LITMUS {
            println!(
                "  {:<36} {} [target {}: LKMM {:?}]",
                l.name, l.description, l.target, l.lkmm
            );
        }
        println!("rules (switch one off with --break RULE):");
        for r in Rule::ALL {
            let i = r.info();
            println!(
                "  {:<36} {} [{}; caught by {:?} in {}]",
                i.id,
                i.statement,
                i.source,
                i.engine,
                catching_names(*r).join(", ")
            );
        }
        println!("candidate fixes of findings, off in Linux 6.18.2 (apply one with --fix FIX; docs/findings.md):");
        for r in Rule::FIXES {
            let i = r.info();
            println!(
                "  {:<36} {} [{}; shown by {}; scenarios that run with it: {}]",
                i.id,
                i.statement,
                i.source,
                catching_names(*r).join(", "),
                scenarios::SCENARIOS
                    .iter()
                    .filter(|s| s.fixes.contains(r))
                    .map(|s| s.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    Ok(Status::Holds)
}
