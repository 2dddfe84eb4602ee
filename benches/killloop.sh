#!/usr/bin/env bash
# The kill loop of tests/kill_loop.rs, run long: SIGKILL `kiln build` of a runtime project
# and of a test-kernel project at random points, ROUNDS times each (default 110, i.e. 220
# runs), checking after every kill that each output is absent or a complete blob, and after
# the loop that `kiln cache verify` is clean, no dead writer's temp file remains after the
# next build, and the outputs equal a clean build's. Prints the totals for BENCHMARKS.md.
#
#   bash benches/killloop.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
KILN_KILL_ROUNDS="${1:-110}" cargo test --release --quiet --test kill_loop -- --nocapture 2>&1 \
  | grep -E "kill loop|project:|test result|panicked"
