#!/usr/bin/env bash
# Prints the path of the Pulumi CLI `npm run up` uses, installing it first when needed.
# The version is pinned in package.json (config.pulumiCli), next to the SDK versions.
# Order: the kit's own copy in .pulumi-cli/ at the pinned version, else a `pulumi` on
# PATH (a warning when its version differs), else Pulumi's official installer
# (get.pulumi.com) puts the pinned version into .pulumi-cli/. Without a network path
# to get.pulumi.com it stops with one line that says what to do.
set -euo pipefail
cd "$(dirname "$0")/../.."
want=$(node -p 'require("./package.json").config.pulumiCli')
dest=${PULUMI_CLI_DIR:-$PWD/.pulumi-cli}
installer_url=${PULUMI_INSTALLER_URL:-https://get.pulumi.com}

version_of() { "$1" version 2>/dev/null | sed 's/^v//'; }

if [ -x "$dest/bin/pulumi" ] && [ "$(version_of "$dest/bin/pulumi")" = "$want" ]; then
  echo "$dest/bin/pulumi"
  exit 0
fi
if command -v pulumi >/dev/null; then
  have=$(version_of pulumi || true)
  [ "$have" = "$want" ] || echo "npm run up: using the Pulumi CLI on PATH ($have); the kit is tested with $want" >&2
  command -v pulumi
  exit 0
fi
if ! command -v curl >/dev/null; then
  echo "npm run up: the Pulumi CLI $want is not installed and curl, which downloads Pulumi's installer, is missing: install curl (apt-get install curl) or the Pulumi CLI (https://www.pulumi.com/docs/install/), then run npm run up again." >&2
  exit 1
fi
echo "npm run up: installing the Pulumi CLI $want into .pulumi-cli/ with Pulumi's installer ($installer_url)" >&2
if ! script=$(curl -fsSL --connect-timeout 15 --max-time 60 "$installer_url" 2>/dev/null) ||
  ! sh -c "$script" -s --version "$want" --install-root "$dest" --no-edit-path >&2 ||
  [ ! -x "$dest/bin/pulumi" ]; then
  echo "npm run up: the Pulumi CLI $want is not installed and could not be downloaded from $installer_url: install it (https://www.pulumi.com/docs/install/) or put a copy on PATH, then run npm run up again." >&2
  exit 1
fi
echo "$dest/bin/pulumi"
