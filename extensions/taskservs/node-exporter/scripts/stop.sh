#!/bin/sh
# Stop the exporter. Idempotent.
set -eu
if [ -d /run/systemd/system ]; then
  systemctl stop prometheus-node-exporter
else
  start-stop-daemon --stop --quiet --oknodo --retry TERM/10/KILL/5 \
    --pidfile /run/prometheus-node-exporter.pid --name prometheus-node
  rm -f /run/prometheus-node-exporter.pid
fi
