#!/usr/bin/env python3
"""NumPy peer of tokenrisk: the whole model of docs/MODEL.md, vectorized over paths
(arrays of shape [paths]) with a Python loop over steps: the way a risk analyst writes it.

Same mechanisms, order and parameter meaning as tokenrisk's reference step function
(src/model/step.rs, numbered sections below match it and MODEL.md), same defaults
(src/scenario/types.rs). Random numbers come from NumPy's Generator(PCG64) seeded with the
scenario seed, not Philox, so results agree with tokenrisk statistically, not path by path.

Usage: numpy_peer.py [SCENARIO] [--paths N] [--days D | --steps S] [--seed S]
Prints one JSON object: p_spiral, median final price, median er_ratio (with standard
errors), paths, steps, seconds and path_steps_per_s (simulation loop only, float64).
"""

from __future__ import annotations

import os
import sys
import time

sys.dont_write_bytecode = True  # keep scripts/peers/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import peer_common as pc  # noqa: E402


def emission_halving_by_supply(p, thresholds, issued):
    """halving_by_supply emission of one step for every path, cutting the step exactly at
    each halving threshold it crosses (as tokenrisk does)."""
    era = np.searchsorted(thresholds, issued, side="right")  # halvings already happened
    remaining = np.full(issued.shape, p["step_days"])
    at = issued.copy()
    minted = np.zeros_like(issued)
    active = era < len(thresholds)
    for _ in range(8):
        if not active.any():
            break
        e = np.minimum(era, len(thresholds) - 1)
        rate = p["per_day"] * np.exp2(-era.astype(np.float64))
        room = thresholds[e] - at
        fits = rate * remaining <= room
        take = np.where(fits, rate * remaining, room)
        minted += np.where(active, take, 0.0)
        crossed = active & ~fits
        remaining = np.where(crossed, remaining - room / rate, remaining)
        at = np.where(crossed, thresholds[e], at)
        era = era + crossed
        active = crossed & (era < len(thresholds))
    return minted


