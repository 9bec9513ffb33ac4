"""Shared by the peer implementations (numpy_peer.py, jax_peer.py): reading a scenario TOML
with the same defaults as tokenrisk (src/scenario/types.rs), compiling it to the same flat
parameters (src/model/params.rs), the command line, and the JSON summary.

The peers are what a risk analyst would otherwise write to simulate docs/MODEL.md;
tokenrisk is benchmarked against them (scripts/bench-peers.sh) and checked against them
statistically (tests/peers.rs). They do not validate scenario files: run
`tokenrisk validate FILE` first. Only the standard library is used here, so the JAX peer
does not need NumPy for parsing (it has it anyway).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tomllib

HERE = os.path.dirname(os.path.abspath(__file__))
PRESET_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "data", "scenarios"))

# Poisson counts per step are capped like tokenrisk's (src/rng.rs POISSON_MAX).
POISSON_MAX = 16
# Halvings tracked by halving_by_supply (src/model/params.rs MAX_HALVINGS).
MAX_HALVINGS = 64
TRAILING_HALF_LIFE_DAYS = 30.0


def resolve_scenario(name: str) -> str:
    """A file path, or a preset name as tokenrisk accepts it (bittensor_halving,
    bittensor-halving, bittensor_halving.toml)."""
    if os.path.isfile(name):
        return name
    stem = os.path.basename(name).removesuffix(".toml").replace("-", "_")
    path = os.path.join(PRESET_DIR, stem + ".toml")
    if os.path.isfile(path):
        return path
    sys.exit(f"error: {name}: no such file and no preset of that name in {PRESET_DIR}")


def load(path: str) -> dict:
    with open(path, "rb") as f:
        return tomllib.load(f)


def compile_params(doc: dict, days: int | None = None, steps: int | None = None) -> dict:
    """Scenario -> flat parameters, mirroring Params::compile (src/model/params.rs) and the
    serde defaults of src/scenario/types.rs (listed in README.md "Defaults")."""
    sc = doc["scenario"]
    tok = doc["token"]
    em = doc["emission"]
    pay = doc.get("payment", {})
    burn = doc.get("burn", {})
    dem = doc["demand"]
    mk = doc["market"]
    cp = doc["compute"]
    stk = doc.get("staking", {})
    corr = doc.get("correlation", {})
    spi = doc.get("spiral", {})

    step_days = int(sc.get("step_days", 1))
    horizon = int(sc["horizon_days"])
    if days is not None:
        horizon = int(days)
    if steps is not None:
        horizon = int(steps) * step_days
    if horizon <= 0 or horizon % step_days:
        sys.exit(f"error: horizon {horizon} days is not a positive multiple of step_days {step_days}")
    dt = step_days / 365.0
    sqrt_dt = math.sqrt(dt)

    def regime(drift, vol, rate):
        lam = rate * dt
        return {"drift_dt": (drift - 0.5 * vol * vol) * dt, "vol_sqrt_dt": vol * sqrt_dt, "jump_lambda": lam}

    jumps = mk.get("jumps", {})
    calm = regime(mk["drift"], mk["volatility"], jumps.get("rate", 0.0))
    regs = mk.get("regimes")
    if regs:
        st = regs["stress"]
        stress = regime(st["drift"], st["volatility"], st.get("jump_rate", 0.0))
        p_cs, p_sc = regs["calm_to_stress"], regs["stress_to_calm"]
    else:
        stress, p_cs, p_sc = calm, 0.0, 1.0

    max_supply = tok.get("max_supply")
    max_supply = math.inf if max_supply is None else float(max_supply)
    split = em.get("split", {"providers": 1.0, "stakers": 0.0, "treasury": 0.0})

    a = corr.get("price_demand", 0.0)
    b = corr.get("price_cost", 0.0)
    c = corr.get("demand_cost", 0.0)
    l22 = math.sqrt(1.0 - a * a)
    l32 = (c - b * a) / l22
    l33 = math.sqrt(1.0 - b * b - l32 * l32)
    chol = [1.0, a, l22, b, l32, l33]

    cj = cp.get("cost_jumps", {})
    sell = cp.get("sell_fraction", "cost")
    sell_to_cover = isinstance(sell, str)
    staking_speed = stk.get("speed", 0.0)

    return {
        "name": sc["name"],
        "seed": int(sc.get("seed", 42)),
        "paths": int(sc.get("paths", 100_000)),
        "steps": horizon // step_days,
        "horizon_days": horizon,
        "step_days": float(step_days),
        "dt": dt,
        "price0": float(tok["price"]),
        "issued0": float(tok["issued"]),
        "burned0": float(tok.get("burned", 0.0)),
        "max_supply": max_supply,
        "staked_fraction0": float(tok.get("staked_fraction", 0.0)),
        "emission_kind": em["kind"],
        "per_day": float(em.get("per_day", 0.0)),
        "supply_thresholds": [max_supply * (1.0 - 2.0 ** -(n + 1)) for n in range(MAX_HALVINGS)],
        "period_days": float(em.get("period_days", math.inf)),
        "yearly": [float(v) for v in em.get("yearly", [])],
        "decay": float(em.get("decay", 1.0)),
        "annual_rate": float(em.get("annual_rate", 0.0)),
        "split_providers": float(split["providers"]),
        "split_stakers": float(split["stakers"]),
        "split_treasury": float(split["treasury"]),
        "treasury_sell": float(em.get("treasury_sell", 0.0)),
        "pay_in_token": pay.get("currency", "token") == "token",
        "quoted_in_token": pay.get("quoted_in", "usd") == "token",
        "burn_kind": burn.get("kind", "none"),
        "burn_fee": float(burn.get("fee", 0.0)),
        "burn_fraction": float(burn.get("fraction", 0.0)),
        "demand0": float(dem["usd_per_day"]),
        "demand_drift_dt": (dem.get("growth", 0.0) - 0.5 * dem.get("volatility", 0.0) ** 2) * dt,
        "demand_vol_sqrt_dt": dem.get("volatility", 0.0) * sqrt_dt,
        "price_elasticity": float(dem.get("price_elasticity", 1.0)),
        "churn": float(dem.get("churn", 0.0)),
        "regime": [calm, stress],
        "p_calm_to_stress": float(p_cs),
        "p_stress_to_calm": float(p_sc),
        "jump_mean": float(jumps.get("mean", 0.0)),
        "jump_stdev": float(jumps.get("stdev", 0.0)),
        "depth": float(mk.get("depth", 0.02)),
        "impact": float(mk.get("impact", 0.0)),
        "impact_cap": float(mk.get("impact_cap", 0.25)),
        "impact_decay": 2.0 ** (-step_days / mk.get("impact_half_life_days", 30.0)),
        "revenue_beta": float(mk.get("revenue_beta", 0.0)),
        "capacity0": float(cp["capacity"]),
        "ln_capacity_floor": math.log(cp.get("capacity_floor", 1.0)),
        "ln_capacity_cap": math.log(cp.get("capacity_cap", 1.0e12)),
        "ln_cost0": math.log(cp["cost_per_unit_day"]),
        "cost_reversion": float(cp.get("cost_reversion", 0.0)),
        "cost_vol_sqrt_dt": cp.get("cost_volatility", 0.0) * sqrt_dt,
        "cost_deflation": float(cp.get("cost_deflation", 0.0)),
        "cost_jump_lambda": cj.get("rate", 0.0) * dt,
        "cost_jump_mean": float(cj.get("mean", 0.0)),
        "cost_jump_stdev": float(cj.get("stdev", 0.0)),
        "throughput": float(cp.get("throughput_usd_per_unit_day", 1.0)),
        "entry_speed": float(cp.get("entry_speed", 0.0)),
        "exit_speed": float(cp.get("exit_speed", 0.0)),
        "sell_to_cover_cost": sell_to_cover,
        "sell_fixed": 0.0 if sell_to_cover else float(sell),
        "sell_min": float(cp.get("sell_min", 0.0)),
        "fee_sell": float(cp.get("fee_sell", 1.0)),
        "stake_target": float(stk.get("target", 0.0)),
        "stake_panic": float(stk.get("panic", 0.0)),
        "stake_relax": 1.0 - math.exp(-staking_speed * dt),
        "unstake_sell": float(stk.get("unstake_sell", 0.0)),
        "vesting": [
            {
                "amount": float(v["amount"]),
                "cliff_days": float(v.get("cliff_days", 0.0)),
                "linear_days": float(v.get("linear_days", 0.0)),
                "sell_fraction": float(v.get("sell_fraction", 0.0)),
            }
            for v in doc.get("vesting", [])
        ],
        "chol": chol,
        "spiral_ln_price": math.log(1.0 - spi.get("price_drawdown", 0.5)),
        "spiral_ln_capacity": math.log(1.0 - spi.get("capacity_drawdown", 0.5)),
        "spiral_ln_demand": math.log(1.0 - spi.get("demand_drawdown", 0.3)),
        "spiral_alpha": 1.0 - 2.0 ** (-step_days / spi.get("window_days", 90.0)),
        "spiral_persist_days": float(spi.get("persist_days", 14)),
        "shocks": [
            {
                "day": float(s["day"]),
                "ln_price": math.log1p(s.get("price", 0.0)),
                "ln_demand": math.log1p(s.get("demand", 0.0)),
                "ln_cost": math.log1p(s.get("gpu_cost", 0.0)),
                "ln_capacity": math.log1p(s.get("capacity", 0.0)),
            }
            for s in doc.get("shock", [])
        ],
    }


def vested_by(amount: float, cliff: float, linear: float, day: float) -> float:
    """Tokens a tranche has unlocked by `day` (src/model/step.rs vested_by)."""
    if day <= cliff:
        return 0.0
    if linear <= 0.0:
        return amount
    return amount * min((day - cliff) / linear, 1.0)


def deterministic_schedule(p: dict) -> dict:
    """Per-step quantities that do not depend on the path, as Python lists of length steps:
    vesting unlocks and the USD-free part of vesting sales, the summed log shocks of each
    step, and (for halving_by_time and schedule) the emission before the max_supply clip.
    An analyst precomputes these once; tokenrisk recomputes them inside the step."""
    steps, sd = p["steps"], p["step_days"]
    unlocked, vest_sold = [], []
    shock = {k: [] for k in ("ln_price", "ln_demand", "ln_cost", "ln_capacity")}
    shock_any = []
    emission = []
    for t in range(steps):
        d0, d1 = t * sd, (t + 1) * sd
        u = s = 0.0
        for tr in p["vesting"]:
            du = vested_by(tr["amount"], tr["cliff_days"], tr["linear_days"], d1) - vested_by(
                tr["amount"], tr["cliff_days"], tr["linear_days"], d0
            )
            u += du
            s += du * tr["sell_fraction"]
        unlocked.append(u)
        vest_sold.append(s)
        hits = [sh for sh in p["shocks"] if d0 <= sh["day"] < d1]
        shock_any.append(bool(hits))
        for k in shock:
            shock[k].append(sum(sh[k] for sh in hits))
        emission.append(scalar_emission(p, d0))
    return {"unlocked": unlocked, "vest_sold": vest_sold, "shock": shock, "shock_any": shock_any,
            "emission": emission}


def scalar_emission(p: dict, day0: float) -> float:
    """Emission of the step starting at day0 for the kinds that do not depend on the path
    (before the max_supply clip); 0 for the path-dependent kinds."""
    sd = p["step_days"]
    kind = p["emission_kind"]
    if kind == "halving_by_time":
        day, end, minted = day0, day0 + sd, 0.0
        for _ in range(8):
            if day >= end:
                break
            era = math.floor(day / p["period_days"])
            boundary = min((era + 1.0) * p["period_days"], end)
            minted += p["per_day"] * 2.0 ** -era * (boundary - day)
            day = boundary
        return minted
    if kind == "schedule":
        year = int(day0 // 365)
        ys = p["yearly"]
        amount = ys[year] if year < len(ys) else ys[-1] * p["decay"] ** (year - len(ys) + 1)
        return amount / 365.0 * sd
    return 0.0


def parse_args(description: str, extra=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("scenario", nargs="?", default="bittensor_halving",
                    help="scenario TOML file or preset name (default bittensor_halving)")
    ap.add_argument("--paths", type=int, help="number of paths (default: scenario.paths)")
    ap.add_argument("--days", type=int, help="horizon in days (overrides scenario.horizon_days)")
    ap.add_argument("--steps", type=int, help="number of steps (overrides the horizon)")
    ap.add_argument("--seed", type=int, help="random seed (default: scenario.seed)")
    if extra:
        extra(ap)
    return ap.parse_args()


def setup(args) -> dict:
    path = resolve_scenario(args.scenario)
    doc = load(path)
    p = compile_params(doc, days=args.days, steps=args.steps)
    if args.paths is not None:
        p["paths"] = args.paths
    if args.seed is not None:
        p["seed"] = args.seed
    p["file"] = path
    return p


def median_and_se(sorted_values) -> tuple[float, float]:
    """Sample median (lower median, order statistic floor((n-1)/2), as tokenrisk) and its
    standard error from order statistics: the number of draws below the true median is
    Binomial(n, 1/2) with standard deviation sqrt(n)/2, so the order statistics sqrt(n)/2 ranks
    either side of the median bracket one standard error: SE ~ (x[m + k] - x[m - k]) / 2,
    k = ceil(sqrt(n)/2). Needs no density estimate and holds for skewed distributions."""
    n = len(sorted_values)
    m = (n - 1) // 2
    k = max(1, math.ceil(math.sqrt(n) / 2))
    lo, hi = max(0, m - k), min(n - 1, m + k)
    return float(sorted_values[m]), float(sorted_values[hi] - sorted_values[lo]) / 2.0


def report(p: dict, peer: str, dtype: str, seconds: float, spiral, final_price, er_ratio,
           log_return, extra: dict | None = None, cpu_seconds: float | None = None) -> None:
    """Prints the JSON summary. Inputs are NumPy arrays (host copies). `seconds` is the wall
    time of the simulation; `cpu_seconds` the CPU time of the whole process (all threads)
    over the same interval, so that throughput per CPU-second can be compared on a shared
    machine, where wall time also counts waiting for the processor."""
    import numpy as np

    n = p["paths"]
    ps = float(np.mean(spiral))
    fp = np.sort(final_price[np.isfinite(final_price)])
    er = np.sort(er_ratio[np.isfinite(er_ratio)])
    med_fp, se_fp = median_and_se(fp)
    med_er, se_er = median_and_se(er)
    lr = log_return[np.isfinite(log_return)]
    out = {
        "peer": peer,
        "scenario": p["name"],
        "file": p["file"],
        "dtype": dtype,
        "paths": n,
        "steps": p["steps"],
        "step_days": p["step_days"],
        "horizon_days": p["horizon_days"],
        "seed": p["seed"],
        "p_spiral": ps,
        "p_spiral_se": math.sqrt(max(ps * (1.0 - ps), 0.0) / n),
        "median_final_price": med_fp,
        "median_final_price_se": se_fp,
        "median_er_ratio": med_er,
        "median_er_ratio_se": se_er,
        "mean_log_return": float(lr.mean()) if lr.size else float("nan"),
        "nonfinite_paths": int(n - fp.size),
        "seconds": seconds,
        "path_steps_per_s": n * p["steps"] / seconds if seconds > 0 else float("inf"),
    }
    if cpu_seconds is not None:
        out["cpu_seconds"] = cpu_seconds
        out["path_steps_per_cpu_s"] = n * p["steps"] / cpu_seconds if cpu_seconds > 0 else float("inf")
    if extra:
        out.update(extra)
    print(json.dumps(out, indent=1))
