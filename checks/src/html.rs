//! `--html`: a counterexample as one self-contained web page, drawn the way kernel developers
//! draw races: a column per CPU, a row per step, in the order the engine ran them.
//!
//! Each cell shows the kernel function and what it read or wrote (lockless reads are marked
//! and show the value they returned); a cell is shaded while its CPU holds a lock, and lists
//! the locks held as of that CPU's last step. The broken invariant is highlighted in the
//! header, and the last step recorded before it is marked (not necessarily a step of the CPU
//! that raised it: an end-of-run oracle raises it after every CPU finished). The rules that
//! were switched off link to their sections of this checkout's `docs/locking-rules.md` (a
//! `file://` link, for the machine the page was made on). No scripts, no external files.
//!
//! Under loom a relaxed load may return an older store than the last one the page shows
//! before it (weak memory): the page says so when the run was under loom.

use std::fmt::Write as _;

use crate::cli::Row;

/// Escape text for HTML.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// Where the repository's `docs/locking-rules.md` is: the checkout this binary was built from.
fn locking_rules_url() -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("docs")
        .join("locking-rules.md");
    let p = p.canonicalize().unwrap_or(p);
    format!("file://{}", p.display())
}

const STYLE: &str = "
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #1b1b1b; }
h1 { font-size: 1.3em; margin-bottom: 0.2em; }
.meta { color: #444; margin: 0.2em 0; }
.violation { background: #fde2e1; border-left: 5px solid #c0262d; padding: 0.6em 0.8em;
  margin: 0.8em 0; font-family: ui-monospace, monospace; white-space: pre-wrap; }
.note { color: #555; font-size: 0.9em; }
table.trace { border-collapse: collapse; margin-top: 0.8em; table-layout: fixed; }
table.trace th { background: #263238; color: #fff; padding: 0.35em 0.6em; text-align: left; }
table.trace td { border: 1px solid #d5d8dc; padding: 0.25em 0.5em; vertical-align: top;
  font-family: ui-monospace, monospace; font-size: 0.82em; }
td.n { color: #777; text-align: right; width: 2.5em; }
td.step.locked { background: #e3ecfa; }
td.idle.locked { background: #f1f5fc; }
td.step.read { box-shadow: inset 4px 0 0 #e08a00; }
tr.fail td.step { background: #fde2e1; outline: 2px solid #c0262d; }
.func { font-weight: 600; }
.what { display: block; }
.held { display: block; color: #2a4f8f; font-size: 0.9em; margin-top: 0.15em; }
.saw { display: block; color: #8a5200; font-size: 0.9em; margin-top: 0.15em; }
.tag { font-size: 0.75em; background: #e08a00; color: #fff; border-radius: 3px;
  padding: 0 0.3em; margin-left: 0.4em; }
.legend span { display: inline-block; margin-right: 1.2em; }
.sw { display: inline-block; width: 1em; height: 0.9em; vertical-align: middle;
  margin-right: 0.3em; border: 1px solid #bbb; }
code { background: #f2f2f2; padding: 0 0.2em; word-break: break-all; }
";

/// One counterexample page for `row` (a row whose verdict carries a trace).
pub fn counterexample_page(row: &Row) -> String {
    let mut o = String::new();
    let title = format!("{}: {} under {}", row.scenario, row.verdict, row.engine);
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{}</title><style>{STYLE}</style></head><body>\n",
        esc(&title)
    );
    let _ = writeln!(o, "<h1>{}</h1>", esc(&title));
    let _ = writeln!(
        o,
        "<p class=\"meta\">bound: <code>{}</code> &middot; executions: {} &middot; {:.3} s</p>",
        esc(&row.bound),
        row.executions,
        row.secs
    );
    let docs = locking_rules_url();
    if row.rules_off.is_empty() {
        let _ = writeln!(
            o,
            "<p class=\"meta\">rules switched off: none (the protocol as in the kernel)</p>"
        );
    } else {
        let links: Vec<String> = row
            .rules_off
            .iter()
            .map(|r| {
                format!(
                    "<a href=\"{}\"><code>{}</code></a>",
                    esc(&format!("{docs}#{r}")),
                    esc(r)
                )
            })
            .collect();
        let _ = writeln!(
            o,
            "<p class=\"meta\">rules switched off: {}</p>",
            links.join(", ")
        );
    }
    if let Some(m) = &row.message {
        let _ = writeln!(o, "<div class=\"violation\">{}</div>", esc(m));
    }
    if let Some(t) = &row.replay {
        let _ = writeln!(
            o,
            "<p class=\"meta\">replay: <code>thpcheck replay '{}'</code></p>",
            esc(t)
        );
    }
    let _ = writeln!(
        o,
        "<p class=\"legend note\"><span><span class=\"sw\" style=\"background:#e3ecfa\"></span>\
         the CPU holds a lock</span><span><span class=\"sw\" style=\"background:#fff;\
         box-shadow: inset 4px 0 0 #e08a00\"></span>a lockless read, with the value it \
         returned and the step whose store that was</span><span><span class=\"sw\" style=\"background:#fde2e1\"></span>the last \
         step before the violation</span></p>"
    );
    if row.engine == "loom" {
        let _ = writeln!(
            o,
            "<p class=\"note\">loom explores weak memory: a relaxed load may return an older \
             store than the last one shown above it; the value it returned is the one in its \
             cell.</p>"
        );
    }
    // A column per CPU that took a step.
    let mut cpus: Vec<usize> = row.steps.iter().map(|s| s.cpu).collect();
    cpus.sort_unstable();
    cpus.dedup();
    let _ = writeln!(o, "<table class=\"trace\"><thead><tr><th>#</th>");
    for c in &cpus {
        let _ = write!(o, "<th>CPU{c}</th>");
    }
    let _ = writeln!(o, "</tr></thead><tbody>");
    // The locks each CPU held as of the last step it took (to shade its idle cells).
    let mut holding: Vec<bool> = vec![false; cpus.len()];
    let last = row.steps.len().saturating_sub(1);
    for (i, s) in row.steps.iter().enumerate() {
        let col = cpus.iter().position(|c| *c == s.cpu).unwrap_or(0);
        holding[col] = !s.held.is_empty();
        let fail = row.message.is_some() && i == last;
        let _ = write!(
            o,
            "<tr id=\"step-{}\"{}><td class=\"n\">{}</td>",
            i + 1,
            if fail { " class=\"fail\"" } else { "" },
            i + 1
        );
        for (k, _) in cpus.iter().enumerate() {
            if k == col {
                let mut class = String::from("step");
                if !s.held.is_empty() {
                    class.push_str(" locked");
                }
                let read = s.read.is_some();
                if read {
                    class.push_str(" read");
                }
                let _ = write!(
                    o,
                    "<td class=\"{class}\"><span class=\"func\">{}</span>{}\
                     <span class=\"what\">{}</span>",
                    esc(&s.func),
                    if read {
                        "<span class=\"tag\">lockless read</span>"
                    } else {
                        ""
                    },
                    esc(&s.what)
                );
                if let Some(r) = &s.read {
                    let saw = match r.saw_step {
                        Some(n) => format!("saw the store of <a href=\"#step-{n}\">step {n}</a>"),
                        None => "saw the initial value".to_string(),
                    };
                    let newer = match r.newer_step {
                        Some(n) => format!(
                            ", older than <a href=\"#step-{n}\">step {n}</a>'s (weak memory)"
                        ),
                        None => String::new(),
                    };
                    let _ = write!(
                        o,
                        "<span class=\"saw\">{}: {saw}{newer}</span>",
                        esc(&r.loc)
                    );
                }
                if !s.held.is_empty() {
                    let _ = write!(
                        o,
                        "<span class=\"held\">holds {}</span>",
                        esc(&s.held.join(", "))
                    );
                }
                let _ = write!(o, "</td>");
            } else {
                let _ = write!(
                    o,
                    "<td class=\"idle{}\"></td>",
                    if holding[k] { " locked" } else { "" }
                );
            }
        }
        let _ = writeln!(o, "</tr>");
    }
    let _ = writeln!(o, "</tbody></table>");
    let _ = writeln!(
        o,
        "<p class=\"note\">Generated by <code>thpcheck</code> {}.</p></body></html>",
        env!("CARGO_PKG_VERSION")
    );
    o
}

/// An index page linking `pages` (file name, one-line description).
pub fn index_page(title: &str, pages: &[(String, String)]) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{}</title><style>{STYLE}</style></head><body>\n<h1>{}</h1>\n<ul>\n",
        esc(title),
        esc(title)
    );
    for (file, what) in pages {
        let _ = writeln!(o, "<li><a href=\"{}\">{}</a></li>", esc(file), esc(what));
    }
    let _ = writeln!(o, "</ul></body></html>");
    o
}

/// Write the counterexamples among `rows` as HTML at `path`: one counterexample, one page at
/// `path`; several, an index at `path` linking one page each next to it
/// (`<stem>-<n>.html`); a missing directory is created. Returns how many pages were written (0: nothing to draw, and nothing
/// is written).
pub fn write_pages(path: &std::path::Path, rows: &[&Row]) -> anyhow::Result<usize> {
    use anyhow::Context;
    let with_trace: Vec<&Row> = rows
        .iter()
        .copied()
        .filter(|r| r.message.is_some() && !r.steps.is_empty())
        .collect();
    if with_trace.is_empty() {
        return Ok(0);
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| {
            format!(
                "cannot write {}: cannot create {}",
                path.display(),
                dir.display()
            )
        })?;
    }
    match with_trace.len() {
        0 => Ok(0),
        1 => {
            std::fs::write(path, counterexample_page(with_trace[0]))
                .with_context(|| format!("cannot write {}", path.display()))?;
            Ok(1)
        }
        n => {
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_else(|| "counterexample".into());
            let dir = path.parent().unwrap_or(std::path::Path::new("."));
            let mut links = Vec::new();
            for (i, r) in with_trace.iter().enumerate() {
                let file = format!("{stem}-{}.html", i + 1);
                std::fs::write(dir.join(&file), counterexample_page(r))
                    .with_context(|| format!("cannot write {}", dir.join(&file).display()))?;
                let rules = if r.rules_off.is_empty() {
                    String::new()
                } else {
                    format!(" --break {}", r.rules_off.join(" --break "))
                };
                links.push((
                    file,
                    format!("{}{rules} under {}: {}", r.scenario, r.engine, r.verdict),
                ));
            }
            std::fs::write(path, index_page("thpcheck counterexamples", &links))
                .with_context(|| format!("cannot write {}", path.display()))?;
            Ok(n)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn markup_in_text_is_escaped() {
        assert_eq!(
            super::esc("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
    }
}
