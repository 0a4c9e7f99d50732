#!/bin/sh
# Ensure redis runs with /etc/redis/redis.conf. Idempotent: an already running server is left alone
# (a settings change runs stop + start).
# /usr/bin/redis-server is a symlink to redis-check-rdb, so processes are matched by name, not --exec.
set -eu
if [ -d /run/systemd/system ]; then
  systemctl enable --quiet redis-server
  systemctl start redis-server
else
  install -d -o redis -g redis -m 0755 /run/redis
  start-stop-daemon --start --quiet --oknodo --chuid redis:redis \
    --pidfile /run/redis/redis-server.pid --name redis-server --startas /usr/bin/redis-server -- /etc/redis/redis.conf
fi
