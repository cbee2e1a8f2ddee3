#!/usr/bin/env bash
# Runs every Gemba test: the set-up from nothing (scripts/check-setup.sh), unit tests, our client
# against mosquitto, our broker against mosquitto_pub/mosquitto_sub and Eclipse Paho, the interop
# and browser tests, and the API contract (schemathesis, a generated client, the README's examples).
# Installs the peers when missing, starts them on loopback, and stops everything on exit.
# `--setup-only` stops after installing.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

step() { printf '\n== %s\n' "$*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

# shellcheck source=lib/packages.sh
source "$ROOT/scripts/lib/packages.sh"
# shellcheck source=lib/postgres.sh
source "$ROOT/scripts/lib/postgres.sh"
# shellcheck source=lib/ports.sh
source "$ROOT/scripts/lib/ports.sh"
postgres_workspace gemba-test

# Installs every peer the tests drive, when missing. Virtualenvs go under $VENVS.
install_peers() {
    local missing
    mapfile -t missing < <(test_packages)
    apt_install "${missing[@]}"
    has_python_modules paho.mqtt pytest influxdb_client influxdb websockets selenium jsonschema \
        || pip_install 'paho-mqtt>=2,<3' pytest 'influxdb-client>=1.40' 'influxdb>=5.3' 'websockets>=12' 'selenium>=4.20' 'jsonschema>=4.18'
    # The API contract's independent checkers: schemathesis and openapi-python-client (a client generator).
    has_python_modules schemathesis openapi_python_client || pip_install 'schemathesis>=4.3,<5' 'openapi-python-client>=0.29,<0.30'
    # The webhook receiver verifies signatures with the Standard Webhooks reference verifier; aiosmtpd is the SMTP server.
    has_python_modules standardwebhooks aiosmtpd || pip_install 'standardwebhooks>=1.0,<2' 'aiosmtpd>=1.4,<2'
    # The Modbus client's independent server (and the client that writes what it holds).
    has_python_modules pymodbus || pip_install 'pymodbus>=3.10,<4'
    # The OPC UA client's two independent servers: asyncua, and open62541 through o6.
    has_python_modules asyncua o6 || pip_install 'asyncua>=1.1,<2' 'o6>=2.2,<3'
    # The Sparkplug edge nodes pin conflicting protobuf and paho versions: one virtualenv each.
    for peer in pysparkplug==0.6.1 mqtt-spb-wrapper==2.1.2; do
        venv="$VENVS/venv-${peer%%==*}"
        [ -x "$venv/bin/python" ] && "$venv/bin/python" -m pip show -q "${peer%%==*}" >/dev/null 2>&1 && continue
        step "installing $peer in $venv"
        python3 -m venv "$venv" && "$venv/bin/python" -m pip install -q "$peer"
    done
}

wait_for_port() { wait_port "$1" || fail "nothing listening on port $1"; }

VENVS="${GEMBA_PREFIX:-$ROOT/.build}"
install_peers
if [ "${1:-}" = --setup-only ]; then step "set-up done"; exit 0; fi

step "both README commands set themselves up on a machine with nothing installed"
"$ROOT/scripts/check-setup.sh"
export PATH="$PATH:/usr/sbin"

step "swift build"
swift build --build-tests
GEMBA="$ROOT/.build/debug/gemba"

step "PostgreSQL 15 on loopback for the storage tests"
GEMBA_TEST_POSTGRES=$(start_postgres "$PGDIR" "$(free_port)" "pg-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')")
export GEMBA_TEST_POSTGRES

step "swift test (unit tests, both storage backends, broker/client over sockets, our client against mosquitto)"
GEMBA_REQUIRE_PEERS=1 swift test --skip-build

step "gemba serve for the peer tests"
PORT=$(free_port); TLS_PORT=$(free_port); AUTH_PORT=$(free_port)
HTTP_PORT=$(free_port); AUTH_HTTP_PORT=$(free_port); UP_HTTP_PORT=$(free_port); MOSQ_PORT=$(free_port)
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
export GEMBA_ADMIN_PASSWORD="interop-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
"$GEMBA" serve --mqtt-allow-anonymous --mqtt-port "$PORT" --mqtt-tls-port "$TLS_PORT" --mqtt-tls-cert "$WORK/cert.pem" \
    --mqtt-tls-key "$WORK/key.pem" --http-port "$HTTP_PORT" --data-dir "$WORK/data" --log-level warning 2>"$WORK/serve.log" &
PIDS+=($!)
PLC_SECRET=$("$GEMBA" admin device create --data-dir "$WORK/data2" --username plc-7 2>/dev/null)
GEMBA_MQTT_PORT="$AUTH_PORT" GEMBA_HTTP_PORT="$AUTH_HTTP_PORT" "$GEMBA" serve \
    --data-dir "$WORK/data2" --log-level warning 2>"$WORK/serve-auth.log" &
PIDS+=($!)
mosquitto -p "$MOSQ_PORT" 2>/dev/null &
PIDS+=($!)
MOSQ2_PORT=$(free_port)  # a second broker: the Sparkplug host on a redundant pair
mosquitto -p "$MOSQ2_PORT" 2>/dev/null &
PIDS+=($!)
wait_for_port "$MOSQ_PORT"; wait_for_port "$MOSQ2_PORT"
"$GEMBA" serve --mqtt-port 0 --http-port "$UP_HTTP_PORT" --mqtt-upstream "mqtt://127.0.0.1:$MOSQ_PORT" \
    --sparkplug-upstream "mqtt://127.0.0.1:$MOSQ_PORT" --sparkplug-upstream "mqtt://127.0.0.1:$MOSQ2_PORT" \
    --sparkplug-reorder-timeout 500 \
    --data-dir "$WORK/data3" --log-level warning 2>"$WORK/serve-upstream.log" &
PIDS+=($!)
wait_for_port "$PORT"; wait_for_port "$TLS_PORT"; wait_for_port "$AUTH_PORT"; wait_for_port "$HTTP_PORT"
wait_for_port "$UP_HTTP_PORT"

step "mosquitto_pub/mosquitto_sub against gemba (3.1.1 and 5.0, QoS 0-2, retained, TLS, auth)"
for version in mqttv311 mqttv5; do
    for qos in 0 1 2; do
        topic="cli/$version/$qos"
        mosquitto_sub -p "$PORT" -V "$version" -q "$qos" -t "$topic" -C 1 -W 5 > "$WORK/out" &
        sub=$!
        # The subscriber gives no sign when its SUBSCRIBE is done: publish until it has its message (5 s at most).
        for _ in $(seq 25); do
            mosquitto_pub -p "$PORT" -V "$version" -q "$qos" -t "$topic" -m "hello-$qos"
            kill -0 "$sub" 2>/dev/null || break
            sleep 0.2
        done
        wait "$sub" || fail "mosquitto_sub $version QoS $qos got nothing"
        [ "$(cat "$WORK/out")" = "hello-$qos" ] || fail "$version QoS $qos: got '$(cat "$WORK/out")'"
    done
    mosquitto_pub -p "$PORT" -V "$version" -q 1 -r -t "cli/$version/retained" -m "kept"
    [ "$(mosquitto_sub -p "$PORT" -V "$version" -t "cli/$version/retained" -C 1 -W 5)" = "kept" ] \
        || fail "$version retained message not delivered"
done
mosquitto_sub -p "$TLS_PORT" --cafile "$WORK/cert.pem" -h localhost -t tls/t -C 1 -W 5 > "$WORK/tls" &
sub=$!; sleep 0.3
mosquitto_pub -p "$TLS_PORT" --cafile "$WORK/cert.pem" -h localhost -q 1 -t tls/t -m "over-tls"
wait "$sub" || fail "no message over TLS"
[ "$(cat "$WORK/tls")" = "over-tls" ] || fail "TLS payload mismatch"
if mosquitto_pub -p "$AUTH_PORT" -t gemba/v1/p/l/m -m 1 -u plc-7 -P wrong 2>/dev/null; then fail "wrong password accepted"; fi
if mosquitto_pub -p "$AUTH_PORT" -t gemba/v1/p/l/m -m 1 2>/dev/null; then fail "anonymous accepted by default"; fi
mosquitto_pub -p "$AUTH_PORT" -t gemba/v1/p/l/m -m 1 -u plc-7 -P "$PLC_SECRET" || fail "right device secret refused"
echo "mosquitto clients: ok"

step "device credentials and API keys from gemba admin, used by mosquitto_pub and curl"
DEVICE_SECRET=$("$GEMBA" admin device create --data-dir "$WORK/data" --username gw-ci --subtree plant1/line3 2>/dev/null)
VIEWER_KEY=$("$GEMBA" admin api-key create --data-dir "$WORK/data" --name ci-viewer --role viewer 2>/dev/null)
mosquitto_pub -p "$PORT" -V mqttv5 -q 1 -u gw-ci -P "$DEVICE_SECRET" -t gemba/v1/plant1/line3/m-ci \
    -m '{"values": {"ci_temp": 21.5}}' 2>"$WORK/pub.err" || fail "device publish refused"
if grep -q "failed" "$WORK/pub.err"; then fail "device publish in its subtree failed: $(cat "$WORK/pub.err")"; fi
mosquitto_pub -p "$PORT" -V mqttv5 -q 1 -u gw-ci -P "$DEVICE_SECRET" -t gemba/v1/plant1/line4/m-ci -m '{"values": {"x": 1}}' \
    2>"$WORK/pub.err" || true
grep -q "Not authorized" "$WORK/pub.err" || fail "device published outside its subtree"
if mosquitto_pub -p "$PORT" -u gw-ci -P wrong-secret -t gemba/v1/plant1/line3/m-ci -m 1 2>/dev/null; then fail "wrong device secret accepted"; fi
curl -sf -H "Authorization: Bearer $VIEWER_KEY" "http://127.0.0.1:$HTTP_PORT/api/v1/latest?machine=plant1/line3/m-ci" \
    | grep -q '"ci_temp"' || fail "the device's sample is not readable with the viewer key"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/api/v1/machines")" = 401 ] || fail "no credentials must be 401"
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $VIEWER_KEY" -X POST \
    "http://127.0.0.1:$HTTP_PORT/api/v1/api-keys" -d '{}')" = 403 ] || fail "a viewer key must not create keys"


