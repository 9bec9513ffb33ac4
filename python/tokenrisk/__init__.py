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
    t = tokenrisk.sensitivity(s, paths=2_000, keys=["market.volatility"])
    pyarrow.table(t.table)                          # tornado.parquet's rows
    n = tokenrisk.nightly("scenarios/", out="reports", date="2026-12-01")
    n.dir, n.status, n.alerts                       # the night's folder, as `tokenrisk nightly`

Results are bit-identical to ``tokenrisk run`` / ``compare`` / ``sensitivity`` / ``nightly``
with the same arguments. Progress shows as a tqdm bar when tqdm is installed (``tqdm.auto``:
the widget in notebooks), as a plain line on stderr otherwise; ``progress=False`` turns it off.
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
    "Nightly",
    "Problem",
    "Run",
    "Scenario",
    "ScenarioError",
    "Summary",
    "Sweep",
    "Tornado",
    "compare",
    "nightly",
    "presets",
    "run",
    "sensitivity",
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


class _Line:
    """The plain progress line on stderr: ``label: done of total paths (pct%)``, and for a
    command of several steps (designs, points, parameters, scenario files) ``[k of n]``."""

    def __init__(self, label: str):
        self.label = label
        self.drawn = False

    def __call__(self, done: int, total: int, finished: int = 0, units: int = 1) -> None:
        import sys

        pct = 100.0 * done / total if total else 0.0
        step = f" [{min(finished + 1, units)} of {units}]" if units > 1 else ""
        sys.stderr.write(f"\r{self.label}: {done} of {total} paths ({pct:.0f}%){step}")
        sys.stderr.flush()
        self.drawn = True

    def close(self, interrupted: bool = False) -> None:
        import sys

        if self.drawn:
            sys.stderr.write("\n")
        if interrupted:
            sys.stderr.write(f"{self.label}: interrupted; nothing was written\n")
        sys.stderr.flush()


class _Bar:
    """A tqdm bar (``tqdm.auto``: the notebook widget where ipywidgets is installed) over the
    current run's paths; a command of several steps (a comparison's designs, a sweep's points,
    a sensitivity's parameters, a night's files) restarts it for each and says which of how
    many in its label."""

    def __init__(self, label: str, tqdm: Any):
        self.label = label
        self.step = None
        self.bar = tqdm(total=None, desc=label, unit="paths", unit_scale=True, leave=True, dynamic_ncols=True)

    def __call__(self, done: int, total: int, finished: int = 0, units: int = 1) -> None:
        step = min(finished + 1, units)
        if self.bar.total != total or done < self.bar.n or step != self.step:
            if step != self.step and units > 1:
                self.bar.set_description(f"{self.label} [{step} of {units}]", refresh=False)
            self.step = step
            self.bar.reset(total=total)
        self.bar.update(done - self.bar.n)

    def close(self, interrupted: bool = False) -> None:
        if interrupted:
            self.bar.set_postfix_str("interrupted; nothing was written", refresh=False)
        self.bar.close()


def _progress(label: str, show: bool) -> Any:
    """The progress reporter for ``progress=show``: None (off), a tqdm bar when ``tqdm`` can be
    imported, else the plain line. The engine calls it as ``reporter(done, total, finished,
    units)``: the current run's paths, and the steps of the command finished of all."""
    if not show:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _Line(label)
    return _Bar(label, tqdm)


def _with_progress(label: str, show: bool, call: Any) -> Any:
    """``call(reporter)`` with the reporter closed after (marked on a Ctrl-C)."""
    reporter = _progress(label, show)
    try:
        result = call(reporter)
    except KeyboardInterrupt:
        if reporter is not None:
            reporter.close(interrupted=True)
        raise
    except BaseException:
        if reporter is not None:
            reporter.close()
        raise
    if reporter is not None:
        reporter.close()
    return result


