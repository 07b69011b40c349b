"""Shared pieces of the adapt tests: the real-world-shaped scripts (copied, so outputs written beside an input
never land in the repository), scripted models that answer with a prepared correct adaptation, and one cache
shared by the tests of a session (so the untouched script's baseline runs once, as it would for a user)."""

import json
import shutil
from pathlib import Path

import pytest

from benchmark.cli import main

ROOT = Path(__file__).resolve().parents[3]
REAL_WORLD = ROOT / "tasks" / "real_world"
ANSWERS = Path(__file__).parent / "answers"


def fenced(code: str) -> str:
    return f"Here is the adapted script.\n\n```python\n{code}```\n"


def rules_for(path: Path, *answers) -> Path:
    """A mock rules file. Each answer is a script, or (text, script): answered when the prompt's last message
    contains text; the last answer is the fallback for every other prompt."""
    rules = [{"when": a[0], "answer": fenced(a[1])} if isinstance(a, tuple) else {"answer": fenced(a)}
             for a in answers]
    path.write_text(json.dumps(rules))
    return path


REPAIR = "I ran the script you returned"  # how a repair round's message starts (prompts/repair/feedback.j2)
CRASHES = "import mlflow_that_does_not_exist\n"  # an answer that fails at once, before any heavy import


def answer(name: str) -> str:
    return (ANSWERS / name).read_text()


@pytest.fixture
def real_world(tmp_path):
    """copy('sklearn_iris_cli') -> the copied folder, under tmp_path."""

    def copy(folder: str) -> Path:
        dest = tmp_path / folder
        shutil.copytree(REAL_WORLD / folder, dest)
        return dest

    return copy


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("adapt-cache")


@pytest.fixture
def cli(capsys):
    def run(*argv) -> tuple[int, str, str]:
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run
