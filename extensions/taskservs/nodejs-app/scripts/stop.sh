#!/bin/sh
# Stop the app (TERM, then KILL after 10 s). Idempotent: nothing to stop is success.
set -eu
if [ -d /run/systemd/system ]; then
  [ ! -e /etc/systemd/system/nodejs-app.service ] || systemctl stop nodejs-app
elif [ -x /usr/bin/node ]; then
  start-stop-daemon --stop --quiet --oknodo --retry TERM/10/KILL/5 --pidfile /run/nodejs-app.pid --user "{{ settings.user }}"
  rm -f /run/nodejs-app.pid
fi
