#!/bin/sh
# Stop __NAME__ and remove its program, configuration and unit. The log is kept; packages are
# kept too (python3 is shared). Idempotent: succeeds when already removed.
set -eu
if [ -d /run/systemd/system ]; then
  if [ -e /etc/systemd/system/__NAME__.service ]; then
    systemctl disable --now --quiet __NAME__
    rm -f /etc/systemd/system/__NAME__.service
    systemctl daemon-reload
  fi
else
  start-stop-daemon --stop --quiet --oknodo --retry TERM/10/KILL/5 --pidfile /run/__NAME__.pid
fi
rm -rf /usr/local/lib/__NAME__ /etc/__NAME__
rm -f /run/__NAME__.pid /etc/systemd/system/__NAME__.service
# Only the records: the engine owns the uploaded step scripts beside them.
STATE=/var/lib/provisioning/taskservs/__NAME__
rm -f "$STATE/extension-version" "$STATE/files.sha256"
