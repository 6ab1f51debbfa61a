#!/usr/bin/env bash
# npm run e2e: this machine plays the VPS. Installs and starts what it needs
# (Docker engine, sshd on 127.0.0.1:2222 with a key made for the run, host
# nginx), builds the images the e2e stack names, runs test/e2e/e2e.test.ts,
# prints the summary, and stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/../.."
source test/e2e/vps.sh

echo "e2e: building images (first pass: cold unless cached)"
t0=$(date +%s.%N)
vps_build_images
t1=$(date +%s.%N)
echo "e2e: building images again (warm)"
vps_build_images >/dev/null 2>&1
t2=$(date +%s.%N)

KIT_SETUP_SCRIPT=test/e2e/vps.sh node --import tsx --import ./test/harness/missing-program.ts --test --test-concurrency=1 test/e2e/e2e.test.ts

# The footprint benchmark's short mode: both deployments and the workload, small, so that
# `npm run bench:footprint` keeps working. Its figures say little; the full run's are in the README.
echo "e2e: bench:footprint --short"
node --import tsx bench/footprint/main.ts --short --out "$E2E_DIR/bench" >"$E2E_DIR/bench.log" 2>&1 || {
  cat "$E2E_DIR/bench.log"
  exit 1
}

echo
echo "== e2e summary"
awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN { printf "image build, first pass: %.1f s\nimage build, warm: %.1f s\n", b - a, c - b }'
cat "$E2E_SUMMARY"
sed -n '/^== footprint/,$p' "$E2E_DIR/bench.log"