step "gemba pub/sub CLI (against gemba over TLS and against mosquitto)"
"$GEMBA" sub -p "$TLS_PORT" -h localhost --cafile "$WORK/cert.pem" -t 'cli/gemba/#' -v -C 1 -W 5 > "$WORK/gsub" &
sub=$!; sleep 0.5
"$GEMBA" pub -p "$TLS_PORT" -h localhost --cafile "$WORK/cert.pem" -t cli/gemba/x -m ok -q 2
wait "$sub"; [ "$(cat "$WORK/gsub")" = "cli/gemba/x ok" ] || fail "gemba sub got '$(cat "$WORK/gsub")'"
"$GEMBA" sub -p "$MOSQ_PORT" -V mqttv311 -t 'cli/m/#' -q 2 -C 1 -W 5 > "$WORK/msub" &
sub=$!; sleep 0.5
"$GEMBA" pub -p "$MOSQ_PORT" -t cli/m/x -m via-mosquitto -q 1
wait "$sub"; [ "$(cat "$WORK/msub")" = "via-mosquitto" ] || fail "gemba sub via mosquitto got '$(cat "$WORK/msub")'"
set +e
"$GEMBA" serve --mqtt-port banana >/dev/null 2>&1; [ $? -eq 2 ] || fail "bad flag must exit 2"
GEMBA_MQTT_PORT=70000 "$GEMBA" serve --data-dir "$WORK/never" >/dev/null 2>&1; [ $? -eq 2 ] || fail "bad env must exit 2"
[ ! -e "$WORK/never" ] || fail "a bad setting must stop gemba serve before it creates anything"
"$GEMBA" serve --data-dir "$WORK/never" --http-port 80000 >/dev/null 2>&1; [ $? -eq 2 ] || fail "bad HTTP port must exit 2"
[ ! -e "$WORK/never" ] || fail "a bad HTTP setting must stop gemba serve before it creates anything"
"$GEMBA" serve --mqtt-tls-cert /nonexistent >/dev/null 2>&1; [ $? -eq 2 ] || fail "half TLS config must exit 2"
"$GEMBA" pub -t 'a/#' -m x >/dev/null 2>&1; [ $? -eq 2 ] || fail "wildcard topic must exit 2"
set -e
JP=$(free_port); JH=$(free_port)
"$GEMBA" serve --mqtt-port "$JP" --http-port "$JH" --data-dir "$WORK/data-json" --log-format json \
    --http-tls-cert "$WORK/cert.pem" --http-tls-key "$WORK/key.pem" 2>"$WORK/json.log" &
