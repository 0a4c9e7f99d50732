#!/bin/sh
# Stop etcd and remove its packages. Data in /var/lib/etcd is kept (apt-get remove). Idempotent.
set -eu
export DEBIAN_FRONTEND=noninteractive
if [ -d /run/systemd/system ]; then
  systemctl disable --now etcd 2>/dev/null || true
elif [ -x /usr/bin/etcd ]; then
  start-stop-daemon --stop --quiet --oknodo --retry TERM/20/KILL/5 --pidfile /run/etcd.pid --name etcd
  rm -f /run/etcd.pid
fi
for p in etcd-server etcd-client; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    apt-get remove -y -q "$p"
  fi
done
STATE=/var/lib/provisioning/taskservs/etcd
rm -f "$STATE/extension-version" "$STATE/files.sha256" "$STATE/settings.sha256"
