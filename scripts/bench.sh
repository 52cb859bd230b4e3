#!/usr/bin/env bash
# The benchmark suite (separate from the tests; a full run takes about 35 minutes on 2 cores,
# --quick about 10): installs what is missing, builds the release app and the CLI, then runs
# bench/run.mjs, which measures twinlens and the three.js reference in headless Chromium and
# folds in the host benchmarks (criterion). Results: bench/results/<UTC timestamp>.{json,md}.
#
#   scripts/bench.sh            full run (10k-sensor soak of 5 minutes per case)
#   scripts/bench.sh --quick    fast pass (30 s soak, shorter windows, criterion --quick)
#   scripts/bench.sh --quick --only demo --backends webgpu    any bench/run.mjs option passes on
#
# A missed budget never fails the command: it exits 0 unless the harness itself broke.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
export PATH="$HOME/.cargo/bin:$PWD/node_modules/.bin:$PATH"

echo "== build (release app, debug CLI)"
# One retry: another build writing dist/ at the same moment (tests run in parallel) makes Trunk's
# staging step fail once.
trunk build --release || { echo "bench: trunk build failed; retrying once"; sleep 5; trunk build --release; }
cargo build -p twinlens-cli
scripts/size.sh

echo "== benchmarks"
exec node bench/run.mjs "$@"
