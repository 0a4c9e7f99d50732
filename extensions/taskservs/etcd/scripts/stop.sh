#!/bin/sh
# Stop etcd. Idempotent.
set -eu
if [ -d /run/systemd/system ]; then
  systemctl stop etcd
else
  start-stop-daemon --stop --quiet --oknodo --retry TERM/20/KILL/5 --pidfile /run/etcd.pid --name etcd
  rm -f /run/etcd.pid
fi
