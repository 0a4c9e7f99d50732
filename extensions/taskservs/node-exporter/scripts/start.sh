#!/bin/sh
# Ensure the exporter runs with the rendered arguments. Without systemd it runs in the background
# as user prometheus with a pidfile. Idempotent: a running exporter is left alone.
# Processes are matched by pidfile and name, not --exec: reading /proc/<pid>/exe of a process of
# another user needs CAP_SYS_PTRACE, which containers lack, so --exec never matches there.
set -eu
if [ -d /run/systemd/system ]; then
  systemctl enable --quiet prometheus-node-exporter
  systemctl start prometheus-node-exporter
else
  ARGS=""
  # shellcheck source=/dev/null # rendered by the taskserv's template
  . /etc/default/prometheus-node-exporter
  # prometheus-node: the kernel keeps the first 15 characters of a process name.
  # shellcheck disable=SC2086 # ARGS holds several arguments
  start-stop-daemon --start --quiet --oknodo --background --make-pidfile \
    --pidfile /run/prometheus-node-exporter.pid --chuid prometheus \
    --output /var/log/prometheus-node-exporter.log \
    --name prometheus-node --startas /usr/bin/prometheus-node-exporter -- $ARGS
fi
