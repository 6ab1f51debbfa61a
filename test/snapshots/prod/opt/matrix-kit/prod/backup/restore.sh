#!/bin/bash
# Managed by matrix-kit (stack prod): restores a backup (backup.sh beside it) onto this
# deployment, typically a new VPS after `pulumi up`. Usage: restore.sh <snapshot id|latest> [--force],
# or restore.sh --list (the snapshots).
# Refuses (exit 3) when Synapse's database or the volumes already hold data, naming them, unless
# --force. Stops the watchdog, the bridges and Synapse; loads each database (pg_restore --create,
# so each keeps its encoding and collation; then owned by its service's role), the Synapse volume,
# the bridges' files and the kit's folders; starts them again;
# checks that Synapse is healthy and its server key is the one backed up. Written by `pulumi up`.
set -euo pipefail
snapshot=${1:-latest}
force=${2:-}
work='/opt/matrix-kit/prod/backup/restore-work'
trap 'echo "restore: FAILED at line $LINENO" >&2' ERR

command -v restic >/dev/null || { echo "restore: restic is not installed on the VPS (Debian/Ubuntu: apt-get install restic)" >&2; exit 1; }
export RESTIC_REPOSITORY='sftp:restic@backup.example.net:/srv/restic/matrix-prod'
export RESTIC_PASSWORD_FILE='/opt/matrix-kit/prod/backup/password'
export RESTIC_CACHE_DIR='/opt/matrix-kit/prod/backup/cache'
if [ "$snapshot" = --list ]; then
  exec restic snapshots --host 'mx-prod' --compact
fi

exec 9>'/tmp/mx-prod-backup.lock'
flock -w 3600 9
# No upkeep run while the databases are replaced.
exec 8>'/tmp/mx-prod-upkeep.lock'
flock -w 3600 8

rm -rf "$work"
mkdir -p "$work"
echo "restore: reading snapshot $snapshot from $RESTIC_REPOSITORY"
restic restore "$snapshot" --host 'mx-prod' --target "$work" >/dev/null
stage="$work"'/opt/matrix-kit/prod/backup/stage'
[ -f "$stage/volumes.txt" ] || { echo "restore: snapshot $snapshot is not a matrix-kit backup (no $stage/volumes.txt)" >&2; exit 1; }

