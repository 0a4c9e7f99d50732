#!/bin/sh
# Ensure haproxy runs. Idempotent: a running haproxy is left alone (restart.sh reloads it).
# The pidfile is named by -p, as Debian's unit does, not in haproxy.cfg (both at once is an ALERT).
# Processes are matched by pidfile and name, not --exec: reading /proc/<pid>/exe of haproxy's process
# (user haproxy) needs CAP_SYS_PTRACE, which containers lack, so --exec never matches there.
set -eu
if [ -d /run/systemd/system ]; then
  systemctl enable --quiet haproxy
  systemctl start haproxy
elif ! start-stop-daemon --status --pidfile /run/haproxy.pid --name haproxy; then
  install -d -m 0755 /run/haproxy
  haproxy -D -f /etc/haproxy/haproxy.cfg -p /run/haproxy.pid
fi
