#!/bin/sh
# Report state without changing anything: 0 installed and matching, 10 not installed,
# 11 installed by another version of this taskserv, 12 configuration differs or not running.
set -u
STATE=/var/lib/provisioning/taskservs/refapp
[ -d /srv/refapp ] || exit 10
[ -r "$STATE/extension-version" ] || exit 12  # installed, but never configured
[ "$(cat "$STATE/extension-version")" = "{{ taskserv.version }}" ] || exit 11
[ "$(cat "$STATE/settings" 2>/dev/null)" = "{{ settings.port }} {{ settings.bind }} {{ settings.message }}" ] || exit 12
sha256sum --status -c "$STATE/files.sha256" 2>/dev/null || exit 12
[ -s /run/refapp.pid ] && kill -0 "$(cat /run/refapp.pid)" 2>/dev/null || exit 12
echo '{"running":true}'
