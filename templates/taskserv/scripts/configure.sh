#!/bin/sh
# Check the rendered files, prepare the log, make systemd read the unit, and record what was
# applied so that check.sh can tell a changed configuration (exit 12).
set -eu
STATE=/var/lib/provisioning/taskservs/__NAME__
install -d -m 0700 "$STATE"
python3 -c 'import ast, sys; ast.parse(open(sys.argv[1]).read(), sys.argv[1])' /usr/local/lib/__NAME__/server.py
grep -q '^port = [0-9][0-9]*$' /etc/__NAME__/__NAME__.conf || { echo "/etc/__NAME__/__NAME__.conf has no numeric port" >&2; exit 1; }
# The service runs as nobody and appends to its log.
[ -e /var/log/__NAME__.log ] || install -m 0640 -o nobody -g nogroup /dev/null /var/log/__NAME__.log
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
fi
sha256sum /usr/local/lib/__NAME__/server.py /etc/__NAME__/__NAME__.conf /etc/systemd/system/__NAME__.service > "$STATE/files.sha256"
echo "{{ taskserv.version }}" > "$STATE/extension-version"