def _label(scenario: Any) -> str:
    try:
        return scenario.name
    except Exception:  # an invalid scenario: the run raises its ScenarioError
        return "tokenrisk"


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
            f'<div class="tokenrisk-run" style="max-width:760px"><b>{head}</b>'
            f'<div class="tokenrisk-chart" style="max-width:720px;margin:6px 0"><style>{_native.CHART_CSS}</style>'
            f"{self.price_fan_svg()}</div>"
            '<table style="border-collapse:collapse"><thead><tr>'
            f'<th style="text-align:left;padding:2px 10px">figure</th>{th}estimate</th>{th}SE</th>'
            f"{th}95% interval</th></tr></thead><tbody>{body}</tbody></table>"
            "<small>The chart is the report's price fan (p05&ndash;p95 and p25&ndash;p75 bands of "
            "the paths at each report day, median solid, mean dashed; read from the timeseries' "
            "histograms, 0.5% relative). Figures are Monte Carlo estimates from the simulated "
            "paths. Quantiles (VaR, medians) are "
            "exact order statistics of the paths, their intervals exact order-statistic intervals; "
            "P(spiral)'s interval is Wilson's. Every column: <code>run.summary</code>.</small></div>"
        )

    def price_fan_svg(self) -> str:
        """The report's "Token price" fan chart of this run as an SVG element (the same chart
        code as ``tokenrisk report``; styled by ``tokenrisk._native.CHART_CSS`` under a
        ``.tokenrisk-chart`` element)."""
        return _native.price_fan_svg(self._native)

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
    shows a tqdm bar (when tqdm is installed) or a plain line on stderr; ``False`` turns it off.

    >>> r = tokenrisk.run(tokenrisk.Scenario.preset("render_bme"), paths=1_000, seed=1, progress=False)
    >>> 0.0 <= r.summary["p_spiral"] <= 1.0
    True

    Raises :class:`ScenarioError` for a scenario with problems, ``ValueError`` for a bad
    argument, ``RuntimeError`` for an engine failure (no GPU for ``backend="gpu"``, memory).
    """
    if not isinstance(scenario, Scenario):
        raise ValueError(
            f"scenario: {type(scenario).__name__} is not a Scenario; allowed: "
            "tokenrisk.Scenario.preset(...), .from_file(...), .from_toml(...), .from_dict(...)"
        )
    native = _with_progress(
        _label(scenario),
        progress,
        lambda p: _native.run(
            scenario,
            paths=paths,
            seed=seed,
            backend=backend,
            horizon=horizon,
            shocks=shocks,
            stress=stress,
            progress=p,
        ),
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
        ``tokenrisk compare ... --out out`` does: every design's folder is locked and built
        aside first, and all are moved into place together, so a failure (a folder locked by
        another writer) leaves every folder as it was; returns the table's path."""
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

    >>> c = tokenrisk.compare(tokenrisk.Scenario.preset("compare/halving"),
    ...                       tokenrisk.Scenario.preset("compare/bme"), paths=500, horizon=200, progress=False)
    >>> [r.name for r in c.runs]
    ['compare-halving', 'compare-bme']

    Raises :class:`ScenarioError` for a design with problems, ``ValueError`` for designs that
    cannot be compared (different horizon, step or paths; one name) or a bad argument."""
    designs = (a, b) + more
    for i, d in enumerate(designs):
        _check_scenario(f"design {i + 1}", d)
    return Comparison(
        _with_progress(
            "compare",
            progress,
            lambda p: _native.compare(
                list(designs), paths=paths, seed=seed, backend=backend, horizon=horizon, progress=p
            ),
        )
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

    >>> sw = tokenrisk.sweep(tokenrisk.Scenario.preset("render_bme"), {"market.volatility": [0.6, 1.2]},
    ...                      paths=500, horizon=200, progress=False)
    >>> sw.points
    ['market.volatility = 0.6', 'market.volatility = 1.2']

    Raises :class:`ScenarioError` for a point or key with problems, ``ValueError`` for a bad
    argument (a grid and a ``[sweep]`` both, neither)."""
    _check_scenario("scenario", scenario)
    if grid is not None:
        grid = dict(grid)
    return Sweep(
        _with_progress(
            _label(scenario),
            progress,
            lambda p: _native.sweep(
                scenario, grid, paths=paths, seed=seed, backend=backend, horizon=horizon, progress=p
            ),
        )
    )


