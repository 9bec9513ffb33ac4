#!/usr/bin/env bash
# The README's test command: builds and runs every test (unit, integration, CLI, benches in
# test mode) in release mode (the Monte Carlo tests simulate tens of thousands of paths;
# release also shares the dependency build with `cargo build --release`), then prints one
# closing line with the totals. Exits non-zero when any test fails.
set -euo pipefail
cd "$(dirname "$0")/.."

# What the tests need beyond Rust, installed when missing (skip with TOKENRISK_NO_INSTALL=1):
# Mesa lavapipe (software Vulkan) so the GPU engine's tests run on machines without a GPU,
# and NumPy and JAX for the peer-agreement tests (tests/peers.rs).
if [ -z "${TOKENRISK_NO_INSTALL:-}" ]; then
  if ! ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
      echo "test.sh: installing Mesa lavapipe (mesa-vulkan-drivers libvulkan1) for the GPU tests" >&2
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mesa-vulkan-drivers libvulkan1; } >&2 ||
        echo "test.sh: WARNING: could not install lavapipe; GPU tests will report SKIPPED" >&2
    else
      echo "test.sh: WARNING: no lavapipe and not root; GPU tests will report SKIPPED" >&2
    fi
  fi
  if ! python3 -c "import numpy, jax" 2>/dev/null; then
    echo "test.sh: installing numpy and jax for the peer tests" >&2
    python3 -m pip install --quiet --disable-pip-version-check numpy jax >&2 ||
      echo "test.sh: WARNING: pip install numpy jax failed; peer tests will report SKIPPED" >&2
  fi
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --release --all-targets "$@" 2>&1 | tee "$log" || status=$?
passed=$(grep -Eo '^test result: .* ([0-9]+) passed' "$log" | grep -Eo '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '^test result: .* ([0-9]+) failed' "$log" | grep -Eo '[0-9]+ failed' | awk '{s+=$1} END {print s+0}')
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1 # a build error or a crashed test binary: count it as a failure
fi
echo "summary: $passed passed, $failed failed"
exit "$status"
