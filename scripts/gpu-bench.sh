#!/usr/bin/env bash
# The one prepared call for a lent GPU machine (H100/H200; no Rust, no network there). Prepare
# here first with scripts/gpu-prepare.sh, which prints the exact device `run` call. Steps, in
# order of importance, each under its own `timeout` (a failure or hang is reported and the
# script goes on), all inside one call budget (BUDGET_S) so the summary is always printed:
#   machine      nvidia-smi (card, driver, SM clock), CPU, binary version, JAX's device
#   agree.*      the carried GPU-vs-CPU agreement test binaries (.gpu-bin/test-*.gz)
#   bench.default.*   tokenrisk bench --backend gpu at 1M / 4M / 16M paths x 1,460 days
#   run.*        `tokenrisk run --out` at 1M paths with every output, timed wall-clock, and a
#                tiny run for the start-up cost (device open, pipelines)
#   jax.*        the JAX peer (scripts/peers/jax_peer.py) on the same GPU, 1M paths
#   hist.*       1M paths with weekly report rows vs one row (report_every = horizon): the cost
#                of the report-row histograms
#   bench.<variant>.*  TOKENRISK_GPU_KERNEL = preagg, fused, fused,preagg at 1M and 16M paths
#   bench.devices_all.*  `--devices all` at 1M paths
#   bench.cpu.*  the CPU engine on the machine's cores, for context
# then scripts/gpu_bench_summary.py prints the summary table (also OUTDIR/summary.txt).
# Expected on an H100 at >= 1e9 path-steps/s: about 5 minutes.
#
#   scripts/gpu-bench.sh [--dry-run] [OUTDIR]     (OUTDIR default $OUT, else /tmp/gpu-bench)
#
# --dry-run prints the commands it would run and runs none. OUTDIR gets at most 6 files
# (the device call brings back 8): gpu-bench.log, summary.txt, steps.tsv, jax-*.json and the
# one-row scenario copy; the run's Parquet outputs go to a temporary folder and are deleted.
# Env: TOKENRISK (binary, default .gpu-bin/tokenrisk), GPU_BIN (folder of the test-NAME.gz or
# test-NAME binaries, default .gpu-bin), SMALL=1 (tiny sizes: a rehearsal on lavapipe), SKIP_JAX=1,
# JAX_PRNGS (default "threefry2x32 rbg"), BUDGET_S (seconds for the whole script, default 520),
# ASSUME_FEATURES=1 (run the kernel-variant and --devices steps even where the binary lacks
# them, to rehearse them; otherwise they are probed and reported "not available").
set -uo pipefail
cd "$(dirname "$0")/.."
dry=
if [ "${1:-}" = --dry-run ]; then dry=1; shift; fi
bin=${TOKENRISK:-.gpu-bin/tokenrisk}
gpu_bin=${GPU_BIN:-.gpu-bin}
out=${1:-${OUT:-/tmp/gpu-bench}}
budget=${BUDGET_S:-520}
scenario=bittensor_halving
scenario_file=data/scenarios/bittensor_halving.toml
if [ -n "${SMALL:-}" ]; then
  sizes="1000 4000 16000"; one=1000; big=16000; cpu_paths=2000; threads=2
else
  sizes="1000000 4000000 16000000"; one=1000000; big=16000000; cpu_paths=200000; threads=4
fi
variants="preagg fused fused,preagg"
reps_for() { case $1 in "$one") echo 3 ;; "$big") echo 1 ;; *) echo 2 ;; esac; }

start=$SECONDS
if [ -z "$dry" ]; then
  mkdir -p "$out"
  log="$out/gpu-bench.log"
  : >"$out/steps.tsv"
  exec > >(tee "$log") 2>&1
  tee_pid=$!
  run_dir=$(mktemp -d /tmp/gpu-bench-run.XXXXXX)
else
  log="$out/gpu-bench.log"
  run_dir=/tmp/gpu-bench-run.XXXXXX
fi
export PYTHONUNBUFFERED=1
# Mesa and some Vulkan loaders complain on every device open without it.
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
# Agreement tests fail rather than skip when no adapter is found.
export TOKENRISK_REQUIRE_GPU=1
# On the lent machine, point Vulkan at the NVIDIA driver (the device README's fallback) so
# that the engine can never fall back to a software adapter there.
nv_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$nv_icd" ] && command -v nvidia-smi >/dev/null; then
  export VK_DRIVER_FILES=$nv_icd
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
fi