# The same stack secret gives the same server key: checked before anything is changed (the
# databases hold secrets derived from it, and the server key is the homeserver's identity).
key() { sed -n 's/.*"verify_keys":{\([^}]*}\).*/\1/p'; }
server_key() { docker exec 'mx-prod-synapse' python -c 'import json, sys
from signedjson.key import read_signing_keys, get_verify_key, encode_verify_key_base64
keys = read_signing_keys(open("/config/signing.key"))
vk = {"%s:%s" % (k.alg, k.version): {"key": encode_verify_key_base64(get_verify_key(k))} for k in keys}
sys.stdout.write(json.dumps({"verify_keys": vk}, separators=(",", ":"), sort_keys=True))' | key; }
was=$(key <"$stage/server-key.json")
now=$(server_key || true)
if [ -z "$now" ] || [ "$now" != "$was" ]; then
  echo "restore: refusing: this deployment's server key ($now) is not the backed-up one ($was): restore with the stack whose matrix:secretSeed made the backup, after pulumi up, with Synapse running" >&2
  rm -rf "$work"
  exit 3
fi

# What a new deployment makes by itself is not data to protect: the rooms the watchdog makes (its
# account data lists them), other servers' media cached here (a bridge bot's avatar fetched on its
# first start) and URL previews. Anything else is the owner's, and is named.
held=()
# A count that fails is no proof of an empty database: it is named too, and refused.
if ! events=$(docker exec 'mx-prod-postgres' psql -U 'synapse' -d 'synapse' -Atc 'SELECT count(*) FROM events WHERE room_id NOT IN (SELECT value FROM account_data, json_each_text(content::json) WHERE user_id = '\''@kit-watchdog:example.com'\'' AND account_data_type = '\''org.matrix-kit.watchdog.rooms'\'')' 2>&1); then
  held+=("database synapse (its events could not be counted: ${events%%$'\n'*})")
elif [ "$events" != 0 ]; then
  held+=("database synapse ($events events outside the kit's own rooms)")
fi
while read -r name _; do
  mp=$(docker volume inspect -f '{{.Mountpoint}}' "$name")
  found=$(cd "$mp" && find . -type f ! -path './media_store/remote_content/*' ! -path './media_store/remote_thumbnail/*' ! -path './media_store/url_cache/*' ! -path './media_store/url_cache_thumbnails/*' | head -n 1000)
  [ -n "$found" ] || continue
  # By the folder two levels down: "2 in media_store/local_content".
  where=$(printf '%s\n' "$found" | cut -d/ -f2-3 | sort | uniq -c | awk '{ printf "%s%s in %s", (NR > 1 ? ", " : ""), $1, $2 }')
  held+=("volume $name ($(printf '%s\n' "$found" | wc -l) files: $where)")
done <"$stage/volumes.txt"
if [ ${#held[@]} -gt 0 ] && [ "$force" != --force ]; then
  printf -v list '%s, ' "${held[@]}"
  echo "restore: refusing to overwrite data: ${list%, }. Restore onto an empty deployment, or pass --force to replace it." >&2
  rm -rf "$work"
  exit 3
fi

echo "restore: stopping the watchdog, the bridges and Synapse"
docker stop -t 60 'mx-prod-watchdog' 'mx-prod-qq' 'mx-prod-wechat' 'mx-prod-synapse' >/dev/null 2>&1 || true

echo "restore: loading the databases"
docker exec -i 'mx-prod-postgres' psql -q -U 'synapse' -d postgres <"$stage/databases/roles.sql" >/dev/null 2>&1 || true
for dump in "$stage"/databases/*.dump; do
  db=$(basename "$dump" .dump)
  docker exec 'mx-prod-postgres' psql -q -v ON_ERROR_STOP=1 -U 'synapse' -d postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)"
  docker exec -i 'mx-prod-postgres' pg_restore -U 'synapse' --create --exit-on-error -d postgres <"$dump"
  echo "restore:   $db"
done
# Each database and everything in it back to its service's role, PUBLIC kept out: a backup made
# before each service had its own role has the superuser owning all (render/postgres.ts; the roles exist since pulumi up).
docker exec -i 'mx-prod-postgres' psql -q -v ON_ERROR_STOP=1 -U 'synapse' -d postgres >/dev/null <<'KIT_SQL'
SELECT 'CREATE DATABASE synapse OWNER homeserver ENCODING ''UTF8'' LC_COLLATE ''C'' LC_CTYPE ''C'' TEMPLATE template0' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'synapse')\gexec
ALTER DATABASE synapse OWNER TO homeserver;
SELECT 'CREATE DATABASE qqbridge OWNER qqbridge ENCODING ''UTF8'' TEMPLATE template0' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'qqbridge')\gexec
ALTER DATABASE qqbridge OWNER TO qqbridge;
SELECT 'CREATE DATABASE wechatbridge OWNER wechatbridge ENCODING ''UTF8'' TEMPLATE template0' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'wechatbridge')\gexec
ALTER DATABASE wechatbridge OWNER TO wechatbridge;
REVOKE ALL ON DATABASE synapse FROM PUBLIC;
REVOKE ALL ON DATABASE qqbridge FROM PUBLIC;
REVOKE ALL ON DATABASE wechatbridge FROM PUBLIC;
REVOKE ALL ON DATABASE postgres FROM PUBLIC;
REVOKE ALL ON DATABASE template1 FROM PUBLIC;
\connect synapse
SELECT format('ALTER SCHEMA public OWNER TO %I', 'homeserver') FROM pg_namespace WHERE nspname = 'public' AND pg_get_userbyid(nspowner) NOT IN ('homeserver', 'pg_database_owner')\gexec
SELECT format('ALTER %s %s OWNER TO %I', CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, c.oid::regclass, 'homeserver') FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') AND c.relowner <> 'homeserver'::regrole AND NOT EXISTS (SELECT FROM pg_depend d WHERE c.relkind = 'S' AND d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i'))\gexec
SELECT format('ALTER %s %s OWNER TO %I', CASE p.prokind WHEN 'a' THEN 'AGGREGATE' WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, p.oid::regprocedure, 'homeserver') FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace AND p.proowner <> 'homeserver'::regrole\gexec
SELECT format('ALTER %s %s OWNER TO %I', CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, t.oid::regtype, 'homeserver') FROM pg_type t WHERE t.typnamespace = 'public'::regnamespace AND t.typtype IN ('c', 'd', 'e', 'r') AND t.typowner <> 'homeserver'::regrole AND (t.typrelid = 0 OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')\gexec
\connect qqbridge
SELECT format('ALTER SCHEMA public OWNER TO %I', 'qqbridge') FROM pg_namespace WHERE nspname = 'public' AND pg_get_userbyid(nspowner) NOT IN ('qqbridge', 'pg_database_owner')\gexec
SELECT format('ALTER %s %s OWNER TO %I', CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, c.oid::regclass, 'qqbridge') FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') AND c.relowner <> 'qqbridge'::regrole AND NOT EXISTS (SELECT FROM pg_depend d WHERE c.relkind = 'S' AND d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i'))\gexec
SELECT format('ALTER %s %s OWNER TO %I', CASE p.prokind WHEN 'a' THEN 'AGGREGATE' WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, p.oid::regprocedure, 'qqbridge') FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace AND p.proowner <> 'qqbridge'::regrole\gexec
SELECT format('ALTER %s %s OWNER TO %I', CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, t.oid::regtype, 'qqbridge') FROM pg_type t WHERE t.typnamespace = 'public'::regnamespace AND t.typtype IN ('c', 'd', 'e', 'r') AND t.typowner <> 'qqbridge'::regrole AND (t.typrelid = 0 OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')\gexec
\connect wechatbridge
SELECT format('ALTER SCHEMA public OWNER TO %I', 'wechatbridge') FROM pg_namespace WHERE nspname = 'public' AND pg_get_userbyid(nspowner) NOT IN ('wechatbridge', 'pg_database_owner')\gexec
SELECT format('ALTER %s %s OWNER TO %I', CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, c.oid::regclass, 'wechatbridge') FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') AND c.relowner <> 'wechatbridge'::regrole AND NOT EXISTS (SELECT FROM pg_depend d WHERE c.relkind = 'S' AND d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i'))\gexec
SELECT format('ALTER %s %s OWNER TO %I', CASE p.prokind WHEN 'a' THEN 'AGGREGATE' WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, p.oid::regprocedure, 'wechatbridge') FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace AND p.proowner <> 'wechatbridge'::regrole\gexec
SELECT format('ALTER %s %s OWNER TO %I', CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, t.oid::regtype, 'wechatbridge') FROM pg_type t WHERE t.typnamespace = 'public'::regnamespace AND t.typtype IN ('c', 'd', 'e', 'r') AND t.typowner <> 'wechatbridge'::regrole AND (t.typrelid = 0 OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')\gexec
KIT_SQL

echo "restore: loading the volumes and the kit's folders"
while read -r name old; do
  mp=$(docker volume inspect -f '{{.Mountpoint}}' "$name")
  find "$mp" -mindepth 1 -delete
  cp -a "$work$old/." "$mp/"
  echo "restore:   volume $name: $(du -sh "$mp" | cut -f1)"
done <"$stage/volumes.txt"
# The bridge's own files, beside the config and registration pulumi up rendered.
if [ -d "$work"'/opt/matrix-kit/prod/qq' ]; then
  cp -a "$work"'/opt/matrix-kit/prod/qq'/. '/opt/matrix-kit/prod/qq'/
  echo "restore:   /opt/matrix-kit/prod/qq"
fi
# The bridge's own files, beside the config and registration pulumi up rendered.
if [ -d "$work"'/opt/matrix-kit/prod/wechat' ]; then
  cp -a "$work"'/opt/matrix-kit/prod/wechat'/. '/opt/matrix-kit/prod/wechat'/
  echo "restore:   /opt/matrix-kit/prod/wechat"
fi
if [ -d "$work"'/opt/matrix-kit/prod/stickers/packs' ]; then
  rm -rf '/opt/matrix-kit/prod/stickers/packs'
  mkdir -p "$(dirname '/opt/matrix-kit/prod/stickers/packs')"
  cp -a "$work"'/opt/matrix-kit/prod/stickers/packs' '/opt/matrix-kit/prod/stickers/packs'
  echo "restore:   /opt/matrix-kit/prod/stickers/packs"
fi
if [ -d "$work"'/opt/matrix-kit/prod/watchdog-state' ]; then
  rm -rf '/opt/matrix-kit/prod/watchdog-state'
  mkdir -p "$(dirname '/opt/matrix-kit/prod/watchdog-state')"
  cp -a "$work"'/opt/matrix-kit/prod/watchdog-state' '/opt/matrix-kit/prod/watchdog-state'
  echo "restore:   /opt/matrix-kit/prod/watchdog-state"
fi

echo "restore: starting Synapse"
docker start 'mx-prod-synapse' >/dev/null
# healthy_now "<Docker's health status> <state>" <container> <its health check's command...>:
# whether the container is healthy now, and by whose check ($healthy_by). While Docker still says
# starting, the kit runs the container's own health check itself: an engine older than 25 runs
# the first one a whole interval (a minute) after the start (infra/render/healthcheck.ts).
healthy_now() {
  case "$1" in
    "healthy running") healthy_by="Docker's health check"; return 0 ;;
    "starting running") ;;
    *) return 1 ;;
  esac
  shift
  timeout 10 docker exec "$@" >/dev/null 2>&1 || return 1
  healthy_by="its health check, run by the kit"
}
started=$(date +%s)
until healthy_now "$(docker inspect -f '{{.State.Health.Status}} {{.State.Status}}' 'mx-prod-synapse')" 'mx-prod-synapse' 'curl' '-fSs' 'http://localhost:8008/health'; do
  [ "$(($(date +%s) - started))" -lt 300 ] || { echo "restore: Synapse is not healthy after 300 s: $(docker logs --tail 5 'mx-prod-synapse' 2>&1)" >&2; exit 1; }
  sleep 1
done
echo "restore: Synapse is healthy after $(($(date +%s) - started)) s ($healthy_by)"
now=$(server_key || true)
if [ -z "$now" ] || [ "$now" != "$was" ]; then
  echo "restore: Synapse's server key changed: backed up $was, now $now (is matrix:secretSeed the stack's own?)" >&2
  exit 1
fi
echo "restore: Synapse is healthy; its server key is the one backed up"
docker start 'mx-prod-qq' >/dev/null
docker start 'mx-prod-wechat' >/dev/null
docker start 'mx-prod-watchdog' >/dev/null
rm -rf "$work"
echo "restore: snapshot $snapshot restored; started mx-prod-qq mx-prod-wechat mx-prod-watchdog "
