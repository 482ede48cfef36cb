#!/usr/bin/env bash
# Prints the path of a moto server (the local AWS emulator) that speaks S3,
# ECR and the rest, installing it and the other Python test tools into
# ./.venv first if needed, at the versions pinned in
# scripts/test-requirements.txt. The server printed is moto_server answering
# one request at a time (scripts/moto_server.py says why); it takes
# moto_server's arguments. Progress goes to stderr.
#   MOTO_SERVER=$(scripts/ensure-moto.sh)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
python="${PYTHON:-python3}"
requirements="$root/scripts/test-requirements.txt"
packages=(-r "$requirements")
# What was installed, and from which pins: a changed pin reinstalls.
stamp="$venv/.requirements"
launcher="$venv/bin/ecrscan-moto-server"

write_launcher() {
  cat > "$launcher" <<SH
#!/usr/bin/env bash
exec "$venv/bin/python" "$root/scripts/moto_server.py" "\$@"
SH
  chmod +x "$launcher"
}

if [ -x "$launcher" ] && cmp -s "$requirements" "$stamp" \
    && "$venv/bin/python" -c 'import moto, flask, flask_cors, boto3, jsonpath_ng, pytest, cfnlint, samtranslator, parliament, standardwebhooks, feedparser, lxml, rnc2rng, jsonschema, rfc3987_syntax, selenium' 2>/dev/null; then
  echo "$launcher"
  exit 0
fi
command -v "$python" >/dev/null || { echo "error: $python not found; ecrscan's tests need Python 3 for the AWS emulator" >&2; exit 1; }
echo "installing the AWS emulator (moto server) into $venv ..." >&2
if "$python" -m venv "$venv" >/dev/null 2>&1 && [ -x "$venv/bin/pip" ]; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${packages[@]}" >&2
else
  # No venv module (e.g. Debian without python3-venv): install into a target directory.
  rm -rf "$venv"
  "$python" -m pip install --quiet --disable-pip-version-check --target "$venv/site" "${packages[@]}" >&2
  mkdir -p "$venv/bin"
  cat > "$venv/bin/python" <<SH
#!/usr/bin/env bash
PYTHONPATH="$venv/site\${PYTHONPATH:+:\$PYTHONPATH}" exec "$python" "\$@"
SH
  chmod +x "$venv/bin/python"
fi
write_launcher
cp "$requirements" "$stamp"
echo "$launcher"
