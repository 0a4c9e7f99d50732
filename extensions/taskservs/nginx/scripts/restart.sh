#!/bin/sh
# Apply a new configuration without dropping connections: reload a running nginx, start a stopped one.
set -eu
nginx -t -q
if [ -d /run/systemd/system ]; then
  systemctl reload-or-restart nginx
elif start-stop-daemon --status --pidfile /run/nginx.pid --exec /usr/sbin/nginx; then
  nginx -s reload
else
  nginx
fi
