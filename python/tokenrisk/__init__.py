"""tokenrisk in Python: the tokenrisk Monte Carlo engine (the same Rust crate as the CLI), with
scenarios edited by dotted key, runs held in memory, Arrow tables handed over without copying
and notebook-friendly results.

    import tokenrisk
    s = tokenrisk.Scenario.preset("bittensor_halving").with_(**{"market.volatility": 1.1})
    run = tokenrisk.run(s, paths=20_000, seed=7)
    run.summary["p_spiral"], run.summary["p_spiral_se"]
    import pyarrow; pyarrow.table(run.paths)        # zero-copy
    run.write("out")                                # exactly `tokenrisk run ... --out out`
    c = tokenrisk.compare(tokenrisk.Scenario.preset("compare/halving"),
                          tokenrisk.Scenario.preset("compare/bme"), paths=5_000)
    pyarrow.table(c.table)                          # comparison.parquet's rows
    sw = tokenrisk.sweep(s, {"market.volatility": [0.6, 0.9, 1.2]}, paths=2_000)
    pyarrow.table(sw.table)                         # sweep.parquet's rows

Results are bit-identical to ``tokenrisk run`` / ``tokenrisk compare`` with the same
arguments.
"""

from __future__ import annotations

import html as _html
import os as _os
import tempfile as _tempfile
from typing import Any, Iterable, Iterator, Mapping, Optional, Sequence, Union

from . import _native
from ._native import ArrowTable, Problem, Scenario, ScenarioError

__all__ = [
    "ArrowTable",
    "Comparison",
    "MAX_PATHS",
    "Problem",
    "Run",
    "Scenario",
    "ScenarioError",
    "Summary",
    "Sweep",
    "compare",
    "presets",
    "run",
    "sweep",
]
__version__ = _native.__version__
MAX_PATHS: int = _native.MAX_PATHS


def presets() -> list:
    """The names of the bundled presets (``tokenrisk presets``)."""
    return list(_native.presets())


class Summary(Mapping):
    """The summary.parquet row as a read-only mapping: every figure with its standard error
    (``*_se``) and, for estimates, its 95% interval (``*_lo``, ``*_hi``); ``None`` where the
    CLI writes null (an empty distribution's quantile)."""

    def __init__(self, row: dict):
        self._row = dict(row)

    def __getitem__(self, key: str) -> Any:
        return self._row[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._row)

    def __len__(self) -> int:
        return len(self._row)

    def estimate(self, name: str) -> dict:
        """``name`` with its ``se``, ``lo`` and ``hi`` where the row has them."""
        out = {"value": self._row[name]}
        for part in ("se", "lo", "hi"):
            k = f"{name}_{part}"
            if k in self._row:
                out[part] = self._row[k]
        return out

    def __repr__(self) -> str:
        return f"Summary({self._row!r})"


def _fmt(x: Optional[float], digits: int = 4) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float):
        return f"{x:.{digits}g}"
    return str(x)


