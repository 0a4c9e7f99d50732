#!/bin/sh
# Activate the rendered nginx.conf and site, reject a configuration nginx -t refuses, and record
# what was applied so that check.sh can tell a changed configuration (exit 12).
set -eu
STATE=/var/lib/provisioning/taskservs/nginx
install -d -m 0700 "$STATE"
# Debian's default site also listens on port 80; the rendered nginx.conf does not include it anyway.
rm -f /etc/nginx/sites-enabled/default
install -d -m 0755 "{{ settings.root }}"
nginx -t -q

if [ -n "${PROV_SETTINGS:-}" ] && [ -r "$PROV_SETTINGS" ]; then
  python3 - "$PROV_SETTINGS" > "$STATE/settings.sha256" <<'PY'
import hashlib, json, sys
s = json.load(open(sys.argv[1]))
print(hashlib.sha256(json.dumps(s, sort_keys=True).encode()).hexdigest())
PY
fi
sha256sum /etc/nginx/nginx.conf /etc/nginx/conf.d/provisioning-site.conf > "$STATE/files.sha256"
echo "{{ taskserv.version }}" > "$STATE/extension-version"
