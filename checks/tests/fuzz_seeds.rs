//! Replays the tracked fuzz seeds through the same entry points the fuzz targets call.

use std::path::Path;

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/seeds")
        .join(target);
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read seed directory {}: {e}", dir.display()))
        .map(|e| {
            let p = e.unwrap().path();
            let b = std::fs::read(&p)
                .unwrap_or_else(|e| panic!("cannot read seed {}: {e}", p.display()));
            (p.display().to_string(), b)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn replay_token_seeds() {
    let s = seeds("replay_token");
    assert!(s.len() >= 4, "seed directory lost its seeds");
    for (_name, bytes) in s {
        thp_checks::fuzz::replay_token(&bytes);
    }
}

/// The `input` target's seeds: each decodes (with the `arbitrary` pinned by fuzz/Cargo.lock and
/// Cargo.lock) to the input it was written for, together they reach every kind of input, and
/// every one is accepted or refused in one line.
#[test]
fn input_seeds() {
    use thp_checks::fuzz::{decode_input, input, UserInput};
    let s = seeds("input");
    let mut kinds = std::collections::BTreeSet::new();
    for (name, bytes) in &s {
        let i = decode_input(bytes).unwrap_or_else(|| panic!("{name} no longer decodes"));
        if let UserInput::CommandLine(args) = &i {
            assert!(
                !args.is_empty(),
                "{name} decodes to an empty command line: the seed no longer means what it did"
            );
        }
        kinds.insert(format!("{i:?}").split('(').next().unwrap_or("").to_string());
        input(bytes);
    }
    assert_eq!(
        kinds.len(),
        9,
        "the seeds must cover every kind of UserInput: {kinds:?}"
    );
}
