#!/usr/bin/env python3
"""JAX peer of tokenrisk: the whole model of docs/MODEL.md as a `jax.jit`-compiled
`lax.scan` over steps, each step vectorized over paths: the way a GPU user writes it.

The step is the same as numpy_peer.py (and tokenrisk's src/model/step.rs; the numbered
sections match), in float32 by default as a GPU user would run it (--x64 for float64).
Random numbers are JAX's own (threefry by default; --prng rbg or unsafe_rbg for the faster
generators JAX offers on GPUs), so results agree with tokenrisk statistically.

Timing excludes compilation (ahead-of-time `lower().compile()`, reported separately as
compile_seconds) and waits for the device with `block_until_ready`; copying the per-path
results to the host and the summary statistics are not timed (reported as
transfer_seconds). --reps R runs the compiled simulation R times and reports the median.

Usage: jax_peer.py [SCENARIO] [--paths N] [--days D | --steps S] [--seed S] [--x64]
                   [--prng threefry2x32|rbg|unsafe_rbg] [--reps R]
Prints one JSON object with the same fields as numpy_peer.py plus the JAX device.
"""

from __future__ import annotations

import math
import os
import sys
import time

sys.dont_write_bytecode = True  # keep scripts/peers/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import peer_common as pc  # noqa: E402


def extra_args(ap):
    ap.add_argument("--x64", action="store_true", help="simulate in float64 (default float32)")
    ap.add_argument("--prng", default="threefry2x32", choices=["threefry2x32", "rbg", "unsafe_rbg"],
                    help="JAX PRNG implementation (default threefry2x32, JAX's default)")
    ap.add_argument("--poisson", default="inversion", choices=["inversion", "jax"],
                    help="jump counts by CDF inversion capped at 16 as MODEL.md prescribes (default, "
                         "one fused elementwise kernel) or jax.random.poisson (a data-dependent loop)")
    ap.add_argument("--reps", type=int, default=1, help="timed repetitions (median reported)")


