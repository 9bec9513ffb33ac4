"""Bit-identical to the CLI: `tokenrisk.run` with the same arguments as `tokenrisk run`
(release binary) gives the same per-path table (every column compared exactly, NaN and nulls
included), the same timeseries and summary, and `Run.write` writes the same folder."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tokenrisk
from conftest import REPO

CASES = [
    # (preset, folder name, CLI flags, run() keyword arguments)
    ("bittensor_halving", "bittensor-halving", ["--paths", "3000", "--seed", "11"], dict(paths=3000, seed=11)),
    ("render_bme", "render-bme", ["--paths", "2500", "--seed", "5"], dict(paths=2500, seed=5)),
    (
        "death_spiral_stress",
        "death-spiral-stress",
        ["--paths", "2000", "--horizon", "730", "--shock", "price=-0.5@100", "--stress", "crash@200"],
        dict(paths=2000, horizon=730, shocks=["price=-0.5@100"], stress="crash@200"),
    ),
]


def same_columns(a: pa.Table, b: pa.Table):
    assert a.column_names == b.column_names
    assert a.num_rows == b.num_rows
    for name in a.column_names:
        ca, cb = a.column(name).combine_chunks(), b.column(name).combine_chunks()
        assert ca.type == cb.type, name
        # Exact: equal values, equal nulls, NaN in the same rows (bitwise for floats).
        if pa.types.is_floating(ca.type):
            assert ca.is_null().equals(cb.is_null()), name
            va = ca.fill_null(0.0).to_numpy(zero_copy_only=False).view("u8")
            vb = cb.fill_null(0.0).to_numpy(zero_copy_only=False).view("u8")
            assert (va == vb).all(), name
        else:
            assert ca.equals(cb), name


@pytest.mark.parametrize("preset, name, flags, kwargs", CASES, ids=[c[0] for c in CASES])
def test_tables_equal_the_cli(cli_run, tmp_path, preset, name, flags, kwargs):
    folder = cli_run(preset, name, *flags)
    r = tokenrisk.run(tokenrisk.Scenario.preset(preset), progress=False, **kwargs)
    same_columns(pa.table(r.paths), pq.read_table(folder / "paths.parquet"))
    same_columns(pa.table(r.timeseries), pq.read_table(folder / "timeseries.parquet"))
    cli_summary = pq.read_table(folder / "summary.parquet")
    same_columns(pa.table(r.summary_table), cli_summary)
    assert dict(r.summary) == cli_summary.to_pylist()[0] or _nan_equal(dict(r.summary), cli_summary.to_pylist()[0])

    # Run.write: the CLI's folder, file for file.
    mine = tmp_path / "py"
    written = r.write(mine)
    assert written == str(mine / name)
    assert sorted(p.name for p in (mine / name).iterdir()) == sorted(p.name for p in folder.iterdir())
    for f in ["paths.parquet", "timeseries.parquet", "summary.parquet"]:
        same_columns(pq.read_table(mine / name / f), pq.read_table(folder / f))
        assert pq.read_metadata(mine / name / f).metadata == pq.read_metadata(folder / f).metadata
        # Byte for byte: the tables' metadata carries no time or machine.
        assert (mine / name / f).read_bytes() == (folder / f).read_bytes(), f
    m_py, m_cli = (json.loads((d / "manifest.json").read_text()) for d in (mine / name, folder))
    for m in (m_py, m_cli):
        del m["started_at"], m["timings"]
    assert m_py == m_cli


def _nan_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        (x == y) or (isinstance(x, float) and isinstance(y, float) and x != x and y != y)
        for x, y in zip(a.values(), b.values())
    )


GOVERNANCE = """
[[governance]]
name = "burn_on"
probability = 0.6
window_days = [30, 200]
set = { "burn.kind" = "revenue_burn", "burn.fraction" = 0.2 }
"""


def test_governance_columns_and_table_equal_the_cli(cli_run, tmp_path):
    """A scenario with a governance change: the `enacted_<name>` column of the paths table, the
    `governance.<name>.*` summary columns and `governance.parquet` flow through `Run` as the CLI
    writes them."""
    base = (REPO / "tests" / "data" / "base_scenario.toml").read_text()
    text = base.replace('name = "gbm"', 'name = "gov_py"', 1) + GOVERNANCE
    scn = tmp_path / "gov.toml"
    scn.write_text(text)
    folder = cli_run(str(scn), "gov_py", "--paths", "2000", "--backend", "cpu")
    r = tokenrisk.run(tokenrisk.Scenario.from_file(scn), paths=2000, backend="cpu", progress=False)
    paths = pa.table(r.paths)
    assert paths.column_names[-1] == "enacted_burn_on"
    assert paths.schema.field("enacted_burn_on").type == pa.uint32()
    same_columns(paths, pq.read_table(folder / "paths.parquet"))
    same_columns(pa.table(r.summary_table), pq.read_table(folder / "summary.parquet"))
    p = r.summary["governance.burn_on.p_enacted"]
    assert p == paths.column("enacted_burn_on").drop_null().length() / 2000
    mine = tmp_path / "py"
    r.write(mine)
    for f in ["governance.parquet", "paths.parquet", "summary.parquet"]:
        assert (mine / "gov_py" / f).read_bytes() == (folder / f).read_bytes(), f