def _value(x: float) -> str:
    """A parameter value as the CLI prints it: whole numbers with thousands separators, the
    rest in their shortest round-trip digits."""
    if x != x or x in (float("inf"), float("-inf")):
        return str(x)
    if float(x).is_integer() and abs(x) < 1e15:
        return f"{x:,.0f}"
    return repr(float(x))


class Tornado:
    """A finished one-at-a-time sensitivity analysis, in memory (``tokenrisk sensitivity``):
    ``table`` (tornado.parquet's rows in rank order: each parameter's low and high values,
    P(spiral) and the 95% CVaR of the log-return at both, their effects with paired SEs
    ``effect_p_spiral_se`` and ``effect_cvar95_se``, and the ranks), ``rows`` (the same as
    dicts, plus ``noise``: "within noise" where the P(spiral) effect is within 1.96 paired SE
    of 0), ``base`` (the base scenario's :class:`Run`), ``skipped`` and ``write(dir)``."""

    def __init__(self, native: Any):
        self._native = native
        self._base = Run(native.base())

    @property
    def name(self) -> str:
        return self._native.name

    @property
    def table(self) -> ArrowTable:
        """tornado.parquet's rows as an Arrow table (``pyarrow.table(t.table)``)."""
        return self._native.table()

    @property
    def rows(self) -> list:
        """The rows in rank order as dicts (tornado.parquet's columns plus ``noise``)."""
        return self._native.rows()

    @property
    def base(self) -> Run:
        """The base scenario's run (every variant ran with its seed and path ids)."""
        return self._base

    @property
    def skipped(self) -> list:
        """Parameters left out, as ``(parameter, reason)`` (inert for the scenario's kinds,
        zero values, variants that fail validation)."""
        return self._native.skips()

    @property
    def relative(self) -> float:
        return self._native.relative

    @property
    def absolute(self) -> float:
        return self._native.absolute

    @property
    def n_paths(self) -> int:
        return self._native.n_paths

    @property
    def seed(self) -> int:
        return self._native.seed

    def write(self, out: Union[str, "_os.PathLike[str]"]) -> str:
        """Writes ``out/<scenario.name>/tornado.parquet`` exactly as ``tokenrisk sensitivity
        --out out`` does (atomically, under the folder's lock); returns its path."""
        return str(self._native.write(_os.fspath(out)))

    def _repr_html_(self) -> str:
        def pp(x):
            return f"{100 * x:+.2f} pp"

        def c3(x):
            return f"{x:+.3f}".replace("-0.000", "+0.000")

        grey = "color:#8a93a3"

        def cell(main, sub, muted):
            # The effect, and under it its interval and paired SE (small), greyed when muted.
            style = f"text-align:right;padding:2px 8px;white-space:nowrap;{grey if muted else ''}"
            return f'<td style="{style}">{main}<br><small>{sub}</small></td>'

        td = '<td style="text-align:right;padding:2px 8px;white-space:nowrap">'
        body = []
        for r in self.rows:
            d, se = r["effect_p_spiral"], r["effect_p_spiral_se"]
            cv, cse = r["effect_cvar95"], r["effect_cvar95_se"]
            # P(spiral): the CLI's note ("within noise" / "no effect"); the CVaR effect is greyed
            # by the same rule (its interval holds 0), which the CLI leaves unmarked.
            noisy = r["noise"] is not None
            cvar_noisy = not abs(cv) >= 1.96 * cse if cse > 0 else cv == 0
            note = f'<br><small style="{grey}">{_html.escape(r["noise"])}</small>' if noisy else ""
            body.append(
                f"<tr>{td}{r['rank']}</td>"
                f'<td style="text-align:left;padding:2px 8px"><code>{_html.escape(r["parameter"])}</code>{note}</td>'
                f"{td}{_value(r['low_value'])} &rarr; {_value(r['high_value'])}</td>"
                + cell(pp(d), f"{100 * (d - 1.96 * se):+.2f} to {pp(d + 1.96 * se)}; SE {100 * se:.2f} pp", noisy)
                + cell(c3(cv), f"{c3(cv - 1.96 * cse)} to {c3(cv + 1.96 * cse)}; SE {cse:.3f}", cvar_noisy)
                + f"{td}{r['rank_cvar95']}</td></tr>"
            )
        th = '<th style="text-align:right;padding:2px 8px">'
        b = self.base.summary
        head = _html.escape(
            f"{self.name}: sensitivity of {len(self.rows)} parameters, {self.n_paths:,} paths each, "
            f"seed {self.seed} (common random numbers; relative step {self.relative}, absolute step "
            f"{self.absolute}). Base: P(spiral) {100 * b['p_spiral']:.2f}% (SE {100 * b['p_spiral_se']:.2f} pp)"
        )
        skipped = ""
        if self.skipped:
            items = "".join(
                f"<li><code>{_html.escape(k)}</code>: {_html.escape(why)}</li>" for k, why in self.skipped
            )
            skipped = f"<details><summary>skipped ({len(self.skipped)})</summary><ul>{items}</ul></details>"
        noise = ""
        if any(r["noise"] for r in self.rows):
            noise = (
                " <i>within noise</i>: |dP(spiral)| &lt; 1.96 paired SE (its interval holds 0), not "
                "told apart from 0 at this path count; such effects (P(spiral) or CVaR) are grey."
            )
        return (
            f'<div style="max-width:64em"><b>{head}</b><div style="overflow-x:auto">'
            '<table style="border-collapse:collapse"><thead><tr>'
            f'{th}rank</th><th style="text-align:left;padding:2px 8px">parameter</th>{th}low &rarr; high</th>'
            f"{th}dP(spiral)<br><small>95% CI; paired SE</small></th>"
            f"{th}dCVaR95 (log-return)<br><small>95% CI; paired SE</small></th>{th}CVaR rank</th></tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table></div>"
            "<small>Effects are high minus low: P(spiral) by the horizon in percentage points, and "
            "the 95% CVaR of the horizon log-return (a loss); intervals are effect &plusmn; 1.96 "
            "paired SE over the same paths." + noise + " Every column: "
            "<code>pyarrow.table(t.table)</code>.</small>" + skipped + "</div>"
        )

    def __repr__(self) -> str:
        top = self.rows[0]["parameter"] if self.rows else "none"
        return f"Tornado({self.name!r}, {len(self.rows)} parameters, paths={self.n_paths}, top={top!r})"