now() { date +%s.%N; }
# show ARGS...: prints the command as one could paste it (single quotes where needed).
show() {
  local a q="'"
  for a in "$@"; do
    if [[ $a =~ ^[A-Za-z0-9_./=:,+%-]+$ ]]; then printf ' %s' "$a"; else printf " '%s'" "${a//$q/$q\\$q$q}"; fi
  done
  printf '\n'
}
# step ID TIMEOUT_S COMMAND...: runs COMMAND under `timeout`, cut to what is left of the
# budget (keeping 25 s for the summary), and records "ID status wall" in steps.tsv.
step() {
  local id=$1 limit=$2; shift 2
  printf '\n=== step %s (%s, +%d s)\n$' "$id" "$(date -u +%H:%M:%S)" $((SECONDS - start))
  show "$@"
  [ -n "$dry" ] && return 0
  local left=$((budget - (SECONDS - start) - 25)) status rc t0 wall
  if [ "$left" -lt 10 ]; then
    status="SKIPPED (call budget of ${budget} s spent)"; wall=0
  else
    [ "$limit" -gt "$left" ] && limit=$left
    t0=$(now)
    timeout -k 5 "$limit" "$@"
    rc=$?
    wall=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }')
    case $rc in
      0) status=ok ;;
      124 | 137) status="TIMED OUT after ${limit} s" ;;
      *) status="FAILED (exit $rc)" ;;
    esac
  fi
  printf -- '--- step %s: %s, wall %s s\n' "$id" "$status" "$wall"
  printf '%s\t%s\t%s\n' "$id" "$status" "$wall" >>"$out/steps.tsv"
  [ "$status" = ok ]
}
# note ID TEXT: a step that did not run, with the reason (for the summary).
note() {
  printf '\n=== step %s\n--- step %s: %s, wall 0 s\n' "$1" "$1" "$2"
  [ -n "$dry" ] || printf '%s\t%s\t0\n' "$1" "$2" >>"$out/steps.tsv"
}

# What this binary supports (the lead is adding --devices and the kernel switch).
has_devices=1 has_kernel=1
if [ -z "$dry" ] && [ -z "${ASSUME_FEATURES:-}" ]; then
  "$bin" bench --help 2>/dev/null | grep -q -- '--devices' || has_devices=
  # An unknown kernel name is an error in a binary that reads the switch.
  if TOKENRISK_GPU_KERNEL=no-such-kernel timeout 60 "$bin" bench "$scenario" --backend gpu \
    --paths 64 --days 28 --reps 1 >/dev/null 2>&1; then has_kernel=; fi
fi

if [ -n "$dry" ] || command -v nvidia-smi >/dev/null; then
  step machine.gpu 30 nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit --format=csv
  step machine.gpu_list 30 nvidia-smi -L
else
  note machine.gpu "no nvidia-smi (not an NVIDIA machine)"
fi
step machine.cpu 30 bash -c 'lscpu | grep -E "Model name|^CPU\(s\)"; free -g | head -2'
step machine.version 30 "$bin" --version
echo "binary: --devices $([ -n "$has_devices" ] && echo available || echo 'not available in this binary');" \
  "TOKENRISK_GPU_KERNEL $([ -n "$has_kernel" ] && echo read || echo 'not available in this binary (ignored)')"
if [ -z "${SKIP_JAX:-}" ]; then
  step machine.jax 90 python3 -c 'import jax; d = jax.devices()[0]; print("jax", jax.__version__, "device", d.platform, d.device_kind, "core_count", getattr(d, "core_count", None))'
fi

# scripts/gpu-prepare.sh carries the test binaries gzipped (to fit the 64 MiB call); they are
# unpacked outside the working tree, so that a rehearsal here does not grow what travels.
tests_dir=/tmp/gpu-bench-tests
[ -n "$dry" ] || { rm -rf "$tests_dir" && mkdir -p "$tests_dir"; }
found=
for t in gpu gpu_kernel gpu_faults gpu_sizing; do
  exe=$tests_dir/test-$t
  if [ -n "$dry" ]; then
    :
  elif [ -f "$gpu_bin/test-$t.gz" ]; then
    gzip -dc "$gpu_bin/test-$t.gz" >"$exe" && chmod +x "$exe" || { echo "could not unpack $gpu_bin/test-$t.gz"; continue; }
  elif [ -x "$gpu_bin/test-$t" ]; then
    exe=$gpu_bin/test-$t
  else
    continue
  fi
  found=1
  step "agree.$t" "$([ $t = gpu ] && echo 150 || echo 90)" "$exe" --test-threads "$threads"
