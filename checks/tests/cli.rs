//! The CLI's exit codes and one-line errors.

use std::process::Command;

fn thpcheck(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_thpcheck"))
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn bad_input_exits_2_with_one_line() {
    for args in [
        &["check", "no-such-scenario"][..],
        &["check", "litmus-sb", "--engine", "nope"],
        &["check", "litmus-sb", "--preemption-bound", "many"],
        &["check", "litmus-sb", "--preemption-bound", "99"],
        &["check", "litmus-sb", "--iterations", "0"],
        &["check"],
        &["replay", "not-a-token"],
        &["replay", "thp1:litmus-sb:@@@"],
        &["frobnicate"],
        &["check", "hvo-optimize-vs-pfn-walker", "--subpages", "2"],
        &["check", "collapse-vs-gup-fast", "--break", "no-such-rule"],
        &["check", "litmus-sb", "--jobs", "0"],
        &["check", "litmus-sb", "--jobs", "two"],
        &["check", "litmus-sb", "--jobs", "-1"],
        &["check", "--all", "--shard", "3/2"],
        &["check", "--all", "--shard", "0/2"],
        &["check", "--all", "--shard", "a/b"],
        &["check", "--all", "--shard", "1/0"],
        &["check", "--all", "--shard", "1"],
        &["defects", "--jobs", "0"],
        &["defects", "--jobs", "x"],
        &["defects", "--shard", "3/2"],
        &["defects", "--shard", "0/2"],
        &["defects", "--shard", "a/b"],
        &["defects", "--shard", "1/0"],
        &["check", "fork-vs-gup-fast-pin", "--arch", "sparc"],
        &["check", "litmus-sb", "--arch", "arm64"],
        &["replay", "thp1:fork-vs-gup-fast-pin@vax::2:AAAA"],
        &[
            "check",
            "partial-unmap-in-both-mms",
            "--config",
            "no-such-config",
        ],
        &["check", "litmus-sb", "--config", "no-page-mapcount"],
        &[
            "check",
            "cow-reuse-vs-split-pmd-other-mm",
            "--config",
            "no-page-mapcount",
            "--break",
            "cow-reuse-by-refcount",
        ],
        &["replay", "thp1:fork-vs-gup-fast-pin/no-such-config::2:AAAA"],
    ] {
        let (code, _out, err) = thpcheck(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("error:"), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn check_prints_a_verdict_table_and_exits_0() {
    let (code, out, _) = thpcheck(&[
        "check",
        "litmus-sb-mb",
        "litmus-sb",
        "--engine",
        "loom",
        "--engine",
        "shuttle-pct",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("litmus-sb-mb") && out.contains("loom") && out.contains("shuttle-pct"));
    assert_eq!(out.matches("holds").count(), 4, "{out}");
}

#[test]
fn json_output_is_parseable() {
    let (code, out, _) = thpcheck(&["check", "litmus-mp", "--engine", "loom", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["results"][0]["scenario"], "litmus-mp");
    assert_eq!(v["results"][0]["verdict"], "holds");
    assert!(v["results"][0]["executions"].as_u64().unwrap() > 1);
}

#[test]
fn list_json_has_every_scenario_and_rule() {
    let (code, out, _) = thpcheck(&["list", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let n_rules = v["rules"].as_array().unwrap().len();
    assert_eq!(
        n_rules,
        thp_model::rules::Rule::ALL.len() + thp_model::rules::Rule::FIXES.len()
    );
    let names: Vec<_> = v["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    for s in thp_checks::scenarios::SCENARIOS {
        assert!(names.iter().any(|n| n == s.name), "{}", s.name);
    }
}

#[test]
fn list_names_every_scenario() {
    let (code, out, _) = thpcheck(&["list"]);
    assert_eq!(code, 0);
    for l in thp_checks::litmus::LITMUS {
        assert!(out.contains(l.name));
    }
}

/// A counterexample's replay token, fed back to `thpcheck replay`, reproduces the same failure
/// and the same trace.
#[test]
fn replay_token_round_trip() {
    let args = [
        "check",
        "folio-split-vs-scanner",
        "--break",
        "scanner-recheck-folio",
        "--engine",
        "shuttle-pct",
    ];
    let (code, out, _) = thpcheck(&args);
    assert_eq!(code, 1, "{out}");
    let token = out
        .lines()
        .find_map(|l| l.strip_prefix("replay: thpcheck replay '"))
        .and_then(|l| l.strip_suffix('\''))
        .expect("a replay token")
        .to_string();
    let (code2, out2, _) = thpcheck(&["replay", &token]);
    assert_eq!(code2, 1, "{out2}");
    let msg = |o: &str| o.lines().find(|l| l.starts_with("[I")).map(str::to_string);
    assert_eq!(msg(&out), msg(&out2));
    assert!(msg(&out).unwrap().starts_with("[I7 recheck-after-get]"));
    let trace = |o: &str| {
        o.lines()
            .filter(|l| l.starts_with("  cpu"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(trace(&out), trace(&out2));
    assert!(!trace(&out).is_empty());
}

#[test]
fn unknown_rule_exits_2() {
    let (code, _, err) = thpcheck(&[
        "check",
        "split-pmd-vs-aware-walker",
        "--break",
        "no-such-rule",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown rule 'no-such-rule'"), "{err}");
    let (code, _, err) = thpcheck(&["check", "split-pmd-vs-aware-walker", "--subpages", "3"]);
    assert_eq!(code, 2, "{err}");
}

/// `--break` repeats (a historical race may need two fixes reverted); the replay token carries
/// both rules and replays to the same counterexample.
#[test]
fn two_rules_off_and_the_token_replays() {
    let (code, out, err) = thpcheck(&[
        "check",
        "collapse-vs-gup-fast",
        "--engine",
        "shuttle-pct",
        "--break",
        "gup-fast-pmd-pte-recheck",
        "--break",
        "collapse-table-sync-one",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("I15"), "{out}");
    let token = out
        .split_whitespace()
        .find(|w| {
            w.trim_matches('\'').starts_with(
                "thp1:collapse-vs-gup-fast:gup-fast-pmd-pte-recheck,collapse-table-sync-one:",
            )
        })
        .expect("a replay token with both rules")
        .trim_matches('\'')
        .to_string();
    let (code, out2, err2) = thpcheck(&["replay", &token]);
    assert_eq!(code, 1, "{out2}{err2}");
    assert!(out2.contains("I15"), "{out2}");
}

/// `--arch` runs a model scenario on the other architecture and the replay token carries it:
/// fork-vs-gup-fast-pin holds on x86-64 (its own) and is a loom counterexample on arm64 (the
/// write_protect_seq store-buffering window, docs/memory-model.md); a shuttle counterexample
/// found with `--arch arm64` replays with arm64.
#[test]
fn arch_override_and_its_token() {
    let (code, out, err) = thpcheck(&[
        "check",
        "fork-vs-gup-fast-pin",
        "--arch",
        "arm64",
        "--engine",
        "loom",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("arch=arm64") && out.contains("I16"), "{out}");
    let (code, out, err) = thpcheck(&[
        "check",
        "fork-vs-gup-fast-pin",
        "--arch",
        "arm64",
        "--engine",
        "shuttle-pct",
        "--break",
        "gup-fast-write-protect-seq",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    let token = out
        .split_whitespace()
        .find(|w| {
            w.trim_matches('\'')
                .starts_with("thp1:fork-vs-gup-fast-pin@arm64:gup-fast-write-protect-seq:")
        })
        .expect("a replay token naming arm64")
        .trim_matches('\'')
        .to_string();
    let (code, out2, err2) = thpcheck(&["replay", &token]);
    assert_eq!(code, 1, "{out2}{err2}");
    assert!(
        out2.contains("arch=arm64") && out2.contains("I16"),
        "{out2}"
    );
}

/// The output with every `secs` figure (`0.123`) masked: the only part of a run's report that
/// may differ between two runs.
fn without_times(out: &str) -> String {
    out.lines()
        .map(|l| {
            l.split_whitespace()
                .map(|w| match w.split_once('.') {
                    Some((a, b))
                        if !a.is_empty()
                            && b.len() == 3
                            && (a.chars().chain(b.chars())).all(|c| c.is_ascii_digit()) =>
                    {
                        "SECS"
                    }
                    _ => w,
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A JSON report with its `secs` fields removed.
fn json_without_times(out: &str, key: &str) -> serde_json::Value {
    let mut v: serde_json::Value =
        serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"));
    for r in v[key].as_array_mut().unwrap() {
        r.as_object_mut().unwrap().remove("secs");
    }
    v
}

/// `--jobs 2` reports the same rows, in the same order, with the same verdicts, messages,
/// traces and replay tokens, and the same exit code, as `--jobs 1`.
#[test]
fn jobs_2_reports_what_jobs_1_reports() {
    let holds = [
        "check",
        "litmus-mp",
        "litmus-sb",
        "litmus-sb-mb",
        "split-pmd-vs-aware-walker",
        "--engine",
        "loom",
        "--engine",
        "shuttle-pct",
        "--iterations",
        "50",
    ];
    let fails = [
        "check",
        "folio-split-vs-scanner",
        "split-pmd-vs-aware-walker",
        "folio-split-vs-gup-fast-vs-scanner",
        "--engine",
        "loom",
        "--engine",
        "shuttle-pct",
        "--break",
        "scanner-recheck-folio",
    ];
    for (args, want) in [(&holds[..], 0), (&fails[..], 1)] {
        let run = |jobs: &str, json: bool| {
            let mut a = args.to_vec();
            a.extend(["--jobs", jobs]);
            if json {
                a.push("--json");
            }
            let (code, out, err) = thpcheck(&a);
            assert_eq!(code, want, "{a:?}: {out}{err}");
            out
        };
        let serial = run("1", false);
        assert_eq!(without_times(&run("2", false)), without_times(&serial));
        assert_eq!(
            json_without_times(&run("2", true), "results"),
            json_without_times(&run("1", true), "results")
        );
        if want == 1 {
            assert!(serial.contains("replay: thpcheck replay"), "{serial}");
        }
    }
}

fn rows_of(out: &str) -> Vec<(String, String)> {
    let v: serde_json::Value = serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"));
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["scenario"].as_str().unwrap().to_string(),
                r["engine"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// `--shard 1/2` and `--shard 2/2` together run exactly the rows of the unsharded run, each
/// once, round-robin over the scenarios; the table and the JSON say which shard they are.
#[test]
fn shards_cover_the_rows_once() {
    let base = [
        "check",
        "litmus-mp",
        "litmus-mp-wmb",
        "litmus-sb",
        "litmus-sb-mb",
        "litmus-lb",
        "--engine",
        "loom",
        "--engine",
        "shuttle-pct",
        "--iterations",
        "50",
        "--json",
    ];
    let (code, out, _) = thpcheck(&base);
    assert_eq!(code, 0, "{out}");
    let all = rows_of(&out);
    assert_eq!(all.len(), 10);
    assert!(serde_json::from_str::<serde_json::Value>(&out).unwrap()["shard"].is_null());
    let mut union = Vec::new();
    for (i, scenarios) in [
        (1, ["litmus-mp", "litmus-sb", "litmus-lb"].as_slice()),
        (2, ["litmus-mp-wmb", "litmus-sb-mb"].as_slice()),
    ] {
        let shard = format!("{i}/2");
        let mut a = base.to_vec();
        a.extend(["--shard", &shard]);
        let (code, out, err) = thpcheck(&a);
        assert_eq!(code, 0, "{out}{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["shard"], serde_json::json!({"index": i, "count": 2}));
        let rows = rows_of(&out);
        let names: Vec<_> = rows.iter().map(|(s, _)| s.as_str()).collect();
        let want: Vec<_> = scenarios.iter().flat_map(|s| [*s, *s]).collect();
        assert_eq!(names, want, "{shard}");
        union.extend(rows);
        a.retain(|w| *w != "--json");
        let (code, out, _) = thpcheck(&a);
        assert_eq!(code, 0);
        assert_eq!(
            out.lines().next(),
            Some(
                format!(
                    "shard {shard}: {} of 5 scenarios (round-robin in the given order)",
                    scenarios.len()
                )
                .as_str()
            )
        );
    }
    union.sort();
    let mut all_sorted = all.clone();
    all_sorted.sort();
    assert_eq!(union, all_sorted);
}

/// `defects --shard I/N` runs the cells `I, I+N, ...` of the matrix (1-based, catalogue
/// order), under both engines, and `--jobs 2` reports the same rows in the same order.
#[test]
fn defects_shard_and_jobs() {
    let cells = thp_checks::defects::cells().unwrap();
    let want: Vec<(String, String)> = cells
        .iter()
        .step_by(20)
        .flat_map(|(r, s)| {
            let cell = (r.id().to_string(), s.name.to_string());
            [cell.clone(), cell]
        })
        .collect();
    let run = |jobs: &str| {
        let (code, out, err) = thpcheck(&["defects", "--shard", "1/20", "--jobs", jobs, "--json"]);
        assert_eq!(code, 0, "{out}{err}");
        json_without_times(&out, "defects")
    };
    let serial = run("1");
    assert_eq!(run("2"), serial);
    assert_eq!(
        serial["shard"],
        serde_json::json!({"index": 1, "count": 20})
    );
    let got: Vec<(String, String)> = serial["defects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["rule"].as_str().unwrap().to_string(),
                r["scenario"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(got, want);
    // Shards partition the cells.
    let mut seen = vec![0; cells.len()];
    for i in 1..=3 {
        let s = thp_checks::parallel::Shard { index: i, count: 3 };
        for (k, _) in cells.iter().enumerate().filter(|(k, _)| s.has(*k)) {
            seen[k] += 1;
        }
        assert_eq!(
            thp_checks::parallel::Shard::select(Some(s), &cells).len(),
            seen.len() / 3 + usize::from(seen.len() % 3 >= i)
        );
    }
    assert!(seen.iter().all(|&n| n == 1));
}

/// A `[model bug]` panic is a model bug, never a counterexample: verdict `model-bug`, exit 4,
/// under every engine; the self-test scenario is not in the catalogue listing.
#[test]
fn model_bug_exits_4() {
    let (code, out, err) = thpcheck(&[
        "check",
        "selftest-model-bug",
        "--engine",
        "loom",
        "--engine",
        "shuttle-pct",
        "--json",
    ]);
    assert_eq!(code, 4, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["exit_code"], 4);
    for r in v["results"].as_array().unwrap() {
        assert_eq!(r["verdict"], "model-bug", "{r}");
        assert_eq!(r["replay"], serde_json::Value::Null, "{r}");
    }
    let (_, list, _) = thpcheck(&["list"]);
    assert!(!list.contains("selftest-model-bug"));
}

/// The replay token prints and parses back to itself.
#[test]
fn replay_token_display_from_str_round_trip() {
    use thp_checks::cli::Token;
    use thp_model::kernel::{Arch, KernelConfig};
    let schedule = thp_checks::engine::encode_schedule(
        &shuttle::scheduler::Schedule::new_from_task_ids(7, [0usize, 1, 1, 0, 2]),
    );
    for t in [
        Token {
            scenario: "collapse-vs-gup-fast".into(),
            arch: Some(Arch::X86),
            config: KernelConfig::NoPageMapcount,
            rules: vec![
                "gup-fast-pmd-pte-recheck".into(),
                "collapse-table-sync-one".into(),
            ],
            subpages: Some(4),
            schedule: schedule.clone(),
        },
        Token {
            scenario: "litmus-sb".into(),
            arch: None,
            config: KernelConfig::PageMapcount,
            rules: Vec::new(),
            subpages: None,
            schedule: schedule.clone(),
        },
    ] {
        let s = t.to_string();
        assert_eq!(s.parse::<Token>().unwrap(), t, "{s}");
    }
}

/// `thpcheck check` runs, by default, the bounds docs/bounds.md states: every scenario's loom
/// bound and the shuttle PCT configuration (`bounds`), checked on the document and on a run.
#[test]
fn check_defaults_are_what_bounds_md_states() {
    use thp_checks::bounds;
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/bounds.md")).unwrap();
    let mut rows = 0;
    for line in doc.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | scenario | threads | arch | config | engine | bound | nr | executions | verdict |, read from
        // the right (a threads cell may hold `FOLL_PIN|FOLL_WRITE`)
        if cells.len() < 9 {
            continue;
        }
        let (engine, doc_bound) = (cells[cells.len() - 6], cells[cells.len() - 5]);
        let Some(s) = thp_checks::scenarios::find(cells[1]) else {
            continue;
        };
        let want = match engine {
            "loom" => bounds::loom(s).bound(),
            "shuttle-pct" => bounds::PCT.bound(),
            _ => continue, // another table (the audit's)
        };
        assert_eq!(
            doc_bound, want,
            "docs/bounds.md row of {} ({engine})",
            s.name
        );
        rows += 1;
    }
    assert_eq!(
        rows,
        2 * thp_model::kernel::KernelConfig::ALL.len() * thp_checks::scenarios::SCENARIOS.len()
    );
    let (code, out, err) = thpcheck(&[
        "check",
        "split-pmd-vs-aware-walker",
        "--engine",
        "shuttle-pct",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let bound = v["results"][0]["bound"].as_str().unwrap();
    assert!(
        bound.starts_with(&format!("{} ", bounds::PCT.bound())),
        "check's default PCT run is `{bound}`, docs/bounds.md states `{}`",
        bounds::PCT.bound()
    );
}

/// A shuttle counterexample prints the model's report only: shuttle-engine's own
/// "test panicked in task" line is gone (third_party/shuttle-engine/PATCHES.md), with `--jobs 2`
/// and when the counterexample is replayed.
#[test]
fn a_shuttle_counterexample_prints_no_stray_engine_line() {
    let (code, out, err) = thpcheck(&[
        "check",
        "folio-split-vs-zap",
        "--break",
        "remove-migration-pte-ptl",
        "--engine",
        "shuttle-pct",
        "--engine",
        "loom",
        "--jobs",
        "2",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("[I11 "), "no counterexample: {out}");
    let token = out
        .lines()
        .find_map(|l| l.strip_prefix("replay: thpcheck replay '"))
        .and_then(|t| t.strip_suffix('\''))
        .expect("a replay token");
    let (rcode, rout, rerr) = thpcheck(&["replay", token]);
    assert_eq!(rcode, 1, "{rout}{rerr}");
    assert!(rout.contains("[I11 "), "replay: {rout}");
    // shuttle's random scheduler has its own failure message ("failing seed ..."), patched
    // quiet the same way (third_party/shuttle-schedulers/PATCHES.md).
    let (qcode, qout, qerr) = thpcheck(&[
        "check",
        "split-pmd-vs-aware-walker",
        "--break",
        "pmd-trans-huge-lock-recheck",
        "--engine",
        "shuttle-random",
    ]);
    assert_eq!(qcode, 1, "{qout}{qerr}");
    assert!(qout.contains("[I5 "), "no counterexample: {qout}");
    for text in [&out, &err, &rout, &rerr, &qout, &qerr] {
        assert!(
            !text.contains("test panicked in task")
                && !text.contains("Task failed")
                && !text.contains("failing seed")
                && !text.contains("SHUTTLE_RANDOM_SEED"),
            "an engine line in the output: {text}"
        );
    }
}

/// The counterexample that motivated the trace work: with the scanner's re-check off, the
/// trace must carry the scanner's lockless read of the compound link and the value it
/// returned (a tail of the old folio), PMD values must name their flag bits, and every step
/// names the locks its CPU held.
#[test]
fn the_scanner_recheck_counterexample_shows_the_stale_compound_head_read() {
    let (code, out, err) = thpcheck(&[
        "check",
        "folio-split-vs-scanner",
        "--break",
        "scanner-recheck-folio",
        "--engine",
        "loom",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    // The scanner is the CPU that took the reference; its read of pfn 1's compound link said
    // "tail of folio 0", the splitter cleared that link, and the scanner's folio_try_get came
    // after both: the read was stale when the reference was taken.
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    let get = lines
        .iter()
        .position(|l| {
            l.starts_with("cpu")
                && l.contains("__get_hwpoison_page")
                && l.contains("reference on folio 0")
        })
        .unwrap_or_else(|| panic!("no scanner reference: {out}"));
    let cpu = lines[get].split_whitespace().next().unwrap();
    let read = lines
        .iter()
        .position(|l| {
            l.starts_with(cpu)
                && l.contains("page_folio")
                && l.contains("READ_ONCE(page[1].compound_head) = 0x1: tail of folio 0")
        })
        .unwrap_or_else(|| panic!("no traced compound_head read on {cpu}: {out}"));
    let cleared = lines
        .iter()
        .position(|l| {
            l.contains("__split_folio_to_order")
                && l.contains("pfn 1:")
                && l.contains("compound link cleared")
        })
        .unwrap_or_else(|| panic!("no split step clearing pfn 1's link: {out}"));
    let try_get = lines
        .iter()
        .position(|l| {
            l.starts_with(cpu)
                && l.contains("folio_try_get")
                && l.contains("folio 0 _refcount ")
                && l.contains(": true")
        })
        .unwrap_or_else(|| panic!("no folio_try_get on {cpu}: {out}"));
    assert!(
        read < try_get && cleared < try_get && try_get < get,
        "{out}"
    );
    // The read names the store it returned: the one that made pfn 1 a tail, before the read
    // and not the split's clearing.
    let steps: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("cpu"))
        .collect();
    let saw: usize = lines[read]
        .split("(saw the store of step ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the read does not name its store: {}", lines[read]));
    let store = steps[saw - 1];
    let read_step = steps.iter().position(|l| *l == lines[read]).unwrap();
    assert!(saw - 1 < read_step, "{out}");
    assert!(
        !store.contains("compound link cleared") && !store.starts_with(cpu),
        "{store}"
    );
    assert!(
        out.contains("huge(pfn 0, PRESENT|PSE|RW|ACCESSED|DIRTY)"),
        "flags not named: {out}"
    );
    assert!(!out.contains("flags: "), "a raw flag number: {out}");
    assert!(
        out.contains("[holds folio_lock(0), anon_vma->rwsem:W, pmd_lock(mm0)]"),
        "no lock column: {out}"
    );
}

/// `--html`: one self-contained page per counterexample (an index when there are several),
/// a column per CPU, the lockless read marked, the violation highlighted, the rule linked to
/// its section of docs/locking-rules.md.
#[test]
fn html_counterexample_pages_have_a_column_per_cpu_and_the_violation() {
    let dir = std::env::temp_dir().join(format!("thpcheck-html-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let index = dir.join("cx.html");
    let (code, out, err) = thpcheck(&[
        "check",
        "folio-split-vs-scanner",
        "--break",
        "scanner-recheck-folio",
        "--engine",
        "loom",
        "--engine",
        "shuttle-pct",
        "--html",
        index.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("2 counterexamples drawn"), "{err}");
    let idx = std::fs::read_to_string(&index).unwrap();
    assert!(idx.contains("href=\"cx-1.html\"") && idx.contains("href=\"cx-2.html\""));
    for n in 1..=2 {
        let page = std::fs::read_to_string(dir.join(format!("cx-{n}.html"))).unwrap();
        assert!(page.starts_with("<!DOCTYPE html>"), "page {n}");
        assert!(
            !page.contains("<script") && !page.contains("src="),
            "not self-contained"
        );
        // Scenario CPUs 0..=2 each get a column, and every row has one cell per column.
        for c in 0..3 {
            assert!(
                page.contains(&format!("<th>CPU{c}</th>")),
                "page {n}: CPU{c}"
            );
        }
        let rows: Vec<&str> = page.split("<tr").skip(2).collect();
        assert!(rows.len() > 10, "page {n}: {} rows", rows.len());
        for r in &rows {
            assert_eq!(r.matches("<td class=\"").count(), 4, "page {n}: {r}");
        }
        assert!(page.contains("<div class=\"violation\">[I7 recheck-after-get]"));
        assert_eq!(page.matches("\" class=\"fail\">").count(), 1, "page {n}");
        assert!(page.contains("locking-rules.md#scanner-recheck-folio\""));
        assert!(
            page.split("<td ")
                .any(|cell| cell.starts_with("class=\"step")
                    && cell.contains(" read\"")
                    && cell.contains("compound_head) = 0x1: tail of folio 0")
                    && cell.contains("saw the store of <a href=\"#step-")),
            "page {n}: the stale read's cell is not marked as a lockless read naming its store"
        );
        assert!(page.contains("step locked"), "page {n}: no lock shading");
    }
    // A run that holds draws nothing and says so.
    let none = dir.join("none.html");
    let (code, _, err) = thpcheck(&[
        "check",
        "folio-split-vs-scanner",
        "--engine",
        "shuttle-pct",
        "--iterations",
        "20",
        "--html",
        none.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("no counterexample to draw") && !none.exists(),
        "{err}"
    );
    // An unwritable path is one line and a documented exit code, not a panic.
    let (code, _, err) = thpcheck(&[
        "check",
        "folio-split-vs-scanner",
        "--break",
        "scanner-recheck-folio",
        "--engine",
        "loom",
        "--html",
        "/dev/null/x.html",
    ]);
    assert_ne!(code, 0);
    assert!(
        !err.contains("panicked") && err.contains("cannot write"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The `keys` lines of docs/json.md, as (path, filter, keys): `check.results.steps` is the
/// objects at that path (lists traversed), `(kind=model)` keeps those whose `kind` is `model`.
type KeysLine = (String, Option<(String, String)>, Vec<String>);

fn documented_json_keys() -> Vec<KeysLine> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/json.md"))
        .expect("docs/json.md");
    doc.lines()
        .filter_map(|l| l.trim().strip_prefix("<!-- keys ")?.strip_suffix("-->"))
        .map(|l| {
            let (path, keys) = l.split_once(':').expect("keys line: `path: k1 k2`");
            let (path, filter) = match path.split_once('(') {
                Some((p, f)) => {
                    let (k, v) = f.trim_end_matches(')').split_once('=').expect("(k=v)");
                    (p.to_string(), Some((k.to_string(), v.to_string())))
                }
                None => (path.to_string(), None),
            };
            (
                path,
                filter,
                keys.split_whitespace().map(str::to_string).collect(),
            )
        })
        .collect()
}

/// The objects at `path` (after its first segment, the command) in `v`.
fn objects_at<'a>(v: &'a serde_json::Value, path: &[&str]) -> Vec<&'a serde_json::Value> {
    let here: Vec<&serde_json::Value> = match v {
        serde_json::Value::Array(a) => a.iter().collect(),
        v => vec![v],
    };
    match path.split_first() {
        None => here.into_iter().filter(|v| v.is_object()).collect(),
        Some((k, rest)) => here
            .into_iter()
            .filter_map(|o| o.get(*k))
            .flat_map(|c| objects_at(c, rest))
            .collect(),
    }
}

/// `--minimize` on a shuttle counterexample delta-debugs its schedule: the kept one breaks the
/// same invariant in fewer context switches than the first (scanner-recheck-folio under PCT
/// seed 7: 4 switches, and none of the further seeds the search tries finds a shorter one,
/// while seeds 1-5 reach seed 6, which does; the race needs 3), and its replay token replays it under shuttle's strict replay, step for step. (The seed
/// is the model's: a change to the split's steps may move the schedules, and then another seed
/// whose own search does not find the 3-switch run is needed.)
#[test]
fn shuttle_counterexamples_are_delta_debugged_to_a_shorter_replayable_schedule() {
    let (code, out, err) = thpcheck(&[
        "check",
        "folio-split-vs-scanner",
        "--break",
        "scanner-recheck-folio",
        "--engine",
        "shuttle-pct",
        "--seed",
        "7",
        "--minimize",
        "--json",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let row = &v["results"][0];
    let m = &row["minimized"];
    assert!(m["searched"].as_bool().unwrap(), "{m}");
    assert!(
        m["found_by"].as_str().unwrap().contains("delta-debugging"),
        "{m}"
    );
    let sw = |k: &str| m[k]["switches"].as_u64().unwrap();
    assert!(sw("smallest") < sw("first"), "{m}");
    assert_eq!(
        row["steps"].as_array().unwrap().len() as u64,
        m["smallest"]["steps"].as_u64().unwrap()
    );
    let token = row["replay"].as_str().unwrap();
    let (code, rout, rerr) = thpcheck(&["replay", token]);
    assert_eq!(code, 1, "{rout}{rerr}");
    assert!(rout.contains(row["message"].as_str().unwrap()), "{rout}");
    let replayed: Vec<&str> = rout.lines().filter(|l| l.starts_with("  cpu")).collect();
    let kept: Vec<String> = row["trace"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| format!("  {}", l.as_str().unwrap()))
        .collect();
    assert_eq!(replayed, kept);
}

/// docs/json.md is the `--json` schema: every documented object has exactly the keys listed,
/// and every object kind the commands print is documented.
#[test]
fn json_keys_match_docs_json_md() {
    let docs = documented_json_keys();
    assert!(docs.len() >= 9, "{docs:?}");
    let run = |args: &[&str]| -> serde_json::Value {
        let (_, out, err) = thpcheck(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}{err}"))
    };
    let outputs = [
        (
            "check",
            run(&[
                "check",
                "folio-split-vs-scanner",
                "--break",
                "scanner-recheck-folio",
                "--engine",
                "loom",
                "--minimize",
                "--json",
            ]),
        ),
        (
            "defects",
            run(&["defects", "--shard", "1/40", "--minimize", "--json"]),
        ),
        ("list", run(&["list", "--json"])),
    ];
    // Every object the commands print sits at a documented path.
    fn paths(v: &serde_json::Value, at: String, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Array(a) => a.iter().for_each(|x| paths(x, at.clone(), out)),
            serde_json::Value::Object(o) => {
                out.push(at.clone());
                for (k, x) in o {
                    paths(x, format!("{at}.{k}"), out);
                }
            }
            _ => {}
        }
    }
    for (cmd, doc) in &outputs {
        let mut found = Vec::new();
        paths(doc, cmd.to_string(), &mut found);
        for p in found {
            assert!(
                docs.iter().any(|(d, _, _)| *d == p),
                "{p} is printed but not documented in docs/json.md"
            );
        }
    }
    for (path, filter, keys) in &docs {
        let segs: Vec<&str> = path.split('.').collect();
        let (_, doc) = outputs
            .iter()
            .find(|(c, _)| *c == segs[0])
            .unwrap_or_else(|| panic!("docs/json.md documents unknown command {path}"));
        let objs: Vec<_> = objects_at(doc, &segs[1..])
            .into_iter()
            .filter(|o| match filter {
                Some((k, v)) => o.get(k).and_then(|x| x.as_str()) == Some(v.as_str()),
                None => true,
            })
            .collect();
        assert!(!objs.is_empty(), "no object at {path} {filter:?} to check");
        for o in objs {
            let mut got: Vec<String> = o.as_object().unwrap().keys().cloned().collect();
            got.sort();
            let mut want = keys.clone();
            want.sort();
            assert_eq!(
                got, want,
                "{path} {filter:?}: keys differ from docs/json.md"
            );
        }
    }
}

/// .github/workflows/ci.yml stays runnable: it is valid YAML with the jobs the project relies
/// on; every thpcheck command line in it parses with the real CLI for every value of its job's
/// shard matrix; the shard values of a job are exactly 1..=N for the N its commands use; the
/// scripts it runs exist and are executable.
#[test]
fn the_github_workflow_runs_every_shard_of_real_commands() {
    use clap::Parser;
    use yaml_rust2::{Yaml, YamlLoader};
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let text = std::fs::read_to_string(format!("{root}/.github/workflows/ci.yml")).unwrap();
    let docs = YamlLoader::load_from_str(&text).expect("ci.yml is YAML");
    let jobs = docs[0]["jobs"].as_hash().expect("jobs");
    let names: Vec<&str> = jobs.keys().filter_map(Yaml::as_str).collect();
    for want in ["test", "check-all", "defects", "fuzz-smoke"] {
        assert!(names.contains(&want), "job {want} missing: {names:?}");
    }
    let mut thpcheck_lines = 0;
    for (name, job) in jobs {
        let name = name.as_str().unwrap();
        let shards: Vec<i64> = job["strategy"]["matrix"]["shard"]
            .as_vec()
            .map(|v| v.iter().filter_map(Yaml::as_i64).collect())
            .unwrap_or_default();
        let steps = job["steps"]
            .as_vec()
            .unwrap_or_else(|| panic!("{name}: no steps"));
        for step in steps {
            let Some(run) = step["run"].as_str() else {
                assert!(
                    step["uses"].as_str().is_some(),
                    "{name}: a step without run/uses"
                );
                continue;
            };
            if (run.contains("cargo run") || run.contains("thpcheck"))
                && !run.starts_with("cargo run --release -- ")
            {
                panic!("{name}: `{run}` runs thpcheck in a form this test cannot check");
            }
            if let Some(args) = run.strip_prefix("cargo run --release -- ") {
                thpcheck_lines += 1;
                let values: Vec<String> = if args.contains("${{ matrix.shard }}") {
                    assert!(
                        !shards.is_empty(),
                        "{name}: matrix.shard used but not defined"
                    );
                    let n = args
                        .split("${{ matrix.shard }}/")
                        .nth(1)
                        .and_then(|r| r.split_whitespace().next())
                        .and_then(|n| n.parse::<i64>().ok())
                        .expect("--shard ${{ matrix.shard }}/N");
                    assert_eq!(
                        shards,
                        (1..=n).collect::<Vec<_>>(),
                        "{name}: shards 1..={n}"
                    );
                    shards
                        .iter()
                        .map(|s| args.replace("${{ matrix.shard }}", &s.to_string()))
                        .collect()
                } else {
                    vec![args.to_string()]
                };
                for a in values {
                    let argv = std::iter::once("thpcheck").chain(a.split_whitespace());
                    if let Err(e) = thp_checks::cli::Cli::try_parse_from(argv) {
                        panic!("{name}: `{a}` does not parse: {e}");
                    }
                }
            } else if let Some(script) = run.split_whitespace().next().filter(|s| s.contains('/')) {
                let p = std::path::Path::new(root).join(script.trim_start_matches("./"));
                let meta =
                    std::fs::metadata(&p).unwrap_or_else(|_| panic!("{name}: {script} missing"));
                use std::os::unix::fs::PermissionsExt;
                assert!(
                    meta.permissions().mode() & 0o111 != 0,
                    "{name}: {script} not executable"
                );
            }
        }
    }
    assert!(thpcheck_lines >= 2, "no thpcheck command in the workflow");
}

/// `--config no-page-mapcount` runs a scenario with CONFIG_NO_PAGE_MAPCOUNT: its row says so,
/// its replay token carries it, and the replay fails the same way.
#[test]
fn config_no_page_mapcount_reaches_the_row_and_the_replay_token() {
    let (code, out, err) = thpcheck(&[
        "check",
        "partial-unmap-in-both-mms",
        "--config",
        "no-page-mapcount",
        "--engine",
        "loom",
        "--json",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let bound = v["results"][0]["bound"].as_str().unwrap();
    assert!(bound.ends_with("config=no-page-mapcount"), "{bound}");
    assert!(
        v["results"][0]["observed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o == "partial-mapping-undetected"),
        "{out}"
    );
    let (code, out, err) = thpcheck(&[
        "check",
        "folio-split-vs-zap",
        "--break",
        "remove-migration-pte-ptl",
        "--engine",
        "shuttle-pct",
        "--config",
        "no-page-mapcount",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    let token = out
        .lines()
        .find_map(|l| l.strip_prefix("replay: thpcheck replay '"))
        .and_then(|t| t.strip_suffix('\''))
        .expect("a replay token");
    assert!(
        token.starts_with("thp1:folio-split-vs-zap/no-page-mapcount:"),
        "{token}"
    );
    let (rcode, rout, rerr) = thpcheck(&["replay", token]);
    assert_eq!(rcode, 1, "{rout}{rerr}");
    assert!(rout.contains("config=no-page-mapcount"), "{rout}");
}
