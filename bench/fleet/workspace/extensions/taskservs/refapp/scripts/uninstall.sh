#!/bin/sh
# Stop the service and remove the app directory and the recorded state. Idempotent.
set -eu
PID=/run/refapp.pid
if [ -s "$PID" ]; then kill "$(cat "$PID")" 2>/dev/null || true; fi
rm -f "$PID" /var/log/refapp.log
rm -rf /srv/refapp
rm -f /var/lib/provisioning/taskservs/refapp/extension-version /var/lib/provisioning/taskservs/refapp/files.sha256 /var/lib/provisioning/taskservs/refapp/settings
