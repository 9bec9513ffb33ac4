"""Type stubs of the tokenrisk Python package (the engine lives in tokenrisk._native)."""

from os import PathLike
from typing import Any, Iterator, Mapping, Optional, Sequence, Union

__version__: str
MAX_PATHS: int

class ScenarioError(ValueError):
    """A scenario with problems: every one, as ``tokenrisk validate`` lists them."""
    problems: list[Problem]

class Problem:
    """One problem of a scenario file."""
    @property
    def file(self) -> str: ...
    @property
    def line(self) -> Optional[int]: ...
    @property
    def key(self) -> str:
        """Dotted key as validation messages spell it: ``market.volatility``, ``vesting[1].amount``."""
    @property
    def value(self) -> Optional[str]:
        """The offending value as TOML writes it, where there is one."""
    @property
    def allowed(self) -> Optional[str]:
        """What is allowed, where the message says."""
    @property
    def message(self) -> str: ...

class Scenario:
    """A scenario's TOML text and where it came from. Building or editing never validates:
    ``validate()`` lists the problems, ``run()`` raises ``ScenarioError`` with them."""
    @staticmethod
    def preset(name: str) -> Scenario:
        """A bundled preset (``tokenrisk.presets()``); ``ValueError`` for an unknown name."""
    @staticmethod
    def from_file(path: Union[str, PathLike[str]]) -> Scenario:
        """A scenario file; ``ScenarioError`` (key ``(file)``) when it cannot be read."""
    @staticmethod
    def from_toml(text: str, name: str = "<string>") -> Scenario: ...
    @staticmethod
    def from_dict(d: Mapping[str, Any], name: str = "<dict>") -> Scenario:
        """A scenario from nested dicts (as ``tomllib.load`` gives)."""
    def with_(self, **changes: Any) -> Scenario:
        """A new scenario with each dotted key set: ``s.with_(**{"market.volatility": 1.1})``."""
    def set(self, key: str, value: Any) -> Scenario:
        """A new scenario with dotted ``key`` set: ``s.set("burn.fraction", 0.2)``."""
    def to_toml(self) -> str: ...
    def validate(self) -> list[Problem]:
        """Every problem of the scenario; empty when ``run`` would accept it."""
    @property
    def name(self) -> str:
        """``scenario.name`` (``ScenarioError`` when the scenario does not validate)."""
    @property
    def file(self) -> str: ...

class ArrowTable:
    """Record batches of the engine, read in place through ``__arrow_c_stream__``."""
    def __arrow_c_stream__(self, requested_schema: Optional[object] = None) -> object:
        """The Arrow PyCapsule stream. A ``requested_schema`` capsule equal to the table's
        schema is honoured; any other raises ``ValueError`` naming each difference."""
    @property
    def num_rows(self) -> int: ...
    @property
    def column_names(self) -> list[str]: ...
    def __len__(self) -> int: ...

class Summary(Mapping[str, Any]):
    """summary.parquet's row: figures with ``*_se`` and ``*_lo``/``*_hi`` where estimates."""
    def __getitem__(self, key: str) -> Any: ...
    def __iter__(self) -> Iterator[str]: ...
    def __len__(self) -> int: ...
    def estimate(self, name: str) -> dict[str, Any]: ...

class Run:
    """A finished run, in memory."""
    @property
    def name(self) -> str: ...
    @property
    def scenario(self) -> Scenario: ...
    @property
    def engine(self) -> str: ...
    @property
    def device(self) -> str: ...
    @property
    def n_paths(self) -> int: ...
    @property
    def seed(self) -> int: ...
    @property
    def simulate_seconds(self) -> float: ...
    @property
    def summary(self) -> Summary: ...
    @property
    def summary_table(self) -> ArrowTable: ...
    @property
    def timeseries(self) -> ArrowTable: ...
    @property
    def paths(self) -> ArrowTable: ...
    def write(self, out: Union[str, PathLike[str]]) -> str:
        """Writes ``out/<scenario.name>/`` exactly as ``tokenrisk run --out out``; returns it."""
    def report_html(self) -> str:
        """The CLI's report page of this run."""
    def price_fan_svg(self) -> str:
        """The report's "Token price" fan chart of this run, as an SVG element."""
    def _repr_html_(self) -> str:
        """Key figures with SEs and intervals under the report's price fan chart."""