done
[ -n "$found" ] || [ -n "$dry" ] || note agree "SKIPPED (no $gpu_bin/test-*.gz: run scripts/gpu-prepare.sh)"

for n in $sizes; do
  step "bench.default.$n" "$([ "$n" = "$big" ] && echo 180 || echo 120)" \
    "$bin" bench "$scenario" --backend gpu --paths "$n" --reps "$(reps_for "$n")"
done

# The whole run with every output: a tiny run first measures the start-up (device open,
# pipeline compilation, scenario checks), so the 1M run's wall minus it is the time after it.
step run.startup 60 "$bin" run "$scenario" --backend gpu --paths 1024 --horizon 28 --out "$run_dir/startup" -q
rss=()
[ -x /usr/bin/time ] && rss=(/usr/bin/time -f "max RSS %M kB")
step "run.full.$one" 120 ${rss[@]+"${rss[@]}"} "$bin" run "$scenario" --backend gpu --paths "$one" --out "$run_dir/full" -q
[ -n "$dry" ] || { du -ab "$run_dir/full" 2>/dev/null | sort -k2 | sed 's/^/  bytes /'; rm -rf "$run_dir"; }

if [ -n "${SKIP_JAX:-}" ]; then
  note jax "SKIPPED (SKIP_JAX set)"
else
  for prng in ${JAX_PRNGS:-threefry2x32 rbg}; do
    step "jax.$prng.$one" 240 bash -c 'python3 scripts/peers/jax_peer.py "$1" --paths "$2" --reps 1 --prng "$3" | tee "$4"' \
      _ "$scenario_file" "$one" "$prng" "$out/jax-$prng.json"
  done
fi

# Histograms: the same bench with one report row instead of weekly ones.
one_row="$out/bittensor_halving_one_row.toml"
horizon=$(sed -n 's/^horizon_days *= *\([0-9]*\).*/\1/p' "$scenario_file")
[ -n "$dry" ] || sed "s/^report_every *= *[0-9]*/report_every = $horizon/" "$scenario_file" >"$one_row"
[ -n "$dry" ] || grep -q "^report_every = $horizon\b" "$one_row" || echo "could not set report_every in $one_row"
echo "one-row copy: $one_row (report_every = $horizon, else identical to $scenario_file)"
step "hist.weekly.$one" 90 "$bin" bench "$scenario_file" --backend gpu --paths "$one" --reps 3
step "hist.one_row.$one" 90 "$bin" bench "$one_row" --backend gpu --paths "$one" --reps 3

for v in $variants; do
  for n in $one $big; do
    if [ -n "$has_kernel" ]; then
      step "bench.$v.$n" "$([ "$n" = "$big" ] && echo 180 || echo 90)" \
        env TOKENRISK_GPU_KERNEL="$v" "$bin" bench "$scenario" --backend gpu --paths "$n" --reps "$(reps_for "$n")"
    else
      note "bench.$v.$n" "not available in this binary (TOKENRISK_GPU_KERNEL ignored)"
    fi
  done
done

if [ -n "$has_devices" ]; then
  step "bench.devices_all.$one" 90 "$bin" bench "$scenario" --backend gpu --devices all --paths "$one" --reps 3
else
  note "bench.devices_all.$one" "not available in this binary (no --devices flag)"
fi

step "bench.cpu.$cpu_paths" 60 "$bin" bench "$scenario" --backend cpu --paths "$cpu_paths" --reps 1

printf '\n=== summary (%s, +%d s)\n' "$(date -u +%H:%M:%S)" $((SECONDS - start))
if [ -n "$dry" ]; then
  echo "\$ python3 scripts/gpu_bench_summary.py $log > $out/summary.txt"
else
  timeout 20 python3 scripts/gpu_bench_summary.py "$log" >"$out/summary.txt" 2>&1
  cat "$out/summary.txt"
  echo "log: $log"
  exec >&- 2>&-
  wait "$tee_pid" 2>/dev/null # so the log is complete when the call returns
fi
