#!/usr/bin/env bash
# Side-by-side throughput of tokenrisk and its peers (scripts/peers/), in one run on one
# machine, as ARCHITECTURE.md asks ("quote figures as ratios against a peer measured in the
# same run"):
#
#   scripts/bench-peers.sh [SCENARIO] [PATHS] [DAYS]
#
# SCENARIO: preset name or TOML file (default bittensor_halving); PATHS (default 20000);
# DAYS: horizon (default: the scenario's). Runs `tokenrisk bench --backend cpu`, and
# `--backend gpu` when an NVIDIA GPU is listed by nvidia-smi (or BENCH_GPU=1), the NumPy peer
# and, when jax imports, the JAX peer (float32; compilation excluded and reported), then
# prints path-steps per second for each and the ratios tokenrisk / peer.
#
# Environment:
#   TOKENRISK=path   the binary (default: target/release/tokenrisk if built, else
#                    .gpu-bin/tokenrisk); no Rust toolchain is needed.
#   PYTHON=python3   the interpreter for the peers.
#   REPS=3           repetitions of tokenrisk bench and of the JAX peer (median reported).
#   NUMPY_PATHS=N    paths for the NumPy peer (default: PATHS, capped at 200000: it runs
#                    single-threaded at a few million path-steps/s, and its throughput is
#                    flat in the path count above ~2e4 paths).
#   JAX_ARGS="..."   extra arguments for jax_peer.py (e.g. "--prng rbg" or "--x64").
#   BENCH_GPU=0|1    force the GPU backend run off or on.
set -euo pipefail
cd "$(dirname "$0")/.."

SCENARIO=${1:-bittensor_halving}
PATHS=${2:-20000}
DAYS=${3:-}
REPS=${REPS:-3}
PY=${PYTHON:-python3}
if [[ -z "${NUMPY_PATHS:-}" ]]; then
    # The NumPy peer's throughput is flat above ~2e4 paths; cap it so a GPU-sized run
    # (1e6 paths) does not spend minutes in NumPy.
    NUMPY_PATHS=$(( PATHS > 200000 ? 200000 : PATHS ))
fi

if [[ -z "${TOKENRISK:-}" ]]; then
    # A local build wins; .gpu-bin/ is what scripts/gpu-prepare.sh carries to the GPU
    # machine (no toolchain there) and may be stale here.
    if [[ -x target/release/tokenrisk ]]; then TOKENRISK=target/release/tokenrisk; else TOKENRISK=.gpu-bin/tokenrisk; fi
fi
if [[ ! -x "$TOKENRISK" ]]; then
    echo "error: no tokenrisk binary at $TOKENRISK (build with cargo build --release, or set TOKENRISK=path)" >&2
    exit 1
fi

days_args=()
peer_days=()
if [[ -n "$DAYS" ]]; then
    days_args=(--days "$DAYS")
    peer_days=(--days "$DAYS")
fi

# --- machine -------------------------------------------------------------------------
cpu_model=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //' || true)
[[ -n "$cpu_model" ]] || cpu_model=$(uname -m)
cores=$(nproc 2>/dev/null || echo "?")
gpu_name=""
if command -v nvidia-smi >/dev/null 2>&1; then
    gpu_name=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -1 || true)
fi
run_gpu=0
if [[ -n "$gpu_name" ]]; then run_gpu=1; fi
if [[ -n "${BENCH_GPU:-}" ]]; then run_gpu=$BENCH_GPU; fi
py_versions=$("$PY" -c 'import sys, numpy; print(f"python {sys.version.split()[0]}, numpy {numpy.__version__}")' 2>/dev/null || echo "numpy: not available")
have_jax=0
if "$PY" -c 'import jax' >/dev/null 2>&1; then
    have_jax=1
    py_versions="$py_versions, jax $("$PY" -c 'import jax; print(jax.__version__)' 2>/dev/null)"
fi

echo "# bench-peers: $SCENARIO, $PATHS paths${DAYS:+, $DAYS days}"
echo "date:      $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine:   $cpu_model, $cores cores${gpu_name:+; GPU $gpu_name}"
echo "load:      $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?') (1/5/15-min load average before the run)"
echo "software:  $("$TOKENRISK" --version 2>/dev/null || echo tokenrisk), $py_versions"
echo "binary:    $TOKENRISK"
echo

