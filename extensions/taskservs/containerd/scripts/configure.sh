#!/bin/sh
# Load the kernel modules containers need (best effort: inside a container the host decides),
# validate the rendered config.toml and record what was applied, so that check.sh can tell a
# changed configuration (exit 12).
set -eu
STATE=/var/lib/provisioning/taskservs/containerd
install -d -m 0700 "$STATE"
install -d -m 0755 /etc/modules-load.d
printf 'overlay\nbr_netfilter\n' > /etc/modules-load.d/containerd.conf
modprobe overlay 2>/dev/null || echo "containerd: could not load module overlay (in a container the host provides it)" >&2
install -d -m 0711 "{{ settings.root }}"
containerd --config /etc/containerd/config.toml config dump >/dev/null

if [ -n "${PROV_SETTINGS:-}" ] && [ -r "$PROV_SETTINGS" ]; then
  python3 - "$PROV_SETTINGS" > "$STATE/settings.sha256" <<'PY'
import hashlib, json, sys
s = json.load(open(sys.argv[1]))
print(hashlib.sha256(json.dumps(s, sort_keys=True).encode()).hexdigest())
PY
fi
sha256sum /etc/containerd/config.toml > "$STATE/files.sha256"
echo "{{ taskserv.version }}" > "$STATE/extension-version"
