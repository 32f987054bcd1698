#!/usr/bin/env bash
# Rill vs Apache Flink on the same input: see compare.py (same arguments).
#   scripts/peers/compare.sh sensors --events 10000000 [--results results/peers]
#   scripts/peers/compare.sh nexmark --query q1 --events 10000000
set -euo pipefail
exec python3 "$(dirname "$0")/compare.py" "$@"