def simulate(p: dict, rng: np.random.Generator) -> dict:
    n, sd, dt = p["paths"], p["step_days"], p["dt"]
    det = pc.deterministic_schedule(p)
    thresholds = np.array(p["supply_thresholds"])
    l11, l21, l22, l31, l32, l33 = p["chol"]
    drift_dt = np.array([r["drift_dt"] for r in p["regime"]])
    vol_sqrt_dt = np.array([r["vol_sqrt_dt"] for r in p["regime"]])
    jump_lambda = np.array([r["jump_lambda"] for r in p["regime"]])
    has_regimes = p["p_calm_to_stress"] > 0.0
    has_price_jumps = jump_lambda.max() > 0.0
    has_cost_jumps = p["cost_jump_lambda"] > 0.0
    kind = p["emission_kind"]

    # State (section "State of one path" of MODEL.md), all float64 arrays of shape [n].
    circ0 = p["issued0"] - p["burned0"]
    regime = np.zeros(n, dtype=np.int64)
    ln_f = np.full(n, np.log(p["price0"]))
    flow = np.zeros(n)
    ln_price = ln_f.copy()
    ln_demand = np.full(n, np.log(p["demand0"]))
    ln_cost = np.full(n, p["ln_cost0"])
    ln_cap = np.full(n, np.log(p["capacity0"]))
    issued = np.full(n, p["issued0"])
    burned = np.full(n, p["burned0"])
    staked = np.full(n, p["staked_fraction0"] * circ0)
    ln_served_prev = np.minimum(ln_demand, ln_cap + np.log(p["throughput"]))
    running_max = np.full(n, p["price0"])
    ema_p, ema_k, ema_d = ln_price.copy(), ln_cap.copy(), ln_demand.copy()
    run_days = np.zeros(n)
    ever = np.zeros(n, dtype=bool)
    spiral_day = np.full(n, -1)
    cum_em_usd = np.zeros(n)
    cum_rev = np.zeros(n)
    min_price = running_max.copy()
    max_dd = np.zeros(n)
    ln_thr = np.log(p["throughput"])

    for t in range(p["steps"]):
        day1 = (t + 1) * sd
        z = rng.standard_normal((3, n))  # independent normals behind (Zp, Zd, Zc)

        # 1. Regime.
        if has_regimes:
            u = rng.random(n)
            regime = np.where(regime == 1, (u >= p["p_stress_to_calm"]).astype(np.int64),
                              (u < p["p_calm_to_stress"]).astype(np.int64))

        # 2. Deterministic shocks; a price shock moves the fundamental level.
        if det["shock_any"][t]:
            ln_f = ln_f + det["shock"]["ln_price"][t]
            ln_demand = ln_demand + det["shock"]["ln_demand"][t]
            ln_cost = ln_cost + det["shock"]["ln_cost"][t]
            ln_cap = np.clip(ln_cap + det["shock"]["ln_capacity"][t],
                             p["ln_capacity_floor"], p["ln_capacity_cap"])
        price = np.exp(ln_f + flow)
        demand = np.exp(ln_demand)
        capacity = np.exp(ln_cap)
        cost = np.exp(ln_cost)

        # 3. Served demand.
        ln_served = np.minimum(ln_demand, ln_cap + ln_thr)
        served_per_day = np.minimum(demand, capacity * p["throughput"])
        served_frac = served_per_day / demand
        served = served_per_day * sd

        # 4. Emission, clipped at max_supply, split.
        if kind == "halving_by_supply":
            emitted = emission_halving_by_supply(p, thresholds, issued)
        elif kind == "inflation":
            emitted = p["annual_rate"] * (issued - burned) / 365.0 * sd
        else:
            emitted = det["emission"][t]
        emitted = np.maximum(np.minimum(emitted, p["max_supply"] - issued), 0.0)
        e_prov = emitted * p["split_providers"]
        e_stak = emitted * p["split_stakers"]
        e_treas = emitted * p["split_treasury"]
        issued = issued + emitted

        # 5. Vesting unlocks are issued; a share of each tranche is sold.
        issued = issued + det["unlocked"][t]
        vesting_sold = det["vest_sold"][t]

        # 6. Payments and burns (USD this step).
        if p["burn_kind"] == "bme":
            burn_usd, fee_usd = served * (1.0 - p["burn_fee"]), 0.0
        elif p["burn_kind"] == "revenue_burn":
            burn_usd, fee_usd = served * p["burn_fraction"], served * (1.0 - p["burn_fraction"])
        else:
            burn_usd, fee_usd = 0.0, served
        user_buy = served if p["pay_in_token"] else burn_usd
        fee_sell_usd = fee_usd * p["fee_sell"] if p["pay_in_token"] else 0.0
        liquid = np.maximum(issued - burned - staked, 0.0)
        burned = burned + np.minimum(burn_usd / price, liquid)

        # 7. Providers: profitability moves capacity; they sell emission to cover costs.
        emission_value = e_prov * price
        revenue = emission_value + fee_usd
        provider_cost = capacity * cost * sd
        ln_pi = np.log(np.maximum(revenue, 1e-300) / provider_cost)
        ln_cap = np.clip(ln_cap + (p["entry_speed"] * np.maximum(ln_pi, 0.0)
                                   - p["exit_speed"] * np.maximum(-ln_pi, 0.0)) * dt,
                         p["ln_capacity_floor"], p["ln_capacity_cap"])
        if p["sell_to_cover_cost"]:
            with np.errstate(divide="ignore", invalid="ignore"):
                sf = np.where(emission_value > 0.0,
                              np.clip(provider_cost / emission_value, p["sell_min"], 1.0), 0.0)
        else:
            sf = p["sell_fixed"]
        provider_sell = sf * emission_value + fee_sell_usd

        # 8. Staking: target falls with the drawdown; stakers' emission is staked.
        running_max = np.maximum(running_max, price)
        drawdown = 1.0 - price / running_max
        target = p["stake_target"] * np.clip(1.0 - p["stake_panic"] * drawdown, 0.0, 1.0)
        circ = issued - burned
        staked = staked + e_stak
        change = (target * circ - staked) * p["stake_relax"]
        staked = staked + change
        unstake_sell = np.maximum(-change, 0.0) * p["unstake_sell"] * price
        staked = np.clip(staked, 0.0, circ)

        # 9. Market: net flow moves the transient pressure; F follows market and usage.
        sell = (provider_sell + vesting_sold * price + unstake_sell
                + e_treas * p["treasury_sell"] * price)
        net = user_buy - sell
        depth = p["depth"] * price * (circ - staked)
        with np.errstate(divide="ignore", invalid="ignore"):
            impact = np.where(depth > 0.0,
                              np.clip(p["impact"] * net / depth, -p["impact_cap"], p["impact_cap"]),
                              np.where((net != 0.0) & (p["impact"] > 0.0),
                                       np.copysign(p["impact_cap"], net), 0.0))
        flow = flow * p["impact_decay"] + impact
        if has_price_jumps:
            counts = np.minimum(rng.poisson(jump_lambda[regime]), pc.POISSON_MAX).astype(np.float64)
            jump = counts * p["jump_mean"] + p["jump_stdev"] * np.sqrt(counts) * rng.standard_normal(n)
        else:
            jump = 0.0
        ln_f = (ln_f + drift_dt[regime] + vol_sqrt_dt[regime] * (l11 * z[0]) + jump
                + p["revenue_beta"] * (ln_served - ln_served_prev))
        ln_served_prev = ln_served
        ln_price_prev = ln_price
        ln_price = ln_f + flow

        # 10. Demand: drift, noise, churn of unserved demand, elasticity to the job price.
        z_d = l21 * z[0] + l22 * z[1]
        ln_demand = (ln_demand + p["demand_drift_dt"] + p["demand_vol_sqrt_dt"] * z_d
                     - p["churn"] * (1.0 - served_frac) * dt)
        if p["quoted_in_token"]:
            ln_demand = ln_demand + (1.0 - p["price_elasticity"]) * (ln_price - ln_price_prev)

        # 11. GPU cost: reversion to a deflating long-run level, noise and jumps.
        z_c = l31 * z[0] + l32 * z[1] + l33 * z[2]
        if has_cost_jumps:
            cc = np.minimum(rng.poisson(p["cost_jump_lambda"], n), pc.POISSON_MAX).astype(np.float64)
            cost_jump = cc * p["cost_jump_mean"] + p["cost_jump_stdev"] * np.sqrt(cc) * rng.standard_normal(n)
        else:
            cost_jump = 0.0
        ln_cost_bar = p["ln_cost0"] - p["cost_deflation"] * (day1 / 365.0)
        ln_cost = (ln_cost + p["cost_reversion"] * (ln_cost_bar - ln_cost) * dt
                   + p["cost_vol_sqrt_dt"] * z_c + cost_jump)

        # 12. Spiral: all three below their own EMAs (of the past) for persist_days in a row.
        cond = ((ln_price < ema_p + p["spiral_ln_price"])
                & (ln_cap < ema_k + p["spiral_ln_capacity"])
                & (ln_demand < ema_d + p["spiral_ln_demand"]))
        run_days = np.where(cond, run_days + sd, 0.0)
        in_spiral = run_days >= p["spiral_persist_days"]
        spiral_day = np.where(in_spiral & ~ever, int(day1), spiral_day)
        ever |= in_spiral
        a = p["spiral_alpha"]
        ema_p = ema_p + a * (ln_price - ema_p)
        ema_k = ema_k + a * (ln_cap - ema_k)
        ema_d = ema_d + a * (ln_demand - ema_d)

        # Measurements: emissions valued at the price they were minted at.
        end_price = np.exp(ln_price)
        cum_em_usd = cum_em_usd + emitted * price
        cum_rev = cum_rev + served
        running_max = np.maximum(running_max, end_price)
        max_dd = np.maximum(max_dd, 1.0 - end_price / running_max)
        min_price = np.minimum(min_price, end_price)

    return {
        "spiral": ever,
        "spiral_day": spiral_day,
        "final_price": np.exp(ln_price),
        "log_return": ln_price - np.log(p["price0"]),
        "er_ratio": cum_em_usd / cum_rev,
        "max_drawdown": max_dd,
        "min_price": min_price,
    }


def main() -> None:
    args = pc.parse_args(__doc__.splitlines()[0])
    p = pc.setup(args)
    rng = np.random.Generator(np.random.PCG64(p["seed"]))
    t0, c0 = time.perf_counter(), time.process_time()
    r = simulate(p, rng)
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    pc.report(p, "numpy", "float64", seconds, r["spiral"], r["final_price"], r["er_ratio"],
              r["log_return"], {"numpy_version": np.__version__,
                                "max_drawdown_p50": float(np.median(r["max_drawdown"]))},
              cpu_seconds=cpu_seconds)


if __name__ == "__main__":
    main()
