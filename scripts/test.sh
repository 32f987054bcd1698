#!/usr/bin/env bash
# The test command: formatting, lints, and every test of the workspace (unit, reference-model,
# doc tests, examples). Runs in well under 20 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
# The library examples, as a user runs them.
for ex in engine/examples/*.rs; do
  [ -e "$ex" ] || continue
  cargo run --locked -q -p rill --example "$(basename "$ex" .rs)" >/dev/null
done
