#!/bin/sh
# Ensure nginx runs. Idempotent: a running nginx is left alone (restart.sh reloads it).
set -eu
if [ -d /run/systemd/system ]; then
  systemctl enable --quiet nginx
  systemctl start nginx
elif ! start-stop-daemon --status --pidfile /run/nginx.pid --exec /usr/sbin/nginx; then
  nginx
fi