class Run:
    """A finished run, in memory. ``summary`` (a :class:`Summary`), ``timeseries`` and ``paths``
    (Arrow tables: ``pyarrow.table(run.paths)``, ``polars.DataFrame(run.paths)``), ``write(dir)``
    (the CLI's folder), ``report_html()`` (the CLI's report)."""

    def __init__(self, native: Any):
        self._native = native
        self._summary: Optional[Summary] = None

    @property
    def name(self) -> str:
        """``scenario.name``: the folder name the run writes."""
        return self._native.name

    @property
    def scenario(self) -> Scenario:
        """The scenario as run (paths, seed, horizon and overlays laid over it)."""
        return self._native.scenario()

    @property
    def engine(self) -> str:
        """"cpu" or "gpu"."""
        return self._native.engine

    @property
    def device(self) -> str:
        return self._native.device

    @property
    def n_paths(self) -> int:
        return self._native.n_paths

    @property
    def seed(self) -> int:
        return self._native.seed

    @property
    def simulate_seconds(self) -> float:
        return self._native.simulate_seconds

    @property
    def summary(self) -> Summary:
        """summary.parquet's row: figures with their SEs and intervals."""
        if self._summary is None:
            self._summary = Summary(self._native.summary())
        return self._summary

    @property
    def summary_table(self) -> ArrowTable:
        """summary.parquet's row as an Arrow table."""
        return self._native.summary_table()

    @property
    def timeseries(self) -> ArrowTable:
        """timeseries.parquet's rows as an Arrow table."""
        return self._native.timeseries_table()

    @property
    def paths(self) -> ArrowTable:
        """paths.parquet's rows (one per path, in path order) as an Arrow table."""
        return self._native.paths_table()

    def write(self, out: Union[str, "_os.PathLike[str]"]) -> str:
        """Writes the folder ``out/<scenario.name>/`` exactly as ``tokenrisk run --out out``
        does (built aside and moved into place whole); returns its path."""
        return str(self._native.write(_os.fspath(out)))

    def report_html(self) -> str:
        """The CLI's ``tokenrisk report`` page of this run, as HTML text."""
        with _tempfile.TemporaryDirectory(prefix="tokenrisk-report-") as d:
            folder = self._native.write(d)
            return _native.render_report(folder)

    def _repr_html_(self) -> str:
        s = self.summary

        def pct(x):
            return "n/a" if x is None else f"{100 * x:.2f}%"

        def num(x):
            return _fmt(x, 5)

        # (label, value, SE, (lo, hi) or None, formatter)
        rows = [
            ("P(spiral by the horizon)", s["p_spiral"], s["p_spiral_se"], (s["p_spiral_lo"], s["p_spiral_hi"]), pct),
            ("P(emissions/revenue > 1)", s["p_er_above_1"], s["p_er_above_1_se"], None, pct),
            ("P(break-even)", s["p_breakeven"], s["p_breakeven_se"], None, pct),
        ]
        for k in s:
            if k.startswith("var") and k.endswith("_return"):
                level = k[3:-7]
                e = s.estimate(k)
                rows.append((f"{level}% VaR, log-return loss", e["value"], e.get("se"), (e.get("lo"), e.get("hi")), num))
        rows += [
            ("final price, median (USD)", s["final_price_p50"], s.get("final_price_p50_se"),
             (s.get("final_price_p50_lo"), s.get("final_price_p50_hi")), num),
            ("final price, mean (USD)", s["final_price_mean"], s["final_price_se"], None, num),
            ("max drawdown, mean", s["max_drawdown_mean"], s["max_drawdown_se"], None, num),
        ]

        def se_cell(se, f):
            if se is None:
                return ""
            if se == 0:
                return "0 (no spread)"
            return f(se)

        def iv_cell(iv, se, f):
            if iv is None or se == 0:
                return "&mdash;"
            return f"{f(iv[0])} to {f(iv[1])}"

        td = '<td style="text-align:right;padding:2px 10px">'
        body = "".join(
            f'<tr><td style="text-align:left;padding:2px 10px">{_html.escape(label)}</td>'
            f"{td}{f(v)}</td>{td}{se_cell(se, f)}</td>{td}{iv_cell(iv, se, f)}</td></tr>"
            for label, v, se, iv, f in rows
        )
        head = _html.escape(
            f"{self.name}: {self.n_paths:,} paths x {s['horizon_days']:,} days, seed {self.seed}, "
            f"{self.engine} engine ({self.simulate_seconds:.2f} s)"
        )
        th = '<th style="text-align:right;padding:2px 10px">'
        return (
            f'<div style="max-width:46em"><b>{head}</b><table style="border-collapse:collapse"><thead><tr>'
            f'<th style="text-align:left;padding:2px 10px">figure</th>{th}estimate</th>{th}SE</th>'
            f"{th}95% interval</th></tr></thead><tbody>{body}</tbody></table>"
            "<small>Monte Carlo estimates from the simulated paths. Quantiles (VaR, medians) are "
            "exact order statistics of the paths, their intervals exact order-statistic intervals; "
            "P(spiral)'s interval is Wilson's. Every column: <code>run.summary</code>.</small></div>"
        )

    def __repr__(self) -> str:
        s = self.summary
        return (
            f"Run({self.name!r}, paths={self.n_paths}, seed={self.seed}, engine={self.engine!r}, "
            f"p_spiral={_fmt(s['p_spiral'])} ± {_fmt(s['p_spiral_se'])})"
        )


