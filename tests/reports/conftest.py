from __future__ import annotations

from pathlib import Path

import pytest

from .factory import write_run

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture(scope="session")
def golden_run(tmp_path_factory) -> Path:
    """The factory's run, written once per session (tests must not modify it; copy it first)."""
    return write_run(tmp_path_factory.mktemp("runs") / "golden-run")


@pytest.fixture
def prices_file() -> Path:
    return GOLDEN / "prices.toml"
