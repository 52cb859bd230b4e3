#!/usr/bin/env bash
# The main job: install what is missing, build the app (release, size-optimised) and serve the
# demo twin. PORT (default 8080) and HOST (default 127.0.0.1; 0.0.0.0 for other devices) apply.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PWD/node_modules/.bin:$PATH"

trunk build --release
cargo build -p twinlens-cli
scripts/size.sh
exec target/debug/twinlens serve --dir dist --host "${HOST:-127.0.0.1}" --port "${PORT:-8080}"
