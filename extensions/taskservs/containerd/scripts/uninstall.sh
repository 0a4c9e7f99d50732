#!/bin/sh
# Stop containerd and remove its package. Images and snapshots under the root directory are kept.
set -eu
export DEBIAN_FRONTEND=noninteractive
if [ -d /run/systemd/system ]; then
  systemctl disable --now containerd 2>/dev/null || true
elif [ -x /usr/bin/containerd ]; then
  start-stop-daemon --stop --quiet --oknodo --retry TERM/20/KILL/5 --pidfile /run/containerd/containerd.pid --exec /usr/bin/containerd
  rm -f /run/containerd/containerd.pid
fi
if dpkg-query -W -f='${Status}' containerd 2>/dev/null | grep -q 'install ok installed'; then
  apt-get remove -y -q containerd
fi
rm -f /etc/modules-load.d/containerd.conf
STATE=/var/lib/provisioning/taskservs/containerd
rm -f "$STATE/extension-version" "$STATE/files.sha256" "$STATE/settings.sha256"
