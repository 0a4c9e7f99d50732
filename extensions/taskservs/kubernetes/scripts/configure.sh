#!/bin/sh
# Host prerequisites of kubeadm: swap off, br_netfilter and overlay loaded, the rendered sysctls
# applied (best effort inside a container, where the host owns the kernel). Records what was
# applied so that check.sh can tell a changed configuration (exit 12).
set -eu
STATE=/var/lib/provisioning/taskservs/kubernetes
install -d -m 0700 "$STATE"
swapoff -a 2>/dev/null || true
if grep -q '^[^#].*[[:space:]]swap[[:space:]]' /etc/fstab 2>/dev/null; then
  sed -i 's/^\([^#].*[[:space:]]swap[[:space:]].*\)$/# \1  # disabled for kubernetes/' /etc/fstab
fi
install -d -m 0755 /etc/modules-load.d
printf 'overlay\nbr_netfilter\n' > /etc/modules-load.d/kubernetes.conf
for m in overlay br_netfilter; do
  modprobe "$m" 2>/dev/null || echo "kubernetes: could not load module $m (in a container the host provides it)" >&2
done
sysctl -q -p /etc/sysctl.d/90-kubernetes.conf 2>/dev/null || echo "kubernetes: sysctls not applied (read-only /proc/sys?)" >&2

if [ -n "${PROV_SETTINGS:-}" ] && [ -r "$PROV_SETTINGS" ]; then
  python3 - "$PROV_SETTINGS" > "$STATE/settings.sha256" <<'PY'
import hashlib, json, sys
s = json.load(open(sys.argv[1]))
print(hashlib.sha256(json.dumps(s, sort_keys=True).encode()).hexdigest())
PY
fi
sha256sum /etc/kubernetes/provisioning/kubeadm-config.yaml /etc/sysctl.d/90-kubernetes.conf > "$STATE/files.sha256"
echo "{{ taskserv.version }}" > "$STATE/extension-version"