def build(p: dict, jax, jnp, lax, dtype, poisson_impl="inversion"):
    """Returns simulate(key) -> dict of per-path results, ready to jit."""
    n, sd, dt = p["paths"], p["step_days"], p["dt"]
    det = pc.deterministic_schedule(p)
    f = lambda v: jnp.asarray(v, dtype=dtype)  # noqa: E731
    xs = {
        "t": jnp.arange(p["steps"], dtype=jnp.int32),
        "unlocked": f(det["unlocked"]),
        "vest_sold": f(det["vest_sold"]),
        "sh_p": f(det["shock"]["ln_price"]),
        "sh_d": f(det["shock"]["ln_demand"]),
        "sh_c": f(det["shock"]["ln_cost"]),
        "sh_k": f(det["shock"]["ln_capacity"]),
        "emission": f(det["emission"]),
    }
    any_shock = any(det["shock_any"])
    thresholds = f(p["supply_thresholds"])
    n_thr = len(p["supply_thresholds"])
    l11, l21, l22, l31, l32, l33 = p["chol"]
    drift_dt = f([r["drift_dt"] for r in p["regime"]])
    vol_sqrt_dt = f([r["vol_sqrt_dt"] for r in p["regime"]])
    jump_lambda = f([r["jump_lambda"] for r in p["regime"]])
    has_regimes = p["p_calm_to_stress"] > 0.0
    has_price_jumps = max(r["jump_lambda"] for r in p["regime"]) > 0.0
    has_cost_jumps = p["cost_jump_lambda"] > 0.0
    kind = p["emission_kind"]
    tiny = float(jnp.finfo(dtype).tiny)  # tokenrisk's 1e-300 floor on revenue, in this dtype
    ln_thr = math.log(p["throughput"])
    max_supply = p["max_supply"]

    def poisson(key, lam):
        """Poisson counts, capped at POISSON_MAX like tokenrisk's."""
        if poisson_impl == "jax":
            return jnp.minimum(jax.random.poisson(key, lam, (n,)), pc.POISSON_MAX).astype(dtype)
        # Inversion of the CDF with a fixed number of terms: elementwise, so XLA fuses it.
        u = jax.random.uniform(key, (n,), dtype=dtype)
        lam = jnp.broadcast_to(jnp.asarray(lam, dtype), (n,))
        term = jnp.exp(-lam)
        cdf = term
        count = jnp.zeros((n,), dtype)
        for k in range(1, pc.POISSON_MAX + 1):
            count = count + (u > cdf).astype(dtype)
            term = term * lam / k
            cdf = cdf + term
        return count

    def halving_by_supply(issued):
        era = jnp.searchsorted(thresholds, issued, side="right")
        remaining = jnp.full_like(issued, sd)
        at = issued
        minted = jnp.zeros_like(issued)
        active = era < n_thr
        for _ in range(8):  # a step crosses at most a few halvings (unrolled, masked)
            e = jnp.minimum(era, n_thr - 1)
            rate = p["per_day"] * jnp.exp2(-era.astype(dtype))
            room = thresholds[e] - at
            fits = rate * remaining <= room
            minted = minted + jnp.where(active, jnp.where(fits, rate * remaining, room), 0.0)
            crossed = active & ~fits
            remaining = jnp.where(crossed, remaining - room / rate, remaining)
            at = jnp.where(crossed, thresholds[e], at)
            era = era + crossed.astype(era.dtype)
            active = crossed & (era < n_thr)
        return minted

    def step(carry, x, base_key):
        s = dict(carry)
        t = x["t"]
        day1 = (t + 1).astype(dtype) * sd
        k_norm, k_reg, k_pj, k_cj = jax.random.split(jax.random.fold_in(base_key, t), 4)
        # Independent normals: three behind (Zp, Zd, Zc), price-jump size, cost-jump size.
        z = jax.random.normal(k_norm, (5, n), dtype=dtype)

        # 1. Regime.
        regime = s["regime"]
        if has_regimes:
            u = jax.random.uniform(k_reg, (n,), dtype=dtype)
            regime = jnp.where(regime == 1, (u >= p["p_stress_to_calm"]).astype(jnp.int32),
                               (u < p["p_calm_to_stress"]).astype(jnp.int32))

        # 2. Deterministic shocks (summed per step; zero on most steps).
        ln_f, ln_demand, ln_cost, ln_cap = s["ln_f"], s["ln_demand"], s["ln_cost"], s["ln_cap"]
        if any_shock:
            ln_f = ln_f + x["sh_p"]
            ln_demand = ln_demand + x["sh_d"]
            ln_cost = ln_cost + x["sh_c"]
            ln_cap = jnp.clip(ln_cap + x["sh_k"], p["ln_capacity_floor"], p["ln_capacity_cap"])
        price = jnp.exp(ln_f + s["flow"])
        demand = jnp.exp(ln_demand)
        capacity = jnp.exp(ln_cap)
        cost = jnp.exp(ln_cost)

        # 3. Served demand.
        ln_served = jnp.minimum(ln_demand, ln_cap + ln_thr)
        served_per_day = jnp.minimum(demand, capacity * p["throughput"])
        served_frac = served_per_day / demand
        served = served_per_day * sd

        # 4. Emission, clipped at max_supply, split.
        issued, burned, staked = s["issued"], s["burned"], s["staked"]
        if kind == "halving_by_supply":
            emitted = halving_by_supply(issued)
        elif kind == "inflation":
            emitted = p["annual_rate"] * (issued - burned) / 365.0 * sd
        else:
            emitted = jnp.full_like(issued, 1.0) * x["emission"]
        emitted = jnp.maximum(jnp.minimum(emitted, max_supply - issued), 0.0)
        e_prov = emitted * p["split_providers"]
        e_stak = emitted * p["split_stakers"]
        e_treas = emitted * p["split_treasury"]
        issued = issued + emitted

        # 5. Vesting unlocks are issued; a share of each tranche is sold.
        issued = issued + x["unlocked"]
        vesting_sold = x["vest_sold"]

        # 6. Payments and burns.
        if p["burn_kind"] == "bme":
            burn_usd, fee_usd = served * (1.0 - p["burn_fee"]), 0.0
        elif p["burn_kind"] == "revenue_burn":
            burn_usd, fee_usd = served * p["burn_fraction"], served * (1.0 - p["burn_fraction"])
        else:
            burn_usd, fee_usd = 0.0, served
        user_buy = served if p["pay_in_token"] else burn_usd
        fee_sell_usd = fee_usd * p["fee_sell"] if p["pay_in_token"] else 0.0
        liquid = jnp.maximum(issued - burned - staked, 0.0)
        burned = burned + jnp.minimum(burn_usd / price, liquid)

        # 7. Providers.
        emission_value = e_prov * price
        revenue = emission_value + fee_usd
        provider_cost = capacity * cost * sd
        ln_pi = jnp.log(jnp.maximum(revenue, tiny) / provider_cost)
        ln_cap = jnp.clip(ln_cap + (p["entry_speed"] * jnp.maximum(ln_pi, 0.0)
                                    - p["exit_speed"] * jnp.maximum(-ln_pi, 0.0)) * dt,
                          p["ln_capacity_floor"], p["ln_capacity_cap"])
        if p["sell_to_cover_cost"]:
            safe = jnp.where(emission_value > 0.0, emission_value, 1.0)
            sf = jnp.where(emission_value > 0.0,
                           jnp.clip(provider_cost / safe, p["sell_min"], 1.0), 0.0)
        else:
            sf = p["sell_fixed"]
        provider_sell = sf * emission_value + fee_sell_usd

        # 8. Staking.
        running_max = jnp.maximum(s["running_max"], price)
        drawdown = 1.0 - price / running_max
        target = p["stake_target"] * jnp.clip(1.0 - p["stake_panic"] * drawdown, 0.0, 1.0)
        circ = issued - burned
        staked = staked + e_stak
        change = (target * circ - staked) * p["stake_relax"]
        staked = staked + change
        unstake_sell = jnp.maximum(-change, 0.0) * p["unstake_sell"] * price
        staked = jnp.clip(staked, 0.0, circ)

        # 9. Market.
        sell = (provider_sell + vesting_sold * price + unstake_sell
                + e_treas * p["treasury_sell"] * price)
        net = user_buy - sell
        depth = p["depth"] * price * (circ - staked)
        safe_depth = jnp.where(depth > 0.0, depth, 1.0)
        impact = jnp.where(depth > 0.0,
                           jnp.clip(p["impact"] * net / safe_depth, -p["impact_cap"], p["impact_cap"]),
                           jnp.where((net != 0.0) & (p["impact"] > 0.0),
                                     jnp.copysign(jnp.asarray(p["impact_cap"], dtype), net), 0.0))
        flow = s["flow"] * p["impact_decay"] + impact
        if has_price_jumps:
            counts = poisson(k_pj, jump_lambda[regime])
            jump = counts * p["jump_mean"] + p["jump_stdev"] * jnp.sqrt(counts) * z[3]
        else:
            jump = 0.0
        ln_f = (ln_f + drift_dt[regime] + vol_sqrt_dt[regime] * (l11 * z[0]) + jump
                + p["revenue_beta"] * (ln_served - s["ln_served_prev"]))
        ln_price_prev = s["ln_price"]
        ln_price = ln_f + flow

        # 10. Demand.
        z_d = l21 * z[0] + l22 * z[1]
        ln_demand = (ln_demand + p["demand_drift_dt"] + p["demand_vol_sqrt_dt"] * z_d
                     - p["churn"] * (1.0 - served_frac) * dt)
        if p["quoted_in_token"]:
            ln_demand = ln_demand + (1.0 - p["price_elasticity"]) * (ln_price - ln_price_prev)

        # 11. GPU cost.
        z_c = l31 * z[0] + l32 * z[1] + l33 * z[2]
        if has_cost_jumps:
            cc = poisson(k_cj, p["cost_jump_lambda"])
            cost_jump = cc * p["cost_jump_mean"] + p["cost_jump_stdev"] * jnp.sqrt(cc) * z[4]
        else:
            cost_jump = 0.0
        ln_cost_bar = p["ln_cost0"] - p["cost_deflation"] * (day1 / 365.0)
        ln_cost = (ln_cost + p["cost_reversion"] * (ln_cost_bar - ln_cost) * dt
                   + p["cost_vol_sqrt_dt"] * z_c + cost_jump)

        # 12. Spiral.
        cond = ((ln_price < s["ema_p"] + p["spiral_ln_price"])
                & (ln_cap < s["ema_k"] + p["spiral_ln_capacity"])
                & (ln_demand < s["ema_d"] + p["spiral_ln_demand"]))
        run_days = jnp.where(cond, s["run_days"] + sd, 0.0)
        in_spiral = run_days >= p["spiral_persist_days"]
        spiral_day = jnp.where(in_spiral & ~s["ever"], (t + 1) * int(sd), s["spiral_day"])
        ever = s["ever"] | in_spiral
        a = p["spiral_alpha"]

        end_price = jnp.exp(ln_price)
        running_max = jnp.maximum(running_max, end_price)
        out = {
            "regime": regime, "ln_f": ln_f, "flow": flow, "ln_price": ln_price,
            "ln_demand": ln_demand, "ln_cost": ln_cost, "ln_cap": ln_cap,
            "issued": issued, "burned": burned, "staked": staked, "ln_served_prev": ln_served,
            "running_max": running_max,
            "ema_p": s["ema_p"] + a * (ln_price - s["ema_p"]),
            "ema_k": s["ema_k"] + a * (ln_cap - s["ema_k"]),
            "ema_d": s["ema_d"] + a * (ln_demand - s["ema_d"]),
            "run_days": run_days, "ever": ever, "spiral_day": spiral_day,
            "cum_em_usd": s["cum_em_usd"] + emitted * price,
            "cum_rev": s["cum_rev"] + served,
            "max_dd": jnp.maximum(s["max_dd"], 1.0 - end_price / running_max),
            "min_price": jnp.minimum(s["min_price"], end_price),
        }
        return out, None

    def simulate(base_key):
        circ0 = p["issued0"] - p["burned0"]
        full = lambda v: jnp.full((n,), v, dtype=dtype)  # noqa: E731
        ln_p0 = math.log(p["price0"])
        ln_d0 = math.log(p["demand0"])
        ln_k0 = math.log(p["capacity0"])
        init = {
            "regime": jnp.zeros((n,), jnp.int32), "ln_f": full(ln_p0), "flow": full(0.0),
            "ln_price": full(ln_p0), "ln_demand": full(ln_d0), "ln_cost": full(p["ln_cost0"]),
            "ln_cap": full(ln_k0), "issued": full(p["issued0"]), "burned": full(p["burned0"]),
            "staked": full(p["staked_fraction0"] * circ0),
            "ln_served_prev": full(min(ln_d0, ln_k0 + ln_thr)),
            "running_max": full(p["price0"]), "ema_p": full(ln_p0), "ema_k": full(ln_k0),
            "ema_d": full(ln_d0), "run_days": full(0.0), "ever": jnp.zeros((n,), bool),
            "spiral_day": jnp.full((n,), -1, jnp.int32), "cum_em_usd": full(0.0),
            "cum_rev": full(0.0), "max_dd": full(0.0), "min_price": full(p["price0"]),
        }
        final, _ = lax.scan(lambda c, x: step(c, x, base_key), init, xs)
        return {
            "spiral": final["ever"],
            "spiral_day": final["spiral_day"],
            "final_price": jnp.exp(final["ln_price"]),
            "log_return": final["ln_price"] - ln_p0,
            "er_ratio": final["cum_em_usd"] / final["cum_rev"],
            "max_drawdown": final["max_dd"],
        }

    return simulate


