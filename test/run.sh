#!/usr/bin/env bash
# The whole test suite, set-up included, on a fresh Debian 12 machine (root):
# unit tests under Pulumi mocks, render snapshots, real validators (nginx,
# Synapse's config loader, workerd), then the end-to-end deployment when present.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== setup: node packages"
if ! npm ls --depth=0 >/dev/null 2>&1; then npm ci --no-audit --no-fund; fi
echo "== setup: validators"
bash test/setup/validators.sh

echo "== typecheck"
npx tsc --noEmit -p .

echo "== unit, snapshot and validator tests"
node --import tsx --import ./test/harness/missing-program.ts --test --test-concurrency=1 test/unit/*.test.ts test/render/*.test.ts

echo "== bridge stand-in (Go) tests"
(cd test/e2e/bridge-standin && go test ./...)

if [ -f test/e2e/run.sh ] && [ "${SKIP_E2E:-0}" != "1" ]; then
  echo "== end-to-end"
  bash test/e2e/run.sh
fi
