"""The README's Python example runs as written (issue 13's "Done when"): the first ```python
block of its "## Python" section, executed in a temporary folder."""

import os
import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("\n## Python\n"):]
    m = re.search(r"```python\n(.*?)```", section, re.S)
    assert m, "the README's Python section has no python block"
    return m.group(1)


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
