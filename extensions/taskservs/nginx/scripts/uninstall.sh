#!/bin/sh
# Stop and remove nginx (apt-get remove keeps /etc/nginx; the document root is kept). Idempotent.
set -eu
export DEBIAN_FRONTEND=noninteractive
if [ -d /run/systemd/system ]; then
  systemctl disable --now nginx 2>/dev/null || true
elif [ -x /usr/sbin/nginx ]; then
  start-stop-daemon --stop --quiet --oknodo --retry QUIT/20/TERM/5/KILL/5 --pidfile /run/nginx.pid --exec /usr/sbin/nginx
fi
for p in nginx nginx-common; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    apt-get remove -y -q "$p"
  fi
done
rm -f /etc/nginx/conf.d/provisioning-site.conf
STATE=/var/lib/provisioning/taskservs/nginx
rm -f "$STATE/extension-version" "$STATE/files.sha256" "$STATE/settings.sha256"
