#!/bin/sh
# Stop the service. Idempotent.
set -eu
PID=/run/refapp.pid
if [ -s "$PID" ] && kill "$(cat "$PID")" 2>/dev/null; then
  i=0
  while kill -0 "$(cat "$PID")" 2>/dev/null && [ "$i" -lt 50 ]; do i=$((i + 1)); sleep 0.1; done
fi
rm -f "$PID"
