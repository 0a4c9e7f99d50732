#!/bin/sh
# Stop haproxy (USR1 = soft stop: listeners close, open connections finish). Idempotent.
set -eu
if [ -d /run/systemd/system ]; then
  systemctl stop haproxy
else
  start-stop-daemon --stop --quiet --oknodo --retry USR1/20/TERM/5/KILL/5 --pidfile /run/haproxy.pid --name haproxy
fi
