#!/bin/sh
# Stop nginx gracefully (QUIT lets open requests finish). Idempotent.
set -eu
if [ -d /run/systemd/system ]; then
  systemctl stop nginx
else
  start-stop-daemon --stop --quiet --oknodo --retry QUIT/20/TERM/5/KILL/5 --pidfile /run/nginx.pid --exec /usr/sbin/nginx
fi
