//! Fuzz entry points: ordinary functions (so stable `cargo test` runs them on the tracked seeds
//! in `fuzz/seeds/`), called by the three-line targets in `fuzz/fuzz_targets/`.

/// Parse arbitrary bytes as a replay token: it must yield a token or an error, never panic.
pub fn replay_token(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    match crate::cli::parse_token(s) {
        Ok(t) => {
            assert!(crate::engine::decode_schedule(&t.schedule).is_some());
        }
        Err(e) => {
            let m = format!("{e:#}");
            assert!(m.starts_with("malformed replay token"), "{m}");
        }
    }
}
