#!/bin/sh
# Install PostgreSQL from the distribution's archive (settings.version empty = its default major).
# The package creates the cluster "main" but may not start it (policy-rc.d): the start step does.
# Idempotent: does nothing when installed.
set -eu
export DEBIAN_FRONTEND=noninteractive
V="{{ settings.version }}"
if [ -n "$V" ]; then PACKAGES="postgresql-$V postgresql-client-$V"; else PACKAGES="postgresql postgresql-client"; fi
PACKAGES="$PACKAGES python3"

missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -q
  # shellcheck disable=SC2086 # word splitting of the package list is intended
  apt-get install -y -q --no-install-recommends $missing
fi
install -d -m 0700 /var/lib/provisioning/taskservs/postgres
