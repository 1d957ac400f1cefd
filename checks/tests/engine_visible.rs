//! State that steers the model stays visible to the engines (model/src/kernel/mod.rs, "What
//! may be a std type"): no std synchronization or cell type in the model's `mm/`, in the rule
//! catalogue or in the invariant checks. loom's and shuttle's exploration only sees
//! dependencies through engine objects, and under loom only they carry the memory model, so a
//! std atomic, mutex or cell there would hide a dependency from DPOR or order two CPUs behind
//! the memory model's back. Model state goes in `kernel::atomic_t` / `AtomicFlag`, or under a
//! `spinlock_t` in a `kernel::LockedBy`; write-only instrumentation lives in `kernel/` (e.g.
//! `kernel/trace.rs`: `trace::Observed`, the scenario outcome events).

use std::path::{Path, PathBuf};

/// Text that names a std synchronization or cell type.
const FORBIDDEN: &[&str] = &[
    "std::sync",
    "std::cell",
    "core::sync",
    "core::cell",
    "sync::",
    "cell::",
    "AtomicBool",
    "AtomicU",
    "AtomicI",
    "AtomicPtr",
    "Mutex",
    "RwLock",
    "Condvar",
    "OnceLock",
    "LazyLock",
    "OnceCell",
    "RefCell",
    "Cell<",
    "thread_local!",
    "static mut",
];

/// `src` with every comment (line, doc and nested block comments) blanked out; string and
/// character literals are kept, so a `//` inside a string does not start a comment. Line
/// structure is kept, so line numbers stay right.
fn strip_comments(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < c.len() {
        let next = c.get(i + 1).copied();
        if c[i] == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if c[i] == '/' && next == Some('*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if c[i] == '\n' {
                        out.push('\n');
                    }
                    i += 1;
                }
            }
        } else if c[i] == 'r' && (next == Some('"') || next == Some('#')) && {
            // a raw string r"..." or r#"..."#, not an identifier ending in r
            let prev_ident = i > 0 && (c[i - 1].is_alphanumeric() || c[i - 1] == '_');
            let mut j = i + 1;
            while c.get(j) == Some(&'#') {
                j += 1;
            }
            !prev_ident && c.get(j) == Some(&'"')
        } {
            let mut hashes = 0;
            out.push('r');
            i += 1;
            while c[i] == '#' {
                hashes += 1;
                out.push('#');
                i += 1;
            }
            out.push('"');
            i += 1;
            while i < c.len() {
                if c[i] == '"' && (1..=hashes).all(|k| c.get(i + k) == Some(&'#')) {
                    out.push('"');
                    i += 1;
                    for _ in 0..hashes {
                        out.push('#');
                        i += 1;
                    }
                    break;
                }
                out.push(c[i]);
                i += 1;
            }
        } else if c[i] == '"' {
            out.push('"');
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    out.push(c[i]);
                    i += 1;
                }
                if i < c.len() {
                    out.push(c[i]);
                    i += 1;
                }
            }
            if i < c.len() {
                out.push('"');
                i += 1;
            }
        } else if c[i] == '\'' && next == Some('\\') {
            // an escaped character literal: copy up to the closing quote
            out.push(c[i]);
            out.push('\\');
            i += 2;
            while i < c.len() && c[i] != '\'' {
                out.push(c[i]);
                i += 1;
            }
        } else if c[i] == '\'' && c.get(i + 2) == Some(&'\'') {
            // a one-character literal such as '"' (not a lifetime)
            out.extend(&c[i..i + 3]);
            i += 3;
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Every occurrence of a forbidden name outside comments, as "file:line: name: the line".
fn violations(path: &Path, src: &str) -> Vec<String> {
    let mut v = Vec::new();
    for (n, line) in strip_comments(src).lines().enumerate() {
        for f in FORBIDDEN {
            if line.contains(f) {
                v.push(format!(
                    "{}:{}: {f}: {}",
                    path.display(),
                    n + 1,
                    line.trim()
                ));
            }
        }
    }
    v
}

#[test]
fn model_state_is_engine_visible() {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../model/src");
    let mut files = Vec::new();
    rust_files(&model.join("mm"), &mut files);
    assert!(
        files.len() >= 10,
        "found only {} files under model/src/mm",
        files.len()
    );
    files.push(model.join("rules.rs"));
    files.push(model.join("invariants.rs"));
    let mut all = Vec::new();
    for f in &files {
        let src =
            std::fs::read_to_string(f).unwrap_or_else(|e| panic!("read {}: {e}", f.display()));
        all.extend(violations(f, &src));
    }
    assert!(
        all.is_empty(),
        "std synchronization or cell types in model state (use kernel::atomic_t / AtomicFlag, or \
         kernel::LockedBy under a spinlock_t; write-only instrumentation belongs in kernel/, e.g. \
         kernel/trace.rs):\n{}",
        all.join("\n")
    );
}

#[test]
fn the_scan_sees_code_and_skips_comments() {
    let src = r#"//! a doc comment naming std::sync::Mutex
/// AtomicBool in a doc comment
use std::sync::atomic::AtomicBool; // trailing: RefCell
/* a block comment: Mutex<Vec<usize>>
   /* nested: Cell<u8> */ still comment: std::cell */
let s = "a string // with slashes"; let m: Mutex<u8>;
let c = '"'; let r = RefCell::new(0);
fn f<'a>(x: &'a u8) -> Cell<u8> {}
let raw = r"raw // not a comment"; static A: AtomicUsize;
use std::{sync::Arc, collections::HashMap};
static mut B: u8 = 0; thread_local! {}
use core::sync::atomic::AtomicU32 as Word;
"#;
    let v = violations(Path::new("x.rs"), src);
    let got: Vec<(usize, &str)> = v
        .iter()
        .map(|l| {
            let mut p = l.split(':');
            p.next();
            let line = p.next().unwrap().parse().unwrap();
            let name = FORBIDDEN
                .iter()
                .find(|f| l.contains(&format!(": {f}: ")))
                .unwrap();
            (line, *name)
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (3, "std::sync"),
            (3, "sync::"),
            (3, "AtomicBool"),
            (6, "Mutex"),
            (7, "RefCell"),
            (8, "Cell<"),
            (9, "AtomicU"),
            (10, "sync::"),
            (11, "thread_local!"),
            (11, "static mut"),
            (12, "core::sync"),
            (12, "sync::"),
            (12, "AtomicU"),
        ],
        "{v:#?}"
    );
}