def sensitivity(
    scenario: Scenario,
    paths: Optional[int] = None,
    seed: Optional[int] = None,
    relative: float = 0.10,
    absolute: float = 0.05,
    keys: Optional[Sequence[str]] = None,
    backend: str = "auto",
    horizon: Optional[int] = None,
    shocks: Union[str, Sequence[str]] = (),
    stress: Union[str, Sequence[str]] = (),
    progress: bool = True,
) -> Tornado:
    """One-at-a-time sensitivity as ``tokenrisk sensitivity`` runs it, with the CLI's
    ``--paths`` (default min(scenario.paths, 20,000)), ``--seed``, ``--relative``,
    ``--absolute``, ``--backend``, ``--horizon``, ``--shock`` and ``--stress``: every numeric
    parameter moved down and up (magnitudes by 1 -/+ ``relative``, fractions by -/+
    ``absolute``), each variant run with the base seed and path ids. ``keys`` (dotted keys)
    limits it to those parameters, ranked among themselves. Returns the :class:`Tornado` in
    memory (nothing is written).

    >>> s = tokenrisk.Scenario.preset("render_bme")
    >>> t = tokenrisk.sensitivity(s, paths=500, keys=["market.volatility"], progress=False)
    >>> [r["parameter"] for r in t.rows]
    ['market.volatility']

    Raises :class:`ScenarioError` for a scenario with problems, ``ValueError`` for a bad
    argument (a step out of range, a key the analysis does not perturb, a ``[sweep]``)."""
    _check_scenario("scenario", scenario)
    if isinstance(keys, str):
        keys = [keys]
    return Tornado(
        _with_progress(
            _label(scenario),
            progress,
            lambda p: _native.sensitivity(
                scenario,
                paths=paths,
                seed=seed,
                relative=relative,
                absolute=absolute,
                keys=None if keys is None else list(keys),
                backend=backend,
                horizon=horizon,
                shocks=shocks,
                stress=stress,
                progress=p,
            ),
        )
    )


