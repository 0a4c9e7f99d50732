#!/bin/sh
# Stop the cluster (fast shutdown: open transactions are rolled back). Idempotent.
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
  systemctl stop "postgresql@$V-main"
elif pg_ctlcluster "$V" main status >/dev/null 2>&1; then
  pg_ctlcluster "$V" main stop -m fast
fi
