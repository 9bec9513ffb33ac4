"""`tokenrisk.nightly` is `tokenrisk nightly`: run on the same scenario folder with the same
arguments it writes the same night folder (the same files; every Parquet table equal column
for column; alerts.json and night.json equal but for the generation time), its exit code is
the CLI's, and what it returns (headlines, alerts, failures) is what the folder says; a list
of Scenario objects runs as the folder of their files; bad dates are refused."""

import json
import shutil
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import tokenrisk
from conftest import REPO
from test_cli_equality import same_columns

DATE = "2026-11-30"
ARGS = dict(paths=300, horizon=200, seed=4, backend="cpu")


def files(root: Path):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def without_times(v):
    if isinstance(v, dict):
        return {k: without_times(x) for k, x in v.items() if k != "generated_at"}
    if isinstance(v, list):
        return [without_times(x) for x in v]
    return v


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("night-scenarios")
    for name in ["death_spiral_stress.toml", "render_bme.toml"]:
        shutil.copy(REPO / "data" / "scenarios" / name, d / name)
    # A file that fails validation: recorded as a failure, the others still run.
    (d / "broken.toml").write_text('[scenario]\nname = "broken"\n[market]\nvolatility = -1.0\n')
    return d


def test_night_equals_the_cli_night(cli_bin, folder, tmp_path):
    cli_out = tmp_path / "cli"
    p = subprocess.run(
        [str(cli_bin), "nightly", str(folder), "--out", str(cli_out), "--date", DATE,
         "--paths", "300", "--horizon", "200", "--seed", "4", "--backend", "cpu", "-q"],
        capture_output=True, text=True, cwd=tmp_path,
    )
    py_out = tmp_path / "py"
    n = tokenrisk.nightly(folder, out=py_out, date=DATE, progress=False, **ARGS)
    assert n.code == p.returncode == 4 and n.status == "failures"
    assert n.dir == str(py_out / DATE) and n.date == DATE
    a, b = cli_out / DATE, py_out / DATE
    assert files(a) == files(b)
    for f in files(a):
        if f.endswith(".parquet"):
            same_columns(pq.read_table(b / f), pq.read_table(a / f))
    for f in ["alerts.json", "night.json"]:
        assert without_times(json.loads((b / f).read_text())) == without_times(json.loads((a / f).read_text())), f
    # What it returns is what the folder says.
    alerts = json.loads((b / "alerts.json").read_text())
    assert n.alerts == alerts["alerts"] and n.failures == alerts["failures"]
    assert [f["file"] for f in n.failures] == ["broken.toml"] and "broken.toml: 6 problems" in n.failures[0]["error"]
    assert [r["file"] for r in n.results] == ["broken.toml", "death_spiral_stress.toml", "render_bme.toml"]
    for name, h in n.headlines.items():
        s = pq.read_table(b / name / "summary.parquet").to_pylist()[0]
        for k in ["p_spiral", "p_spiral_se", "p_spiral_lo", "p_spiral_hi", "var95_return", "final_price_p50"]:
            assert h[k] == s[k], (name, k)
    assert "<table" in n._repr_html_() and "FAILED" in n._repr_html_()
    assert n.index_html() == (b / "index.html").read_text()


def test_a_list_of_scenarios_runs_as_their_folder(folder, tmp_path):
    from_dir = tokenrisk.nightly(folder, out=tmp_path / "a", date=DATE, progress=False, **ARGS)
    listed = [tokenrisk.Scenario.from_file(folder / f) for f in ["render_bme.toml", "death_spiral_stress.toml"]]
    from_list = tokenrisk.nightly(listed, out=tmp_path / "b", date=DATE, progress=False, **ARGS)
    assert [r["file"] for r in from_list.results] == ["death_spiral_stress.toml", "render_bme.toml"]
    assert from_list.headlines == from_dir.headlines
    assert from_list.alerts == from_dir.alerts and from_list.code in (0, 3)
    # A second night compares with the first.
    again = tokenrisk.nightly(listed, out=tmp_path / "b", date="2026-12-01", progress=False, **ARGS)
    assert again.previous_date == DATE
    assert all(r["comparison"]["comparable"] for r in again.results)


def test_bad_date_is_refused(folder, tmp_path):
    with pytest.raises(ValueError, match="2026-13-01"):
        tokenrisk.nightly(folder, out=tmp_path, date="2026-13-01", progress=False)