class Nightly:
    """A finished night (``tokenrisk nightly``), written to ``dir`` (``REPORTS/DATE/``: each
    scenario's folder with its report page, ``index.html``, ``alerts.json``, ``night.json``):
    ``results`` (each scenario file's outcome: ``headline`` figures with their SE and
    interval, ``checks``, ``error``, ``notes``, ``comparison`` with the previous night),
    ``headlines``, ``alerts`` (breached checks), ``failures``, ``code`` (the CLI's exit code:
    0 clear, 3 alerts, 4 failures) and ``status``."""

    def __init__(self, native: Any):
        import json

        self._native = native
        self._json = json.loads(native.alerts_json())
        self._results = native.results()

    @property
    def dir(self) -> str:
        """The night's folder, ``REPORTS/DATE``."""
        return str(self._native.dir)

    @property
    def date(self) -> str:
        return self._native.date

    @property
    def code(self) -> int:
        """The CLI's exit code: 0 all clear, 3 alerts breached, 4 scenarios failed."""
        return self._native.code

    @property
    def status(self) -> str:
        """"clear", "alerts" or "failures"."""
        return self._native.status

    @property
    def previous_date(self) -> Optional[str]:
        """The night compared with, if any."""
        return self._native.previous_date

    @property
    def results(self) -> list:
        """Each scenario file's result (dicts), in file-name order."""
        return list(self._results)

    @property
    def headlines(self) -> dict:
        """``scenario.name`` -> headline figures (P(spiral) with SE and Wilson interval, VaR95,
        CVaR95, median E/R, median final price), for the scenarios that ran."""
        return {r["scenario"]: r["headline"] for r in self._results if r["headline"] is not None}

    @property
    def alerts(self) -> list:
        """The breached checks (alerts.json's ``alerts``)."""
        return list(self._json["alerts"])

    @property
    def failures(self) -> list:
        """The scenarios that failed, with their errors (alerts.json's ``failures``)."""
        return list(self._json["failures"])

    @property
    def alerts_json(self) -> dict:
        """alerts.json's object (as written, but for ``generated_at``, which is the same)."""
        return dict(self._json)

    def index_html(self) -> str:
        """The night's page, ``index.html``."""
        with open(_os.path.join(self.dir, "index.html"), encoding="utf-8") as f:
            return f.read()

    def _repr_html_(self) -> str:
        td = '<td style="text-align:right;padding:2px 10px;white-space:nowrap">'
        rows = []
        for r in self._results:
            title = _html.escape(r["scenario"] or r["file"])
            h = r["headline"]
            if h is None:
                rows.append(
                    f'<tr><td style="padding:2px 10px">{title}</td><td colspan="4" style="color:#c23b3b;padding:2px 10px">'
                    f"FAILED: {_html.escape(r['error'] or '')}</td></tr>"
                )
                continue
            breached = [c["message"] for c in r["checks"] if c["breached"]]
            rows.append(
                f'<tr><td style="padding:2px 10px">{title}</td>'
                f"{td}{100 * h['p_spiral']:.2f}% ({100 * h['p_spiral_lo']:.2f}% to {100 * h['p_spiral_hi']:.2f}%)</td>"
                f"{td}{h['var95_return']:.3f}</td>{td}{h['final_price_p50']:.4g}</td>"
                f'<td style="padding:2px 10px;color:{"#c23b3b" if breached else "#2e9a5b"}">'
                f"{_html.escape('; '.join(breached) if breached else 'ok')}</td></tr>"
            )
        th = '<th style="text-align:right;padding:2px 10px">'
        head = _html.escape(
            f"nightly {self.date}: {len(self._results)} scenarios, status {self.status} (exit {self.code})"
            + (f", compared with {self.previous_date}" if self.previous_date else "")
            + f"; written to {self.dir}"
        )
        return (
            f'<div style="max-width:70em"><b>{head}</b><table style="border-collapse:collapse"><thead><tr>'
            f'<th style="text-align:left;padding:2px 10px">scenario</th>{th}P(spiral) (95% CI)</th>'
            f"{th}VaR95 log-return</th>{th}median final price</th>"
            '<th style="text-align:left;padding:2px 10px">alerts</th></tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table><small>P(spiral)'s interval is Wilson's; "
            "the VaR and median are exact order statistics (intervals in <code>n.headlines</code> "
            "and each scenario's <code>summary.parquet</code>). The night's page: "
            "<code>n.index_html()</code>.</small></div>"
        )

    def __repr__(self) -> str:
        return f"Nightly({self.date!r}, {len(self._results)} scenarios, status={self.status!r}, dir={self.dir!r})"


