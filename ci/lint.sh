#!/usr/bin/env bash
# Formatting and clippy with warnings as errors.
set -euo pipefail
cd "$(dirname "$0")"/..
cargo fmt --all -- --check
cargo clippy --all-targets --release -- -D warnings
