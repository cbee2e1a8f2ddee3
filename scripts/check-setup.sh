#!/usr/bin/env bash
# Proves the README's two commands set themselves up on a machine with nothing installed: runs
# the set-up of `scripts/demo.sh` and `scripts/test.sh` with every check pointed at an empty
# directory (GEMBA_PREFIX), so each finds nothing and the whole install path runs for real
# (apt-get as root or through sudo, pip, the virtualenvs). Then, with the checks pointed back
# at this machine, nothing may be missing any more: what was installed covers what is checked.
set -euo pipefail
cd "$(dirname "$0")/.."
EMPTY=$(mktemp -d /tmp/gemba-empty-root.XXXXXX)
trap 'rm -rf "$EMPTY"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

for script in demo test; do
    GEMBA_PREFIX="$EMPTY" "./scripts/$script.sh" --setup-only > "$EMPTY/$script.log" 2>&1 \
        || { cat "$EMPTY/$script.log" >&2; fail "scripts/$script.sh could not set itself up from nothing"; }
    grep -q "installing libsqlite3-dev zlib1g-dev tzdata" "$EMPTY/$script.log" \
        || { cat "$EMPTY/$script.log" >&2; fail "scripts/$script.sh did not run its install path"; }
done
[ -x "$EMPTY/venv-pysparkplug/bin/python" ] || fail "the pysparkplug virtualenv was not made"

# shellcheck source=lib/packages.sh
source scripts/lib/packages.sh
left=$(test_packages)
[ -z "$left" ] || fail "still missing after the set-up: $left"
echo "set-up from an empty machine: ok"
