#!/usr/bin/env bash
# Regenerate docs/conformance-report.md by running the suite against a freshly started
# ivoa-broker in a temporary directory: the local adapter for UWS jobs, two token users and,
# when the canfar plug-in is installed, two canfar instances on its skaha emulator so that
# ExecutionBroker requests (examples/eb-request-canfar.json) get offers.
#
#   conformance/make-report.sh [OUTPUT]      (default: docs/conformance-report.md)
#
# Needs: ivoa-broker and ivoa-broker-conformance installed; the IVOA XSDs in
# $IVOA_XSD_DIR (default ../shared/ivoa-xsd beside the repository; validation is reported as skipped without).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
out="${1:-$repo/docs/conformance-report.md}"
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
xsd="${IVOA_XSD_DIR:-$repo/../shared/ivoa-xsd}"
work="$(mktemp -d)"
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
port="$(free_port)"
alice="alice-conformance-token-0001"
bob="bob-conformance-token-0002"
skaha_token="skaha-service-token-0003"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

wait_for() {  # URL PID LOG: until the URL answers at all (any HTTP status)
    for _ in $(seq 1 150); do
        code="$(curl -s -o /dev/null -w '%{http_code}' "$1" 2>/dev/null || true)"
        if [ "$code" != "000" ] && [ -n "$code" ]; then return 0; fi
        if ! kill -0 "$2" 2>/dev/null; then cat "$3" >&2; exit 2; fi
        sleep 0.2
    done
    echo "no answer from $1" >&2
    exit 2
}

printf '%s alice\n%s bob\n' "$alice" "$bob" > "$work/tokens.txt"
cat > "$work/broker.toml" <<TOML
[auth]
anonymous = false
token_file = "tokens.txt"

[jobs]
wait_cap = 5
offer_ttl = 20

[adapters.local]
plugin = "local"
TOML

eb_args=()
if python3 -c 'import ivoa_broker_canfar.emulator' 2>/dev/null; then
    eport="$(free_port)"
    python3 -m ivoa_broker_canfar.emulator --port "$eport" --token "$skaha_token=svc" \
        >"$work/emulator.log" 2>&1 &
    pids+=($!)
    wait_for "http://127.0.0.1:$eport/skaha/v1/image" "${pids[-1]}" "$work/emulator.log"
    for name in canfar canfar2; do
        cat >> "$work/broker.toml" <<TOML

[adapters.$name]
plugin = "canfar"
[adapters.$name.config]
url = "http://127.0.0.1:$eport/skaha"
token = "$skaha_token"
offer_seconds = 20
TOML
    done
    eb_args=(--eb-request "$here/examples/eb-request-canfar.json")
else
    echo "ivoa_broker_canfar not installed: EB requests will get no offers" >&2
fi

(cd "$work" && exec ivoa-broker serve --config broker.toml --host 127.0.0.1 --port "$port" \
    --log-level warning >"$work/serve.log" 2>&1) &
pids+=($!)
wait_for "http://127.0.0.1:$port/availability" "${pids[-1]}" "$work/serve.log"

schemas=()
[ -d "$xsd" ] && schemas=(--schemas "$xsd")
status=0
ivoa-broker-conformance "http://127.0.0.1:$port" --token "$alice" --other-token "$bob" \
    "${schemas[@]}" "${eb_args[@]}" --format md --report "$out" || status=$?
echo "report written to $out (exit status $status)"
exit "$status"
