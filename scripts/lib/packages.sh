# Sourced by the scripts: finds what a command needs and installs what is missing (Debian's
# packages through apt-get, as root or through sudo; Python packages through pip).
#
# GEMBA_PREFIX, when set, is a root directory the checks look in instead of `/`: pointed at an
# empty directory, every check fails and the whole install path runs for real. That is how
# `scripts/check-setup.sh` proves the README's commands work on a machine with nothing installed.

GEMBA_PREFIX="${GEMBA_PREFIX:-}"

# has_file PATH: the file exists (under the prefix).
has_file() { [ -e "$GEMBA_PREFIX$1" ]; }

# has_command NAME: the command is installed (in /usr/bin or /usr/sbin under the prefix, or on PATH).
has_command() {
    if [ -n "$GEMBA_PREFIX" ]; then
        [ -x "$GEMBA_PREFIX/usr/bin/$1" ] || [ -x "$GEMBA_PREFIX/usr/sbin/$1" ]
    else
        command -v "$1" >/dev/null || [ -x "/usr/sbin/$1" ]
    fi
}

# has_python_modules MODULE...: python3 imports them all (never, under a prefix).
has_python_modules() {
    [ -z "$GEMBA_PREFIX" ] || return 1
    local modules; modules=$(IFS=,; echo "$*")
    python3 -c "import $modules" 2>/dev/null
}

# apt_install PACKAGE...: installs Debian packages without questions.
apt_install() {
    [ $# -gt 0 ] || return 0
    printf '\n== installing %s\n' "$*"
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# pip_install REQUIREMENT...: installs Python packages for the test peers.
pip_install() {
    printf '\n== installing %s\n' "$*"
    python3 -m pip install -q "$@"
}

# build_packages: what building Gemba needs beyond Swift itself.
build_packages() {
    has_file /usr/include/sqlite3.h || echo libsqlite3-dev   # GRDB links the system SQLite
    has_file /usr/include/zlib.h || echo zlib1g-dev          # gzip request bodies (compress-nio)
    # Shift calendars resolve IANA zones (Swift Foundation and Python zoneinfo read the system database).
    has_file /usr/share/zoneinfo/Europe/Berlin || echo tzdata
}

# test_packages: the Debian packages the tests need that are missing, one per line.
test_packages() {
    build_packages
    has_command mosquitto || echo mosquitto
    has_command mosquitto_pub || echo mosquitto-clients
    has_command openssl || echo openssl
    has_command curl || echo curl
    has_command protoc || echo protobuf-compiler   # Google's decoder reads Gemba's Sparkplug payloads back
    { [ -z "$GEMBA_PREFIX" ] && python3 -c 'import venv, ensurepip' 2>/dev/null; } || echo python3-venv
    # The dashboard is tested in Debian's headless Chromium, driven through its chromedriver.
    has_file /usr/bin/chromium || echo chromium
    has_file /usr/bin/chromedriver || echo chromium-driver
    # The Modbus client's second independent server is a small C program on Debian's libmodbus.
    has_file /usr/include/modbus/modbus.h || echo libmodbus-dev
    has_command cc || echo gcc
    # The PostgreSQL backend is tested against Debian's PostgreSQL 15, started by the tests themselves.
    has_file /usr/lib/postgresql/15/bin/initdb || echo postgresql-15
    has_command haproxy || echo haproxy   # several nodes behind Debian's load balancer
}

# ensure_build_packages: installs what building and running Gemba needs (the demo's set-up).
ensure_build_packages() {
    local missing
    mapfile -t missing < <(build_packages)
    apt_install "${missing[@]}"
}
