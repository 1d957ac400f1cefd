#!/usr/bin/env bash
# Run every fuzz target for a bounded time on its tracked seeds (docs/fuzzing.md). Needs
# cargo-fuzz and a nightly toolchain; without them it says so and exits 0, because CI runs on
# stable and replays the seeds through `cargo test` (checks/tests/fuzz_seeds.rs) instead.
# Usage: ci/fuzz-smoke.sh [SECONDS_PER_TARGET]   (default 60)
set -euo pipefail
secs=${1:-60}
cd "$(dirname "$0")/.."
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "ci/fuzz-smoke.sh: cargo-fuzz or nightly missing: skipped (the seeds run in cargo test)"
  exit 0
fi
fail=0
for t in $(cargo +nightly fuzz list --fuzz-dir fuzz); do
  corpus=$(mktemp -d)
  cp fuzz/seeds/"$t"/* "$corpus"/
  echo "ci/fuzz-smoke.sh: $t for ${secs}s"
  if ! cargo +nightly fuzz run --fuzz-dir fuzz "$t" "$corpus" -- -max_total_time="$secs"; then
    echo "ci/fuzz-smoke.sh: $t crashed (the reproducer is under fuzz/artifacts/$t/)"
    fail=1
  fi
  rm -rf "$corpus"
done
exit $fail
