"""Progress: a tqdm bar (`tqdm.auto`, the widget in notebooks) when tqdm can be imported, the
plain line on stderr when it cannot, nothing with progress=False; the bar is closed after the
run and marked on Ctrl-C. The tqdm module is replaced by a recording stand-in (or made
unimportable) with monkeypatch, so both paths are tested whatever is installed; the real
tqdm is exercised too."""

import _thread
import signal
import sys
import threading
import types

import pytest

import tokenrisk

S = tokenrisk.Scenario.preset("render_bme")


class FakeBar:
    made = []

    def __init__(self, total=None, desc="", **kw):
        self.total, self.n, self.desc, self.closed, self.postfix, self.updates = total, 0, desc, False, "", []
        FakeBar.made.append(self)

    def reset(self, total=None):
        self.total, self.n = total, 0

    def update(self, k):
        self.n += k
        self.updates.append(self.n)

    def set_description(self, d, refresh=True):
        self.desc = d

    def set_postfix_str(self, s, refresh=True):
        self.postfix = s

    def close(self):
        self.closed = True


@pytest.fixture
def fake_tqdm(monkeypatch):
    FakeBar.made = []
    auto = types.ModuleType("tqdm.auto")
    auto.tqdm = FakeBar
    monkeypatch.setitem(sys.modules, "tqdm.auto", auto)
    return FakeBar


@pytest.fixture
def no_tqdm(monkeypatch):
    # None in sys.modules makes `import tqdm.auto` raise ImportError.
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)


def test_tqdm_bar_when_tqdm_is_importable(fake_tqdm, capfd):
    tokenrisk.run(S, paths=1000, backend="cpu", progress=True)
    assert len(fake_tqdm.made) == 1
    bar = fake_tqdm.made[0]
    assert bar.desc == "render-bme" and bar.total == 1000 and bar.n == 1000 and bar.closed
    assert bar.updates == sorted(bar.updates)
    out, err = capfd.readouterr()
    assert "paths (" not in err  # no plain line beside the bar


def test_plain_line_when_tqdm_is_missing(no_tqdm, capsys):
    tokenrisk.run(S, paths=1000, progress=True)
    err = capsys.readouterr().err
    assert "render-bme: 1000 of 1000 paths (100%)" in err and err.endswith("\n")


def test_progress_false_draws_neither(fake_tqdm, capfd):
    tokenrisk.run(S, paths=1000, backend="cpu", progress=False)
    assert fake_tqdm.made == []
    assert capfd.readouterr().err == ""


def test_every_command_reports_through_the_bar(fake_tqdm, tmp_path):
    a, b = tokenrisk.Scenario.preset("compare/halving"), tokenrisk.Scenario.preset("compare/bme")
    tokenrisk.compare(a, b, paths=300, horizon=100, backend="cpu")
    tokenrisk.sweep(S, {"market.volatility": [0.6, 0.9]}, paths=300, horizon=100, backend="cpu")
    tokenrisk.sensitivity(S, paths=300, horizon=100, keys=["market.volatility"], backend="cpu")
    # Each bar says which step of how many it is at: the last one reached is the last step.
    assert [b.desc for b in fake_tqdm.made] == ["compare [2 of 2]", "render-bme [2 of 2]", "render-bme [2 of 2]"]
    assert all(b.closed and b.n == b.total == 300 for b in fake_tqdm.made)


def test_plain_line_counts_the_steps(no_tqdm, capsys):
    tokenrisk.sweep(S, {"market.volatility": [0.6, 0.9, 1.2]}, paths=300, horizon=100, backend="cpu")
    err = capsys.readouterr().err
    assert "render-bme: 300 of 300 paths (100%) [3 of 3]" in err


def test_ctrl_c_closes_the_bar_marked_interrupted(fake_tqdm):
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.5, _thread.interrupt_main)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            tokenrisk.run(tokenrisk.Scenario.preset("bittensor_halving"), paths=2_000_000, progress=True)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    bar = fake_tqdm.made[0]
    assert bar.closed and "interrupted" in bar.postfix and bar.n < 2_000_000


def test_real_tqdm_draws_a_bar(capfd):
    pytest.importorskip("tqdm")
    tokenrisk.run(S, paths=1000, backend="cpu", progress=True)
    err = capfd.readouterr().err
    assert "render-bme" in err and "1.00k/1.00k" in err and "paths/s" in err
