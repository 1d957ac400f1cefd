#!/usr/bin/env bash
# The README's test command, then the regression tests of the patched loom in third_party/loom
# (its own crate, outside the workspace). Budget: well under 30 minutes on the 2-core CI machine.
set -euo pipefail
cd "$(dirname "$0")"/..
start=$(date +%s)
cargo test --release
echo "ci/test.sh: cargo test --release: $(( $(date +%s) - start ))s"
loom_start=$(date +%s)
cargo test --release --manifest-path third_party/loom/Cargo.toml --test dpor_regression
echo "ci/test.sh: loom DPOR regression tests: $(( $(date +%s) - loom_start ))s"
