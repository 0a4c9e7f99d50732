#!/bin/sh
# Ensure __NAME__ runs: through its systemd unit where systemd runs, else in the background under
# start-stop-daemon as nobody with a pidfile, its output appended to /var/log/__NAME__.log.
# Idempotent: a running service is left alone (a settings change runs stop + start).
set -eu
if [ -d /run/systemd/system ]; then
  systemctl enable --quiet __NAME__
  systemctl start __NAME__
else
  start-stop-daemon --start --quiet --oknodo --background --make-pidfile --pidfile /run/__NAME__.pid \
    --chuid nobody:nogroup --chdir / --output /var/log/__NAME__.log \
    --startas /usr/bin/python3 -- /usr/local/lib/__NAME__/server.py /etc/__NAME__/__NAME__.conf
fi
