"""Shared fixtures: the repository root, the release CLI binary the equality tests compare
against (TOKENRISK_BIN, else target/release/tokenrisk, as scripts/test.sh builds it), and a
runner of `tokenrisk run`."""

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def cli_bin() -> Path:
    b = Path(os.environ.get("TOKENRISK_BIN", REPO / "target" / "release" / "tokenrisk"))
    if not b.is_file():
        pytest.fail(f"{b} is missing: build it with `cargo build --release` (or set TOKENRISK_BIN)")
    return b


@pytest.fixture(scope="session")
def cli_run(cli_bin, tmp_path_factory):
    """Runs `tokenrisk run ARGS --out DIR -q`; returns DIR/<name>/."""

    def go(scenario: str, name: str, *args: str) -> Path:
        out = tmp_path_factory.mktemp("cli")
        subprocess.run(
            [str(cli_bin), "run", scenario, *args, "--out", str(out), "-q"],
            check=True,
            capture_output=True,
            cwd=tmp_path_factory.getbasetemp(),
        )
        return out / name

    return go
