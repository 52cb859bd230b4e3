#!/usr/bin/env bash
# Every test: installs what is missing, runs the host tests (core, shaders, model loader, CLI),
# builds the release app and runs the browser tests in headless Chromium against it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
export PATH="$HOME/.cargo/bin:$PWD/node_modules/.bin:$PATH"

# Vulkan loaders warn without a runtime directory (the renderer tests run headless on lavapipe).
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"

echo "== format and lints (host and wasm32)"
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy --lib --target wasm32-unknown-unknown -- -D warnings

echo "== host tests"
cargo test --workspace

echo "== build (release app, debug CLI)"
trunk build --release
cargo build -p twinlens-cli
scripts/size.sh

echo "== browser tests (headless Chromium)"
TWINLENS_BIN=target/debug/twinlens TWINLENS_DIST=dist npm run --silent test:browser
