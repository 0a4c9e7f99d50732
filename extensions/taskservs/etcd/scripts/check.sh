#!/bin/sh
# Report state without changing anything: 0 installed and matching, 10 not installed,
# 11 installed by another version of this taskserv, 12 configuration differs or not running.
# The last line is JSON with the observed etcd version.
set -u
STATE=/var/lib/provisioning/taskservs/etcd
[ -x /usr/bin/etcd ] || exit 10
version=$(/usr/bin/etcd --version | sed -n 's/^etcd Version: \([0-9.]*\).*/\1/p')
report() { echo "{\"version\":\"$version\",\"running\":$running}"; exit "$1"; }

if [ -d /run/systemd/system ]; then
  systemctl is-active --quiet etcd && running=true || running=false
else
  start-stop-daemon --status --pidfile /run/etcd.pid --name etcd && running=true || running=false
fi

[ -r "$STATE/extension-version" ] || report 12  # installed, but never configured by this taskserv
[ "$(cat "$STATE/extension-version")" = "{{ taskserv.version }}" ] || report 11
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