json_pid=$!
for _ in $(seq 1 100); do grep -q 'Gemba is running' "$WORK/json.log" && break; sleep 0.1; done
curl -sf --cacert "$WORK/cert.pem" -D "$WORK/https.headers" "https://localhost:$JH/health" >/dev/null || fail "HTTPS /health failed"
grep -qi '^strict-transport-security:' "$WORK/https.headers" || fail "HTTPS responses must carry HSTS"
kill -TERM "$json_pid"; wait "$json_pid" || fail "gemba serve did not stop cleanly on SIGTERM"
python3 -c 'import json, sys
lines = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
assert lines and all({"ts", "level", "message"} <= set(line) for line in lines), lines
assert any(line["message"] == "Gemba is running" for line in lines)' "$WORK/json.log" || fail "--log-format json did not log JSON lines"
echo "CLI: ok"

step "Eclipse Paho, InfluxDB clients, websockets and mosquitto (upstream) against gemba"
GEMBA_MQTT_PORT="$PORT" GEMBA_HTTP_URL="http://127.0.0.1:$HTTP_PORT" GEMBA_UPSTREAM_HTTP_URL="http://127.0.0.1:$UP_HTTP_PORT" \
    MOSQUITTO_PORT="$MOSQ_PORT" MOSQUITTO2_PORT="$MOSQ2_PORT" PYSPARKPLUG_PYTHON="$ROOT/.build/venv-pysparkplug/bin/python" \
    SPB_WRAPPER_PYTHON="$ROOT/.build/venv-mqtt-spb-wrapper/bin/python" GEMBA_BIN="$GEMBA" python3 -m pytest -q Tests/Interop