# --- tokenrisk -----------------------------------------------------------------------
# Prints "SIM FULL CPU_RATE DEVICE" from `tokenrisk bench` output. CPU_RATE is path-steps per
# CPU-second (user + sys of the whole process, all threads, every repetition, outputs and
# start-up included): on a shared machine wall time also counts waiting for a core.
tokenrisk_bench() {
    local backend=$1 out tf
    tf=$(mktemp)
    local TIMEFORMAT='%U %S'
    if ! { time "$TOKENRISK" bench "$SCENARIO" --paths "$PATHS" "${days_args[@]}" --reps "$REPS" --backend "$backend" >"$tf" 2>&1 ; } 2>"$tf.time"; then
        echo "tokenrisk bench --backend $backend failed: $(cat "$tf")" >&2
        rm -f "$tf" "$tf.time"
        return 1
    fi
    out=$(cat "$tf")
    echo "$out" >&2
    local sim full dev steps cpu
    sim=$(echo "$out" | sed -n 's/.*simulation alone: *\([0-9.e+-]*\) path-steps.*/\1/p')
    full=$(echo "$out" | sed -n 's/.*with outputs: *\([0-9.e+-]*\) path-steps.*/\1/p')
    dev=$(echo "$out" | sed -n 's/.* steps on \(.*\), median of.*/\1/p')
    steps=$(echo "$out" | sed -n 's/.* paths x \([0-9]*\) steps on.*/\1/p')
    cpu=$(awk -v p="$PATHS" -v s="$steps" -v r="$REPS" '{ c = $1 + $2; if (c > 0) printf "%.4g", p * s * r / c; else print "nan" }' "$tf.time")
    rm -f "$tf" "$tf.time"
    echo "$sim $full $cpu $dev"
}

declare -A rate
declare -A cpu_rate
declare -A note
if line=$(tokenrisk_bench cpu); then
    read -r sim full cpu dev <<<"$line"
    rate[tokenrisk_cpu]=$sim
    cpu_rate[tokenrisk_cpu]=$cpu
    note[tokenrisk_cpu]="with outputs $full; $dev"
fi
if [[ "$run_gpu" == 1 ]]; then
    if line=$(tokenrisk_bench gpu); then
        read -r sim full cpu dev <<<"$line"
        rate[tokenrisk_gpu]=$sim
        note[tokenrisk_gpu]="with outputs $full; $dev"
    fi
fi
echo >&2

# --- peers ---------------------------------------------------------------------------
# Runs a peer and prints "PATH_STEPS_PER_S PATH_STEPS_PER_CPU_S NOTE" from its JSON.
peer() {
    local script=$1; shift
    local json
    if ! json=$("$PY" "scripts/peers/$script" "$SCENARIO" "${peer_days[@]}" "$@"); then
        echo "$script failed" >&2
        return 1
    fi
    echo "$json" >&2
    echo "$json" | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
note = "%d paths x %d steps, %s, %.2f s" % (d["paths"], d["steps"], d["dtype"], d["seconds"])
if "device" in d:
    note += ", %s, %s PRNG, compile %.1f s" % (d["device"], d["prng"], d["compile_seconds"])
note += "; P(spiral) %.4f, median price %.4g" % (d["p_spiral"], d["median_final_price"])
print(d["path_steps_per_s"], d.get("path_steps_per_cpu_s", "nan"), note)'
}

if [[ "$py_versions" != "numpy: not available" ]]; then
    if line=$(peer numpy_peer.py --paths "$NUMPY_PATHS"); then
        read -r r c n <<<"$line"
        rate[numpy]=$r
        cpu_rate[numpy]=$c
        note[numpy]=$n
    fi
else
    echo "numpy peer: SKIPPED (pip install numpy)" >&2
fi
if [[ "$have_jax" == 1 ]]; then
    # shellcheck disable=SC2086
    if line=$(XLA_PYTHON_CLIENT_PREALLOCATE=false peer jax_peer.py --paths "$PATHS" --reps "$REPS" ${JAX_ARGS:-}); then
        read -r r c n <<<"$line"
        rate[jax]=$r
        cpu_rate[jax]=$c
        note[jax]=$n
    fi
else
    echo "jax peer: SKIPPED (pip install jax)" >&2
fi

# --- table ---------------------------------------------------------------------------
echo
echo "| engine | path-steps/s (wall) | path-steps per CPU-second | notes |"
echo "| --- | ---: | ---: | --- |"
for k in tokenrisk_cpu tokenrisk_gpu numpy jax; do
    if [[ -n "${rate[$k]:-}" ]]; then
        printf '| %s | %.3e | %s | %s |\n' "$k" "${rate[$k]}" \
            "$(awk -v c="${cpu_rate[$k]:-nan}" 'BEGIN { if (c + 0 > 0) printf "%.3e", c; else print "n/a" }')" "${note[$k]}"
    fi
done
echo
echo "ratios tokenrisk / peer (same run; wall, and per CPU-second):"
for a in tokenrisk_cpu tokenrisk_gpu; do
    for b in numpy jax; do
        if [[ -n "${rate[$a]:-}" && -n "${rate[$b]:-}" ]]; then
            awk -v a="${rate[$a]}" -v b="${rate[$b]}" -v ca="${cpu_rate[$a]:-nan}" -v cb="${cpu_rate[$b]:-nan}" \
                -v na="$a" -v nb="$b" 'BEGIN {
                    printf "  %s / %s = %.2f wall", na, nb, a / b
                    if (ca + 0 > 0 && cb + 0 > 0) printf ", %.2f per CPU-second", ca / cb
                    printf "\n" }'
        fi
    done
done
