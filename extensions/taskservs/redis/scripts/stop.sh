#!/bin/sh
# Stop redis (SHUTDOWN on TERM saves a snapshot when snapshots are on). Idempotent.
set -eu
if [ -d /run/systemd/system ]; then
  systemctl stop redis-server
else
  start-stop-daemon --stop --quiet --oknodo --retry TERM/30/KILL/5 \
    --pidfile /run/redis/redis-server.pid --name redis-server
fi
