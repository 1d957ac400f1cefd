//! Is a catch only an assertion behind the rule's own switch?
//!
//! A rule is shown necessary only if its "off" form runs the broken code and an invariant
//! checked independently of the switch catches the damage. An assertion that fires *because*
//! the switch is off (`vm_bug_on!(!rule_on(Rule::X), ...)`, or any assertion inside an
//! `if !rule_on(Rule::X) { ... }` block, a match arm guarded by it, or the `else` of an
//! `if rule_on(Rule::X)`) shows only that the branch is reachable. The defect matrix looks at
//! where the catching panic was raised (its `file:line`) and refuses such a catch.
//!
//! The analysis is lexical, within the function that raised the panic: the assertion's own
//! text and the headers of every block that encloses it (with the `if` of an `else` chain).
//! An assertion in a helper called only from behind the switch is not recognised; the model's
//! convention is to keep the broken form inline at the switch.

use std::path::{Path, PathBuf};

use thp_model::rules::Rule;

/// The workspace root, where a panic's `file` (as rustc was given it) is relative to.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Whether the panic raised at `site` (`file:line`) sits behind `rule`'s own switch. None when
/// the site or its source file cannot be read (a binary run away from its source tree).
pub fn catch_is_behind_own_switch(site: &str, rule: Rule) -> Option<bool> {
    let (file, line) = site.rsplit_once(':')?;
    let line: usize = line.parse().ok()?;
    let src = std::fs::read_to_string(workspace_root().join(file)).ok()?;
    Some(behind_own_switch(&src, line, rule))
}

/// The lexical analysis on source text `src`, for the panic raised on 1-based line `line`.
pub fn behind_own_switch(src: &str, line: usize, rule: Rule) -> bool {
    let toks = tokens(src);
    let needle = format!("Rule::{rule:?}");
    let direct = |a: usize, b: usize| {
        let text: String = toks[a..b].iter().map(|t| t.text.as_str()).collect();
        text.contains("rule_on") && contains_word(&text, &needle)
    };
    // The first token of the panic's line: the assertion (a macro call, or `panic!`).
    let Some(start) = toks.iter().position(|t| t.line >= line) else {
        return false;
    };
    // A switch read into a local first (`let on = rule_on(Rule::X);`) names it too: collect
    // such bindings made before the assertion.
    // Only in the function that raised the panic, and only a plain read (no block or match,
    // whose value may merely depend on the switch).
    let fn_start = toks[..start]
        .iter()
        .rposition(|t| t.text == "fn")
        .unwrap_or(0);
    let mut aliases: Vec<String> = Vec::new();
    for k in fn_start..start.saturating_sub(2) {
        if toks[k].text == "let" && toks[k + 2].text == "=" {
            let end = (k + 3..start)
                .find(|&j| toks[j].text == ";")
                .unwrap_or(start);
            if direct(k + 3, end) && !toks[k + 3..end].iter().any(|t| t.text == "{") {
                aliases.push(toks[k + 1].text.clone());
            }
        }
    }
    let names_switch =
        |a: usize, b: usize| direct(a, b) || toks[a..b].iter().any(|t| aliases.contains(&t.text));
    // The assertion's own text: up to the end of its statement.
    let mut end = start;
    let mut depth = 0i32;
    while end < toks.len() {
        match toks[end].text.as_str() {
            "(" | "[" | "{" => depth += 1,
            ")" | "]" | "}" => {
                depth -= 1;
                if depth < 0 {
                    break;
                }
            }
            ";" | "," if depth == 0 => break,
            _ => {}
        }
        end += 1;
    }
    if names_switch(start, end) {
        return true;
    }
    // Every enclosing block, innermost first, up to the function.
    let mut i = start;
    loop {
        let Some(open) = enclosing_open(&toks, i) else {
            return false;
        };
        let h = header_start(&toks, open);
        if toks[h..open].iter().any(|t| t.text == "fn") {
            return names_switch(h, open);
        }
        if names_switch(h, open) {
            return true;
        }
        // `else` / `else if`: the conditions of the `if` chain it continues decide it too.
        let mut k = h;
        while k < open && toks[k].text == "else" && k > 0 && toks[k - 1].text == "}" {
            let Some(prev_open) = matching_open(&toks, k - 1) else {
                break;
            };
            let ph = header_start(&toks, prev_open);
            if names_switch(ph, prev_open) {
                return true;
            }
            k = ph;
        }
        i = open;
    }
}

