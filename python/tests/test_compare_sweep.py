"""`tokenrisk.compare` and `tokenrisk.sweep` give the CLI's numbers: the comparison table equals
`tokenrisk compare`'s comparison.parquet bit for bit and `Comparison.write` writes the CLI's
files byte for byte; the sweep table equals `tokenrisk run`'s sweep.parquet for the same grid,
whether the grid comes as a dict or as the file's own [sweep]; and bad grids or designs that
cannot be compared are refused with errors naming the key."""

import subprocess

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tokenrisk
from test_cli_equality import same_columns

GRID = {"market.volatility": [0.6, 0.9, 1.2]}


def cli(cli_bin, cwd, *args):
    subprocess.run([str(cli_bin), *args, "-q"], check=True, capture_output=True, cwd=cwd)


def test_compare_equals_the_cli(cli_bin, tmp_path):
    out = tmp_path / "cli"
    cli(cli_bin, tmp_path, "compare", "compare/halving", "compare/bme", "--paths", "2000", "--out", str(out))
    c = tokenrisk.compare(
        tokenrisk.Scenario.preset("compare/halving"),
        tokenrisk.Scenario.preset("compare/bme"),
        paths=2000,
        progress=False,
    )
    cli_table = pq.read_table(out / "comparison.parquet")
    same_columns(pa.table(c.table), cli_table)
    assert [r.name for r in c.runs] == ["compare-halving", "compare-bme"]
    assert all(r.n_paths == 2000 and r.seed == c.seed for r in c.runs)
    # Each design's run is the CLI's run of that design.
    for r in c.runs:
        same_columns(pa.table(r.paths), pq.read_table(out / r.name / "paths.parquet"))

    mine = tmp_path / "py"
    assert c.write(mine) == str(mine / "comparison.parquet")
    assert sorted(p.name for p in mine.iterdir()) == sorted(p.name for p in out.iterdir())
    assert (mine / "comparison.parquet").read_bytes() == (out / "comparison.parquet").read_bytes()
    for r in c.runs:
        for f in ["paths.parquet", "timeseries.parquet", "summary.parquet"]:
            assert (mine / r.name / f).read_bytes() == (out / r.name / f).read_bytes(), (r.name, f)


def test_compare_write_stages_every_design_under_its_lock_first(tmp_path):
    # As the CLI's compare: every design's folder is locked and built aside before any is
    # moved into place, so one locked folder leaves every other as it was.
    import fcntl

    c = tokenrisk.compare(
        tokenrisk.Scenario.preset("compare/halving"),
        tokenrisk.Scenario.preset("compare/bme"),
        paths=200,
        horizon=100,
        progress=False,
    )
    out = tmp_path / "out"
    c.write(out)
    marker = out / "compare-halving" / "earlier.txt"
    marker.write_text("an earlier folder")
    table = (out / "comparison.parquet").stat().st_mtime_ns
    with open(out / ".compare-bme.lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another writer of compare-bme
        with pytest.raises(RuntimeError, match="compare-bme is being written by another tokenrisk process"):
            c.write(out)
        fcntl.flock(held, fcntl.LOCK_UN)
    assert marker.read_text() == "an earlier folder"  # compare-halving was not replaced
    assert (out / "comparison.parquet").stat().st_mtime_ns == table
    assert not [p for p in out.iterdir() if ".tmp-" in p.name]
    c.write(out)  # unlocked: both folders replaced together
    assert not marker.exists()


def test_compare_refuses_designs_of_different_horizons():
    a = tokenrisk.Scenario.preset("compare/halving")
    b = tokenrisk.Scenario.preset("compare/bme").set("scenario.horizon_days", 100)
    with pytest.raises(ValueError, match="scenario.horizon_days"):
        tokenrisk.compare(a, b, paths=100, progress=False)
    with pytest.raises(ValueError, match="same horizon_days"):
        tokenrisk.compare(a, b, paths=100, progress=False)
    with pytest.raises(ValueError, match="share scenario.name"):
        tokenrisk.compare(a, a, paths=100, progress=False)


def test_sweep_equals_the_cli(cli_bin, tmp_path):
    base = tokenrisk.Scenario.preset("bittensor_halving")
    f = tmp_path / "swept.toml"
    f.write_text(base.to_toml() + '\n[sweep]\n"market.volatility" = [0.6, 0.9, 1.2]\n')
    out = tmp_path / "cli"
    cli(cli_bin, tmp_path, "run", str(f), "--paths", "2000", "--seed", "3", "--out", str(out))
    folder = out / "bittensor-halving"
    cli_table = pq.read_table(folder / "sweep.parquet")

    sw = tokenrisk.sweep(base, GRID, paths=2000, seed=3, progress=False)
    same_columns(pa.table(sw.table), cli_table)
    assert sw.points == [f"market.volatility = {v}" for v in GRID["market.volatility"]]
    assert len(sw.runs) == 3
    # The file's own [sweep] (grid=None) is the same sweep.
    own = tokenrisk.sweep(tokenrisk.Scenario.from_file(f), paths=2000, seed=3, progress=False)
    same_columns(pa.table(own.table), cli_table)

    # Written: the CLI's folder; the file's sweep byte for byte (each point's TOML as run names
    # the file it came from, so the dict's sweep differs there only).
    mine = tmp_path / "py"
    assert own.write(mine) == str(mine / "bittensor-halving")
    names = sorted(p.name for p in (mine / "bittensor-halving").iterdir())
    assert names == sorted(p.name for p in folder.iterdir())
    assert names == ["point-0000", "point-0001", "point-0002", "sweep.parquet"]
    same_columns(pq.read_table(mine / "bittensor-halving" / "sweep.parquet"), cli_table)
    for i, r in enumerate(sw.runs):
        p = f"point-{i:04d}/paths.parquet"
        same_columns(pa.table(r.paths), pq.read_table(folder / p))
        same_columns(pa.table(own.runs[i].paths), pq.read_table(folder / p))
        assert (mine / "bittensor-halving" / p).read_bytes() == (folder / p).read_bytes(), p


def test_sweep_refuses_bad_grids():
    base = tokenrisk.Scenario.preset("bittensor_halving")
    with pytest.raises(tokenrisk.ScenarioError) as e:
        tokenrisk.sweep(base, {"market.volatilty": [0.5]}, paths=10, progress=False)
    assert any("market.volatilty" in p.key or "market.volatilty" in p.message for p in e.value.problems)
    with pytest.raises(tokenrisk.ScenarioError, match="market.volatility"):
        tokenrisk.sweep(base, {"market.volatility": [-1.0]}, paths=10, progress=False)
    with pytest.raises(ValueError, match="no \\[sweep\\] table and no grid"):
        tokenrisk.sweep(base, paths=10, progress=False)
    with pytest.raises(ValueError, match="empty dict"):
        tokenrisk.sweep(base, {}, paths=10, progress=False)
    swept = tokenrisk.Scenario.from_toml(base.to_toml() + '\n[sweep]\n"burn.fraction" = [0.1]\n')
    with pytest.raises(ValueError, match="a grid was given"):
        tokenrisk.sweep(swept, GRID, paths=10, progress=False)
