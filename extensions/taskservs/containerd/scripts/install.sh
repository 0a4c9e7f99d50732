#!/bin/sh
# Install containerd (with runc) from the distribution's archive. Idempotent. Package scripts may
# not start the service (policy-rc.d): the start step starts it with the rendered config.toml.
set -eu
export DEBIAN_FRONTEND=noninteractive
PACKAGES="containerd runc python3"

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
install -d -m 0700 /var/lib/provisioning/taskservs/containerd
