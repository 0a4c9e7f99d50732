#!/bin/sh
# Validate the rendered haproxy.cfg (haproxy -c) and record what was applied, so that check.sh
# can tell a changed configuration (exit 12).
set -eu
STATE=/var/lib/provisioning/taskservs/haproxy
install -d -m 0700 "$STATE"
install -d -m 0755 /run/haproxy /var/lib/haproxy
haproxy -c -q -f /etc/haproxy/haproxy.cfg

if [ -n "${PROV_SETTINGS:-}" ] && [ -r "$PROV_SETTINGS" ]; then
  python3 - "$PROV_SETTINGS" > "$STATE/settings.sha256" <<'PY'
import hashlib, json, sys
s = json.load(open(sys.argv[1]))
print(hashlib.sha256(json.dumps(s, sort_keys=True).encode()).hexdigest())
PY
fi
sha256sum /etc/haproxy/haproxy.cfg > "$STATE/files.sha256"
echo "{{ taskserv.version }}" > "$STATE/extension-version"
