//! `thpcheck docs`: regenerate (or check) the generated documents.

use anyhow::{Context, Result};

use crate::status::Status;

pub(super) fn run(write: bool, jobs: usize, reuse_untested: bool) -> Result<Status> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let committed = std::fs::read_to_string(root.join("docs/bounds.md")).unwrap_or_default();
    if jobs > 1 {
        crate::docs::warm(jobs, &committed, reuse_untested);
    }
    let mut stale = false;
    for (path, gen) in crate::docs::GENERATED {
        let p = root.join(path);
        let want = if reuse_untested {
            // What the test suite's freshness check generates: the loom rows it does not
            // re-run are the committed ones.
            crate::docs::generate_for_tests(
                path,
                *gen,
                &std::fs::read_to_string(&p).unwrap_or_default(),
            )
        } else {
            gen()
        };
        if *path == "docs/bounds.md" {
            let bad = crate::docs::failing_rows(&want);
            if !bad.is_empty() {
                for l in &bad {
                    eprintln!("not holding: {l}");
                }
                anyhow::bail!(
                    "{} scenario run(s) do not hold with every rule on; {path} not written",
                    bad.len()
                );
            }
        }
        let have = std::fs::read_to_string(&p).unwrap_or_default();
        if have != want {
            if write {
                std::fs::write(&p, want)
                    .with_context(|| format!("cannot write {}", p.display()))?;
                println!("wrote {path}");
            } else {
                println!("{path} is stale (run `cargo run --release -- docs --write`)");
                stale = true;
            }
        } else {
            println!("{path} is up to date");
        }
    }
    Ok(Status::failed_unless(!stale))
}
