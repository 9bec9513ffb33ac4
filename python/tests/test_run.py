"""Runs: progress on and off, Ctrl-C stopping a long run as KeyboardInterrupt, the report and
the notebook display, the scenario as run."""

import _thread
import threading

import pytest

import tokenrisk


def test_progress_can_be_turned_off(capfd):
    # backend="cpu": probing for a GPU may make the Vulkan loader print its own warnings.
    tokenrisk.run(tokenrisk.Scenario.preset("render_bme"), paths=1000, backend="cpu", progress=False)
    out, err = capfd.readouterr()
    assert out == "" and err == ""




def test_ctrl_c_stops_a_long_run():
    # 2,000,000 paths take minutes here; the interrupt arrives after half a second and the
    # run stops within one chunk of paths.
    # Python's own SIGINT handler, whatever this process inherited: a shell that starts a job
    # in the background hands it SIGINT ignored, and then `interrupt_main` does nothing (as a
    # real Ctrl-C would not reach it either). Notebooks and terminals have the handler.
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    s = tokenrisk.Scenario.preset("bittensor_halving")
    timer = threading.Timer(0.5, _thread.interrupt_main)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            tokenrisk.run(s, paths=2_000_000, progress=False)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    # The module still works afterwards.
    assert tokenrisk.run(s, paths=500, progress=False).n_paths == 500


def test_scenario_as_run_records_the_overrides():
    r = tokenrisk.run(tokenrisk.Scenario.preset("render_bme"), paths=800, seed=9, horizon=365, progress=False)
    assert (r.n_paths, r.seed) == (800, 9)
    assert r.summary["horizon_days"] == 365
    assert "horizon_days = 365" in r.scenario.to_toml()
    assert r.engine in ("cpu", "gpu") and r.device


def test_report_html_and_notebook_display():
    r = tokenrisk.run(tokenrisk.Scenario.preset("render_bme"), paths=1000, seed=4, progress=False)
    page = r.report_html()
    assert page.lstrip().lower().startswith("<!doctype html") and "render-bme" in page
    shown = r._repr_html_()
    assert "P(spiral by the horizon)" in shown and "1,000 paths" in shown and "95% interval" in shown
    assert f"{100 * r.summary['p_spiral']:.2f}%" in shown
    assert "render-bme" in repr(r)


def test_notebook_display_shows_the_reports_price_fan_chart():
    # With a shock, so the chart's shock mark is the report's too.
    r = tokenrisk.run(
        tokenrisk.Scenario.preset("death_spiral_stress"), paths=500, horizon=300, shocks="price=-0.5@100", progress=False
    )
    svg = r.price_fan_svg()
    assert svg.startswith("<svg") and "Token price" in svg and 'data-day="100"' in svg
    # The report page draws exactly this chart: the same code, fed the same figures.
    assert svg in r.report_html()
    shown = r._repr_html_()
    assert svg in shown and '<div class="tokenrisk-chart"' in shown
    # Its colours: the report's svg rules, scoped so they style nothing else in a notebook.
    css = tokenrisk._native.CHART_CSS
    assert ".tokenrisk-chart svg .c0{stroke:#2f6db5}" in css and "body{" not in css
    assert all(rule.startswith(".tokenrisk-chart") for rule in css.split("}") if rule)
    # Key figures with their intervals beside it.
    assert "95% interval" in shown and f"{100 * r.summary['p_spiral_lo']:.2f}%" in shown


def test_the_gil_is_released_while_simulating():
    # Another Python thread keeps running during the simulation. Were the GIL held, the loop
    # below would not get past its first sleep until the run had finished.
    s = tokenrisk.Scenario.preset("bittensor_halving")
    started, ticks, result = threading.Event(), [], []

    def work():
        started.set()
        result.append(tokenrisk.run(s, paths=100_000, horizon=365, backend="cpu", progress=False))

    t = threading.Thread(target=work)
    t.start()
    started.wait()
    while t.is_alive() and len(ticks) < 5:
        ticks.append(1)
        t.join(0.005)
    alive = t.is_alive()
    t.join()
    assert alive, "the run finished before the other thread ran 5 ticks"
    assert result[0].n_paths == 100_000
