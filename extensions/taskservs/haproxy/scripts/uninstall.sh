#!/bin/sh
# Stop and remove haproxy (apt-get remove keeps /etc/haproxy). Idempotent.
set -eu
export DEBIAN_FRONTEND=noninteractive
if [ -d /run/systemd/system ]; then
  systemctl disable --now haproxy 2>/dev/null || true
elif [ -x /usr/sbin/haproxy ]; then
  start-stop-daemon --stop --quiet --oknodo --retry USR1/20/TERM/5/KILL/5 --pidfile /run/haproxy.pid --name haproxy
fi
if dpkg-query -W -f='${Status}' haproxy 2>/dev/null | grep -q 'install ok installed'; then
  apt-get remove -y -q haproxy
fi
STATE=/var/lib/provisioning/taskservs/haproxy
rm -f "$STATE/extension-version" "$STATE/files.sha256" "$STATE/settings.sha256"
