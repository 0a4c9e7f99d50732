#!/bin/sh
# Report state without changing anything: 0 installed and matching, 10 not installed,
# 11 installed by another version of this taskserv, 12 configuration differs or not running.
# The last line is JSON with the observed version and whether the service runs.
set -u
STATE=/var/lib/provisioning/taskservs/__NAME__
if [ ! -r /usr/local/lib/__NAME__/server.py ] || [ ! -r "$STATE/extension-version" ]; then exit 10; fi
if [ -d /run/systemd/system ]; then
  systemctl is-active --quiet __NAME__ && running=true || running=false
else
  start-stop-daemon --status --pidfile /run/__NAME__.pid && running=true || running=false
fi
report() { echo "{\"version\":\"$(cat "$STATE/extension-version")\",\"running\":$running}"; exit "$1"; }

[ "$(cat "$STATE/extension-version")" = "{{ taskserv.version }}" ] || report 11
sha256sum --status -c "$STATE/files.sha256" 2>/dev/null || report 12
[ "$running" = true ] || report 12
report 0
