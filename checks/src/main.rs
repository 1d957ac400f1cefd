//! `thpcheck`: list and run the checks of the THP lock model.
//!
//! Exit codes (`thp_checks::status::Status::exit_code`): 0 every check holds; 1 a
//! counterexample (or an engine that disagrees with a litmus expectation, or a scenario that
//! never reached a declared outcome); 2 usage or input error, one line on stderr; 3 a run
//! stopped before its bound was explored (incomplete, never reported as holding); 4 a
//! `[model bug]`: the model or harness is inconsistent, or a panic escaped the engines (one
//! line on stderr).
#![forbid(unsafe_code)]
// The harness collects results outside the engines: std types allowed (clippy.toml).
#![allow(clippy::disallowed_types)]

use std::process::ExitCode;

use clap::Parser;
use thp_checks::cli::{self, Cli};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                print!("{e}");
                return ExitCode::SUCCESS;
            }
            eprintln!("{}", cli::one_line(&e.render().to_string()));
            return ExitCode::from(2);
        }
    };
    // A panic that escapes the engines is a harness bug. The panic hook stays quiet while a
    // check runs (it records the first message for the verdict), so say here, in one line,
    // what crashed rather than exit 101 in silence.
    match std::panic::catch_unwind(move || cli::run(cli)) {
        Ok(Ok(code)) => ExitCode::from(code),
        Ok(Err(e)) => {
            eprintln!("error: {}", cli::one_line(&format!("{e:#}")));
            ExitCode::from(2)
        }
        Err(payload) => {
            let msg = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("a panic with a non-string payload");
            let msg = msg.strip_prefix("[model bug] ").unwrap_or(msg);
            eprintln!("error: [model bug] {}", cli::one_line(msg));
            ExitCode::from(thp_checks::status::Status::ModelBug.exit_code())
        }
    }
}
