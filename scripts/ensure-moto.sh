#!/usr/bin/env bash
# Prints the path of a moto_server (the local AWS emulator) that speaks S3 and
# ECR, installing it and the other Python test tools into ./.venv first if
# needed, at the versions pinned in scripts/test-requirements.txt. Progress
# goes to stderr.
#   MOTO_SERVER=$(scripts/ensure-moto.sh)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
python="${PYTHON:-python3}"
requirements="$root/scripts/test-requirements.txt"
packages=(-r "$requirements")
# What was installed, and from which pins: a changed pin reinstalls.
stamp="$venv/.requirements"

if [ -x "$venv/bin/moto_server" ] && cmp -s "$requirements" "$stamp" \
    && "$venv/bin/python" -c 'import moto, flask, flask_cors, boto3, pytest, cfnlint, samtranslator, parliament, standardwebhooks' 2>/dev/null; then
  echo "$venv/bin/moto_server"
  exit 0
fi
command -v "$python" >/dev/null || { echo "error: $python not found; ecrscan's tests need Python 3 for the AWS emulator" >&2; exit 1; }
echo "installing the AWS emulator (moto server) into $venv ..." >&2
if "$python" -m venv "$venv" >/dev/null 2>&1 && [ -x "$venv/bin/pip" ]; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${packages[@]}" >&2
  cp "$requirements" "$stamp"
  echo "$venv/bin/moto_server"
else
  # No venv module (e.g. Debian without python3-venv): install into a target directory.
  rm -rf "$venv"
  "$python" -m pip install --quiet --disable-pip-version-check --target "$venv/site" "${packages[@]}" >&2
  mkdir -p "$venv/bin"
  cat > "$venv/bin/moto_server" <<SH
#!/usr/bin/env bash
PYTHONPATH="$venv/site\${PYTHONPATH:+:\$PYTHONPATH}" exec "$python" -m moto.server "\$@"
SH
  cat > "$venv/bin/python" <<SH
#!/usr/bin/env bash
PYTHONPATH="$venv/site\${PYTHONPATH:+:\$PYTHONPATH}" exec "$python" "\$@"
SH
  chmod +x "$venv/bin/moto_server" "$venv/bin/python"
  cp "$requirements" "$stamp"
  echo "$venv/bin/moto_server"
fi