def _scenario_folder(scenarios: Sequence[Scenario], folder: str) -> None:
    """Writes each scenario's text into ``folder`` as ``NAME.toml`` (its file's name where it
    came from one), the folder ``tokenrisk nightly`` reads."""
    used: set = set()
    for i, s in enumerate(scenarios):
        _check_scenario(f"scenarios[{i}]", s)
        base = _os.path.basename(s.file.removeprefix("preset ") if s.file.startswith("preset ") else s.file)
        if not base.endswith(".toml"):
            try:
                base = f"{s.name}.toml"
            except Exception:  # an invalid scenario: the night records its failure
                base = f"scenario-{i + 1}.toml"
        stem, n = base[: -len(".toml")], 2
        while base in used:
            base, n = f"{stem}-{n}.toml", n + 1
        used.add(base)
        with open(_os.path.join(folder, base), "w", encoding="utf-8") as f:
            f.write(s.to_toml())


def nightly(
    scenarios: Union[str, "_os.PathLike[str]", Sequence[Scenario]],
    out: Union[str, "_os.PathLike[str]"],
    date: Optional[str] = None,
    paths: Optional[int] = None,
    seed: Optional[int] = None,
    backend: str = "auto",
    horizon: Optional[int] = None,
    shocks: Union[str, Sequence[str]] = (),
    stress: Union[str, Sequence[str]] = (),
    progress: bool = True,
) -> Nightly:
    """The night as ``tokenrisk nightly SCENARIO_DIR --out OUT [--date DATE]`` runs it, with
    the CLI's ``--paths``, ``--seed``, ``--backend``, ``--horizon``, ``--shock`` and
    ``--stress``: every ``*.toml`` of the folder ``scenarios`` (or each given
    :class:`Scenario`, written first into a temporary folder as ``NAME.toml``) run into
    ``OUT/DATE/`` with its report page, alerts checked, compared with the previous night,
    and the night's ``index.html``, ``alerts.json`` and ``night.json`` written (the folder
    appears whole, replacing an earlier run of the date). ``date`` is ``YYYY-MM-DD``
    (default: today, UTC). Unlike :func:`run`, this writes: the folder is the night.

    >>> import tempfile
    >>> out = tempfile.mkdtemp()
    >>> n = tokenrisk.nightly([tokenrisk.Scenario.preset("render_bme")], out=out, date="2026-12-01",
    ...                       paths=500, horizon=200, progress=False)
    >>> n.dir == out + "/2026-12-01", sorted(n.headlines)
    (True, ['render-bme'])

    A scenario that fails is recorded (``failures``, ``code`` 4) and the others still run.
    Raises ``ValueError`` for a bad argument (a date, a folder without scenarios)."""
    import tempfile

    def go(folder: str) -> Nightly:
        return Nightly(
            _with_progress(
                "nightly",
                progress,
                lambda p: _native.nightly(
                    folder,
                    _os.fspath(out),
                    date=date,
                    paths=paths,
                    seed=seed,
                    backend=backend,
                    horizon=horizon,
                    shocks=shocks,
                    stress=stress,
                    progress=p,
                ),
            )
        )

    if isinstance(scenarios, (str, _os.PathLike)):
        return go(_os.fspath(scenarios))
    scenarios = list(scenarios)
    if not scenarios:
        raise ValueError("scenarios: an empty list; allowed: a scenario folder or one or more Scenario objects")
    with tempfile.TemporaryDirectory(prefix="tokenrisk-night-") as d:
        _scenario_folder(scenarios, d)
        return go(d)
