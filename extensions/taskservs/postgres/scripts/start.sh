#!/bin/sh
# Ensure the cluster runs, then converge roles and databases: the postgres role's password from
# settings.password, or none when unset (read from $PROV_SETTINGS, sent to psql on stdin, never on a command line)
# and every database of settings.databases that is missing. Idempotent.
set -eu
pg_major() {
  v="{{ settings.version }}"
  if [ -z "$v" ]; then
    for bin in /usr/lib/postgresql/*/bin/postgres; do
      [ -x "$bin" ] && v=$(basename "$(dirname "$(dirname "$bin")")")
    done
  fi
  echo "$v"
}
V=$(pg_major)
if [ -d /run/systemd/system ]; then
  systemctl enable --quiet postgresql
  systemctl start "postgresql@$V-main"
elif ! pg_ctlcluster "$V" main status >/dev/null 2>&1; then
  pg_ctlcluster "$V" main start
fi
i=0
until pg_isready -q -p {{ settings.port }}; do
  i=$((i + 1))
  [ "$i" -lt 60 ] || { echo "postgres: not accepting connections after 60s" >&2; exit 1; }
  sleep 1
done

if [ -z "${PROV_SETTINGS:-}" ] || [ ! -r "$PROV_SETTINGS" ]; then
  echo "postgres: PROV_SETTINGS is not set; the password and databases were not applied" >&2
  exit 0
fi
python3 - "$PROV_SETTINGS" <<'PY' | runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p {{ settings.port }} -d postgres
import json, sys
s = json.load(open(sys.argv[1]))
lit = lambda v: "'" + v.replace("'", "''") + "'"
if s.get("password"):
    print("SET password_encryption = 'scram-sha-256';")
    print("ALTER ROLE postgres WITH PASSWORD %s;" % lit(s["password"]))
else:
    print("ALTER ROLE postgres WITH PASSWORD NULL;")  # no password setting: no password login
for db in s.get("databases", []):
    print("SELECT 'CREATE DATABASE \"%s\"' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = %s)\\gexec" % (db, lit(db)))
PY
