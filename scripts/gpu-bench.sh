#!/usr/bin/env bash
# One script for a lent GPU machine (H100/H200): checks GPU-vs-CPU agreement, then measures
# throughput at several sizes up to 10M paths, the 1M-path 4-year run with Parquet output, the
# CPU engine and the JAX peer on the same machine. Prepare here first: scripts/gpu-prepare.sh.
#
#   scripts/gpu-bench.sh [OUTDIR]      (OUTDIR default $OUT or /tmp/gpu-bench)
#
# Env: TOKENRISK (binary, default .gpu-bin/tokenrisk), GPU_TESTS (default .gpu-bin/gpu-tests),
# SMALL=1 (tiny sizes, to try the script on lavapipe), SKIP_JAX=1.
set -uo pipefail
cd "$(dirname "$0")/.."
bin=${TOKENRISK:-.gpu-bin/tokenrisk}
tests=${GPU_TESTS:-.gpu-bin/gpu-tests}
out=${1:-${OUT:-/tmp/gpu-bench}}
mkdir -p "$out"
log="$out/gpu-bench.log"
exec > >(tee "$log") 2>&1
export PYTHONUNBUFFERED=1
# Mesa and some Vulkan loaders complain on every device open without it.
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
section() { printf '\n=== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

if [ -n "${SMALL:-}" ]; then
  sizes="2000 8000"; big_paths=4000; big_days=365; full_paths=4000; cpu_paths=2000; jax_paths=4000
else
  sizes="100000 1000000 4000000 10000000"; big_paths=10000000; big_days=3650
  full_paths=1000000; cpu_paths=200000; jax_paths=1000000
fi

section "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "no nvidia-smi"
lscpu | grep -E "Model name|^CPU\(s\)" || true
"$bin" --version

section "agreement: GPU vs CPU (tests/gpu.rs, same random words, stated tolerances)"
if [ -x "$tests" ]; then
  "$tests" --test-threads 1 2>&1 | grep -Ev "^\s*$" | tail -25
else
  echo "no $tests (run scripts/gpu-prepare.sh); skipped"
fi

section "GPU throughput, bittensor_halving, 1,460 daily steps (simulation alone / with outputs)"
for n in $sizes; do
  "$bin" bench bittensor_halving --backend gpu --paths "$n" --reps 3
done

section "GPU: ${big_paths} paths x ${big_days} days (memory stays bounded by chunking)"
/usr/bin/time -v "$bin" bench bittensor_halving --backend gpu --paths "$big_paths" --days "$big_days" --reps 1 2>&1 |
  grep -E "bench|simulation|outputs|Maximum resident|Elapsed"

section "GPU: the whole ${full_paths}-path, 4-year run including Parquet output"
rm -rf "$out/run"
/usr/bin/time -f "wall %e s, max RSS %M kB" "$bin" run bittensor_halving --backend gpu --paths "$full_paths" --out "$out/run" -q

section "CPU engine on this machine's cores (same scenario)"
"$bin" bench bittensor_halving --backend cpu --paths "$cpu_paths" --reps 1

if [ -z "${SKIP_JAX:-}" ] && python3 -c "import jax" 2>/dev/null; then
  section "JAX peer (jit + lax.scan, float32) on the same GPU, same scenario"
  python3 -c "import jax; print(jax.devices())"
  python3 scripts/peers/jax_peer.py data/scenarios/bittensor_halving.toml --paths "$jax_paths" --reps 2 ||
    echo "jax peer failed"
fi

section "done"
echo "log: $log"
