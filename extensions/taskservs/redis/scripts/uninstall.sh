#!/bin/sh
# Stop and remove redis-server. Data in /var/lib/redis is kept (apt-get remove, not purge).
# Idempotent: succeeds when already removed.
set -eu
export DEBIAN_FRONTEND=noninteractive
if [ -d /run/systemd/system ]; then
  systemctl disable --now redis-server 2>/dev/null || true
elif [ -x /usr/bin/redis-server ]; then
  start-stop-daemon --stop --quiet --oknodo --retry TERM/30/KILL/5 \
    --pidfile /run/redis/redis-server.pid --name redis-server
fi
if dpkg-query -W -f='${Status}' redis-server 2>/dev/null | grep -q 'install ok installed'; then
  apt-get remove -y -q redis-server
fi
rm -f /etc/redis/provisioning-auth.conf
# Only the records: the engine owns the uploaded step scripts beside them.
STATE=/var/lib/provisioning/taskservs/redis
rm -f "$STATE/extension-version" "$STATE/files.sha256" "$STATE/settings.sha256"
