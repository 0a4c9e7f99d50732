#!/bin/sh
# Stop the app, remove its unit, environment file and rendered server.js, and apt-get remove the
# Node.js package. app_dir, a source directory, the log and the user are kept. Idempotent.
set -eu
export DEBIAN_FRONTEND=noninteractive
if [ -d /run/systemd/system ]; then
  if [ -e /etc/systemd/system/nodejs-app.service ]; then
    systemctl disable --now --quiet nodejs-app
    rm -f /etc/systemd/system/nodejs-app.service
    systemctl daemon-reload
  fi
elif [ -x /usr/bin/node ]; then
  start-stop-daemon --stop --quiet --oknodo --retry TERM/10/KILL/5 --pidfile /run/nodejs-app.pid --user "{{ settings.user }}"
fi
rm -f /run/nodejs-app.pid /etc/systemd/system/nodejs-app.service /etc/default/nodejs-app "{{ settings.app_dir }}/server.js"
if dpkg-query -W -f='${Status}' "{{ settings.node_package }}" 2>/dev/null | grep -q 'install ok installed'; then
  apt-get remove -y -q "{{ settings.node_package }}"
fi
STATE=/var/lib/provisioning/taskservs/nodejs-app
rm -f "$STATE/extension-version" "$STATE/files.sha256" "$STATE/settings.sha256"
