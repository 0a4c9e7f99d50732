#!/bin/sh
# Prepare directories for the rendered /etc/redis/redis.conf and record what was applied,
# so that check.sh can tell a changed configuration (exit 12) from a matching one.
set -eu
STATE=/var/lib/provisioning/taskservs/redis
install -d -m 0700 "$STATE"
install -d -o redis -g redis -m 0750 /var/lib/redis /var/log/redis
install -d -o redis -g redis -m 0755 /run/redis

# Non-secret settings fingerprint (secrets never enter a checksum) and the rendered file's digest.
if [ -n "${PROV_SETTINGS:-}" ] && [ -r "$PROV_SETTINGS" ]; then
  python3 - "$PROV_SETTINGS" password > "$STATE/settings.sha256" <<'PY'
import hashlib, json, sys
s = json.load(open(sys.argv[1]))
for k in sys.argv[2:]:
    s.pop(k, None)
print(hashlib.sha256(json.dumps(s, sort_keys=True).encode()).hexdigest())
PY
fi
sha256sum /etc/redis/redis.conf > "$STATE/files.sha256"
echo "{{ taskserv.version }}" > "$STATE/extension-version"