def main() -> None:
    args = pc.parse_args(__doc__.splitlines()[0], extra_args)
    try:
        import jax
    except ImportError:
        sys.exit("error: jax is not installed (pip install jax; jax[cuda12] on an NVIDIA GPU)")
    if args.x64:
        jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import numpy as np
    from jax import lax

    p = pc.setup(args)
    dtype = jnp.float64 if args.x64 else jnp.float32
    simulate = build(p, jax, jnp, lax, dtype, args.poisson)
    key = jax.random.key(p["seed"], impl=args.prng)

    t0 = time.perf_counter()
    compiled = jax.jit(simulate).lower(key).compile()
    compile_seconds = time.perf_counter() - t0

    times, cpu_times = [], []
    for _ in range(max(1, args.reps)):
        t0, c0 = time.perf_counter(), time.process_time()
        r = compiled(key)
        jax.block_until_ready(r)
        times.append(time.perf_counter() - t0)
        cpu_times.append(time.process_time() - c0)
    seconds = sorted(times)[len(times) // 2]
    cpu_seconds = sorted(cpu_times)[len(cpu_times) // 2]

    t0 = time.perf_counter()
    host = {k: np.asarray(v) for k, v in r.items()}
    transfer_seconds = time.perf_counter() - t0
    dev = jax.devices()[0]
    pc.report(p, "jax", "float64" if args.x64 else "float32", seconds, host["spiral"],
              host["final_price"].astype(np.float64), host["er_ratio"].astype(np.float64),
              host["log_return"].astype(np.float64),
              {"jax_version": jax.__version__, "device": f"{dev.platform}:{dev.device_kind}",
               "prng": args.prng, "poisson": args.poisson, "compile_seconds": compile_seconds,
               "transfer_seconds": transfer_seconds, "reps": len(times),
               "max_drawdown_p50": float(np.median(host["max_drawdown"]))},
              cpu_seconds=cpu_seconds)


if __name__ == "__main__":
    main()
