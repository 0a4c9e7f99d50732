#!/bin/sh
# Prepare the data directory for the rendered /etc/default/etcd and record what was applied, so
# that check.sh can tell a changed configuration (exit 12).
set -eu
STATE=/var/lib/provisioning/taskservs/etcd
install -d -m 0700 "$STATE"
getent passwd etcd >/dev/null || useradd --system --home-dir /var/lib/etcd --shell /usr/sbin/nologin etcd
install -d -o etcd -g etcd -m 0700 /var/lib/etcd
touch /var/log/etcd.log
chown etcd:etcd /var/log/etcd.log

if [ -n "${PROV_SETTINGS:-}" ] && [ -r "$PROV_SETTINGS" ]; then
  python3 - "$PROV_SETTINGS" > "$STATE/settings.sha256" <<'PY'
import hashlib, json, sys
s = json.load(open(sys.argv[1]))
print(hashlib.sha256(json.dumps(s, sort_keys=True).encode()).hexdigest())
PY
fi
sha256sum /etc/default/etcd > "$STATE/files.sha256"
echo "{{ taskserv.version }}" > "$STATE/extension-version"
