#!/bin/sh
# Report state without changing anything: 0 installed and matching, 10 not installed,
# 11 installed by another version of this taskserv, 12 configuration differs or not running.
# The last line is JSON with the observed server version.
set -u
STATE=/var/lib/provisioning/taskservs/postgres
pg_major() {
  v="{{ settings.version }}"
  if [ -z "$v" ]; then
    for bin in /usr/lib/postgresql/*/bin/postgres; do
      [ -x "$bin" ] && v=$(basename "$(dirname "$(dirname "$bin")")")
    done
  fi
  echo "$v"
}
V=$(pg_major)
[ -n "$V" ] && [ -d "/etc/postgresql/$V/main" ] || exit 10
version=$("/usr/lib/postgresql/$V/bin/postgres" --version | sed -n 's/^postgres (PostgreSQL) \([0-9.]*\).*/\1/p')
pg_ctlcluster "$V" main status >/dev/null 2>&1 && running=true || running=false
report() { echo "{\"version\":\"$version\",\"running\":$running}"; exit "$1"; }

[ -r "$STATE/extension-version" ] || report 12  # installed, but never configured by this taskserv
[ "$(cat "$STATE/extension-version")" = "{{ taskserv.version }}" ] || report 11
sha256sum --status -c "$STATE/files.sha256" 2>/dev/null || report 12
if [ -n "${PROV_SETTINGS:-}" ] && [ -r "$PROV_SETTINGS" ]; then
  wanted=$(python3 - "$PROV_SETTINGS" password <<'PY'
import hashlib, json, sys
s = json.load(open(sys.argv[1]))
for k in sys.argv[2:]:
    s.pop(k, None)
print(hashlib.sha256(json.dumps(s, sort_keys=True).encode()).hexdigest())
PY
)
  [ "$wanted" = "$(cat "$STATE/settings.sha256" 2>/dev/null)" ] || report 12
fi
[ "$running" = true ] || report 12
report 0
