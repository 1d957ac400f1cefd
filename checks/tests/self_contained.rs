//! The repository explains itself: every file path that a source file, script, manifest or
//! document mentions resolves inside the repository (no `../` path that leaves it, no document
//! that only its authors had), every `docs/X.md#anchor` names a heading of that file, every
//! `mm::file::function` that a document names exists in the model, and the generated
//! documents that need no engine run are fresh (docs/invariants.md entirely, the engine-free
//! parts of docs/locking-rules.md).
//!
//! Scanned: `*.rs`, `*.md`, `*.toml`, `*.sh` and the scripts in `.ci/`, outside `third_party/`
//! and build outputs. A path may be written relative to the repository root, to the file's
//! directory, to its crate (or the crate's `src/`), or as a tail of a repository path
//! (`kernel/mod.rs`, `bounds.md`).

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// Directories never scanned nor used to resolve a path: build outputs, libFuzzer's scratch
/// space, git's own.
fn skipped_dir(rel: &Path) -> bool {
    let name = rel.file_name().and_then(|n| n.to_str()).unwrap_or("");
    matches!(name, "target" | ".git")
        || rel.starts_with("fuzz/corpus")
        || rel.starts_with("fuzz/artifacts")
        || rel.starts_with("fuzz/coverage")
}

/// Every file of the repository, relative to its root.
fn repo_files() -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
            .map(|e| e.expect("dir entry").path())
            .collect();
        entries.sort();
        for p in entries {
            let rel = p.strip_prefix(root).expect("inside the root").to_path_buf();
            if p.is_dir() {
                if !skipped_dir(&rel) {
                    walk(root, &p, out);
                }
            } else {
                out.push(rel);
            }
        }
    }
    let mut out = Vec::new();
    walk(&root(), &root(), &mut out);
    out
}

/// The files whose text is checked.
fn scanned(files: &[PathBuf]) -> Vec<PathBuf> {
    files
        .iter()
        .filter(|f| !f.starts_with("third_party"))
        .filter(|f| {
            let ext = f.extension().and_then(|e| e.to_str()).unwrap_or("");
            matches!(ext, "rs" | "md" | "toml" | "sh") || f.starts_with(".ci")
        })
        .cloned()
        .collect()
}

/// Names of documents that were never part of the repository (built from pieces so that this
/// file does not mention them).
fn foreign_names() -> Vec<String> {
    [
        ["kernel", "-protocol.md"],
        ["DESI", "GN.md"],
        ["CONVEN", "TIONS.md"],
        ["../sha", "red"],
        ["steering ", "repository"],
        ["seed ", "document"],
        ["(seed ", "00"],
        // a section sign cited those documents' sections
        ["\u{a7}", ""],
    ]
    .iter()
    .map(|p| p.concat())
    .collect()
}

/// Mentions that are not references: (file, path) pairs, each with the reason.
const ALLOWED: &[(&str, &str)] = &[
    // a made-up file name handed to the comment stripper under test
    ("checks/tests/engine_visible.rs", "x.rs"),
];

const EXTS: &[&str] = &[".md", ".rs", ".toml", ".sh"];

/// A path-like word of `line`: a file name with one of [`EXTS`], optionally with `#anchor`,
/// or an in-document `#anchor` (only in Markdown links, `](#x)`).
#[derive(Debug)]
struct Mention {
    path: String,
    anchor: Option<String>,
    /// The target of a Markdown link `[text](path)`: relative to the document's directory
    /// only, as a renderer resolves it.
    link: bool,
}

