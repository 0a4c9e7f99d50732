#!/bin/sh
# Apply a new haproxy.cfg without dropping connections: a new process takes over the listeners
# (-sf lets the old one finish its connections); a stopped haproxy is started.
set -eu
haproxy -c -q -f /etc/haproxy/haproxy.cfg
if [ -d /run/systemd/system ]; then
  systemctl reload-or-restart haproxy
elif start-stop-daemon --status --pidfile /run/haproxy.pid --name haproxy; then
  haproxy -D -f /etc/haproxy/haproxy.cfg -p /run/haproxy.pid -sf "$(cat /run/haproxy.pid)"
else
  install -d -m 0755 /run/haproxy
  haproxy -D -f /etc/haproxy/haproxy.cfg -p /run/haproxy.pid
fi
