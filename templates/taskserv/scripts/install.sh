#!/bin/sh
# Install what __NAME__ needs from the distribution's archive. Idempotent: does nothing when the
# packages are installed (no apt-get update then). Package scripts are kept from starting
# services (policy-rc.d): the start step starts __NAME__ with the rendered configuration.
set -eu
export DEBIAN_FRONTEND=noninteractive
# Add your service's packages here.
PACKAGES="python3-minimal"

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
install -d -m 0755 /usr/local/lib/__NAME__ /etc/__NAME__
install -d -m 0700 /var/lib/provisioning/taskservs/__NAME__
echo '{"version":"{{ taskserv.version }}"}'
