#!/bin/sh
# Create the app directory; the service is python3's http.server, so nothing to download. Idempotent.
set -eu
if ! ls /usr/lib/python3*/http/server.py >/dev/null 2>&1; then
  echo "python3 with its standard library (http.server) is required: apt-get install python3" >&2
  exit 1
fi
install -d -m 0755 /srv/refapp
install -d -m 0700 /var/lib/provisioning/taskservs/refapp
