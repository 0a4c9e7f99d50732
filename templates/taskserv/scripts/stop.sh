#!/bin/sh
# Stop __NAME__ (TERM, then KILL after 10 s). Idempotent: nothing to stop is success.
set -eu
if [ -d /run/systemd/system ]; then
  [ ! -e /etc/systemd/system/__NAME__.service ] || systemctl stop __NAME__
else
  start-stop-daemon --stop --quiet --oknodo --retry TERM/10/KILL/5 --pidfile /run/__NAME__.pid
  rm -f /run/__NAME__.pid
fi
