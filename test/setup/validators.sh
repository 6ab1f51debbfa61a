#!/usr/bin/env bash
# Installs what test/render/validators.test.ts runs for real, on a fresh Debian 12
# machine where we are root. Idempotent: installs only what is missing or stale.
#   - nginx (Debian's package), for `nginx -t` and a real server on loopback
#   - HAProxy (Debian's package), for `haproxy -c` and a real proxy before stand-in servers
#   - unshare and mount (util-linux), openssl: to show files at /config, /data and
#     /etc/ssl/cloudflare inside a private mount namespace, never on the real disk
#   - a virtualenv with Synapse from PyPI, whose own config loader reads homeserver.yaml
#   - PostgreSQL 15's binaries (Debian's, the e2e image's version), for the private clusters
#     test/unit/postgres-roles.test.ts runs under /tmp; no system cluster is created or run
set -euo pipefail

SYNAPSE_VERSION=1.163.2
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
VENV="$ROOT/.cache/synapse-venv"

say() { echo "validators setup: $*"; }

source "$ROOT/infra/cli/packages.sh"
need nginx nginx
need unshare util-linux
need mount mount
need openssl openssl
# npm run up's CLI step downloads Pulumi's installer with curl (test/unit/pulumi-cli.test.ts).
need curl curl
need python3 python3
# The render tests check the bridges' queue and the Docker filter with a real HAProxy:
# Debian 12's 2.6, the e2e image's too (test/e2e/images/haproxy); README (Tests) says how
# close it is to the image the kit deploys.
need haproxy haproxy
# The backup repository check pulumi up runs on the VPS, run here against real repositories.
need restic restic
# Debian's python3 has no venv module until python3-venv is installed.
if command -v python3 >/dev/null 2>&1 && ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  needed_packages+=(python3-venv)
fi
if [ "${#needed_packages[@]}" -gt 0 ]; then
  install_needed "validators setup" --no-install-recommends
else
  say "nginx, unshare, mount, openssl, curl, haproxy and python3 with venv are present"
fi
say "$(nginx -v 2>&1); $(haproxy -v 2>&1 | sed -n 1p)"

installed=""
if [ -x "$VENV/bin/python" ]; then
  installed="$("$VENV/bin/python" -c 'from importlib.metadata import version; print(version("matrix-synapse"))' 2>/dev/null || true)"
fi
if [ "$installed" = "$SYNAPSE_VERSION" ]; then
  say "matrix-synapse $SYNAPSE_VERSION already in $VENV"
else
  say "creating $VENV with matrix-synapse==$SYNAPSE_VERSION (found: ${installed:-none})"
  rm -rf "$VENV"
  mkdir -p "$(dirname "$VENV")"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "matrix-synapse==$SYNAPSE_VERSION"
fi
if [ -x /usr/lib/postgresql/15/bin/initdb ]; then
  say "PostgreSQL 15's binaries are present"
else
  say "installing postgresql-15 without its system cluster (the tests run their own under /tmp)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends postgresql-common
  sed -ri 's/#?(create_main_cluster) .*$/\1 = false/' /etc/postgresql-common/createcluster.conf
  apt-get install -y --no-install-recommends postgresql-15
fi

# Proves the install works: the import the test's helper makes.
"$VENV/bin/python" -c 'import synapse.config.homeserver; from importlib.metadata import version; print("validators setup: matrix-synapse", version("matrix-synapse"), "imports")'
