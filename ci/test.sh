#!/usr/bin/env bash
# The README's test command, then the test suite (with the DPOR regression tests) of the patched loom in third_party/loom
# (its own crate, outside the workspace). Budget: well under 30 minutes on the 2-core CI machine.
set -euo pipefail
cd "$(dirname "$0")"/..
start=$(date +%s)
cargo test --release
echo "ci/test.sh: cargo test --release: $(( $(date +%s) - start ))s"
loom_start=$(date +%s)
cargo test --release --manifest-path third_party/loom/Cargo.toml
echo "ci/test.sh: patched loom: its own tests and the DPOR regression tests: $(( $(date +%s) - loom_start ))s"
