#!/bin/sh
# Report state without changing anything: 0 installed and matching, 10 not installed,
# 11 another Kubernetes minor or another version of this taskserv, 12 configuration differs,
# not initialised or kubelet not running. The last line is JSON with the observed version.
set -u
STATE=/var/lib/provisioning/taskservs/kubernetes
command -v kubeadm >/dev/null 2>&1 || exit 10
version=$(kubeadm version -o short 2>/dev/null)
report() { echo "{\"version\":\"$version\",\"running\":$running}"; exit "$1"; }

if [ -d /run/systemd/system ]; then
  systemctl is-active --quiet kubelet && running=true || running=false
else
  start-stop-daemon --status --pidfile /run/kubelet.pid --exec /usr/bin/kubelet && running=true || running=false
fi

case "$version" in v{{ settings.minor }}.*) ;; *) report 11 ;; esac
[ -r "$STATE/extension-version" ] || report 12  # installed, but never configured by this taskserv
[ "$(cat "$STATE/extension-version")" = "{{ taskserv.version }}" ] || report 11
[ -f /etc/kubernetes/admin.conf ] || report 12
sha256sum --status -c "$STATE/files.sha256" 2>/dev/null || report 12
if [ -n "${PROV_SETTINGS:-}" ] && [ -r "$PROV_SETTINGS" ]; then
  wanted=$(python3 - "$PROV_SETTINGS" <<'PY'
import hashlib, json, sys
s = json.load(open(sys.argv[1]))
print(hashlib.sha256(json.dumps(s, sort_keys=True).encode()).hexdigest())
PY
)
  [ "$wanted" = "$(cat "$STATE/settings.sha256" 2>/dev/null)" ] || report 12
fi
[ "$running" = true ] || report 12
report 0
