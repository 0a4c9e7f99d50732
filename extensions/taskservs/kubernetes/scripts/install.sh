#!/bin/sh
# Install kubeadm, kubelet and kubectl from the upstream repository pkgs.k8s.io (they are not in
# Debian's or Ubuntu's archive): needs HTTPS access to pkgs.k8s.io. The packages are held so that
# a routine apt-get upgrade cannot move the cluster to another release. Idempotent: nothing is
# downloaded when the wanted minor release is installed.
set -eu
export DEBIAN_FRONTEND=noninteractive
MINOR="{{ settings.minor }}"
KEYRING=/etc/apt/keyrings/kubernetes-apt-keyring.gpg
LIST=/etc/apt/sources.list.d/kubernetes.list

installed=$(dpkg-query -W -f='${Version}' kubeadm 2>/dev/null || true)
case "$installed" in
  "$MINOR".*) ;;
  *)
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
      chmod 0755 /usr/sbin/policy-rc.d
      trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt-get update -q
    apt-get install -y -q --no-install-recommends ca-certificates curl gpg python3 conntrack iptables
    install -d -m 0755 /etc/apt/keyrings
    curl -fsSL "https://pkgs.k8s.io/core:/stable:/v$MINOR/deb/Release.key" | gpg --batch --yes --dearmor -o "$KEYRING"
    echo "deb [signed-by=$KEYRING] https://pkgs.k8s.io/core:/stable:/v$MINOR/deb/ /" > "$LIST"
    apt-get update -q
    apt-mark unhold kubelet kubeadm kubectl >/dev/null 2>&1 || true
    apt-get install -y -q --no-install-recommends kubelet kubeadm kubectl
    apt-mark hold kubelet kubeadm kubectl >/dev/null
    ;;
esac
install -d -m 0700 /var/lib/provisioning/taskservs/kubernetes
echo "{\"version\":\"$(kubeadm version -o short)\"}"
