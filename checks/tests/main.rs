//! One integration test binary (docs/contributing.md#tests), one module per concern.
#![deny(warnings, rust_2018_idioms)]
// The harness collects results outside the engines: std types allowed (clippy.toml).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // harness tests: std threads and state outside the engines

mod audit;
mod catalogue;
mod cli;
mod engine_regression;
mod engine_visible;
mod findings;
mod fuzz_seeds;
mod historical;
mod hvo;
mod litmus;
mod lockdep;
mod model_split_pmd;
mod parallel;
mod primitives;
mod scenarios;
mod self_contained;
mod swap;
