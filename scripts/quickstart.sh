#!/usr/bin/env bash
# One command from a fresh clone to the main job: install, build, start the local container engine
# (Podman behind the Docker API) with its Debian base image, create a workspace from the `local`
# template wired to that engine, show its configuration with the origin of every value, then
# create its two servers (containers), run a command on one, list them, and install and smoke-test
# their taskservs (nginx, redis).
# Usage: bash scripts/quickstart.sh [workspace-dir]      (default: ./demo)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
target="${1:-$PWD/demo}"

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "Node.js >= 20 is required (found: $(node --version 2>/dev/null || echo none)); install it first." >&2
  exit 1
fi
if ! command -v g++ >/dev/null || ! command -v make >/dev/null; then
  echo "installing a C++ toolchain for the SQLite binding (apt-get)…" >&2
  apt-get update -qq && apt-get install -y -qq g++ make python3
fi

(cd "$repo" && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build)
prov() { node "$repo/bin/provisioning.js" "$@"; }
socket="unix://$(bash "$repo/scripts/engine.sh")"

name="$(basename "$target")"
if [ -e "$target/provisioning.toml" ]; then
  echo "workspace already present at $target; reusing it" >&2
  prov workspace register "$name" "$target" --activate 2>/dev/null || prov workspace activate "$name"
else
  prov workspace init "$name" "$target" --template local
fi
cd "$target"
prov config set providers.local.socket "$socket"
# The first run builds the image from Debian's archive (about a minute); later runs find it.
prov provider local prepare-image
prov validate config
prov config show --origin
echo
prov server create --yes --wait
prov server ssh web-01 -- uname -a
prov server list
# nginx on web-01, redis on db-01, from Debian's archive: done only when their smoke tests pass
prov taskserv create --yes
prov taskserv list
# the same infra as a durable workflow (workflows/site.toml): servers and taskservs are already
# there, so their operations only check; then a script asks redis on db-01 for PONG
[ -e workflows/site.toml ] && prov batch submit workflows/site.toml --direct
prov workflow list
echo
echo "Next: cd $target && node $repo/bin/provisioning.js help   (or: npm link in $repo for the 'prov' command)"
echo "Remove the servers again with: node $repo/bin/provisioning.js server delete --yes --force"
