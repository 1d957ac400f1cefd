#!/usr/bin/env bash
# The README's test command. Budget: well under 20 minutes on the 2-core CI machine.
set -euo pipefail
cd "$(dirname "$0")"/..
start=$(date +%s)
cargo test --release
echo "ci/test.sh: $(( $(date +%s) - start ))s"
