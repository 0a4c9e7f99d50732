#!/bin/sh
# Prepare the textfile directory and record what was applied, so that check.sh can tell a changed
# configuration (exit 12).
set -eu
STATE=/var/lib/provisioning/taskservs/node-exporter
install -d -m 0700 "$STATE"
getent passwd prometheus >/dev/null || useradd --system --home-dir /var/lib/prometheus --shell /usr/sbin/nologin prometheus
install -d -o prometheus -g prometheus -m 0755 "{{ settings.textfile_directory }}"
touch /var/log/prometheus-node-exporter.log
chown prometheus /var/log/prometheus-node-exporter.log

if [ -n "${PROV_SETTINGS:-}" ] && [ -r "$PROV_SETTINGS" ]; then
  python3 - "$PROV_SETTINGS" > "$STATE/settings.sha256" <<'PY'
import hashlib, json, sys
s = json.load(open(sys.argv[1]))
print(hashlib.sha256(json.dumps(s, sort_keys=True).encode()).hexdigest())
PY
fi
sha256sum /etc/default/prometheus-node-exporter > "$STATE/files.sha256"
echo "{{ taskserv.version }}" > "$STATE/extension-version"
