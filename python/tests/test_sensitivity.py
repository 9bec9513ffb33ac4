"""`tokenrisk.sensitivity` gives the CLI's tornado: the table equals `tokenrisk sensitivity`'s
tornado.parquet column for column (bitwise, `effect_cvar95_se` included) and `Tornado.write`
writes the same file byte for byte; `Tornado.base` is the CLI's base run; `keys` keeps the
full analysis' rows of those parameters; the notebook display marks "within noise" exactly
where the CLI's printed table does; bad steps and keys are refused naming them."""

import re
import subprocess

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tokenrisk
from test_cli_equality import same_columns

PRESET, NAME = "death_spiral_stress", "death-spiral-stress"
FLAGS = ["--paths", "300", "--horizon", "200", "--seed", "9"]
KW = dict(paths=300, horizon=200, seed=9, backend="cpu", progress=False)


@pytest.fixture(scope="module")
def cli_tornado(cli_bin, tmp_path_factory):
    out = tmp_path_factory.mktemp("sens-cli")
    p = subprocess.run(
        [str(cli_bin), "sensitivity", PRESET, *FLAGS, "--backend", "cpu", "--top", "1000", "--out", str(out), "-q"],
        check=True,
        capture_output=True,
        text=True,
        cwd=out,
    )
    return out, p.stdout


@pytest.fixture(scope="module")
def tornado():
    return tokenrisk.sensitivity(tokenrisk.Scenario.preset(PRESET), **KW)


def test_table_equals_the_cli_tornado(cli_tornado, tornado, tmp_path):
    out, _ = cli_tornado
    cli_table = pq.read_table(out / NAME / "tornado.parquet")
    assert "effect_cvar95_se" in cli_table.column_names
    same_columns(pa.table(tornado.table), cli_table)
    assert [r["parameter"] for r in tornado.rows] == cli_table.column("parameter").to_pylist()
    # write(): the CLI's folder and file, byte for byte (its metadata holds no times).
    path = tornado.write(tmp_path)
    assert path == str(tmp_path / NAME / "tornado.parquet")
    assert sorted(p.name for p in (tmp_path / NAME).iterdir()) == ["tornado.parquet"]
    assert (tmp_path / NAME / "tornado.parquet").read_bytes() == (out / NAME / "tornado.parquet").read_bytes()


def test_base_is_the_cli_run_of_the_base_scenario(cli_run, tornado):
    folder = cli_run(PRESET, NAME, *FLAGS, "--backend", "cpu")
    base = tornado.base
    assert isinstance(base, tokenrisk.Run) and base.n_paths == 300
    same_columns(pa.table(base.paths), pq.read_table(folder / "paths.parquet"))
    assert tornado.rows[0]["p_spiral_base"] == base.summary["p_spiral"]


def test_keys_keep_the_full_rows_of_those_parameters(tornado):
    full = {r["parameter"]: r for r in tornado.rows}
    keys = ["market.volatility", "token.staked_fraction"]
    t = tokenrisk.sensitivity(tokenrisk.Scenario.preset(PRESET), keys=keys, **KW)
    assert sorted(r["parameter"] for r in t.rows) == sorted(keys)
    for r in t.rows:
        for col, v in r.items():
            if col not in ("rank", "rank_cvar95"):
                assert v == full[r["parameter"]][col], (r["parameter"], col)
    assert sorted(r["rank"] for r in t.rows) == [1, 2]


def test_repr_marks_within_noise_as_the_cli_prints(cli_tornado, tornado):
    _, stdout = cli_tornado
    # The CLI's table rows: "  RANK  PARAMETER ... [within noise] ...".
    cli_noise = {}
    for line in stdout.splitlines():
        m = re.match(r"\s+(\d+)\s+(\S+)\s", line)
        if m and "pp" in line:
            cli_noise[m.group(2)] = next((w for w in ("within noise", "no effect") if w in line), None)
    assert len(cli_noise) == len(tornado.rows)
    assert "within noise" in cli_noise.values() and None in cli_noise.values()
    html = tornado._repr_html_()
    rows = html.split("<tbody>")[1].split("</tbody>")[0].split("</tr>")[:-1]
    assert len(rows) == len(tornado.rows)
    for r, row in zip(tornado.rows, rows):
        assert f"<code>{r['parameter']}</code>" in row
        note = cli_noise[r["parameter"]]
        assert r["noise"] == note, r["parameter"]
        assert ("within noise" in row) == (note == "within noise"), r["parameter"]
        assert ("no effect" in row) == (note == "no effect"), r["parameter"]
        # Greyed: an effect not told apart from 0 (or exactly 0) must not read like one that is.
        cells = row.split("<td")
        d, se = r["effect_p_spiral"], r["effect_p_spiral_se"]
        p_cell = next(c for c in cells if f"SE {100 * se:.2f} pp" in c)
        assert ("color:#8a93a3" in p_cell) == (note is not None), r["parameter"]
        assert f"{100 * (d - 1.96 * se):+.2f} to {100 * (d + 1.96 * se):+.2f} pp; SE" in p_cell
        cv, cse = r["effect_cvar95"], r["effect_cvar95_se"]
        c_cell = next(c for c in cells if f"SE {cse:.3f}<" in c)
        assert ("color:#8a93a3" in c_cell) == (abs(cv) < 1.96 * cse or cv == cse == 0), r["parameter"]
    assert "1.96 paired SE" in html


def test_bad_arguments_are_refused_naming_them():
    s = tokenrisk.Scenario.preset(PRESET)
    with pytest.raises(ValueError, match=r"relative=1.5 is out of range; allowed: strictly between 0 and 1"):
        tokenrisk.sensitivity(s, relative=1.5, **KW)
    with pytest.raises(ValueError, match=r"absolute=0.9 is out of range"):
        tokenrisk.sensitivity(s, absolute=0.9, **KW)
    with pytest.raises(ValueError, match=r'keys: "market.volatilty" is not a parameter .* allowed: .*market.volatility'):
        tokenrisk.sensitivity(s, keys=["market.volatilty"], **KW)
    with pytest.raises(tokenrisk.ScenarioError):
        tokenrisk.sensitivity(s.set("market.volatility", -1.0), **KW)
