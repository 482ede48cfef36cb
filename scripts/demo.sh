#!/usr/bin/env bash
# ecrscan's local demo: the AWS sample's walkthrough, on a local AWS emulator.
#
# Installs the emulator (moto server) into ./.venv if needed, starts it on a
# free port on 127.0.0.1, creates the sample's repositories with realistic
# findings, then runs the ecrscan CLI: configs add -> scan -> summary ->
# findings -> a rebuilt image and what changed. Never touches real AWS.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bold() { if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then printf '\033[1m%s\033[0m\n' "$*"; else printf '%s\n' "$*"; fi; }
step() { echo; bold "\$ $*"; }

# Where cargo put the binary: CARGO_TARGET_DIR, a build.target-dir setting
# or a workspace elsewhere all move it, so ask cargo rather than guess.
build_ecrscan() {
  cargo build --quiet --locked -p ecrscan-cli --bin ecrscan --message-format=json-render-diagnostics |
    python3 -c '
import json, sys
for line in sys.stdin:
    try:
        message = json.loads(line)
    except ValueError:
        continue
    if message.get("reason") == "compiler-artifact" and message.get("executable") \
            and message.get("target", {}).get("name") == "ecrscan":
        print(message["executable"])
'
}

if [ -n "${ECRSCAN_BIN:-}" ]; then
  ecrscan="$ECRSCAN_BIN"
else
  echo "building ecrscan ..." >&2
  ecrscan="$(build_ecrscan)"
  if [ -z "$ecrscan" ] || [ ! -x "$ecrscan" ]; then
    echo "error: cargo built ecrscan but did not say where ('$ecrscan')" >&2
    exit 1
  fi
fi
if [ "${1:-}" = "--print-binary" ]; then
  echo "$ecrscan"
  exit 0
fi
moto_server="$(scripts/ensure-moto.sh)"
python="$(dirname "$moto_server")/python"

work="$(mktemp -d "${TMPDIR:-/tmp}/ecrscan-demo.XXXXXX")"
port="$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$moto_server" -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto_pid=$!
cleanup() { kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true; }
trap cleanup EXIT

# Everything below talks to the emulator only, with dummy credentials.
export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo AWS_REGION=us-west-2
export AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
unset AWS_PROFILE AWS_SESSION_TOKEN ECR_SCAN_CONFIG_BUCKET
export ECRSCAN_STORE="$work/configs"

for _ in $(seq 1 100); do
  "$python" -c "import urllib.request; urllib.request.urlopen('$AWS_ENDPOINT_URL/moto-api/data.json')" 2>/dev/null && break
  sleep 0.1
done
echo "AWS emulator (moto server) on $AWS_ENDPOINT_URL; scan configs in $ECRSCAN_STORE" >&2

bold "# The AWS sample's repositories, with images and findings, on the emulator:"
"$python" scripts/seed_moto.py --endpoint-url "$AWS_ENDPOINT_URL"

cp examples/scan-configs/scan-config-*.json "$work/"
step ecrscan configs add scan-config-amazonlinux.json scan-config-centos.json scan-config-ubuntu.json
(cd "$work" && "$ecrscan" configs add scan-config-amazonlinux.json scan-config-centos.json scan-config-ubuntu.json)

step ecrscan configs list
"$ecrscan" configs list

step ecrscan scan
"$ecrscan" scan

step "ecrscan scan   # again: ECR allows one scan per image per day"
"$ecrscan" scan

step ecrscan summary
"$ecrscan" summary

step ecrscan summary -o table
"$ecrscan" summary -o table

step "ecrscan changes   # the first results of each image: baselines"
"$ecrscan" changes

echo
bold "# A day later, test/ubuntu:latest is rebuilt and pushed (a new digest):"
"$python" scripts/seed_moto.py --endpoint-url "$AWS_ENDPOINT_URL" --push-new-ubuntu-latest
step "ecrscan scan && ecrscan summary >/dev/null   # the new image is scanned and recorded"
"$ecrscan" scan >/dev/null
"$ecrscan" summary >/dev/null
step "ecrscan changes --since 1h --min-severity HIGH   # what latest's users gained and lost"
"$ecrscan" changes --since 1h --min-severity HIGH

ubuntu_id="$("$ecrscan" configs list -o json | "$python" -c 'import json,sys; print(next(c["id"] for c in json.load(sys.stdin) if c["repository"] == "test/ubuntu"))')"
feed="$work/findings-test-ubuntu.atom"
step ecrscan findings "$ubuntu_id" --output "$feed"
"$ecrscan" findings "$ubuntu_id" --output "$feed"
head -n 20 "$feed"
echo "  ..."

step ecrscan summary --fail-on CRITICAL
set +e
"$ecrscan" summary --fail-on CRITICAL >/dev/null
code=$?
set -e
echo "exit code $code (3: findings at or above CRITICAL)"

report="$work/report.html"
step ecrscan summary -o html --output "$report"
"$ecrscan" summary -o html --output "$report"

echo
bold "Done. The Atom feed of test/ubuntu's findings is in $feed"
bold "The HTML report is $report (open it in a browser)"
echo "(the scan configs stay in $ECRSCAN_STORE; the emulator stops now)"
