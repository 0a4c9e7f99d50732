#!/bin/sh
# Record what was applied, so that check.sh can tell a changed or hand-edited config (exit 12).
set -eu
STATE=/var/lib/provisioning/taskservs/refapp
install -d -m 0700 "$STATE"
sha256sum /srv/refapp/app.conf > "$STATE/files.sha256"
echo "{{ settings.port }} {{ settings.bind }} {{ settings.message }}" > "$STATE/settings"
echo "{{ taskserv.version }}" > "$STATE/extension-version"
