#!/usr/bin/env bash
# The README's test command: builds and runs every test (unit, integration, doc) in release
# mode (the Monte Carlo tests simulate tens of thousands of paths; release also shares the
# dependency build with `cargo build --release`). Exits non-zero when any test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release --all-targets "$@"
cargo test --release --doc
