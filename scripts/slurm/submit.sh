#!/usr/bin/env bash
# Submit a sharded tokenrisk run to Slurm: N array tasks, then a merge + report job that
# starts when all of them succeeded (--dependency=afterok).
#   SCENARIO=scenarios/tao.toml OUT=/shared/out N=16 PATHS=10000000 scripts/slurm/submit.sh
# NAME (the scenario's [scenario].name, the folder under $OUT) is read from the file; give
# it for a preset name (bittensor_halving -> NAME=bittensor-halving).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${SCENARIO:?}" "${OUT:?}"
N=${N:-8}
if [ -z "${NAME:-}" ]; then
  [ -f "$SCENARIO" ] || { echo "set NAME for preset $SCENARIO" >&2; exit 2; }
  NAME=$(sed -n 's/^[[:space:]]*name[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' "$SCENARIO" | head -1)
fi
if [ -f "$SCENARIO" ]; then tokenrisk validate "$SCENARIO"; fi
mkdir -p logs "$OUT"
export SCENARIO OUT NAME PATHS SEED
array=$(sbatch --parsable --array="0-$((N - 1))" --export=ALL "$here/shards.sbatch")
merge=$(sbatch --parsable --dependency="afterok:${array%%;*}" --kill-on-invalid-dep=yes \
  --export=ALL "$here/merge.sbatch")
echo "shards: job array $array (0-$((N - 1))); merge + report: job $merge -> $OUT/$NAME/report.html"
