#!/usr/bin/env bash
# The test command: starts what the tests need, then runs every test of the workspace against
# the real local PostgreSQL and a real S3-compatible server on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh
exec cargo test --workspace "$@"
