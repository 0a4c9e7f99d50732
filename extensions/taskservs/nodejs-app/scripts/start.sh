#!/bin/sh
# Ensure the app runs. With systemd through the rendered unit; without, in the background under
# start-stop-daemon as settings.user with a pidfile, a clean environment from /etc/default/nodejs-app
# and its output in /var/log/nodejs-app.log. Idempotent: a running app is left alone.
set -eu
{%- set builtin = settings.source in ["builtin", "script"] %}
if [ -d /run/systemd/system ]; then
  systemctl enable --quiet nodejs-app
  systemctl start nodejs-app
elif ! start-stop-daemon --status --pidfile /run/nodejs-app.pid --exec /usr/bin/node; then
  env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME="{{ settings.app_dir }}" /bin/sh -euc '
    set -a
    . /etc/default/nodejs-app
    set +a
    exec start-stop-daemon --start --quiet --background --make-pidfile --pidfile /run/nodejs-app.pid \
      --chuid "{{ settings.user }}" --chdir "{{ settings.app_dir if builtin else settings.source }}" \
      --output /var/log/nodejs-app.log \
      --exec /usr/bin/node -- "{{ settings.app_dir ~ "/server.js" if builtin else settings.source ~ "/" ~ settings.entry }}"'
fi
