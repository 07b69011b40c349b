"""Fixtures for the sandbox tests: `layer` runs a test once per isolation layer that works here."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.environment import make_dirs
from sandbox.layers import ENV_VAR, LAYERS


@pytest.fixture(params=LAYERS.names())
def layer(request, monkeypatch) -> str:
    reason = LAYERS.get(request.param).unavailable_reason()
    if reason is not None:
        pytest.skip(f"isolation layer {request.param} is unavailable here: {reason}")
    monkeypatch.setenv(ENV_VAR, request.param)
    return request.param


@pytest.fixture
def workdir(tmp_path) -> Path:
    wd = tmp_path / "sample-1"
    wd.mkdir()
    make_dirs(wd)
    return wd
