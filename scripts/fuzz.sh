#!/usr/bin/env bash
# Fuzz the scenario parser, validation and a short simulation of what passes, for a bounded
# time, and print the executions and the corpus size:
#   scripts/fuzz.sh [SECONDS] [TARGET]     (default 60 s, target scenario)
# TARGET `partial` or `state` fuzzes the parsing and verification of a shard's partial.json
# or a checkpoint's state.json instead, `prices` a price history CSV (fuzz/src/inputs.rs).
#
# Uses cargo-fuzz (libFuzzer, coverage-guided; `cargo fuzz run scenario -s none`) when
# `cargo fuzz` is installed and can build the target (it does on stable with `-s none`; the
# sanitizers need nightly), else the stable mutation driver fuzz/src/bin/stable_fuzz.rs,
# which calls the same target function. FUZZ_ENGINE=stable forces the driver,
# FUZZ_ENGINE=libfuzzer forbids the fallback. The first build compiles tokenrisk with
# coverage instrumentation into fuzz/target (minutes); SECONDS bounds the fuzzing itself.
#
# Corpus: fuzz/corpus/TARGET (both engines read and grow it), seeded with data/scenarios
# (scenario; the stable driver seeds partial and state with the files of a small run made in
# memory). Crashes: fuzz/artifacts/TARGET/. Exit code 1 if an input panicked.
set -euo pipefail
secs=${1:-60}
target=${2:-scenario}
case "$target" in scenario | partial | state | prices) ;; *)
  echo "unknown target $target; allowed: scenario, partial, state, prices" >&2
  exit 2
  ;;
esac
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/fuzz"
corpus=corpus/$target
mkdir -p "$corpus" "artifacts/$target"
engine=${FUZZ_ENGINE:-auto}

count() { find "$corpus" -type f | wc -l | tr -d ' '; }

if [ "$engine" != stable ] && cargo fuzz --version >/dev/null 2>&1 \
  && cargo fuzz build "$target" -s none >/tmp/tokenrisk-fuzz-build.$$.log 2>&1; then
  rm -f /tmp/tokenrisk-fuzz-build.$$.log
  before=$(count)
  log=$(mktemp)
  set +e
  seeds=()
  if [ "$target" = scenario ]; then seeds=("$root/data/scenarios"); fi
  cargo fuzz run "$target" -s none "$corpus" ${seeds[@]+"${seeds[@]}"} -- \
    -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="artifacts/$target/" \
    >"$log" 2>&1
  rc=$?
  set -e
  grep -E '^(==|SUMMARY|.*panicked|Done )' "$log" | grep -v XDG_RUNTIME_DIR || true
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  echo "cargo-fuzz (libFuzzer, -s none): ${execs:-?} executions in ${secs} s (${rate:-?}/s); corpus ${before} -> $(count) inputs ($corpus)"
  if [ $rc -ne 0 ]; then
    echo "an input made the target fail; see $log and fuzz/artifacts/$target/" >&2
    exit 1
  fi
  rm -f "$log"
elif [ "$engine" = libfuzzer ]; then
  echo "cargo-fuzz is not available or cannot build the target (log: /tmp/tokenrisk-fuzz-build.$$.log)" >&2
  exit 1
else
  if [ "$engine" = stable ]; then
    echo "FUZZ_ENGINE=stable: running the stable mutation driver" >&2
  else
    echo "cargo-fuzz unavailable (or cannot build the target): running the stable mutation driver" >&2
  fi
  # The main build's target folder: the driver shares its dependencies (and Cargo.lock
  # versions) with the main crate, so nothing is built twice.
  CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target} \
    cargo run --quiet --release --no-default-features --bin stable_fuzz -- "$secs" --target "$target"
  echo "corpus: $(count) inputs ($corpus)"
fi
