"""examples/quickstart.ipynb runs end to end: executed with nbclient in a kernel of this
interpreter (the venv the package is installed in), every cell must finish without an error
output, and the run (with its price fan chart), comparison, sensitivity and nightly cells must
show their notebook displays."""

import json
import sys

import pytest

from conftest import REPO

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOK = REPO / "examples" / "quickstart.ipynb"


def test_quickstart_runs_without_errors(tmp_path, monkeypatch):
    # A kernelspec running this very interpreter, found first on JUPYTER_PATH.
    spec = tmp_path / "kernels" / "tokenrisk-test"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "tokenrisk test", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))

    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb, kernel_name="tokenrisk-test", timeout=120, allow_errors=True, resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    errors = [
        (i, o.get("ename"), o.get("evalue"))
        for i, c in enumerate(code)
        for o in c.outputs
        if o.output_type == "error"
    ]
    assert not errors, f"cells with errors: {errors}"
    assert all(c.execution_count for c in code), "a cell did not run"
    html = [
        "".join(o.get("data", {}).get("text/html", "")) for c in code for o in c.outputs
    ]
    assert any("P(spiral by the horizon)" in h for h in html), "the run cell shows no summary table"
    assert any("paired SE" in h for h in html), "the comparison cell shows no comparison table"
    assert any("<svg" in h and "Token price" in h for h in html), "the run cell shows no price fan chart"
    assert any("dP(spiral)" in h for h in html), "the sensitivity cell shows no tornado"
    assert any("nightly 2026-12-01" in h for h in html), "the nightly cell shows no night"
