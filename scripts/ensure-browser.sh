#!/usr/bin/env bash
# Installs the headless browser the HTML report's tests drive: Debian's
# chromium and chromium-driver, pinned to a version known to work (Selenium,
# pinned in scripts/test-requirements.txt, drives it through chromedriver;
# nothing is downloaded at test time). Needs apt-get and root (or sudo).
#
# Elsewhere, point ECRSCAN_CHROMIUM and ECRSCAN_CHROMEDRIVER at a Chromium
# and its chromedriver; ECRSCAN_CHROMIUM_VERSION picks another Debian version
# (`apt-cache madison chromium` lists them) when the pinned one is gone.
set -euo pipefail

version="${ECRSCAN_CHROMIUM_VERSION:-150.0.7871.100-1~deb12u1}"
packages=(chromium chromium-common chromium-driver)

if [ -n "${ECRSCAN_CHROMIUM:-}" ] || [ -n "${ECRSCAN_CHROMEDRIVER:-}" ]; then
  for file in "${ECRSCAN_CHROMIUM:-/usr/bin/chromium}" "${ECRSCAN_CHROMEDRIVER:-/usr/bin/chromedriver}"; do
    [ -x "$file" ] || { echo "error: $file (ECRSCAN_CHROMIUM / ECRSCAN_CHROMEDRIVER) is not an executable" >&2; exit 1; }
  done
  exit 0
fi

installed() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || true; }
current=yes
for package in "${packages[@]}"; do
  [ "$(installed "$package")" = "$version" ] || current=no
done
if [ "$current" = yes ] && [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi

command -v apt-get >/dev/null || {
  echo "error: the report tests need Chromium and chromedriver: this is not Debian (no apt-get); set ECRSCAN_CHROMIUM and ECRSCAN_CHROMEDRIVER" >&2
  exit 1
}
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "error: installing chromium $version needs root (or sudo without a password): apt-get install ${packages[*]}" >&2
  exit 1
fi
echo "installing the headless browser for the report tests (chromium $version) ..." >&2
"${as_root[@]}" apt-get update -qq >&2
pinned=()
for package in "${packages[@]}"; do
  if ! apt-cache madison "$package" | grep -qF " $version "; then
    echo "error: $package $version is not available from apt any more; pick one of \`apt-cache madison $package\` with ECRSCAN_CHROMIUM_VERSION and update the pin in scripts/ensure-browser.sh" >&2
    exit 1
  fi
  pinned+=("$package=$version")
done
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${pinned[@]}" >&2
