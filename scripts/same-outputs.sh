#!/usr/bin/env bash
# Byte-identical outputs across a refactor: runs the same jobs with two tokenrisk binaries and
# compares every file they write (Parquet, JSON, HTML) and everything they print.
#
#   scripts/same-outputs.sh OLD [NEW]
#
# OLD and NEW are tokenrisk binaries, or git revisions (built here into target/same-outputs/,
# which takes a few minutes the first time). NEW defaults to target/release/tokenrisk (built
# with `cargo build --release` first). PATHS=N sets the path count of the runs (default 2000).
#
# The jobs: every bundled preset, a stress run, a --target-se run, two sweeps (one with tiny
# floats in its base), a compare, a sensitivity run, a 3-shard run and its merge, a
# checkpointed run, two nightly runs (so the second compares with the first), `report` on
# every run folder, the text commands (presets, validate, stress list), and commands that
# must fail (syntax and type errors, bad flags, incomparable designs, a missing shard). Both
# binaries run in folders of the same name, so paths printed and written are the same.
#
# Every file is compared byte for byte first; where bytes differ, by content, after masking
# what measures time:
# - Parquet files byte for byte; where they differ, decoded (pyarrow, installed into
#   target/same-outputs/venv when missing) and compared column by column, value by value
#   (floats by their bits), with the file's key-value metadata, ignoring only the timing columns
#   `simulate_seconds` and `path_steps_per_s`. The tables hold no timing since the timings
#   moved to manifest.json; a binary from before has them in summary.parquet and sweep.parquet,
#   so their absence on one side is expected and not a difference (every other column must be
#   in both). The same holds for the `device` column and `tokenrisk.device` key, which moved to
#   the manifest too (present on one side only: not a difference);
# - JSON as parsed values (so a change of layout alone passes), without `timings`,
#   `started_at`, `created_at`, `generated_at`, `simulate_seconds` and the sizes of the files
#   that hold timing columns;
# - HTML and printed text with durations ("2.19 s"), rates ("6.680e7 path-steps/s"),
#   timestamps and process ids in temp folder names masked, and the timing columns of tables
#   (or timing rows where a table has one column per sweep point) left out, on the side that
#   has them (an old binary's report shows the sweep table's timing columns; a new one has
#   none to show).
# Exits 0 when everything matches, 1 listing every difference.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

