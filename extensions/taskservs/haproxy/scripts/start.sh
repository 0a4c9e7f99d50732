#!/bin/sh
# Ensure haproxy runs. Idempotent: a running haproxy is left alone (restart.sh reloads it).
set -eu
if [ -d /run/systemd/system ]; then
  systemctl enable --quiet haproxy
  systemctl start haproxy
elif ! start-stop-daemon --status --pidfile /run/haproxy.pid --exec /usr/sbin/haproxy; then
  install -d -m 0755 /run/haproxy
  haproxy -D -f /etc/haproxy/haproxy.cfg -p /run/haproxy.pid
fi
