#!/usr/bin/env bash
# Checks every shipped dependency (dev-dependencies excluded) against the
# RustSec advisory database with cargo-deny, without reaching the network.
#
#   scripts/advisories.sh [ADVISORY_DB_CLONE]
#
# The database is a git repository (https://github.com/rustsec/advisory-db).
# Given a clone (the argument or ECRSCAN_ADVISORY_DB), it is copied to where
# cargo-deny keeps it ($CARGO_HOME/advisory-dbs); otherwise the copy already
# there is used; with neither, the check is skipped and says so. To update:
#   git clone https://github.com/rustsec/advisory-db /some/where   # or git pull
#   scripts/advisories.sh /some/where
# or, online, `cargo deny check advisories` fetches it itself.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

source_db=${1:-${ECRSCAN_ADVISORY_DB:-}}
# cargo-deny 0.20 names its copy of the default database's URL this way.
db="${CARGO_HOME:-$HOME/.cargo}/advisory-dbs/advisory-db-3157b0e258782691"

if [[ -n $source_db ]]; then
    if ! git -C "$source_db" rev-parse --git-dir >/dev/null 2>&1; then
        echo "advisories: $source_db is not a git clone of the RustSec advisory database" >&2
        exit 2
    fi
    rm -rf "$db"
    mkdir -p "$(dirname "$db")"
    git clone --quiet "$source_db" "$db"
fi
if ! git -C "$db" rev-parse HEAD >/dev/null 2>&1; then
    echo "advisories: skipped (no advisory database at $db; see scripts/advisories.sh)"
    exit 0
fi
echo "advisories: RustSec database of $(git -C "$db" show -s --format=%cs HEAD)"
cargo deny --offline --exclude-dev check advisories
