#!/bin/sh
# Ensure containerd runs with /etc/containerd/config.toml. Without systemd it runs in the
# background with a pidfile and logs to /var/log/containerd.log. Idempotent.
set -eu
if [ -d /run/systemd/system ]; then
  systemctl enable --quiet containerd
  systemctl start containerd
else
  install -d -m 0711 /run/containerd
  start-stop-daemon --start --quiet --oknodo --background --make-pidfile --pidfile /run/containerd/containerd.pid \
    --output /var/log/containerd.log --exec /usr/bin/containerd -- --config /etc/containerd/config.toml
fi
i=0
until [ -S /run/containerd/containerd.sock ]; do
  i=$((i + 1))
  [ "$i" -lt 30 ] || { echo "containerd: no socket after 30s, see /var/log/containerd.log" >&2; exit 1; }
  sleep 1
done
