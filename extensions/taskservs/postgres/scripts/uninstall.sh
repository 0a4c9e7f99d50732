#!/bin/sh
# Stop the cluster and remove the server packages. Data in /var/lib/postgresql and the cluster's
# configuration are kept (apt-get remove, not purge). Idempotent.
set -eu
export DEBIAN_FRONTEND=noninteractive
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
if [ -n "$V" ]; then
  if [ -d /run/systemd/system ]; then
    systemctl disable --now "postgresql@$V-main" 2>/dev/null || true
  elif pg_ctlcluster "$V" main status >/dev/null 2>&1; then
    pg_ctlcluster "$V" main stop -m fast
  fi
  rm -f "/etc/postgresql/$V/main/conf.d/zz-provisioning.conf"
fi
for p in postgresql ${V:+postgresql-$V}; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    apt-get remove -y -q "$p"
  fi
done
STATE=/var/lib/provisioning/taskservs/postgres
rm -f "$STATE/extension-version" "$STATE/files.sha256" "$STATE/settings.sha256"
