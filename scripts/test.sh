#!/usr/bin/env bash
# The README's test command: builds and runs every test (unit, integration, CLI, benches in
# test mode) in release mode (the Monte Carlo tests simulate tens of thousands of paths;
# release also shares the dependency build with `cargo build --release`), every test binary
# even when one fails (--no-fail-fast), then prints one closing line, on every way out:
#
#   summary: N passed, N failed, N skipped
#
# and exits non-zero when any test failed, a test binary crashed or the build failed. The
# Python package (python/) is then built into target/pyenv and its pytest suite run; its
# counts join the summary line, and a failed build or test fails the script too.
#
# A GPU or peer test that cannot run here (no Vulkan adapter, no NumPy/JAX/pyarrow) prints a SKIPPED
# line and passes; with TOKENRISK_REQUIRE_GPU=1 / TOKENRISK_REQUIRE_PEERS=1 (set by .ci/run)
# it fails instead.
set -uo pipefail
cd "$(dirname "$0")/.."

# What the tests need beyond Rust, installed when missing (skip with TOKENRISK_NO_INSTALL=1):
# Mesa lavapipe (software Vulkan) so the GPU engine's tests run on machines without a GPU,
# NumPy and JAX for the peer-agreement tests (tests/peers.rs), and pyarrow, whose Parquet
# files of every compression tokenrisk must read (tests/integrity_figures.rs).
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
  if ! python3 -c "import numpy, jax, pyarrow" 2>/dev/null; then
    echo "test.sh: installing numpy, jax and pyarrow for the peer tests" >&2
    python3 -m pip install --quiet --disable-pip-version-check numpy jax pyarrow >&2 ||
      echo "test.sh: WARNING: pip install numpy jax pyarrow failed; peer tests will report SKIPPED" >&2
  fi
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --release --all-targets --no-fail-fast "$@" 2>&1 | tee "$log" || status=$?

# Totals of every "test result:" line (none when the build failed).
total() { grep -Eo "^test result: .*" "$log" | grep -Eo "[0-9]+ $1" | awk '{s += $1} END {print s + 0}'; }
passed=$(total passed)
failed=$(total failed)
skipped=$(grep -c "^SKIPPED: " "$log" || true)
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  # No test reported a failure, yet cargo failed: the build, or a test binary that crashed.
  failed=1
  echo "test.sh: cargo test failed without a failing test (a build error or a crashed test binary, above)" >&2
fi

# The Python package (python/): built into the virtual environment target/pyenv with pip, as
# the README's `pip install ./python`, sharing this target dir so the engine's dependencies
# are compiled once; then its pytest suite, whose counts join the summary. Skip with
# TOKENRISK_NO_PYTHON=1. pytest's equality tests run the release binary cargo test built; nbclient,
# ipykernel and nbformat run examples/quickstart.ipynb in a kernel of the venv's python; tqdm
# is there so the progress bar's tqdm path is tested (python/tests/test_progress.py).
if [ -z "${TOKENRISK_NO_PYTHON:-}" ]; then
  pylog=$(mktemp)
  trap 'rm -f "$log" "$pylog"' EXIT
  venv=target/pyenv
  pystatus=0
  {
    { [ -x "$venv/bin/python" ] || python3 -m venv "$venv"; } &&
    { "$venv/bin/python" -c "import maturin, pytest, pyarrow, pandas, polars, tqdm, nbclient, ipykernel, nbformat" 2>/dev/null ||
      "$venv/bin/python" -m pip install --quiet --disable-pip-version-check maturin pytest pyarrow pandas polars tqdm nbclient ipykernel nbformat; } &&
    # The venv's bin on PATH: maturin's build backend (1.16 and later) runs `maturin` by name,
    # which --no-build-isolation does not put on PATH by itself.
    PATH="$PWD/$venv/bin:$PATH" CARGO_TARGET_DIR="$PWD/target" "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
      --no-build-isolation --force-reinstall --no-deps ./python
  } >&2 || pystatus=$?
  if [ "$pystatus" -ne 0 ]; then
    echo "test.sh: building the Python package failed (above)" >&2
    failed=$((failed + 1))
  else
    TOKENRISK_BIN="$PWD/target/release/tokenrisk" "$venv/bin/python" -m pytest python/tests -q -rs -p no:cacheprovider 2>&1 | tee "$pylog" || pystatus=$?
    # pytest's closing line: "N passed, N failed, N skipped, N errors in S s" (any subset).
    pycount() { tail -n 5 "$pylog" | grep -E " in [0-9.]+s" | grep -Eo "[0-9]+ $1" | awk '{s += $1} END {print s + 0}'; }
    pyfailed=$(( $(pycount failed) + $(pycount error) ))
    if [ "$pystatus" -ne 0 ] && [ "$pyfailed" -eq 0 ]; then
      pyfailed=1
      echo "test.sh: pytest failed without a failing test (exit $pystatus, above)" >&2
    fi
    passed=$((passed + $(pycount passed)))
    failed=$((failed + pyfailed))
    skipped=$((skipped + $(pycount skipped)))
  fi
  [ "$pystatus" -ne 0 ] && [ "$status" -eq 0 ] && status=1
fi
echo "summary: $passed passed, $failed failed, $skipped skipped"
exit "$status"
