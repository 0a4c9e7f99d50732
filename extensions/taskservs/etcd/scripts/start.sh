#!/bin/sh
# Ensure etcd runs with /etc/default/etcd. Idempotent: a running etcd is left alone.
# Processes are matched by pidfile and name, not --exec: reading /proc/<pid>/exe of a process of
# another user needs CAP_SYS_PTRACE, which containers lack, so --exec never matches there.
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
    --chuid etcd:etcd --chdir /var/lib/etcd --output /var/log/etcd.log --name etcd --startas /usr/bin/etcd
fi
