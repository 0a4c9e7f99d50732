#!/bin/sh
# Install Node.js from the distribution's archive, create the app's system user and app_dir.
# Idempotent: installed packages and an existing user are left alone (no apt-get update then).
set -eu
export DEBIAN_FRONTEND=noninteractive
PACKAGES="{{ settings.node_package }} python3"

missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  apt-get update -q
  # shellcheck disable=SC2086 # word splitting of the package list is intended
  apt-get install -y -q --no-install-recommends $missing
fi
if [ ! -x /usr/bin/node ]; then
  echo "package {{ settings.node_package }} did not provide /usr/bin/node: set node_package to a package that does" >&2
  exit 1
fi

if ! id -u "{{ settings.user }}" >/dev/null 2>&1; then
  useradd --system --user-group --no-create-home --home-dir "{{ settings.app_dir }}" --shell /usr/sbin/nologin "{{ settings.user }}"
fi
# The code belongs to root: the app can read but not rewrite itself.
install -d -m 0755 "{{ settings.app_dir }}"
install -d -m 0700 /var/lib/provisioning/taskservs/nodejs-app
echo "{\"version\":\"$(node --version | sed 's/^v//')\"}"
