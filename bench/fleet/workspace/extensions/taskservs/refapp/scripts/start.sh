#!/bin/sh
# Ensure the service runs. Idempotent: a running one is left alone (it serves the config from disk,
# so a new config needs no restart; a new port or address runs stop + start). Started in its own
# session with a pid file (containers have no systemd), then waited for until it listens.
set -eu
PID=/run/refapp.pid
if [ -s "$PID" ] && kill -0 "$(cat "$PID")" 2>/dev/null; then exit 0; fi
setsid python3 -m http.server {{ settings.port }} --bind {{ settings.bind }} --directory /srv/refapp </dev/null >>/var/log/refapp.log 2>&1 &
echo $! > "$PID"
i=0
until ss -Hltn "sport = :{{ settings.port }}" | grep -q .; do
  i=$((i + 1))
  if [ "$i" -ge 100 ] || ! kill -0 "$(cat "$PID")" 2>/dev/null; then tail -n 20 /var/log/refapp.log >&2; exit 1; fi
  sleep 0.1
done
