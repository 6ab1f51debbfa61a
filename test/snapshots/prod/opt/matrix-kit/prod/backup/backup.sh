#!/bin/bash
# Managed by matrix-kit (stack prod): a restic backup of the homeserver. Written by
# `pulumi up`, removed by `pulumi destroy`; run by cron (nightly), by `npm run backup`, before a
# destroy and before an image upgrade. Usage: backup.sh <reason> (nightly, manual, destroy, upgrade).
# What it saves: every database (pg_dump inside the PostgreSQL container, so it matches the
# server's version; the roles), the media store (remote media only when the stack asks), the
# bridges' data folders, the sticker packs and the watchdog's record; Synapse's server key is noted
# for the restore's check. Output: "backup: ..." lines and restic's JSON lines; the result goes
# to /opt/matrix-kit/prod/backup-state/last.json (read by npm run status and the watchdog).
set -euo pipefail
reason=${1:-manual}
started=$(date +%s)
status='/opt/matrix-kit/prod/backup-state/last.json'
stage='/opt/matrix-kit/prod/backup/stage'

# The result, for status and the watchdog: written on success and on failure alike.
result() {
  local ok=$1 error=${2:-} summary=${3:-null} snapshot=${4:-}
  error=$(printf '%s' "$error" | tr '\n\t' '  ' | sed 's/\\/\\\\/g; s/"/\\"/g' | cut -c1-600)
  mkdir -p "$(dirname "$status")"
  printf '{"ok":%s,"at":"%s","reason":"%s","seconds":%s,"snapshot":"%s","error":"%s","summary":%s}\n' \
    "$ok" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$reason" "$(($(date +%s) - started))" "$snapshot" "$error" "$summary" >"$status.tmp"
  mv -f "$status.tmp" "$status"
}
fail() {
  echo "backup: FAILED: $1" >&2
  result false "$1"
  exit 1
}
trap 'fail "the backup script stopped at line $LINENO"' ERR

# One backup at a time; a restore waits for it too.
exec 9>'/tmp/mx-prod-backup.lock'
flock -w 3600 9 || fail "another backup or restore still runs after an hour"
command -v restic >/dev/null || fail "restic is not installed on the VPS (Debian/Ubuntu: apt-get install restic)"

export RESTIC_REPOSITORY='sftp:restic@backup.example.net:/srv/restic/matrix-prod'
export RESTIC_PASSWORD_FILE='/opt/matrix-kit/prod/backup/password'
export RESTIC_CACHE_DIR='/opt/matrix-kit/prod/backup/cache'
# Progress lines every 10 s when not on a terminal (npm run backup shows them).
export RESTIC_PROGRESS_FPS=0.1

echo "backup: repository $RESTIC_REPOSITORY ($reason)"
if ! out=$(restic cat config 2>&1 >/dev/null); then
  if grep -q "Is there a repository at the following location" <<<"$out"; then
    echo "backup: no repository there yet: initialising it (encrypted with the stack's derived backup password)"
    restic init >/dev/null 2>&1 || fail "restic could not create the repository: $(restic init 2>&1 | tail -n 3)"
  else
    fail "restic cannot open the repository: $(tail -n 3 <<<"$out")"
  fi
fi

