#!/usr/bin/env bash
# Starts Debian's own PostgreSQL (installed with apt-get when missing) in a throw-away cluster on a
# loopback port, and prints its DATABASE_URL on the last line. SPEC §9 / issue #13: the projection,
# API and crash suites also run against a PostgreSQL that is not the embedded one.
#
#   url=$(bash .ci/debian-postgres.sh) && DATABASE_URL="$url" npx jest test/projections …
#   bash .ci/debian-postgres.sh stop
set -euo pipefail
dir=/tmp/subledger-ci-debian-pg
if [ "${1:-}" = stop ]; then
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  runuser -u postgres -- "$bin/pg_ctl" stop -D "$dir/data" -m fast >&2 || true
  exit 0
fi
if ! ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1; then
  echo "installing Debian's postgresql" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
fi
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
id -u postgres >/dev/null 2>&1 || useradd --system --user-group --no-create-home postgres
rm -rf "$dir"
mkdir -p "$dir"
chmod 755 "$dir"
chown postgres:postgres "$dir"
password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
echo "$password" > "$dir/pwfile"
chown postgres:postgres "$dir/pwfile"
runuser -u postgres -- "$bin/initdb" -D "$dir/data" -U postgres --pwfile="$dir/pwfile" --auth=scram-sha-256 \
  --encoding=UTF8 --locale=C >&2
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
runuser -u postgres -- "$bin/pg_ctl" start -w -D "$dir/data" -l "$dir/server.log" \
  -o "-p $port -h 127.0.0.1 -k $dir -c max_connections=300" >&2
"$bin/postgres" --version >&2
echo "postgres://postgres:$password@127.0.0.1:$port/postgres"
