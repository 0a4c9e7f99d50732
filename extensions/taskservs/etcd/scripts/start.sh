#!/bin/sh
# Ensure etcd runs with /etc/default/etcd. Idempotent: a running etcd is left alone.
set -eu
if [ -d /run/systemd/system ]; then
  systemctl enable --quiet etcd
  systemctl start etcd
else
  set -a
  # shellcheck source=/dev/null # rendered by the taskserv's template
  . /etc/default/etcd
  set +a
  start-stop-daemon --start --quiet --oknodo --background --make-pidfile --pidfile /run/etcd.pid \
    --chuid etcd:etcd --chdir /var/lib/etcd --output /var/log/etcd.log --exec /usr/bin/etcd
fi
