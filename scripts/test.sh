#!/usr/bin/env bash
# Runs every test of the workspace. Installs what the tests need by itself,
# pinned (scripts/test-requirements.txt), into ./.venv: the AWS emulator
# (moto server) for the S3 and ECR tests, pytest, cfn-lint,
# aws-sam-translator and parliament for the SAM template checks, and a
# headless Chromium with Selenium for the HTML report's.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

moto_server="$(scripts/ensure-moto.sh)"
export ECRSCAN_MOTO_SERVER="$moto_server"
# Tests that need the emulator fail (rather than skip) when it is missing.
export ECRSCAN_REQUIRE_MOTO=1
# Never reach real AWS: no instance metadata lookups, no profile from the machine.
export AWS_EC2_METADATA_DISABLED=true

# The headless browser the HTML report's tests drive (Debian's chromium,
# pinned); they fail rather than skip when it is missing.
scripts/ensure-browser.sh
export ECRSCAN_REQUIRE_BROWSER=1

# The SAM template checks (ecrscan-lambda/tests/template).
"$(dirname "$moto_server")/python" -m pytest -q -p no:cacheprovider ecrscan-lambda/tests/template
cargo test --workspace --locked "$@"
