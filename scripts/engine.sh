#!/usr/bin/env bash
# Start a Docker-API-compatible container engine for the `local` provider: Podman behind a unix socket.
# Idempotent and safe to run concurrently (tests call it from parallel processes): installs what is
# missing, writes a containers.conf, starts `podman system service` if its socket does not answer,
# and prints the socket path. See docs/providers.md.
#   PROVISIONING_ENGINE_DIR   where the config, socket and log live (default /var/tmp/provisioning-engine)
set -euo pipefail
dir="${PROVISIONING_ENGINE_DIR:-/var/tmp/provisioning-engine}"
sock="$dir/podman.sock"
mkdir -p "$dir"

answers() { curl -fsS --max-time 5 --unix-socket "$sock" http://d/v1.41/version >/dev/null 2>&1; }

# Only one runner installs and starts; the others wait here and then find the socket answering.
exec 9>"$dir/engine.lock"
flock -w 600 9 || { echo "engine.sh: timed out waiting for $dir/engine.lock" >&2; exit 1; }

if answers; then echo "$sock"; exit 0; fi
# A service for this socket that is only slow (a loaded machine) gets time; a second service on the
# same storage would break both ("write child: broken pipe"). One that never answers is replaced.
if pgrep -f "podman system service .*unix://$sock" >/dev/null; then
  for _ in $(seq 1 12); do answers && { echo "$sock"; exit 0; }; sleep 5; done
  pkill -f "podman system service .*unix://$sock" || true
  sleep 2
fi

missing=()
command -v podman >/dev/null || missing+=(podman)
command -v runc >/dev/null || missing+=(runc)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v ssh >/dev/null || missing+=(openssh-client)
command -v curl >/dev/null || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
  echo "engine.sh: installing ${missing[*]} (apt-get)…" >&2
  # Another process may hold the dpkg lock (unattended upgrades, a parallel set-up): wait for it.
  apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends \
    "${missing[@]}" >&2
fi

# crun (Podman's default) refuses this machine's mixed cgroup layout, and the default ulimits are
# above what a container may set; the config stays in $dir so /etc is never touched.
cat > "$dir/containers.conf" <<'CONF'
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]

[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
CONF
export CONTAINERS_CONF="$dir/containers.conf"

rm -f "$sock"
# Detached from the caller (own session, no inherited stdio, not holding the lock fd) so it outlives
# the test or CI step without blocking the next run.
setsid podman system service --time=0 "unix://$sock" >>"$dir/podman.log" 2>&1 </dev/null 9>&- &
echo $! > "$dir/podman.pid"

for _ in $(seq 1 150); do
  if answers; then echo "$sock"; exit 0; fi
  if ! kill -0 "$(cat "$dir/podman.pid")" 2>/dev/null; then break; fi
  sleep 0.2
done
echo "engine.sh: the Podman API did not answer on $sock; last lines of $dir/podman.log:" >&2
tail -n 20 "$dir/podman.log" >&2 || true
exit 1