rm -rf "$stage"
mkdir -p "$stage/databases"
echo "backup: dumping the databases inside mx-prod-postgres"
docker exec 'mx-prod-postgres' pg_dumpall -U 'synapse' --roles-only >"$stage/databases/roles.sql" || fail "pg_dumpall --roles-only failed"
# Uncompressed custom format: restic compresses and deduplicates it across nights.
docker exec 'mx-prod-postgres' pg_dump -U 'synapse' -Fc -Z0 -d 'synapse' >"$stage/databases/synapse.dump" || fail "pg_dump of synapse failed"
echo "backup:   synapse: $(du -h "$stage/databases/synapse.dump" | cut -f1)"
docker exec 'mx-prod-postgres' pg_dump -U 'synapse' -Fc -Z0 -d 'qqbridge' >"$stage/databases/qqbridge.dump" || fail "pg_dump of qqbridge failed"
echo "backup:   qqbridge: $(du -h "$stage/databases/qqbridge.dump" | cut -f1)"
docker exec 'mx-prod-postgres' pg_dump -U 'synapse' -Fc -Z0 -d 'wechatbridge' >"$stage/databases/wechatbridge.dump" || fail "pg_dump of wechatbridge failed"
echo "backup:   wechatbridge: $(du -h "$stage/databases/wechatbridge.dump" | cut -f1)"
# Synapse's server key as clients and servers see it: the restore checks it is unchanged.
docker exec 'mx-prod-synapse' python -c 'import json, sys
from signedjson.key import read_signing_keys, get_verify_key, encode_verify_key_base64
keys = read_signing_keys(open("/config/signing.key"))
vk = {"%s:%s" % (k.alg, k.version): {"key": encode_verify_key_base64(get_verify_key(k))} for k in keys}
sys.stdout.write(json.dumps({"verify_keys": vk}, separators=(",", ":"), sort_keys=True))' >"$stage/server-key.json" \
  || fail "could not read Synapse's server key (is it running?)"

# Each volume by name, with where it is on this host (a new VPS may keep them elsewhere).
paths=("$stage")
: >"$stage/volumes.txt"
mp=$(docker volume inspect -f '{{.Mountpoint}}' 'mx-prod-synapse-data') || fail "the volume mx-prod-synapse-data does not exist"
echo "mx-prod-synapse-data $mp" >>"$stage/volumes.txt"
paths+=("$mp")
if [ -d '/opt/matrix-kit/prod/stickers/packs' ]; then paths+=('/opt/matrix-kit/prod/stickers/packs'); fi
if [ -d '/opt/matrix-kit/prod/watchdog-state' ]; then paths+=('/opt/matrix-kit/prod/watchdog-state'); fi
if [ -d '/opt/matrix-kit/prod/qq' ]; then paths+=('/opt/matrix-kit/prod/qq'); fi
if [ -d '/opt/matrix-kit/prod/wechat' ]; then paths+=('/opt/matrix-kit/prod/wechat'); fi
excludes=()
excludes+=(--exclude 'media_store/remote_content')
excludes+=(--exclude 'media_store/remote_thumbnail')
excludes+=(--exclude 'media_store/url_cache')
excludes+=(--exclude 'media_store/url_cache_thumbnails')
excludes+=(--exclude '/opt/matrix-kit/prod/qq/config.yaml')
excludes+=(--exclude '/opt/matrix-kit/prod/qq/registration.yaml')
excludes+=(--exclude '/opt/matrix-kit/prod/wechat/config.yaml')
excludes+=(--exclude '/opt/matrix-kit/prod/wechat/registration.yaml')

echo "backup: saving ${#paths[@]} paths with restic"
restic backup --json --host 'mx-prod' --tag matrix-kit --tag "reason=$reason" "${excludes[@]}" "${paths[@]}" | tee "$stage/restic.jsonl" \
  || fail "restic backup failed: $(grep -v '"message_type":"status"' "$stage/restic.jsonl" | tail -n 3)"
summary=$(grep '"message_type":"summary"' "$stage/restic.jsonl" | tail -n 1)
[ -n "$summary" ] || fail "restic backup printed no summary"
snapshot=$(sed -n 's/.*"snapshot_id":"\([0-9a-f]*\)".*/\1/p' <<<"$summary")

if [ "$reason" = nightly ]; then
  echo "backup: forgetting snapshots beyond 7 daily, 4 weekly, 6 monthly"
  restic forget --host 'mx-prod' --tag matrix-kit --keep-daily 7 --keep-weekly 4 --keep-monthly 6 --prune >/dev/null \
    || fail "restic forget --prune failed"
fi
echo "backup: checking the repository (restic check)"
check=$(restic check 2>&1) || fail "restic check failed: $(tail -n 3 <<<"$check")"
rm -rf "$stage"
result true "" "$summary" "$snapshot"
echo "backup: done: snapshot $snapshot in $(($(date +%s) - started)) s"