def run(
    scenario: Scenario,
    paths: Optional[int] = None,
    seed: Optional[int] = None,
    backend: str = "auto",
    horizon: Optional[int] = None,
    shocks: Union[str, Sequence[str]] = (),
    stress: Union[str, Sequence[str]] = (),
    progress: bool = True,
) -> Run:
    """Runs ``scenario`` as ``tokenrisk run`` does, with the CLI's ``--paths``, ``--seed``,
    ``--backend``, ``--horizon``, ``--shock`` and ``--stress`` as arguments, and returns the
    :class:`Run` in memory (nothing is written). The GIL is released while it simulates;
    Ctrl-C stops it within one chunk of paths and raises ``KeyboardInterrupt``. ``progress``
    draws a progress line on stderr.

    Raises :class:`ScenarioError` for a scenario with problems, ``ValueError`` for a bad
    argument, ``RuntimeError`` for an engine failure (no GPU for ``backend="gpu"``, memory).
    """
    if not isinstance(scenario, Scenario):
        raise ValueError(
            f"scenario: {type(scenario).__name__} is not a Scenario; allowed: "
            "tokenrisk.Scenario.preset(...), .from_file(...), .from_toml(...), .from_dict(...)"
        )
    native = _native.run(
        scenario,
        paths=paths,
        seed=seed,
        backend=backend,
        horizon=horizon,
        shocks=shocks,
        stress=stress,
        progress=progress,
    )
    return Run(native)


def _check_scenario(name: str, s: Any) -> None:
    if not isinstance(s, Scenario):
        raise ValueError(
            f"{name}: {type(s).__name__} is not a Scenario; allowed: "
            "tokenrisk.Scenario.preset(...), .from_file(...), .from_toml(...), .from_dict(...)"
        )


class Comparison:
    """A finished design comparison, in memory: ``table`` (comparison.parquet's rows, one per
    pair of designs, A minus B with paired standard errors and intervals), ``runs`` (each
    design's :class:`Run`, in the order given), ``write(dir)`` (the CLI's outputs)."""

    def __init__(self, native: Any):
        self._native = native
        self._runs = [Run(r) for r in native.runs()]

    @property
    def table(self) -> ArrowTable:
        """comparison.parquet's rows as an Arrow table (``pyarrow.table(c.table)``)."""
        return self._native.table()

    @property
    def runs(self) -> list:
        """Each design's :class:`Run`, in the order given (all with one seed, the same paths)."""
        return list(self._runs)

    @property
    def seed(self) -> int:
        """The seed every design ran with (common random numbers)."""
        return self._native.seed

    @property
    def n_paths(self) -> int:
        return self._native.n_paths

    def write(self, out: Union[str, "_os.PathLike[str]"]) -> str:
        """Writes ``out/<scenario.name>/`` of every design and ``out/comparison.parquet``, as
        ``tokenrisk compare ... --out out`` does; returns the table's path."""
        return str(self._native.write(_os.fspath(out)))

    def _repr_html_(self) -> str:
        import pyarrow as pa  # the table's rows, for display only

        rows = pa.table(self.table).to_pylist()

        def pct(x):
            return f"{100 * x:+.2f} pp" if isinstance(x, float) else "n/a"

        td = '<td style="text-align:right;padding:2px 10px">'
        body = "".join(
            f'<tr><td style="text-align:left;padding:2px 10px">{_html.escape(r["design_a"])} '
            f'&minus; {_html.escape(r["design_b"])}</td>{td}{100 * r["p_spiral_a"]:.2f}% vs '
            f'{100 * r["p_spiral_b"]:.2f}%</td>{td}{pct(r["diff_p_spiral"])}</td>'
            f'{td}{pct(r["diff_se_paired"]).lstrip("+")}</td>{td}{pct(r["diff_lo"])} to {pct(r["diff_hi"])}</td>'
            f'{td}{_fmt(r["mcnemar_p_value"], 3)}</td></tr>'
            for r in rows
        )
        th = '<th style="text-align:right;padding:2px 10px">'
        head = _html.escape(f"compare: {len(self._runs)} designs x {self.n_paths:,} paths, seed {self.seed}")
        return (
            f'<div style="max-width:60em"><b>{head}</b><table style="border-collapse:collapse"><thead><tr>'
            f'<th style="text-align:left;padding:2px 10px">pair (A &minus; B)</th>{th}P(spiral) A vs B</th>'
            f"{th}difference</th>{th}paired SE</th>{th}95% interval</th>{th}McNemar p</th></tr></thead>"
            f"<tbody>{body}</tbody></table><small>Paired estimates over the same simulated paths "
            "(common random numbers); the interval is difference &plusmn; 1.96 paired SE. Every "
            "column: <code>pyarrow.table(c.table)</code>.</small></div>"
        )

    def __repr__(self) -> str:
        names = ", ".join(r.name for r in self._runs)
        return f"Comparison([{names}], paths={self.n_paths}, seed={self.seed})"