fn mentions(line: &str, markdown: bool) -> Vec<Mention> {
    // URLs are somebody else's paths.
    let mut text = String::new();
    for w in line.split_inclusive(char::is_whitespace) {
        if !w.contains("://") {
            text.push_str(w);
        } else {
            text.push(' ');
        }
    }
    let is_path_char = |c: char| c.is_ascii_alphanumeric() || "_.-/#".contains(c);
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if !is_path_char(chars[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && is_path_char(chars[i]) {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect();
        let in_link = markdown && start >= 2 && chars[start - 1] == '(' && chars[start - 2] == ']';
        let (path, anchor) = match word.split_once('#') {
            Some((p, a)) => (p, Some(a.trim_end_matches(['.', '-']).to_string())),
            None => (word.as_str(), None),
        };
        let path = path.trim_end_matches('.').trim_start_matches('/');
        if path.is_empty() {
            // `](#anchor)`: a link inside this document.
            if in_link {
                if let Some(a) = anchor.filter(|a| !a.is_empty()) {
                    out.push(Mention {
                        path: String::new(),
                        anchor: Some(a),
                        link: true,
                    });
                }
            }
            continue;
        }
        let Some(ext) = EXTS.iter().find(|e| path.ends_with(**e)) else {
            continue;
        };
        let stem = &path[..path.len() - ext.len()];
        let name = stem.rsplit('/').next().unwrap_or("");
        if name.is_empty() || name.chars().all(|c| c == '.') {
            continue;
        }
        out.push(Mention {
            path: path.to_string(),
            anchor: anchor.filter(|a| !a.is_empty()),
            link: in_link,
        });
    }
    out
}

/// `dir/rel` with `.` and `..` resolved lexically; None if it climbs above the root.
fn join_inside(dir: &Path, rel: &str) -> Option<PathBuf> {
    let mut parts: Vec<String> = dir
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    for c in Path::new(rel).components() {
        match c {
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::CurDir => {}
            c => parts.push(c.as_os_str().to_string_lossy().into_owned()),
        }
    }
    Some(parts.iter().collect())
}

/// The crate (nearest directory with a Cargo.toml) that `file` belongs to.
fn crate_dir(file: &Path, files: &BTreeSet<PathBuf>) -> PathBuf {
    let mut d = file.parent();
    while let Some(dir) = d {
        if files.contains(&dir.join("Cargo.toml")) {
            return dir.to_path_buf();
        }
        d = dir.parent();
    }
    PathBuf::new()
}

/// Where `mention` (found in `file`) points inside the repository, or why it does not.
fn resolve(file: &Path, m: &Mention, files: &BTreeSet<PathBuf>) -> Result<PathBuf, String> {
    let path = m.path.as_str();
    let dir = file.parent().unwrap_or(Path::new(""));
    if m.link {
        return match join_inside(dir, path) {
            Some(p) if files.contains(&p) => Ok(p),
            _ => Err(format!(
                "link `{path}` does not resolve from {}",
                dir.display()
            )),
        };
    }
    let krate = crate_dir(file, files);
    let bases = [
        PathBuf::new(),
        dir.to_path_buf(),
        krate.clone(),
        krate.join("src"),
    ];
    for b in &bases {
        if let Some(p) = join_inside(b, path) {
            if files.contains(&p) {
                return Ok(p);
            }
        }
    }
    if path.starts_with("../") || path.starts_with("./") {
        return Err(format!(
            "`{path}` leaves the repository or names nothing in it"
        ));
    }
    let tail = Path::new(path);
    let found: Vec<&PathBuf> = files.iter().filter(|f| f.ends_with(tail)).collect();
    match found.first() {
        Some(f) => Ok((*f).clone()),
        None => Err(format!("`{path}` is not a file of this repository")),
    }
}

/// GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces to hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a Markdown file's headings (outside code blocks).
fn anchors(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let hashes = line.chars().take_while(|c| *c == '#').count();
        if (1..=6).contains(&hashes) && line[hashes..].starts_with(' ') {
            out.insert(slug(&line[hashes..]));
        }
    }
    out
}

/// Every problem with the references in the repository's files.
fn reference_problems() -> Vec<String> {
    let root = root();
    let all = repo_files();
    let files: BTreeSet<PathBuf> = all.iter().cloned().collect();
    let this = Path::new("checks/tests/self_contained.rs");
    let foreign = foreign_names();
    let mut problems = Vec::new();
    let mut anchor_cache: std::collections::BTreeMap<PathBuf, BTreeSet<String>> =
        Default::default();
    let mut anchors_of = |p: &Path| {
        anchor_cache
            .entry(p.to_path_buf())
            .or_insert_with(|| anchors(&std::fs::read_to_string(root.join(p)).unwrap_or_default()))
            .clone()
    };
    for file in scanned(&all) {
        if file == this {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(root.join(&file)) else {
            continue;
        };
        let markdown = file.extension().is_some_and(|e| e == "md");
        for (n, line) in text.lines().enumerate() {
            let at = format!("{}:{}", file.display(), n + 1);
            for f in &foreign {
                if line.contains(f.as_str()) {
                    problems.push(format!(
                        "{at}: cites `{f}`, which is not part of this repository"
                    ));
                }
            }
            for m in mentions(line, markdown) {
                if ALLOWED.contains(&(file.to_str().unwrap_or(""), m.path.as_str())) {
                    continue;
                }
                let target = if m.path.is_empty() {
                    file.clone()
                } else {
                    match resolve(&file, &m, &files) {
                        Ok(t) => t,
                        Err(e) => {
                            problems.push(format!("{at}: {e}"));
                            continue;
                        }
                    }
                };
                if let Some(a) = &m.anchor {
                    if target.extension().is_some_and(|e| e == "md")
                        && !anchors_of(&target).contains(a)
                    {
                        problems.push(format!(
                            "{at}: `{}#{a}`: {} has no heading with that anchor",
                            m.path,
                            target.display()
                        ));
                    }
                }
            }
        }
    }
    problems
}

#[test]
fn every_reference_resolves_inside_the_repository() {
    let problems = reference_problems();
    assert!(
        problems.is_empty(),
        "{} reference(s) outside the repository or to nothing:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The checker itself finds what it must: a `../` path, a foreign document, a missing
/// `docs/` file, a missing anchor; and accepts the forms the repository uses.
#[test]
fn the_reference_checker_can_fail() {
    let files: BTreeSet<PathBuf> = repo_files().into_iter().collect();
    let file = Path::new("model/src/mm/zap.rs");
    let outside = format!("see ../{}/notes.md", ["sha", "red"].concat());
    let bad = [
        outside.as_str(),
        "see ../../outside.rs",
        "see docs/no-such-page.md",
        "see nowhere/at/all.rs",
    ];
    for line in bad {
        let ms = mentions(line, false);
        assert_eq!(ms.len(), 1, "{line}: {ms:?}");
        assert!(resolve(file, &ms[0], &files).is_err(), "{line} resolved");
    }
    let good = [
        ("docs/protocol.md#split-pmd", file, "docs/protocol.md"),
        ("kernel/mod.rs", file, "model/src/kernel/mod.rs"),
        (
            "(`../mm/huge_memory.rs`)",
            file,
            "model/src/mm/huge_memory.rs",
        ),
        (
            "[bounds](bounds.md)",
            Path::new("docs/design.md"),
            "docs/bounds.md",
        ),
    ];
    // A Markdown link resolves from the document's directory only.
    let ms = mentions("[p](docs/protocol.md)", true);
    assert!(resolve(Path::new("docs/design.md"), &ms[0], &files).is_err());
    for (line, from, want) in good {
        let ms = mentions(line, true);
        assert_eq!(ms.len(), 1, "{line}: {ms:?}");
        assert_eq!(resolve(from, &ms[0], &files), Ok(PathBuf::from(want)));
    }
    assert!(foreign_names().iter().any(|f| format!(
        "(`{}` 3.2)",
        ["kernel", "-protocol.md"].concat()
    )
    .contains(f.as_str())));
    let protocol = std::fs::read_to_string(root().join("docs/protocol.md")).unwrap();
    let a = anchors(&protocol);
    assert!(
        a.contains("split-pmd") && a.contains("pte_offset_map_lock"),
        "{a:?}"
    );
    assert!(!a.contains("no-such-section"));
    assert_eq!(
        mentions("[x](#some-rule)", true)
            .into_iter()
            .map(|m| m.anchor)
            .collect::<Vec<_>>(),
        vec![Some("some-rule".to_string())]
    );
}

/// Every `mm::file::item` that a document names (the **Model:** lines of docs/protocol.md,
/// `thp_model::mm::...` in the generated docs) exists in that model file.
#[test]
fn model_items_named_by_the_docs_exist() {
    let root = root();
    let mut problems = Vec::new();
    for doc in repo_files()
        .into_iter()
        .filter(|f| f.starts_with("docs") || f == Path::new("README.md"))
    {
        let text = std::fs::read_to_string(root.join(&doc)).unwrap_or_default();
        for (n, line) in text.lines().enumerate() {
            let mut rest = line;
            while let Some(i) = rest.find("mm::") {
                let after = &rest[i + 4..];
                let word: String = after
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                rest = &after[word.len()..];
                let parts: Vec<&str> = word.split("::").collect();
                if parts.len() != 2 || parts[1].is_empty() {
                    continue;
                }
                let (module, item) = (parts[0], parts[1]);
                let src = ["rs", "mod.rs"]
                    .iter()
                    .map(|e| {
                        if *e == "rs" {
                            root.join(format!("model/src/mm/{module}.rs"))
                        } else {
                            root.join(format!("model/src/mm/{module}/mod.rs"))
                        }
                    })
                    .find_map(|p| std::fs::read_to_string(p).ok());
                let found = src.is_some_and(|s| {
                    [
                        format!("fn {item}("),
                        format!("fn {item}<"),
                        format!("struct {item}"),
                        format!("enum {item}"),
                        format!("const {item}"),
                    ]
                    .iter()
                    .any(|d| s.contains(d.as_str()))
                });
                if !found {
                    problems.push(format!(
                        "{}:{}: `mm::{module}::{item}` is not in model/src/mm/{module}.rs",
                        doc.display(),
                        n + 1
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// docs/invariants.md is generated from the `Inv` enum without running an engine, so it is
/// compared here too, cheaply (the full comparison of every generated file is
/// `generated_docs_are_fresh`).
#[test]
fn invariants_doc_is_fresh() {
    let want = thp_checks::docs::invariants_md();
    let have = std::fs::read_to_string(root().join("docs/invariants.md")).unwrap_or_default();
    assert!(
        have == want,
        "docs/invariants.md is stale: run `cargo run --release -- docs --write` and commit the result"
    );
}

/// The parts of docs/locking-rules.md that need no engine run: the rule table at the top, each
/// rule's kernel sources, the historical races and the rules kept without a switch at the end.
#[test]
fn locking_rules_doc_engine_free_parts_are_fresh() {
    use thp_checks::docs::{locking_rules_head, locking_rules_tail};
    let have = std::fs::read_to_string(root().join("docs/locking-rules.md")).unwrap_or_default();
    let stale = "docs/locking-rules.md is stale: run `cargo run --release -- docs --write`";
    assert!(have.starts_with(&locking_rules_head()), "{stale} (head)");
    assert!(have.ends_with(&locking_rules_tail()), "{stale} (tail)");
    for r in thp_model::rules::Rule::ALL {
        let line = format!("- **Kernel source.** {}.\n", r.info().source);
        assert!(have.contains(&line), "{stale} (sources of {})", r.id());
    }
}

/// Every race of the generated table (`HISTORICAL_RACES`) has its section in
/// docs/race-history.md, which the table links to.
#[test]
fn every_historical_race_has_a_section() {
    let text = std::fs::read_to_string(root().join("docs/race-history.md")).unwrap();
    let a = anchors(&text);
    for h in thp_checks::docs::HISTORICAL_RACES {
        assert!(
            a.contains(&h.id.to_lowercase()),
            "docs/race-history.md has no `## {}` section",
            h.id
        );
    }
}

/// Every `pub mod` of the model and checks crates is named in its parent's `//!` index, so the
/// module docs (and the README layout they feed) list every module.
#[test]
fn every_pub_mod_is_in_its_parents_doc_index() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut missing = Vec::new();
    let mut stack = vec![root.join("model/src"), root.join("checks/src")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if p.extension().is_none_or(|x| x != "rs") {
                continue;
            }
            let src = std::fs::read_to_string(&p).unwrap();
            let doc: String = src
                .lines()
                .filter_map(|l| l.strip_prefix("//!"))
                .collect::<Vec<_>>()
                .join("\n");
            for l in src.lines() {
                let Some(name) = l.strip_prefix("pub mod ").and_then(|r| r.strip_suffix(';'))
                else {
                    continue;
                };
                if !doc.contains(&format!("`{name}`")) {
                    missing.push(format!("{}: pub mod {name}", p.display()));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "not in the parent's //! index: {missing:#?}"
    );
}
