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
