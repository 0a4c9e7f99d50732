#!/bin/sh
# Point the cluster "main" at the rendered files: a conf.d include (read last, so its values win)
# names /etc/provisioning/postgres/postgresql.conf, which sets hba_file. Creates the cluster when
# missing. Records what was applied so that check.sh can tell a changed configuration (exit 12).
set -eu
STATE=/var/lib/provisioning/taskservs/postgres
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
[ -n "$V" ] || { echo "postgres: no PostgreSQL server installed under /usr/lib/postgresql" >&2; exit 1; }
install -d -m 0700 "$STATE"
[ -d "/etc/postgresql/$V/main" ] || pg_createcluster "$V" main
install -d -o postgres -g postgres -m 0755 "/etc/postgresql/$V/main/conf.d"
echo "include '/etc/provisioning/postgres/postgresql.conf'" > "/etc/postgresql/$V/main/conf.d/zz-provisioning.conf"
chown postgres:postgres "/etc/postgresql/$V/main/conf.d/zz-provisioning.conf"

# Non-secret settings fingerprint (secrets never enter a checksum) and the rendered files' digests.
if [ -n "${PROV_SETTINGS:-}" ] && [ -r "$PROV_SETTINGS" ]; then
  python3 - "$PROV_SETTINGS" password > "$STATE/settings.sha256" <<'PY'
import hashlib, json, sys
s = json.load(open(sys.argv[1]))
for k in sys.argv[2:]:
    s.pop(k, None)
print(hashlib.sha256(json.dumps(s, sort_keys=True).encode()).hexdigest())
PY
fi
sha256sum /etc/provisioning/postgres/postgresql.conf /etc/provisioning/postgres/pg_hba.conf \
  "/etc/postgresql/$V/main/conf.d/zz-provisioning.conf" > "$STATE/files.sha256"
echo "{{ taskserv.version }}" > "$STATE/extension-version"
