#!/bin/sh
# Ensure the exporter runs with the rendered arguments. Without systemd it runs in the background
# as user prometheus with a pidfile. Idempotent: a running exporter is left alone.
set -eu
if [ -d /run/systemd/system ]; then
  systemctl enable --quiet prometheus-node-exporter
  systemctl start prometheus-node-exporter
else
  ARGS=""
  # shellcheck source=/dev/null # rendered by the taskserv's template
  . /etc/default/prometheus-node-exporter
  # shellcheck disable=SC2086 # ARGS holds several arguments
  start-stop-daemon --start --quiet --oknodo --background --make-pidfile \
    --pidfile /run/prometheus-node-exporter.pid --chuid prometheus \
    --output /var/log/prometheus-node-exporter.log \
    --exec /usr/bin/prometheus-node-exporter -- $ARGS
fi
