//! Fuzz entry points: ordinary functions (so stable `cargo test` runs them on the tracked seeds
//! in `fuzz/seeds/`), called by the three-line targets in `fuzz/fuzz_targets/`.
//!
//! * [`replay_token`]: raw bytes as a replay token.
//! * [`input`]: everything else a user hands `thpcheck`, decoded from the bytes with
//!   `arbitrary` (a whole command line, or one value for each parser behind it).

use arbitrary::{Arbitrary, Unstructured};

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

pub use user_input::UserInput;

mod user_input {
    // The derive's recursion guard is a std Cell: harness code, outside the engines.
    #![allow(clippy::disallowed_types)]
    use arbitrary::Arbitrary;

    /// What a user can hand `thpcheck`, as the `input` target decodes it from fuzz bytes.
    #[derive(Arbitrary, Debug)]
    pub enum UserInput {
        /// A whole command line after `thpcheck` (parsed, never run: a valid one may run for hours).
        CommandLine(Vec<String>),
        /// A scenario or litmus name (`check NAME`).
        Scenario(String),
        /// A rule id (`--break RULE`).
        Rule(String),
        /// `--arch`.
        Arch(String),
        /// `--subpages`.
        Subpages(String),
        /// `--preemption-bound`.
        Bound(String),
        /// `--jobs`, `--iterations` and the other positive numbers.
        Positive(String),
        /// `--shard I/N`.
        Shard(String),
        /// `thpcheck replay TOKEN`.
        Token(String),
    }
}

/// The [`UserInput`] that fuzz bytes `data` stand for (None if they are too short).
pub fn decode_input(data: &[u8]) -> Option<UserInput> {
    UserInput::arbitrary_take_rest(Unstructured::new(data)).ok()
}

/// Decode `data` into a [`UserInput`] and hand it to the parser it names: each must accept it or
/// reject it with a one-line message, never panic. A command line clap accepts must also pass
/// the name checks `thpcheck` runs before any engine starts.
pub fn input(data: &[u8]) {
    let Some(i) = decode_input(data) else {
        return;
    };
    let one_line = |what: &str, m: String| {
        assert!(
            !m.is_empty() && !m.contains('\n'),
            "{what}: the error must be one line: {m:?}"
        );
    };
    match i {
        UserInput::CommandLine(args) => {
            use clap::Parser;
            let argv = std::iter::once("thpcheck".to_string()).chain(args);
            match crate::cli::Cli::try_parse_from(argv) {
                Ok(cli) => match cli.command {
                    // The names a command refers to resolve or are refused in one line.
                    crate::cli::Command::Check(a) => {
                        for n in &a.names {
                            if let Err(e) = crate::cli::resolve(n) {
                                one_line("scenario", format!("{e:#}"));
                            }
                        }
                        for r in &a.break_rule {
                            if let Err(e) = crate::cli::resolve_rule(r) {
                                one_line("rule", format!("{e:#}"));
                            }
                        }
                    }
                    crate::cli::Command::Replay { token, .. } => replay_token(token.as_bytes()),
                    _ => {}
                },
                Err(e) => one_line(
                    "command line",
                    crate::cli::one_line(&e.render().to_string()),
                ),
            }
        }
        UserInput::Scenario(s) => {
            if let Err(e) = crate::cli::resolve(&s) {
                one_line("scenario", format!("{e:#}"));
            }
        }
        UserInput::Rule(s) => {
            if let Err(e) = crate::cli::resolve_rule(&s) {
                one_line("rule", format!("{e:#}"));
            }
        }
        UserInput::Arch(s) => {
            if let Err(e) = crate::cli::parse_arch(&s) {
                one_line("arch", e);
            }
        }
        UserInput::Subpages(s) => {
            if let Err(e) = crate::cli::parse_subpages(&s) {
                one_line("subpages", e);
            }
        }
        UserInput::Bound(s) => {
            if let Err(e) = crate::cli::parse_bound(&s) {
                one_line("bound", e);
            }
        }
        UserInput::Positive(s) => {
            if let Err(e) = crate::cli::parse_positive(&s) {
                one_line("number", e);
            }
        }
        UserInput::Shard(s) => {
            if let Err(e) = crate::parallel::parse_shard(&s) {
                one_line("shard", e);
            }
        }
        UserInput::Token(s) => replay_token(s.as_bytes()),
    }
}
