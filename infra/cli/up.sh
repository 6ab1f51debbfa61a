#!/usr/bin/env bash
# npm run up [-- [--stack] <stack>] [--yes]: everything `pulumi up` needs, then `pulumi up` on
# the stack (default: local, the embedded default stack on this machine). --yes applies without
# asking (for scripts, CI, any run without a terminal).
set -euo pipefail
cd "$(dirname "$0")/../.."
usage="usage: npm run up -- [--stack] <stack> [--yes]   (default stack: local)"
bad() { echo "npm run up: $1" >&2; echo "$usage" >&2; exit 2; }
stack=""
yes=()
while [ $# -gt 0 ]; do
  case $1 in
    --stack) [ $# -ge 2 ] && [ -n "$2" ] && [ "${2#-}" = "$2" ] || bad "--stack needs a stack name"; set -- "$2" "${@:3}" ;;
    --stack=*) set -- "${1#--stack=}" "${@:2}" ;;
    --yes | -y) yes=(--yes); shift ;;
    -h | --help) echo "$usage"; exit 0 ;;
    -*) bad "unknown option $1" ;;
    *) [ -z "$stack" ] || bad "one stack only (got \"$stack\" and \"$1\")"; stack=$1; shift ;;
  esac
done
stack=${stack:-local}
[[ $stack =~ ^[A-Za-z0-9._-]+$ ]] || bad "\"$stack\" is not a stack name (letters, digits, . _ -)"
[ -f "stacks/Pulumi.$stack.yaml" ] || bad "no stack \"$stack\": stacks/Pulumi.$stack.yaml does not exist (copy stacks/Pulumi.dev.yaml and edit it)"
if [ ${#yes[@]} -eq 0 ] && ! [ -t 0 ]; then
  bad "no terminal to confirm the update on: pass --yes to apply after the preview without asking"
fi
echo "npm run up: stack $stack (stacks/Pulumi.$stack.yaml)${yes:+, applying without asking (--yes)}"

if ! npm ls --depth=0 >/dev/null 2>&1; then npm ci --no-audit --no-fund; fi
# The Pulumi CLI at the version pinned in package.json (installed into .pulumi-cli/ when missing).
pulumi_bin=$(bash infra/cli/pulumi-cli.sh)
pulumi() { "$pulumi_bin" "$@"; }

if [ "$stack" = local ]; then
  # The local stack runs everything here: a Docker engine and host nginx.
  source infra/cli/packages.sh
  need dockerd docker.io
  need nginx nginx
  install_needed "npm run up"
  if ! docker info >/dev/null 2>&1; then
    as_root systemctl start docker 2>/dev/null || (as_root dockerd >/tmp/dockerd.log 2>&1 &)
    for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  fi
  pgrep -x nginx >/dev/null || as_root nginx
fi

# Validate first: every problem at once, before Pulumi touches anything.
npm run --silent render -- --stack "$stack" --out ".render/$stack" >/dev/null

# A self-hosted state backend on this machine unless you are logged in elsewhere.
pulumi whoami >/dev/null 2>&1 || pulumi login --local
export PULUMI_CONFIG_PASSPHRASE=${PULUMI_CONFIG_PASSPHRASE-}
pulumi stack select --create "$stack"
if ! pulumi config get matrix:secretSeed >/dev/null 2>&1; then
  # Generated once and kept (encrypted) in stacks/Pulumi.$stack.yaml: every derived secret stays stable.
  pulumi config set --secret matrix:secretSeed "$(openssl rand -hex 32)"
fi
pulumi up --stack "$stack" "${yes[@]}"
