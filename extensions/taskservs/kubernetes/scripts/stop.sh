#!/bin/sh
# Stop kubelet. The control-plane static pods keep running in containerd until containerd stops.
set -eu
if [ -d /run/systemd/system ]; then
  systemctl stop kubelet
else
  start-stop-daemon --stop --quiet --oknodo --retry TERM/20/KILL/5 --pidfile /run/kubelet.pid --exec /usr/bin/kubelet
  rm -f /run/kubelet.pid
fi
