//! thp-checks: scenarios, engines and the `thpcheck` CLI for the THP lock model.
//!
//! * [`engine`] — runs one body under loom, shuttle or std threads and reports the verdict.
//! * [`scenarios`] — the model scenarios: the catalogue, one file per family.
//! * [`litmus`] — litmus tests of the primitive layer against the LKMM.
//! * [`status`] — the one verdict every command reports, and its exit code.
//! * [`bounds`] — the default bounds.
//! * [`cli`] — the `thpcheck` command line.
//! * [`defects`] — the rule-off matrix.
//! * [`own_switch`] — refuses a catch that is only an assertion behind the rule's own switch.
//! * [`audit`] — the engines check each other.
//! * [`bench`] — the speed budgets.
//! * [`bare`] — the model's overhead against a bare loom / shuttle program (`bench`).
//! * [`docs`] — the generated documents.
//! * [`findings`] — counterexamples of 6.18.2 and their candidate fixes (docs/findings.md).
//! * [`parallel`] — ordered parallel runs and `--shard`.
//! * [`fuzz`] — fuzz entry points.
//! * [`html`] — a counterexample as a web page (`--html`).
//! * [`progress`] — the terminal progress line of long commands.
//! * [`minimize`] — smaller counterexamples (`--minimize`).
#![forbid(unsafe_code)]
// std synchronisation types are allowed only where the harness collects results outside the
// engines, file by file or item by item (clippy.toml).

pub mod audit;
pub mod bare;
pub mod bench;
pub mod bounds;
pub mod cli;
pub mod defects;
pub mod docs;
pub mod engine;
pub mod findings;
pub mod fuzz;
pub mod html;
pub mod litmus;
pub mod minimize;
pub mod own_switch;
pub mod parallel;
pub mod progress;
pub mod scenarios;
pub mod status;
