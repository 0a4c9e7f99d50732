#!/bin/sh
# Ensure the app runs. With systemd through the rendered unit; without, in the background under
# start-stop-daemon as settings.user with a pidfile, a clean environment from /etc/default/nodejs-app
# and its output in /var/log/nodejs-app.log. Idempotent: a running app is left alone.
# The process is matched by pidfile and user, not --exec (reading /proc/<pid>/exe of another
# user's process needs CAP_SYS_PTRACE, which containers lack) nor --name (process.title renames it).
set -eu
{%- set builtin = settings.source in ["builtin", "script"] %}
if [ -d /run/systemd/system ]; then
  systemctl enable --quiet nodejs-app
  systemctl start nodejs-app
elif ! start-stop-daemon --status --pidfile /run/nodejs-app.pid --user "{{ settings.user }}"; then
  env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME="{{ settings.app_dir }}" /bin/sh -euc '
    set -a
    . /etc/default/nodejs-app
    set +a
    exec start-stop-daemon --start --quiet --background --make-pidfile --pidfile /run/nodejs-app.pid \
      --chuid "{{ settings.user }}" --chdir "{{ settings.app_dir if builtin else settings.source }}" \
      --output /var/log/nodejs-app.log \
      --user "{{ settings.user }}" --startas /usr/bin/node -- "{{ settings.app_dir ~ "/server.js" if builtin else settings.source ~ "/" ~ settings.entry }}"'
fi
