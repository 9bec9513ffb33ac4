"""Scenario round trips: presets, files, TOML text and dicts, and dotted-key edits returning
new scenarios (the original untouched, comments kept)."""

import sys

import pytest

import tokenrisk
from conftest import REPO

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = None


def test_presets_listed_and_loaded_verbatim():
    names = tokenrisk.presets()
    assert "bittensor_halving" in names and "render_bme" in names
    s = tokenrisk.Scenario.preset("bittensor_halving")
    assert s.to_toml() == (REPO / "data/scenarios/bittensor_halving.toml").read_text()
    assert s.name == "bittensor-halving"
    assert s.validate() == []


def test_unknown_preset_is_a_value_error_naming_the_presets():
    with pytest.raises(ValueError, match='no bundled preset "nope"; allowed: .*render_bme'):
        tokenrisk.Scenario.preset("nope")


def test_from_file_and_from_toml_round_trip(tmp_path):
    text = tokenrisk.Scenario.preset("render_bme").to_toml()
    f = tmp_path / "s.toml"
    f.write_text(text)
    s = tokenrisk.Scenario.from_file(f)
    assert s.file == str(f)
    assert s.to_toml() == text
    assert tokenrisk.Scenario.from_toml(s.to_toml()) == s


def test_from_file_missing_is_a_scenario_error(tmp_path):
    with pytest.raises(tokenrisk.ScenarioError) as e:
        tokenrisk.Scenario.from_file(tmp_path / "none.toml")
    (p,) = e.value.problems
    assert p.key == "(file)" and p.file.endswith("none.toml") and "cannot read" in p.message


def test_set_and_with_return_new_scenarios_keeping_the_text():
    base = tokenrisk.Scenario.preset("bittensor_halving")
    s = base.set("market.volatility", 1.1)
    assert base.to_toml() == tokenrisk.Scenario.preset("bittensor_halving").to_toml()
    assert s != base
    assert "volatility = 1.1" in s.to_toml()
    # Comments of the other lines are kept: only the edited value changed.
    assert s.to_toml().count("#") == base.to_toml().count("#")
    w = base.with_(**{"market.volatility": 1.1, "scenario.name": "edited"})
    assert w.name == "edited" and "volatility = 1.1" in w.to_toml()
    assert w.validate() == []
    assert base.with_() == base


def test_set_values_of_every_type():
    s = tokenrisk.Scenario.preset("bittensor_halving")
    assert 'name = "x-y"' in s.set("scenario.name", "x-y").to_toml()
    assert "paths = 1234" in s.set("scenario.paths", 1234).to_toml()
    with pytest.raises(ValueError, match="market.volatility: a value of type object"):
        s.set("market.volatility", object())
    with pytest.raises(ValueError, match="cannot set"):
        s.set("market..volatility", 1.0)


@pytest.mark.skipif(tomllib is None, reason="tomllib needs Python 3.11")
def test_from_dict_runs_as_the_text_does():
    base = tokenrisk.Scenario.preset("render_bme")
    d = tomllib.loads(base.to_toml())
    s = tokenrisk.Scenario.from_dict(d)
    assert s.validate() == []
    a = tokenrisk.run(base, paths=2000, seed=3, progress=False)
    b = tokenrisk.run(s, paths=2000, seed=3, progress=False)
    assert dict(a.summary) == dict(b.summary)