if [[ $# -lt 1 || $# -gt 2 ]]; then
    echo "usage: $0 OLD [NEW]   (each a tokenrisk binary or a git revision)" >&2
    exit 2
fi

work="$root/target/same-outputs"
mkdir -p "$work"

# A binary path, or a git revision built in its own worktree.
resolve_bin() {
    local what=$1 label=$2
    if [[ -x $what && -f $what ]]; then
        realpath "$what"
        return
    fi
    local rev
    rev=$(git rev-parse --verify --quiet "$what^{commit}") || {
        echo "$what: neither an executable nor a git revision" >&2
        exit 2
    }
    local tree="$work/tree-$label"
    rm -rf "$tree"
    git worktree prune
    git worktree add --detach --force "$tree" "$rev" >/dev/null 2>&1
    echo "same-outputs: building $what ($rev) in $tree" >&2
    (cd "$tree" && CARGO_TARGET_DIR="$work/target-$label" cargo build --release --quiet) >&2
    cp "$work/target-$label/release/tokenrisk" "$work/tokenrisk-$label"
    git worktree remove --force "$tree"
    echo "$work/tokenrisk-$label"
}

old=$(resolve_bin "$1" old)
if [[ $# -eq 2 ]]; then
    new=$(resolve_bin "$2" new)
else
    cargo build --release --quiet
    new="$root/target/release/tokenrisk"
fi
paths=${PATHS:-2000}
echo "same-outputs: old $old"
echo "same-outputs: new $new"

# The jobs, run in the current folder with the binary $1. Each command's stdout and stderr
# go to log/NN.txt with its exit code.
jobs() {
    local bin=$1 n=0
    mkdir -p log scen nightly-in
    step() {
        n=$((n + 1))
        local f
        f=$(printf 'log/%02d.txt' "$n")
        echo "\$ tokenrisk $*" >"$f"
        set +e
        TOKENRISK_MEMORY_CHECK=off "$bin" "$@" >>"$f" 2>&1
        echo "exit $?" >>"$f"
        set -e
    }
    for p in bittensor_halving render_bme fetch_inflation icp_revenue_burn death_spiral_stress; do
        step run "$p" --paths "$paths" --backend cpu -q --out out/run
    done
    step run death_spiral_stress --paths "$paths" --backend cpu -q --out out/stress \
        --stress crash@100 --shock price=-0.3,demand=-0.2@400
    step run render_bme --paths 1024 --backend cpu -q --out out/converge --target-se 0.004 --max-paths 6144
    cp "$root/data/scenarios/icp_revenue_burn.toml" scen/icp_sweep.toml
    printf '\n[sweep]\n"burn.fraction" = [0.0, 0.2, 0.4]\n"market.volatility" = [0.8, 1.1]\n' >>scen/icp_sweep.toml
    step run scen/icp_sweep.toml --paths "$paths" --backend cpu -q --out out/sweep
    # Tiny and huge floats and a quoted description in the base of a sweep (the points' TOML).
    sed -e '0,/^price = .*/s//price = 0.00002/' -e 's/^description = .*/description = "a \\"quoted\\" design"/' \
        "$root/data/scenarios/fetch_inflation.toml" >scen/tiny_sweep.toml
    printf '\n[sweep]\n"market.volatility" = [0.8, 1.2]\n' >>scen/tiny_sweep.toml
    step run scen/tiny_sweep.toml --paths 1000 --backend cpu -q --out out/sweep-tiny
    step compare "$root/data/scenarios/compare/halving.toml" "$root/data/scenarios/compare/bme.toml" \
        --paths "$paths" --backend cpu -q --out out/compare
    step sensitivity death_spiral_stress --paths 500 --backend cpu -q --out out/sens
    for i in 0 1 2; do
        step run bittensor_halving --paths "$paths" --backend cpu -q --out out/shards --shard "$i/3"
    done
    step merge out/shards/bittensor-halving --out out/merged
    step run fetch_inflation --paths 3000 --backend cpu -q --out out/resume --checkpoint-every 1024
    cp "$root/data/scenarios/render_bme.toml" "$root/data/scenarios/death_spiral_stress.toml" nightly-in/
    step nightly nightly-in --out out/nightly --date 2026-01-01 --paths 1000 --backend cpu -q
    step nightly nightly-in --out out/nightly --date 2026-01-02 --paths 1000 --seed 7 --backend cpu -q
    for d in out/run out/stress out/converge out/sweep out/sweep-tiny out/compare out/sens out/merged out/resume; do
        step report "$d"
    done
    step presets
    step stress list
    step validate bittensor_halving "$root/data/scenarios/compare/bme.toml"
    printf '[scenario]\nname = "bad"\nhorizon_days = 0\n[market]\nvolatility = -1\n' >scen/bad.toml
    step validate scen/bad.toml
    step run no_such_preset
    sed 's/^horizon_days = .*/horizon_days = 30 30/' "$root/data/scenarios/render_bme.toml" >scen/syntax.toml
    step validate scen/syntax.toml
    sed 's/^volatility = .*/volatility = "high"/' "$root/data/scenarios/render_bme.toml" >scen/type.toml
    step validate scen/type.toml
    step sensitivity no_such_preset --relative 2
    sed 's/^horizon_days = .*/horizon_days = 730/' "$root/data/scenarios/compare/bme.toml" >scen/short_bme.toml
    step compare "$root/data/scenarios/compare/halving.toml" scen/short_bme.toml --paths 100 -q --out out/bad-compare
    step run bittensor_halving --paths 100 --shard 5/3 -q --out out/bad-shard
    step merge out/shards/bittensor-halving/shard-0-of-3 --out out/bad-merge
}

# Both run in the same folder, one after the other, so printed and written paths agree.
rm -rf "$work/old" "$work/new" "$work/job"
for side in old new; do
    bin=$old
    [[ $side == new ]] && bin=$new
    mkdir -p "$work/job"
    (cd "$work/job" && jobs "$bin")
    mv "$work/job" "$work/$side"
done

venv="$work/venv"
if ! "$venv/bin/python" -c "import pyarrow" 2>/dev/null; then
    echo "same-outputs: installing pyarrow into $venv (decodes Parquet files that differ)"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check pyarrow
fi

"$venv/bin/python" - "$work/old" "$work/new" <<'PY'
import json, math, os, re, struct, sys
import pyarrow.parquet as pq

old_root, new_root = sys.argv[1], sys.argv[2]
TIMING_COLUMNS = {"simulate_seconds", "path_steps_per_s"}
# Moved to manifest.json with the timings, so the tables do not depend on the machine.
MOVED_COLUMNS = TIMING_COLUMNS | {"device"}
MOVED_KEYS = {b"tokenrisk.device"}
TIMING_KEYS = {"timings", "started_at", "created_at", "generated_at", "simulate_seconds"}
TIMED_FILES = {"summary.parquet", "sweep.parquet"}

def files(root):
    out = set()
    for d, _, fs in os.walk(root):
        for f in fs:
            out.add(os.path.relpath(os.path.join(d, f), root))
    return out

def mask_text(t):
    t = re.sub(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(Z| UTC)", "<TIME>", t)
    t = re.sub(r"[0-9.]+(e[+-]?\d+)?\s*[kMGT]? path-steps/s", "<RATE> path-steps/s", t)
    t = re.sub(r"\b\d+(\.\d+)? s\b", "<SECONDS> s", t)
    # Process ids in temp folder names.
    t = re.sub(r"\.tmp-\d+", ".tmp-<PID>", t)
    # Tables whose last two columns are the timing columns (the sweep table of an old
    # binary's report): the two columns left out, as a new binary's table has none.
    def timing_cells(m):
        t = m.group(0).replace("<th>path_steps_per_s</th><th>simulate_seconds</th></tr>", "</tr>")
        return re.sub(r'<td class="n">[^<]*</td><td class="n">[^<]*</td></tr>', "</tr>", t)
    t = re.sub(r"<table(?:(?!</table>).)*?<th>path_steps_per_s</th><th>simulate_seconds</th></tr>.*?</table>", timing_cells, t, flags=re.S)
    # Tables laid out one point per column (a sweep of few points): the timing rows left out.
    t = re.sub(r"<tr><td>(path_steps_per_s|simulate_seconds)</td>(<td[^>]*>[^<]*</td>)*</tr>", "", t)
    return t

def bits(v):
    if isinstance(v, float):
        return ("f", struct.pack("<d", v))
    if isinstance(v, list):
        return [bits(x) for x in v]
    return v

def compare_parquet(a, b):
    ta, tb = pq.read_table(a), pq.read_table(b)
    diffs = []
    # The file's key-value metadata (tokenrisk.*), and the Arrow schema's.
    for ka, kb in [
        (pq.ParquetFile(a).metadata.metadata or {}, pq.ParquetFile(b).metadata.metadata or {}),
        (ta.schema.metadata or {}, tb.schema.metadata or {}),
    ]:
        for k in sorted(set(ka) | set(kb)):
            # The Arrow schema the writer embeds is compared decoded, below (it lists the
            # timing columns of an old binary's tables).
            if k == b"ARROW:schema":
                continue
            if k in MOVED_KEYS and (k not in ka or k not in kb):
                continue
            if ka.get(k) != kb.get(k):
                diffs.append(f"metadata {k.decode()} differs")
    # Timing columns: ignored, and expected on one side only (an old binary's summary and
    # sweep tables).
    moved = {c for c in MOVED_COLUMNS if (c in ta.schema.names) != (c in tb.schema.names)}
    moved |= TIMING_COLUMNS
    ta = ta.drop_columns([c for c in moved if c in ta.schema.names])
    tb = tb.drop_columns([c for c in moved if c in tb.schema.names])
    if ta.schema.remove_metadata() != tb.schema.remove_metadata():
        diffs.append(f"schema differs: {ta.schema.names} vs {tb.schema.names}")
        return diffs
    for name in ta.schema.names:
        ca, cb = ta.column(name).to_pylist(), tb.column(name).to_pylist()
        if bits(ca) != bits(cb):
            first = next(i for i, (x, y) in enumerate(zip(ca, cb)) if bits(x) != bits(y))
            diffs.append(f"column {name} differs from row {first}: {ca[first]!r} vs {cb[first]!r}")
    return diffs

def strip_json(v):
    if isinstance(v, dict):
        out = {k: strip_json(x) for k, x in v.items() if k not in TIMING_KEYS}
        if out.get("name") in TIMED_FILES:
            out.pop("bytes", None)
        return out
    if isinstance(v, list):
        return [strip_json(x) for x in v]
    return v

fo, fn = files(old_root), files(new_root)
problems = []
for f in sorted(fo - fn):
    problems.append(f"{f}: only in the old outputs")
for f in sorted(fn - fo):
    problems.append(f"{f}: only in the new outputs")
identical = masked = 0
for f in sorted(fo & fn):
    a, b = os.path.join(old_root, f), os.path.join(new_root, f)
    ba, bb = open(a, "rb").read(), open(b, "rb").read()
    if ba == bb:
        identical += 1
        continue
    if f.endswith(".parquet"):
        d = compare_parquet(a, b)
    elif f.endswith(".json"):
        d = [] if strip_json(json.loads(ba)) == strip_json(json.loads(bb)) else ["JSON differs outside timing fields"]
    else:
        ta, tb = mask_text(ba.decode()), mask_text(bb.decode())
        d = [] if ta == tb else ["text differs outside timings"]
        if d:
            la, lb = ta.splitlines(), tb.splitlines()
            for i, (x, y) in enumerate(zip(la, lb)):
                if x != y:
                    c = next((k for k, (u, v) in enumerate(zip(x, y)) if u != v), min(len(x), len(y)))
                    lo = max(0, c - 60)
                    d = [f"line {i + 1}, column {c + 1}: {x[lo:c + 60]!r} vs {y[lo:c + 60]!r}"]
                    break
            else:
                d = [f"{len(la)} vs {len(lb)} lines"]
    if d:
        problems += [f"{f}: {x}" for x in d]
    else:
        masked += 1
total = len(fo | fn)
print(f"same-outputs: {total} files: {identical} byte-identical, {masked} identical once timings are masked, {total - identical - masked} different")
for p in problems:
    print("  DIFFERENT " + p)
sys.exit(1 if problems else 0)
PY
