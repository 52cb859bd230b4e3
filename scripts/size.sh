#!/usr/bin/env bash
# Prints the transfer size of the built app (dist/): raw and gzip per file kind.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d dist ] || { echo "size: dist/ is missing; run trunk build --release first" >&2; exit 1; }
total_raw=0; total_gz=0
for f in dist/*.wasm dist/*.js; do
  [ -f "$f" ] || continue
  raw=$(stat -c %s "$f"); gz=$(gzip -9 -c "$f" | wc -c)
  total_raw=$((total_raw + raw)); total_gz=$((total_gz + gz))
  printf 'size: %-40s %9d bytes raw %9d bytes gzip\n' "$(basename "$f")" "$raw" "$gz"
done
printf 'size: %-40s %9d bytes raw %9d bytes gzip\n' "app (wasm + js)" "$total_raw" "$total_gz"
