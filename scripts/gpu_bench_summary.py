#!/usr/bin/env python3
"""Summary of a scripts/gpu-bench.sh log: the card, the agreement tests, a table of
path-steps/s per size and kernel variant with the ratio to the JAX peer and to the estimated
floor, the 1M-path run with every output against the 1 s target, and where the time goes.

Reads only the log (steps open with `=== step ID` and close with `--- step ID: STATUS, wall
W s`); every figure it prints is parsed from there, none is assumed. Usage:
    gpu_bench_summary.py LOG
"""

from __future__ import annotations

import json
import re
import sys

# benches/RESULTS.md ("The floor"): an estimate of the WGSL kernel's lane-instructions per
# path-step, and the FP32 lanes per SM of Hopper (H100/H200). The floor is an estimate.
LANE_INSTR_PER_PATH_STEP = 600
FP32_LANES_PER_SM = 128
TARGET_JAX_RATIO = 10.0
TARGET_RUN_WALL_S = 1.0

BENCH = re.compile(r"^bench (\S+): (\d+) paths x (\d+) steps on (.*), median of (\d+)")
RUN = re.compile(r": (\d+) paths x (\d+) days on (.*): simulated in ([\d.]+) s .*?, ([\d.]+) s with outputs")


def steps(text: str) -> dict:
    """ID -> {"body": lines, "status": str, "wall": float} in log order."""
    out, cur = {}, None
    for line in text.splitlines():
        m = re.match(r"^=== step (\S+)", line)
        if m:
            cur = out.setdefault(m.group(1), {"body": [], "status": "no status line (cut off?)", "wall": None})
            continue
        if line.startswith("=== "):
            cur = None
            continue
        m = re.match(r"^--- step (\S+): (.*), wall ([\d.]+) s$", line)
        if m and m.group(1) in out:
            out[m.group(1)]["status"], out[m.group(1)]["wall"] = m.group(2), float(m.group(3))
            cur = None
            continue
        if cur is not None:
            cur["body"].append(line)
    return out


def bench(step: dict) -> dict | None:
    r = {}
    for line in step["body"]:
        m = BENCH.match(line)
        if m:
            r.update(paths=int(m.group(2)), steps=int(m.group(3)), device=m.group(4), reps=int(m.group(5)))
        m = re.match(r"^\s*simulation alone:\s*(\S+) path-steps/s", line)
        if m:
            r["sim"] = float(m.group(1))
        m = re.match(r"^\s*with outputs:\s*(\S+) path-steps/s", line)
        if m:
            r["full"] = float(m.group(1))
        if line.startswith("  gpu phases:"):
            r["phases"] = line.strip()
    return r if "sim" in r and "paths" in r else None


def jax_result(step: dict) -> dict | None:
    body, start = step["body"], None
    for i, line in enumerate(body):
        if line == "{":
            start = i
        elif line == "}" and start is not None:
            try:
                return json.loads("\n".join(body[start:i + 1]))
            except json.JSONDecodeError:
                start = None
    return None


def sci(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3e}"


