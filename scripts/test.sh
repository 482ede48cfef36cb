#!/usr/bin/env bash
# Runs every test of the workspace. Installs what the tests need by itself:
# the AWS emulator (moto server) for the S3 and ECR tests, and cfn-lint and
# aws-sam-translator for the SAM template checks, into ./.venv.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

moto_server="$(scripts/ensure-moto.sh)"
export ECRSCAN_MOTO_SERVER="$moto_server"
# Tests that need the emulator fail (rather than skip) when it is missing.
export ECRSCAN_REQUIRE_MOTO=1
# Never reach real AWS: no instance metadata lookups, no profile from the machine.
export AWS_EC2_METADATA_DISABLED=true

if [ -f scripts/check-template.sh ]; then
  PYTHON="$(dirname "$moto_server")/python" scripts/check-template.sh
fi
cargo test --workspace --locked "$@"
