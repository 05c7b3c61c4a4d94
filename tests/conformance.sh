#!/usr/bin/env bash
# Runs the Autobahn|Testsuite fuzzing client (cases 1-11) against a release build's /echo,
# first over ws://, then over wss:// (native TLS with a throw-away self-signed certificate).
# Fails on any FAILED case, or on more NON-STRICT cases than tungstenite itself has (2).
# LOOPCAST_CONFORMANCE_SCHEMES="ws" (or "wss") runs only one of them.
set -euo pipefail
cd "$(dirname "$0")/.."
SUITE="${LOOPCAST_CONFORMANCE:-$(cd .. && pwd)/shared/conformance}"
[ -x "$SUITE/run.sh" ] || { echo "conformance: $SUITE/run.sh not found" >&2; exit 2; }
SCHEMES="${LOOPCAST_CONFORMANCE_SCHEMES:-ws wss}"
VENV="${AUTOBAHN_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/autobahn-testsuite/venv}"
OUT_BASE="${AUTOBAHN_OUT:-$PWD/target/autobahn}"

cargo build --release --quiet

# A self-signed certificate for 127.0.0.1, made with the suite's own Python
# (Twisted[tls] brings `cryptography`). wstest does not verify certificates
# when the spec names no "hostname", so nothing needs to be trusted.
make_cert() {
  local dir="$1"
  [ -x "$VENV/bin/python" ] || "$SUITE/setup.sh" "$VENV" >&2
  "$VENV/bin/python" - "$dir" <<'PY'
import datetime, ipaddress, sys
from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
d = sys.argv[1]
key = ec.generate_private_key(ec.SECP256R1())
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
now = datetime.datetime.now(datetime.timezone.utc)
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256()))
open(f"{d}/cert.pem", "wb").write(cert.public_bytes(serialization.Encoding.PEM))
open(f"{d}/key.pem", "wb").write(key.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
    serialization.NoEncryption()))
PY
}

run_suite() {
  local scheme="$1" port server log extra=()
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  log="target/conformance-server-$scheme.log"
  if [ "$scheme" = wss ]; then
    local certs="target/conformance-certs"
    mkdir -p "$certs"
    make_cert "$certs"
    extra=(--tls-cert "$certs/cert.pem" --tls-key "$certs/key.pem")
  fi
  # Cases 9.* send messages of up to 16 MiB, beyond the 64 KiB default.
  ./target/release/loopcast --listen "127.0.0.1:$port" --log-level warn --max-message 16MiB \
    --max-pending 64MiB "${extra[@]}" >"$log" 2>&1 &
  server=$!
  trap 'kill $server 2>/dev/null || true' EXIT
  for _ in $(seq 50); do
    (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done

  export AUTOBAHN_OUT="$OUT_BASE/$scheme"
  set +e
  "$SUITE/run.sh" "$scheme://127.0.0.1:$port/echo" "1.*,2.*,3.*,4.*,5.*,6.*,7.*,9.*,10.*,11.*"
  local rc=$?
  set -e
  kill -0 $server 2>/dev/null || { echo "conformance: the server died during the $scheme run" >&2; cat "$log" >&2; exit 1; }
  kill $server 2>/dev/null || true
  wait $server 2>/dev/null || true
  trap - EXIT
  [ $rc -eq 0 ] || exit $rc

  python3 - "$AUTOBAHN_OUT/reports/servers/index.json" "$scheme" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
results = next(iter(report.values()))
non_strict = sorted(c for c, r in results.items() if r["behavior"] == "NON-STRICT")
failed = sorted(c for c, r in results.items() if r["behavior"] == "FAILED" or r.get("behaviorClose") == "FAILED")
print(f"conformance ({sys.argv[2]}://): {len(results)} cases, FAILED {failed or 'none'}, NON-STRICT {non_strict or 'none'}")
# tungstenite itself is NON-STRICT on 6.4.3 and 6.4.4 (fail-fast UTF-8 inside a frame).
if failed or len(non_strict) > 2:
    sys.exit(1)
PY
}

for scheme in $SCHEMES; do
  run_suite "$scheme"
done