def main() -> None:
    text = open(sys.argv[1], encoding="utf-8", errors="replace").read()
    st = steps(text)
    p = print

    # Card.
    card, clock_mhz, sms = "no nvidia-smi (not a lent NVIDIA machine)", None, None
    g = st.get("machine.gpu")
    if g and g["status"] == "ok":
        rows = [ln for ln in g["body"] if ln and not ln.startswith("$") and not ln.startswith("name")]
        if rows:
            f = [x.strip() for x in rows[0].split(",")]
            card = f"{f[0]}, driver {f[1]}, {f[2]}" + (f", max SM clock {f[3]}" if len(f) > 3 else "")
            m = re.match(r"(\d+)", f[3]) if len(f) > 3 else None
            clock_mhz = float(m.group(1)) if m else None
    j = st.get("machine.jax")
    jax_dev = None
    if j:
        for line in j["body"]:
            m = re.search(r"device (\S+) (.*) core_count (\S+)", line)
            if m:
                jax_dev = f"{m.group(1)}:{m.group(2)}"
                sms = int(m.group(3)) if m.group(3).isdigit() else None
    p("== gpu-bench summary")
    p(f"card:     {card}")
    benches = {k: bench(v) for k, v in st.items() if k.startswith(("bench.", "hist."))}
    adapter = next((b["device"] for b in benches.values() if b and not b["device"].startswith("cpu")), "n/a")
    p(f"engine:   {adapter}")
    p(f"jax:      {jax_dev or 'n/a'}" + (f", {sms} SMs" if sms else ""))
    nvidia = "NVIDIA" in adapter.upper()
    if not nvidia:
        p("          (the engine did not run on an NVIDIA adapter: a rehearsal, not a figure for the card)")

    # Agreement tests.
    p("\n-- agreement (GPU vs CPU)")
    for k, v in st.items():
        if not k.startswith("agree"):
            continue
        counts = [0, 0, 0]
        for line in v["body"]:
            m = re.match(r"^test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored", line)
            if m:
                counts = [c + int(x) for c, x in zip(counts, m.groups())]
        failed = [ln.split()[1] for ln in v["body"] if re.match(r"^test \S+ \.\.\. FAILED", ln)]
        p(f"{k:<20} {v['status']}: {counts[0]} passed, {counts[1]} failed, {counts[2]} ignored"
          + (f" ({', '.join(failed)})" if failed else ""))

    # JAX peer.
    p("\n-- JAX peer (same scenario; its timing excludes compilation and read-back)")
    jax = {}
    for k, v in st.items():
        if k.startswith("jax."):
            r = jax_result(v)
            if r:
                jax[k] = r
                p(f"{k:<20} {sci(r['path_steps_per_s'])} path-steps/s ({r['paths']} paths x {r['steps']} steps, "
                  f"{r['seconds']:.2f} s, compile {r.get('compile_seconds', 0):.1f} s, {r.get('device')})")
            else:
                p(f"{k:<20} {v['status']}, no result")
    best_jax = max(jax.values(), key=lambda r: r["path_steps_per_s"], default=None)
    jax_on_gpu = bool(best_jax) and str(best_jax.get("device", "")).startswith(("gpu", "cuda"))

    floor = None
    if clock_mhz and sms:
        floor = sms * FP32_LANES_PER_SM * clock_mhz * 1e6 / LANE_INSTR_PER_PATH_STEP

    # The table.
    p("\n-- throughput, bittensor_halving (path-steps/s; x JAX: simulation alone over the best JAX peer's rate,"
      " which excludes its compile and read-back)")
    p(f"{'size':>10}  {'variant':<14} {'simulation':>11} {'with outputs':>13} {'x JAX':>7} {'of floor':>9}  status")
    for k, v in st.items():
        if not k.startswith("bench."):
            continue
        _, variant, size = k.split(".", 2)
        b = benches[k]
        if b is None:
            p(f"{size:>10}  {variant:<14} {'':>11} {'':>13} {'':>7} {'':>9}  {v['status']}")
            continue
        ratio = f"{b['sim'] / best_jax['path_steps_per_s']:.1f}" if best_jax else "n/a"
        of_floor = f"{100 * b['sim'] / floor:.1f}%" if floor and variant != "cpu" else "n/a"
        p(f"{b['paths']:>10}  {variant:<14} {sci(b['sim']):>11} {sci(b['full']):>13} {ratio:>7} {of_floor:>9}  {v['status']}")
        if b.get("phases"):
            p(f"{'':>12}{b['phases'].strip()}")

    # Targets.
    p("\n-- targets")
    gpu_1m = [(k, b) for k, b in benches.items()
              if b and k.startswith("bench.") and not k.startswith("bench.cpu")
              and best_jax and b["paths"] == best_jax["paths"]]
    if gpu_1m and best_jax:
        k, b = max(gpu_1m, key=lambda kb: kb[1]["sim"])
        ratio = b["sim"] / best_jax["path_steps_per_s"]
        same = "" if (nvidia and jax_on_gpu) else " (not on the same card: rehearsal only)"
        p(f">= {TARGET_JAX_RATIO:.0f}x JAX on the same card: {ratio:.1f}x ({k} vs {best_jax['prng']}) -> "
          f"{'PASS' if ratio >= TARGET_JAX_RATIO else 'FAIL'}{same}")
    else:
        p(f">= {TARGET_JAX_RATIO:.0f}x JAX: n/a (no JAX result or no GPU bench at the JAX size)")
    full = next((v for k, v in st.items() if k.startswith("run.full")), None)
    startup = st.get("run.startup")
    if full and full["status"] == "ok":
        m = next((RUN.search(ln) for ln in full["body"] if RUN.search(ln)), None)
        what = f"{int(m.group(1)):,} x {int(m.group(2)):,}" if m else "the run"
        own = f"; the run's own figures: simulated in {m.group(4)} s, {m.group(5)} s with outputs" if m else ""
        if startup and startup["status"] == "ok":
            after = full["wall"] - startup["wall"]
            p(f"{what} with every output: {full['wall']:.2f} s wall, start-up (tiny run) {startup['wall']:.2f} s, "
              f"after start-up {after:.2f} s vs < {TARGET_RUN_WALL_S:.0f} s -> {'PASS' if after < TARGET_RUN_WALL_S else 'FAIL'}{own}")
        else:
            p(f"{what} with every output: {full['wall']:.2f} s wall (no start-up figure){own}")
    else:
        p(f"run with every output: {full['status'] if full else 'not run'}")
    best = max((b["sim"] for k, b in benches.items()
                if b and k.startswith("bench.") and not k.startswith("bench.cpu")), default=None)
    if floor and best:
        p(f"floor (estimate: {sms} SMs x {FP32_LANES_PER_SM} lanes x {clock_mhz:.0f} MHz / "
          f"{LANE_INSTR_PER_PATH_STEP} lane-instructions per path-step) {sci(floor)}: best {sci(best)} = "
          f"{100 * best / floor:.1f}% of it")
    else:
        p("floor: n/a (needs nvidia-smi's SM clock and JAX's SM count)")

    # Where the time goes.
    p("\n-- where the time goes (default kernel, the JAX size)")
    d = next((b for k, b in benches.items() if k.startswith("bench.default.") and b
              and (not best_jax or b["paths"] == best_jax["paths"])), None)
    if d:
        work = d["paths"] * d["steps"]
        sim_s, full_s = work / d["sim"], work / d["full"]
        p(f"simulation alone (kernels, histograms, read-back, host reduce): {sim_s:.3f} s")
        p(f"outputs (Parquet, summary: with outputs - simulation): {full_s - sim_s:.3f} s")
        p(d["phases"] if d.get("phases") else "gpu phases: not available in this binary")
    hw, h1 = benches.get(f"hist.weekly.{d['paths']}") if d else None, benches.get(f"hist.one_row.{d['paths']}") if d else None
    if hw and h1:
        work = hw["paths"] * hw["steps"]
        p(f"histograms (weekly rows - one row, simulation alone): {work / hw['sim'] - work / h1['sim']:.3f} s "
          f"({sci(hw['sim'])} vs {sci(h1['sim'])} path-steps/s)")
    else:
        p("histograms: n/a (hist steps missing or failed)")

    bad = [f"{k}: {v['status']}" for k, v in st.items() if v["status"] != "ok"]
    p("\n-- steps not ok: " + ("none" if not bad else ""))
    for b in bad:
        p(f"  {b}")


if __name__ == "__main__":
    main()
