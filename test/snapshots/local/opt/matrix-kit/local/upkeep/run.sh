#!/bin/bash
# Managed by matrix-kit (stack local): one run of the upkeep job. cron starts it on the
# stack's schedule (--scheduled); run it by hand the same way. Arguments go to upkeep.py.
# Written by `pulumi up`, removed by `pulumi destroy`.
set -euo pipefail
# One run at a time: a run by hand waits for a scheduled one, and the other way round.
exec 9>'/tmp/mx-local-upkeep.lock'
flock -w 3600 9
mkdir -p '/opt/matrix-kit/local/upkeep/cache'
{
  echo "== $(date -u +%Y-%m-%dT%H:%M:%SZ) upkeep run ($*)"
  # A leftover of a run the host's reboot cut short would hold the name.
  docker rm -f 'mx-local-upkeep' >/dev/null 2>&1 || true
  # A throwaway container of the Synapse image on the private network; the Synapse volume is
  # mounted read-only (the media store is measured, never written: deletions go through Synapse).
  docker run --rm --name 'mx-local-upkeep' --network 'mx-local-net' \
    --memory 192m --memory-swap 192m \
    --cpus 0.37 --cpu-shares 32 \
    --entrypoint python \
    -v '/opt/matrix-kit/local/upkeep':/upkeep:ro -v '/opt/matrix-kit/local/upkeep/cache':/upkeep-cache \
    -v 'mx-local-synapse-data':/data:ro -v '/opt/matrix-kit/local/admin':/kit-admin \
    'matrixdotorg/synapse:v1.163.2' -u /upkeep/upkeep.py /upkeep/config.json "$@"
} 2>&1 | tee -a '/var/log/mx-local-upkeep.log'