step "the dashboard in headless Chromium (Selenium) against gemba serve --demo"
DEMO_HTTP=$(free_port); DEMO_MQTT=$(free_port)
"$GEMBA" serve --demo --http-port "$DEMO_HTTP" --mqtt-port "$DEMO_MQTT" --data-dir "$WORK/data-demo" --log-level warning --api-rate 1000000 \
    2>"$WORK/serve-demo.log" &
PIDS+=($!)
wait_for_port "$DEMO_HTTP"
GEMBA_HTTP_URL="http://127.0.0.1:$DEMO_HTTP" GEMBA_SCREENSHOTS="$ROOT/.build/screenshots" GEMBA_BIN="$GEMBA" python3 -m pytest -q Tests/Browser
echo "screenshots: $ROOT/.build/screenshots"

step "the API contract: the README's examples, a generated client and schemathesis against /openapi.json"
# On the demo factory, after the browser tests (schemathesis may change anything an owner may change).
CONTRACT_KEY=$("$GEMBA" admin api-key create --data-dir "$WORK/data-demo" --name contract --role owner 2>/dev/null)
GEMBA_HTTP_URL="http://127.0.0.1:$DEMO_HTTP" GEMBA_API_KEY="$CONTRACT_KEY" python3 -m pytest -q Tests/Contract
# pip puts the schemathesis command beside python3 (or in the user's scripts folder).
SCRIPTS=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$(python3 -m site --user-base)/bin
(cd "$WORK" && PATH="$PATH:$SCRIPTS" schemathesis run "http://127.0.0.1:$DEMO_HTTP/openapi.json" \
    -H "Authorization: Bearer $CONTRACT_KEY" --seed 1 --max-examples 20 --generation-database none --no-color \
    --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance) \
    > "$WORK/schemathesis.log" 2>&1 || { cat "$WORK/schemathesis.log"; fail "schemathesis found the API breaking its contract"; }
grep -E "generated|passed|Seed" "$WORK/schemathesis.log" | tail -3

if grep -E "Fatal error|Segmentation" "$WORK"/serve*.log; then fail "gemba serve crashed"; fi
for secret in "$GEMBA_ADMIN_PASSWORD" "$VIEWER_KEY" "$DEVICE_SECRET" "$CONTRACT_KEY"; do
    if grep -qF -- "$secret" "$WORK"/serve*.log; then fail "a secret appeared in a server log"; fi
done
kill -0 "${PIDS[0]}" || fail "gemba serve died during the tests"
step "all tests passed"
