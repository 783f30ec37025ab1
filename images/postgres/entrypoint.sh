#!/usr/bin/env bash
# The official postgres image's start-up contract, for what Airflow's manifests use: on an
# empty PGDATA, initdb with POSTGRES_USER (default postgres) and POSTGRES_PASSWORD (required;
# scram-sha-256 for every TCP client), create POSTGRES_DB (default: the user's name); then
# run the server in the foreground, listening on every address. A PGDATA that holds a
# cluster is used as it is.
set -o errexit -o nounset -o pipefail

main() {
  if [[ "${1:-}" != postgres ]]; then
    exec "$@"
  fi
  shift
  local user="${POSTGRES_USER:-postgres}" db="${POSTGRES_DB:-${POSTGRES_USER:-postgres}}"
  if [[ ! -s "$PGDATA/PG_VERSION" ]]; then
    [[ -n "${POSTGRES_PASSWORD:-}" ]] || {
      echo "error: expected POSTGRES_PASSWORD to be set for a new database, got nothing" >&2
      exit 64
    }
    mkdir -p "$PGDATA"
    chmod 700 "$PGDATA"
    local pwfile
    pwfile="$(mktemp)"
    printf '%s' "$POSTGRES_PASSWORD" >"$pwfile"
    initdb --username="$user" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 \
      --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pwfile"
    printf 'host all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
    if [[ "$db" != postgres ]]; then
      printf 'CREATE DATABASE "%s";\n' "${db//\"/\"\"}" |
        postgres --single -D "$PGDATA" -j postgres >/dev/null
    fi
    echo "postgres: initialised $PGDATA (user $user, database $db)"
  fi
  exec postgres -c listen_addresses='*' "$@"
}

main "$@"