def presets() -> list[str]: ...
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
    """Runs ``scenario`` as ``tokenrisk run`` does; bit-identical results."""

class Comparison:
    """A finished design comparison: ``table`` (comparison.parquet's rows), ``runs``, ``write``."""
    @property
    def table(self) -> ArrowTable: ...
    @property
    def runs(self) -> list[Run]: ...
    @property
    def seed(self) -> int: ...
    @property
    def n_paths(self) -> int: ...
    def write(self, out: Union[str, PathLike[str]]) -> str:
        """Writes each design's folder and ``out/comparison.parquet`` as ``tokenrisk compare``
        (every folder locked and built aside first, all moved into place together)."""
    def _repr_html_(self) -> str: ...

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
    """Compares designs as ``tokenrisk compare A B ...`` does (one seed, the same paths)."""

class Sweep:
    """A finished sweep: ``table`` (sweep.parquet's rows), ``runs`` and ``points`` per point."""
    @property
    def name(self) -> str: ...
    @property
    def table(self) -> ArrowTable: ...
    @property
    def runs(self) -> list[Run]: ...
    @property
    def points(self) -> list[str]: ...
    def write(self, out: Union[str, PathLike[str]]) -> str:
        """Writes ``out/<scenario.name>/`` (``point-NNNN/``, ``sweep.parquet``) as ``tokenrisk run``."""

def sweep(
    scenario: Scenario,
    grid: Optional[Mapping[str, Sequence[Any]]] = None,
    paths: Optional[int] = None,
    seed: Optional[int] = None,
    backend: str = "auto",
    horizon: Optional[int] = None,
    progress: bool = True,
) -> Sweep:
    """A parameter sweep over ``grid`` (dotted key -> values) or the scenario's own ``[sweep]``."""

class Tornado:
    """A finished sensitivity analysis: ``table`` (tornado.parquet's rows), ``rows``,
    ``base`` (the base :class:`Run`), ``skipped``, ``write``."""
    @property
    def name(self) -> str: ...
    @property
    def table(self) -> ArrowTable: ...
    @property
    def rows(self) -> list[dict[str, Any]]:
        """tornado.parquet's rows as dicts plus ``noise`` ("within noise", "no effect" or None)."""
    @property
    def base(self) -> Run: ...
    @property
    def skipped(self) -> list[tuple[str, str]]: ...
    @property
    def relative(self) -> float: ...
    @property
    def absolute(self) -> float: ...
    @property
    def n_paths(self) -> int: ...
    @property
    def seed(self) -> int: ...
    def write(self, out: Union[str, PathLike[str]]) -> str:
        """Writes ``out/<scenario.name>/tornado.parquet`` as ``tokenrisk sensitivity``."""
    def _repr_html_(self) -> str: ...

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
    """One-at-a-time sensitivity as ``tokenrisk sensitivity`` (``keys`` narrows it)."""

class Nightly:
    """A finished night, written to ``dir`` (``OUT/DATE``) as ``tokenrisk nightly`` writes it."""
    @property
    def dir(self) -> str: ...
    @property
    def date(self) -> str: ...
    @property
    def code(self) -> int:
        """0 clear, 3 alerts, 4 failures (the CLI's exit code)."""
    @property
    def status(self) -> str: ...
    @property
    def previous_date(self) -> Optional[str]: ...
    @property
    def results(self) -> list[dict[str, Any]]: ...
    @property
    def headlines(self) -> dict[str, dict[str, Any]]: ...
    @property
    def alerts(self) -> list[dict[str, Any]]: ...
    @property
    def failures(self) -> list[dict[str, Any]]: ...
    @property
    def alerts_json(self) -> dict[str, Any]: ...
    def index_html(self) -> str: ...
    def _repr_html_(self) -> str: ...

def nightly(
    scenarios: Union[str, PathLike[str], Sequence[Scenario]],
    out: Union[str, PathLike[str]],
    date: Optional[str] = None,
    paths: Optional[int] = None,
    seed: Optional[int] = None,
    backend: str = "auto",
    horizon: Optional[int] = None,
    shocks: Union[str, Sequence[str]] = (),
    stress: Union[str, Sequence[str]] = (),
    progress: bool = True,
) -> Nightly:
    """The night of a scenario folder (or Scenarios) as ``tokenrisk nightly`` runs it."""
