#!/usr/bin/env bash
# npm run bench:peak [-- --short] [--reps n] [--idle-minutes m] ... (see bench/peak/main.ts)
# This machine as the VPS, as the footprint benchmark and the e2e set it up (test/e2e/vps.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
source test/e2e/vps.sh
vps_build_images >/dev/null 2>&1 || vps_build_images
node --import tsx bench/peak/main.ts "$@"
