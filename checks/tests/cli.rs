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
    assert_eq!(n_rules, thp_model::rules::Rule::ALL.len());
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
