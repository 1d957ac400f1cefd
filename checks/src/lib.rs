//! thp-checks: scenarios, engines and the `thpcheck` CLI for the THP lock model.
#![forbid(unsafe_code)]
// The harness collects results outside the engines: std types allowed (clippy.toml).
#![allow(clippy::disallowed_types)]

pub mod audit;
pub mod bench;
pub mod bounds;
pub mod cli;
pub mod defects;
pub mod docs;
pub mod engine;
pub mod fuzz;
pub mod litmus;
pub mod parallel;
pub mod scenarios;
pub mod status;
