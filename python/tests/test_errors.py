"""Errors as Python exceptions: ScenarioError with each problem's file, line, key, value and
allowed; ValueError for bad arguments; a panic arrives as RuntimeError with context."""

import pytest

import tokenrisk


def base():
    return tokenrisk.Scenario.preset("bittensor_halving")


def test_out_of_range_value_has_every_field():
    s = base().set("market.volatility", -1.5)
    problems = s.validate()
    (p,) = [p for p in problems if p.key == "market.volatility"]
    assert p.file == "preset bittensor_halving.toml"
    assert p.value == "-1.5"
    assert p.allowed and p.allowed in p.message
    lines = s.to_toml().splitlines()
    assert "volatility" in lines[p.line - 1]
    assert "market.volatility" in str(p) and "-1.5" in repr(p)


def test_run_raises_scenario_error_with_the_same_problems():
    s = base().with_(**{"market.volatility": -1.5, "burn.fraction": 7.0})
    with pytest.raises(tokenrisk.ScenarioError) as e:
        tokenrisk.run(s, paths=100, progress=False)
    assert isinstance(e.value, ValueError)
    keys = {p.key for p in e.value.problems}
    assert {"market.volatility", "burn.fraction"} <= keys
    assert [p.key for p in e.value.problems] == [p.key for p in s.validate()]
    assert "2 problems" in str(e.value)


def test_unknown_key_is_a_problem_with_its_line():
    s = base().set("market.volatilty", 1.0)
    (p,) = s.validate()
    assert p.key.endswith("volatilty") and p.line is not None
    assert "unknown key" in p.message and p.allowed


def test_toml_syntax_error():
    s = tokenrisk.Scenario.from_toml("[scenario\nname = 1", name="bad.toml")
    (p,) = s.validate()
    assert p.file == "bad.toml" and p.line == 1
    with pytest.raises(tokenrisk.ScenarioError):
        s.name


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"paths": 0}, r"paths=0 is out of range; allowed: an integer from 1 to"),
        ({"paths": -5}, r"paths=-5 is out of range"),
        ({"paths": "10"}, r"paths='10' is out of range"),
        ({"paths": True}, r"paths=True"),
        ({"seed": -1}, r"seed=-1 is out of range"),
        ({"horizon": 0}, r"horizon=0 is out of range"),
        ({"backend": "tpu"}, r'backend="tpu" is not allowed; allowed: "auto", "cpu", "gpu"'),
        ({"shocks": "price=-0.5"}, r'shock "price=-0.5": missing `@DAY`'),
        ({"shocks": [3]}, r"shocks: allowed: a string or a sequence of strings"),
        ({"stress": "nosuch@10"}, r'stress "nosuch@10": no stress shape `nosuch`; allowed: crash'),
    ],
)
def test_bad_arguments_are_value_errors(kwargs, match):
    with pytest.raises(ValueError, match=match) as e:
        tokenrisk.run(base(), progress=False, **kwargs)
    assert not isinstance(e.value, tokenrisk.ScenarioError)


def test_not_a_scenario():
    with pytest.raises(ValueError, match="is not a Scenario"):
        tokenrisk.run("bittensor_halving")


def test_a_sweep_is_refused():
    s = tokenrisk.Scenario.from_toml(
        base().to_toml() + '\n[sweep]\n"market.volatility" = [0.5, 0.9]\n'
    )
    assert s.validate() == []
    with pytest.raises(ValueError, match=r"has a \[sweep\]"):
        tokenrisk.run(s, paths=100, progress=False)


def test_a_panic_arrives_as_runtime_error_with_context():
    with pytest.raises(RuntimeError, match="internal error in tokenrisk while testing the panic guard: deliberate test panic"):
        tokenrisk._native._panic_for_test()
