"""The README's Python example runs as written (issue 13's "Done when"): every ```python
block of its "## Python" section, executed in order in one namespace in a temporary folder."""

import os
import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("\n## Python\n"):]
    section = section[: section.index("\n## ", 1)]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert blocks, "the README's Python section has no python block"
    return "\n".join(blocks)


def test_the_readme_example_runs_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = readme_example()
    scope: dict = {}
    exec(compile(code, str(README), "exec"), scope)
    # It wrote the CLI's folder and produced the report page.
    run = scope["run"]
    assert (tmp_path / "out" / run.scenario.name / "summary.parquet").is_file()
    assert "<html" in scope["html"].lower()
    assert scope["s"].validate() == []
    assert os.path.isdir(tmp_path / "out")
    # The second block: a tornado of two keys and a night of one scenario.
    assert sorted(r["parameter"] for r in scope["t"].rows) == ["market.volatility", "token.staked_fraction"]
    assert (tmp_path / "out" / run.scenario.name / "tornado.parquet").is_file()
    assert os.path.abspath(scope["n"].dir) == str(tmp_path / "reports" / "2026-12-01")
    assert (tmp_path / "reports" / "2026-12-01" / "index.html").is_file()
