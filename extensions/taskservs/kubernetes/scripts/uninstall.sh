#!/bin/sh
# Undo kubeadm init (kubeadm reset), stop kubelet and remove the packages and the repository.
# Idempotent.
set -eu
export DEBIAN_FRONTEND=noninteractive
if command -v kubeadm >/dev/null 2>&1; then
  kubeadm reset -f
fi
if [ -d /run/systemd/system ]; then
  systemctl disable --now kubelet 2>/dev/null || true
elif [ -x /usr/bin/kubelet ]; then
  start-stop-daemon --stop --quiet --oknodo --retry TERM/20/KILL/5 --pidfile /run/kubelet.pid --exec /usr/bin/kubelet
  rm -f /run/kubelet.pid
fi
apt-mark unhold kubelet kubeadm kubectl >/dev/null 2>&1 || true
for p in kubeadm kubelet kubectl; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    apt-get remove -y -q "$p"
  fi
done
rm -f /etc/apt/sources.list.d/kubernetes.list /etc/apt/keyrings/kubernetes-apt-keyring.gpg \
  /etc/modules-load.d/kubernetes.conf /etc/sysctl.d/90-kubernetes.conf
STATE=/var/lib/provisioning/taskservs/kubernetes
rm -f "$STATE/extension-version" "$STATE/files.sha256" "$STATE/settings.sha256"