def compare(
    a: Scenario,
    b: Scenario,
    *more: Scenario,
    paths: Optional[int] = None,
    seed: Optional[int] = None,
    backend: str = "auto",
    horizon: Optional[int] = None,
    progress: bool = True,
) -> Comparison:
    """Compares designs as ``tokenrisk compare A B [C ...]`` does, with the CLI's ``--paths``,
    ``--seed``, ``--backend`` and ``--horizon``: every design runs with one seed (``seed``, else
    the first design's) on the same path ids, and every pair is compared path by path.
    Returns the :class:`Comparison` in memory (nothing is written).

    Raises :class:`ScenarioError` for a design with problems, ``ValueError`` for designs that
    cannot be compared (different horizon, step or paths; one name) or a bad argument."""
    designs = (a, b) + more
    for i, d in enumerate(designs):
        _check_scenario(f"design {i + 1}", d)
    return Comparison(
        _native.compare(list(designs), paths=paths, seed=seed, backend=backend, horizon=horizon, progress=progress)
    )


class Sweep:
    """A finished parameter sweep, in memory: ``table`` (sweep.parquet's rows: one per grid
    point, its swept values and its summary figures with SEs), ``runs`` (each point's
    :class:`Run`, in point order), ``points`` (each point's swept values), ``write(dir)``."""

    def __init__(self, native: Any):
        self._native = native
        self._runs = [Run(r) for r in native.runs()]

    @property
    def name(self) -> str:
        return self._native.name

    @property
    def table(self) -> ArrowTable:
        """sweep.parquet's rows as an Arrow table (``pyarrow.table(sw.table)``)."""
        return self._native.table()

    @property
    def runs(self) -> list:
        """Each point's :class:`Run`, in point order (all with one seed, the same paths)."""
        return list(self._runs)

    @property
    def points(self) -> list:
        """Each point's swept values as text, ``"key = value, ..."``, in point order."""
        return list(self._native.point_values())

    def write(self, out: Union[str, "_os.PathLike[str]"]) -> str:
        """Writes ``out/<scenario.name>/`` (``point-NNNN/`` per point and ``sweep.parquet``) as
        ``tokenrisk run`` writes a sweep; returns the folder."""
        return str(self._native.write(_os.fspath(out)))

    def __repr__(self) -> str:
        return f"Sweep({self.name!r}, {len(self._runs)} points)"


def sweep(
    scenario: Scenario,
    grid: Optional[Mapping[str, Sequence[Any]]] = None,
    paths: Optional[int] = None,
    seed: Optional[int] = None,
    backend: str = "auto",
    horizon: Optional[int] = None,
    progress: bool = True,
) -> Sweep:
    """Runs a parameter sweep as ``tokenrisk run`` runs a scenario with a ``[sweep]`` table:
    ``grid`` maps dotted keys to lists of values (``{"market.volatility": [0.6, 0.9, 1.2]}``;
    the Cartesian grid, the first key varying slowest), or ``None`` to run the scenario's own
    ``[sweep]``. Every point runs with the same seed and paths (common random numbers).
    Returns the :class:`Sweep` in memory (nothing is written).

    Raises :class:`ScenarioError` for a point or key with problems, ``ValueError`` for a bad
    argument (a grid and a ``[sweep]`` both, neither)."""
    _check_scenario("scenario", scenario)
    if grid is not None:
        grid = dict(grid)
    return Sweep(
        _native.sweep(scenario, grid, paths=paths, seed=seed, backend=backend, horizon=horizon, progress=progress)
    )
