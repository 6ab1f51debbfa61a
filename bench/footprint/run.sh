#!/usr/bin/env bash
# npm run bench:footprint [-- --short] [--out <dir>] [--only baseline|kit]
# Sets this machine up as the VPS exactly as the e2e run does (test/e2e/vps.sh: Docker
# engine, sshd, nginx, the locally built images), then runs bench/footprint/main.ts.
set -euo pipefail
cd "$(dirname "$0")/../.."
source test/e2e/vps.sh
vps_build_images >/dev/null 2>&1 || vps_build_images
node --import tsx bench/footprint/main.ts "$@"
