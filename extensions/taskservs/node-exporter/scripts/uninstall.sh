#!/bin/sh
# Stop the exporter and remove its package. Idempotent.
set -eu
export DEBIAN_FRONTEND=noninteractive
if [ -d /run/systemd/system ]; then
  systemctl disable --now prometheus-node-exporter 2>/dev/null || true
elif [ -x /usr/bin/prometheus-node-exporter ]; then
  start-stop-daemon --stop --quiet --oknodo --retry TERM/10/KILL/5 \
    --pidfile /run/prometheus-node-exporter.pid --name prometheus-node
  rm -f /run/prometheus-node-exporter.pid
fi
if dpkg-query -W -f='${Status}' prometheus-node-exporter 2>/dev/null | grep -q 'install ok installed'; then
  apt-get remove -y -q prometheus-node-exporter
fi
STATE=/var/lib/provisioning/taskservs/node-exporter
rm -f "$STATE/extension-version" "$STATE/files.sha256" "$STATE/settings.sha256"
