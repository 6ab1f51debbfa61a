#!/usr/bin/env bash
# The official postgres image's docker-entrypoint.sh, cut down to what the kit relies on:
#   POSTGRES_USER (default postgres) becomes the superuser role, with POSTGRES_PASSWORD;
#   POSTGRES_DB (default: the user) is created unless it is "postgres";
#   POSTGRES_INITDB_ARGS go to initdb; POSTGRES_HOST_AUTH_METHOD (default scram-sha-256) is the
#   pg_hba method for TCP; /docker-entrypoint-initdb.d/*.sql|*.sh run once after initdb.
#   Each of POSTGRES_PASSWORD, _USER, _DB, _INITDB_ARGS may come from a file named by <VAR>_FILE
#   (the kit passes the password so), read as upstream's file_env does.
# Socket connections inside the container are trusted (initdb's default), so
# `docker exec c psql -U <user>` works without a password, as with the official image.
set -Eeuo pipefail

# `docker run image -c x=y` means `postgres -c x=y`.
if [[ ${1:-} == -* ]]; then set -- postgres "$@"; fi
# Any other command (bash, psql, ...) runs as given.
if [[ ${1:-} != postgres ]]; then exec "$@"; fi

# Upstream's file_env: VAR from the file named by VAR_FILE (both set is an error), exported for
# what follows, VAR_FILE unset. Runs before gosu, so root reads a file only postgres may read.
file_env() {
  local var=$1 file_var="${1}_FILE" val=${2:-}
  if [[ ${!var:-} && ${!file_var:-} ]]; then
    echo "entrypoint: both $var and $file_var are set (but are exclusive)" >&2
    exit 1
  fi
  if [[ ${!var:-} ]]; then
    val=${!var}
  elif [[ ${!file_var:-} ]]; then
    val=$(<"${!file_var}")
  fi
  export "$var"="$val"
  unset "$file_var"
}
file_env POSTGRES_PASSWORD
file_env POSTGRES_USER postgres
file_env POSTGRES_DB "$POSTGRES_USER"
file_env POSTGRES_INITDB_ARGS

if [[ $(id -u) == 0 ]]; then
  # A fresh named volume is root-owned: give it to postgres, then drop root.
  mkdir -p "$PGDATA"
  find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' +
  chmod 700 "$PGDATA"
  install -d -o postgres -g postgres -m 3777 /var/run/postgresql
  exec gosu postgres "${BASH_SOURCE[0]}" "$@"
fi

if [[ -s $PGDATA/PG_VERSION ]]; then
  echo "entrypoint: $PGDATA already holds a database; skipping initialization"
  exec "$@"
fi

if [[ -z ${POSTGRES_PASSWORD:-} && ${POSTGRES_HOST_AUTH_METHOD:-} != trust ]]; then
  echo "entrypoint: the database is uninitialized and POSTGRES_PASSWORD is not set (or empty)" >&2
  exit 1
fi

echo "entrypoint: initdb in $PGDATA, superuser '$POSTGRES_USER'"
# eval, as upstream does, so quoting inside POSTGRES_INITDB_ARGS is honoured.
eval 'initdb --username="$POSTGRES_USER" --pwfile=<(printf "%s\n" "${POSTGRES_PASSWORD:-}") '"${POSTGRES_INITDB_ARGS:-}"
printf '\nhost all all all %s\n' "${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}" >>"$PGDATA/pg_hba.conf"

shopt -s nullglob
scripts=(/docker-entrypoint-initdb.d/*)
if [[ $POSTGRES_DB != postgres || ${#scripts[@]} -gt 0 ]]; then
  # A socket-only server for the one-time set-up; nothing outside can connect to it yet.
  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start
  psql=(psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc)
  if [[ $POSTGRES_DB != postgres ]]; then
    echo "entrypoint: creating database '$POSTGRES_DB'"
    "${psql[@]}" --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
  fi
  for f in "${scripts[@]}"; do
    case $f in
      *.sh) echo "entrypoint: running $f"; if [[ -x $f ]]; then "$f"; else . "$f"; fi ;;
      *.sql) echo "entrypoint: running $f"; "${psql[@]}" --dbname "$POSTGRES_DB" -f "$f" ;;
      *) echo "entrypoint: ignoring $f" ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w stop
fi
echo "entrypoint: initialization done; starting $*"
exec "$@"
