#!/bin/sh
# Check what the rendered files point at, make systemd read the unit, and record what was applied
# so that check.sh can tell a changed configuration (exit 12).
set -eu
STATE=/var/lib/provisioning/taskservs/nodejs-app
install -d -m 0700 "$STATE"
{% if settings.source not in ["builtin", "script"] %}
if [ "{{ settings.source }}" = "{{ settings.app_dir }}" ]; then
  echo "settings.source is app_dir ({{ settings.app_dir }}), where the taskserv writes server.js: use another directory" >&2
  exit 1
fi
if [ ! -f "{{ settings.source }}/{{ settings.entry }}" ]; then
  echo "settings.source: {{ settings.source }}/{{ settings.entry }} does not exist on {{ server.hostname }}: copy the app there first, or set entry" >&2
  exit 1
fi
{% endif %}
# The environment file must parse as sh (start.sh sources it); a bad variable name fails here.
if ! env -i /bin/sh -euc 'set -a; . /etc/default/nodejs-app' >/dev/null; then
  echo "/etc/default/nodejs-app does not parse: are all names in settings.env valid variable names?" >&2
  exit 1
fi
install -m 0640 -o "{{ settings.user }}" -g root /dev/null /var/log/nodejs-app.log.new
[ -e /var/log/nodejs-app.log ] || mv /var/log/nodejs-app.log.new /var/log/nodejs-app.log
rm -f /var/log/nodejs-app.log.new
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
fi

if [ -n "${PROV_SETTINGS:-}" ] && [ -r "$PROV_SETTINGS" ]; then
  python3 - "$PROV_SETTINGS" > "$STATE/settings.sha256" <<'PY'
import hashlib, json, sys
s = json.load(open(sys.argv[1]))
print(hashlib.sha256(json.dumps(s, sort_keys=True).encode()).hexdigest())
PY
fi
sha256sum "{{ settings.app_dir }}/server.js" /etc/default/nodejs-app /etc/systemd/system/nodejs-app.service > "$STATE/files.sha256"
echo "{{ taskserv.version }}" > "$STATE/extension-version"