struct Tok {
    text: String,
    line: usize,
}

fn contains_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, _)| {
        !text[i + word.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

/// Identifiers, punctuation and `::`-joined paths as single tokens; string and char literals
/// and comments dropped (a `{` in a format string is not a block).
fn tokens(src: &str) -> Vec<Tok> {
    let b: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < b.len() {
        let c = b[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && b.get(i + 1) == Some(&'/') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && b.get(i + 1) == Some(&'*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == '*' && b[i + 1] == '/') {
                line += usize::from(b[i] == '\n');
                i += 1;
            }
            i += 2;
        } else if c == '"' || (c == 'r' && matches!(b.get(i + 1), Some('"') | Some('#'))) {
            // A (raw) string literal.
            let raw = c == 'r';
            let mut hashes = 0;
            if raw {
                i += 1;
                while b.get(i) == Some(&'#') {
                    hashes += 1;
                    i += 1;
                }
            }
            i += 1;
            while i < b.len() {
                if b[i] == '\n' {
                    line += 1;
                }
                if !raw && b[i] == '\\' {
                    i += 2;
                    continue;
                }
                if b[i] == '"' && (0..hashes).all(|h| b.get(i + 1 + h) == Some(&'#')) {
                    i += 1 + hashes;
                    break;
                }
                i += 1;
            }
            out.push(Tok {
                text: "\"\"".into(),
                line,
            });
        } else if c == '\'' {
            // A char literal ('x', '\n', '{') or a lifetime ('a).
            if b.get(i + 2) == Some(&'\'') {
                i += 3;
            } else if b.get(i + 1) == Some(&'\\') {
                i += 2;
                while i < b.len() && b[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else {
                i += 1;
                while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_') {
                    i += 1;
                }
            }
        } else if c.is_alphanumeric() || c == '_' {
            let s = i;
            while i < b.len()
                && (b[i].is_alphanumeric()
                    || b[i] == '_'
                    || (b[i] == ':' && b.get(i + 1) == Some(&':')))
            {
                i += if b[i] == ':' { 2 } else { 1 };
            }
            out.push(Tok {
                text: b[s..i].iter().collect(),
                line,
            });
        } else {
            out.push(Tok {
                text: c.to_string(),
                line,
            });
            i += 1;
        }
    }
    out
}

/// The `{` of the innermost block that encloses token `i` (scanning back, skipping balanced
/// blocks).
fn enclosing_open(toks: &[Tok], i: usize) -> Option<usize> {
    let mut depth = 0;
    for j in (0..i).rev() {
        match toks[j].text.as_str() {
            "}" => depth += 1,
            "{" => {
                if depth == 0 {
                    return Some(j);
                }
                depth -= 1;
            }
            _ => {}
        }
    }
    None
}

/// The `{` matching the `}` at `close`: the innermost block opened before it and still open.
fn matching_open(toks: &[Tok], close: usize) -> Option<usize> {
    enclosing_open(toks, close)
}

/// The first token of the header of the block opened at `open`: back to the previous `;`, `,`,
/// `{` or `}` that is not inside brackets (a struct pattern's braces are skipped).
fn header_start(toks: &[Tok], open: usize) -> usize {
    let mut depth = 0;
    let mut j = open;
    while j > 0 {
        let t = toks[j - 1].text.as_str();
        match t {
            ")" | "]" => depth += 1,
            "(" | "[" => depth -= 1,
            "}" if depth == 0 => {
                // A struct pattern or literal (`Pmd::Migration { pfn, .. } if ...`) belongs to
                // the header; a block's end does not.
                let Some(o) = matching_open(toks, j - 1) else {
                    return j;
                };
                let named = o > 0
                    && (toks[o - 1].text.contains("::")
                        || toks[o - 1]
                            .text
                            .chars()
                            .next()
                            .is_some_and(char::is_uppercase));
                let then = toks.get(j).map_or("", |t| t.text.as_str());
                let is_pattern = named && matches!(then, "=" | "if" | "|" | ")");
                if !is_pattern {
                    return j;
                }
                j = o;
                continue;
            }
            "}" => depth += 1,
            "{" if depth > 0 => depth -= 1,
            "{" | ";" | "," if depth == 0 => return j,
            _ => {}
        }
        j -= 1;
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = r#"
fn zap(m: &M) -> Zapped {
    let v = read();
    if let Pmd::Migration { pfn, .. } = v {
        // the old Z07 form: an assertion that fires because the switch is off
        crate::vm_bug_on!(
            !crate::kernel::rule_on(crate::rules::Rule::ZapHugePmdNonPresent),
            Inv::I26,
            "zap of {v:?}"
        );
    }
    if !rule_on(Rule::SplitPmdInvalidatePresentOnly) && v.migration() {
        vm_bug_on!(true, Inv::I26, "braces {x} in a string");
    }
    if rule_on(Rule::PtReclaimPmdTrylock) {
        ok();
    } else if other() {
        panic!("[I17 x] behind the else");
    }
    let f = match v {
        Pmd::Huge { pfn, .. } | Pmd::HugeInvalid { pfn, .. } => pfn,
        Pmd::Migration { pfn, .. } if !rule_on(Rule::RmapWalkSkipsMigrationPmd) => {
            vm_bug_on!(true, Inv::I8, "guarded arm");
            pfn
        }
        _ => 0,
    };
    if rule_on(Rule::TableFreeWaitsForGupFast) {
        a();
    }
    vm_bug_on!(f == 0, Inv::I17, "independent of every switch");
}

fn next() -> Follow {
    let v = Pmd::decode(read());
    vm_bug_on!(v.none(), Inv::I5, "first statement after a function with a switch");
    let sync = rule_on(Rule::PvmwSyncPmdLock);
    if !sync {
        vm_bug_on!(true, Inv::I10, "behind a switch read into a local");
    }
}
"#;

    fn line_of(pat: &str) -> usize {
        SRC.lines().position(|l| l.contains(pat)).unwrap() + 1
    }

    #[test]
    fn finds_each_form_of_a_catch_behind_its_own_switch() {
        let z07 = line_of("crate::vm_bug_on!(");
        assert!(behind_own_switch(SRC, z07, Rule::ZapHugePmdNonPresent));
        assert!(!behind_own_switch(SRC, z07, Rule::PtReclaimPmdTrylock));
        let z12 = line_of("braces {x}");
        assert!(behind_own_switch(
            SRC,
            z12,
            Rule::SplitPmdInvalidatePresentOnly
        ));
        let els = line_of("behind the else");
        assert!(behind_own_switch(SRC, els, Rule::PtReclaimPmdTrylock));
        let local = line_of("behind a switch read into a local");
        assert!(behind_own_switch(SRC, local, Rule::PvmwSyncPmdLock));
        let arm = line_of("guarded arm");
        assert!(behind_own_switch(SRC, arm, Rule::RmapWalkSkipsMigrationPmd));
        for free in [
            line_of("independent of every switch"),
            line_of("first statement after a function"),
        ] {
            for r in Rule::ALL {
                assert!(!behind_own_switch(SRC, free, *r), "{r:?} at line {free}");
            }
        }
    }
}
