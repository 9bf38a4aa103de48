#!/usr/bin/env bash
# Regenerate docs/conformance-report.md by running the suite against a freshly started
# ivoa-broker (local adapter, two token users) in a temporary directory.
#
#   conformance/make-report.sh [OUTPUT]      (default: docs/conformance-report.md)
#
# Needs: ivoa-broker and ivoa-broker-conformance installed; the IVOA XSDs in
# $IVOA_XSD_DIR (default /work/shared/ivoa-xsd; validation is reported as skipped without).
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$repo/docs/conformance-report.md}"
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
xsd="${IVOA_XSD_DIR:-/work/shared/ivoa-xsd}"
work="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
alice="alice-conformance-token-0001"
bob="bob-conformance-token-0002"

printf '%s alice\n%s bob\n' "$alice" "$bob" > "$work/tokens.txt"
cat > "$work/broker.toml" <<TOML
[auth]
anonymous = false
token_file = "tokens.txt"

[jobs]
wait_cap = 5

[adapters.local]
plugin = "local"
TOML

(cd "$work" && exec ivoa-broker serve --config broker.toml --host 127.0.0.1 --port "$port" \
    --log-level warning >"$work/serve.log" 2>&1) &
server=$!
cleanup() { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

for _ in $(seq 1 150); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$port/availability" 2>/dev/null; then break; fi
    if ! kill -0 "$server" 2>/dev/null; then cat "$work/serve.log" >&2; exit 2; fi
    sleep 0.2
done

schemas=()
[ -d "$xsd" ] && schemas=(--schemas "$xsd")
status=0
ivoa-broker-conformance "http://127.0.0.1:$port" --token "$alice" --other-token "$bob" \
    "${schemas[@]}" --format md --report "$out" || status=$?
echo "report written to $out (exit status $status)"
exit "$status"
