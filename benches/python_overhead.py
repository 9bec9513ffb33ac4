"""Measures (benches/RESULTS.md, "Python package"): the Python call's overhead against the CLI
on one run, and the time to hand a large paths table to pyarrow.

    target/pyenv/bin/python benches/python_overhead.py [--paths 100000] [--rows 1000000] [--rounds 3]

Overhead: wall time of `tokenrisk run PRESET --paths N --out DIR -q` (a process: start-up,
simulation, Parquet) against `tokenrisk.run(...)` + `Run.write(DIR)` in this process, rounds
alternating; each minus its own simulate time (manifest.json `timings.simulate_s`) is the
part that is not the engine. Hand-over: a run of ROWS paths over 30 days (rows, not steps,
matter), a first hand-over of a small table (pyarrow's one-time set-up), then `run.paths` (builds the Arrow batches from the engine's records, once),
`pyarrow.table(...)` of it (the zero-copy hand-over), and `.to_pandas()` for reference.
"""

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import pyarrow as pa

import tokenrisk

REPO = Path(__file__).resolve().parents[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="bittensor_halving")
    ap.add_argument("--paths", type=int, default=100_000)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    cli = os.environ.get("TOKENRISK_BIN", str(REPO / "target/release/tokenrisk"))
    s = tokenrisk.Scenario.preset(a.preset)
    name = s.name
    print(f"{a.preset}, {a.paths} paths, seed 42, CPU engine; wall s (simulate s) per round")
    for i in range(a.rounds):
        with tempfile.TemporaryDirectory() as d:
            t0 = time.perf_counter()
            subprocess.run([cli, "run", a.preset, "--paths", str(a.paths), "--backend", "cpu", "--out", d, "-q"], check=True, capture_output=True)
            cli_wall = time.perf_counter() - t0
            cli_sim = json.loads((Path(d) / name / "manifest.json").read_text())["timings"]["simulate_s"]
        with tempfile.TemporaryDirectory() as d:
            t0 = time.perf_counter()
            r = tokenrisk.run(s, paths=a.paths, backend="cpu", progress=False)
            r.write(d)
            py_wall = time.perf_counter() - t0
            py_sim = r.simulate_seconds
        print(
            f"round {i + 1}: CLI {cli_wall:.3f} ({cli_sim:.3f}), other {cli_wall - cli_sim:.3f};"
            f" Python {py_wall:.3f} ({py_sim:.3f}), other {py_wall - py_sim:.3f}"
        )
        del r
    r = tokenrisk.run(s, paths=a.rows, horizon=30, backend="cpu", progress=False)
    t = time.perf_counter()
    pa.table(r.timeseries)  # pyarrow's own first-use set-up, timed apart
    warm = time.perf_counter() - t
    t0 = time.perf_counter()
    t = r.paths
    t1 = time.perf_counter()
    table = pa.table(t)
    t2 = time.perf_counter()
    again = pa.table(r.paths)
    t3 = time.perf_counter()
    df = table.to_pandas()
    t4 = time.perf_counter()
    assert table.num_rows == again.num_rows == len(df) == a.rows
    print(
        f"{a.rows} rows x {table.num_columns} columns ({table.nbytes / 2**20:.0f} MiB):"
        f" run.paths first (builds batches) {t1 - t0:.4f} s; pyarrow.table(...) {1e3 * (t2 - t1):.3f} ms;"
        f" again, both {1e3 * (t3 - t2):.3f} ms; to_pandas {t4 - t3:.3f} s;"
        f" (pyarrow's first hand-over of any table {1e3 * warm:.1f} ms)"
    )


if __name__ == "__main__":
    main()
