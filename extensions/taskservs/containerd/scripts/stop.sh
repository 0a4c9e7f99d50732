#!/bin/sh
# Stop containerd. Running containers (their shims) keep running, as with systemd's KillMode=process.
set -eu
if [ -d /run/systemd/system ]; then
  systemctl stop containerd
else
  start-stop-daemon --stop --quiet --oknodo --retry TERM/20/KILL/5 --pidfile /run/containerd/containerd.pid --exec /usr/bin/containerd
  rm -f /run/containerd/containerd.pid
fi
